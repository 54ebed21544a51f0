//! The one advisory file lock: an exclusive `flock` on a private file, waited for up to a
//! deadline. Callers choose what a busy or unusable lock means (carry on, or refuse), never
//! to block without end.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct LockedFile {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process held the lock for the whole wait.
    #[error("another lmi process has held {} for {} s; try again", path.display(), waited.as_secs())]
    Busy { path: PathBuf, waited: Duration },
    /// The lock file cannot be created or locked (a read-only or odd file system).
    #[error("cannot lock {}: {source}", path.display())]
    Unusable {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LockedFile {
    /// Takes the lock at `path` (created `0600`, its directory `0700`), waiting up to `wait`.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Self, LockError> {
        let file = open(path).map_err(|source| LockError::Unusable {
            path: path.to_owned(),
            source,
        })?;
        Self::wait_for(file, path, wait)
    }

    /// Locks the file at `path` itself, which must exist (opened read-only, never created,
    /// not through a link): for a file that is replaced by rename, whose writers compare and
    /// replace under this lock, leaving no lock file beside it.
    pub fn acquire_existing(path: &Path, wait: Duration) -> Result<Self, LockError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file = opts.open(path).map_err(|source| LockError::Unusable {
            path: path.to_owned(),
            source,
        })?;
        Self::wait_for(file, path, wait)
    }

    fn wait_for(file: File, path: &Path, wait: Duration) -> Result<Self, LockError> {
        let unusable = |source| LockError::Unusable {
            path: path.to_owned(),
            source,
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    tracing::debug!("locked {}", path.display());
                    return Ok(Self { _file: file });
                }
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Busy {
                        path: path.to_owned(),
                        waited: wait,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(unusable(e)),
            }
        }
    }

    /// Takes the lock only if it is free now.
    pub fn try_acquire(path: &Path) -> Option<Self> {
        Self::acquire(path, Duration::ZERO).ok()
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_busy_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/.lock");
        let held = LockedFile::acquire(&path, Duration::ZERO).unwrap();
        let t = Instant::now();
        match LockedFile::acquire(&path, Duration::from_millis(150)) {
            Err(LockError::Busy { waited, .. }) => assert_eq!(waited.as_millis(), 150),
            other => panic!("expected busy, got {other:?}"),
        }
        assert!(t.elapsed() >= Duration::from_millis(150));
        assert!(LockedFile::try_acquire(&path).is_none());
        drop(held);
        assert!(LockedFile::try_acquire(&path).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join(".lock")).unwrap();
        assert!(matches!(
            LockedFile::acquire(&dir.path().join(".lock"), Duration::ZERO),
            Err(LockError::Unusable { .. })
        ));
        assert!(!target.exists());
    }
}
