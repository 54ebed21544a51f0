//! Installing: staging a complete version directory, checking it loads, then switching the
//! `plugins/<name>` link in one `rename`; and the private, synced writes it is made of.

use super::*;

impl Store {
    /// Installs a copy of a validated plugin (`files`, `manifest` parsed from them), or (for
    /// `record.linked`) a link to its source, with the grants the user agreed to. Call with the
    /// lock held. The staged version must pass `verify` (it loads from its compiled artifact)
    /// before it replaces anything; the swap to it is a single rename, and only then is the
    /// previous version deleted.
    pub fn commit(
        &self,
        manifest: &Manifest,
        files: &PluginFiles<'_>,
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
            // The manifest exactly as the author wrote it (its `component` is not used here:
            // the component is always COMPONENT_FILE), so the signature's statement can be
            // computed again from the installed files.
            write_synced(&staging.path().join(MANIFEST_FILE), files.manifest)?;
            write_synced(&staging.path().join(COMPONENT_FILE), files.component)?;
            if let Some(signature) = files.signature {
                write_synced(&staging.path().join(SIGNATURE_FILE), signature)?;
            }
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
}

/// The files of a plugin being installed, as they were checked.
pub struct PluginFiles<'a> {
    /// `lmi-plugin.toml`, byte for byte.
    pub manifest: &'a [u8],
    pub component: &'a [u8],
    /// `lmi-plugin.minisig`, if the plugin is signed.
    pub signature: Option<&'a [u8]>,
}

/// lmi's own records as TOML; these types always serialize, but an error is reported, not
/// unwrapped.
pub(super) fn to_toml<T: Serialize>(value: &T) -> Result<String, PluginStoreError> {
    toml::to_string_pretty(value).map_err(|e| PluginStoreError::Io {
        context: "cannot serialize lmi's plugin records".into(),
        source: std::io::Error::other(e),
    })
}

/// Files lmi creates in the store: 0600 whatever the umask, never through a link.
pub(super) fn private_file_options() -> fs::OpenOptions {
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
pub(super) fn swap_link(link: &Path, target: &Path) -> Result<(), PluginStoreError> {
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
pub(super) fn swap_link(link: &Path, target: &Path) -> Result<(), PluginStoreError> {
    let _ = fs::remove_file(link);
    let parent = link.parent().unwrap_or(Path::new("."));
    std::os::windows::fs::symlink_dir(parent.join(target), link)
        .map_err(io("cannot create the plugin link"))
}
