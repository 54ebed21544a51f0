//! Compiled artifacts under `$XDG_CACHE_HOME/lmi/compiled/`.
//!
//! File name: `<component sha256>-<engine compatibility hash>.cwasm`, so a wasmtime upgrade
//! or a changed component simply misses. File contents: a magic line, the sha256 of the
//! payload, then wasmtime's serialized component. The checksum is verified before the
//! payload is deserialized, so a truncated or tampered artifact is rebuilt, never executed.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"LMICWSM1";
const HEADER: usize = MAGIC.len() + 32;

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

    /// Writes an artifact atomically.
    pub fn store(&self, component_sha: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path_for(component_sha);
        let mut bytes = Vec::with_capacity(HEADER + artifact.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&Sha256::digest(artifact));
        bytes.extend_from_slice(artifact);
        crate::fsutil::write_atomic(&path, &bytes)?;
        Ok(path)
    }

    /// Loads the artifact for a component, verifying its checksum first.
    pub fn load(&self, engine: &Engine, component_sha: &str) -> Result<Component, Miss> {
        let path = self.path_for(component_sha);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Damaged(format!("cannot read {}: {e}", path.display()))),
        };
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Miss::Damaged(format!("{} has no valid header", path.display())));
        }
        let (sum, payload) = bytes[MAGIC.len()..].split_at(32);
        if Sha256::digest(payload).as_slice() != sum {
            return Err(Miss::Damaged(format!(
                "{} does not match its checksum",
                path.display()
            )));
        }
        // SAFETY: the payload was produced by `Component::serialize` in this host (it carries
        // the checksum lmi wrote beside it in lmi's private cache directory), and wasmtime
        // itself rejects artifacts from another version or configuration.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, payload) };
        component.map_err(|e| Miss::Damaged(format!("{}: {e}", path.display())))
    }
}
