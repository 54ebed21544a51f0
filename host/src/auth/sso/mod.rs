//! The user's SSO session: `lmi login sso` ([`login`]), the session plugins and the
//! `requires_sso` gate see ([`current_user`]), `lmi auth refresh` ([`refresh`]), `lmi auth
//! status` ([`status`]) and `lmi logout sso` ([`logout`]).
//!
//! Layout: `config` (keys, discovery, the loopback-only `http://` rule), `flow` (the browser
//! and device logins), `callback` (the loopback listener), `browser` (opening it), `token`
//! (the provider's form endpoints), `id_token` (validation against the JWKS), `store` (the
//! keychain or, opted into, a 0600 file).
//!
//! Invariants:
//! - Raw SSO tokens never leave this module: plugins get [`SsoUser`] (subject, email, name,
//!   expiry) and nothing else.
//! - A valid session is read without network or lock. An expired access token is refreshed
//!   under `~/.cache/lmi/sso.lock`: the process that gets the lock re-reads the store and
//!   refreshes only if the token is still expired, so concurrent processes refresh once and a
//!   rotated refresh token is never presented twice.
//! - Nothing here opens a browser except [`login`]: the gate and plugins fail with exit 4
//!   (`run: lmi login sso`) instead.
//! - A refresh token the provider rejects (`invalid_grant`) ends the session locally too.
//! - A refresh stores the provider's answer (a rotated refresh token spends the old one)
//!   before it checks the new ID token. An ID token that cannot be checked now (keys out of
//!   reach) or whose time claims disagree with the clock keeps the new tokens, with a
//!   warning; one that is not the user's (signature, issuer, audience, subject) has the new
//!   refresh token revoked before the session is deleted.

pub mod answers;
mod browser;
mod callback;
pub mod config;
mod flow;
mod id_token;
mod safe_url;
pub mod store;
mod token;

use std::time::Duration;

use serde::Serialize;

use super::AuthError;
use super::http::Http;
use super::lifetime;
use super::lifetime::now_secs;
use crate::output;
use crate::settings::Settings;
use config::{Purpose, SsoConfig};
use id_token::{Expect, KeySource, Refreshed};
use store::{Secret, Session, Store};

pub use flow::{LoginOptions, LoginOutcome, login};

/// What plugins and `auth status` may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoUser {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// When the current access token expires (unix seconds); refreshed silently after that.
    pub expires_at: u64,
}

impl SsoUser {
    /// Email, else name, else subject: how messages name the user.
    pub fn display_name(&self) -> &str {
        self.email
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.subject)
    }
}

/// The SSO part of `lmi auth status` (serialised as its `"sso"` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoStatus {
    /// A valid session exists (after a silent refresh if one was due).
    pub authenticated: bool,
    pub subject: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    /// `keychain` or `file` (`LMI_SSO_STORAGE`).
    pub storage: String,
    /// The keychain item or the file path.
    pub location: Option<String>,
    /// `OAUTH_SSO_CLIENT_ID` is set.
    pub configured: bool,
    /// Why the session is not usable, when something went wrong (not when merely signed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The keychain account of a provider and client.
fn account(cfg: &SsoConfig) -> String {
    format!("{}@{}", cfg.client_id, cfg.issuer_base())
}

fn user_of(s: &Session) -> SsoUser {
    SsoUser {
        subject: s.sub.clone(),
        email: s.email.clone(),
        name: s.name.clone(),
        expires_at: s.expires_at,
    }
}

/// The stored session, if it belongs to the configured provider and client.
fn usable(session: Option<Session>, cfg: &SsoConfig) -> Option<Session> {
    session.filter(|s| {
        s.client_id == cfg.client_id && s.iss.trim_end_matches('/') == cfg.issuer_base()
    })
}

/// The access token is usable at `now`, with a margin of 10% of its lifetime (at most 60 s).
/// Judged by the expiry alone: a record may hold no access token (see `store`).
fn is_fresh(s: &Session, now: u64) -> bool {
    lifetime::is_fresh(s.obtained_at, s.expires_at, now)
}

/// The current valid session's user, refreshing silently if needed; `None` when signed out
/// (or SSO is not configured). Never opens a browser.
pub fn current_user(settings: &Settings) -> Result<Option<SsoUser>, AuthError> {
    let Some(cfg) = SsoConfig::load_optional(settings)? else {
        return Ok(None);
    };
    let store = Store::new(settings, &account(&cfg))?;
    current_user_in(settings, &cfg, &store)
}

/// [`current_user`] when it can be answered from configuration and the token-free summary
/// alone (no keychain, no network): signed out, SSO not configured, or a fresh session.
/// `None` means the keychain must be asked.
pub fn current_user_without_keychain(
    settings: &Settings,
) -> Option<Result<Option<SsoUser>, AuthError>> {
    let cfg = match SsoConfig::load_optional(settings) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return Some(Ok(None)),
        Err(e) => return Some(Err(e.into())),
    };
    let store = match Store::new(settings, &account(&cfg)) {
        Ok(store) => store,
        Err(e) => return Some(Err(e.into())),
    };
    let summary = usable(store.summary(), &cfg)?;
    is_fresh(&summary, now_secs()).then(|| Ok(Some(user_of(&summary))))
}

fn current_user_in(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
) -> Result<Option<SsoUser>, AuthError> {
    // A fresh session is answered from its token-free summary; the keychain is consulted
    // only when the session must be renewed (or there is no summary).
    if let Some(summary) = usable(store.summary(), cfg)
        && is_fresh(&summary, now_secs())
    {
        return Ok(Some(user_of(&summary)));
    }
    let loaded = store.load()?;
    user_of_loaded(settings, cfg, store, loaded)
}

/// The signed-in user as stored, without renewing anything (no network): a fresh session, or
/// an expired one that still holds a refresh token. For plugin host calls, which the run's
/// deadline may abandon at any moment: a refresh abandoned after the provider rotated the
/// refresh token, and before lmi stored the new one, would lose the session.
pub fn stored_user(settings: &Settings) -> Result<Option<SsoUser>, AuthError> {
    let Some(cfg) = SsoConfig::load_optional(settings)? else {
        return Ok(None);
    };
    let store = Store::new(settings, &account(&cfg))?;
    if let Some(summary) = usable(store.summary(), &cfg)
        && is_fresh(&summary, now_secs())
    {
        return Ok(Some(user_of(&summary)));
    }
    Ok(usable(store.load()?, &cfg)
        .filter(|s| is_fresh(s, now_secs()) || s.refresh_token.is_some())
        .map(|s| user_of(&s)))
}

/// [`current_user_in`] for a record already read from `store`.
fn user_of_loaded(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
    loaded: Option<Session>,
) -> Result<Option<SsoUser>, AuthError> {
    let Some(session) = usable(loaded, cfg) else {
        return Ok(None);
    };
    if is_fresh(&session, now_secs()) {
        return Ok(Some(user_of(&session)));
    }
    tracing::info!("the SSO access token has expired; refreshing it");
    refresh_in(settings, cfg, store, false).map(Some)
}

/// `lmi auth refresh`: refreshes the session now, whether or not it is due.
pub fn refresh(settings: &Settings) -> Result<SsoUser, AuthError> {
    let cfg = SsoConfig::load(settings)?;
    let store = Store::new(settings, &account(&cfg))?;
    refresh_in(settings, &cfg, &store, true)
}

/// The SSO part of `lmi auth status`. May refresh silently; never fails.
pub fn status(settings: &Settings) -> SsoStatus {
    let mut st = SsoStatus {
        authenticated: false,
        subject: None,
        email: None,
        name: None,
        expires_at: None,
        storage: store::storage_kind(settings)
            .unwrap_or("keychain")
            .to_owned(),
        location: None,
        configured: false,
        error: None,
    };
    let cfg = match SsoConfig::load_optional(settings) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return st,
        Err(e) => {
            st.configured = true;
            st.error = Some(e.to_string());
            return st;
        }
    };
    st.configured = true;
    let store = match Store::new(settings, &account(&cfg)) {
        Ok(s) => s,
        Err(e) => {
            st.error = Some(e.to_string());
            return st;
        }
    };
    st.location = Some(store.location());
    match current_user_in(settings, &cfg, &store) {
        Ok(Some(u)) => {
            st.authenticated = true;
            st.subject = Some(u.subject);
            st.email = u.email;
            st.name = u.name;
            st.expires_at = Some(u.expires_at);
        }
        Ok(None) => {}
        Err(e) => st.error = Some(e.to_string()),
    }
    st
}

/// What `lmi logout sso` did at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The provider confirmed the revocation of the refresh (or access) token.
    Revoked,
    /// The provider has no revocation endpoint.
    NotOffered,
    /// It could not be done; the message says why. The session is deleted locally anyway.
    Failed(String),
}

/// One session `lmi logout sso` ended.
#[derive(Debug, Clone)]
pub struct SignedOut {
    pub user: SsoUser,
    /// The issuer and client it was issued by.
    pub issuer: String,
    pub client_id: String,
    pub revocation: Revocation,
    /// It belongs to the configured provider and client (else to an earlier configuration).
    pub current: bool,
    /// Where it was stored.
    pub location: String,
}

#[derive(Debug, Clone)]
pub struct LogoutOutcome {
    /// The sessions found and ended (none: nobody was signed in; nothing was revoked).
    pub sessions: Vec<SignedOut>,
}

/// `lmi logout sso`: ends every session lmi stored — the configured provider's and any left
/// from an earlier configuration (another client id or issuer). Each refresh token is revoked
/// at its own provider with its own client (RFC 7009) when that provider offers revocation,
/// then the session is deleted locally whatever the provider answered.
pub fn logout(settings: &Settings) -> Result<LogoutOutcome, AuthError> {
    let cfg = SsoConfig::load_optional(settings)?;
    let _lock = RefreshLock::take(settings)?;
    let mut accounts: Vec<String> = cfg.iter().map(account).collect();
    if store::storage_kind(settings)? == "keychain" {
        for known in store::stored_accounts(settings) {
            if !accounts.contains(&known) {
                accounts.push(known);
            }
        }
    } else {
        // One file holds the one session, whatever its provider.
        accounts.truncate(1);
        if accounts.is_empty() {
            accounts.push(String::new());
        }
    }
    let mut sessions = Vec::new();
    for acct in accounts {
        let store = Store::new(settings, &acct)?;
        let Some(session) = store.load()? else {
            store.delete()?;
            continue;
        };
        let current = cfg
            .as_ref()
            .filter(|c| usable(Some(session.clone()), c).is_some());
        let revocation = revoke(settings, current, &session);
        store.delete()?;
        sessions.push(SignedOut {
            user: user_of(&session),
            issuer: session.iss.clone(),
            client_id: session.client_id.clone(),
            revocation,
            current: current.is_some(),
            location: store.location(),
        });
    }
    Ok(LogoutOutcome { sessions })
}

/// Revokes the session's refresh token (else its access token) where it was issued: with the
/// configuration's endpoints when it is the configured provider's (`current`), else at the
/// revocation endpoint recorded at sign-in or found by discovery on its own issuer.
fn revoke(settings: &Settings, current: Option<&SsoConfig>, session: &Session) -> Revocation {
    let (token, hint) = match (&session.refresh_token, &session.access_token) {
        (Some(rt), _) => (rt, "refresh_token"),
        (None, Some(at)) => (at, "access_token"),
        (None, None) => return Revocation::Failed("the session holds no token".to_owned()),
    };
    let http = match Http::new(settings) {
        Ok(h) => h,
        Err(e) => return Revocation::Failed(e.to_string()),
    };
    let url = match revocation_url(&http, current, session) {
        Ok(Some(url)) => url,
        Ok(None) => return Revocation::NotOffered,
        Err(e) => return Revocation::Failed(e),
    };
    match token::revoke(&http, &url, &session.client_id, token.expose(), hint) {
        Ok(()) => Revocation::Revoked,
        Err(e) => Revocation::Failed(e.to_string()),
    }
}

fn revocation_url(
    http: &Http,
    current: Option<&SsoConfig>,
    session: &Session,
) -> Result<Option<url::Url>, String> {
    let from_config = |cfg: &SsoConfig| {
        cfg.endpoints(http, Purpose::Logout)
            .map(|ep| ep.revocation)
            .map_err(|e| e.to_string())
    };
    if let Some(cfg) = current {
        return from_config(cfg);
    }
    if let Some(raw) = &session.revocation_endpoint {
        return config::check_url_from("revocation_endpoint", "the stored SSO session", raw)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let cfg =
        SsoConfig::for_session(&session.iss, &session.client_id).map_err(|e| e.to_string())?;
    from_config(&cfg)
}

/// Renews the session with its refresh token, under the refresh lock. Unless `force`, a
/// session another process renewed meanwhile is used as it is.
fn refresh_in(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
    force: bool,
) -> Result<SsoUser, AuthError> {
    let _lock = RefreshLock::take(settings)?;
    let Some(session) = usable(store.load()?, cfg) else {
        return Err(AuthError::SsoRequired(
            "you are not signed in with SSO".to_owned(),
        ));
    };
    if !force && is_fresh(&session, now_secs()) {
        tracing::info!("another lmi process refreshed the SSO session meanwhile");
        return Ok(user_of(&session));
    }
    let Some(refresh_token) = session.refresh_token.clone() else {
        return Err(AuthError::SsoRequired(if force {
            "the SSO session cannot be refreshed: the identity provider issued no refresh token"
                .to_owned()
        } else {
            "your SSO session has expired and the identity provider issued no refresh token"
                .to_owned()
        }));
    };
    let failed = |e: &dyn std::fmt::Display| {
        AuthError::Failed(format!("cannot refresh the SSO session: {e}"))
    };
    let http = Http::new(settings)?;
    let ep = cfg.endpoints(&http, Purpose::Refresh)?;
    let answer = token::request(
        &http,
        ep.token()?,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", &cfg.client_id),
        ],
    );
    let tokens = match answer {
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
        Err(token::TokenError::Http(e)) => {
            return Err(AuthError::Network(format!(
                "cannot refresh the SSO session: {e}"
            )));
        }
        Err(e) => return Err(failed(&e)),
    };
    // Persist first: the provider may have spent the old refresh token (rotation), so the
    // new one must survive whatever happens next (an unreachable JWKS, a kill, a bad token).
    let now = now_secs();
    let mut next = session.clone();
    let lifetime_secs = tokens.lifetime_secs();
    next.access_token = Some(Secret::new(tokens.access_token));
    if let Some(rotated) = tokens.refresh_token {
        next.refresh_token = Some(Secret::new(rotated));
    }
    next.obtained_at = now;
    next.expires_at = lifetime::expiry_after(now, lifetime_secs);
    store.save(&next).map_err(|e| {
        AuthError::Failed(format!(
            "the SSO session was refreshed but cannot be stored: {e}"
        ))
    })?;
    if let Some(raw) = tokens.id_token.as_deref() {
        let mut keys = KeySource::new(&http, ep.jwks()?.clone());
        let expect = Expect {
            issuer: &ep.issuer,
            client_id: &cfg.client_id,
            nonce: None,
            subject: Some(&session.sub),
        };
        match id_token::check_refreshed(raw, &mut keys, expect, now) {
            Refreshed::Valid(claims) => {
                let (email, name) = (
                    claims.email.or(next.email.clone()),
                    claims.name.or(next.name.clone()),
                );
                if (&email, &name) != (&next.email, &next.name) {
                    next.email = email;
                    next.name = name;
                    if let Err(e) = store.save(&next) {
                        tracing::warn!("cannot store the SSO user's updated name and email: {e}");
                    }
                }
            }
            Refreshed::Unverifiable(why) => output::warn(format_args!(
                "the identity provider's refreshed ID token could not be checked now ({why}); the new tokens were kept and your name and email were not updated"
            )),
            Refreshed::ClockSkew(why) => output::warn(format_args!(
                "the identity provider's refreshed ID token disagrees with this computer's clock ({why}); check the clock; the new tokens were kept and your name and email were not updated"
            )),
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
    Ok(user_of(&next))
}

/// How long a process waits for another one's refresh.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// `~/.cache/lmi/sso.lock`, held while refreshing, storing or deleting the session.
struct RefreshLock {
    _lock: Option<crate::lockfile::LockedFile>,
}

impl RefreshLock {
    /// Waits for another process's refresh; refuses after `LOCK_WAIT` (two processes must
    /// not both spend a rotating refresh token). An unusable lock file is not worth failing
    /// a sign-in for: the refresh goes on without it.
    fn take(settings: &Settings) -> Result<Self, AuthError> {
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

/// A duration in words: `4m 58s`.
pub fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(obtained_at: u64, expires_at: u64) -> Session {
        Session {
            access_token: Some(Secret::new("at-123456".into())),
            obtained_at,
            expires_at,
            ..Session::new_record("https://idp".into(), "cli".into(), "alice".into())
        }
    }

    #[test]
    fn freshness_keeps_a_margin() {
        assert!(is_fresh(&session(1000, 1300), 1200));
        assert!(!is_fresh(&session(1000, 1300), 1270));
        assert!(is_fresh(&session(1000, 1002), 1001));
        assert!(!is_fresh(&session(1000, 1002), 1002));
    }
}
