//! The one engine configuration every compile and every run uses.

use wasmtime::{Config, Engine};

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
