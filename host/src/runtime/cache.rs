//! Compiled artifacts under `$XDG_CACHE_HOME/lmi/compiled/`.
//!
//! File name: `<component sha256>-<engine compatibility hash>.cwasm`, so a wasmtime upgrade
//! or a changed component simply misses. Beside each artifact, `<name>.crc32` holds the
//! CRC-32 lmi computed when it wrote it; it is checked before the artifact is mapped, so a
//! truncated or corrupted artifact is rebuilt, never executed. A CRC is enough: it catches
//! accidental damage, and no unkeyed hash could stop someone who can write lmi's 0700 cache
//! (they could rewrite the sidecar too); it checks the artifact in a tenth of sha256's time
//! on dispatch's hot path. The artifact itself stays in wasmtime's own format so dispatch
//! maps it in place instead of copying it.

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

/// Why a cached artifact could not be used; each is answered by recompiling.
#[derive(Debug)]
pub enum Miss {
    Absent,
    Damaged(String),
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

    /// Loads the artifact for a component, verifying its checksum first.
    pub fn load(&self, engine: &Engine, component_sha: &str) -> Result<Component, Miss> {
        let path = self.path_for(component_sha);
        let damaged = |why: String| Miss::Damaged(format!("{}: {why}", path.display()));
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(damaged(format!("cannot read it: {e}"))),
        };
        let expected = std::fs::read_to_string(Self::checksum_path(&path))
            .map_err(|_| damaged("its checksum file is missing".into()))?;
        // SAFETY: a read-only private mapping of a file in lmi's 0700 cache directory, used
        // only for hashing while `file` is open.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| damaged(format!("cannot map it: {e}")))?;
        if Self::checksum(&map[..]) != expected.trim() {
            return Err(damaged("it does not match its checksum".into()));
        }
        drop(map);
        // SAFETY: the file was produced by `Component::serialize` in this host and matches
        // the checksum lmi wrote beside it in lmi's private cache directory; wasmtime itself
        // rejects artifacts from another version or configuration. It is mapped in place.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize_file(engine, &path) };
        component.map_err(|e| damaged(format!("{e:#}")))
    }
}
