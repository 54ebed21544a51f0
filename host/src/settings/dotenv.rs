//! `.env` files parsed into a map (dotenvy's iterator: never `set_var`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// One parsed `.env` file. Values are kept in memory only as long as the process runs.
#[derive(Default, Clone)]
pub struct EnvFile {
    path: Option<PathBuf>,
    vars: BTreeMap<String, String>,
}

// Values may be secrets: Debug shows the keys only.
impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("keys", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvFile {
    /// Parses `path`; a file that does not exist is an empty map.
    pub fn load_optional(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            _ => Self::load(path),
        }
    }

    /// Parses `path`, which must exist.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let unreadable = |reason: String| ConfigError::Unreadable {
            file: path.to_owned(),
            reason,
        };
        let iter = dotenvy::from_path_iter(path).map_err(|e| unreadable(e.to_string()))?;
        let mut vars = BTreeMap::new();
        for item in iter {
            let (k, v) = item.map_err(|e| unreadable(describe(&e)))?;
            vars.insert(k, v);
        }
        Ok(Self {
            path: Some(path.to_owned()),
            vars,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// dotenvy's parse errors quote the offending line, which may hold a secret; keep only where.
fn describe(e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("syntax error at character {index} (expected KEY=VALUE)")
        }
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "malformed file".to_owned(),
    }
}
