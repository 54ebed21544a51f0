//! `lmi`: a command-line host for sandboxed WebAssembly plugins.
//!
//! Layers, top to bottom: `cli` (clap types and dispatch) → `settings` (flags, environment and
//! `.env` files merged once) → `commands` (one small module per verb) → the libraries they
//! call: `plugins` (manifests, the installed-plugin store), `runtime` (wasmtime: compile,
//! cache, sandboxed run), `auth` (service tokens and the SSO session), `policy` (the
//! environment policy gate in front of both), `audit` (the trail of credential use),
//! `registry` (plugins in OCI registries).

pub mod audit;
pub mod auth;
pub mod blocking;
pub mod cli;
pub mod commands;
pub mod exit;
pub mod fsutil;
pub mod keychain;
pub mod lockfile;
pub mod logging;
pub mod output;
pub mod paths;
pub mod plugins;
pub mod policy;
pub mod progress;
pub mod prompt;
pub mod registry;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod text;
pub mod tls;
