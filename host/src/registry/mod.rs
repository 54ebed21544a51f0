//! Plugins in OCI registries: references (`oci://…`), the user's registry credentials, the
//! distribution API over lmi's HTTP client, and the artifact layout of an lmi plugin.
//! A library under `commands`: it knows nothing of installing.

pub mod artifact;
mod client;
pub mod credentials;
mod error;
pub mod reference;

pub use client::{Access, Session};
pub use error::RegistryError;
pub use reference::Reference;
