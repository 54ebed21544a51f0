//! A plugin's own data directory (`data = true`): `$XDG_DATA_HOME/lmi/plugin-data/<name>/`,
//! one per plugin name, so it outlives upgrades. lmi creates it 0700 on the first run that
//! needs it and deletes it on `lmi plugin remove` (unless `--keep-data`).
//!
//! The plugin writes inside it whatever it likes, links included, so lmi never follows
//! anything there: the directory itself must be a real directory of the user's (a link or
//! a file in its place is refused, named, and left alone), and removal unlinks links
//! instead of following them.

use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitStatus};
use crate::paths::Paths;

/// Where plugin `name`'s data lives (whether or not it exists yet).
pub fn dir(paths: &Paths, name: &str) -> PathBuf {
    paths.plugin_data_dir().join(name)
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Something other than the directory lmi makes is in its place.
    #[error(
        "{path} is {what}, not the data directory lmi makes for plugin {plugin}: lmi neither uses nor deletes it (move it away, and lmi makes a new one)"
    )]
    NotOurs {
        path: PathBuf,
        plugin: String,
        what: &'static str,
    },
    #[error("cannot use the data directory {path} of plugin {plugin}: {reason}")]
    Io {
        path: PathBuf,
        plugin: String,
        reason: String,
    },
}

impl ExitStatus for DataDirError {
    fn exit(&self) -> Exit {
        match self {
            // Something planted in its place: the user must look at it.
            DataDirError::NotOurs { .. } => Exit::Usage,
            // A full disk, a permission denied: the run failed.
            DataDirError::Io { .. } => Exit::Failure,
        }
    }
}

/// What is at `path`, if it is not a real directory: `"a symbolic link"`, `"a file"`.
fn foreign(path: &Path) -> std::io::Result<Option<&'static str>> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        Some("a symbolic link")
    } else if !ft.is_dir() {
        Some("not a directory (a file or something else)")
    } else {
        None
    })
}

/// Plugin `name`'s data directory, created 0700 if missing: a real directory (never a link)
/// owned by the user and writable by nobody else, under lmi's private `plugin-data/`.
pub fn prepare(paths: &Paths, name: &str) -> Result<PathBuf, DataDirError> {
    let path = dir(paths, name);
    let io = |e: std::io::Error| DataDirError::Io {
        path: path.clone(),
        plugin: name.to_owned(),
        reason: e.to_string(),
    };
    crate::fsutil::create_private_dir(&paths.plugin_data_dir()).map_err(io)?;
    match foreign(&path) {
        Ok(None) => {}
        Ok(Some(what)) => {
            return Err(DataDirError::NotOurs {
                path,
                plugin: name.to_owned(),
                what,
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            #[cfg_attr(not(unix), allow(unused_mut))] // the mode is set on Unix only
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            // Not recursive: the parent was checked above, and an existing entry (a link
            // planted meanwhile) must fail here rather than be adopted.
            // Another run creating it at the same moment is fine: the check below decides.
            match builder.create(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
                _ => {}
            }
        }
        Err(e) => return Err(io(e)),
    }
    // Ours and private, as everything lmi keeps (a looser mode of ours is tightened).
    crate::fsutil::create_private_dir(&path).map_err(io)?;
    if let Ok(Some(what)) = foreign(&path) {
        return Err(DataDirError::NotOurs {
            path,
            plugin: name.to_owned(),
            what,
        });
    }
    Ok(path)
}

/// What [`remove`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// There was no data directory.
    Nothing,
    /// The directory and everything in it is gone (links in it unlinked, never followed).
    Deleted(PathBuf),
}

/// Deletes plugin `name`'s data directory. A link or a file in its place is refused and
/// left as it is: lmi deletes only the real directory it made, and inside it removes links
/// themselves, never what they point at.
pub fn remove(paths: &Paths, name: &str) -> Result<Removed, DataDirError> {
    let path = dir(paths, name);
    match foreign(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::Nothing),
        Err(e) => {
            return Err(DataDirError::Io {
                path,
                plugin: name.to_owned(),
                reason: e.to_string(),
            });
        }
        Ok(Some(what)) => {
            return Err(DataDirError::NotOurs {
                path,
                plugin: name.to_owned(),
                what,
            });
        }
        Ok(None) => {}
    }
    // `remove_dir_all` opens each directory without following links and unlinks links as
    // entries (std's guarantee since 1.58.1, CVE-2022-21658).
    std::fs::remove_dir_all(&path).map_err(|e| DataDirError::Io {
        path: path.clone(),
        plugin: name.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Removed::Deleted(path))
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn the_data_directory_is_made_private_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::under(tmp.path());
        let dir = prepare(&paths, "p").unwrap();
        assert_eq!(dir, tmp.path().join("data/plugin-data/p"));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(dir.join("state"), "kept").unwrap();
        assert_eq!(prepare(&paths, "p").unwrap(), dir);
        assert_eq!(std::fs::read_to_string(dir.join("state")).unwrap(), "kept");
        // Looser (by the user's hand) is tightened, not refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&paths, "p").unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_link_or_a_file_in_its_place_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::under(tmp.path());
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("precious"), "x").unwrap();
        crate::fsutil::create_private_dir(&paths.plugin_data_dir()).unwrap();
        symlink(&elsewhere, dir(&paths, "p")).unwrap();
        let e = prepare(&paths, "p").unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert!(e.contains("plugin-data/p"), "{e}");
        let e = remove(&paths, "p").unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert!(elsewhere.join("precious").exists());
        assert!(dir(&paths, "p").symlink_metadata().is_ok());

        std::fs::write(dir(&paths, "q"), "a file").unwrap();
        assert!(
            prepare(&paths, "q")
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
        assert!(remove(&paths, "q").is_err());
        assert_eq!(std::fs::read_to_string(dir(&paths, "q")).unwrap(), "a file");
    }

    #[test]
    fn removal_unlinks_links_inside_and_never_follows_them() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::under(tmp.path());
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("precious"), "x").unwrap();
        let dir = prepare(&paths, "p").unwrap();
        symlink(&victim, dir.join("out")).unwrap();
        symlink("../../../victim", dir.join("relative-out")).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        symlink(&victim, dir.join("sub/deeper")).unwrap();
        assert_eq!(remove(&paths, "p").unwrap(), Removed::Deleted(dir.clone()));
        assert!(!dir.exists());
        assert!(victim.join("precious").exists());
        assert_eq!(remove(&paths, "p").unwrap(), Removed::Nothing);
    }
}
