//! An installed plugin as the store read it, and the one way lmi reads a plugin's files.

use super::*;

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

    /// The manifest's bytes as installed (what a signature's statement covers): lmi's copy
    /// under the trust rule, a linked one from the author's directory.
    pub fn read_manifest_bytes(&self) -> std::io::Result<Vec<u8>> {
        if self.record.linked {
            read_plugin_file(
                &self.dir,
                Path::new(MANIFEST_FILE),
                super::super::manifest::MAX_MANIFEST_BYTES,
            )
        } else {
            crate::fsutil::read_trusted(&self.dir.join(MANIFEST_FILE), MAX_STATE_BYTES)
        }
    }

    /// The signature file's bytes, `None` when there is none: lmi's copy under the trust
    /// rule, a linked plugin's from the author's directory.
    pub fn read_signature(&self) -> std::io::Result<Option<Vec<u8>>> {
        use crate::plugins::signature::{self, MAX_SIGNATURE_BYTES};
        if self.record.linked {
            return signature::read_signature(&self.dir);
        }
        let path = self.dir.join(SIGNATURE_FILE);
        match crate::fsutil::read_trusted(&path, MAX_SIGNATURE_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
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
            more: Grant::list(&more),
            fix: self.reinstall_hint(),
        })
    }

    /// The command that installs this plugin again from where it came from.
    pub fn reinstall_hint(&self) -> String {
        if let Some(registry) = &self.record.registry {
            return format!("lmi plugin install {}", registry.reference());
        }
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
    let limit = if limit >= 1 << 20 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("larger than lmi's limit of {limit}"),
    )
}
