//! `lmi plugin remove <NAME>`: uninstall, and delete compiled artifacts nothing else uses.

use std::path::Path;
use std::process::ExitCode;

use crate::commands::{CliError, Ctx};
use crate::output;
use crate::plugins::manifest::is_name;
use crate::plugins::store::{PluginStoreError, Store};
use crate::text;

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    if !is_name(name) {
        return Err(PluginStoreError::BadName(text::line(name, 80)).into());
    }
    let store = Store::new(ctx.settings.paths());
    let plugin = store.get(name).ok();
    let _lock = store.lock()?;
    store.remove(name)?;
    if let Some(p) = plugin {
        remove_artifacts(
            &ctx.settings.paths().compiled_dir(),
            &p.record.sha256,
            &store,
        );
        output::note(format_args!("Removed {}", p.label()));
    } else {
        output::note(format_args!("Removed {name}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes compiled artifacts of a component no remaining plugin uses.
fn remove_artifacts(dir: &Path, sha: &str, store: &Store) {
    let (rest, _) = store.list();
    if rest.iter().any(|p| p.record.sha256 == sha) {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(sha) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
