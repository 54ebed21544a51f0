//! Claims of a JWT read WITHOUT verifying its signature, for advice to the user only.
//!
//! lmi reads `exp`, `sub` and `iss` from tokens it cannot verify: one handed to it in
//! `LMI_ACCESS_TOKEN` (checking it is the service's job: lmi holds none of its keys) and an
//! SSO refresh token (meant for the provider alone). Anyone can write these claims, so they
//! never grant anything: they say whose a token claims to be and when it claims to end. The
//! one decision they drive is not sending a token whose own `exp` says it is dead, which a
//! forger could only turn against their own token (see docs/security.md, E-TOK).
//!
//! The parsing is `jsonwebtoken`'s (`dangerous::insecure_decode`), never lmi's own. Bounds: a
//! token over [`MAX_JWT_BYTES`], or not three base64url parts, is not read at all (a JWT whose
//! header that crate cannot read, such as `alg: none`, counts as not a JWT); `exp` counts only
//! as a JSON number of seconds from 1970 to the year 9999 (a string, a negative number or a
//! larger one counts as no `exp`); `sub` and `iss` are one terminal-safe line of at most
//! [`MAX_TEXT_CHARS`] characters with known secrets masked.

use serde_json::Value;

/// The longest token lmi reads claims from; real access tokens are a few KiB at most.
pub const MAX_JWT_BYTES: usize = 16 * 1024;
/// How much of `sub` or `iss` is kept for display.
pub const MAX_TEXT_CHARS: usize = 255;

/// What an unverified JWT claims; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `exp`, unix seconds, if it is a plausible date.
    pub exp: Option<u64>,
    /// `sub`, made terminal-safe and bounded.
    pub sub: Option<String>,
    /// `iss`, made terminal-safe and bounded.
    pub iss: Option<String>,
}

/// The claims of `token` if it is a JWT lmi can read, else `None` (an opaque token).
pub fn claims(token: &str) -> Option<Claims> {
    if !looks_like_a_jwt(token) {
        return None;
    }
    // Not verified, on purpose: see the module documentation.
    let data = jsonwebtoken::dangerous::insecure_decode::<Value>(token).ok()?;
    let claims = data.claims.as_object()?;
    Some(Claims {
        exp: claims.get("exp").and_then(numeric_date),
        sub: claims.get("sub").and_then(shown),
        iss: claims.get("iss").and_then(shown),
    })
}

/// Three base64url parts (the signature may be empty), within the size bound: checked before
/// anything is decoded; a token over the bound is not even scanned.
fn looks_like_a_jwt(token: &str) -> bool {
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if token.len() > MAX_JWT_BYTES {
        return false;
    }
    let parts: Vec<&str> = token.splitn(4, '.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| base64url(p))
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, fractions dropped, within
/// 1970..=9999; anything else is no date.
fn numeric_date(value: &Value) -> Option<u64> {
    let Value::Number(n) = value else {
        return None;
    };
    let secs = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })?;
    (secs <= super::when::LAST_SECOND).then_some(secs)
}

/// A text claim as lmi may show it; empty or non-text counts as absent.
fn shown(value: &Value) -> Option<String> {
    let text = crate::logging::scrub(&crate::text::line(value.as_str()?, MAX_TEXT_CHARS));
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `{"alg":"HS256"}.<payload>.sig`, by jsonwebtoken itself.
    fn jwt(payload: Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(b"test-only");
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &payload, &key).unwrap()
    }

    #[test]
    fn a_jwts_claims_are_read_and_bounded() {
        let c = claims(&jwt(serde_json::json!({
            "exp": 1_796_149_800u64, "sub": "ci-bot\u{1b}]52;c;AAAA\u{7}", "iss": "https://idp.example"
        })))
        .unwrap();
        assert_eq!(c.exp, Some(1_796_149_800));
        assert_eq!(c.sub.as_deref(), Some("ci-bot ]52;c;AAAA"));
        assert_eq!(c.iss.as_deref(), Some("https://idp.example"));
        let long = claims(&jwt(serde_json::json!({"sub": "x".repeat(5000)}))).unwrap();
        assert_eq!(long.sub.unwrap().chars().count(), MAX_TEXT_CHARS + 1);
    }

    #[test]
    fn a_malformed_exp_is_no_exp_never_a_panic() {
        for exp in [
            serde_json::json!("1796149800"),
            serde_json::json!("tomorrow"),
            serde_json::json!(-1),
            serde_json::json!(-1.5),
            serde_json::json!(1e300),
            serde_json::json!(u64::MAX),
            serde_json::json!(253_402_300_800u64),
            serde_json::json!(null),
            serde_json::json!([1]),
            serde_json::json!({"at": 1}),
            serde_json::json!(true),
        ] {
            let c = claims(&jwt(serde_json::json!({ "exp": exp }))).unwrap();
            assert_eq!(c.exp, None, "{exp}");
        }
        let c = claims(&jwt(serde_json::json!({ "exp": 1_796_149_800.75 }))).unwrap();
        assert_eq!(c.exp, Some(1_796_149_800));
        let c = claims(&jwt(serde_json::json!({ "exp": 0 }))).unwrap();
        assert_eq!(c.exp, Some(0));
    }

    #[test]
    fn opaque_and_oversized_tokens_are_not_read() {
        for opaque in [
            "",
            "ci-provided-token-3c9e",
            "a.b",
            "a.b.c.d",
            ".eyJ9.x",
            "eyJhbGciOiJIUzI1NiJ9..x",
            "eyJhbGciOiJIUzI1NiJ9.e30=.x",
            "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.",
            "not a jwt at all.but.dotted",
        ] {
            assert_eq!(claims(opaque), None, "{opaque}");
        }
        // A JSON payload that is not an object.
        let key = jsonwebtoken::EncodingKey::from_secret(b"k");
        let array = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &[1, 2], &key).unwrap();
        assert_eq!(claims(&array), None);
        // Too large to read, whatever it holds.
        let big = jwt(serde_json::json!({"exp": 1, "pad": "x".repeat(MAX_JWT_BYTES)}));
        assert_eq!(claims(&big), None);
    }
}
