//! The device-authorization grant (RFC 8628): a code the user enters on any device, polled
//! for within the bounds of `auth::lifetime`.

use std::time::{Duration, Instant};

use super::super::browser;
use super::super::config;
use super::super::discovery::Purpose;
use super::super::human;
use super::super::id_token::KeySource;
use super::super::session::Session;
use super::super::token;
use super::LoginError;
use super::method::Choice;
use super::{Flow, LoginStep, finish};
use crate::auth::AuthError;
use crate::auth::lifetime;
use crate::exit::UsageError;

/// How a device sign-in ended without an error.
pub(super) enum Ended {
    /// Signed in: the session is stored.
    SignedIn(Box<Session>),
    /// `auto` chose the device flow and the provider answered the device-authorization
    /// request with an OAuth error: `choice` is now the browser, saying why. Nothing was shown
    /// to the user but the choice, so the browser can take over.
    Refused(Choice),
}

/// Signs in with a device code (see [`Ended`]).
pub(super) fn sign_in(
    flow: &mut Flow<'_>,
    choice: &Choice,
    deadline: Instant,
    timeout: Duration,
) -> Result<Ended, LoginError> {
    let (settings, cfg, http) = (flow.settings, flow.cfg, flow.http);
    let ep = flow.endpoints(Purpose::Device)?;
    let Some(device_url) = ep.device.clone() else {
        return Err(UsageError(format!(
            "the identity provider {} does not offer the device-authorization grant (its discovery document has no device_authorization_endpoint); set {} if it has one, or {}",
            ep.issuer,
            config::DEVICE_URL_KEY,
            choice.other_way()
        ))
        .into());
    };
    let token_url = ep.token()?.clone();
    let auth = match token::device_authorization(
        http,
        &device_url,
        cfg.client(),
        &cfg.scopes,
        cfg.audience.as_deref(),
    ) {
        Ok(auth) => auth,
        // `auto` chose the device flow: the provider's refusal (Okta's and Auth0's
        // `unauthorized_client` until the grant is enabled, Google's `invalid_client` for a
        // Desktop client, oidc-provider's `invalid_request`) leaves the browser, which it says.
        // An unreachable provider or a malformed answer is an error, as the browser would be.
        Err(e) if choice.needs_the_device_grant_offered() && e.oauth_code().is_some() => {
            tracing::info!("the device grant was refused ({e}); auto signs in through the browser");
            let mut refusal = e.to_string();
            if e.oauth_code() == Some("invalid_client") {
                // Google's answer to a Desktop client, but also a mistyped client id, which
                // the browser's page will refuse too (and lmi waits for a redirect that
                // never comes): say where to look.
                refusal.push_str(&format!(
                    "; if the sign-in page refuses the client too, check {}",
                    config::CLIENT_ID_KEY
                ));
            }
            return Ok(Ended::Refused(choice.clone().device_grant_refused(
                &ep.issuer,
                &cfg.client_id,
                &refusal,
            )));
        }
        Err(e) => {
            return Err(device_refused(cfg, choice, &e).unwrap_or_else(|| {
                AuthError::Failed(format!(
                    "the identity provider would not start a device sign-in: {e}; nothing was started"
                ))
                .into()
            }));
        }
    };
    flow.ui.show(LoginStep::EnterCode {
        verification_uri: &auth.verification_uri,
        user_code: &auth.user_code,
        complete: auth.verification_uri_complete.as_ref(),
    });
    if choice.open_browser {
        let visit = auth
            .verification_uri_complete
            .as_ref()
            .unwrap_or(&auth.verification_uri);
        if let Err(e) = browser::open(settings, visit) {
            tracing::info!("{e}");
        }
    }
    let expires = later(auth.expires_in);
    let deadline = deadline.min(expires);
    flow.ui.show(LoginStep::WaitingForApproval(
        deadline.saturating_duration_since(Instant::now()),
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
        let answer = token::poll_device(http, &token_url, cfg.client(), &auth.device_code);
        match answer {
            Ok(tokens) => {
                return Ok(Ended::SignedIn(Box::new(finish(
                    flow, &ep, tokens, &mut keys, None,
                )?)));
            }
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
                // Entra ID lets a client without public client flows start a device sign-in
                // and refuses it only here (`invalid_client`, AADSTS7000218).
                _ => {
                    return Err(device_refused(cfg, choice, &e).unwrap_or_else(|| {
                        AuthError::Failed(format!(
                            "the identity provider refused the device sign-in: {e}"
                        ))
                        .into()
                    }));
                }
            },
        }
    }
}

/// The provider's refusal of the device grant for this client, in words that say who fixes
/// it (exit 2), or `None` for any other error.
fn device_refused(
    cfg: &config::SsoConfig,
    choice: &Choice,
    e: &token::TokenRequestError,
) -> Option<LoginError> {
    let provider = cfg.profile.provider;
    let why = match e.oauth_code()? {
        "unauthorized_client" | "unsupported_grant_type" => format!(
            "{} does not allow the device flow for the client `{}` ({e}): {}",
            provider.title(),
            cfg.client_id,
            provider.device_grant_fix()
        ),
        // An unknown client, a wrong secret, or (Entra ID) public client flows turned off.
        "invalid_client" => format!(
            "{} refused the client `{}` for the device flow ({e}): check {} (and {} if the provider gave the client a secret); if they are right, {}",
            provider.title(),
            cfg.client_id,
            config::CLIENT_ID_KEY,
            config::CLIENT_SECRET_KEY,
            provider.device_grant_fix()
        ),
        _ => return None,
    };
    Some(UsageError(format!("{why}; until then, {}", choice.other_way())).into())
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
