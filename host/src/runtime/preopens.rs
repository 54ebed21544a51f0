//! The one gate for directories: what a run may open, decided from its permissions (already
//! checked to lie within the recorded grants) and its contract, nothing else.
//!
//! * `files = "read" | "read-write"`: the directory lmi runs in, preopened as `.` with
//!   wasmtime-wasi's read-only or read-write permissions. wasmtime-wasi resolves every path
//!   inside it (no `..` out, no link out, no absolute path), and a read-only grant refuses
//!   every change: create, write, truncate, rename, unlink, mkdir, rmdir, link, set-times.
//! * `data = true`: the plugin's data directory (`plugins::data`), preopened read-write as
//!   [`DATA_DIR`].
//!
//! Without them, and for every plugin of contract 0.1 whatever it was granted, no directory
//! is preopened.

use std::path::{Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::bindings::Contract;
use crate::paths::Paths;
use crate::plugins::data::DataDirError;
use crate::plugins::manifest::{FileAccess, Permissions};

/// Where the data directory is inside the sandbox (the SDK's `lmi_plugin_sdk::DATA_DIR`).
pub const DATA_DIR: &str = "/data";

/// The directories one run may open.
#[derive(Debug, Clone, Default)]
pub struct Preopens {
    /// The directory lmi runs in (`.` of the process), and what the plugin may do there.
    cwd: Option<FileAccess>,
    /// The plugin's own data directory.
    data: Option<PathBuf>,
    warnings: Vec<String>,
}

/// Why the working directory is withheld from a plugin granted `files`.
#[derive(Debug, thiserror::Error)]
enum Withheld {
    /// Giving the plugin the working directory would give it lmi's credentials and records.
    #[error(
        "plugin {plugin} runs without the files of {cwd}: that directory would give it lmi's own files ({lmi}: credentials, tokens, what each plugin was granted), which no plugin may reach; run it from a directory that neither holds nor lies inside lmi's (a project directory) to let it use files"
    )]
    HoldsLmiFiles {
        plugin: String,
        cwd: PathBuf,
        lmi: PathBuf,
    },
    #[error(
        "plugin {plugin} runs without the files of the directory you run it from: lmi cannot find that directory ({reason})"
    )]
    NoWorkingDir { plugin: String, reason: String },
}

impl Preopens {
    /// What plugin `name` (shown as `label`) may open under `permissions`: the working
    /// directory for `files` (withheld, with a warning, when it is, holds or lies inside one
    /// of lmi's own directories: the plugin then runs as if it had no `files`), and its data
    /// directory for `data`, created on first use.
    pub fn for_run(
        paths: &Paths,
        name: &str,
        label: &str,
        permissions: &Permissions,
    ) -> Result<Self, DataDirError> {
        let mut warnings = Vec::new();
        let cwd = permissions
            .files
            .filter(|_| match check_working_dir(paths, label) {
                Ok(()) => true,
                Err(withheld) => {
                    warnings.push(withheld.to_string());
                    false
                }
            });
        let data = if permissions.data {
            Some(crate::plugins::data::prepare(paths, name)?)
        } else {
            None
        };
        // WASI resolves a relative `data/…` to the data directory's preopen (the longest
        // matching name): a `data` entry of the working directory is hidden from the plugin.
        if cwd.is_some() && data.is_some() && Path::new("data").symlink_metadata().is_ok() {
            warnings.push(format!(
                "plugin {label}: `data` in the directory you run it from is hidden from the plugin: paths under `data/` reach its own data directory ({DATA_DIR}) instead"
            ));
        }
        Ok(Self {
            cwd,
            data,
            warnings,
        })
    }

    /// What the user should know before the run: a directory granted but withheld, and why.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Preopens these directories in `wasi`, for a plugin of `contract`: contract 0.1 has
    /// no files and gets none.
    pub(super) fn apply(
        &self,
        wasi: &mut WasiCtxBuilder,
        contract: Contract,
    ) -> anyhow::Result<()> {
        if contract == Contract::V0_1 {
            return Ok(());
        }
        if let Some(access) = self.cwd {
            let perms = match access {
                FileAccess::Read => FsPerms::ReadOnly,
                FileAccess::ReadWrite => FsPerms::ReadWrite,
            };
            // The process's own working directory, opened as it is now (never a path that
            // could be swapped after the check).
            wasi.preopened_dir(".", ".", perms)
                .map_err(|e| anyhow::anyhow!("cannot open the working directory: {e:#}"))?;
        }
        if let Some(dir) = &self.data {
            wasi.preopened_dir(dir, DATA_DIR, FsPerms::ReadWrite)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e:#}", dir.display()))?;
        }
        Ok(())
    }
}

/// Withholds a working directory that is one of lmi's directories (configuration with the env
/// files' secrets, cache with the service tokens, data with the plugin store and grants),
/// lies inside one, or holds one (a home directory): a plugin granted `files` there could
/// read credentials it was never granted, or rewrite what it was granted.
fn check_working_dir(paths: &Paths, plugin: &str) -> Result<(), Withheld> {
    let no_dir = |e: std::io::Error| Withheld::NoWorkingDir {
        plugin: plugin.to_owned(),
        reason: e.to_string(),
    };
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(no_dir)?;
    // Unreadable (mode 0311, or removed meanwhile): withheld now rather than failing the run
    // when the sandbox opens it.
    std::fs::read_dir(&cwd).map_err(no_dir)?;
    for lmi in [paths.config_dir(), paths.cache_dir(), paths.data_dir()] {
        if overlaps(&cwd, lmi) {
            return Err(Withheld::HoldsLmiFiles {
                plugin: plugin.to_owned(),
                cwd,
                lmi: lmi.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether `cwd` (canonical) and `dir` contain one another, comparing `dir` as written and
/// as its links resolve (it may not exist yet).
fn overlaps(cwd: &Path, dir: &Path) -> bool {
    let written = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let resolved = std::fs::canonicalize(dir).ok();
    [Some(written), resolved]
        .into_iter()
        .flatten()
        .any(|d| d.starts_with(cwd) || cwd.starts_with(&d))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lmis_directories_their_parents_and_insides_overlap() {
        let lmi = Path::new("/home/ada/.config/lmi");
        assert!(overlaps(Path::new("/home/ada"), lmi));
        assert!(overlaps(Path::new("/"), lmi));
        assert!(overlaps(Path::new("/home/ada/.config/lmi"), lmi));
        assert!(overlaps(Path::new("/home/ada/.config/lmi/env"), lmi));
        assert!(!overlaps(Path::new("/home/ada/project"), lmi));
        assert!(!overlaps(Path::new("/home/ada/.config/lmix"), lmi));
    }
}
