//! The OS keychain through `keyring`: one item (service `lmi`, an account naming what it
//! holds), every call on a fresh thread under a deadline, failures in the user's words. The SSO
//! session store (`auth::sso::store::keychain`) and the environment secrets
//! (`auth::env_secrets`) both go through [`Item::call`]; doctor asks [`probe`].
//!
//! Why a thread per call: a keychain that hangs (a locked collection waiting for a prompt
//! nobody sees) must fail the command at `LMI_KEYCHAIN_TIMEOUT_SECS` instead of freezing it,
//! and the `tokio` flavour of the Secret Service client must not be driven from a thread that
//! runs a runtime; a fresh thread has none. A call that timed out leaves its thread behind
//! (it dies with the process), and every later call in the process fails at once: waiting
//! again on a keychain that did not answer would only multiply the wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The service name of every item lmi keeps.
pub const SERVICE: &str = "lmi";

/// Set once a call waited out its deadline: later calls in this process do not wait again.
static SILENT: AtomicBool = AtomicBool::new(false);

/// The largest secret every supported keychain holds: Windows Credential Manager's
/// `CRED_MAX_CREDENTIAL_BLOB_SIZE`, which `keyring` enforces as `TooLong`.
pub const KEYCHAIN_SECRET_LIMIT: usize = 2560;

/// The platform keychain's name, for messages.
pub fn name() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(windows) {
        "Windows Credential Manager"
    } else {
        "Secret Service"
    }
}

/// What to do when no keychain answers, for messages (each caller adds its own way out).
pub fn start_fix() -> &'static str {
    if cfg!(target_os = "linux") || cfg!(target_os = "freebsd") {
        "start and unlock a Secret Service provider in this D-Bus session (gnome-keyring, KWallet or KeePassXC; over SSH, `dbus-run-session` and `gnome-keyring-daemon --unlock`)"
    } else {
        "make sure the keychain is unlocked and this program may use it"
    }
}

/// Why a keychain call did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeychainError {
    /// No keychain answered (none running, locked, no answer in time). The message says what
    /// failed and how to start one; the caller appends its own way out.
    #[error("{0}")]
    Unavailable(String),
    /// The keychain answered, but not with what lmi needs (two items for one account, an
    /// item that is not text, a refused write).
    #[error("{0}")]
    Failed(String),
}

/// Whether the keychain answers within `timeout`: one read of an item that does not exist
/// (`lmi-doctor` / `probe`), under the same thread-and-deadline rule as every call.
/// The error says what failed, in words for the user.
pub fn probe(timeout: Duration) -> Result<(), String> {
    match raw_call("lmi-doctor", "probe", timeout, |e| e.get_password()) {
        Ok(_) | Err(Failure::NoEntry) => Ok(()),
        Err(Failure::Timeout) => Err(format!(
            "the OS keychain did not answer within {} s",
            timeout.as_secs()
        )),
        Err(Failure::Spawn(e)) => Err(format!("cannot start the keychain call: {e}")),
        Err(Failure::Keyring(e)) => Err(format!("the OS keychain is not reachable: {e}")),
    }
}

/// Whether the keychain can keep an item now: one item written and deleted (`lmi-doctor` /
/// `write-probe-<pid>`) in one call under `timeout`. A read of a missing item does not
/// unlock a locked Secret Service collection, so [`probe`] passes where a write would then
/// wait for an unlock prompt; a command about to store a secret asks this before it asks the
/// user for anything.
pub fn probe_writable(timeout: Duration) -> Result<(), String> {
    let account = format!("write-probe-{}", std::process::id());
    match raw_call("lmi-doctor", &account, timeout, |e| {
        e.set_password("probe")?;
        e.delete_credential()
    }) {
        Ok(()) => Ok(()),
        Err(Failure::NoEntry) => Err("the OS keychain lost an item just written".to_owned()),
        Err(Failure::Timeout) => Err(format!(
            "the OS keychain did not store an item within {} s (a locked collection waiting for its password?)",
            timeout.as_secs()
        )),
        Err(Failure::Spawn(e)) => Err(format!("cannot start the keychain call: {e}")),
        Err(Failure::Keyring(e)) => Err(format!("the OS keychain cannot store an item: {e}")),
    }
}

/// One keychain item: service [`SERVICE`], `account`.
#[derive(Debug, Clone)]
pub struct Item {
    account: String,
    timeout: Duration,
}

impl Item {
    pub fn new(account: impl Into<String>, timeout: Duration) -> Self {
        Self {
            account: account.into(),
            timeout,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The item in words: "Secret Service (service `lmi`, account `…`)".
    pub fn location(&self) -> String {
        format!(
            "{} (service `{SERVICE}`, account `{}`)",
            name(),
            self.account
        )
    }

    /// One call on this item; `Ok(None)` when the item does not exist. `what` says what was
    /// being done, for messages and the debug log: "read the SSO session from".
    pub fn call<T: Send + 'static>(
        &self,
        what: &str,
        op: impl Fn(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<Option<T>, KeychainError> {
        let started = Instant::now();
        let result = raw_call(SERVICE, &self.account, self.timeout, op);
        tracing::debug!("keychain: {what} took {} ms", started.elapsed().as_millis());
        match result {
            Ok(v) => Ok(Some(v)),
            Err(Failure::NoEntry) => Ok(None),
            Err(Failure::Timeout) => Err(KeychainError::Unavailable(unavailable(
                what,
                &format!("no answer within {} s", self.timeout.as_secs()),
            ))),
            Err(Failure::Spawn(e)) => Err(KeychainError::Failed(format!(
                "cannot start the keychain call: {e}"
            ))),
            Err(Failure::Keyring(
                keyring::Error::NoStorageAccess(e) | keyring::Error::PlatformFailure(e),
            )) => Err(KeychainError::Unavailable(unavailable(
                what,
                &e.to_string(),
            ))),
            Err(Failure::Keyring(keyring::Error::Ambiguous(items))) => {
                Err(KeychainError::Failed(format!(
                    "the {} holds {} items for service `{SERVICE}` and this account; remove the extra ones",
                    name(),
                    items.len()
                )))
            }
            Err(Failure::Keyring(e)) => Err(KeychainError::Failed(format!(
                "cannot {what} the {}: {e}",
                name()
            ))),
        }
    }
}

/// The first half of the message for an unreachable keychain: what failed and how to start
/// one ("cannot read … from the Secret Service (cause): start …").
fn unavailable(what: &str, cause: &str) -> String {
    format!(
        "cannot {what} the {} ({}): {}",
        name(),
        crate::logging::scrub(cause),
        start_fix()
    )
}

/// A raw keychain call's failure.
enum Failure {
    NoEntry,
    Timeout,
    Spawn(std::io::Error),
    Keyring(keyring::Error),
}

/// The Secret Service's daemon went away while answering (it crashed or was restarted).
fn service_went_away(e: &keyring::Error) -> bool {
    let text = e.to_string();
    matches!(e, keyring::Error::PlatformFailure(_))
        && (text.contains("NoReply") || text.contains("recipient disconnected"))
}

/// Runs one keychain call on a fresh thread, waiting at most `timeout` (not at all once a
/// call of this process has timed out). A call the Secret Service dropped because its daemon
/// went away (D-Bus `NoReply`: "Message recipient disconnected") is made once more within the
/// same deadline: D-Bus starts the service again, and every keychain call lmi makes (read,
/// write, delete of one item) is safe to repeat.
fn raw_call<T: Send + 'static>(
    service: &str,
    account: &str,
    timeout: Duration,
    op: impl Fn(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    if SILENT.load(Ordering::Relaxed) {
        return Err(Failure::Timeout);
    }
    let (service, account) = (service.to_owned(), account.to_owned());
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("lmi-keychain".to_owned())
        .spawn(move || {
            let call = || keyring::Entry::new(&service, &account).and_then(|e| op(&e));
            let result = match call() {
                Err(e) if service_went_away(&e) => call(),
                other => other,
            };
            let _ = tx.send(result);
        })
        .map_err(Failure::Spawn)?;
    match rx.recv_timeout(timeout) {
        Err(_) => {
            SILENT.store(true, Ordering::Relaxed);
            Err(Failure::Timeout)
        }
        Ok(Ok(v)) => Ok(v),
        Ok(Err(keyring::Error::NoEntry)) => Err(Failure::NoEntry),
        Ok(Err(e)) => Err(Failure::Keyring(e)),
    }
}
