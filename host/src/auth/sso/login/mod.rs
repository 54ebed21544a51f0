//! `lmi login sso`: Authorization Code + PKCE (S256) + `state` + `nonce` through the browser
//! and a loopback redirect (`code`), or the device-authorization grant (RFC 8628) (`device`);
//! `method` chooses between them (`--device`, `OAUTH_SSO_LOGIN_METHOD`, the machine).
//!
//! Order of business: read the store first (an unreachable keychain fails here, before the
//! user signs in for nothing); choose the method (`auto` on a machine without a browser asks
//! the provider whether it offers the device grant, and takes the browser, saying why, if the
//! device request is refused) and say why; bind the listener; resolve
//! endpoints; open the browser; fetch
//! the JWKS while the user is in the browser; take exactly one callback with this login's
//! `state` (the listener answers and ignores any other); check `state` in constant time
//! again, then `error`, then `iss` (RFC 9207); exchange the code; validate the ID
//! token; store; only then tell the browser the outcome. Any failure stores nothing.
//!
//! Nothing here prints: each thing the user must see or do is a [`LoginStep`] handed to the
//! command's [`LoginUi`].

mod code;
mod device;
pub mod method;

use std::time::{Duration, Instant};

use super::answers::Tokens;
use super::config::{self, SsoConfig};
use super::discovery::{Endpoints, Purpose};
use super::groups;
use super::id_token::{self, Expect, KeySource};
use super::refresh::RefreshLock;
use super::safe_url::SafeUrl;
use super::session::{IdTokenRecord, Session, SessionWarning};
use super::status::renew_if_due;
use super::store::Store;
use super::{SsoUser, account};
use crate::auth::AuthError;
use crate::auth::http::Http;
use crate::auth::lifetime::{self, now_secs};
use crate::settings::{Settings, keys};
use method::{Choice, Grant, Machine};

/// The flags of `lmi login sso`.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    pub no_browser: bool,
    pub device: bool,
    pub redirect_port: Option<u16>,
    pub force: bool,
}

#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// A valid session existed (possibly just refreshed); nothing was done.
    AlreadySignedIn(SsoUser),
    SignedIn {
        user: SsoUser,
        /// A refresh token was issued: the session renews itself.
        refreshable: bool,
        /// Where it was stored.
        location: String,
    },
}

/// What the user must see or do while a login runs, in order.
#[derive(Debug)]
pub enum LoginStep<'a> {
    /// The stored session cannot be used (the error says why); a new sign-in starts.
    StoredSessionUnusable(&'a AuthError),
    /// The sign-in chosen, and why (its `Display` is the sentence to show).
    Method(&'a Choice),
    /// The user signs in at `url`: lmi is opening it in the browser (`browser`), or, with
    /// `--no-browser`, the user must open it.
    SignInAt {
        issuer: &'a str,
        url: &'a SafeUrl,
        browser: bool,
    },
    /// The browser could not be started; the user must open the URL shown.
    BrowserFailed(&'a str),
    /// Waiting this long for the browser's redirect.
    WaitingForBrowser(Duration),
    /// Device grant: open `verification_uri` anywhere and enter `user_code` (or open
    /// `complete`, which carries the code).
    EnterCode {
        verification_uri: &'a SafeUrl,
        user_code: &'a str,
        complete: Option<&'a SafeUrl>,
    },
    /// Waiting this long for the device sign-in to be approved.
    WaitingForApproval(Duration),
    /// Something to know about the session that was stored or renewed.
    Warning(&'a SessionWarning),
}

/// The command's side of a login: shows each step.
pub trait LoginUi {
    fn show(&mut self, step: LoginStep<'_>);
}

/// Why a sign-in did not happen: a usage mistake (a busy `--port`, a grant the provider does
/// not offer) or the provider's, the keychain's or the network's failure.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Usage(#[from] crate::exit::UsageError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<crate::settings::ConfigError> for LoginError {
    fn from(e: crate::settings::ConfigError) -> Self {
        Self::Auth(e.into())
    }
}

/// Signs in (see the module documentation).
pub fn login(
    settings: &Settings,
    opts: &LoginOptions,
    ui: &mut dyn LoginUi,
) -> Result<LoginOutcome, LoginError> {
    let cfg = SsoConfig::load(settings)?;
    let method = settings.sso_login_method()?;
    let store = Store::new(settings, &account(&cfg))?;
    let timeout = config::login_timeout(settings)?;
    let existing = store.load().map_err(AuthError::from)?;
    // A session whose stated end has passed is signed in again, as `auth status` advises.
    let ended = existing.as_ref().is_some_and(|s| s.has_ended(now_secs()));
    if !opts.force && !ended && existing.is_some() {
        match renew_if_due(settings, &cfg, &store, existing) {
            Ok(Some(renewal)) => {
                for w in &renewal.warnings {
                    ui.show(LoginStep::Warning(w));
                }
                return Ok(LoginOutcome::AlreadySignedIn(renewal.user));
            }
            Ok(None) => {}
            Err(e) => ui.show(LoginStep::StoredSessionUnusable(&e)),
        }
    }
    let http = Http::for_process(settings)?;
    let deadline = Instant::now() + timeout;
    let mut choice = Choice::make(
        opts,
        method,
        Machine::of(settings.seat()),
        settings.global(keys::BROWSER).is_some(),
    );
    // `auto` chose the device flow for this machine: only if the provider offers it.
    let mut known = None;
    if choice.needs_the_device_grant_offered() {
        let ep = cfg.endpoints(&http, Purpose::Device)?;
        if ep.device.is_none() {
            choice = choice.without_device_grant(&ep.issuer);
        }
        known = Some(ep);
    }
    ui.show(LoginStep::Method(&choice));
    let mut flow = Flow {
        settings,
        cfg: &cfg,
        store: &store,
        http: &http,
        ui,
        known,
    };
    if choice.grant == Grant::Device {
        match device::sign_in(&mut flow, &choice, deadline, timeout)? {
            device::Ended::SignedIn(session) => return Ok(signed_in(&session, &store)),
            device::Ended::Refused(browser) => {
                choice = browser;
                flow.ui.show(LoginStep::Method(&choice));
            }
        }
    }
    let session = code::sign_in(&mut flow, opts, &choice, deadline, timeout)?;
    Ok(signed_in(&session, &store))
}

/// The outcome of a sign-in that stored `session`, whichever grant ran.
fn signed_in(session: &Session, store: &Store) -> LoginOutcome {
    LoginOutcome::SignedIn {
        user: session.user(),
        refreshable: session.refresh_token.is_some(),
        location: store.location(),
    }
}

/// What every step of a login needs.
struct Flow<'a> {
    settings: &'a Settings,
    cfg: &'a SsoConfig,
    store: &'a Store,
    http: &'a Http,
    ui: &'a mut dyn LoginUi,
    /// Endpoints already resolved while choosing the method (with discovery, if it was
    /// needed), so the provider is not asked twice for the same flow (a browser sign-in after
    /// a refused device request resolves its own: its endpoints may need discovery).
    known: Option<Endpoints>,
}

impl Flow<'_> {
    /// The endpoints `purpose` needs: those resolved while choosing the method, else from
    /// the keys and discovery.
    fn endpoints(&mut self, purpose: Purpose) -> Result<Endpoints, AuthError> {
        match self.known.take() {
            Some(ep) => Ok(ep),
            None => self.cfg.endpoints(self.http, purpose),
        }
    }
}

/// Validates the ID token and stores the session.
fn finish(
    flow: &mut Flow<'_>,
    ep: &Endpoints,
    tokens: Tokens,
    keys: &mut KeySource<'_>,
    nonce: Option<&str>,
) -> Result<Session, AuthError> {
    let Some(id_token) = tokens.id_token.clone() else {
        return Err(AuthError::Failed(
            "the identity provider returned no ID token (is `openid` among OAUTH_SSO_SCOPES?); nothing was stored"
                .to_owned(),
        ));
    };
    let now = now_secs();
    let claims = id_token::validate(
        id_token.expose(),
        keys,
        Expect {
            issuer: &ep.issuer,
            issuer_alias: flow.cfg.profile.provider.issuer_alias(&ep.issuer),
            client_id: &flow.cfg.client_id,
            nonce,
            subject: None,
        },
        now,
    )
    .map_err(|why| {
        AuthError::Failed(format!(
            "the identity provider's ID token was rejected: {why}; nothing was stored"
        ))
    })?;
    let login_name = claims.login_name();
    let mut session =
        Session::new_record(ep.issuer.clone(), flow.cfg.client_id.clone(), claims.sub);
    session.login_name = login_name;
    session.email = claims.email;
    session.name = claims.name;
    session.groups = groups::capture(&claims.verified, &flow.settings.group_claims_to_capture());
    session.revocation_endpoint = ep.revocation.as_ref().map(|u| u.to_string());
    session.session_ends_at = tokens.session_end(now);
    session.id_token = Some(IdTokenRecord::verified(id_token, claims.exp, now));
    let lifetime_secs = tokens.lifetime_secs();
    session.access_token = Some(tokens.access_token);
    session.refresh_token = tokens.refresh_token;
    session.obtained_at = now;
    // Without `expires_in`, the ID token's `exp` (bounded like any stated lifetime).
    session.expires_at = match tokens.expires_in {
        Some(_) => lifetime::expiry_after(now, lifetime_secs),
        None => claims.exp.min(lifetime::expiry_after(
            now,
            lifetime::MAX_TOKEN_LIFETIME_SECS,
        )),
    };
    // Under the refresh lock: a refresh running in another process cannot then overwrite the
    // new session with one renewed from the old.
    let _lock = RefreshLock::take(flow.settings)?;
    if let Some(warning) = flow.store.save(&session)? {
        flow.ui.show(LoginStep::Warning(&warning));
    }
    Ok(session)
}
