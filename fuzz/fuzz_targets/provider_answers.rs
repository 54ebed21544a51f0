//! An identity provider's token and device-authorization answers are hostile until parsed:
//! any bytes must parse (bounded, every URL one lmi may show and open, every text terminal-safe)
//! or be refused with a message — never a panic, an overflow or an unbounded number. The same
//! bytes as a JWT read without verification (a refresh token's `exp`, `LMI_ACCESS_TOKEN`).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lmi::auth::lifetime;
use lmi::auth::sso::answers;
use lmi::text::is_unsafe_char;

fn terminal_safe(text: &str) -> bool {
    !text.chars().any(is_unsafe_char)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tokens) = answers::parse_tokens(data) {
        assert!(!tokens.access_token.expose().is_empty());
        let secs = tokens.lifetime_secs();
        assert!(secs <= lifetime::MAX_TOKEN_LIFETIME_SECS, "{secs}");
        let now = lmi::auth::lifetime::now_secs();
        assert!(lifetime::expiry_after(now, secs) >= now);
        if let Some(end) = tokens.session_end(now) {
            assert!(end <= now + lifetime::MAX_SESSION_LIFETIME_SECS, "{end}");
        }
    }

    match answers::parse_device_authorization(data) {
        Ok(auth) => {
            for url in
                std::iter::once(&auth.verification_uri).chain(&auth.verification_uri_complete)
            {
                let text = url.as_str();
                assert!(
                    text.starts_with("https://") || text.starts_with("http://"),
                    "{text}"
                );
                assert!(terminal_safe(text), "{text:?}");
                assert!(!text.contains(char::is_whitespace), "{text:?}");
            }
            assert!(terminal_safe(&auth.user_code), "{:?}", auth.user_code);
            assert!(!auth.user_code.is_empty() && auth.user_code.chars().count() <= 65);
            assert!(auth.expires_in >= Duration::from_secs(lifetime::MIN_POLL_SECS));
            assert!(auth.expires_in <= Duration::from_secs(lifetime::MAX_DEVICE_CODE_SECS));
            assert!(auth.interval >= Duration::from_secs(lifetime::MIN_POLL_SECS));
            assert!(auth.interval <= Duration::from_secs(lifetime::MAX_POLL_SECS));
        }
        Err(why) => assert!(terminal_safe(&why), "{why:?}"),
    }

    // A refresh token (or a handed access token) read as a JWT without verification: a
    // plausible date or nothing, and text that is one bounded terminal-safe line.
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(claims) = lmi::auth::unverified::claims(text.trim())
    {
        assert!(claims.exp.is_none_or(|e| e <= lmi::auth::when::LAST_SECOND));
        for t in claims.sub.iter().chain(&claims.iss) {
            assert!(!t.is_empty() && terminal_safe(t), "{t:?}");
            assert!(t.chars().count() <= lmi::auth::unverified::MAX_TEXT_CHARS + 1);
        }
        let _ = lmi::auth::when::utc(claims.exp.unwrap_or(u64::MAX));
    }

    if let Some(e) = answers::parse_error(data) {
        assert!(
            !e.error.is_empty() && terminal_safe(&e.error),
            "{:?}",
            e.error
        );
        if let Some(d) = &e.description {
            assert!(terminal_safe(d), "{d:?}");
        }
        assert!(terminal_safe(&answers::describe(
            &e.error,
            e.description.as_deref()
        )));
    }
});
