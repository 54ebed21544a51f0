//! The provider's JSON answers, parsed and bounded before anything else sees them: the token
//! answer, the device-authorization answer (RFC 8628 §3.2) and the OAuth error body.
//!
//! Pure functions of the bytes (no network, no global state), so `fuzz/` drives them directly.
//!
//! Invariants:
//! - Numbers are read leniently (an integer, a float or a numeric string, as real providers
//!   send) and clamped with `auth::lifetime`: no value can panic, wrap or stall a poll loop.
//!   A negative or non-numeric lifetime counts as absent.
//! - The URLs a user is sent to are [`SafeUrl`]s: an answer with any other is refused whole.
//! - Provider text that lmi may print ([`provider_text`]) is one terminal-safe line with every
//!   known secret scrubbed.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::safe_url::{self, SafeUrl};
use crate::auth::lifetime;
use crate::secrets::Secret;

/// How many characters of a provider's text lmi shows.
const TEXT_MAX: usize = 300;
/// The longest user code shown (RFC 8628 suggests 8 characters).
const USER_CODE_MAX: usize = 64;

/// What a successful token request returned. Every token is registered with the log
/// scrubber as it is parsed.
pub struct Tokens {
    pub access_token: Secret,
    /// `expires_in` as stated, when it is a non-negative number (not yet clamped).
    pub expires_in: Option<u64>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
    /// `refresh_expires_in` as stated (Keycloak's: how long the refresh token, so the
    /// session, lasts), when it is a non-negative number (not yet bounded: see
    /// `session::session_end`).
    pub refresh_expires_in: Option<u64>,
}

impl Tokens {
    /// The access token's lifetime, clamped (`lifetime::token_lifetime_secs`).
    pub fn lifetime_secs(&self) -> u64 {
        lifetime::token_lifetime_secs(self.expires_in)
    }

    /// When the session these tokens belong to ends, if the provider says (unix seconds,
    /// for display only): `refresh_expires_in` from `now`, else the refresh token's own
    /// `exp` when it is a JWT (read without verification: the refresh token is the
    /// provider's to check), else `None` (the session lasts until the provider ends it).
    /// Values beyond `lifetime::MAX_SESSION_LIFETIME_SECS` count as unstated, and so does an
    /// `exp` that has passed, or passes within the clock skew, as the token is issued: the
    /// provider's clock, not the session, would be what it tells of (a session "ended" at
    /// sign-in would send every `lmi login sso` to the browser).
    pub fn session_end(&self, now: u64) -> Option<u64> {
        if let Some(secs) = lifetime::session_lifetime_secs(self.refresh_expires_in) {
            return Some(lifetime::expiry_after(now, secs));
        }
        let exp = crate::auth::unverified::claims(self.refresh_token.as_ref()?.expose())?.exp?;
        (exp > now.saturating_add(crate::auth::handed::CLOCK_SKEW_SECS)
            && exp <= lifetime::expiry_after(now, lifetime::MAX_SESSION_LIFETIME_SECS))
        .then_some(exp)
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.is_some())
            .field("id_token", &self.id_token.is_some())
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// The device-authorization answer, checked.
pub struct DeviceAuthorization {
    pub device_code: Secret,
    /// Terminal-safe, at most 64 characters.
    pub user_code: String,
    pub verification_uri: SafeUrl,
    pub verification_uri_complete: Option<SafeUrl>,
    /// How long the code may be polled for, clamped.
    pub expires_in: Duration,
    /// The polling interval, clamped.
    pub interval: Duration,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// An OAuth error answer (`error`, `error_description`), both made terminal-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: String,
    pub description: Option<String>,
}

/// A number of seconds as a provider may state it: an integer, a float or a numeric string.
/// Negative, non-finite or non-numeric values are `None`; huge ones saturate.
pub fn seconds(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // `as` saturates at u64::MAX and truncates the fraction.
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<u64>()
                .ok()
                .or_else(|| seconds(&Value::from(s.parse::<f64>().ok()?)))
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct RawTokens {
    access_token: String,
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_expires_in: Value,
}

/// Parses a 2xx token answer.
pub fn parse_tokens(body: &[u8]) -> Result<Tokens, String> {
    let raw: RawTokens = serde_json::from_slice(body).map_err(|_| {
        "the identity provider's token answer is not a token response (no access_token)".to_owned()
    })?;
    if raw.access_token.is_empty() {
        return Err("the identity provider's token answer has an empty access_token".to_owned());
    }
    Ok(Tokens {
        access_token: Secret::new(raw.access_token),
        expires_in: seconds(&raw.expires_in),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
        id_token: raw.id_token.filter(|t| !t.is_empty()).map(Secret::new),
        refresh_expires_in: seconds(&raw.refresh_expires_in),
    })
}

#[derive(Deserialize)]
struct RawDevice {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Value,
    #[serde(default)]
    interval: Value,
}

/// Parses a 2xx device-authorization answer; refuses it whole if a URL in it is not one lmi
/// may show or open.
pub fn parse_device_authorization(body: &[u8]) -> Result<DeviceAuthorization, String> {
    let raw: RawDevice = serde_json::from_slice(body).map_err(|_| {
        "the identity provider's device-authorization answer lacks device_code, user_code or verification_uri"
            .to_owned()
    })?;
    let url = |field: &str, value: &str| {
        SafeUrl::parse(value).map_err(|why| {
            format!(
                "its device-authorization answer has an unsafe {field} `{}`: {why}; lmi shows and opens only https:// URLs (or http:// to this computer)",
                safe_url::quote(value)
            )
        })
    };
    let verification_uri = url("verification_uri", &raw.verification_uri)?;
    let verification_uri_complete = raw
        .verification_uri_complete
        .as_deref()
        .map(|v| url("verification_uri_complete", v))
        .transpose()?;
    let user_code = crate::text::line(&raw.user_code, USER_CODE_MAX);
    if raw.device_code.is_empty() || user_code.is_empty() {
        return Err(
            "the identity provider's device-authorization answer has an empty device_code or user_code"
                .to_owned(),
        );
    }
    let expires_in = seconds(&raw.expires_in).ok_or_else(|| {
        "the identity provider's device-authorization answer has no usable expires_in".to_owned()
    })?;
    Ok(DeviceAuthorization {
        device_code: Secret::new(raw.device_code),
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_in: lifetime::device_code_lifetime(expires_in),
        interval: lifetime::poll_interval(seconds(&raw.interval)),
    })
}

/// The OAuth error in a non-2xx answer, if it is one.
pub fn parse_error(body: &[u8]) -> Option<OAuthError> {
    #[derive(Deserialize)]
    struct RawError {
        error: String,
        #[serde(default)]
        error_description: Option<Value>,
    }
    let raw: RawError = serde_json::from_slice(body).ok()?;
    let error = provider_text(&raw.error);
    if error.is_empty() {
        return None;
    }
    let description = raw
        .error_description
        .as_ref()
        .and_then(Value::as_str)
        .map(provider_text)
        .filter(|d| !d.is_empty());
    Some(OAuthError { error, description })
}

/// `error (description)`, with the provider's text made safe for a terminal.
pub fn describe(error: &str, description: Option<&str>) -> String {
    let error = provider_text(error);
    match description.map(provider_text).filter(|d| !d.is_empty()) {
        Some(d) => format!("{error} ({d})"),
        None => error,
    }
}

/// Text from a provider (or anything reaching the callback), fit for a terminal line and a
/// log: `text::line` (no control, bidi or invisible characters, at most 300 characters), then
/// every secret lmi knows scrubbed.
pub fn provider_text(text: &str) -> String {
    crate::logging::scrub(&crate::text::line(text, TEXT_MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_made_safe() {
        assert_eq!(
            describe(
                "access_denied",
                Some("End-User\x1b[31m aborted\ninteraction\u{202e}")
            ),
            "access_denied (End-User [31m aborted interaction)"
        );
        assert_eq!(describe("invalid_grant", Some("")), "invalid_grant");
        assert_eq!(provider_text(&"x".repeat(500)).chars().count(), 301);
    }

    #[test]
    fn lifetimes_are_read_leniently_and_clamped() {
        let cases = [
            (json("18446744073709551615"), Some(u64::MAX)),
            (json("18446744073709551616"), Some(u64::MAX)),
            (json("1e300"), Some(u64::MAX)),
            (json("-1"), None),
            (json("1.5"), Some(1)),
            (json("\"3600\""), Some(3600)),
            (json("\"-3\""), None),
            (json("\"NaN\""), None),
            (json("true"), None),
            (json("null"), None),
        ];
        for (value, want) in cases {
            assert_eq!(seconds(&value), want, "{value}");
        }
        let t = parse_tokens(br#"{"access_token":"a","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(t.lifetime_secs(), lifetime::MAX_TOKEN_LIFETIME_SECS);
        let t = parse_tokens(br#"{"access_token":"a","expires_in":-5}"#).unwrap();
        assert_eq!(t.lifetime_secs(), lifetime::DEFAULT_TOKEN_LIFETIME_SECS);
    }

    #[test]
    fn the_session_end_is_refresh_expires_in_else_the_refresh_tokens_exp() {
        let now = 1_796_149_800;
        let key = jsonwebtoken::EncodingKey::from_secret(b"test-only");
        let jwt = |exp: Value| {
            jsonwebtoken::encode(
                &Default::default(),
                &serde_json::json!({ "exp": exp }),
                &key,
            )
            .unwrap()
        };
        let end = |body: Value| {
            parse_tokens(body.to_string().as_bytes())
                .unwrap()
                .session_end(now)
        };
        let rt = jwt(Value::from(now + 600));
        assert_eq!(
            end(
                serde_json::json!({"access_token": "a", "refresh_expires_in": 1800, "refresh_token": rt})
            ),
            Some(now + 1800)
        );
        assert_eq!(
            end(
                serde_json::json!({"access_token": "a", "refresh_expires_in": 0, "refresh_token": rt})
            ),
            Some(now + 600)
        );
        assert_eq!(
            end(serde_json::json!({"access_token": "a", "refresh_token": "opaque"})),
            None
        );
        assert_eq!(
            end(serde_json::json!({"access_token": "a", "refresh_expires_in": u64::MAX})),
            None
        );
        let far = jwt(Value::from(now + lifetime::MAX_SESSION_LIFETIME_SECS + 1));
        assert_eq!(
            end(serde_json::json!({"access_token": "a", "refresh_token": far})),
            None
        );
        // Passed, or passing within the clock skew, as issued: the provider's clock, not
        // the session's end.
        for exp in [0, now - 5, now + 10] {
            let past = jwt(Value::from(exp));
            assert_eq!(
                end(serde_json::json!({"access_token": "a", "refresh_token": past})),
                None,
                "exp {exp}"
            );
        }
    }

    fn json(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn device(extra: &str) -> String {
        format!(
            r#"{{"device_code":"d","user_code":"AB\u001b[2JCD","verification_uri":"https://idp.example/device","expires_in":18446744073709551615{extra}}}"#
        )
    }

    #[test]
    fn device_answers_are_bounded_and_their_urls_checked() {
        let d = parse_device_authorization(device(r#","interval":-1"#).as_bytes()).unwrap();
        assert_eq!(d.user_code, "AB [2JCD");
        assert_eq!(
            d.expires_in,
            Duration::from_secs(lifetime::MAX_DEVICE_CODE_SECS)
        );
        assert_eq!(d.interval, Duration::from_secs(lifetime::DEFAULT_POLL_SECS));
        let e = parse_device_authorization(
            device(r#","verification_uri_complete":"--renderer-cmd-prefix=/x.sh""#).as_bytes(),
        )
        .unwrap_err();
        assert!(e.contains("unsafe verification_uri_complete"), "{e}");
        let e = parse_device_authorization(
            br#"{"device_code":"d","user_code":"u","verification_uri":"file:///etc/passwd","expires_in":60}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("unsafe verification_uri `file:///etc/passwd`"),
            "{e}"
        );
    }

    #[test]
    fn oauth_errors_are_recognised_and_cleaned() {
        let e = parse_error(br#"{"error":"slow_down\u0007","error_description":7}"#).unwrap();
        assert_eq!(e.error, "slow_down");
        assert_eq!(e.description, None);
        assert!(parse_error(b"<html>").is_none());
        assert!(parse_error(br#"{"error":"\u001b"}"#).is_none());
    }
}
