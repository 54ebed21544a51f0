//! Renewing the session with its refresh token, under `~/.cache/lmi/sso.lock`.
//!
//! Invariants:
//! - The process that gets the lock re-reads the store and refreshes only if the token is
//!   still expired (unless forced), so concurrent processes refresh once.
//! - A refresh token the provider rejects (`invalid_grant`) ends the session locally too; a
//!   provider that cannot be reached leaves the session as it was.
//! - The provider's answer is stored before the new ID token is checked: a rotated refresh
//!   token spends the old one, so the new one must survive an unreachable JWKS, a kill or a
//!   bad token. An ID token that cannot be checked now (keys out of reach) or whose time claims
//!   disagree with the clock keeps the new tokens, with a warning; one that is not the user's
//!   (signature, issuer, audience, subject) has the new refresh token revoked before the
//!   session is deleted.

use std::time::Duration;

use super::config::SsoConfig;
use super::discovery::Purpose;
use super::groups;
use super::id_token::{self, Expect, KeySource, Refreshed};
use super::logout::{Revocation, revoke};
use super::session::{IdTokenRecord, Session, SessionWarning, usable};
use super::store::Store;
use super::token::{self, TokenRequestError};
use super::{SsoUser, account};
use crate::auth::AuthError;
use crate::auth::http::Http;
use crate::auth::lifetime::{self, now_secs};
use crate::settings::Settings;

/// How long a process waits for another one's refresh.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// A renewed (or still valid) session, and what the user should know about the renewal.
#[derive(Debug, Clone)]
pub struct Renewal {
    pub user: SsoUser,
    pub warnings: Vec<SessionWarning>,
}

impl Renewal {
    pub(super) fn unchanged(user: SsoUser) -> Self {
        Self {
            user,
            warnings: Vec::new(),
        }
    }
}

/// `lmi auth refresh`: refreshes the session now, whether or not it is due.
pub fn refresh(settings: &Settings) -> Result<Renewal, AuthError> {
    let cfg = SsoConfig::load(settings)?;
    let store = Store::new(settings, &account(&cfg))?;
    renew(settings, &cfg, &store, true)
}

/// Renews the session with its refresh token, under the refresh lock. Unless `force`, a
/// session another process renewed meanwhile is used as it is.
pub(super) fn renew(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
    force: bool,
) -> Result<Renewal, AuthError> {
    let still_good = |s: &Session, now: u64| !force && s.is_fresh(now);
    let (session, warnings) = renew_unless(settings, cfg, store, &still_good)?;
    Ok(Renewal {
        user: session.user(),
        warnings,
    })
}

/// Renews the session under the refresh lock unless the session read under the lock is
/// `still_good` (another process renewed it meanwhile): the one refresh, whatever the caller
/// needs fresh (the access token, or the ID token `credential kube` hands out). Returns the
/// session as stored afterwards.
pub(super) fn renew_unless(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
    still_good: &dyn Fn(&Session, u64) -> bool,
) -> Result<(Session, Vec<SessionWarning>), AuthError> {
    let _lock = RefreshLock::take(settings)?;
    let Some(session) = usable(store.load()?, cfg) else {
        return Err(AuthError::SsoRequired(
            "you are not signed in with SSO".to_owned(),
        ));
    };
    if still_good(&session, now_secs()) {
        tracing::info!("another lmi process refreshed the SSO session meanwhile");
        return Ok((session, Vec::new()));
    }
    let Some(refresh_token) = session.refresh_token.clone() else {
        return Err(AuthError::SsoRequired(if session.is_fresh(now_secs()) {
            "the SSO session cannot be refreshed: the identity provider issued no refresh token"
                .to_owned()
        } else {
            "your SSO session has expired and the identity provider issued no refresh token"
                .to_owned()
        }));
    };
    let http = Http::for_process(settings)?;
    let ep = cfg.endpoints(&http, Purpose::Refresh)?;
    let tokens = match token::refresh(&http, ep.token()?, cfg.client(), &refresh_token) {
        Ok(t) => t,
        Err(e) if e.oauth_code() == Some("invalid_grant") => {
            if let Err(del) = store.delete() {
                tracing::warn!("cannot delete the rejected SSO session: {del}");
            }
            return Err(AuthError::SsoRequired(format!(
                "the identity provider no longer accepts your SSO session ({e}); it was removed"
            )));
        }
        // The provider was not reached: the session stays as it was, for another try.
        Err(TokenRequestError::Http(cause)) => {
            return Err(AuthError::Http {
                context: "cannot refresh the SSO session".to_owned(),
                cause,
            });
        }
        Err(e) => {
            return Err(AuthError::Failed(format!(
                "cannot refresh the SSO session: {e}"
            )));
        }
    };
    // Persist first (see the module documentation).
    let now = now_secs();
    let mut next = session.clone();
    // The session's end moves when the answer states one. One that states nothing leaves the
    // end known before (a provider's session end stands unless it says otherwise), unless
    // this refresh outlived it, which proves it wrong: then it is unknown.
    next.session_ends_at = tokens
        .session_end(now)
        .or(session.session_ends_at.filter(|&end| end > now));
    let lifetime_secs = tokens.lifetime_secs();
    next.access_token = Some(tokens.access_token);
    if let Some(rotated) = tokens.refresh_token {
        next.refresh_token = Some(rotated);
    }
    next.obtained_at = now;
    next.expires_at = lifetime::expiry_after(now, lifetime_secs);
    let mut warnings = Vec::new();
    let stored = store.save(&next).map_err(|e| {
        AuthError::Failed(format!(
            "the SSO session was refreshed but cannot be stored: {e}"
        ))
    })?;
    warnings.extend(stored);
    if let Some(raw) = &tokens.id_token {
        let mut keys = KeySource::new(&http, ep.jwks()?.clone());
        let expect = Expect {
            issuer: &ep.issuer,
            issuer_alias: cfg.profile.provider.issuer_alias(&ep.issuer),
            client_id: &cfg.client_id,
            nonce: None,
            subject: Some(&session.sub),
        };
        match id_token::check_refreshed(raw.expose(), &mut keys, expect, now) {
            Refreshed::Valid(claims) => {
                // Kept only once verified: `credential kube` hands it to other tools.
                next.id_token = Some(IdTokenRecord::verified(raw.clone(), claims.exp, now));
                let login_name = claims.login_name();
                let (email, name) = (
                    claims.email.or(next.email.clone()),
                    claims.name.or(next.name.clone()),
                );
                // A token without `email` names the user by its login name (an earlier
                // email kept above still wins for display).
                let login_name = login_name.or(next.login_name.clone());
                // The groups as the provider states them now: one taken away since the last
                // token is gone from the next check.
                let groups = groups::capture(&claims.verified, &settings.group_claims_to_capture());
                next.email = email;
                next.name = name;
                next.login_name = login_name;
                next.groups = groups;
                if let Err(e) = store.save(&next) {
                    tracing::warn!(
                        "cannot store the SSO user's updated name, email, groups and ID token: {e}"
                    );
                }
            }
            Refreshed::Unverifiable(why) => warnings.push(SessionWarning::IdTokenUnverifiable(why)),
            Refreshed::ClockSkew(why) => warnings.push(SessionWarning::IdTokenClockSkew(why)),
            Refreshed::Rejected(why) => {
                // Not the user's token: the new refresh token is revoked (best effort) so it
                // is not left valid anywhere, then the session ends.
                if let Revocation::Failed(e) = revoke(settings, Some(cfg), &next) {
                    tracing::warn!("cannot revoke the rejected session's refresh token: {e}");
                }
                if let Err(e) = store.delete() {
                    tracing::warn!("cannot delete the rejected SSO session: {e}");
                }
                return Err(AuthError::Failed(format!(
                    "the identity provider's refreshed ID token was rejected: {why}; the session was revoked and removed"
                )));
            }
        }
    }
    tracing::info!("SSO session refreshed; valid until {}", next.expires_at);
    Ok((next, warnings))
}

/// `~/.cache/lmi/sso.lock`, held while refreshing, storing or deleting the session.
pub(super) struct RefreshLock {
    _lock: Option<crate::lockfile::LockedFile>,
}

impl RefreshLock {
    /// Waits for another process's refresh; refuses after `LOCK_WAIT` (two processes must
    /// not both spend a rotating refresh token). An unusable lock file is not worth failing
    /// a sign-in for: the refresh goes on without it.
    pub(super) fn take(settings: &Settings) -> Result<Self, AuthError> {
        let path = settings.paths().cache_dir().join("sso.lock");
        match crate::lockfile::LockedFile::acquire(&path, LOCK_WAIT) {
            Ok(lock) => Ok(Self { _lock: Some(lock) }),
            Err(e @ crate::lockfile::LockError::Busy { .. }) => {
                Err(AuthError::Failed(e.to_string()))
            }
            Err(e) => {
                tracing::warn!("{e}; refreshing without the lock");
                Ok(Self { _lock: None })
            }
        }
    }
}
