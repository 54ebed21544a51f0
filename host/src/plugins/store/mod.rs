//! The installed-plugin store under `$XDG_DATA_HOME/lmi/plugins/`.
//!
//! Layout: each plugin is `plugins/<name>`, a symlink to an immutable version directory
//! `plugins/.versions/<name>-<version>-<sha12>/` holding the manifest exactly as installed,
//! the component (always `component.wasm`, whatever the author called it and whatever the
//! manifest's `component` says), the signature `lmi-plugin.minisig` if it was signed,
//! `install.toml` (where it came from, who signed it) and `grants.toml` (what the user agreed
//! to). Installing or upgrading stages
//! the new directory completely, checks that it loads, then swaps the symlink with one
//! `rename`, so a reader sees either the old plugin or the new one, and a failed install
//! leaves the old one working. A linked plugin (`--link`) is a version directory holding only
//! `install.toml` and `grants.toml`; its manifest and component are read from the author's
//! directory. Writers take `plugins/.lock`; readers take no lock.
//!
//! Everything here is created private (0700 directories, 0600 files, whatever the umask) and
//! read back under the trust rule of [`crate::fsutil`]: lmi's own files, reached without
//! following links someone else could have planted. A `plugins/<name>` link is followed only
//! when its target is exactly `.versions/<name>-<version>-<sha12>`, and [`Store::remove_tree`]
//! is the one place a directory tree is ever deleted.

mod commit;
mod error;
mod grants;
mod installed;
mod routes;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{MANIFEST_FILE, Manifest, Permissions, RunTime};
use super::signature::SIGNATURE_FILE;
use crate::exit::{Exit, ExitStatus};
use crate::lockfile::{LockError, LockedFile};
use crate::paths::Paths;

const RECORD_FILE: &str = "install.toml";
const GRANTS_FILE: &str = "grants.toml";
/// The component's name in every version directory: fixed, so no manifest can make it
/// overwrite lmi's own files there.
pub const COMPONENT_FILE: &str = "component.wasm";
/// Which plugin provides which command (JSON), rewritten whenever the store changes.
const ROUTES_FILE: &str = ".routes.json";
const VERSIONS_DIR: &str = ".versions";
/// How long an install or removal waits for another one to finish.
const STORE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// lmi's small state files (records, grants, manifests, the route index) are never larger.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// The largest component lmi reads, installs or compiles (see docs/security.md).
pub const MAX_COMPONENT_BYTES: u64 = 32 << 20;

pub use commit::{PluginFiles, write_synced};
pub use error::PluginStoreError;
use error::io;
pub use grants::{Grant, GrantChanges, Grants, InstallRecord, RegistrySource};
pub use installed::{InstalledPlugin, read_plugin_file};
pub use routes::{contested, route};

/// The version directory a `plugins/<name>` link may point at: exactly
/// `.versions/<name>-<version>-<sha12>`. Anything else is not followed.
fn version_dir_name(name: &str, target: &Path) -> Option<String> {
    let mut parts = target.components();
    let (
        Some(std::path::Component::Normal(versions)),
        Some(std::path::Component::Normal(dir)),
        None,
    ) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let dir = dir.to_str()?;
    let rest = dir.strip_prefix(name)?.strip_prefix('-')?;
    let (version, sha) = rest.rsplit_once('-')?;
    let sha_ok = sha.len() == 12 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (versions == VERSIONS_DIR && sha_ok && semver::Version::parse(version).is_ok())
        .then(|| dir.to_owned())
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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

    fn versions(&self) -> PathBuf {
        self.root.join(VERSIONS_DIR)
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
            if !super::manifest::is_name(&name) {
                problems.push(format!(
                    "ignoring {}: not a plugin lmi installed (remove it)",
                    crate::text::line(&entry.path().display().to_string(), 200)
                ));
                continue;
            }
            match self.load(&name) {
                Ok(p) => plugins.push(p),
                // The error may quote the plugin's manifest (a TOML error shows its line).
                Err(e) => problems.push(crate::text::line(
                    &format!(
                        "ignoring installed plugin `{name}`: {e:#} (reinstall it or run `lmi plugin remove {name}`)"
                    ),
                    2000,
                )),
            }
        }
        plugins.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
        // A command belongs to the plugin installed with it even while that plugin does not
        // load (a linked manifest mid-edit): another plugin declaring it must never get it,
        // or the user's arguments would go to a plugin they did not install for them.
        let loaded: Vec<String> = plugins.iter().map(|p| p.manifest.name.clone()).collect();
        let owners = self.owners();
        for p in &mut plugins {
            let name = p.manifest.name.clone();
            p.manifest.commands.retain(|c| {
                // An owner that loads is handled by `route` (and `contested` warns).
                let Some(owner) = owners
                    .get(&c.name)
                    .filter(|o| **o != name && !loaded.contains(o))
                else {
                    return true;
                };
                problems.push(format!(
                    "command `{}` belongs to plugin `{owner}`, which does not load (see above); lmi will not give it to plugin {name} (fix or reinstall `{owner}`, or run `lmi plugin remove {owner}`)",
                    c.name
                ));
                false
            });
        }
        (plugins, problems)
    }

    /// Which installed plugin owns each command, from every readable `grants.toml` (lmi's
    /// own record of what was installed, read under the trust rule), whether or not the
    /// plugin's manifest loads now.
    pub fn owners(&self) -> BTreeMap<String, String> {
        let mut owners = BTreeMap::new();
        let Ok(entries) = fs::read_dir(&self.root) else {
            return owners;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !super::manifest::is_name(&name) {
                continue;
            }
            let Ok(dir) = self.version_dir(&name) else {
                continue;
            };
            let Ok(bytes) = crate::fsutil::read_trusted(&dir.join(GRANTS_FILE), MAX_STATE_BYTES)
            else {
                continue;
            };
            let Some(grants) = String::from_utf8(bytes)
                .ok()
                .and_then(|t| toml::from_str::<Grants>(&t).ok())
            else {
                continue;
            };
            for c in grants.commands {
                owners.insert(c, name.clone());
            }
        }
        owners
    }

    pub fn get(&self, name: &str) -> Result<InstalledPlugin, PluginStoreError> {
        if !super::manifest::is_name(name) {
            return Err(PluginStoreError::BadName(crate::text::line(name, 80)));
        }
        if fs::symlink_metadata(self.root.join(name)).is_err() {
            return Err(PluginStoreError::NotInstalled(name.to_owned()));
        }
        self.load(name).map_err(|e| PluginStoreError::Damaged {
            name: name.to_owned(),
            reason: format!("{e:#}"),
        })
    }

    /// The version directory `plugins/<name>` points at, if it is a link of the one form
    /// lmi makes; never anything else.
    fn version_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let link = self.root.join(name);
        let meta = fs::symlink_metadata(&link)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", link.display()))?;
        if !meta.file_type().is_symlink() {
            anyhow::bail!(
                "{} is not the link lmi makes (something else was put there)",
                link.display()
            );
        }
        let target = fs::read_link(&link)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", link.display()))?;
        let dir = version_dir_name(name, &target).ok_or_else(|| {
            anyhow::anyhow!(
                "{} points at {}, not at one of lmi's version directories",
                link.display(),
                crate::text::line(&target.display().to_string(), 200)
            )
        })?;
        Ok(self.versions().join(dir))
    }

    fn load(&self, name: &str) -> anyhow::Result<InstalledPlugin> {
        let dir = self.version_dir(name)?;
        let plugin = Self::load_dir(&dir)?;
        if plugin.manifest.name != name {
            anyhow::bail!("its manifest now names it `{}`", plugin.manifest.name);
        }
        Ok(plugin)
    }

    /// Reads a version directory: lmi's records under the trust rule, then the manifest
    /// (lmi's copy, or the linked source's).
    fn load_dir(version_dir: &Path) -> anyhow::Result<InstalledPlugin> {
        let read_state = |file: &str| -> anyhow::Result<String> {
            let path = version_dir.join(file);
            let bytes = crate::fsutil::read_trusted(&path, MAX_STATE_BYTES)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8", path.display()))
        };
        let record: InstallRecord = toml::from_str(&read_state(RECORD_FILE)?).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt: {e}",
                version_dir.join(RECORD_FILE).display()
            )
        })?;
        if !is_sha256(&record.sha256) {
            anyhow::bail!(
                "{} is corrupt: bad sha256",
                version_dir.join(RECORD_FILE).display()
            );
        }
        let grants: Grants = toml::from_str(&read_state(GRANTS_FILE)?).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt: {e}",
                version_dir.join(GRANTS_FILE).display()
            )
        })?;
        let (manifest, dir) = if record.linked {
            (Manifest::load(&record.source)?, record.source.clone())
        } else {
            let path = version_dir.join(MANIFEST_FILE);
            (
                Manifest::parse(&read_state(MANIFEST_FILE)?, &path)?,
                version_dir.to_owned(),
            )
        };
        Ok(InstalledPlugin {
            manifest,
            dir,
            record,
            grants,
        })
    }

    /// Takes the store's writer lock, held until the guard drops. Another install or
    /// removal holding it for a minute is an error, not a wait without end.
    pub fn lock(&self) -> Result<LockedFile, PluginStoreError> {
        crate::fsutil::create_private_dir(&self.versions())
            .map_err(io(format!("cannot create {}", self.root.display())))?;
        LockedFile::acquire(&self.lock_path(), STORE_LOCK_WAIT).map_err(PluginStoreError::Lock)
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// Refuses a plugin whose commands another installed plugin owns (was installed with,
    /// per its `grants.toml`, even if it does not load now). A command a linked plugin merely
    /// declares later is not owned, so it cannot block installs.
    pub fn check_clashes(&self, manifest: &Manifest) -> Result<(), PluginStoreError> {
        let owners = self.owners();
        let (installed, _) = self.list();
        for c in &manifest.commands {
            let Some(owner) = owners.get(&c.name).filter(|o| **o != manifest.name) else {
                continue;
            };
            let other = installed
                .iter()
                .find(|p| &p.manifest.name == owner)
                .map_or_else(|| owner.clone(), InstalledPlugin::label);
            return Err(PluginStoreError::CommandClash {
                command: c.name.clone(),
                plugin: manifest.name.clone(),
                other,
            });
        }
        Ok(())
    }

    /// Refuses to install `manifest` when that would now grant something beyond `agreed`
    /// (what the user was asked for, on top of the grants recorded then): another install
    /// changed the recorded grants while this one was asking and compiling. Call with the
    /// lock held.
    pub fn check_agreed(
        &self,
        manifest: &Manifest,
        agreed: &[Grant],
    ) -> Result<(), PluginStoreError> {
        let recorded = self
            .get(&manifest.name)
            .map(|p| p.grants)
            .unwrap_or_default();
        let unasked: Vec<Grant> = recorded
            .changes_for(manifest)
            .added
            .into_iter()
            .filter(|g| !agreed.contains(g))
            .collect();
        if unasked.is_empty() {
            return Ok(());
        }
        Err(PluginStoreError::GrantsChanged {
            plugin: format!("{} {}", manifest.name, manifest.version),
            more: Grant::list(&unasked),
        })
    }

    /// Removes an installed plugin. Call with the lock held. Only the link lmi made goes,
    /// and the version directory only when the link points at one; nothing a planted link
    /// points at is touched.
    pub fn remove(&self, name: &str) -> Result<(), PluginStoreError> {
        if !super::manifest::is_name(name) {
            return Err(PluginStoreError::BadName(crate::text::line(name, 80)));
        }
        let link = self.root.join(name);
        let meta = fs::symlink_metadata(&link)
            .map_err(|_| PluginStoreError::NotInstalled(name.to_owned()))?;
        if !meta.file_type().is_symlink() {
            return Err(PluginStoreError::Damaged {
                name: name.to_owned(),
                reason: format!(
                    "{} is not the link lmi makes, so lmi leaves it alone; remove it yourself if you put it there",
                    link.display()
                ),
            });
        }
        let target = self.version_dir(name).ok();
        fs::remove_file(&link).map_err(io(format!("cannot remove {}", link.display())))?;
        if let Some(dir) = target {
            let _ = self.remove_tree(&dir);
        }
        self.write_routes();
        Ok(())
    }

    /// The one place the store deletes a directory tree: only a real directory (not a link)
    /// directly inside a real `.versions` directory. Anything else is refused.
    fn remove_tree(&self, dir: &Path) -> std::io::Result<()> {
        let versions = self.versions();
        let refuse = || {
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{}: not one of lmi's version directories; left alone",
                    dir.display()
                ),
            )
        };
        let is_real_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir());
        if dir.file_name().is_none() || dir.parent() != Some(versions.as_path()) {
            return Err(refuse());
        }
        if !is_real_dir(&versions) || !is_real_dir(dir) {
            return Err(refuse());
        }
        fs::remove_dir_all(dir)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_lmis_own_link_form_is_followed() {
        let ok = Path::new(".versions/hello-0.1.0-abcdef012345");
        assert_eq!(
            version_dir_name("hello", ok).as_deref(),
            Some("hello-0.1.0-abcdef012345")
        );
        assert!(
            version_dir_name(
                "hello",
                Path::new(".versions/hello-1.2.3-rc.1-abcdef012345")
            )
            .is_some()
        );
        for bad in [
            "/home/user",
            "../../x",
            ".versions/../../x",
            ".versions/hello-0.1.0-abcdef012345/..",
            ".versions/other-0.1.0-abcdef012345",
            ".versions/hello-0.1.0-ABCDEF012345",
            ".versions/hello-0.1.0-abcdef01234",
            ".versions/hello-x-abcdef012345",
            "versions/hello-0.1.0-abcdef012345",
            ".versions/hello-0.1.0-abcdef012345/sub",
        ] {
            assert_eq!(version_dir_name("hello", Path::new(bad)), None, "{bad}");
        }
    }

    fn manifest_text(permissions: &str) -> String {
        format!(
            "name = \"p\"\nversion = \"0.1.0\"\nlmi = \"*\"\ncomponent = \"p.wasm\"\n\
             [[commands]]\nname = \"a\"\nabout = \"x\"\n[permissions]\n{permissions}\n"
        )
    }

    fn manifest(permissions: &str) -> Manifest {
        Manifest::parse(&manifest_text(permissions), Path::new("lmi-plugin.toml")).unwrap()
    }

    /// Another install lowered the grants while this one asked and compiled: what this one
    /// would now grant beyond them, unasked, is refused; what the user agreed to is not.
    #[test]
    fn an_install_never_grants_more_than_was_asked_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&Paths::under(dir.path()));
        let record = InstallRecord {
            registry: None,
            sha256: "ab".repeat(32),
            source: dir.path().to_owned(),
            linked: false,
            installed_at: 0,
            signature: None,
        };
        let lowered_text = manifest_text("service_requests = true\nenvironments = [\"dev\"]");
        let lowered = manifest("service_requests = true\nenvironments = [\"dev\"]");
        let _lock = store.lock().unwrap();
        store
            .commit(
                &lowered,
                &PluginFiles {
                    manifest: lowered_text.as_bytes(),
                    component: b"component",
                    signature: None,
                },
                &record,
                |_| Ok(()),
            )
            .unwrap();
        // Asked when the record still held `service_token`: nothing new, nothing agreed.
        let upgrade =
            manifest("service_token = true\nservice_requests = true\nenvironments = [\"dev\"]");
        let err = store.check_agreed(&upgrade, &[]).unwrap_err().to_string();
        assert!(err.contains("service_token"), "{err}");
        let agreed = [Grant::Permission("service_token".into())];
        store.check_agreed(&upgrade, &agreed).unwrap();
        store.check_agreed(&lowered, &[]).unwrap();
    }
}
