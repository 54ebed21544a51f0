//! Where the SSO session is kept: the OS keychain ([`keychain`]: Secret Service on Linux, the
//! Keychain on macOS, Credential Manager on Windows), or — only when the user opted in with
//! `LMI_SSO_STORAGE=file` — a 0600 file ([`file`]), whose every write comes back as a
//! [`SessionWarning`] for the command to show. Beside a keychain session lmi keeps a
//! token-free [`summary`] so the dispatch gate needs no keychain round trip.
//!
//! Invariants:
//! - There is no silent fallback: an unreachable keychain is an error that says how to fix it.
//! - One keychain record per provider and client (`lmi` / `<client_id>@<issuer>`), and each
//!   record names its own issuer, client and revocation endpoint. A record longer than the
//!   smallest keychain's secret (2,560 bytes, Windows) is kept in parts `<account>#2`…`#8`
//!   behind its primary item ([`split`]: parts first, primary last, a digest of the whole in
//!   the primary, so a torn record reads as none, never as another session). Every record
//!   lmi writes is listed (by its primary's account only, no secret) in
//!   `~/.local/share/lmi/sso-accounts.json`, so logout finds sessions of an earlier
//!   configuration too (a changed client id or issuer) and revokes each where it was issued;
//!   deleting a record deletes its parts (every part slot when
//!   no readable primary names them).
//! - Every write and delete runs under the refresh lock (`refresh::RefreshLock`: login,
//!   refresh, logout), so two writers never interleave their items.

pub mod file;
pub mod keychain;
pub mod split;
pub mod summary;

use std::path::PathBuf;

use super::session::{KEYCHAIN_SECRET_LIMIT, RECORD_VERSION, Session, SessionWarning};
use crate::settings::{ConfigError, SessionStorage, Settings};

pub use crate::settings::keys::SSO_STORAGE as STORAGE_KEY;

/// Why the session could not be read, written or deleted.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// No keychain reachable; the message says how to fix it.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone)]
enum Backend {
    Keychain(keychain::Keychain),
    File,
}

/// The session store chosen by `LMI_SSO_STORAGE` for one provider and client.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    file_path: PathBuf,
    summary_path: PathBuf,
}

/// `~/.local/share/lmi/sso-session.json`
pub fn file_path(settings: &Settings) -> PathBuf {
    settings.paths().data_dir().join("sso-session.json")
}

/// Which backend `LMI_SSO_STORAGE` selects: `keychain` (default) or `file`.
pub fn storage_kind(settings: &Settings) -> Result<&'static str, ConfigError> {
    Ok(match settings.sso_options()?.storage {
        SessionStorage::Keychain => "keychain",
        SessionStorage::File => "file",
    })
}

impl Store {
    pub fn new(settings: &Settings, account: &str) -> Result<Self, ConfigError> {
        let file_path = file_path(settings);
        let backend = match storage_kind(settings)? {
            "file" => Backend::File,
            _ => Backend::Keychain(keychain::Keychain::new(settings, account)?),
        };
        Ok(Self {
            backend,
            file_path,
            summary_path: summary::path(settings),
        })
    }

    /// `keychain` or `file`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Keychain(_) => "keychain",
            Backend::File => "file",
        }
    }

    /// Where the session lives, for `auth status`.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Keychain(k) => k.location(),
            Backend::File => self.file_path.display().to_string(),
        }
    }

    /// The stored session, if any. A record lmi cannot read is reported and treated as absent
    /// (signing in replaces it).
    pub fn load(&self) -> Result<Option<Session>, SessionStoreError> {
        let bytes = match &self.backend {
            Backend::Keychain(k) => k.read()?,
            Backend::File => file::read(&self.file_path)?,
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        // Deserializing the tokens registers them with the log scrubber (`Secret`).
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(s) if s.v == RECORD_VERSION => Ok(Some(s)),
            _ => {
                tracing::warn!(
                    "the stored SSO session in {} is not one this lmi can read; sign in again (lmi login sso)",
                    self.location()
                );
                Ok(None)
            }
        }
    }

    /// Stores `session`, replacing what was there. File storage returns the warning the user
    /// must see about it.
    pub fn save(&self, session: &Session) -> Result<Option<SessionWarning>, SessionStoreError> {
        match &self.backend {
            Backend::Keychain(k) => {
                let room = format!(
                    "the keychain keeps ({} items of {KEYCHAIN_SECRET_LIMIT} bytes)",
                    split::MAX_PARTS
                );
                let Some(items) = session.encode_fitting(&room, split::layout)? else {
                    return Err(SessionStoreError::Failed(format!(
                        "the SSO session is too large for the {} even without its access token and groups: more than {room}; keep it in a file instead with {STORAGE_KEY}=file",
                        crate::keychain::name()
                    )));
                };
                k.write(items)?;
                summary::write(&self.summary_path, session);
                Ok(None)
            }
            Backend::File => {
                let room = format!("a session file lmi reads ({} bytes)", file::RECORD_LIMIT);
                let fits = |b: &[u8]| (b.len() as u64 <= file::RECORD_LIMIT).then(|| b.to_vec());
                let Some(bytes) = session.encode_fitting(&room, fits)? else {
                    return Err(SessionStoreError::Failed(format!(
                        "the SSO session is too large to store even without its access token and groups: more than {room}"
                    )));
                };
                file::write(&self.file_path, &bytes)?;
                Ok(Some(SessionWarning::PlaintextFile {
                    path: self.file_path.clone(),
                    keychain: crate::keychain::name(),
                }))
            }
        }
    }

    /// Deletes the stored session; `true` if there was one. A session file left over from
    /// file storage is removed too, whichever backend is selected.
    pub fn delete(&self) -> Result<bool, SessionStoreError> {
        // The summary goes first: a half-finished delete must not leave a session that looks
        // valid to the dispatch gate.
        summary::remove(&self.summary_path)?;
        let mut deleted = false;
        if let Backend::Keychain(k) = &self.backend {
            deleted = k.delete()?;
        }
        Ok(file::remove(&self.file_path)? || deleted)
    }

    /// The session without its tokens, as last stored in the keychain: what the dispatch gate
    /// needs (who, until when) without the cost of a Secret Service round trip (about 10 ms).
    /// `None` for file storage (the file is read as cheaply) or when there is no summary.
    pub fn summary(&self) -> Option<Session> {
        match self.backend {
            Backend::Keychain(_) => summary::read(&self.summary_path),
            Backend::File => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::AuthError;
    use crate::commands::CliError;
    use crate::exit::Exit;
    use crate::secrets::Secret;

    fn session() -> Session {
        Session {
            access_token: Some(Secret::new("a".repeat(10))),
            refresh_token: Some(Secret::new("r".repeat(10))),
            expires_at: 2,
            obtained_at: 1,
            ..Session::new_record("https://idp.example".into(), "cli".into(), "alice".into())
        }
    }

    #[test]
    fn file_store_round_trip_is_private_and_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/sso-session.json");
        let store = Store {
            backend: Backend::File,
            file_path: path.clone(),
            summary_path: dir.path().join("cache/sso-summary.json"),
        };
        assert!(store.load().unwrap().is_none());
        let warning = store.save(&session()).unwrap();
        assert!(
            matches!(warning, Some(SessionWarning::PlaintextFile { path: ref p, .. }) if *p == path)
        );
        assert_eq!(store.load().unwrap(), Some(session()));
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

    /// What a command reports for a store failure that reached it through `?`.
    fn reported(e: SessionStoreError) -> CliError {
        let auth: AuthError = e.into();
        CliError::from(auth)
    }

    fn cause(cli: &CliError) -> &AuthError {
        cli.cause.downcast_ref().unwrap()
    }

    #[test]
    fn a_store_failure_is_reported_as_one_not_as_a_sign_in_or_network_failure() {
        // A session file lmi cannot read (here a directory): a real store failure.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sso-session.json");
        std::fs::create_dir(&path).unwrap();
        let store = Store {
            backend: Backend::File,
            file_path: path,
            summary_path: dir.path().join("sso-summary.json"),
        };
        let cli = reported(store.load().unwrap_err());
        assert!(
            matches!(cause(&cli), AuthError::Store(SessionStoreError::Failed(_))),
            "{cli:?}"
        );
        assert!(
            cli.to_string()
                .starts_with("cannot use the SSO session file"),
            "{cli}"
        );
        assert_eq!((cli.exit, cli.hint), (Exit::Failure, None));

        // An unreachable keychain: the message says how to fix it, the hint how to check.
        let cli = reported(SessionStoreError::Unavailable(
            "cannot read the SSO session from the Secret Service (no answer within 5 s): ..."
                .to_owned(),
        ));
        assert!(
            matches!(
                cause(&cli),
                AuthError::Store(SessionStoreError::Unavailable(_))
            ),
            "{cli:?}"
        );
        assert!(
            cli.to_string().starts_with("cannot read the SSO session"),
            "{cli}"
        );
        assert_eq!(cli.exit, Exit::Failure);
        assert_eq!(
            cli.hint,
            Some("`lmi doctor --offline` checks whether the keychain answers")
        );
    }
}
