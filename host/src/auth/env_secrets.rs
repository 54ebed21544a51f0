//! An environment's secrets, `OAUTH_CLIENT_SECRET` and `OAUTH_PASSWORD`: where each may live,
//! and its value, looked up only when a token must be fetched.
//!
//! Lookup order, first found wins:
//! 1. the process environment (for the active environment only, as every key);
//! 2. the env's file, `env/<name>.env`;
//! 3. the OS keychain: service `lmi`, account `<env>:<KEY>@<config dir>` ([`account`]), so
//!    two configuration directories that both have an env `dev` never share a secret;
//! 4. the global file, `.env` (a value for every environment that has none of its own: after
//!    the keychain, whose item belongs to one environment).
//!
//! An empty value in the first two (`OAUTH_CLIENT_SECRET=`) says the environment has none:
//! the keychain is not asked (a password-grant client without a secret, on a machine
//! without a keychain). An unreachable keychain is an error whenever it would have been
//! asked, never a silent step on to the global file: its item may hold a different secret.
//!
//! A value read from the keychain is registered with the log scrubber at once ([`Secret`]),
//! like one read from a file; it is never part of a `Debug` or a message.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::AuthError;
use crate::keychain::{self, Item, KeychainError};
use crate::secrets::Secret;
use crate::settings::{ConfigError, EnvConfig, Settings, Source, keys};

/// The keys whose values may live in the keychain (`settings::SECRET_KEYS` but
/// `LMI_ACCESS_TOKEN`, which is handed in through the process environment only).
pub const KEYS: [&str; 2] = [keys::CLIENT_SECRET, keys::PASSWORD];

/// The keychain account of `env`'s `key` under the configuration directory `config_dir`:
/// `dev:OAUTH_CLIENT_SECRET@/home/alice/.config/lmi`. The directory is written as lmi names it
/// (`$XDG_CONFIG_HOME/lmi`), not resolved through links, but with `.` and repeated or
/// trailing separators dropped: `XDG_CONFIG_HOME=/home/alice//.config/` is the same directory,
/// so the same item.
pub fn account(config_dir: &Path, env: &str, key: &str) -> String {
    format!("{env}:{key}@{}", plain(config_dir).to_string_lossy())
}

/// `dir` without `.` components and repeated or trailing separators (lexically: `..` and
/// links stay as written).
fn plain(dir: &Path) -> PathBuf {
    dir.components().collect()
}

/// Whether a keychain can keep a secret now (an item written and deleted, under
/// `LMI_KEYCHAIN_TIMEOUT_SECS`: `keychain::probe_writable`); the error says what failed.
pub fn keychain_writable(settings: &Settings) -> Result<(), String> {
    let timeout = settings.keychain_timeout().map_err(|e| e.to_string())?;
    keychain::probe_writable(timeout)
}

/// Where a secret was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Process,
    EnvFile(PathBuf),
    /// The item, in words ([`SecretItem::location`]).
    Keychain(String),
    GlobalFile(PathBuf),
}

impl Origin {
    /// `process`, `env-file`, `keychain`, `global-file`: for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Process => "process",
            Origin::EnvFile(_) => "env-file",
            Origin::Keychain(_) => "keychain",
            Origin::GlobalFile(_) => "global-file",
        }
    }

    /// A file holding the value as written (what `lmi env secure` moves into the keychain).
    pub fn plaintext_file(&self) -> Option<&Path> {
        match self {
            Origin::EnvFile(p) | Origin::GlobalFile(p) => Some(p),
            Origin::Process | Origin::Keychain(_) => None,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Process => f.write_str("the process environment"),
            Origin::EnvFile(p) | Origin::GlobalFile(p) => write!(f, "{}", p.display()),
            Origin::Keychain(item) => write!(f, "the OS keychain: {item}"),
        }
    }
}

/// What the lookup found for one key.
#[derive(Debug)]
pub enum Found {
    Value(Secret, Origin),
    /// Set empty in this layer: the environment has none (the keychain was not asked).
    Blank(Source),
    /// In no layer.
    Missing,
}

/// The keychain item of one secret of one environment.
#[derive(Debug, Clone)]
pub struct SecretItem {
    env: String,
    key: String,
    item: Item,
    /// What a keychain window shows for it.
    label: String,
}

impl SecretItem {
    /// `env`'s `key` in this configuration directory, with the settings' keychain timeout.
    pub fn new(settings: &Settings, env: &str, key: &str) -> Result<Self, ConfigError> {
        Ok(Self::at(
            settings.paths().config_dir(),
            env,
            key,
            settings.keychain_timeout()?,
        ))
    }

    pub fn at(config_dir: &Path, env: &str, key: &str, timeout: Duration) -> Self {
        Self {
            env: env.to_owned(),
            key: key.to_owned(),
            item: Item::new(account(config_dir, env, key), timeout),
            label: format!(
                "lmi: {key} of environment `{env}` ({})",
                plain(config_dir).to_string_lossy()
            ),
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn account(&self) -> &str {
        self.item.account()
    }

    /// The item in words, for messages: "Secret Service (service `lmi`, account `…`)".
    pub fn location(&self) -> String {
        self.item.location()
    }

    /// The stored value, registered with the scrubber; `None` when there is no item (or an
    /// empty one).
    pub fn read(&self) -> Result<Option<Secret>, KeychainError> {
        let what = format!("read {} of environment `{}` from", self.key, self.env);
        let value = self.item.call(&what, |e| e.get_password())?;
        Ok(value.filter(|v| !v.is_empty()).map(Secret::new))
    }

    /// Stores `value`, replacing the item's. On the Secret Service the item is labelled for a
    /// keychain window ("lmi: OAUTH_CLIENT_SECRET of environment `dev` (/home/…/lmi)").
    pub fn store(&self, value: &Secret) -> Result<(), KeychainError> {
        let what = format!("store {} of environment `{}` in", self.key, self.env);
        let (secret, label) = (value.expose().to_owned(), self.label.clone());
        let stored = self.item.call(&what, move |e| {
            e.set_password(&secret)?;
            if cfg!(any(target_os = "linux", target_os = "freebsd")) {
                // Best effort: the item is stored and found by its attributes either way.
                let _ = e.update_attributes(&std::collections::HashMap::from([(
                    "label",
                    label.as_str(),
                )]));
            }
            Ok(())
        })?;
        stored.ok_or_else(|| {
            KeychainError::Failed(format!(
                "the {} lost the item {} while it was written",
                keychain::name(),
                self.location()
            ))
        })
    }

    /// Deletes the item; `true` if there was one.
    pub fn delete(&self) -> Result<bool, KeychainError> {
        let what = format!("delete {} of environment `{}` from", self.key, self.env);
        Ok(self.item.call(&what, |e| e.delete_credential())?.is_some())
    }
}

/// `item`'s key in `cfg`, by the lookup order (see the module docs). The keychain is asked
/// only when neither the process environment nor the env file holds the key.
pub fn lookup(cfg: &EnvConfig, item: &SecretItem) -> Result<Found, KeychainError> {
    let [process, env_file, global] = cfg.each_layer(item.key());
    for (source, value) in [process, env_file] {
        match value {
            Some("") => return Ok(Found::Blank(source)),
            Some(v) => return Ok(Found::Value(Secret::new(v.to_owned()), origin(source))),
            None => {}
        }
    }
    if let Some(v) = item.read()? {
        return Ok(Found::Value(v, Origin::Keychain(item.location())));
    }
    Ok(match global {
        (source, Some(v)) if !v.is_empty() => {
            Found::Value(Secret::new(v.to_owned()), origin(source))
        }
        _ => Found::Missing,
    })
}

impl From<Source> for Origin {
    fn from(source: Source) -> Self {
        origin(source)
    }
}

fn origin(source: Source) -> Origin {
    match source {
        Source::Process => Origin::Process,
        Source::EnvFile(p) => Origin::EnvFile(p),
        Source::GlobalFile(p) => Origin::GlobalFile(p),
    }
}

/// A grant's secrets as they were resolved.
#[derive(Default)]
pub struct Resolved {
    pub client_secret: Option<Secret>,
    pub password: Option<Secret>,
}

/// The secrets of one environment's grant, looked up on first need and kept for the run
/// (clones share them: a named service's grant is the env's with another scope).
#[derive(Clone)]
pub struct GrantSecrets {
    config: EnvConfig,
    config_dir: PathBuf,
    timeout: Result<Duration, ConfigError>,
    resolved: Arc<OnceLock<Resolved>>,
}

impl std::fmt::Debug for GrantSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantSecrets")
            .field("env", &self.config.name())
            .field("resolved", &self.resolved.get().is_some())
            .finish()
    }
}

impl GrantSecrets {
    /// Reads nothing yet: the lookup waits for [`GrantSecrets::resolve`].
    pub fn new(settings: &Settings, config: &EnvConfig) -> Self {
        Self {
            config: config.clone(),
            config_dir: settings.paths().config_dir().to_owned(),
            timeout: settings.keychain_timeout(),
            resolved: Arc::default(),
        }
    }

    /// The client secret and the password, each looked up if the grant sends it (`needs`:
    /// the key and whether it is required). A required one found nowhere is a configuration
    /// error naming the places and the commands that fill the keychain (exit 2); a keychain
    /// that cannot be asked fails closed (exit 1, as for the SSO session).
    pub fn resolve(&self, needs: &[(&str, bool)]) -> Result<&Resolved, AuthError> {
        if let Some(done) = self.resolved.get() {
            return Ok(done);
        }
        let timeout = self.timeout.clone()?;
        let env = self.config.name();
        let mut resolved = Resolved::default();
        for &(key, required) in needs {
            let item = SecretItem::at(&self.config_dir, env, key, timeout);
            let found =
                lookup(&self.config, &item).map_err(|e| self.keychain_error(e, &item, required))?;
            let value = match found {
                Found::Value(v, origin) => {
                    tracing::debug!("environment `{env}`: {key} from {}", origin.kind());
                    Some(v)
                }
                Found::Blank(source) if required => {
                    return Err(self.missing(key, format!("set empty in {source}")).into());
                }
                Found::Missing if required => {
                    let looked = format!(
                        "not in {}, the {} or {}",
                        self.config.file_path().display(),
                        item.location(),
                        self.config_dir.join(".env").display()
                    );
                    return Err(self.missing(key, looked).into());
                }
                Found::Blank(_) | Found::Missing => None,
            };
            match key {
                keys::PASSWORD => resolved.password = value,
                _ => resolved.client_secret = value,
            }
        }
        Ok(self.resolved.get_or_init(|| resolved))
    }

    fn missing(&self, key: &str, looked: String) -> ConfigError {
        ConfigError::MissingSecret {
            key: key.to_owned(),
            env: self.config.name().to_owned(),
            file: self.config.file_path().to_owned(),
            looked,
        }
    }

    /// A keychain that could not be asked for `key`, with the ways out that do not need it.
    fn keychain_error(&self, e: KeychainError, item: &SecretItem, required: bool) -> AuthError {
        let (key, file) = (item.key(), self.config.file_path().display());
        match e {
            KeychainError::Unavailable(what) => {
                let none = if required {
                    String::new()
                } else {
                    format!(" (`{key}=` there if the client has none)")
                };
                AuthError::Keychain(KeychainError::Unavailable(format!(
                    "{what}; or set {key} in {file}{none} or in the process environment"
                )))
            }
            KeychainError::Failed(why) => AuthError::Keychain(KeychainError::Failed(format!(
                "{key} of environment `{}`, in the {}: {why}",
                self.config.name(),
                item.location()
            ))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    /// Settings for env `dev` whose file holds `env_file`, the global file `global`.
    fn config(env_file: &str, global: &str) -> (tempfile::TempDir, Settings, EnvConfig) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.env_dir()).unwrap();
        std::fs::write(paths.global_env_file(), global).unwrap();
        std::fs::write(paths.env_file("dev"), env_file).unwrap();
        let settings = Settings::load(paths, Some("dev")).unwrap();
        let cfg = settings.env_config("dev").unwrap();
        (dir, settings, cfg)
    }

    #[test]
    fn the_account_names_environment_key_and_config_dir() {
        assert_eq!(
            account(
                Path::new("/home/alice/.config/lmi"),
                "dev",
                keys::CLIENT_SECRET
            ),
            "dev:OAUTH_CLIENT_SECRET@/home/alice/.config/lmi"
        );
        // The same directory written another way is the same item.
        assert_eq!(
            account(
                Path::new("/home/alice//./.config/lmi/"),
                "dev",
                keys::CLIENT_SECRET
            ),
            "dev:OAUTH_CLIENT_SECRET@/home/alice/.config/lmi"
        );
        let item = SecretItem::at(
            Path::new("/x/lmi"),
            "prod",
            keys::PASSWORD,
            Duration::from_secs(1),
        );
        assert_eq!(
            item.location(),
            format!(
                "{} (service `lmi`, account `prod:OAUTH_PASSWORD@/x/lmi`)",
                keychain::name()
            )
        );
    }

    #[test]
    fn the_env_file_comes_before_the_keychain_and_an_empty_value_means_none() {
        let (_d, settings, cfg) = config(
            "OAUTH_CLIENT_SECRET=file-secret-31\nOAUTH_PASSWORD=\n",
            "OAUTH_PASSWORD=global-pw-77\n",
        );
        let item = |key| SecretItem::new(&settings, "dev", key).unwrap();
        // Found in the file: the keychain is not asked (none may be running here).
        match lookup(&cfg, &item(keys::CLIENT_SECRET)).unwrap() {
            Found::Value(v, Origin::EnvFile(p)) => {
                assert_eq!(v.expose(), "file-secret-31");
                assert_eq!(p, settings.paths().env_file("dev"));
            }
            other => panic!("{other:?}"),
        }
        // Empty in the file: none, and the global file's value does not apply either.
        assert!(matches!(
            lookup(&cfg, &item(keys::PASSWORD)).unwrap(),
            Found::Blank(Source::EnvFile(_))
        ));
        let secrets = GrantSecrets::new(&settings, &cfg);
        let resolved = secrets
            .resolve(&[(keys::CLIENT_SECRET, true), (keys::PASSWORD, false)])
            .unwrap();
        assert_eq!(
            resolved.client_secret.as_ref().map(Secret::expose),
            Some("file-secret-31")
        );
        assert!(resolved.password.is_none());
        // Nothing of a secret in Debug.
        assert!(!format!("{secrets:?}").contains("file-secret"));
    }

    #[test]
    fn a_required_secret_set_empty_is_missing_and_says_so() {
        let (_d, settings, cfg) = config("OAUTH_CLIENT_SECRET=\n", "");
        let e = GrantSecrets::new(&settings, &cfg)
            .resolve(&[(keys::CLIENT_SECRET, true)])
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(
            text.starts_with("OAUTH_CLIENT_SECRET is not set for environment `dev` (set empty in"),
            "{text}"
        );
        assert!(text.contains("`lmi env secure dev`"), "{text}");
        assert_eq!(crate::exit::ExitStatus::exit(&e), crate::exit::Exit::Usage);
    }
}
