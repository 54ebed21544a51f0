//! `~/.cache/lmi/sso-summary.json`: the keychain session without its tokens (who, until
//! when), so the dispatch gate answers a fresh session without a keychain round trip.
//! Best effort both ways: without it the gate simply asks the keychain.

use std::path::{Path, PathBuf};

use super::SessionStoreError;
use super::file::RECORD_LIMIT;
use crate::auth::sso::session::{RECORD_VERSION, Session};
use crate::settings::Settings;

pub fn path(settings: &Settings) -> PathBuf {
    settings.paths().cache_dir().join("sso-summary.json")
}

/// The summary, if there is one lmi can trust: written by the user alone (a planted summary
/// would pass the gate as someone else; refused, the keychain is asked instead), of this
/// record version and holding no token.
pub fn read(path: &Path) -> Option<Session> {
    let bytes = match crate::fsutil::read_trusted(path, RECORD_LIMIT) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!("ignoring the SSO session summary: {e}");
            return None;
        }
    };
    serde_json::from_slice::<Session>(&bytes)
        .ok()
        .filter(|s| s.v == RECORD_VERSION && s.access_token.is_none() && s.refresh_token.is_none())
}

/// Writes the token-free summary of `session` (0600).
pub fn write(path: &Path, session: &Session) {
    let written = serde_json::to_vec(&session.without_tokens())
        .map_err(std::io::Error::other)
        .and_then(|b| crate::fsutil::write_atomic(path, &b));
    if let Err(e) = written {
        tracing::debug!("cannot write {}: {e}", path.display());
    }
}

/// Removes the summary (absent is fine).
pub fn remove(path: &Path) -> Result<(), SessionStoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SessionStoreError::Failed(format!(
            "cannot remove {}: {e}",
            path.display()
        ))),
    }
}
