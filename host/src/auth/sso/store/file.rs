//! The opted-in session file (`LMI_SSO_STORAGE=file`): `~/.local/share/lmi/sso-session.json`,
//! written atomically and mode 0600, read only if the user alone could have written it (a
//! planted or shared file would fix the session to someone else's tokens).

use std::path::Path;

use super::SessionStoreError;

/// The largest session file lmi reads (a record is about 2.5 KB at most).
pub const RECORD_LIMIT: u64 = 64 * 1024;

/// The file's bytes, or `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, SessionStoreError> {
    match crate::fsutil::read_trusted(path, RECORD_LIMIT) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SessionStoreError::Failed(format!(
            "cannot use the SSO session file {}: {e}",
            path.display()
        ))),
    }
}

/// Replaces the file with `bytes`, readable only by the user.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), SessionStoreError> {
    crate::fsutil::write_atomic(path, bytes)
        .and_then(|()| restrict(path))
        .map_err(|e| {
            SessionStoreError::Failed(format!(
                "cannot write the SSO session file {}: {e}",
                path.display()
            ))
        })
}

/// Removes the file; `true` if there was one.
pub fn remove(path: &Path) -> Result<bool, SessionStoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SessionStoreError::Failed(format!(
            "cannot remove the SSO session file {}: {e}",
            path.display()
        ))),
    }
}

fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = path;
    Ok(())
}
