//! Compiled artifacts under `$XDG_CACHE_HOME/lmi/compiled/`.
//!
//! File name: `<component sha256>-<engine compatibility hash>.cwasm`, so a wasmtime upgrade
//! or a changed component simply misses. Beside each artifact, `<name>.crc32` holds the
//! CRC-32 lmi computed when it wrote it; it catches a truncated or corrupted artifact, which
//! is rebuilt, never executed.
//!
//! An artifact is native code, so what keeps someone else's code out is not the CRC (the
//! names are predictable and anyone who can write the file can write the sidecar) but the
//! trust rule of [`crate::fsutil`]: the directory and every directory above it must be the
//! user's (or root's) and closed to others, and the artifact and its sidecar regular files
//! of the user's, opened without following links. wasmtime deserializes the very descriptor
//! that was checked (through `/proc/self/fd`, its pages mapped from that file; or, where that
//! cannot be made executable, a copy of the checked mapping); the path is never opened again. An untrusted directory is refused outright (recompiling into
//! it would only hand the attacker the next run); an untrusted file in a trusted directory
//! is rebuilt over.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub fn component_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub struct ArtifactCache {
    dir: PathBuf,
    engine_hash: String,
}

/// Why a cached artifact could not be used.
#[derive(Debug)]
pub enum Miss {
    /// None yet: compile.
    Absent,
    /// Damaged, stale or not lmi's own file: recompile over it.
    Damaged(String),
    /// The directory itself (or one above it) fails the trust rule: refuse, and compile
    /// nothing into it.
    Untrusted(String),
}

impl ArtifactCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
        }
    }

    pub fn path_for(&self, component_sha: &str) -> PathBuf {
        self.dir
            .join(format!("{component_sha}-{}.cwasm", self.engine_hash))
    }

    /// Where the checksum of an artifact lives.
    pub fn checksum_path(artifact: &Path) -> PathBuf {
        let mut name = artifact.as_os_str().to_owned();
        name.push(".crc32");
        PathBuf::from(name)
    }

    fn checksum(artifact: &[u8]) -> String {
        format!("{:08x}", crc32fast::hash(artifact))
    }

    /// Writes an artifact, then its checksum, each atomically. A crash between the two leaves
    /// an artifact without a checksum, which reads as damaged and is rebuilt.
    pub fn store(&self, component_sha: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path_for(component_sha);
        crate::fsutil::write_atomic(&path, artifact)?;
        crate::fsutil::write_atomic(
            &Self::checksum_path(&path),
            Self::checksum(artifact).as_bytes(),
        )?;
        Ok(path)
    }

    /// Loads the artifact for a component: trust checks, then its checksum, then wasmtime's
    /// own compatibility checks, all on the one descriptor opened. The directory chain is
    /// checked once; the artifact and its checksum are opened relative to the checked
    /// directory.
    pub fn load(&self, engine: &Engine, component_sha: &str) -> Result<Component, Miss> {
        use crate::fsutil::TrustedDir;
        use std::io::ErrorKind;

        let dir = match TrustedDir::open(&self.dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Untrusted(e.to_string())),
        };
        let path = self.path_for(component_sha);
        let damaged = |why: String| Miss::Damaged(format!("{}: {why}", path.display()));
        let name = path.file_name().unwrap_or_default();
        let file = match dir.open_file(name) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                return Err(Miss::Damaged(e.to_string()));
            }
            Err(e) => return Err(damaged(format!("cannot read it: {e}"))),
        };
        let checksum_path = Self::checksum_path(&path);
        let expected = dir
            .read_file(checksum_path.file_name().unwrap_or_default(), 64)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => damaged("its checksum file is missing".into()),
                _ => Miss::Damaged(e.to_string()),
            })?;
        // SAFETY: a read-only private mapping of a regular file that passed the trust rule
        // (ours, writable by nobody else, in a directory chain nobody else can write); lmi
        // replaces artifacts only by rename, never in place, so the file does not change
        // under us.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| damaged(format!("cannot map it: {e}")))?;
        if Self::checksum(&map[..]).as_bytes() != expected.trim_ascii() {
            return Err(damaged("it does not match its checksum".into()));
        }
        deserialize_checked(engine, &file, &map).map_err(|e| damaged(format!("{e:#}")))
    }
}

/// Deserializes the artifact whose descriptor `file` and mapping `map` passed the checks.
///
/// On Linux wasmtime maps the checked file itself, through `/proc/self/fd/N`: that names the
/// open descriptor (the same inode, even if the path was renamed over since), never the
/// path, and it spares a copy of the whole artifact into fresh memory on every dispatch.
/// Elsewhere, or without `/proc`, the checked bytes are copied.
///
/// SAFETY (of the `deserialize` calls): these bytes were produced by `Component::serialize`
/// in this host (the trust rule says only the user could have written them, and lmi writes
/// them only from its own compiles) and match the checksum written beside them; wasmtime
/// itself rejects artifacts from another version or configuration.
#[allow(unsafe_code)]
fn deserialize_checked(
    engine: &Engine,
    file: &std::fs::File,
    map: &memmap2::Mmap,
) -> wasmtime::Result<Component> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let by_descriptor = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        // Only when `/proc` shows this very descriptor: otherwise wasmtime's error would be
        // taken for a damaged artifact.
        if let (Ok(seen), Ok(ours)) = (std::fs::metadata(&by_descriptor), file.metadata()) {
            use std::os::unix::fs::MetadataExt;
            if (seen.dev(), seen.ino()) == (ours.dev(), ours.ino()) {
                // Mapping the file itself saves a copy; a cache on a `noexec` mount cannot
                // be made executable in place, so the checked bytes are copied instead.
                if let Ok(component) =
                    unsafe { Component::deserialize_file(engine, &by_descriptor) }
                {
                    return Ok(component);
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    unsafe { Component::deserialize(engine, &map[..]) }
}
