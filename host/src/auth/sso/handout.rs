//! The SSO ID token handed to another tool (`lmi credential kube --token sso-id`, the
//! kubelogin case): the last one lmi verified, renewed through the one refresh ([`refresh`])
//! when it is no longer fresh. The one way a raw SSO token leaves this module, and only to
//! lmi's own credential command, never to a plugin.
//!
//! Invariants:
//! - A fresh ID token is answered from the stored session (one keychain read), with no lock
//!   and no network; an expired one is renewed under `sso.lock`, and the process that gets
//!   the lock re-reads the store first, so a burst of calls makes one refresh.
//! - Nothing here signs in: no session (or one the provider ended) is
//!   [`AuthError::SsoRequired`], exit 4.

use super::config::SsoConfig;
use super::refresh;
use super::session::{Session, usable};
use super::store::Store;
use super::{SessionWarning, account};
use crate::auth::AuthError;
use crate::auth::lifetime::now_secs;
use crate::secrets::Secret;
use crate::settings::Settings;

/// A verified ID token and when it expires (unix seconds).
#[derive(Debug, Clone)]
pub struct IdToken {
    pub token: Secret,
    pub expires_at: u64,
}

/// The user's ID token, fresh; renewed if it is not (see the module docs). The warnings of a
/// renewal are returned for the caller to log (a credential helper's stderr is not for them).
pub fn id_token(settings: &Settings) -> Result<(IdToken, Vec<SessionWarning>), AuthError> {
    let cfg = SsoConfig::load(settings)?;
    let store = Store::new(settings, &account(&cfg))?;
    let Some(session) = usable(store.load()?, &cfg) else {
        return Err(AuthError::SsoRequired(
            "you are not signed in with SSO".to_owned(),
        ));
    };
    if let Some(fresh) = fresh(&session, now_secs()) {
        return Ok((fresh, Vec::new()));
    }
    tracing::info!("the SSO ID token is not fresh; refreshing the session");
    let still_good = |s: &Session, now: u64| fresh(s, now).is_some();
    let (renewed, warnings) = refresh::renew_unless(settings, &cfg, &store, &still_good)?;
    match fresh(&renewed, now_secs()) {
        Some(token) => Ok((token, warnings)),
        None => Err(AuthError::SsoRequired(
            "the SSO session was refreshed, but the identity provider sent no ID token lmi could verify (is `openid` among OAUTH_SSO_SCOPES?); signing in again brings one"
                .to_owned(),
        )),
    }
}

/// The session's ID token if it is fresh at `now`.
fn fresh(session: &Session, now: u64) -> Option<IdToken> {
    session
        .id_token
        .as_ref()
        .filter(|t| t.is_fresh(now))
        .map(|t| IdToken {
            token: t.token.clone(),
            expires_at: t.expires_at,
        })
}
