//! The SSO session's keychain item (through [`crate::keychain`], which runs every call on its
//! own thread under `LMI_KEYCHAIN_TIMEOUT_SECS`), and the index of the accounts lmi stored
//! sessions in.

use std::path::{Path, PathBuf};

use super::SessionStoreError;
use crate::keychain::{Item, KeychainError};
use crate::settings::{ConfigError, Settings};

/// The largest account index lmi reads (a few hundred accounts).
const INDEX_LIMIT: u64 = 64 * 1024;

/// One provider's and client's keychain item.
#[derive(Debug, Clone)]
pub struct Keychain {
    item: Item,
    /// Named in the error for an unreachable keychain (the way out).
    file_path: PathBuf,
    index_path: PathBuf,
}

impl Keychain {
    pub fn new(settings: &Settings, account: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            item: Item::new(account, settings.sso_options()?.keychain_timeout),
            file_path: super::file_path(settings),
            index_path: index_path(settings),
        })
    }

    pub fn location(&self) -> String {
        self.item.location()
    }

    /// The item's secret, or `None` when there is no item.
    pub fn read(&self) -> Result<Option<Vec<u8>>, SessionStoreError> {
        self.item
            .call("read the SSO session from", |e| e.get_secret())
            .map_err(|e| self.store_error(e))
    }

    pub fn write(&self, bytes: Vec<u8>) -> Result<(), SessionStoreError> {
        match self
            .item
            .call("store the SSO session in", move |e| e.set_secret(&bytes))
        {
            Ok(Some(())) => {
                self.index(true);
                Ok(())
            }
            Ok(None) => Err(SessionStoreError::Failed(
                "the keychain lost the SSO session item while writing it".to_owned(),
            )),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Deletes the item; `true` if there was one.
    pub fn delete(&self) -> Result<bool, SessionStoreError> {
        let deleted = self
            .item
            .call("delete the SSO session from", |e| e.delete_credential())
            .map_err(|e| self.store_error(e))?
            .is_some();
        self.index(false);
        Ok(deleted)
    }

    /// A keychain failure as the session store reports it: an unreachable keychain names the
    /// opt-in session file as the other way out.
    fn store_error(&self, e: KeychainError) -> SessionStoreError {
        match e {
            KeychainError::Unavailable(what) => SessionStoreError::Unavailable(format!(
                "{what}; or opt into an unencrypted session file with {}=file (kept at {}, mode 0600)",
                super::STORAGE_KEY,
                self.file_path.display()
            )),
            KeychainError::Failed(why) => SessionStoreError::Failed(why),
        }
    }

    /// Adds (or removes) this account in the index. Best effort: without it, logout still
    /// finds the configured session.
    fn index(&self, present: bool) {
        let account = self.item.account();
        let mut accounts = read_index(&self.index_path);
        if accounts.iter().any(|a| a == account) == present {
            return;
        }
        accounts.retain(|a| a != account);
        if present {
            accounts.push(account.to_owned());
        }
        let written = serde_json::to_vec(&accounts)
            .map_err(std::io::Error::other)
            .and_then(|b| crate::fsutil::write_atomic(&self.index_path, &b));
        if let Err(e) = written {
            tracing::warn!("cannot update {}: {e}", self.index_path.display());
        }
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
