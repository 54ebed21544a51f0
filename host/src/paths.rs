//! Where lmi keeps its files: XDG base directories on Unix (honouring `XDG_*_HOME`), the
//! platform conventions elsewhere. Everything else asks this module; nothing builds paths
//! from `HOME` itself.

use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;

#[derive(Debug, Clone)]
pub struct Paths {
    config: PathBuf,
    cache: PathBuf,
    data: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find the home directory to place lmi's files; set HOME or XDG_CONFIG_HOME, XDG_CACHE_HOME and XDG_DATA_HOME"
)]
pub struct NoHomeError;

impl crate::exit::ExitStatus for NoHomeError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Usage
    }
}

impl Paths {
    pub fn from_env() -> Result<Self, NoHomeError> {
        let base = etcetera::choose_base_strategy().map_err(|_| NoHomeError)?;
        Ok(Self {
            config: base.config_dir().join("lmi"),
            cache: base.cache_dir().join("lmi"),
            data: base.data_dir().join("lmi"),
        })
    }

    /// Explicit directories (for embedding lmi, and tests).
    pub fn from_dirs(config: PathBuf, cache: PathBuf, data: PathBuf) -> Self {
        Self {
            config,
            cache,
            data,
        }
    }

    /// For tests: everything below one root.
    pub fn under(root: &Path) -> Self {
        Self {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
        }
    }

    /// `~/.config/lmi`
    pub fn config_dir(&self) -> &Path {
        &self.config
    }
    /// `~/.config/lmi/.env`
    pub fn global_env_file(&self) -> PathBuf {
        self.config.join(".env")
    }
    /// `~/.config/lmi/env/`
    pub fn env_dir(&self) -> PathBuf {
        self.config.join("env")
    }
    /// `~/.config/lmi/env/<name>.env`
    pub fn env_file(&self, env: &str) -> PathBuf {
        self.env_dir().join(format!("{env}.env"))
    }
    /// `~/.cache/lmi/tokens/`
    pub fn token_dir(&self) -> PathBuf {
        self.cache.join("tokens")
    }
    /// `~/.cache/lmi/compiled/`
    pub fn compiled_dir(&self) -> PathBuf {
        self.cache.join("compiled")
    }
    /// `~/.cache/lmi/` (locks and other short-lived state)
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }
    /// `~/.local/share/lmi/plugins/`
    pub fn plugins_dir(&self) -> PathBuf {
        self.data.join("plugins")
    }
    /// `~/.local/share/lmi/plugin-data/`: one directory per plugin granted `data`
    /// (`plugins::data`).
    pub fn plugin_data_dir(&self) -> PathBuf {
        self.data.join("plugin-data")
    }
    /// `~/.local/share/lmi/`
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
    /// `~/.local/share/lmi/lmi.log`
    pub fn log_file(&self) -> PathBuf {
        self.data.join("lmi.log")
    }
    /// `~/.local/share/lmi/audit.jsonl`: the audit trail of credential use (`audit`), with
    /// its rotated files `audit.jsonl.1` … beside it.
    pub fn audit_file(&self) -> PathBuf {
        self.data.join("audit.jsonl")
    }
}
