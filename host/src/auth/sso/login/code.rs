//! The browser login: Authorization Code + PKCE (S256) + `state` + `nonce`, redirected to
//! the loopback listener (`callback`).

use std::time::{Duration, Instant};

use oauth2::{CsrfToken, PkceCodeChallenge};
use subtle::ConstantTimeEq;

use super::super::answers::{describe, provider_text};
use super::super::browser;
use super::super::callback::{Callback, CallbackServer};
use super::super::config::{CLIENT_SECRET_KEY, REDIRECT_PORTS_KEY};
use super::super::discovery::{Endpoints, Purpose};
use super::super::human;
use super::super::id_token::KeySource;
use super::super::safe_url::SafeUrl;
use super::super::session::Session;
use super::super::token;
use super::LoginError;
use super::method::Choice;
use super::{Flow, LoginOptions, LoginStep, finish};
use crate::auth::AuthError;
use crate::exit::UsageError;

/// Signs in through the browser; the session is stored when this returns it.
pub(super) fn sign_in(
    flow: &mut Flow<'_>,
    opts: &LoginOptions,
    choice: &Choice,
    deadline: Instant,
    timeout: Duration,
) -> Result<Session, LoginError> {
    let (settings, cfg, http) = (flow.settings, flow.cfg, flow.http);
    let state = CsrfToken::new_random();
    let server = listen(opts, &cfg.redirect_ports, state.secret())?;
    let ep = flow.endpoints(Purpose::Login)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    crate::secrets::register_secret(verifier.secret());
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
    for (name, value) in cfg.profile.provider.authorization_parameters() {
        url.query_pairs_mut().append_pair(name, value);
    }
    if let Some(audience) = &cfg.audience {
        url.query_pairs_mut().append_pair("audience", audience);
    }
    // The endpoint passed the https rule, but the URL is printed and opened: check it as
    // any other URL lmi shows.
    let url = SafeUrl::check(url).map_err(|why| {
        AuthError::Failed(format!(
            "the identity provider's authorization URL cannot be opened: {why}"
        ))
    })?;

    flow.ui.show(LoginStep::SignInAt {
        issuer: &ep.issuer,
        url: &url,
        browser: choice.open_browser,
    });
    if choice.open_browser
        && let Err(e) = browser::open(settings, &url)
    {
        flow.ui.show(LoginStep::BrowserFailed(&e));
    }
    flow.ui.show(LoginStep::WaitingForBrowser(timeout));
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

/// The loopback listener for the browser's redirect: on `--redirect-port`, else on the first
/// free port of `OAUTH_SSO_REDIRECT_PORTS` (the ports registered at a provider that matches
/// redirect URIs exactly), else on any free port.
fn listen(
    opts: &LoginOptions,
    registered: &[u16],
    state: &str,
) -> Result<CallbackServer, UsageError> {
    if let Some(port) = opts.redirect_port {
        return CallbackServer::bind(port, state).map_err(|e| {
            UsageError(format!(
                "cannot listen on 127.0.0.1:{port} for the browser's redirect: {e}; choose another --redirect-port, or omit it for a free port"
            ))
        });
    }
    if registered.is_empty() {
        return CallbackServer::bind(0, state).map_err(|e| {
            UsageError(format!(
                "cannot listen on 127.0.0.1 for the browser's redirect: {e}"
            ))
        });
    }
    let mut failures = Vec::new();
    for &port in registered {
        match CallbackServer::bind(port, state) {
            Ok(server) => return Ok(server),
            Err(e) => failures.push(format!("{port}: {e}")),
        }
    }
    Err(UsageError(format!(
        "cannot listen for the browser's redirect on any port of {REDIRECT_PORTS_KEY} ({}); close what holds them, or register another port at the identity provider and add it to {REDIRECT_PORTS_KEY}",
        failures.join("; ")
    )))
}

struct Redeem<'a> {
    state: &'a str,
    nonce: &'a str,
    redirect_uri: &'a str,
    verifier: &'a str,
}

/// Checks the callback and turns its code into a stored session.
fn redeem(
    flow: &mut Flow<'_>,
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
    let tokens = token::exchange_code(
        flow.http,
        ep.token()?,
        flow.cfg.client(),
        code,
        expect.redirect_uri,
        expect.verifier,
    )
    .map_err(|e| {
        // A provider that wants the installed app's secret (Google) says so in its own words;
        // say which key holds it.
        let (cfg, provider) = (flow.cfg, flow.cfg.profile.provider);
        let secret_hint = match (cfg.client_secret.is_some(), e.oauth_code()) {
            (false, _) if provider.requires_client_secret() => format!(
                "; {} requires this client's secret: set {CLIENT_SECRET_KEY} in the global .env",
                provider.title()
            ),
            // Not a secret to add: the provider takes the client for a confidential one.
            (false, Some("invalid_client")) => format!(
                "; {} does not take `{}` as a public client: register lmi as a public (native, desktop) client (docs/identity-providers.md)",
                provider.title(),
                cfg.client_id
            ),
            _ => String::new(),
        };
        AuthError::Failed(format!(
            "the identity provider did not accept the authorization code: {e}{secret_hint}"
        ))
    })?;
    finish(flow, ep, tokens, keys, Some(expect.nonce))
}
