//! `lmi login sso`: Authorization Code + PKCE (S256) + `state` + `nonce` through the browser
//! and a loopback redirect, or the device-authorization grant (RFC 8628) with `--device`.
//!
//! Order of business: read the store first (an unreachable keychain fails here, before the
//! user signs in for nothing); bind the listener; resolve endpoints; open the browser; fetch
//! the JWKS while the user is in the browser; take exactly one callback with this login's
//! `state` (the listener answers and ignores any other); check `state` in constant time
//! again, then `error`, then `iss` (RFC 9207); exchange the code; validate the ID
//! token; store; only then tell the browser the outcome. Any failure stores nothing.

use std::time::{Duration, Instant};

use oauth2::{CsrfToken, PkceCodeChallenge};
use subtle::ConstantTimeEq;

use super::answers::{Tokens, describe, provider_text};
use super::callback::{Callback, CallbackServer};
use super::config::{self, Endpoints, Purpose, SsoConfig};
use super::id_token::{self, Expect, KeySource};
use super::safe_url::SafeUrl;
use super::store::{Secret, Session, Store};
use super::token;
use super::{SsoUser, human};
use crate::auth::AuthError;
use crate::auth::http::Http;
use crate::auth::lifetime;
use crate::auth::lifetime::now_secs;
use crate::exit::UsageError;
use crate::output;
use crate::settings::Settings;

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

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

/// Signs in (see the module documentation).
pub fn login(settings: &Settings, opts: &LoginOptions) -> anyhow::Result<LoginOutcome> {
    let cfg = SsoConfig::load(settings)?;
    let store = Store::new(settings, &super::account(&cfg))?;
    let timeout = config::login_timeout(settings)?;
    let existing = store.load().map_err(AuthError::from)?;
    if !opts.force && existing.is_some() {
        match super::user_of_loaded(settings, &cfg, &store, existing) {
            Ok(Some(user)) => return Ok(LoginOutcome::AlreadySignedIn(user)),
            Ok(None) => {}
            Err(e) => output::note(format_args!(
                "The stored SSO session cannot be used ({e}); signing in again."
            )),
        }
    }
    let http = Http::new(settings)?;
    let deadline = Instant::now() + timeout;
    let flow = Flow {
        settings,
        cfg: &cfg,
        store: &store,
        http: &http,
    };
    let session = if opts.device {
        device_flow(&flow, opts, deadline, timeout)?
    } else {
        code_flow(&flow, opts, deadline, timeout)?
    };
    Ok(LoginOutcome::SignedIn {
        user: super::user_of(&session),
        refreshable: session.refresh_token.is_some(),
        location: store.location(),
    })
}

/// What every step of a login needs.
struct Flow<'a> {
    settings: &'a Settings,
    cfg: &'a SsoConfig,
    store: &'a Store,
    http: &'a Http,
}

fn code_flow(
    flow: &Flow<'_>,
    opts: &LoginOptions,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<Session> {
    let Flow {
        settings,
        cfg,
        http,
        ..
    } = *flow;
    let port = opts.redirect_port.unwrap_or(0);
    let state = CsrfToken::new_random();
    let server = CallbackServer::bind(port, state.secret()).map_err(|e| {
        UsageError(if port == 0 {
            format!("cannot listen on 127.0.0.1 for the browser's redirect: {e}")
        } else {
            format!(
                "cannot listen on 127.0.0.1:{port} for the browser's redirect: {e}; choose another --redirect-port, or omit it for a free port"
            )
        })
    })?;
    let ep = cfg.endpoints(http, Purpose::Login)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    crate::logging::register_secret(verifier.secret());
    let nonce = CsrfToken::new_random();
    let redirect_uri = server.redirect_uri();
    let mut url = ep.authorization()?.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &cfg.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &cfg.scopes)
        .append_pair("state", state.secret())
        .append_pair("nonce", nonce.secret())
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    // The endpoint passed the https rule, but the URL is printed and opened: check it as
    // any other URL lmi shows.
    let url = SafeUrl::check(url).map_err(|why| {
        AuthError::Failed(format!(
            "the identity provider's authorization URL cannot be opened: {why}"
        ))
    })?;

    if opts.no_browser {
        output::note(format_args!(
            "Open this URL in a browser on this computer to sign in to {}:\n\n    {url}\n",
            ep.issuer
        ));
    } else {
        output::note(format_args!(
            "Opening your browser to sign in to {}. If it does not open, visit:\n\n    {url}\n",
            ep.issuer
        ));
        if let Err(e) = super::browser::open(settings, &url) {
            output::warn(format_args!("{e}; open the URL above yourself"));
        }
    }
    output::note(format_args!(
        "Waiting up to {} for the sign-in to finish in the browser...",
        human(timeout.as_secs())
    ));
    let mut keys = KeySource::new(http, ep.jwks()?.clone());
    keys.prefetch();

    let Some(callback) = server.wait(deadline) else {
        return Err(AuthError::Failed(format!(
            "timed out after {} waiting for the browser's sign-in; nothing was stored (LMI_SSO_LOGIN_TIMEOUT_SECS sets the limit)",
            human(timeout.as_secs())
        ))
        .into());
    };
    tracing::info!("received the browser's redirect");
    let outcome = redeem(
        flow,
        &ep,
        &callback,
        Redeem {
            state: state.secret(),
            nonce: nonce.secret(),
            redirect_uri: &redirect_uri,
            verifier: verifier.secret(),
        },
        &mut keys,
    );
    match &outcome {
        Ok(_) => callback.respond(
            true,
            "You are signed in to lmi. You can close this tab and return to the terminal.",
        ),
        Err(e) => callback.respond(
            false,
            &format!("{e}. You can close this tab; the terminal has the details."),
        ),
    }
    Ok(outcome?)
}

struct Redeem<'a> {
    state: &'a str,
    nonce: &'a str,
    redirect_uri: &'a str,
    verifier: &'a str,
}

/// Checks the callback and turns its code into a stored session.
fn redeem(
    flow: &Flow<'_>,
    ep: &Endpoints,
    cb: &Callback,
    expect: Redeem<'_>,
    keys: &mut KeySource<'_>,
) -> Result<Session, AuthError> {
    let state_ok = cb
        .get("state")
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(expect.state.as_bytes())));
    if !state_ok {
        return Err(AuthError::Failed(
            "the sign-in response does not belong to this login (its state does not match); nothing was stored"
                .to_owned(),
        ));
    }
    if let Some(error) = cb.get("error") {
        let why = describe(error, cb.get("error_description"));
        return Err(AuthError::Failed(if error == "access_denied" {
            format!("the sign-in was refused at the identity provider: {why}")
        } else {
            format!("the identity provider reported an error: {why}")
        }));
    }
    match cb.get("iss") {
        Some(iss) if iss.trim_end_matches('/') != ep.issuer.trim_end_matches('/') => {
            return Err(AuthError::Failed(format!(
                "the sign-in response comes from issuer `{}`, not `{}`; nothing was stored",
                provider_text(iss),
                ep.issuer
            )));
        }
        None if ep.iss_parameter => {
            return Err(AuthError::Failed(
                "the sign-in response lacks the `iss` parameter the identity provider promises; nothing was stored"
                    .to_owned(),
            ));
        }
        _ => {}
    }
    let code = cb.get("code").filter(|c| !c.is_empty()).ok_or_else(|| {
        AuthError::Failed("the sign-in response has no authorization code".to_owned())
    })?;
    let tokens = token::request(
        flow.http,
        ep.token()?,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", expect.redirect_uri),
            ("client_id", &flow.cfg.client_id),
            ("code_verifier", expect.verifier),
        ],
    )
    .map_err(|e| {
        AuthError::Failed(format!(
            "the identity provider did not accept the authorization code: {e}"
        ))
    })?;
    finish(flow, ep, tokens, keys, Some(expect.nonce))
}

/// Validates the ID token and stores the session.
fn finish(
    flow: &Flow<'_>,
    ep: &Endpoints,
    tokens: Tokens,
    keys: &mut KeySource<'_>,
    nonce: Option<&str>,
) -> Result<Session, AuthError> {
    let Some(raw) = tokens.id_token.as_deref() else {
        return Err(AuthError::Failed(
            "the identity provider returned no ID token (is `openid` among OAUTH_SSO_SCOPES?); nothing was stored"
                .to_owned(),
        ));
    };
    let now = now_secs();
    let claims = id_token::validate(
        raw,
        keys,
        Expect {
            issuer: &ep.issuer,
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
    let mut session =
        Session::new_record(ep.issuer.clone(), flow.cfg.client_id.clone(), claims.sub);
    session.email = claims.email;
    session.name = claims.name;
    session.revocation_endpoint = ep.revocation.as_ref().map(|u| u.to_string());
    let lifetime_secs = tokens.lifetime_secs();
    session.access_token = Some(Secret::new(tokens.access_token));
    session.refresh_token = tokens.refresh_token.map(Secret::new);
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
    let _lock = super::RefreshLock::take(flow.settings)?;
    flow.store.save(&session)?;
    Ok(session)
}

fn device_flow(
    flow: &Flow<'_>,
    opts: &LoginOptions,
    deadline: Instant,
    timeout: Duration,
) -> anyhow::Result<Session> {
    let Flow {
        settings,
        cfg,
        http,
        ..
    } = *flow;
    let ep = cfg.endpoints(http, Purpose::Device)?;
    let Some(device_url) = ep.device.clone() else {
        return Err(UsageError(format!(
            "the identity provider {} does not offer the device-authorization grant (its discovery document has no device_authorization_endpoint); set {} if it has one, or sign in without --device",
            ep.issuer,
            config::DEVICE_URL_KEY
        ))
        .into());
    };
    let token_url = ep.token()?.clone();
    let auth = token::device_authorization(http, &device_url, &cfg.client_id, &cfg.scopes)
        .map_err(|e| {
            AuthError::Failed(format!(
                "the identity provider would not start a device sign-in: {e}; nothing was started"
            ))
        })?;
    output::note(format_args!(
        "To sign in, open {} on any device and enter the code\n\n    {}\n",
        auth.verification_uri, auth.user_code
    ));
    if let Some(complete) = &auth.verification_uri_complete {
        output::note(format_args!(
            "(or open {} to have the code filled in)",
            complete
        ));
    }
    if !opts.no_browser {
        let visit = auth
            .verification_uri_complete
            .as_ref()
            .unwrap_or(&auth.verification_uri);
        if let Err(e) = super::browser::open(settings, visit) {
            tracing::info!("{e}");
        }
    }
    let expires = later(auth.expires_in);
    let deadline = deadline.min(expires);
    output::note(format_args!(
        "Waiting up to {} for the sign-in to be approved...",
        human(deadline.saturating_duration_since(Instant::now()).as_secs())
    ));
    let mut keys = KeySource::new(http, ep.jwks()?.clone());
    keys.prefetch();
    let mut interval = auth.interval;
    loop {
        if later(interval) > deadline {
            let why = if deadline == expires {
                "the device code expired before the sign-in was approved".to_owned()
            } else {
                format!("timed out after {}", human(timeout.as_secs()))
            };
            return Err(AuthError::Failed(format!("{why}; nothing was stored")).into());
        }
        std::thread::sleep(interval);
        let answer = token::request(
            http,
            &token_url,
            &[
                ("grant_type", DEVICE_CODE_GRANT),
                ("device_code", &auth.device_code),
                ("client_id", &cfg.client_id),
            ],
        );
        match answer {
            Ok(tokens) => return Ok(finish(flow, &ep, tokens, &mut keys, None)?),
            Err(e) => match e.oauth_code() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval = slowed_down(interval),
                Some("access_denied") => {
                    return Err(AuthError::Failed(format!(
                        "the sign-in was refused at the identity provider: {e}"
                    ))
                    .into());
                }
                Some("expired_token") => {
                    return Err(AuthError::Failed(
                        "the device code expired before the sign-in was approved; nothing was stored"
                            .to_owned(),
                    )
                    .into());
                }
                _ => {
                    return Err(AuthError::Failed(format!(
                        "the identity provider refused the device sign-in: {e}"
                    ))
                    .into());
                }
            },
        }
    }
}

/// `now + wait`, saturating far in the future instead of panicking.
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(lifetime::MAX_DEVICE_CODE_SECS))
}

/// The interval after a `slow_down` (RFC 8628 §3.5: 5 s more), still within the bounds.
fn slowed_down(interval: Duration) -> Duration {
    interval
        .saturating_add(Duration::from_secs(5))
        .min(Duration::from_secs(lifetime::MAX_POLL_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_grows_the_interval_within_its_bound() {
        assert_eq!(slowed_down(Duration::from_secs(5)), Duration::from_secs(10));
        assert_eq!(
            slowed_down(Duration::from_secs(58)),
            Duration::from_secs(lifetime::MAX_POLL_SECS)
        );
        assert_eq!(
            slowed_down(Duration::MAX),
            Duration::from_secs(lifetime::MAX_POLL_SECS)
        );
        assert!(later(Duration::MAX) > Instant::now());
    }
}
