//! The typed sections of the global configuration, each resolved in one place from the keys
//! in [`super::keys`]. Modules below settings take these plain values, never `Settings`.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Settings, keys};

/// Limits of one plugin run and of compiling a component (in a child process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    pub plugin_memory_mb: u64,
    pub plugin_timeout: Duration,
    pub compile_memory_mb: u64,
    pub compile_timeout: Duration,
}

impl RuntimeOptions {
    pub const DEFAULT_PLUGIN_MEMORY_MB: u64 = 256;
    pub const DEFAULT_PLUGIN_TIMEOUT_SECS: u64 = 300;
    pub const DEFAULT_COMPILE_MEMORY_MB: u64 = 2048;
    pub const DEFAULT_COMPILE_TIMEOUT_SECS: u64 = 60;
}

/// How lmi talks HTTP: one total deadline per exchange and an extra trusted CA bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    pub timeout: Duration,
    pub ca_bundle: Option<PathBuf>,
}

impl HttpOptions {
    pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
}

/// Where the SSO session is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStorage {
    /// The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager).
    Keychain,
    /// A `0600` file in lmi's data directory (`LMI_SSO_STORAGE=file`).
    File,
}

/// The SSO options that are not the provider's: storage and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoOptions {
    pub storage: SessionStorage,
    pub keychain_timeout: Duration,
    pub login_timeout: Duration,
}

impl SsoOptions {
    pub const DEFAULT_KEYCHAIN_TIMEOUT_SECS: u64 = 5;
    pub const DEFAULT_LOGIN_TIMEOUT_SECS: u64 = 300;
}

/// `OAUTH_SSO_LOGIN_METHOD`: how `lmi login sso` signs in unless a flag says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginMethod {
    /// The device flow where no browser can be shown (over SSH, no display) and the provider
    /// offers it; the browser otherwise (`auth::sso::login::method`).
    #[default]
    Auto,
    Browser,
    Device,
}

impl LoginMethod {
    /// A value of the key, in any case; the reason names the choices.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "browser" => Ok(Self::Browser),
            "device" => Ok(Self::Device),
            _ => Err(format!(
                "`{}` is not a login method: use one of {}",
                crate::text::line(raw, 40),
                keys::SSO_LOGIN_METHODS.join(", ")
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Browser => "browser",
            Self::Device => "device",
        }
    }
}

/// How the user reaches this machine, from the process environment alone: facts of the
/// session that no file can state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seat {
    /// `SSH_CONNECTION` or `SSH_TTY` is set: the user is on another machine.
    pub ssh: bool,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set (X11 or Wayland; X forwarding over SSH too).
    pub display: bool,
}

/// Where the log goes besides stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    /// `LMI_LOG_FILE=off`.
    Off,
    /// lmi's own file in its private data directory.
    Default(PathBuf),
    /// A path the user chose.
    Chosen(PathBuf),
}

/// What `logging::init` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `-v` count: 0 warnings, 1 info, 2+ debug.
    pub verbose: u8,
    pub file: LogFile,
}

/// Where the audit trail of credential use goes (`LMI_AUDIT_LOG`, see `audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// `LMI_AUDIT_LOG=off`.
    Off,
    /// lmi's own file in its private data directory.
    Default(PathBuf),
    /// An absolute path the user chose.
    Chosen(PathBuf),
}

impl AuditTarget {
    /// The file, unless the trail is off.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            AuditTarget::Off => None,
            AuditTarget::Default(p) | AuditTarget::Chosen(p) => Some(p),
        }
    }
}

/// Upper bounds that keep arithmetic on user numbers sane (30 days; a terabyte).
const MAX_SECS: u64 = 30 * 24 * 3600;
const MAX_MB: u64 = 1 << 20;

impl Settings {
    pub fn runtime_options(&self) -> Result<RuntimeOptions, ConfigError> {
        let (plugin_memory_mb, plugin_timeout) = self.plugin_limits()?;
        let (compile_memory_mb, compile_timeout) = self.compile_limits()?;
        Ok(RuntimeOptions {
            plugin_memory_mb,
            plugin_timeout,
            compile_memory_mb,
            compile_timeout,
        })
    }

    /// `LMI_PLUGIN_MEMORY_MB` and `LMI_PLUGIN_TIMEOUT_SECS` alone (a run reads no compile key).
    pub fn plugin_limits(&self) -> Result<(u64, Duration), ConfigError> {
        let mb = self.global_u64(
            keys::PLUGIN_MEMORY_MB,
            RuntimeOptions::DEFAULT_PLUGIN_MEMORY_MB,
        )?;
        let timeout = self.secs(
            keys::PLUGIN_TIMEOUT_SECS,
            RuntimeOptions::DEFAULT_PLUGIN_TIMEOUT_SECS,
        )?;
        Ok((mb.min(MAX_MB), timeout))
    }

    /// `LMI_PLUGIN_MAX_TIMEOUT_SECS`: the cap on the run time a command declares, if set.
    pub fn plugin_max_timeout(&self) -> Result<Option<Duration>, ConfigError> {
        if self.global(keys::PLUGIN_MAX_TIMEOUT_SECS).is_none() {
            return Ok(None);
        }
        self.secs(keys::PLUGIN_MAX_TIMEOUT_SECS, 1).map(Some)
    }

    /// `LMI_COMPILE_MEMORY_MB` and `LMI_COMPILE_TIMEOUT_SECS` alone (an install reads no run key).
    pub fn compile_limits(&self) -> Result<(u64, Duration), ConfigError> {
        let mb = self.global_u64(
            keys::COMPILE_MEMORY_MB,
            RuntimeOptions::DEFAULT_COMPILE_MEMORY_MB,
        )?;
        let timeout = self.secs(
            keys::COMPILE_TIMEOUT_SECS,
            RuntimeOptions::DEFAULT_COMPILE_TIMEOUT_SECS,
        )?;
        Ok((mb.min(MAX_MB), timeout))
    }

    pub fn http_options(&self) -> Result<HttpOptions, ConfigError> {
        Ok(HttpOptions {
            timeout: self.secs(keys::HTTP_TIMEOUT_SECS, HttpOptions::DEFAULT_TIMEOUT_SECS)?,
            ca_bundle: self.global(keys::CA_BUNDLE).map(PathBuf::from),
        })
    }

    pub fn sso_options(&self) -> Result<SsoOptions, ConfigError> {
        let storage = match self.global(keys::SSO_STORAGE).map(str::trim) {
            None | Some("keychain") => SessionStorage::Keychain,
            Some("file") => SessionStorage::File,
            Some(other) => {
                return Err(ConfigError::InvalidValue {
                    key: keys::SSO_STORAGE.to_owned(),
                    source_name: self.source_of(keys::SSO_STORAGE),
                    reason: format!(
                        "`{other}` is not a storage: use keychain (the default) or file"
                    ),
                });
            }
        };
        Ok(SsoOptions {
            storage,
            keychain_timeout: self.keychain_timeout()?,
            login_timeout: self.secs(
                keys::SSO_LOGIN_TIMEOUT_SECS,
                SsoOptions::DEFAULT_LOGIN_TIMEOUT_SECS,
            )?,
        })
    }

    /// `OAUTH_SSO_LOGIN_METHOD` (default `auto`); a value that is none of the methods is an
    /// error naming the key, where it is set and the choices.
    pub fn sso_login_method(&self) -> Result<LoginMethod, ConfigError> {
        match self.global(keys::SSO_LOGIN_METHOD) {
            None => Ok(LoginMethod::default()),
            Some(raw) => LoginMethod::parse(raw).map_err(|reason| ConfigError::InvalidValue {
                key: keys::SSO_LOGIN_METHOD.to_owned(),
                source_name: self.source_of(keys::SSO_LOGIN_METHOD),
                reason,
            }),
        }
    }

    /// The [`Seat`]: SSH and display variables of the process environment (empty counts as
    /// unset).
    pub fn seat(&self) -> Seat {
        let set = |key: &str| {
            self.process_value(key)
                .is_some_and(|v| !v.trim().is_empty())
        };
        Seat {
            ssh: set(keys::SSH_CONNECTION) || set(keys::SSH_TTY),
            display: set(keys::DISPLAY) || set(keys::WAYLAND_DISPLAY),
        }
    }

    pub fn log_options(&self, verbose: u8) -> LogOptions {
        let file = match self.global(keys::LOG_FILE) {
            Some("off" | "0" | "false") => LogFile::Off,
            Some(p) => LogFile::Chosen(PathBuf::from(p)),
            None => LogFile::Default(self.paths().log_file()),
        };
        LogOptions { verbose, file }
    }

    /// `LMI_AUDIT_LOG`: `off` (or `0`, `false`), an absolute path, or unset for lmi's own
    /// file. A relative path is refused: it would name another file in every directory lmi
    /// is run from.
    ///
    /// The global file's value, when it sets one, holds: a company's trail is not turned off
    /// or moved from the process environment (the layer set without anyone reading it).
    pub fn audit_target(&self) -> Result<AuditTarget, ConfigError> {
        let file_value = self
            .global_file()
            .get(keys::AUDIT_LOG)
            .filter(|v| !v.is_empty());
        if let (Some(file), Some(process)) = (file_value, self.process_value(keys::AUDIT_LOG))
            && file.trim() != process.trim()
        {
            tracing::warn!(
                "{} in the process environment is ignored: {} sets the audit trail",
                keys::AUDIT_LOG,
                self.paths().global_env_file().display()
            );
        }
        let value = file_value.or_else(|| self.global(keys::AUDIT_LOG));
        match value.map(str::trim) {
            None => Ok(AuditTarget::Default(self.paths().audit_file())),
            Some("off" | "0" | "false") => Ok(AuditTarget::Off),
            Some(p) if std::path::Path::new(p).is_absolute() => {
                Ok(AuditTarget::Chosen(PathBuf::from(p)))
            }
            Some(_) => Err(ConfigError::InvalidValue {
                key: keys::AUDIT_LOG.to_owned(),
                source_name: self.source_of(keys::AUDIT_LOG),
                reason: "give `off` or an absolute path".to_owned(),
            }),
        }
    }

    /// How long one keychain call may take (`LMI_KEYCHAIN_TIMEOUT_SECS`): the SSO session's
    /// and the environment secrets' alike.
    pub fn keychain_timeout(&self) -> Result<Duration, ConfigError> {
        self.secs(
            keys::KEYCHAIN_TIMEOUT_SECS,
            SsoOptions::DEFAULT_KEYCHAIN_TIMEOUT_SECS,
        )
    }

    /// A global number of seconds (at least 1, at most 30 days).
    fn secs(&self, key: &str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.global_u64(key, default)?.min(MAX_SECS),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    /// Settings whose global `.env` holds `lines` (the process environment is not read for
    /// these keys unless set there, which the test run does not do).
    fn settings(lines: &str) -> (tempfile::TempDir, Settings) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.config_dir()).unwrap();
        std::fs::write(paths.global_env_file(), lines).unwrap();
        let s = Settings::load(paths, Some("dev")).unwrap();
        (dir, s)
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let (_d, s) = settings("");
        let rt = s.runtime_options().unwrap();
        assert_eq!(rt.plugin_memory_mb, 256);
        assert_eq!(rt.plugin_timeout, Duration::from_secs(300));
        assert_eq!(s.http_options().unwrap().timeout, Duration::from_secs(30));
        assert_eq!(s.sso_options().unwrap().storage, SessionStorage::Keychain);
        assert!(matches!(s.log_options(0).file, LogFile::Default(_)));
    }

    #[test]
    fn values_are_typed_and_bad_ones_name_their_key_and_source() {
        let (_d, s) = settings(
            "LMI_PLUGIN_TIMEOUT_SECS=7\nLMI_SSO_STORAGE=file\nLMI_LOG_FILE=off\nLMI_HTTP_TIMEOUT_SECS=0\n",
        );
        assert_eq!(
            s.runtime_options().unwrap().plugin_timeout,
            Duration::from_secs(7)
        );
        assert_eq!(s.sso_options().unwrap().storage, SessionStorage::File);
        assert_eq!(s.log_options(1).file, LogFile::Off);
        let err = s.http_options().unwrap_err().to_string();
        assert!(err.contains("LMI_HTTP_TIMEOUT_SECS"), "{err}");
        assert!(err.contains(".env"), "{err}");
    }

    #[test]
    fn the_audit_target_is_off_an_absolute_path_or_the_default() {
        let (_d, s) = settings("");
        assert_eq!(
            s.audit_target().unwrap(),
            AuditTarget::Default(s.paths().audit_file())
        );
        let (_d, s) = settings("LMI_AUDIT_LOG=off\n");
        assert_eq!(s.audit_target().unwrap(), AuditTarget::Off);
        let (_d, s) = settings("LMI_AUDIT_LOG=/var/tmp/a.jsonl\n");
        assert_eq!(
            s.audit_target().unwrap(),
            AuditTarget::Chosen(PathBuf::from("/var/tmp/a.jsonl"))
        );
        let (_d, s) = settings("LMI_AUDIT_LOG=audit.jsonl\n");
        let err = s.audit_target().unwrap_err().to_string();
        assert!(err.contains("LMI_AUDIT_LOG"), "{err}");
        assert!(err.contains("absolute path"), "{err}");
    }

    #[test]
    fn the_login_method_is_any_case_and_a_bad_one_names_the_key_and_the_choices() {
        let (_d, s) = settings("");
        assert_eq!(s.sso_login_method().unwrap(), LoginMethod::Auto);
        let (_d, s) = settings("OAUTH_SSO_LOGIN_METHOD=DEVICE\n");
        assert_eq!(s.sso_login_method().unwrap(), LoginMethod::Device);
        let (_d, s) = settings("OAUTH_SSO_LOGIN_METHOD=\" Browser \"\n");
        assert_eq!(s.sso_login_method().unwrap(), LoginMethod::Browser);
        let (_d, s) = settings("OAUTH_SSO_LOGIN_METHOD=qr\n");
        let err = s.sso_login_method().unwrap_err().to_string();
        assert!(err.contains("OAUTH_SSO_LOGIN_METHOD"), "{err}");
        assert!(err.contains("auto, browser, device"), "{err}");
        assert!(err.contains(".env"), "{err}");
    }

    #[test]
    fn an_unknown_storage_is_refused() {
        let (_d, s) = settings("LMI_SSO_STORAGE=cloud\n");
        let err = s.sso_options().unwrap_err().to_string();
        assert!(err.contains("`cloud` is not a storage"), "{err}");
    }
}
