//! `lmi logout sso`: ends every session lmi stored — the configured provider's and any left
//! from an earlier configuration (another client id or issuer). Each refresh token is revoked
//! at its own provider with its own client (RFC 7009) when that provider offers revocation,
//! then the session is deleted locally whatever the provider answered.

use super::config::{self, SsoConfig};
use super::discovery::Purpose;
use super::profile::Provider;
use super::refresh::RefreshLock;
use super::session::{Session, usable};
use super::store::{self, Store};
use super::{SsoUser, account, token};
use crate::auth::AuthError;
use crate::auth::http::Http;
use crate::settings::Settings;

/// What `lmi logout sso` did at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The provider confirmed the revocation of the refresh (or access) token.
    Revoked,
    /// The provider has no revocation endpoint; what therefore stays valid there, in words
    /// (`profile::Provider::without_revocation`).
    NotOffered(&'static str),
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
    /// The SSO configuration could not be read (why): each session was still ended, with
    /// what its record names (its issuer, client and revocation endpoint).
    pub config_error: Option<String>,
}

/// Ends every stored session (see the module documentation).
pub fn logout(settings: &Settings) -> Result<LogoutOutcome, AuthError> {
    // A configuration lmi cannot read must not keep anyone signed in: the sessions are
    // found through the account index and revoked where their records say.
    let (cfg, config_error) = match SsoConfig::load_optional(settings) {
        Ok(cfg) => (cfg, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let _lock = RefreshLock::take(settings)?;
    let mut accounts: Vec<String> = cfg.iter().map(account).collect();
    if store::storage_kind(settings)? == "keychain" {
        for known in store::keychain::stored_accounts(settings) {
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
            user: session.user(),
            issuer: session.iss.clone(),
            client_id: session.client_id.clone(),
            revocation,
            current: current.is_some(),
            location: store.location(),
        });
    }
    Ok(LogoutOutcome {
        sessions,
        config_error,
    })
}

/// Revokes the session's refresh token (else its access token) where it was issued: with the
/// configuration's endpoints when it is the configured provider's (`current`), else at the
/// revocation endpoint recorded at sign-in or found by discovery on its own issuer.
pub(super) fn revoke(
    settings: &Settings,
    current: Option<&SsoConfig>,
    session: &Session,
) -> Revocation {
    let (token, kind) = match (&session.refresh_token, &session.access_token) {
        (Some(rt), _) => (rt, token::Revocable::RefreshToken),
        (None, Some(at)) => (at, token::Revocable::AccessToken),
        (None, None) => return Revocation::Failed("the session holds no token".to_owned()),
    };
    let http = match Http::for_process(settings) {
        Ok(h) => h,
        Err(e) => return Revocation::Failed(e.to_string()),
    };
    let url = match revocation_url(&http, current, session) {
        Ok(Some(url)) => url,
        Ok(None) => {
            let provider = match current {
                Some(cfg) => cfg.profile.provider,
                None => url::Url::parse(&session.iss)
                    .ok()
                    .and_then(|iss| Provider::detect(&iss))
                    .unwrap_or(Provider::Generic),
            };
            return Revocation::NotOffered(provider.without_revocation());
        }
        Err(e) => return Revocation::Failed(e),
    };
    let client = match current {
        Some(cfg) => cfg.client(),
        None => token::Client {
            id: &session.client_id,
            secret: None,
        },
    };
    match token::revoke(&http, &url, client, token, kind) {
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
