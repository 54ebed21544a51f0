//! The installed-plugin store under `$XDG_DATA_HOME/lmi/plugins/`.
//!
//! Layout: each plugin is `plugins/<name>`, a symlink to an immutable version directory
//! `plugins/.versions/<name>-<version>-<sha12>/` holding the manifest, the component and
//! `install.toml`. Installing or upgrading stages the new directory completely, then swaps the
//! symlink with one `rename`, so a reader sees either the old plugin or the new one, and a
//! failed install leaves the old one working. A linked plugin (`--link`) is a version
//! directory holding only `install.toml`, which points at the author's directory.
//! Writers take `plugins/.lock`; readers take no lock.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{MANIFEST_FILE, Manifest};
use crate::exit::{Exit, ExitStatus};
use crate::paths::Paths;

const RECORD_FILE: &str = "install.toml";
/// Which plugin provides which command (JSON), rewritten whenever the store changes.
const ROUTES_FILE: &str = ".routes.json";
const VERSIONS_DIR: &str = ".versions";

/// How a plugin came to be installed; written by lmi, read on every dispatch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstallRecord {
    /// sha256 of the component, hex: the key of its compiled artifact.
    pub sha256: String,
    /// The directory it was installed from.
    pub source: PathBuf,
    /// Linked in place: the manifest and component are read from `source`.
    #[serde(default)]
    pub linked: bool,
    pub installed_at: u64,
}

#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    pub manifest: Manifest,
    /// Where the manifest lives (the version directory, or the linked source).
    pub dir: PathBuf,
    pub record: InstallRecord,
}

impl InstalledPlugin {
    pub fn component_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.component)
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("plugin `{0}` is not installed (see `lmi plugin list`)")]
    NotInstalled(String),
    #[error(
        "command `{command}` of plugin {plugin} is already provided by the installed plugin {other}: remove one of them first"
    )]
    CommandClash {
        command: String,
        plugin: String,
        other: String,
    },
    #[error(
        "installed plugin `{name}` is damaged: {reason}; reinstall it with `lmi plugin install <DIR>` or remove it with `lmi plugin remove {name}`"
    )]
    Damaged { name: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ExitStatus for StoreError {
    fn exit(&self) -> Exit {
        match self {
            StoreError::Io { .. } | StoreError::Damaged { .. } => Exit::Failure,
            _ => Exit::Usage,
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(paths: &Paths) -> Self {
        Self {
            root: paths.plugins_dir(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every installed plugin, sorted by name, and a message for each one that could not be
    /// read (a broken plugin must not take the rest of lmi down with it).
    pub fn list(&self) -> (Vec<InstalledPlugin>, Vec<String>) {
        let mut plugins = Vec::new();
        let mut problems = Vec::new();
        let Ok(entries) = fs::read_dir(&self.root) else {
            return (plugins, problems);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.load(&name) {
                Ok(p) => plugins.push(p),
                Err(e) => problems.push(format!(
                    "ignoring installed plugin `{name}`: {e:#} (reinstall it or run `lmi plugin remove {name}`)"
                )),
            }
        }
        plugins.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        (plugins, problems)
    }

    /// The plugin providing `command`, read alone: the route index names it and its own
    /// manifest confirms it. `None` (read them all instead) when the index is missing, does
    /// not know the command (say a linked plugin's manifest gained it) or is out of date.
    pub fn route(&self, command: &str) -> Option<InstalledPlugin> {
        let bytes = fs::read(self.root.join(ROUTES_FILE)).ok()?;
        let routes: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
        let name = routes.get(command)?;
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return None;
        }
        let plugin = self.load(name).ok()?;
        plugin.manifest.command(command).is_some().then_some(plugin)
    }

    /// Rewrites the route index when dispatch found it missing or out of date (a store from
    /// an older lmi, a linked plugin that gained a command), if no writer holds the lock.
    pub fn refresh_routes(&self) {
        if let Ok(lock) = self.open_lock()
            && lock.try_lock().is_ok()
        {
            self.write_routes();
        }
    }

    /// Rewrites the route index from the installed manifests. Call with the lock held.
    /// Best effort: without an index dispatch reads every manifest, as it did before.
    fn write_routes(&self) {
        let (plugins, _) = self.list();
        let routes: BTreeMap<&str, &str> = plugins
            .iter()
            .flat_map(|p| {
                p.manifest
                    .commands
                    .iter()
                    .map(move |c| (c.name.as_str(), p.manifest.name.as_str()))
            })
            .collect();
        let path = self.root.join(ROUTES_FILE);
        let written = serde_json::to_vec(&routes)
            .map_err(std::io::Error::other)
            .and_then(|json| crate::fsutil::write_atomic(&path, &json));
        if let Err(e) = written {
            tracing::warn!(
                "cannot write the plugin route index {}: {e}",
                path.display()
            );
            let _ = fs::remove_file(&path);
        }
    }

    pub fn get(&self, name: &str) -> Result<InstalledPlugin, StoreError> {
        if !self.root.join(name).exists() {
            return Err(StoreError::NotInstalled(name.to_owned()));
        }
        self.load(name).map_err(|e| StoreError::Damaged {
            name: name.to_owned(),
            reason: format!("{e:#}"),
        })
    }

    fn load(&self, name: &str) -> anyhow::Result<InstalledPlugin> {
        let version_dir = self.root.join(name);
        let record_path = version_dir.join(RECORD_FILE);
        let text = fs::read_to_string(&record_path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", record_path.display()))?;
        let record: InstallRecord = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", record_path.display()))?;
        let dir = if record.linked {
            record.source.clone()
        } else {
            version_dir
        };
        let manifest = Manifest::load(&dir)?;
        if manifest.name != name {
            anyhow::bail!("its manifest now names it `{}`", manifest.name);
        }
        Ok(InstalledPlugin {
            manifest,
            dir,
            record,
        })
    }

    /// Takes the store's writer lock, held until the guard drops.
    pub fn lock(&self) -> Result<fs::File, StoreError> {
        fs::create_dir_all(self.root.join(VERSIONS_DIR))
            .map_err(io(format!("cannot create {}", self.root.display())))?;
        let lock = self
            .open_lock()
            .map_err(io("cannot open the plugin store lock"))?;
        lock.lock().map_err(io("cannot lock the plugin store"))?;
        Ok(lock)
    }

    fn open_lock(&self) -> std::io::Result<fs::File> {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".lock"))
    }

    /// Refuses a plugin whose commands another installed plugin already provides.
    pub fn check_clashes(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let (installed, _) = self.list();
        for other in installed
            .iter()
            .filter(|p| p.manifest.name != manifest.name)
        {
            for c in &manifest.commands {
                if other.manifest.command(&c.name).is_some() {
                    return Err(StoreError::CommandClash {
                        command: c.name.clone(),
                        plugin: manifest.name.clone(),
                        other: other.label(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Installs a copy of a validated plugin, or (for `record.linked`) a link to its source. Call with the lock
    /// held. The swap to the new version is a single rename.
    pub fn commit(
        &self,
        manifest: &Manifest,
        component: &[u8],
        record: &InstallRecord,
    ) -> Result<(), StoreError> {
        let versions = self.root.join(VERSIONS_DIR);
        let staging = tempfile::Builder::new()
            .prefix(&format!(".staging-{}-", manifest.name))
            .tempdir_in(&versions)
            .map_err(io("cannot create a staging directory"))?;
        if !record.linked {
            let mut copied = manifest.clone();
            copied.component = PathBuf::from(
                manifest
                    .component
                    .file_name()
                    .unwrap_or_else(|| "component.wasm".as_ref()),
            );
            write_synced(
                &staging.path().join(MANIFEST_FILE),
                toml::to_string_pretty(&copied)
                    .expect("a manifest serializes")
                    .as_bytes(),
            )?;
            write_synced(&staging.path().join(&copied.component), component)?;
        }
        write_synced(
            &staging.path().join(RECORD_FILE),
            toml::to_string_pretty(record)
                .expect("a record serializes")
                .as_bytes(),
        )?;

        let final_name = format!(
            "{}-{}-{}",
            manifest.name,
            manifest.version,
            &record.sha256[..12.min(record.sha256.len())]
        );
        let final_dir = versions.join(&final_name);
        let staged = staging.keep();
        if final_dir.exists() {
            // The same version and component again (a reinstall): replace it wholesale, and
            // put the previous copy back if the new one cannot take its place.
            let old = versions.join(format!(".old-{final_name}"));
            let _ = fs::remove_dir_all(&old);
            fs::rename(&final_dir, &old).map_err(io("cannot move the previous copy aside"))?;
            if let Err(e) = fs::rename(&staged, &final_dir) {
                let _ = fs::rename(&old, &final_dir);
                let _ = fs::remove_dir_all(&staged);
                return Err(io("cannot move the staged plugin into place")(e));
            }
            let _ = fs::remove_dir_all(&old);
        } else if let Err(e) = fs::rename(&staged, &final_dir) {
            let _ = fs::remove_dir_all(&staged);
            return Err(io("cannot move the staged plugin into place")(e));
        }
        let previous = self.version_dir_of(&manifest.name);
        swap_link(
            &self.root.join(&manifest.name),
            &PathBuf::from(VERSIONS_DIR).join(&final_name),
        )?;
        if let Some(prev) = previous.filter(|p| p != &final_dir) {
            let _ = fs::remove_dir_all(prev);
        }
        self.write_routes();
        Ok(())
    }

    /// Removes an installed plugin. Call with the lock held.
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let link = self.root.join(name);
        if fs::symlink_metadata(&link).is_err() {
            return Err(StoreError::NotInstalled(name.to_owned()));
        }
        let target = self.version_dir_of(name);
        remove_link(&link).map_err(io(format!("cannot remove {}", link.display())))?;
        if let Some(dir) = target {
            let _ = fs::remove_dir_all(dir);
        }
        self.write_routes();
        Ok(())
    }

    fn version_dir_of(&self, name: &str) -> Option<PathBuf> {
        let link = self.root.join(name);
        let target = fs::read_link(&link).ok()?;
        Some(self.root.join(target))
    }
}

/// Writes a file and flushes it to disk before it can be renamed into place.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = fs::File::create(path).map_err(io(format!("cannot write {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("cannot write {}", path.display())))
}

#[cfg(unix)]
fn swap_link(link: &Path, target: &Path) -> Result<(), StoreError> {
    let parent = link.parent().expect("link has a parent");
    let tmp = parent.join(format!(
        ".link-{}-{}",
        link.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io("cannot create the plugin link"))?;
    // rename(2) over an existing symlink is atomic: readers never see the plugin missing.
    fs::rename(&tmp, link).map_err(io("cannot switch the plugin link"))
}

#[cfg(not(unix))]
fn swap_link(link: &Path, target: &Path) -> Result<(), StoreError> {
    // Windows: directory junctions need privileges; fall back to a pointer-free copy name.
    let _ = fs::remove_dir_all(link);
    std::os::windows::fs::symlink_dir(link.parent().unwrap().join(target), link)
        .map_err(io("cannot create the plugin link"))
}

fn remove_link(link: &Path) -> std::io::Result<()> {
    fs::remove_file(link).or_else(|_| fs::remove_dir(link))
}
