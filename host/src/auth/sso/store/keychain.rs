//! The SSO session's keychain items (through [`crate::keychain`], which runs every call on its
//! own thread under `LMI_KEYCHAIN_TIMEOUT_SECS`), and the index of the accounts lmi stored
//! sessions in.
//!
//! A record is one item, or a primary and its parts ([`super::split`]); either way each read,
//! write or delete is one [`Item::call`], so all its items share one deadline, and a record
//! of one item costs one keychain operation to read, as before splitting existed. The index
//! lists primaries only: a part is found through its primary (`delete` removes every part
//! slot), never taken for a session.

use std::path::{Path, PathBuf};

use super::SessionStoreError;
use super::split::{self, Read, Slots};
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

    /// The record, or `None` when there is none. A split record whose parts are missing or
    /// stale is reported and treated as absent: signing in again replaces it.
    pub fn read(&self) -> Result<Option<Vec<u8>>, SessionStoreError> {
        let account = self.item.account().to_owned();
        let read = self
            .item
            .call("read the SSO session from", move |primary| {
                split::read(&mut Entries::new(primary, &account))
            })
            .map_err(|e| self.store_error(e))?;
        match read {
            None | Some(Read::Absent) => Ok(None),
            Some(Read::Whole(bytes)) => Ok(Some(bytes)),
            Some(Read::Torn(why)) => {
                tracing::warn!(
                    "the SSO session stored in {} cannot be read: {why}; sign in again (lmi login sso)",
                    self.location()
                );
                Ok(None)
            }
        }
    }

    /// Replaces the record with `items` ([`split::layout`]: the primary first).
    pub fn write(&self, items: Vec<Vec<u8>>) -> Result<(), SessionStoreError> {
        let account = self.item.account().to_owned();
        match self.item.call("store the SSO session in", move |primary| {
            split::write(&mut Entries::new(primary, &account), &items)
        }) {
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

    /// Deletes the record and its parts (`split::delete`); `true` if there was a record.
    pub fn delete(&self) -> Result<bool, SessionStoreError> {
        let account = self.item.account().to_owned();
        let deleted = self
            .item
            .call("delete the SSO session from", move |primary| {
                split::delete(&mut Entries::new(primary, &account))
            })
            .map_err(|e| self.store_error(e))?
            .unwrap_or(false);
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

/// A record's keychain items, inside one [`Item::call`]: slot 1 is the call's own entry, a
/// part slot an entry of the same service under [`split::part_account`].
struct Entries<'a> {
    primary: &'a keyring::Entry,
    account: &'a str,
}

impl<'a> Entries<'a> {
    fn new(primary: &'a keyring::Entry, account: &'a str) -> Self {
        Self { primary, account }
    }

    fn with<T>(
        &self,
        slot: usize,
        op: impl FnOnce(&keyring::Entry) -> keyring::Result<T>,
    ) -> keyring::Result<Option<T>> {
        let result = if slot == 1 {
            op(self.primary)
        } else {
            let part = split::part_account(self.account, slot);
            keyring::Entry::new(crate::keychain::SERVICE, &part).and_then(|e| op(&e))
        };
        match result {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Slots for Entries<'_> {
    fn get(&mut self, slot: usize) -> keyring::Result<Option<Vec<u8>>> {
        self.with(slot, |e| e.get_secret())
    }

    fn set(&mut self, slot: usize, bytes: &[u8]) -> keyring::Result<()> {
        self.with(slot, |e| e.set_secret(bytes))?
            .ok_or(keyring::Error::NoEntry)
    }

    fn delete(&mut self, slot: usize) -> keyring::Result<bool> {
        Ok(self.with(slot, |e| e.delete_credential())?.is_some())
    }
}

/// `~/.local/share/lmi/sso-accounts.json`: the keychain accounts lmi has stored sessions in.
fn index_path(settings: &Settings) -> PathBuf {
    settings.paths().data_dir().join("sso-accounts.json")
}

/// The keychain accounts lmi stored a session in and has not deleted since (unreadable
/// index: none, with a warning). A part's account is never one (its primary's delete
/// removes it).
pub fn stored_accounts(settings: &Settings) -> Vec<String> {
    let mut accounts = read_index(&index_path(settings));
    accounts.retain(|a| !split::is_part_account(a));
    accounts
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
