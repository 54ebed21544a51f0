//! Which installed plugin a command goes to, and the route index that lets dispatch read one
//! plugin instead of all of them.

use super::*;

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

impl Store {
    /// The plugin providing `command`, read alone: the route index names it and its own
    /// records confirm that it was installed with the command (so [`route`] would pick it
    /// too). `None` (read them all instead) when the index is missing, does not know the
    /// command (say a linked plugin's manifest gained it) or is out of date.
    pub fn route(&self, command: &str) -> Option<InstalledPlugin> {
        let bytes =
            crate::fsutil::read_trusted(&self.root.join(ROUTES_FILE), MAX_STATE_BYTES).ok()?;
        let routes: BTreeMap<String, String> = serde_json::from_slice(&bytes).ok()?;
        let name = routes.get(command)?;
        if !crate::plugins::manifest::is_name(name) {
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
    pub(super) fn write_routes(&self) {
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
}
