//! Who is signed in: the gate's and plugins' questions ([`current_user`], [`stored_user`])
//! and the SSO part of `lmi auth status` ([`status`]).
//!
//! A fresh session is answered from the token-free summary; the keychain is consulted only
//! when the session must be renewed (or there is no summary). A renewal here is silent: its
//! warnings go to the log (`tracing`), since no command asked for it.

use serde::Serialize;

use super::config::SsoConfig;
use super::groups::GroupClaims;
use super::session::{Session, usable};
use super::store::{self, Store};
use super::{SsoUser, account, refresh};
use crate::auth::AuthError;
use crate::auth::lifetime::now_secs;
use crate::settings::Settings;

/// The SSO part of `lmi auth status` (serialised as its `"sso"` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SsoStatus {
    /// A valid session exists (after a silent refresh if one was due).
    pub authenticated: bool,
    pub subject: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `preferred_username` or `upn` when the ID token has no `email`, with its claim.
    pub login_name: Option<super::LoginName>,
    /// The claim the user is shown by: `email`, `preferred_username`, `upn`, `name`, `sub`.
    pub named_by: Option<&'static str>,
    /// When the access token expires, unix seconds.
    pub expires_at: Option<u64>,
    /// When the session ends (unix seconds), if the provider said: `refresh_expires_in` or
    /// the refresh token's `exp` at sign-in or the last refresh; `null` when it did not (the
    /// session lasts until the provider ends it). Read from the token-free summary.
    pub session_ends_at: Option<u64>,
    /// `keychain` or `file` (`LMI_SSO_STORAGE`).
    pub storage: String,
    /// The keychain item or the file path.
    pub location: Option<String>,
    /// `OAUTH_SSO_CLIENT_ID` is set.
    pub configured: bool,
    /// The provider profile in use (`entra`, `okta`, …, `generic`), when configured.
    pub provider: Option<&'static str>,
    /// The profile and how it was chosen, in words (`okta: Okta (detected from the issuer)`).
    pub provider_profile: Option<String>,
    /// Why the session is not usable, when something went wrong (not when merely signed out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The group claims kept from the last verified ID token, by claim name (only the claims
    /// an environment policy checks are kept).
    #[serde(skip_serializing_if = "GroupClaims::is_empty")]
    pub groups: GroupClaims,
    /// The signed-in user, for the policy verdicts `auth status` shows.
    #[serde(skip)]
    pub user: Option<SsoUser>,
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
    summary
        .is_fresh(now_secs())
        .then(|| Ok(Some(summary.user())))
}

/// Who is signed in, for the audit trail: the subject of the configured provider's session,
/// fresh or due for a silent refresh, read from the token-free summary (or, with
/// `LMI_SSO_STORAGE=file`, the session file). Never the keychain, never the network: `None`
/// when neither names anyone.
pub fn subject_without_keychain(settings: &Settings) -> Option<String> {
    let cfg = SsoConfig::load_optional(settings).ok()??;
    let store = Store::new(settings, &account(&cfg)).ok()?;
    let session = match store.kind() {
        "file" => store.load().ok()?,
        _ => store.summary(),
    };
    usable(session, &cfg).map(|s| s.user().subject)
}

fn current_user_in(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
) -> Result<Option<SsoUser>, AuthError> {
    if let Some(summary) = usable(store.summary(), cfg)
        && summary.is_fresh(now_secs())
    {
        return Ok(Some(summary.user()));
    }
    let loaded = store.load()?;
    let renewal = renew_if_due(settings, cfg, store, loaded)?;
    Ok(renewal.map(|r| {
        for w in &r.warnings {
            tracing::warn!("{w}");
        }
        r.user
    }))
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
        && summary.is_fresh(now_secs())
    {
        return Ok(Some(summary.user()));
    }
    Ok(usable(store.load()?, &cfg)
        .filter(|s| s.is_fresh(now_secs()) || s.refresh_token.is_some())
        .map(|s| s.user()))
}

/// The configured provider's stored session as it is (no refresh, no network), with whether
/// it holds a refresh token: what `lmi doctor` checks a provider's pitfalls against.
pub fn stored_session(settings: &Settings) -> Result<Option<(SsoUser, bool)>, AuthError> {
    let Some(cfg) = SsoConfig::load_optional(settings)? else {
        return Ok(None);
    };
    let store = Store::new(settings, &account(&cfg))?;
    Ok(usable(store.load()?, &cfg).map(|s| (s.user(), s.refresh_token.is_some())))
}

/// The user of a record already read from `store`: as it is when fresh, else renewed (with
/// what the renewal has to say). `None` when it is not the configured provider's session.
pub(super) fn renew_if_due(
    settings: &Settings,
    cfg: &SsoConfig,
    store: &Store,
    loaded: Option<Session>,
) -> Result<Option<refresh::Renewal>, AuthError> {
    let Some(session) = usable(loaded, cfg) else {
        return Ok(None);
    };
    if session.is_fresh(now_secs()) {
        return Ok(Some(refresh::Renewal::unchanged(session.user())));
    }
    tracing::info!("the SSO access token has expired; refreshing it");
    refresh::renew(settings, cfg, store, false).map(Some)
}

/// The SSO part of `lmi auth status`. May refresh silently; never fails.
pub fn status(settings: &Settings) -> SsoStatus {
    let mut st = SsoStatus {
        authenticated: false,
        subject: None,
        email: None,
        name: None,
        login_name: None,
        named_by: None,
        expires_at: None,
        session_ends_at: None,
        storage: store::storage_kind(settings)
            .unwrap_or("keychain")
            .to_owned(),
        location: None,
        configured: false,
        provider: None,
        provider_profile: None,
        error: None,
        groups: GroupClaims::default(),
        user: None,
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
    st.provider = Some(cfg.profile.provider.name());
    st.provider_profile = Some(cfg.profile.describe());
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
            st.user = Some(u.clone());
            st.named_by = Some(u.display_claim());
            st.login_name = u.login_name;
            st.subject = Some(u.subject);
            st.email = u.email;
            st.name = u.name;
            st.expires_at = Some(u.expires_at);
            st.session_ends_at = u.session_ends_at;
            st.groups = u.groups;
        }
        Ok(None) => {}
        Err(e) => st.error = Some(e.to_string()),
    }
    st
}
