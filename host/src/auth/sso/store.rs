//! Where the SSO session is kept: the OS keychain through `keyring` (Secret Service on Linux,
//! the Keychain on macOS, Credential Manager on Windows), or — only when the user opted in
//! with `LMI_SSO_STORAGE=file` — a 0600 file, with a warning before every write.
//!
//! Invariants:
//! - There is no silent fallback: an unreachable keychain is an error that says how to fix it.
//! - Every keychain call runs on its own thread under a timeout (`LMI_KEYCHAIN_TIMEOUT_SECS`,
//!   default 5 s): a keychain that hangs (a locked collection waiting for a prompt nobody sees)
//!   fails the command instead of freezing it. The `tokio` flavour of the Secret Service client
//!   must not be driven from a thread that runs a runtime; a fresh thread has none.
//! - The record is small: tokens, expiry and the validated user claims — never the ID token —
//!   so it fits the smallest keychain (Windows: 2,560 bytes per secret). If it would not, the
//!   access token (which lmi itself never sends anywhere) is left out first.
//! - One keychain item per provider and client (`lmi` / `<client_id>@<issuer>`), and each
//!   record names its own issuer, client and revocation endpoint. Every item lmi writes is
//!   listed (by account name only, no secret) in `~/.local/share/lmi/sso-accounts.json`, so
//!   logout finds sessions of an earlier configuration too (a changed client id or issuer)
//!   and revokes each where it was issued.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::AuthError;
use crate::settings::{ConfigError, Settings};

pub const STORAGE_KEY: &str = "LMI_SSO_STORAGE";
pub const KEYCHAIN_TIMEOUT_KEY: &str = "LMI_KEYCHAIN_TIMEOUT_SECS";
pub const DEFAULT_KEYCHAIN_TIMEOUT_SECS: u64 = 5;
/// The keychain item's service name.
pub const KEYCHAIN_SERVICE: &str = "lmi";
/// The largest secret every supported keychain holds (Windows Credential Manager).
pub const KEYCHAIN_SECRET_LIMIT: usize = 2560;
const RECORD_VERSION: u32 = 1;
/// The largest session file or summary lmi reads (a record is about 2.5 KB at most).
const RECORD_LIMIT: u64 = 64 * 1024;

/// A token. `Debug` prints `****`; the value is registered with the log scrubber on load.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        crate::logging::register_secret(&value);
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// The stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub v: u32,
    /// The validated `iss` and the client the tokens belong to.
    pub iss: String,
    pub client_id: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// When the access token expires (unix seconds).
    pub expires_at: u64,
    /// When it was obtained (for the refresh margin).
    pub obtained_at: u64,
    /// Where the provider revokes its tokens (RFC 7009), as known at sign-in: logout uses it
    /// even after the configuration moved to another provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
}

impl Session {
    pub fn new_record(iss: String, client_id: String, sub: String) -> Self {
        Self {
            v: RECORD_VERSION,
            iss,
            client_id,
            sub,
            email: None,
            name: None,
            access_token: None,
            refresh_token: None,
            expires_at: 0,
            obtained_at: 0,
            revocation_endpoint: None,
        }
    }

    fn register_secrets(&self) {
        for s in [&self.access_token, &self.refresh_token]
            .into_iter()
            .flatten()
        {
            crate::logging::register_secret(s.expose());
        }
    }

    /// The bytes to store: compact JSON within [`KEYCHAIN_SECRET_LIMIT`] when possible.
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::Failed(e.to_string()))?;
        if bytes.len() <= KEYCHAIN_SECRET_LIMIT || self.access_token.is_none() {
            return Ok(bytes);
        }
        tracing::info!(
            "the SSO record is {} bytes; storing it without the access token to stay within {KEYCHAIN_SECRET_LIMIT}",
            bytes.len()
        );
        let slim = Session {
            access_token: None,
            ..self.clone()
        };
        serde_json::to_vec(&slim).map_err(|e| StoreError::Failed(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No keychain reachable; the message says how to fix it.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        // Not an authentication verdict: the session could not be read or written.
        AuthError::Network(e.to_string())
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Keychain { account: String },
    File { path: PathBuf },
}

/// The session store chosen by `LMI_SSO_STORAGE` for one provider and client.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    timeout: Duration,
    file_path: PathBuf,
    summary_path: PathBuf,
    index_path: PathBuf,
}

/// The largest account index lmi reads (a few hundred accounts).
const INDEX_LIMIT: u64 = 64 * 1024;

/// `~/.local/share/lmi/sso-accounts.json`: the keychain accounts lmi has stored sessions in.
fn index_path(settings: &Settings) -> PathBuf {
    settings.paths().data_dir().join("sso-accounts.json")
}

/// The keychain accounts lmi stored a session in and has not deleted since (unreadable
/// index: none, with a warning).
pub fn stored_accounts(settings: &Settings) -> Vec<String> {
    read_index(&index_path(settings))
}

fn read_index(path: &std::path::Path) -> Vec<String> {
    match crate::fsutil::read_trusted(path, INDEX_LIMIT) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            tracing::warn!("{} is not a list of accounts; ignoring it", path.display());
            Vec::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::warn!("cannot read the SSO account index: {e}");
            Vec::new()
        }
    }
}

/// `~/.local/share/lmi/sso-session.json`
pub fn file_path(settings: &Settings) -> PathBuf {
    settings.paths().data_dir().join("sso-session.json")
}

/// Which backend `LMI_SSO_STORAGE` selects: `keychain` (default) or `file`.
pub fn storage_kind(settings: &Settings) -> Result<&'static str, ConfigError> {
    match settings.global(STORAGE_KEY).map(str::trim) {
        None | Some("keychain") => Ok("keychain"),
        Some("file") => Ok("file"),
        Some(other) => Err(ConfigError::InvalidValue {
            key: STORAGE_KEY.to_owned(),
            source_name: settings.source_of(STORAGE_KEY),
            reason: format!("`{other}` is not a storage: use keychain (the default) or file"),
        }),
    }
}

/// The platform keychain's name, for messages.
pub fn keychain_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(windows) {
        "Windows Credential Manager"
    } else {
        "Secret Service"
    }
}

impl Store {
    pub fn new(settings: &Settings, account: &str) -> Result<Self, ConfigError> {
        let file_path = file_path(settings);
        let summary_path = settings.paths().cache_dir().join("sso-summary.json");
        let index_path = index_path(settings);
        let backend = match storage_kind(settings)? {
            "file" => Backend::File {
                path: file_path.clone(),
            },
            _ => Backend::Keychain {
                account: account.to_owned(),
            },
        };
        let secs = settings.global_u64(KEYCHAIN_TIMEOUT_KEY, DEFAULT_KEYCHAIN_TIMEOUT_SECS)?;
        Ok(Self {
            backend,
            timeout: Duration::from_secs(secs.max(1)),
            file_path,
            summary_path,
            index_path,
        })
    }

    /// Adds (or removes) this store's keychain account in the index. Best effort: without
    /// it, logout still finds the configured session.
    fn index(&self, present: bool) {
        let Backend::Keychain { account } = &self.backend else {
            return;
        };
        let mut accounts = read_index(&self.index_path);
        let listed = accounts.contains(account);
        if listed == present {
            return;
        }
        accounts.retain(|a| a != account);
        if present {
            accounts.push(account.clone());
        }
        let written = serde_json::to_vec(&accounts)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::fsutil::write_atomic(&self.index_path, &b));
        if let Err(e) = written {
            tracing::warn!("cannot update {}: {e}", self.index_path.display());
        }
    }

    /// `keychain` or `file`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Keychain { .. } => "keychain",
            Backend::File { .. } => "file",
        }
    }

    /// Where the session lives, for `auth status`.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Keychain { account } => format!(
                "{} (service `{KEYCHAIN_SERVICE}`, account `{account}`)",
                keychain_name()
            ),
            Backend::File { path } => path.display().to_string(),
        }
    }

    /// The stored session, if any. A record lmi cannot read is reported and treated as absent
    /// (signing in replaces it).
    pub fn load(&self) -> Result<Option<Session>, StoreError> {
        let bytes = match &self.backend {
            Backend::Keychain { .. } => {
                match self.keychain("read the SSO session from", |e| e.get_secret()) {
                    Ok(b) => b,
                    Err(KeychainError::NoEntry) => return Ok(None),
                    Err(KeychainError::Store(e)) => return Err(e),
                }
            }
            // A planted or shared file would fix the session to someone else's tokens.
            Backend::File { path } => match crate::fsutil::read_trusted(path, RECORD_LIMIT) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(StoreError::Failed(format!(
                        "cannot use the SSO session file {}: {e}",
                        path.display()
                    )));
                }
            },
        };
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(s) if s.v == RECORD_VERSION => {
                s.register_secrets();
                Ok(Some(s))
            }
            _ => {
                tracing::warn!(
                    "the stored SSO session in {} is not one this lmi can read; sign in again (lmi login sso)",
                    self.location()
                );
                Ok(None)
            }
        }
    }

    /// Stores `session`, replacing what was there.
    pub fn save(&self, session: &Session) -> Result<(), StoreError> {
        let bytes = session.encode()?;
        match &self.backend {
            Backend::Keychain { .. } => {
                match self.keychain("store the SSO session in", move |e| e.set_secret(&bytes)) {
                    Ok(()) => {
                        self.index(true);
                        self.write_summary(session);
                        Ok(())
                    }
                    Err(KeychainError::NoEntry) => Err(StoreError::Failed(
                        "the keychain lost the SSO session item while writing it".to_owned(),
                    )),
                    Err(KeychainError::Store(e)) => Err(e),
                }
            }
            Backend::File { path } => {
                crate::output::warn(format_args!(
                    "{STORAGE_KEY}=file: writing your SSO tokens unencrypted to {} (readable only by you, mode 0600); unset {STORAGE_KEY} to keep them in the {} instead",
                    path.display(),
                    keychain_name()
                ));
                crate::fsutil::write_atomic(path, &bytes)
                    .and_then(|()| restrict(path))
                    .map_err(|e| {
                        StoreError::Failed(format!(
                            "cannot write the SSO session file {}: {e}",
                            path.display()
                        ))
                    })
            }
        }
    }

    /// Deletes the stored session; `true` if there was one. A session file left over from
    /// file storage is removed too, whichever backend is selected.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let mut deleted = false;
        // The summary goes first: a half-finished delete must not leave a session that looks
        // valid to the dispatch gate.
        match std::fs::remove_file(&self.summary_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Failed(format!(
                    "cannot remove {}: {e}",
                    self.summary_path.display()
                )));
            }
        }
        if let Backend::Keychain { .. } = &self.backend {
            match self.keychain("delete the SSO session from", |e| e.delete_credential()) {
                Ok(()) => deleted = true,
                Err(KeychainError::NoEntry) => {}
                Err(KeychainError::Store(e)) => return Err(e),
            }
            self.index(false);
        }
        match std::fs::remove_file(&self.file_path) {
            Ok(()) => deleted = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Failed(format!(
                    "cannot remove the SSO session file {}: {e}",
                    self.file_path.display()
                )));
            }
        }
        Ok(deleted)
    }

    /// The session without its tokens, as last stored in the keychain: what the dispatch gate
    /// needs (who, until when) without the cost of a Secret Service round trip (about 10 ms).
    /// `None` for file storage (the file is read as cheaply) or when there is no summary.
    pub fn summary(&self) -> Option<Session> {
        if !matches!(self.backend, Backend::Keychain { .. }) {
            return None;
        }
        // Trusted only if the user alone could have written it: a planted summary would pass
        // the gate as someone else. Refused, the keychain is asked instead.
        let bytes = match crate::fsutil::read_trusted(&self.summary_path, RECORD_LIMIT) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!("ignoring the SSO session summary: {e}");
                return None;
            }
        };
        serde_json::from_slice::<Session>(&bytes).ok().filter(|s| {
            s.v == RECORD_VERSION && s.access_token.is_none() && s.refresh_token.is_none()
        })
    }

    /// Writes the token-free summary of `session` (0600). Best effort: without it the gate
    /// simply asks the keychain.
    fn write_summary(&self, session: &Session) {
        let summary = Session {
            access_token: None,
            refresh_token: None,
            revocation_endpoint: None,
            ..session.clone()
        };
        let written = serde_json::to_vec(&summary)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::fsutil::write_atomic(&self.summary_path, &b));
        if let Err(e) = written {
            tracing::debug!("cannot write {}: {e}", self.summary_path.display());
        }
    }

    /// Runs one keychain call on a fresh thread, waiting at most the timeout.
    fn keychain<T: Send + 'static>(
        &self,
        what: &str,
        call: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, KeychainError> {
        let Backend::Keychain { account } = &self.backend else {
            return Err(KeychainError::Store(StoreError::Failed(
                "not a keychain store".to_owned(),
            )));
        };
        let account = account.clone();
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("lmi-keychain".to_owned())
            .spawn(move || {
                let result = keyring::Entry::new(KEYCHAIN_SERVICE, &account).and_then(|e| call(&e));
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(KeychainError::Store(StoreError::Failed(format!(
                "cannot start the keychain call: {e}"
            ))));
        }
        let started = std::time::Instant::now();
        let result = match rx.recv_timeout(self.timeout) {
            Ok(r) => r,
            Err(_) => {
                return Err(KeychainError::Store(StoreError::Unavailable(
                    self.unavailable(
                        what,
                        &format!("no answer within {} s", self.timeout.as_secs()),
                    ),
                )));
            }
        };
        tracing::debug!("keychain: {what} took {} ms", started.elapsed().as_millis());
        match result {
            Ok(v) => Ok(v),
            Err(keyring::Error::NoEntry) => Err(KeychainError::NoEntry),
            Err(keyring::Error::NoStorageAccess(e) | keyring::Error::PlatformFailure(e)) => {
                Err(KeychainError::Store(StoreError::Unavailable(
                    self.unavailable(what, &e.to_string()),
                )))
            }
            Err(keyring::Error::Ambiguous(items)) => {
                Err(KeychainError::Store(StoreError::Failed(format!(
                    "the {} holds {} items for service `{KEYCHAIN_SERVICE}` and this account; remove the extra ones",
                    keychain_name(),
                    items.len()
                ))))
            }
            Err(e) => Err(KeychainError::Store(StoreError::Failed(format!(
                "cannot {what} the {}: {e}",
                keychain_name()
            )))),
        }
    }

    /// The message for an unreachable keychain: what failed and the two ways out.
    fn unavailable(&self, what: &str, cause: &str) -> String {
        let fix = if cfg!(target_os = "linux") || cfg!(target_os = "freebsd") {
            "start and unlock a Secret Service provider in this D-Bus session (gnome-keyring, KWallet or KeePassXC; over SSH, `dbus-run-session` and `gnome-keyring-daemon --unlock`)"
        } else {
            "make sure the keychain is unlocked and this program may use it"
        };
        format!(
            "cannot {what} the {} ({}): {fix}; or opt into an unencrypted session file with {STORAGE_KEY}=file (kept at {}, mode 0600)",
            keychain_name(),
            crate::logging::scrub(cause),
            self.file_path.display()
        )
    }
}

enum KeychainError {
    NoEntry,
    Store(StoreError),
}

fn restrict(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session(access: usize, refresh: usize) -> Session {
        Session {
            email: Some("alice@example.test".into()),
            name: Some("Test User alice".into()),
            access_token: Some(Secret::new("a".repeat(access))),
            refresh_token: Some(Secret::new("r".repeat(refresh))),
            expires_at: 2,
            obtained_at: 1,
            ..Session::new_record(
                "https://idp.example".into(),
                "lmi-cli".into(),
                "alice".into(),
            )
        }
    }

    #[test]
    fn record_fits_the_smallest_keychain() {
        let small = session(43, 43).encode().unwrap();
        assert!(small.len() < 400, "{}", small.len());
        let back: Session = serde_json::from_slice(&small).unwrap();
        assert_eq!(back, session(43, 43));
        // A large JWT access token is dropped rather than overflowing Windows' limit.
        let big = session(2600, 200).encode().unwrap();
        assert!(big.len() <= KEYCHAIN_SECRET_LIMIT, "{}", big.len());
        let back: Session = serde_json::from_slice(&big).unwrap();
        assert!(back.access_token.is_none() && back.refresh_token.is_some());
        assert!(!format!("{:?}", session(43, 43)).contains("aaaa"));
    }

    #[test]
    fn file_store_round_trip_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/sso-session.json");
        let store = Store {
            backend: Backend::File { path: path.clone() },
            timeout: Duration::from_secs(1),
            file_path: path.clone(),
            summary_path: dir.path().join("cache/sso-summary.json"),
            index_path: dir.path().join("data/sso-accounts.json"),
        };
        assert!(store.load().unwrap().is_none());
        store.save(&session(10, 10)).unwrap();
        assert_eq!(store.load().unwrap(), Some(session(10, 10)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(store.delete().unwrap());
        assert!(!store.delete().unwrap());
        std::fs::write(&path, b"{garbage").unwrap();
        assert!(store.load().unwrap().is_none());
    }
}
