//! `lmi plugin remove <NAME> [--keep-data]`: uninstall, delete the plugin's data directory
//! (unless told to keep it) and compiled artifacts nothing else uses.

use std::path::Path;
use std::process::ExitCode;

use crate::commands::{CliError, Ctx};
use crate::output;
use crate::paths::Paths;
use crate::plugins::data;
use crate::plugins::manifest::is_name;
use crate::plugins::store::{PluginStoreError, Store};
use crate::text;

pub fn run(ctx: &Ctx, name: &str, keep_data: bool) -> Result<ExitCode, CliError> {
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
    remove_data(ctx.settings.paths(), name, keep_data);
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

/// Deletes the plugin's data directory, or says where it was kept. The plugin is removed
/// either way: a link or a file in the directory's place is named and left alone.
fn remove_data(paths: &Paths, name: &str, keep: bool) {
    let dir = data::dir(paths, name);
    if keep {
        if dir.symlink_metadata().is_ok() {
            output::note(format_args!("Kept its data in {}", dir.display()));
        }
        return;
    }
    match data::remove(paths, name) {
        Ok(data::Removed::Nothing) => {}
        Ok(data::Removed::Deleted(dir)) => {
            output::note(format_args!("Deleted its data in {}", dir.display()))
        }
        Err(e) => output::warn(format_args!("{e}")),
    }
}
