//! Configuration, merged in this one module: command-line flags > process environment > the
//! env's `.env` file > the global `.env` file > built-in defaults. It is also the only module
//! that reads process environment variables (see `clippy.toml`), and it never changes them:
//! `.env` files are parsed into maps.

mod dotenv;
pub mod edit;
pub mod keys;
pub mod policy;
mod sections;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::exit::{Exit, ExitStatus};
use crate::paths::Paths;

pub use dotenv::EnvFile;
pub use edit::{Change, EditError, EnvFileEdit};
pub use keys::{DEFAULT_ENVIRONMENT, SECRET_KEYS};
pub use policy::{Confirm, GroupRule, Policy};
pub use sections::{
    AuditTarget, HttpOptions, LogFile, LogOptions, LoginMethod, RuntimeOptions, Seat,
    SessionStorage, SsoOptions,
};
pub use values::{check_value, parse_switch};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no environment selected: pass `--env NAME` or set `{DEFAULT_ENVIRONMENT}=NAME` in {0}"
    )]
    NoEnvironment(PathBuf),
    #[error(
        "environment `{name}` is not configured: {key} is not set; create {file} or set it in the environment{others}"
    )]
    UnknownEnvironment {
        name: String,
        file: PathBuf,
        key: String,
        /// The environments that do exist, and the close one: "` (environments here: dev,
        /// prod; did you mean `dev`?)`", or nothing.
        others: String,
    },
    #[error("invalid environment name `{0}`: use letters, digits, `-` and `_`")]
    InvalidEnvironmentName(String),
    #[error("{key} is not set: add it to {file} or set it in the environment")]
    MissingKey { key: String, file: PathBuf },
    /// A secret (`OAUTH_CLIENT_SECRET`, `OAUTH_PASSWORD`) found nowhere in its lookup order
    /// (`auth::env_secrets`); `looked` lists the places, the keychain item included.
    #[error(
        "{key} is not set for environment `{env}` ({looked}): store it in the OS keychain with `lmi config set {key} -e {env}` (asks with hidden input; --stdin reads a pipe), add it to {file} and run `lmi env secure {env}`, or set it in the process environment"
    )]
    MissingSecret {
        key: String,
        env: String,
        file: PathBuf,
        looked: String,
    },
    #[error("{key} has an invalid value in {source_name}: {reason}")]
    InvalidValue {
        key: String,
        source_name: String,
        reason: String,
    },
    #[error("cannot read {file}: {reason}")]
    Unreadable { file: PathBuf, reason: String },
}

impl ExitStatus for ConfigError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// Everything lmi knows about its configuration for one invocation.
#[derive(Clone)]
pub struct Settings {
    paths: Paths,
    global: EnvFile,
    process: BTreeMap<String, String>,
    env: Option<String>,
    /// Whether `env` was chosen for this run (`--env`, `LMI_ENV`) rather than defaulted.
    env_chosen: bool,
    /// A `default_environment` that is no valid name (reported by `require_env` only).
    bad_default: Option<String>,
    /// Whether `env` came from `--env` on the command line.
    env_from_flag: bool,
    /// The active environment's configuration once a command has read it for the whole run
    /// ([`Settings::env_config_for_run`]); shared by the clones a run hands on.
    run_env: Arc<OnceLock<EnvConfig>>,
}

// Values may be secrets (OAUTH_CLIENT_SECRET, LMI_ACCESS_TOKEN): Debug shows keys only.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("paths", &self.paths)
            .field("env", &self.env)
            .field("global", &self.global)
            .field("process_keys", &self.process.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Process environment variables lmi reads: its own `LMI_*` keys and the `OAUTH_*` keys that
/// override `.env` files. Nothing else is copied out of the process environment.
fn relevant(key: &str) -> bool {
    key.starts_with("LMI_")
        || key.starts_with("OAUTH_")
        // The browser to open, and the colour conventions plugins are told about (like
        // every global key, these may also be set in the global `.env`).
        || [keys::BROWSER, keys::NO_COLOR, keys::CLICOLOR_FORCE, keys::TERM].contains(&key)
        // Whether the user sits at this machine (`Settings::seat`).
        || keys::SEAT_VARIABLES.contains(&key)
}

impl Settings {
    /// Loads the global `.env` and resolves the active environment (`--env` first, then
    /// `LMI_ENV`, then `default_environment`). A missing global file is not an error.
    pub fn load(paths: Paths, env_flag: Option<&str>) -> Result<Self, ConfigError> {
        #[allow(clippy::disallowed_methods)] // the one place that reads the environment
        let process: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| relevant(k))
            .collect();
        let global = EnvFile::load_optional(&paths.global_env_file())?;
        let env_from_flag = env_flag.is_some_and(|e| !e.is_empty());
        let chosen = env_flag
            .map(str::to_owned)
            .or_else(|| process.get(keys::ENV).cloned())
            .filter(|e| !e.is_empty());
        let env_chosen = chosen.is_some();
        if let Some(name) = &chosen {
            validate_env_name(name)?;
        }
        // An unusable `default_environment` is an error only for a command that needs an
        // environment (`require_env`): `lmi config set default_environment …` must still
        // run to mend it.
        let mut bad_default = None;
        let env = chosen.or_else(|| {
            let name = global.get(DEFAULT_ENVIRONMENT).filter(|e| !e.is_empty())?;
            match validate_env_name(name) {
                Ok(()) => Some(name.to_owned()),
                Err(_) => {
                    bad_default = Some(name.to_owned());
                    None
                }
            }
        });
        Ok(Self {
            paths,
            global,
            process,
            env,
            env_chosen,
            env_from_flag,
            bad_default,
            run_env: Arc::default(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// These settings acting in `env`, for a credential helper that found the environment by
    /// a host rather than by `--env`. `named`: the user named it (`-e`), so the process
    /// environment configures it as it configures any active environment; otherwise the
    /// process environment's per-environment keys (`OAUTH_SERVICE_URL`, `LMI_ACCESS_TOKEN`,
    /// the secrets…) are dropped, since they belong to whatever environment the shell meant,
    /// not necessarily this one. Global keys and the policy keys (which the process
    /// environment may only tighten) stay.
    pub fn acting_in(&self, env: &str, named: bool) -> Result<Self, ConfigError> {
        validate_env_name(env)?;
        let mut acting = self.clone();
        acting.env = Some(env.to_owned());
        acting.env_chosen = true;
        acting.env_from_flag = named;
        acting.bad_default = None;
        acting.run_env = Arc::default();
        // The process's per-environment keys (`LMI_ACCESS_TOKEN`, `OAUTH_*`) belong to the
        // environment the shell is in: with `-e` naming another one, or no `-e`, they stay out.
        let shells_env = self.process.get(keys::ENV).map(String::as_str);
        if !named || shells_env.is_some_and(|e| e != env) {
            acting.process.retain(|key, _| {
                !(key.starts_with("OAUTH_") || key.starts_with("LMI_"))
                    || keys::is_global_only(key)
                    || keys::POLICY_KEYS.contains(&key.as_str())
            });
        }
        Ok(acting)
    }

    /// The active environment, if one was chosen.
    pub fn active_env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// The environment this run was told to use (`--env`, `LMI_ENV`), as opposed to the
    /// `default_environment` it falls back on.
    pub fn chosen_env(&self) -> Option<&str> {
        self.env.as_deref().filter(|_| self.env_chosen)
    }

    /// The environment named by `--env` on this command line: not `LMI_ENV`, not
    /// `default_environment` (`lmi config` edits that environment's file, and only then).
    pub fn env_flag(&self) -> Option<&str> {
        self.env.as_deref().filter(|_| self.env_from_flag)
    }

    /// The active environment, or the usage error that explains how to choose one.
    pub fn require_env(&self) -> Result<&str, ConfigError> {
        if let (None, Some(name)) = (&self.env, &self.bad_default) {
            return Err(ConfigError::InvalidValue {
                key: DEFAULT_ENVIRONMENT.to_owned(),
                source_name: self.paths.global_env_file().display().to_string(),
                reason: format!(
                    "`{}` is not an environment name (letters, digits, `-` and `_`): fix it with `lmi config set {DEFAULT_ENVIRONMENT} NAME`",
                    crate::text::line(name, 80)
                ),
            });
        }
        self.active_env()
            .ok_or_else(|| ConfigError::NoEnvironment(self.paths.global_env_file()))
    }

    /// A key's value in the process environment alone.
    pub fn process_value(&self, key: &str) -> Option<&str> {
        self.process.get(key).map(String::as_str)
    }

    /// A global key: process environment, then the global `.env`.
    pub fn global(&self, key: &str) -> Option<&str> {
        self.process
            .get(key)
            .map(String::as_str)
            .or_else(|| self.global.get(key))
            .filter(|v| !v.is_empty())
    }

    /// A global key parsed as a number, with a default; a bad value is a usage error naming
    /// where it came from.
    pub fn global_u64(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.global(key) else {
            return Ok(default);
        };
        // Every such key is a limit or a timeout, where 0 would mean "none at all" (a plugin
        // that may run forever) or "nothing works": refused rather than guessed at.
        count(key, &self.source_of(key), raw)
    }

    /// Where a global key's value came from, for error messages.
    pub fn source_of(&self, key: &str) -> String {
        if self.process.contains_key(key) {
            "the process environment".to_owned()
        } else {
            self.paths.global_env_file().display().to_string()
        }
    }

    /// The names of the process environment's variables lmi reads (`OAUTH_*`, `LMI_*`, …).
    pub fn process_keys(&self) -> impl Iterator<Item = &str> {
        self.process.keys().map(String::as_str)
    }

    /// Process-environment value of a key (for layered per-env lookups).
    pub fn process_var(&self, key: &str) -> Option<&str> {
        self.process.get(key).map(String::as_str)
    }

    pub fn global_file(&self) -> &EnvFile {
        &self.global
    }

    /// `default_environment` from the global `.env` (not `--env`, not `LMI_ENV`).
    pub fn default_env(&self) -> Option<&str> {
        self.global
            .get(DEFAULT_ENVIRONMENT)
            .filter(|v| !v.is_empty())
    }

    /// The environments found in the configuration directory: every `env/<name>.env` whose
    /// name is valid, sorted. Files with other names are reported in `ignored`.
    pub fn environments(&self) -> Environments {
        Environments::in_dir(&self.paths.env_dir())
    }

    /// The configuration of one environment, layered: process environment (for the active
    /// environment only) > the env's `.env` file > the global `.env` file. The env file may be absent when the process
    /// environment supplies what is needed (CI); a malformed one is an error naming it.
    /// Secret values are registered with the log scrubber as they are loaded.
    pub fn env_config(&self, env: &str) -> Result<EnvConfig, ConfigError> {
        if let Some(kept) = self.run_env.get().filter(|c| c.name == env) {
            return Ok(kept.clone());
        }
        self.read_env_config(env, EnvFile::load_optional)
    }

    /// [`Settings::env_config`], kept for the rest of the run: every later `env_config(env)`
    /// of these settings and their clones gets this copy, so a run reads the env file (and
    /// warns about it) once however many of its parts need it (the policy gate, the plugin's
    /// settings, its service session).
    pub fn env_config_for_run(&self, env: &str) -> Result<EnvConfig, ConfigError> {
        let config = self.env_config(env)?;
        if self.run_env.get().is_none() {
            let _ = self.run_env.set(config.clone());
        }
        Ok(config)
    }

    /// The configuration `env` would have with `file` as its env file (kept in memory, not
    /// yet written) and without the process environment: what `lmi env add` tries before it
    /// saves anything. Secret values are registered with the scrubber.
    pub fn env_config_with(&self, env: &str, file: EnvFile) -> Result<EnvConfig, ConfigError> {
        validate_env_name(env)?;
        let config = EnvConfig {
            name: env.to_owned(),
            file_path: self.paths.env_file(env),
            file_exists: true,
            file,
            global: self.global.clone(),
            global_path: self.paths.global_env_file(),
            process: BTreeMap::new(),
        };
        for key in SECRET_KEYS {
            if let Some(v) = config.get(key) {
                crate::secrets::register_secret(v);
            }
        }
        Ok(config)
    }

    /// [`Settings::env_config`] read in passing, without warnings about the file's keys.
    pub fn env_config_quietly(&self, env: &str) -> Result<EnvConfig, ConfigError> {
        self.read_env_config(env, EnvFile::load_optional_quietly)
    }

    fn read_env_config(
        &self,
        env: &str,
        load: fn(&Path) -> Result<EnvFile, ConfigError>,
    ) -> Result<EnvConfig, ConfigError> {
        validate_env_name(env)?;
        let file_path = self.paths.env_file(env);
        let file = load(&file_path)?;
        let config = EnvConfig {
            name: env.to_owned(),
            file_path,
            file_exists: file.path().is_some(),
            file,
            global: self.global.clone(),
            global_path: self.paths.global_env_file(),
            // The process environment configures the active environment only: `LMI_ENV=ci
            // OAUTH_CLIENT_SECRET=…` is ci's secret, never sent to another env's provider
            // by a command that looks at every environment (doctor, auth status).
            process: if self.env.as_deref() == Some(env) {
                self.process
                    .iter()
                    .filter(|(k, _)| k.starts_with("OAUTH_") || k.starts_with("LMI_"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            } else {
                BTreeMap::new()
            },
        };
        for key in SECRET_KEYS {
            if let Some(v) = config.get(key) {
                crate::secrets::register_secret(v);
            }
        }
        Ok(config)
    }
}

/// What `Settings::environments` found.
#[derive(Debug, Default, Clone)]
pub struct Environments {
    pub names: Vec<String>,
    /// `.env` files in the env directory whose names are not valid environment names.
    pub ignored: Vec<PathBuf>,
}

impl Environments {
    /// Every `<name>.env` in `dir` whose name is valid, sorted; the other `.env` files in
    /// `ignored`.
    pub fn in_dir(dir: &Path) -> Self {
        let mut found = Environments::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return found;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("env") {
                continue;
            }
            let is_file = std::fs::metadata(&path)
                .map(|m| m.is_file())
                .unwrap_or(false);
            match path.file_stem().and_then(|s| s.to_str()) {
                Some(name) if is_file && validate_env_name(name).is_ok() => {
                    found.names.push(name.to_owned());
                }
                _ => found.ignored.push(path),
            }
        }
        found.names.sort();
        found.ignored.sort();
        found
    }

    /// For a message about `name`, which has no file: the environments that exist and the
    /// one `name` is probably a misspelling of.
    pub fn others_than(&self, name: &str) -> String {
        if self.names.is_empty() {
            return String::new();
        }
        // Edit distance, not Jaro-Winkler: names are short (`dev`/`dve` is one
        // transposition, which Jaro barely counts in three letters).
        let name = name.to_lowercase();
        let close = self
            .names
            .iter()
            .map(|n| (n, strsim::damerau_levenshtein(&n.to_lowercase(), &name)))
            .filter(|(n, distance)| *distance <= (n.len() / 3).max(1))
            .min_by_key(|(_, distance)| *distance)
            .map(|(n, _)| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        format!(" (environments here: {}{close})", self.names.join(", "))
    }
}

/// A whole number of at least 1 (every such key is a limit or a timeout, where 0 would mean
/// "none at all" or "nothing works": refused rather than guessed at).
fn count(key: &str, source_name: &str, raw: &str) -> Result<u64, ConfigError> {
    match raw.trim().parse() {
        Ok(0) | Err(_) => Err(ConfigError::InvalidValue {
            key: key.to_owned(),
            source_name: source_name.to_owned(),
            reason: format!(
                "`{}` is not a whole number of at least 1",
                crate::text::line(raw, 80)
            ),
        }),
        Ok(n) => Ok(n),
    }
}

/// The most hosts `LMI_GIT_HOSTS` lists.
const MAX_GIT_HOSTS: usize = 64;

/// `LMI_GIT_HOSTS`: comma-separated `host[:port]` (`git.example.com`, `[::1]:8443`), each a
/// bare host with an optional port, lower-cased; no scheme, user, path or query (the scheme
/// is the caller's: `https`, or `http` to loopback). The error says which entry is wrong.
pub fn git_hosts(raw: &str) -> Result<Vec<(String, Option<u16>)>, String> {
    let mut hosts = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let shown = crate::text::line(entry, 80);
        let bad = |why: &str| format!("`{shown}` is not a host[:port] ({why})");
        if entry
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/@?#\\".contains(c))
        {
            return Err(bad(
                "give a host name and optional port, no scheme, user or path",
            ));
        }
        let url = url::Url::parse(&format!("https://{entry}/")).map_err(|e| bad(&e.to_string()))?;
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        hosts.push((host.to_ascii_lowercase(), url.port()));
    }
    if hosts.len() > MAX_GIT_HOSTS {
        return Err(format!("{} hosts; at most {MAX_GIT_HOSTS}", hosts.len()));
    }
    Ok(hosts)
}

/// The most ports `OAUTH_SSO_REDIRECT_PORTS` lists.
pub const MAX_REDIRECT_PORTS: usize = 16;

/// `OAUTH_SSO_REDIRECT_PORTS`: ports 1–65535 separated by commas or spaces, at most
/// [`MAX_REDIRECT_PORTS`], none twice. The reason names what is wrong.
pub fn redirect_ports(raw: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for item in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        match item.parse::<u16>() {
            Ok(port) if port > 0 && !ports.contains(&port) => ports.push(port),
            Ok(port) if port > 0 => return Err(format!("port {port} is listed twice")),
            _ => {
                return Err(format!(
                    "`{}` is not a port (1-65535)",
                    crate::text::line(item, 20)
                ));
            }
        }
    }
    if ports.is_empty() {
        return Err("list one or more ports, separated by commas".to_owned());
    }
    if ports.len() > MAX_REDIRECT_PORTS {
        return Err(format!("list at most {MAX_REDIRECT_PORTS} ports"));
    }
    Ok(ports)
}

/// Where a configuration value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Process,
    EnvFile(PathBuf),
    GlobalFile(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Process => f.write_str("the process environment"),
            Source::EnvFile(p) | Source::GlobalFile(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One environment's configuration with its layers kept apart, so each value can say where it
/// came from. Values may be secrets: `Debug` shows keys only.
#[derive(Clone)]
pub struct EnvConfig {
    name: String,
    file_path: PathBuf,
    file_exists: bool,
    file: EnvFile,
    global: EnvFile,
    global_path: PathBuf,
    process: BTreeMap<String, String>,
}

impl std::fmt::Debug for EnvConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvConfig")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("process_keys", &self.process.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EnvConfig {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `~/.config/lmi/env/<name>.env`, whether or not it exists.
    pub fn file_path(&self) -> &Path {
        &self.file_path
    }

    pub fn file_exists(&self) -> bool {
        self.file_exists
    }

    /// A value and where it came from; empty values count as unset.
    pub fn lookup(&self, key: &str) -> Option<(&str, Source)> {
        if let Some(v) = self.process.get(key).filter(|v| !v.is_empty()) {
            return Some((v, Source::Process));
        }
        if let Some(v) = self.file.get(key).filter(|v| !v.is_empty()) {
            return Some((v, Source::EnvFile(self.file_path.clone())));
        }
        if let Some(v) = self.global.get(key).filter(|v| !v.is_empty()) {
            return Some((v, Source::GlobalFile(self.global_path.clone())));
        }
        None
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.lookup(key).map(|(v, _)| v)
    }

    /// [`EnvConfig::lookup`] in the files alone (the env file, else the global file): where
    /// a policy key is set, which the process environment may only tighten.
    pub fn lookup_in_files(&self, key: &str) -> Option<(&str, Source)> {
        self.lookup(key)
            .filter(|(_, s)| *s != Source::Process)
            .or_else(|| {
                self.file
                    .get(key)
                    .filter(|v| !v.is_empty())
                    .map(|v| (v, Source::EnvFile(self.file_path.clone())))
                    .or_else(|| {
                        self.global
                            .get(key)
                            .filter(|v| !v.is_empty())
                            .map(|v| (v, Source::GlobalFile(self.global_path.clone())))
                    })
            })
    }

    /// `key` as written in each layer, highest first (an empty value is `Some("")`): for the
    /// secrets, whose lookup puts the OS keychain between the env file and the global file
    /// (`auth::env_secrets`).
    pub fn each_layer(&self, key: &str) -> [(Source, Option<&str>); 3] {
        [
            (Source::Process, self.process.get(key).map(String::as_str)),
            (Source::EnvFile(self.file_path.clone()), self.file.get(key)),
            (
                Source::GlobalFile(self.global_path.clone()),
                self.global.get(key),
            ),
        ]
    }

    /// Every key set to a non-empty value in any layer, once, sorted.
    pub fn keys(&self) -> std::collections::BTreeSet<&str> {
        self.process
            .keys()
            .map(String::as_str)
            .chain(self.file.keys())
            .chain(self.global.keys())
            .filter(|k| self.get(k).is_some())
            .collect()
    }

    /// A value that must be set. The error names the key and the env file it belongs in; an
    /// env with no file at all is reported as not configured.
    pub fn require(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// The error for a missing key.
    pub fn missing(&self, key: &str) -> ConfigError {
        if self.file_exists {
            ConfigError::MissingKey {
                key: key.to_owned(),
                file: self.file_path.clone(),
            }
        } else {
            let others = self
                .file_path
                .parent()
                .map(|dir| Environments::in_dir(dir).others_than(&self.name))
                .unwrap_or_default();
            ConfigError::UnknownEnvironment {
                name: self.name.clone(),
                file: self.file_path.clone(),
                key: key.to_owned(),
                others,
            }
        }
    }

    /// The error for a value that is set but unusable.
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        let source_name = self
            .lookup(key)
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| self.file_path.display().to_string());
        ConfigError::InvalidValue {
            key: key.to_owned(),
            source_name,
            reason: reason.into(),
        }
    }

    /// A required absolute `https://` URL (`http://` only to a loopback address): client
    /// secrets, passwords and bearer tokens are sent to it.
    pub fn require_url(&self, key: &str) -> Result<url::Url, ConfigError> {
        let raw = self.require(key)?;
        let source = self
            .lookup(key)
            .map(|(_, s)| s.to_string())
            .unwrap_or_else(|| self.file_path.display().to_string());
        check_url_from(key, &source, raw)
    }

    /// An optional whole number with a default.
    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| self.invalid(key, "not a whole number")),
        }
    }
}

pub fn validate_env_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidEnvironmentName(name.to_owned()))
    }
}

/// An absolute `https://` URL, or `http://` to a loopback address only.
pub fn check_url_from(key: &str, source: &str, raw: &str) -> Result<url::Url, ConfigError> {
    let err = |reason: String| ConfigError::InvalidValue {
        key: key.to_owned(),
        source_name: source.to_owned(),
        reason,
    };
    // Quoted without any user or password it holds, which the scrubber does not know.
    let raw = crate::text::without_userinfo(raw.trim());
    let url = url::Url::parse(&raw).map_err(|e| err(format!("`{raw}` is not a URL ({e})")))?;
    if url.host().is_none() || url.cannot_be_a_base() {
        return Err(err(format!("`{raw}` has no host")));
    }
    // The HTTP client would send a URL's user and password as Basic credentials, to a
    // service probe or beside lmi's own; credentials come from their own keys.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(format!(
            "`{raw}` holds a user name or password; lmi sends credentials from their own keys (OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET): remove them from the URL"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(err(format!(
            "`{raw}` is plain http:// to a non-loopback host; tokens would cross the network unencrypted: use https://"
        ))),
        other => Err(err(format!("`{raw}` uses `{other}://`; use https://"))),
    }
}

/// `127.0.0.0/8`, `::1` or `localhost`.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}
