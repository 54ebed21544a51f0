//! Plugins as files: the manifest format and the store of installed plugins. Nothing here
//! loads wasm; see `runtime` for that.

pub mod config;
pub mod data;
pub mod manifest;
pub mod origin;
pub mod signature;
pub mod store;
