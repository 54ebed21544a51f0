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
mod deadline;
mod host;
mod sandbox;

pub use cache::{ArtifactCache, Miss, component_sha256};
pub use sandbox::{HostState, Limits, RunError, run_plugin};

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::paths::Paths;
use crate::plugins::store::InstalledPlugin;

/// The engine every compile and every run uses; the same settings on both sides keep
/// artifacts compatible.
pub fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Wall-clock deadline: the epoch is bumped when time is up (see `deadline`).
    config.epoch_interruption(true);
    // Deep recursion traps cleanly instead of exhausting the host stack.
    config.max_wasm_stack(1 << 20);
    Engine::new(&config).map_err(anyhow::Error::from)
}

/// A component checked against our world and compiled, with its serialized artifact.
pub struct Compiled {
    pub component: Component,
    pub artifact: Vec<u8>,
}

/// Checks that `bytes` are a component of the `plugin` world this host implements and
/// compiles it within bounds (see [`compile`]): kind and imports/exports first, by parsing
/// alone, then the compile in a limited child process.
pub fn compile_and_check(
    engine: &Engine,
    bytes: &[u8],
    bounds: compile::Bounds,
) -> Result<Compiled, ComponentError> {
    check_kind(bytes)?;
    compile::precheck(bytes)?;
    if !compile::in_child_processes() {
        return compile_in_process(engine, bytes);
    }
    let artifact = compile::compile_bounded(bytes, bounds)?;
    // SAFETY: the artifact was produced by `Component::serialize` in a child process of this
    // very binary, with the same engine configuration, from the bytes checked above, and
    // handed over on a pipe only the two processes share.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, &artifact) }
        .map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    sandbox::check_world(engine, &component)?;
    Ok(Compiled {
        component,
        artifact,
    })
}

/// The preamble says which: `\0asm`, then version 1 for a core module or the component
/// layer's `0d 00 01 00`.
fn check_kind(bytes: &[u8]) -> Result<(), ComponentError> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(ComponentError::CoreModule),
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        _ => Err(ComponentError::NotWasm),
    }
}

/// The unbounded compile, run in the child (and in unit tests).
pub(crate) fn compile_in_process(
    engine: &Engine,
    bytes: &[u8],
) -> Result<Compiled, ComponentError> {
    check_kind(bytes)?;
    let component =
        Component::new(engine, bytes).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    sandbox::check_world(engine, &component)?;
    let artifact = component
        .serialize()
        .map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    Ok(Compiled {
        component,
        artifact,
    })
}

/// The runnable component of an installed plugin: its cached artifact, or, when that is
/// missing, stale or damaged, a fresh compile of the installed component (stored for next
/// time). A linked plugin's component is hashed on every run so edits are picked up.
pub fn load_installed(
    engine: &Engine,
    paths: &Paths,
    plugin: &InstalledPlugin,
) -> Result<Component, RunError> {
    load_installed_within(engine, paths, plugin, compile::Bounds::default())
}

/// [`load_installed`], compiling (if it must) within `bounds`.
pub fn load_installed_within(
    engine: &Engine,
    paths: &Paths,
    plugin: &InstalledPlugin,
    bounds: compile::Bounds,
) -> Result<Component, RunError> {
    let load_error = |cause: String| RunError::Load {
        plugin: plugin.label(),
        cause,
    };
    let cache = ArtifactCache::new(paths.compiled_dir(), engine);
    let read_component = || {
        plugin.read_component().map_err(|e| {
            load_error(format!(
                "cannot read its component {}: {e}; reinstall it",
                plugin.component_path().display()
            ))
        })
    };
    let (sha, bytes) = if plugin.record.linked {
        let bytes = read_component()?;
        (component_sha256(&bytes), Some(bytes))
    } else {
        (plugin.record.sha256.clone(), None)
    };
    match cache.load(engine, &sha) {
        Ok(component) => return Ok(component),
        Err(cache::Miss::Absent) => {
            tracing::info!(plugin = %plugin.label(), "no compiled artifact for this wasmtime; compiling")
        }
        Err(cache::Miss::Damaged(why)) => {
            crate::output::warn(format_args!("{why}; recompiling plugin {}", plugin.label()))
        }
        Err(cache::Miss::Untrusted(why)) => {
            return Err(RunError::Usage {
                message: format!(
                    "{why}. lmi runs plugin {} only from compiled code in a directory nobody else can write: fix the directory, or point XDG_CACHE_HOME at one that is yours alone",
                    plugin.label()
                ),
            });
        }
    }
    let bytes = match bytes {
        Some(b) => b,
        None => read_component()?,
    };
    if component_sha256(&bytes) != sha {
        return Err(load_error(format!(
            "its component {} was modified after installation; reinstall it with `lmi plugin install`",
            plugin.component_path().display()
        )));
    }
    let compiled =
        compile_and_check(engine, &bytes, bounds).map_err(|e| load_error(e.to_string()))?;
    if let Err(e) = cache.store(&sha, &compiled.artifact) {
        crate::output::warn(format_args!("cannot cache the compiled plugin: {e}"));
    }
    Ok(compiled.component)
}

#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    #[error(
        "the file is a core WebAssembly module, not a component: build the plugin for the `wasm32-wasip2` target (cargo build --target wasm32-wasip2)"
    )]
    CoreModule,
    #[error("the file is not WebAssembly")]
    NotWasm,
    #[error("the component is invalid: {0}")]
    Invalid(String),
    #[error(
        "the component does not implement the lmi:plugin world this host offers: {0}. Build it against the lmi-plugin-sdk for lmi:plugin@0.1"
    )]
    WrongWorld(String),
    #[error("the component is refused: {0}; a plugin should compile well within these bounds")]
    Bound(String),
}

impl crate::exit::ExitStatus for ComponentError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Usage
    }
}
