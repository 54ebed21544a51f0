//! The runnable component of an installed plugin, from the artifact cache or, when the
//! artifact is missing, stale or damaged, rebuilt from the installed component.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache::{self, ArtifactCache, component_sha256};
use super::compile;
use super::component::compile_and_check;
use super::outcome::RunError;
use crate::paths::Paths;
use crate::plugins::store::InstalledPlugin;

/// An installed plugin's runnable component, and what the user should be told about how it
/// was got (a damaged artifact rebuilt, a cache that could not be written). The runtime does
/// not print: the command shows the warnings.
pub struct Loaded {
    pub component: Component,
    pub warnings: Vec<String>,
}

/// The runnable component of an installed plugin: its cached artifact, or, when that is
/// missing, stale or damaged, a fresh compile of the installed component (stored for next
/// time). A linked plugin's component is hashed on every run so edits are picked up.
/// For embedders: warnings go to `tracing`.
pub fn load_installed(
    engine: &Engine,
    paths: &Paths,
    plugin: &InstalledPlugin,
) -> Result<Component, RunError> {
    let loaded = load_installed_within(engine, paths, plugin, compile::Bounds::default())?;
    for warning in &loaded.warnings {
        tracing::warn!(plugin = %plugin.label(), "{warning}");
    }
    Ok(loaded.component)
}

/// [`load_installed`], compiling (if it must) within `bounds`, with its warnings returned.
pub fn load_installed_within(
    engine: &Engine,
    paths: &Paths,
    plugin: &InstalledPlugin,
    bounds: compile::Bounds,
) -> Result<Loaded, RunError> {
    let mut warnings = Vec::new();
    let load_error = |cause: String| RunError::Load {
        plugin: plugin.label(),
        cause,
    };
    let cache = ArtifactCache::new(paths.compiled_dir(), engine);
    let read_component = || {
        plugin.read_component().map_err(|e| {
            // A linked plugin's component is the author's build output: gone after a
            // `cargo clean`, which is a rebuild away, not a crash.
            if plugin.record.linked && e.kind() == std::io::ErrorKind::NotFound {
                return RunError::Usage {
                    message: format!(
                        "plugin {} is linked to {}, and its component {} is missing (removed by `cargo clean`?): rebuild it there (`cargo build --target wasm32-wasip2 --release`)",
                        plugin.label(),
                        plugin.record.source.display(),
                        plugin.component_path().display()
                    ),
                };
            }
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
        Ok(component) => {
            return Ok(Loaded {
                component,
                warnings,
            });
        }
        Err(cache::Miss::Absent) => {
            tracing::info!(plugin = %plugin.label(), "no compiled artifact for this wasmtime; compiling")
        }
        Err(cache::Miss::Damaged(why)) => {
            // Also logged: a recompile that then fails returns only its own error.
            tracing::info!(plugin = %plugin.label(), "{why}; recompiling");
            warnings.push(format!("{why}; recompiling plugin {}", plugin.label()));
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
        warnings.push(format!("cannot cache the compiled plugin: {e}"));
    }
    Ok(Loaded {
        component: compiled.component,
        warnings,
    })
}
