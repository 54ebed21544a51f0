//! The audit file: opened once per process on its first record, appended to with one write
//! per line, rotated by size.
//!
//! Rotation: when a line would take the file past [`ROTATE_AT`], the writer takes
//! `<file>.lock` (the one lock helper, `lockfile`) and, if the file at the path is still the
//! one it holds, shifts `<file>.1` … `<file>.{KEEP - 1}` up by one (dropping `<file>.{KEEP}`),
//! renames the file to `<file>.1` and opens a new one. A process still holding the old file
//! finds it over the size too, takes the lock, sees that the path names another file now and
//! reopens it: a line always lands whole in one of the files. Rotation is best effort: if the
//! lock cannot be had the line goes to the current file, which then grows past the size.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::settings::AuditTarget;

/// Size at which the file is rotated.
pub const ROTATE_AT: u64 = 10 << 20;
/// Rotated files kept beside the current one (`.1` newest … `.4` oldest).
pub const KEEP: u32 = 4;
/// How long a writer waits for another one's rotation.
const LOCK_WAIT: Duration = Duration::from_secs(2);

pub struct Sink {
    path: PathBuf,
    file: File,
    rotate_at: u64,
    keep: u32,
    /// Rotation failed once in this process: not tried again, so a stuck lock costs one wait.
    rotation_off: bool,
}

impl Sink {
    /// Opens the file of `target` (`None` when the trail is off). lmi's own file gets a
    /// private directory under the trust rule (`fsutil::create_private_dir`); for a chosen
    /// path only missing directories are created (0700). The file itself: 0600, never
    /// through a link, only the user's (`fsutil::open_private_append`).
    pub fn open(target: &AuditTarget) -> std::io::Result<Option<Self>> {
        let path = match target {
            AuditTarget::Off => return Ok(None),
            AuditTarget::Default(path) => {
                if let Some(dir) = path.parent() {
                    crate::fsutil::create_private_dir(dir)?;
                }
                path
            }
            AuditTarget::Chosen(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::fsutil::create_user_dirs(dir)?;
                }
                path
            }
        };
        Self::open_at(path, ROTATE_AT, KEEP).map(Some)
    }

    fn open_at(path: &Path, rotate_at: u64, keep: u32) -> std::io::Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            file: crate::fsutil::open_private_append(path)?,
            rotate_at,
            keep: keep.max(1),
            rotation_off: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (one `write` on the `O_APPEND` descriptor), rotating first if it
    /// would take the file past the size.
    pub fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        let size = self.file.metadata()?.len();
        if size > 0 && size.saturating_add(line.len() as u64) > self.rotate_at && !self.rotation_off
        {
            self.rotate();
        }
        self.file.write_all(line)
    }

    fn rotate(&mut self) {
        let lock_path = sibling(&self.path, "lock");
        let _lock = match crate::lockfile::LockedFile::acquire(&lock_path, LOCK_WAIT) {
            Ok(lock) => lock,
            Err(e) => {
                tracing::warn!(
                    "the audit log {} is not rotated: {e}; it grows past {} MiB",
                    self.path.display(),
                    self.rotate_at >> 20
                );
                self.rotation_off = true;
                return;
            }
        };
        if self.still_ours()
            && let Err(e) = self.shift()
        {
            tracing::warn!(
                "cannot rotate the audit log {}: {e}; it grows past {} MiB",
                self.path.display(),
                self.rotate_at >> 20
            );
            self.rotation_off = true;
            return;
        }
        // Ours rotated just now, or another process rotated it: write to the file the path
        // names now. Should that fail, the line still goes to the file held.
        match crate::fsutil::open_private_append(&self.path) {
            Ok(file) => self.file = file,
            Err(e) => tracing::warn!("cannot reopen the audit log {}: {e}", self.path.display()),
        }
    }

    /// Whether the path still names the file this process holds (no other process rotated it).
    fn still_ours(&self) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (std::fs::symlink_metadata(&self.path), self.file.metadata()) {
                (Ok(now), Ok(held)) => (now.dev(), now.ino()) == (held.dev(), held.ino()),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            true
        }
    }

    /// `.{keep-1}` → `.{keep}`, …, `.1` → `.2`, the file → `.1`. Renames move names, never
    /// follow links; a missing one is skipped.
    fn shift(&self) -> std::io::Result<()> {
        for n in (1..self.keep).rev() {
            let from = sibling(&self.path, &n.to_string());
            match std::fs::rename(&from, sibling(&self.path, &(n + 1).to_string())) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, sibling(&self.path, "1"))
    }
}

/// `<path>.<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lines_in(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_full_file_is_rotated_and_the_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut sink = Sink::open_at(&path, 100, 2).unwrap();
        for i in 0..12 {
            sink.append(format!("{{\"n\":{i:02},\"pad\":\"xxxxxxxxxx\"}}\n").as_bytes())
                .unwrap();
        }
        // 27-byte lines, 3 per 100-byte file: 12 lines are files of 3, the newest 3 kept
        // in the file, 3 in .1, 3 in .2, the rest dropped; no .3.
        assert_eq!(lines_in(&path).len(), 3);
        assert_eq!(lines_in(&sibling(&path, "1")).len(), 3);
        assert_eq!(lines_in(&sibling(&path, "2")).len(), 3);
        assert!(!sibling(&path, "3").exists());
        assert!(lines_in(&path)[2].contains("\"n\":11"));
        assert!(lines_in(&sibling(&path, "2"))[0].contains("\"n\":03"));
    }

    /// Another process holding the rotation lock past the wait costs one wait: the lines go
    /// to the current file, which grows past the size, and rotation is not tried again.
    #[test]
    fn a_held_rotation_lock_costs_one_wait_and_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let _held =
            crate::lockfile::LockedFile::acquire(&sibling(&path, "lock"), Duration::ZERO).unwrap();
        let mut sink = Sink::open_at(&path, 10, 4).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..5 {
            sink.append(b"{\"a\":1}\n").unwrap();
        }
        assert!(started.elapsed() < LOCK_WAIT * 2, "{:?}", started.elapsed());
        assert_eq!(lines_in(&path).len(), 5);
        assert!(!sibling(&path, "1").exists());
    }

    /// Many writers with their own descriptors (as separate processes have), rotating a small
    /// file all the time: every line lands whole, none is lost.
    #[test]
    fn concurrent_writers_rotating_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut sink = Sink::open_at(&path, 2000, 1000).unwrap();
                    for i in 0..100 {
                        let line =
                            format!("{{\"w\":{w},\"i\":{i},\"pad\":\"{}\"}}\n", "y".repeat(40));
                        sink.append(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut files = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "lock") {
                continue;
            }
            files += 1;
            for l in lines_in(&p) {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                assert!(seen.insert((v["w"].as_u64().unwrap(), v["i"].as_u64().unwrap())));
            }
        }
        assert_eq!(seen.len(), 800);
        assert!(files > 10, "rotated {files} files");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_not_written_through_and_the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let path = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = Sink::open_at(&path, ROTATE_AT, KEEP).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let mut sink = Sink::open_at(&path, ROTATE_AT, KEEP).unwrap();
        sink.append(b"{}\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&target).unwrap(), b"");
    }
}
