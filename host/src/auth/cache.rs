//! The per-environment service-token cache: `~/.cache/lmi/tokens/<env>.json`, a 0600 file in
//! a 0700 directory, replaced atomically (temp file, fsync, rename), with `<env>.lock` beside
//! it.
//!
//! Invariants:
//! - Readers never take the lock: a file is either the old token or the new one.
//! - Whoever intends to fetch takes the lock, re-reads, and fetches only if the token it finds
//!   is still unusable, so concurrent processes share one token request.
//! - A token is discarded only if it is the one the caller saw rejected: a fresh token another
//!   process just wrote survives someone else's stale 401.
//! - A file that cannot be read or parsed is removed with a warning; it never stops lmi.
//! - Only the token and its metadata are stored, never client secrets or passwords.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A service access token: the one secret type (no `Display`, `Debug` prints `****`, the value
/// reachable only through `expose`, registered with the scrubber when made or read). It
/// serializes as the bare string, so the cache file's format is unchanged.
pub type AccessToken = crate::secrets::Secret<String>;

/// One cached token: what the token endpoint said, with absolute times (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedToken {
    pub access_token: AccessToken,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_at: u64,
    pub obtained_at: u64,
    /// A digest of the (non-secret) configuration the token was issued for; a token from an
    /// env since reconfigured is not reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_for: Option<String>,
}

/// Largest cache file read (a cached token is well under 1 KiB; a JWT a few KiB).
const CACHE_FILE_LIMIT: u64 = 256 << 10;

impl CachedToken {
    /// Usable at `now`: not within the safety margin of its expiry.
    pub fn is_fresh(&self, now: u64) -> bool {
        super::lifetime::is_fresh(self.obtained_at, self.expires_at, now)
    }
}

/// What the cache file held, for `auth status` (which never shows the token).
#[derive(Debug, Clone)]
pub enum CacheState {
    Missing,
    Present(CachedToken),
    /// The file exists but cannot be read or parsed (it will be discarded on next use).
    Unusable(String),
}

/// The cache of one environment.
#[derive(Debug, Clone)]
pub struct TokenCache {
    env: String,
    path: PathBuf,
    lock_path: PathBuf,
}

/// Every token cache file and lock of environment `env` in `token_dir`: `<env>.json` and
/// `<env>.lock`, and each named service's `<env>.<service>.json` and `.lock` (an environment
/// name holds no `.`, so `dev.` never matches `dev-eu`'s files). Sorted.
pub fn files_of_env(token_dir: &Path, env: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(token_dir) else {
        return Vec::new();
    };
    let prefix = format!("{env}.");
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return false;
            };
            let Some(stem) = name
                .strip_suffix(".json")
                .or_else(|| name.strip_suffix(".lock"))
            else {
                return false;
            };
            stem == env
                || stem
                    .strip_prefix(&prefix)
                    .is_some_and(|service| !service.is_empty() && !service.contains('.'))
        })
        .map(|entry| entry.path())
        .collect();
    files.sort();
    files
}

/// Held while a process decides whether to fetch and while it writes. Released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _lock: Option<crate::lockfile::LockedFile>,
}

impl TokenCache {
    pub fn new(token_dir: &Path, env: &str) -> Self {
        Self {
            env: env.to_owned(),
            path: token_dir.join(format!("{env}.json")),
            lock_path: token_dir.join(format!("{env}.lock")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inspects the file without changing anything. It is read only if lmi could have
    /// written it: a regular file, not a link, owned by this user and writable by nobody
    /// else, in a directory chain the same holds for (`fsutil::read_trusted`). Anything else
    /// may be a token planted by someone else, and is unusable.
    pub fn state(&self) -> CacheState {
        match crate::fsutil::read_trusted(&self.path, CACHE_FILE_LIMIT) {
            Err(e) if e.kind() == ErrorKind::NotFound => CacheState::Missing,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                CacheState::Unusable(format!("not trusted: {e}"))
            }
            Err(e) => CacheState::Unusable(format!("cannot read it: {e}")),
            Ok(bytes) => match serde_json::from_slice::<CachedToken>(&bytes) {
                Ok(t) => CacheState::Present(t),
                Err(e) => CacheState::Unusable(match e.classify() {
                    serde_json::error::Category::Data => {
                        "not a token cache (missing or mistyped fields)".to_owned()
                    }
                    _ => format!("not valid JSON (line {}, column {})", e.line(), e.column()),
                }),
            },
        }
    }

    /// The cached token, if the file holds one. A corrupt or unreadable file is removed with
    /// a warning and reads as empty.
    pub fn read(&self) -> Option<CachedToken> {
        match self.state() {
            CacheState::Missing => None,
            CacheState::Present(t) => Some(t),
            CacheState::Unusable(why) => {
                tracing::warn!(
                    "discarding the token cache {} of environment `{}`: {why}; a new token will be requested",
                    self.path.display(),
                    self.env
                );
                if let Err(e) = std::fs::remove_file(&self.path)
                    && e.kind() != ErrorKind::NotFound
                {
                    tracing::warn!("cannot remove {}: {e}", self.path.display());
                }
                None
            }
        }
    }

    /// Replaces the cache atomically (0600 file, 0700 directory).
    pub fn write(&self, token: &CachedToken) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(token).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(&self.path, &json)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Removes the cached token if it is `sent` (the one a service just rejected). Returns
    /// whether it did. Call with the lock held.
    pub fn discard_if(&self, sent: &AccessToken) -> bool {
        match self.state() {
            CacheState::Present(t) if &t.access_token == sent => {
                match std::fs::remove_file(&self.path) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!("cannot remove {}: {e}", self.path.display());
                        false
                    }
                }
            }
            _ => false,
        }
    }

    /// Takes the cache's lock, waiting up to `wait`. If the lock cannot be had (an unusable
    /// directory, a process stuck holding it), carries on without it after a warning: the
    /// worst case is one extra token request, never a hang or a failure.
    pub fn lock(&self, wait: Duration) -> CacheLock {
        match crate::lockfile::LockedFile::acquire(&self.lock_path, wait) {
            Ok(lock) => CacheLock { _lock: Some(lock) },
            Err(e) => {
                tracing::warn!("{e}; continuing without the lock");
                CacheLock { _lock: None }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(value: &str, obtained_at: u64, expires_at: u64) -> CachedToken {
        CachedToken {
            access_token: AccessToken::new(value.into()),
            token_type: "Bearer".into(),
            scope: Some("api:read".into()),
            expires_at,
            obtained_at,
            issued_for: None,
        }
    }

    #[test]
    fn freshness_keeps_a_safety_margin() {
        let t = token("t1", 1000, 1000 + 3600);
        assert!(t.is_fresh(1000));
        assert!(t.is_fresh(1000 + 3600 - 61));
        assert!(!t.is_fresh(1000 + 3600 - 60));
        let short = token("t2", 1000, 1010);
        assert!(short.is_fresh(1008));
        assert!(!short.is_fresh(1009));
    }

    #[test]
    fn token_never_prints() {
        let t = token("very-secret-token", 0, 10);
        assert_eq!(format!("{:?}", t.access_token), "Secret(****)");
        assert!(!format!("{t:?}").contains("very-secret-token"));
    }

    #[test]
    fn write_read_discard_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(&dir.path().join("tokens"), "dev");
        assert!(cache.read().is_none());
        let t = token("abc-123", 1, 2);
        cache.write(&t).unwrap();
        assert_eq!(cache.read(), Some(t.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(dir.path().join("tokens"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        assert!(!cache.discard_if(&AccessToken::new("other".into())));
        assert!(cache.discard_if(&t.access_token));
        assert!(cache.read().is_none());

        std::fs::write(cache.path(), b"{not json").unwrap();
        assert!(matches!(cache.state(), CacheState::Unusable(_)));
        assert!(cache.read().is_none());
        assert!(!cache.path().exists());
    }

    #[test]
    fn an_environments_files_are_its_own_and_its_services() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "dev.json",
            "dev.lock",
            "dev.billing.json",
            "dev.billing.lock",
            "dev-eu.json",
            "dev-eu.lock",
            "devx.json",
            "dev.a.b.json",
            "dev.txt",
            "prod.json",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<_> = files_of_env(dir.path(), "dev")
            .into_iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "dev.billing.json",
                "dev.billing.lock",
                "dev.json",
                "dev.lock"
            ]
        );
        assert!(files_of_env(&dir.path().join("missing"), "dev").is_empty());
    }

    #[test]
    fn lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "dev");
        let held = cache.lock(Duration::from_secs(1));
        let path = dir.path().join("dev.lock");
        assert!(crate::lockfile::LockedFile::try_acquire(&path).is_none());
        drop(held);
        assert!(crate::lockfile::LockedFile::try_acquire(&path).is_some());
    }
}
