//! The token handed to lmi in `LMI_ACCESS_TOKEN` (CI pipelines that receive one): it replaces
//! the active environment's grant, and lmi cannot renew it.
//!
//! When it is a JWT, its `exp` is read without verifying the signature ([`super::unverified`]:
//! that is the service's job) and used as advice only:
//! - past `exp` + [`CLOCK_SKEW_SECS`], the token is not sent: every use (`lmi auth token`, a
//!   plugin's `get-token` or service request, and the dispatch gate before a plugin that may
//!   use it starts) is refused with exit 4 naming the variable, when it expired and what to
//!   do, before any request;
//! - within [`WARN_WITHIN_SECS`] of `exp`, one warning per process names the time left;
//! - an opaque token, or a JWT without a usable `exp`, is sent as it is.
//!
//! A forged `exp` gains nothing: a past one only stops lmi sending the forger's own token, a
//! future one changes nothing lmi would do (the service still judges the token).

use std::sync::atomic::{AtomicBool, Ordering};

use super::cache::AccessToken;
use super::unverified::{self, Claims};
use super::{AuthError, ServiceTokenError, when};
use crate::settings::{Settings, keys};

/// How far this computer's clock may run ahead of the token issuer's before a token is
/// called expired: a token is refused only once its `exp` is this far in the past.
pub const CLOCK_SKEW_SECS: u64 = 30;
/// A token ending within this long gets a warning.
pub const WARN_WITHIN_SECS: u64 = 3600;

/// The variable, for messages.
pub const VAR: &str = keys::ACCESS_TOKEN;

/// The handed token and what it claims.
#[derive(Clone)]
pub struct HandedToken {
    token: AccessToken,
    facts: Facts,
}

impl std::fmt::Debug for HandedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandedToken")
            .field("facts", &self.facts)
            .finish_non_exhaustive()
    }
}

/// What may be shown of a handed token: never the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `None`: not a JWT lmi can read (an opaque token).
    pub claims: Option<Claims>,
}

/// Where a handed token stands at a moment, by its unverified `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Opaque, or a JWT without a usable `exp`: used as it is.
    NoExpiry,
    /// More than [`WARN_WITHIN_SECS`] left.
    Valid { exp: u64 },
    /// Ends within [`WARN_WITHIN_SECS`] (or ended within the clock skew): used, with a
    /// warning.
    EndingSoon { exp: u64 },
    /// Ended more than [`CLOCK_SKEW_SECS`] ago: not sent.
    Expired { exp: u64 },
}

impl Facts {
    pub fn is_jwt(&self) -> bool {
        self.claims.is_some()
    }

    pub fn exp(&self) -> Option<u64> {
        self.claims.as_ref().and_then(|c| c.exp)
    }

    pub fn standing(&self, now: u64) -> Standing {
        match self.exp() {
            None => Standing::NoExpiry,
            Some(exp) if now >= exp.saturating_add(CLOCK_SKEW_SECS) => Standing::Expired { exp },
            Some(exp) if exp.saturating_sub(now) < WARN_WITHIN_SECS => Standing::EndingSoon { exp },
            Some(exp) => Standing::Valid { exp },
        }
    }

    /// One line for `auth status` and `doctor`: whose it claims to be and when it ends.
    pub fn describe(&self, now: u64) -> String {
        let Some(claims) = &self.claims else {
            return "not a JWT: lmi cannot tell when it expires".to_owned();
        };
        let mut who = String::from("a JWT");
        if let Some(sub) = &claims.sub {
            who.push_str(&format!(" for `{sub}`"));
        }
        if let Some(iss) = &claims.iss {
            who.push_str(&format!(" from `{iss}`"));
        }
        let when = match self.standing(now) {
            Standing::NoExpiry => "with no expiry it states".to_owned(),
            Standing::Valid { exp } => format!("valid until {}", when::moment(exp, now)),
            Standing::EndingSoon { exp } if exp > now => {
                format!("expiring soon: valid until {}", when::moment(exp, now))
            }
            Standing::EndingSoon { exp } => format!(
                "expired at {} (within the {CLOCK_SKEW_SECS} s allowed for clock skew)",
                when::moment(exp, now)
            ),
            Standing::Expired { exp } => format!(
                "expired at {}: lmi will not send it",
                when::moment(exp, now)
            ),
        };
        format!("{who}, {when}; its claims are unverified (the service checks the token)")
    }
}

/// Whether this process has warned about a handed token ending soon.
static WARNED: AtomicBool = AtomicBool::new(false);

impl HandedToken {
    pub fn new(value: String) -> Self {
        let facts = Facts {
            claims: unverified::claims(&value),
        };
        Self {
            token: AccessToken::new(value),
            facts,
        }
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// The token to send, or why it is not sent: its `exp` passed (see the module
    /// documentation). Warns once per process when it ends within the hour.
    pub fn usable(&self, now: u64) -> Result<&AccessToken, AuthError> {
        match self.facts.standing(now) {
            Standing::Expired { exp } => Err(expired(exp, now)),
            Standing::EndingSoon { exp } => {
                if !WARNED.swap(true, Ordering::Relaxed) {
                    let left = match exp.checked_sub(now) {
                        Some(left) => format!("expires in {}", when::span(left)),
                        None => "has just expired by this computer's clock".to_owned(),
                    };
                    tracing::warn!(
                        "the token in {VAR} {left} (at {}); lmi cannot renew it: get a new one, or unset {VAR} to use the environment's own grant",
                        when::utc(exp)
                    );
                }
                Ok(&self.token)
            }
            Standing::NoExpiry | Standing::Valid { .. } => Ok(&self.token),
        }
    }
}

fn expired(exp: u64, now: u64) -> AuthError {
    ServiceTokenError::OverrideExpired(format!(
        "the token in {VAR} expired at {} by its own `exp`; lmi sent nothing",
        when::moment(exp, now)
    ))
    .into()
}

/// `LMI_ACCESS_TOKEN`, if set and `env` is the active environment (the only one it applies to).
pub fn for_env(settings: &Settings, env: &str) -> Option<HandedToken> {
    if settings.active_env() != Some(env) {
        return None;
    }
    settings
        .process_var(VAR)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| HandedToken::new(v.to_owned()))
}

/// The dispatch gate: before a plugin that may use the active environment's token starts, an
/// expired handed token refuses the run (nothing of the plugin is loaded), and one ending
/// soon is warned about.
pub fn admit(settings: &Settings) -> Result<(), AuthError> {
    let Some(env) = settings.active_env() else {
        return Ok(());
    };
    match for_env(settings, env) {
        Some(handed) => handed.usable(super::lifetime::now_secs()).map(|_| ()),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_exp(exp: Option<u64>) -> Facts {
        Facts {
            claims: Some(Claims {
                exp,
                ..Claims::default()
            }),
        }
    }

    #[test]
    fn standing_allows_the_clock_skew_and_warns_within_the_hour() {
        let now = 1_000_000;
        assert_eq!(Facts::default().standing(now), Standing::NoExpiry);
        assert_eq!(with_exp(None).standing(now), Standing::NoExpiry);
        let exp = |e| with_exp(Some(e)).standing(now);
        assert_eq!(exp(now - 31), Standing::Expired { exp: now - 31 });
        assert_eq!(exp(now - 30), Standing::Expired { exp: now - 30 });
        assert_eq!(exp(now - 29), Standing::EndingSoon { exp: now - 29 });
        assert_eq!(exp(now + 600), Standing::EndingSoon { exp: now + 600 });
        assert_eq!(exp(now + 3599), Standing::EndingSoon { exp: now + 3599 });
        assert_eq!(exp(now + 3600), Standing::Valid { exp: now + 3600 });
        assert_eq!(exp(0), Standing::Expired { exp: 0 });
        // Saturating, never wrapping: a huge `exp` (unverified::claims bounds it anyway).
        assert_eq!(
            with_exp(Some(u64::MAX)).standing(now),
            Standing::Valid { exp: u64::MAX }
        );
    }

    #[test]
    fn an_expired_token_is_refused_with_exit_4_naming_the_variable_and_the_time() {
        let now = 1_796_149_800;
        let handed = HandedToken {
            token: AccessToken::new("handed-unit-token-1".into()),
            facts: with_exp(Some(now - 3 * 3600 - 600)),
        };
        let e = handed.usable(now).unwrap_err();
        assert_eq!(crate::exit::ExitStatus::exit(&e), crate::exit::Exit::Auth);
        let msg = e.to_string();
        assert!(
            msg.contains("LMI_ACCESS_TOKEN")
                && msg.contains("2026-12-01 15:20 UTC (3 h 10 min ago)"),
            "{msg}"
        );
        assert!(e.hint().unwrap().contains("unset LMI_ACCESS_TOKEN"));
        assert!(!format!("{handed:?}").contains("handed-unit-token-1"));
    }
}
