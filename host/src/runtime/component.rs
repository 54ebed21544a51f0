//! Checking and compiling a component: its kind, its world, and the (bounded) compile that
//! yields the serialized artifact the cache stores.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::compile;
use super::linker::check_world;

/// A component checked against our world and compiled, with its serialized artifact.
pub struct Compiled {
    pub component: Component,
    pub artifact: Vec<u8>,
    /// The contract it was built against.
    pub contract: super::bindings::Contract,
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
    let contract = check_world(engine, &component)?;
    Ok(Compiled {
        component,
        artifact,
        contract,
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
    let contract = check_world(engine, &component)?;
    let artifact = component
        .serialize()
        .map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    Ok(Compiled {
        component,
        artifact,
        contract,
    })
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
        "the component does not implement the lmi:plugin world this host offers: {0}. Build it with the lmi-plugin-sdk (contract lmi:plugin@0.3; this host also runs plugins built for 0.2 and 0.1)"
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
