//! Lifetimes and intervals an identity provider states, clamped before any arithmetic.
//!
//! A provider's numbers are untrusted: `expires_in: 18446744073709551615` must neither panic
//! (`Instant + Duration`) nor wrap (a token cached as already expired and fetched on every
//! command). Every such number goes through one of these functions, and the result is then
//! combined with checked or saturating arithmetic. The bounds are in `docs/security.md`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The one clock for token times: unix seconds (0 if the system clock is before 1970).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Tokens are replaced this long before they expire: 10% of their lifetime, at most 60 s.
pub fn safety_margin(lifetime_secs: u64) -> u64 {
    (lifetime_secs / 10).min(60)
}

/// The one freshness rule, for service tokens and the SSO session alike: a token obtained at
/// `obtained_at` and expiring at `expires_at` is usable at `now` outside its safety margin.
pub fn is_fresh(obtained_at: u64, expires_at: u64, now: u64) -> bool {
    now.saturating_add(safety_margin(expires_at.saturating_sub(obtained_at))) < expires_at
}

/// Lifetime assumed for an access token whose answer has no `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 300;
/// Longest access-token lifetime lmi believes: one year.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 366 * 24 * 3600;
/// Longest a device code is polled for: 30 minutes (RFC 8628 examples use 1,800 s).
pub const MAX_DEVICE_CODE_SECS: u64 = 1800;
/// Device-flow polling interval bounds: RFC 8628 defaults to 5 s.
pub const MIN_POLL_SECS: u64 = 1;
pub const MAX_POLL_SECS: u64 = 60;
pub const DEFAULT_POLL_SECS: u64 = 5;

/// Longest SSO session lmi states to the user: ten years. A provider's session end further
/// away than this (`refresh_expires_in` of `u64::MAX`, a refresh token's `exp` in the year
/// 9999) is no end a person can plan by, so it counts as unstated rather than clamped to a
/// date the provider never said: lmi needs no number to keep a session, only to show one.
pub const MAX_SESSION_LIFETIME_SECS: u64 = 10 * 366 * 24 * 3600;

/// A session's stated lifetime (`refresh_expires_in`), if it is one to show: 0 (Keycloak's
/// "no limit" for offline tokens) and anything over ten years count as unstated.
pub fn session_lifetime_secs(stated: Option<u64>) -> Option<u64> {
    stated.filter(|s| (1..=MAX_SESSION_LIFETIME_SECS).contains(s))
}

/// An access token's lifetime in seconds: `expires_in` if stated, clamped to one year.
pub fn token_lifetime_secs(expires_in: Option<u64>) -> u64 {
    expires_in
        .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS)
        .min(MAX_TOKEN_LIFETIME_SECS)
}

/// How long a device code may be polled for: at least one poll, at most 30 minutes.
pub fn device_code_lifetime(expires_in: u64) -> Duration {
    Duration::from_secs(expires_in.clamp(MIN_POLL_SECS, MAX_DEVICE_CODE_SECS))
}

/// The device-flow polling interval, clamped to 1–60 s.
pub fn poll_interval(interval: Option<u64>) -> Duration {
    Duration::from_secs(
        interval
            .unwrap_or(DEFAULT_POLL_SECS)
            .clamp(MIN_POLL_SECS, MAX_POLL_SECS),
    )
}

/// `now + secs` as a Unix time, saturating instead of wrapping.
pub fn expiry_after(now_unix: u64, secs: u64) -> u64 {
    now_unix.saturating_add(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_numbers_are_clamped_not_wrapped() {
        assert_eq!(token_lifetime_secs(Some(u64::MAX)), MAX_TOKEN_LIFETIME_SECS);
        assert_eq!(token_lifetime_secs(None), DEFAULT_TOKEN_LIFETIME_SECS);
        assert_eq!(
            device_code_lifetime(u64::MAX).as_secs(),
            MAX_DEVICE_CODE_SECS
        );
        assert_eq!(device_code_lifetime(0).as_secs(), MIN_POLL_SECS);
        assert_eq!(poll_interval(Some(u64::MAX)).as_secs(), MAX_POLL_SECS);
        assert_eq!(poll_interval(Some(0)).as_secs(), MIN_POLL_SECS);
        assert_eq!(expiry_after(u64::MAX - 1, 10), u64::MAX);
        assert_eq!(session_lifetime_secs(Some(1800)), Some(1800));
        assert_eq!(session_lifetime_secs(Some(0)), None);
        assert_eq!(session_lifetime_secs(Some(u64::MAX)), None);
        assert_eq!(session_lifetime_secs(None), None);
    }
}
