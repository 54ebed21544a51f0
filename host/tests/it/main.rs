//! End-to-end tests: the real `lmi` binary, real wasm plugins (built by `make plugins`),
//! a real OpenID provider and Secret Service where a test needs them.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod support;
mod idp_harness;
mod service_auth;
mod plugins;
mod sandbox;
mod hardening;
mod sso;
mod doctor;
mod scaffold;
mod validate;
mod manifests;
mod completions;
