//! End-to-end tests: the real `lmi` binary, real wasm plugins (built by `make plugins`),
//! a real OpenID provider and Secret Service where a test needs them.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod audit;
mod author;
mod completions;
mod contract;
mod credential;
mod doctor;
mod env_keychain;
mod env_secrets;
mod files;
mod handed_token;
mod hardening;
mod idp_harness;
mod login_method;
mod manifests;
mod outbound;
mod plugins;
mod policy;
#[cfg(unix)]
mod progress;
mod provider_attacks;
mod providers;
mod registry;
#[cfg(unix)]
mod run_time;
mod sandbox;
mod scaffold;
mod service_auth;
mod services;
mod session;
mod setup_files;
#[cfg(unix)]
mod setup_wizard;
mod signatures;
mod sso;
mod sso_split;
mod state_on_disk;
mod streams;
mod support;
mod tls;
mod validate;
