//! The installed-plugin store under `$XDG_DATA_HOME/lmi/plugins/`.
//!
//! Layout: each plugin is `plugins/<name>`, a symlink to an immutable version directory
//! `plugins/.versions/<name>-<version>-<sha12>/` holding lmi's copy of the manifest, the
//! component (always `component.wasm`, whatever the author called it), `install.toml` (where
//! it came from) and `grants.toml` (what the user agreed to). Installing or upgrading stages
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

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{MANIFEST_FILE, Manifest, Permissions};
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

/// What the user granted when the plugin was installed or linked, recorded by lmi. A run
/// gets at most this, whatever the manifest says later (a linked plugin's manifest is the
/// author's to edit).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The commands the plugin was installed with: it owns them.
    #[serde(default)]
    pub commands: Vec<String>,
    /// The commands that see the user's SSO identity (`requires_sso` at install).
    #[serde(default)]
    pub sso_commands: Vec<String>,
    #[serde(default)]
    pub permissions: Permissions,
}

impl Grants {
    /// Exactly what the user is shown and agrees to for `manifest`.
    pub fn of(manifest: &Manifest) -> Self {
        Self {
            commands: manifest.commands.iter().map(|c| c.name.clone()).collect(),
            sso_commands: manifest
                .commands
                .iter()
                .filter(|c| c.requires_sso)
                .map(|c| c.name.clone())
                .collect(),
            permissions: manifest.permissions.clone(),
        }
    }

    /// What running `command` of `manifest` would need beyond these grants, one phrase each.
    pub fn exceeded_by(&self, manifest: &Manifest, command: &str) -> Vec<String> {
        let mut more = permissions_beyond(&manifest.permissions, &self.permissions);
        if manifest.command(command).is_some_and(|c| c.requires_sso)
            && !self.sso_commands.iter().any(|c| c == command)
        {
            more.push(format!("your SSO identity in `{command}`"));
        }
        more
    }
}

/// Each permission `asked` holds that `granted` does not: a flag granted off, or a list
/// entry (an environment) not granted (`"*"` grants any). Generic over the fields, so a
/// permission added later is compared too.
fn permissions_beyond(asked: &Permissions, granted: &Permissions) -> Vec<String> {
    use serde_json::Value;
    let (Ok(Value::Object(asked)), Ok(Value::Object(granted))) =
        (serde_json::to_value(asked), serde_json::to_value(granted))
    else {
        return vec!["permissions lmi cannot compare".into()];
    };
    let mut more = Vec::new();
    for (key, want) in &asked {
        let have = granted.get(key).unwrap_or(&Value::Null);
        match (want, have) {
            (Value::Bool(false) | Value::Null, _) => {}
            (Value::Array(items), Value::Array(held)) => {
                let any = held.iter().any(|h| h.as_str() == Some("*"));
                for item in items.iter().filter(|i| !any && !held.contains(i)) {
                    more.push(format!("{key}: {}", item.as_str().unwrap_or("?")));
                }
            }
            (Value::Array(items), _) if items.is_empty() => {}
            _ if want == have => {}
            _ => more.push(key.clone()),
        }
    }
    more
}

#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    pub manifest: Manifest,
    /// Where the manifest lives (the version directory, or the linked source).
    pub dir: PathBuf,
    pub record: InstallRecord,
    pub grants: Grants,
}

impl InstalledPlugin {
    pub fn component_path(&self) -> PathBuf {
        if self.record.linked {
            self.dir.join(&self.manifest.component)
        } else {
            self.dir.join(COMPONENT_FILE)
        }
    }

    /// The component's bytes, at most [`MAX_COMPONENT_BYTES`]: an installed copy under the
    /// trust rule, a linked one from the author's directory.
    pub fn read_component(&self) -> std::io::Result<Vec<u8>> {
        let path = self.component_path();
        if self.record.linked {
            read_plugin_file(&self.dir, &self.manifest.component, MAX_COMPONENT_BYTES)
        } else {
            crate::fsutil::read_trusted(&path, MAX_COMPONENT_BYTES)
        }
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }

    /// Refuses a run of `command` when the manifest now asks for more than was granted.
    pub fn check_grants(&self, command: &str) -> Result<(), PluginStoreError> {
        let more = self.grants.exceeded_by(&self.manifest, command);
        if more.is_empty() {
            return Ok(());
        }
        Err(PluginStoreError::NotGranted {
            plugin: self.label(),
            more: more.join(", "),
            fix: self.reinstall_hint(),
        })
    }

    /// The command that installs this plugin again from where it came from.
    pub fn reinstall_hint(&self) -> String {
        format!(
            "lmi plugin install{} {}",
            if self.record.linked { " --link" } else { "" },
            self.record.source.display()
        )
    }
}

/// Reads `rel`, a file inside the plugin directory `dir` (its manifest or component), at
/// most `limit` bytes. A submitted plugin is hostile: a link leaving the directory (to
/// `/proc/self/environ`, a `.env`, `/dev/zero`) would put another file's text into lmi's
/// errors, and a FIFO would block forever, so the file's real path must stay inside `dir`
/// (links within it are allowed, for build layouts), and it is opened without following a
/// last link and without blocking, and must be a regular file.
pub fn read_plugin_file(dir: &Path, rel: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    let root = fs::canonicalize(dir)?;
    let real = fs::canonicalize(dir.join(rel))?;
    if !real.starts_with(&root) || real == root {
        return Err(refuse(format!(
            "it is a link to a file outside the plugin directory {}; lmi reads only files inside it (copy the file in instead)",
            root.display()
        )));
    }
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = opts.open(&real)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(
            "it is not a regular file (a FIFO, device or directory); lmi reads only regular files"
                .to_owned(),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("larger than lmi's limit of {} MiB", limit >> 20),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PluginStoreError {
    #[error("plugin `{0}` is not installed (see `lmi plugin list`)")]
    NotInstalled(String),
    #[error(
        "`{0}` is not a plugin name: plugin names are lowercase letters, digits and `-`, starting with a letter (see `lmi plugin list`)"
    )]
    BadName(String),
    #[error(
        "command `{command}` of plugin {plugin} is already provided by the installed plugin {other}: remove one of them first"
    )]
    CommandClash {
        command: String,
        plugin: String,
        other: String,
    },
    #[error(
        "plugin {plugin} now asks for more than you granted when it was installed ({more}); lmi will not run it until you review and grant that by installing it again: `{fix}`"
    )]
    NotGranted {
        plugin: String,
        more: String,
        fix: String,
    },
    #[error(
        "installed plugin `{name}` is damaged: {reason}; reinstall it with `lmi plugin install <DIR>` or remove it with `lmi plugin remove {name}`"
    )]
    Damaged { name: String, reason: String },
    #[error(
        "the new version of {plugin} does not load ({reason}); nothing was installed and the previous version, if any, is unchanged"
    )]
    Unloadable { plugin: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The store's writer lock: busy for a minute, or unusable.
    #[error("the plugin store: {0}")]
    Lock(#[from] LockError),
}

impl ExitStatus for PluginStoreError {
    fn exit(&self) -> Exit {
        match self {
            PluginStoreError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Exit::Usage
            }
            PluginStoreError::Io { .. }
            | PluginStoreError::Damaged { .. }
            | PluginStoreError::Lock(_) => Exit::Failure,
            _ => Exit::Usage,
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PluginStoreError {
    let context = context.into();
    move |source| PluginStoreError::Io { context, source }
}

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

/// Which installed plugin a command goes to: the one routing rule, used by dispatch (both
/// paths), `--help`, completions and the route index. The plugin that was installed with
/// the command owns it; a command no plugin was installed with goes to the first (by name)
/// linked plugin whose manifest has since gained it. A manifest never takes over a command
/// another plugin owns.
pub fn route<'a>(plugins: &'a [InstalledPlugin], command: &str) -> Option<&'a InstalledPlugin> {
    let declares = |p: &&InstalledPlugin| p.manifest.command(command).is_some();
    let owns = |p: &&InstalledPlugin| p.grants.commands.iter().any(|c| c == command);
    plugins.iter().filter(declares).find(owns).or_else(|| {
        if plugins.iter().any(|p| owns(&p)) {
            return None;
        }
        plugins
            .iter()
            .filter(declares)
            .min_by(|a, b| a.manifest.name.cmp(&b.manifest.name))
    })
}

/// One line per command a plugin's manifest declares but [`route`] gives to another
/// plugin, naming the fix.
pub fn contested(plugins: &[InstalledPlugin]) -> Vec<String> {
    let mut lines = Vec::new();
    for p in plugins {
        for c in &p.manifest.commands {
            if let Some(owner) =
                route(plugins, &c.name).filter(|o| o.manifest.name != p.manifest.name)
            {
                lines.push(format!(
                    "plugin {} declares `{}`, which plugin {} provides; ignoring it there (rename the command in {} and run `{}`)",
                    p.label(),
                    c.name,
                    owner.label(),
                    p.dir.join(MANIFEST_FILE).display(),
                    p.reinstall_hint()
                ));
            }
        }
    }
    lines
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

    /// The plugin providing `command`, read alone: the route index names it and its own
    /// records confirm that it was installed with the command (so [`route`] would pick it
    /// too). `None` (read them all instead) when the index is missing, does not know the
    /// command (say a linked plugin's manifest gained it) or is out of date.
    pub fn route(&self, command: &str) -> Option<InstalledPlugin> {
        let bytes =
            crate::fsutil::read_trusted(&self.root.join(ROUTES_FILE), MAX_STATE_BYTES).ok()?;
        let routes: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
        let name = routes.get(command)?;
        if !super::manifest::is_name(name) {
            return None;
        }
        let plugin = self.load(name).ok()?;
        let owns = plugin.grants.commands.iter().any(|c| c == command);
        (owns && plugin.manifest.command(command).is_some()).then_some(plugin)
    }

    /// Rewrites the route index when dispatch found it missing or out of date (a store from
    /// an older lmi, a linked plugin that gained a command), if no writer holds the lock.
    pub fn refresh_routes(&self) {
        if let Some(_lock) = LockedFile::try_acquire(&self.lock_path()) {
            self.write_routes();
        }
    }

    /// Rewrites the route index from the installed plugins. Call with the lock held.
    /// Best effort: without an index dispatch reads every manifest, as it did before.
    fn write_routes(&self) {
        let (plugins, _) = self.list();
        let routes: BTreeMap<&str, &str> = plugins
            .iter()
            .flat_map(|p| p.manifest.commands.iter().map(|c| c.name.as_str()))
            .filter_map(|c| Some((c, route(&plugins, c)?.manifest.name.as_str())))
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

    /// Installs a copy of a validated plugin, or (for `record.linked`) a link to its source,
    /// with the grants the user agreed to. Call with the lock held. The staged version must
    /// pass `verify` (it loads from its compiled artifact) before it replaces anything; the
    /// swap to it is a single rename, and only then is the previous version deleted.
    pub fn commit(
        &self,
        manifest: &Manifest,
        component: &[u8],
        record: &InstallRecord,
        verify: impl FnOnce(&InstalledPlugin) -> Result<(), String>,
    ) -> Result<(), PluginStoreError> {
        let versions = self.versions();
        let prefix = format!(".staging-{}-", manifest.name);
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let staging = builder
            .tempdir_in(&versions)
            .map_err(io("cannot create a staging directory"))?;
        if !record.linked {
            let mut copied = manifest.clone();
            copied.component = PathBuf::from(COMPONENT_FILE);
            write_synced(
                &staging.path().join(MANIFEST_FILE),
                to_toml(&copied)?.as_bytes(),
            )?;
            write_synced(&staging.path().join(COMPONENT_FILE), component)?;
        }
        write_synced(
            &staging.path().join(RECORD_FILE),
            to_toml(record)?.as_bytes(),
        )?;
        write_synced(
            &staging.path().join(GRANTS_FILE),
            to_toml(&Grants::of(manifest))?.as_bytes(),
        )?;
        let staged = Self::load_dir(staging.path())
            .map_err(|e| format!("{e:#}"))
            .and_then(|p| verify(&p));
        if let Err(reason) = staged {
            return Err(PluginStoreError::Unloadable {
                plugin: format!("{} {}", manifest.name, manifest.version),
                reason,
            });
        }

        let final_name = format!(
            "{}-{}-{}",
            manifest.name,
            manifest.version,
            &record.sha256[..12.min(record.sha256.len())]
        );
        let final_dir = versions.join(&final_name);
        let staged = staging.keep();
        if fs::symlink_metadata(&final_dir).is_ok() {
            // The same version and component again (a reinstall): replace it wholesale, and
            // put the previous copy back if the new one cannot take its place.
            let old = versions.join(format!(".old-{final_name}"));
            let _ = self.remove_tree(&old);
            fs::rename(&final_dir, &old).map_err(io("cannot move the previous copy aside"))?;
            if let Err(e) = fs::rename(&staged, &final_dir) {
                let _ = fs::rename(&old, &final_dir);
                let _ = self.remove_tree(&staged);
                return Err(io("cannot move the staged plugin into place")(e));
            }
            let _ = self.remove_tree(&old);
        } else if let Err(e) = fs::rename(&staged, &final_dir) {
            let _ = self.remove_tree(&staged);
            return Err(io("cannot move the staged plugin into place")(e));
        }
        let previous = self.version_dir(&manifest.name).ok();
        swap_link(
            &self.root.join(&manifest.name),
            &PathBuf::from(VERSIONS_DIR).join(&final_name),
        )?;
        if let Some(prev) = previous.filter(|p| p != &final_dir) {
            let _ = self.remove_tree(&prev);
        }
        self.write_routes();
        Ok(())
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

/// lmi's own records as TOML; these types always serialize, but an error is reported, not
/// unwrapped.
fn to_toml<T: Serialize>(value: &T) -> Result<String, PluginStoreError> {
    toml::to_string_pretty(value).map_err(|e| PluginStoreError::Io {
        context: "cannot serialize lmi's plugin records".into(),
        source: std::io::Error::other(e),
    })
}

/// Files lmi creates in the store: 0600 whatever the umask, never through a link.
fn private_file_options() -> fs::OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut opts = fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts
}

/// Writes a new file (0600) and flushes it to disk before it can be renamed into place.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PluginStoreError> {
    let mut f = private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(format!("cannot write {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("cannot write {}", path.display())))
}

#[cfg(unix)]
fn swap_link(link: &Path, target: &Path) -> Result<(), PluginStoreError> {
    let parent = link.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".link-{}-{}",
        link.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io("cannot create the plugin link"))?;
    // rename(2) over an existing symlink is atomic: readers never see the plugin missing.
    // Over a real directory someone planted it fails, and that directory is left alone.
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        PluginStoreError::Io {
            context: format!(
                "cannot switch the plugin link {} (if it is not a link lmi made, remove it yourself)",
                link.display()
            ),
            source: e,
        }
    })
}

#[cfg(not(unix))]
fn swap_link(link: &Path, target: &Path) -> Result<(), PluginStoreError> {
    let _ = fs::remove_file(link);
    let parent = link.parent().unwrap_or(Path::new("."));
    std::os::windows::fs::symlink_dir(parent.join(target), link)
        .map_err(io("cannot create the plugin link"))
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

    #[test]
    // `..Default::default()` keeps this compiling when Permissions gains a field.
    #[allow(clippy::needless_update)]
    fn asking_for_more_than_was_granted_is_named() {
        let granted = Permissions {
            service_requests: true,
            environments: vec!["dev".into()],
            ..Permissions::default()
        };
        let asked = Permissions {
            service_token: true,
            service_requests: true,
            environments: vec!["dev".into(), "prod".into()],
            ..Permissions::default()
        };
        assert_eq!(
            permissions_beyond(&asked, &granted),
            vec!["environments: prod".to_owned(), "service_token".to_owned()]
        );
        assert!(permissions_beyond(&granted, &asked).is_empty());
        assert!(permissions_beyond(&Permissions::default(), &granted).is_empty());
        let any = Permissions {
            environments: vec!["*".into()],
            ..granted.clone()
        };
        assert!(permissions_beyond(&granted, &any).is_empty());
    }
}
