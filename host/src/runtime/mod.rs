//! The wasm runtime: one engine configuration, ahead-of-time compilation into the host's
//! artifact cache, and sandboxed runs.
//!
//! Dispatch never compiles: it reads an artifact that lmi itself wrote at install time,
//! keyed by the component's sha256 and the engine's compatibility hash, and checked against
//! the CRC-32 lmi wrote beside it. A missing, stale (other wasmtime or settings) or damaged
//! artifact is rebuilt from the installed component.

pub mod bindings;
mod cache;
pub mod compile;
mod component;
mod deadline;
mod engine;
mod host;
mod host_v01;
mod host_v02;
mod interrupt;
mod limits;
mod linker;
mod load;
mod outbound;
mod outcome;
mod preopens;
mod sandbox;
mod state;
mod stream;
mod terminal;
mod terminal_info;

pub use cache::{ArtifactCache, Miss, component_sha256};
pub(crate) use component::compile_in_process;
pub use component::{Compiled, ComponentError, compile_and_check};
pub use deadline::{LimitSource, RunLimit};
pub use engine::engine;
pub use limits::Limits;
pub use load::{Loaded, load_installed, load_installed_within};
pub use outcome::RunError;
pub use preopens::{DATA_DIR, Preopens};
pub use sandbox::run_plugin;
pub use state::{HostState, Invocation};
