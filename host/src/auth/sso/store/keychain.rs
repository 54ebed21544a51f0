//! The OS keychain through `keyring`, and the index of the accounts lmi stored sessions in.
//!
//! Every keychain call runs on its own thread under a timeout (`LMI_KEYCHAIN_TIMEOUT_SECS`,
//! default 5 s): a keychain that hangs (a locked collection waiting for a prompt nobody sees)
//! fails the command instead of freezing it. The `tokio` flavour of the Secret Service client
//! must not be driven from a thread that runs a runtime; a fresh thread has none.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::SessionStoreError;
use crate::settings::{ConfigError, Settings};

/// The keychain item's service name.
pub const KEYCHAIN_SERVICE: &str = "lmi";
/// The largest account index lmi reads (a few hundred accounts).
const INDEX_LIMIT: u64 = 64 * 1024;

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

/// Whether the keychain answers within `timeout`: one read of an item that does not exist
/// (`lmi-doctor` / `probe`), under the same thread-and-deadline rule as every session call.
/// The error says what failed, in words for the user.
pub fn probe(timeout: Duration) -> Result<(), String> {
    match call("lmi-doctor", "probe", timeout, |e| e.get_password()) {
        Ok(_) | Err(Failure::NoEntry) => Ok(()),
        Err(Failure::Timeout) => Err(format!(
            "the OS keychain did not answer within {} s",
            timeout.as_secs()
        )),
        Err(Failure::Spawn(e)) => Err(format!("cannot start the keychain call: {e}")),
        Err(Failure::Keyring(e)) => Err(format!("the OS keychain is not reachable: {e}")),
    }
}

/// One provider's and client's keychain item.
#[derive(Debug, Clone)]
pub struct Keychain {
    account: String,
    timeout: Duration,
    /// Named in the error for an unreachable keychain (the way out).
    file_path: PathBuf,
    index_path: PathBuf,
}

impl Keychain {
    pub fn new(settings: &Settings, account: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            account: account.to_owned(),
            timeout: settings.sso_options()?.keychain_timeout,
            file_path: super::file_path(settings),
            index_path: index_path(settings),
        })
    }

    pub fn location(&self) -> String {
        format!(
            "{} (service `{KEYCHAIN_SERVICE}`, account `{}`)",
            keychain_name(),
            self.account
        )
    }

    /// The item's secret, or `None` when there is no item.
    pub fn read(&self) -> Result<Option<Vec<u8>>, SessionStoreError> {
        match self.call("read the SSO session from", |e| e.get_secret()) {
            Ok(b) => Ok(Some(b)),
            Err(Missing) => Ok(None),
            Err(Failed(e)) => Err(e),
        }
    }

    pub fn write(&self, bytes: Vec<u8>) -> Result<(), SessionStoreError> {
        match self.call("store the SSO session in", move |e| e.set_secret(&bytes)) {
            Ok(()) => {
                self.index(true);
                Ok(())
            }
            Err(Missing) => Err(SessionStoreError::Failed(
                "the keychain lost the SSO session item while writing it".to_owned(),
            )),
            Err(Failed(e)) => Err(e),
        }
    }

    /// Deletes the item; `true` if there was one.
    pub fn delete(&self) -> Result<bool, SessionStoreError> {
        let deleted = match self.call("delete the SSO session from", |e| e.delete_credential()) {
            Ok(()) => true,
            Err(Missing) => false,
            Err(Failed(e)) => return Err(e),
        };
        self.index(false);
        Ok(deleted)
    }

    /// One keychain call on this item, its failure in the user's words.
    fn call<T: Send + 'static>(
        &self,
        what: &str,
        op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, Outcome> {
        let started = Instant::now();
        let result = call(KEYCHAIN_SERVICE, &self.account, self.timeout, op);
        tracing::debug!("keychain: {what} took {} ms", started.elapsed().as_millis());
        let failed = |e| Err(Failed(e));
        match result {
            Ok(v) => Ok(v),
            Err(Failure::NoEntry) => Err(Missing),
            Err(Failure::Timeout) => failed(SessionStoreError::Unavailable(self.unavailable(
                what,
                &format!("no answer within {} s", self.timeout.as_secs()),
            ))),
            Err(Failure::Spawn(e)) => failed(SessionStoreError::Failed(format!(
                "cannot start the keychain call: {e}"
            ))),
            Err(Failure::Keyring(
                keyring::Error::NoStorageAccess(e) | keyring::Error::PlatformFailure(e),
            )) => failed(SessionStoreError::Unavailable(
                self.unavailable(what, &e.to_string()),
            )),
            Err(Failure::Keyring(keyring::Error::Ambiguous(items))) => {
                failed(SessionStoreError::Failed(format!(
                    "the {} holds {} items for service `{KEYCHAIN_SERVICE}` and this account; remove the extra ones",
                    keychain_name(),
                    items.len()
                )))
            }
            Err(Failure::Keyring(e)) => failed(SessionStoreError::Failed(format!(
                "cannot {what} the {}: {e}",
                keychain_name()
            ))),
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
            "cannot {what} the {} ({}): {fix}; or opt into an unencrypted session file with {}=file (kept at {}, mode 0600)",
            keychain_name(),
            crate::logging::scrub(cause),
            super::STORAGE_KEY,
            self.file_path.display()
        )
    }

    /// Adds (or removes) this account in the index. Best effort: without it, logout still
    /// finds the configured session.
    fn index(&self, present: bool) {
        let mut accounts = read_index(&self.index_path);
        if accounts.contains(&self.account) == present {
            return;
        }
        accounts.retain(|a| a != &self.account);
        if present {
            accounts.push(self.account.clone());
        }
        let written = serde_json::to_vec(&accounts)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::fsutil::write_atomic(&self.index_path, &b));
        if let Err(e) = written {
            tracing::warn!("cannot update {}: {e}", self.index_path.display());
        }
    }
}

use Outcome::{Failed, Missing};

/// A session call's failure: no item, or an error for the user.
enum Outcome {
    Missing,
    Failed(SessionStoreError),
}

/// A raw keychain call's failure.
enum Failure {
    NoEntry,
    Timeout,
    Spawn(std::io::Error),
    Keyring(keyring::Error),
}

/// Runs one keychain call on a fresh thread, waiting at most `timeout`.
fn call<T: Send + 'static>(
    service: &str,
    account: &str,
    timeout: Duration,
    op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let (service, account) = (service.to_owned(), account.to_owned());
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("lmi-keychain".to_owned())
        .spawn(move || {
            let result = keyring::Entry::new(&service, &account).and_then(|e| op(&e));
            let _ = tx.send(result);
        })
        .map_err(Failure::Spawn)?;
    match rx.recv_timeout(timeout) {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(keyring::Error::NoEntry)) => Err(Failure::NoEntry),
        Ok(Err(e)) => Err(Failure::Keyring(e)),
    }
}

/// `~/.local/share/lmi/sso-accounts.json`: the keychain accounts lmi has stored sessions in.
fn index_path(settings: &Settings) -> PathBuf {
    settings.paths().data_dir().join("sso-accounts.json")
}

/// The keychain accounts lmi stored a session in and has not deleted since (unreadable
/// index: none, with a warning).
pub fn stored_accounts(settings: &Settings) -> Vec<String> {
    read_index(&index_path(settings))
}

fn read_index(path: &Path) -> Vec<String> {
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
