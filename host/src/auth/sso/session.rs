//! The stored SSO session: the record kept in the keychain (or the opted-in file), how it is
//! matched to the configuration, and when its access token is fresh.
//!
//! The record is small: tokens, expiry and the validated user claims — never the ID token —
//! so it fits the smallest keychain (Windows: 2,560 bytes per secret). If it would not, the
//! access token (which lmi itself never sends anywhere) is left out first. Its format is
//! read back by other tools (`secret-tool`): the field names and their JSON are fixed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::SsoConfig;
use super::groups::GroupClaims;
use super::store::SessionStoreError;
use super::{LoginName, SsoUser};
use crate::auth::lifetime;
use crate::secrets::Secret;

/// The largest secret every supported keychain holds (Windows Credential Manager).
pub const KEYCHAIN_SECRET_LIMIT: usize = 2560;
pub(super) const RECORD_VERSION: u32 = 1;

/// The stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub v: u32,
    /// The validated `iss` and the client the tokens belong to.
    pub iss: String,
    pub client_id: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `preferred_username` or `upn`, kept only when the ID token has no `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_name: Option<LoginName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// When the access token expires (unix seconds).
    pub expires_at: u64,
    /// When it was obtained (for the refresh margin).
    pub obtained_at: u64,
    /// Where the provider revokes its tokens (RFC 7009), as known at sign-in: logout uses it
    /// even after the configuration moved to another provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The group claims of the last verified ID token (`groups`), for the environment
    /// policies' `LMI_SSO_ALLOWED_GROUPS`. Not written when empty, so the record of a session
    /// no policy checks is as before.
    #[serde(default, skip_serializing_if = "GroupClaims::is_empty")]
    pub groups: GroupClaims,
    /// When the session itself ends (unix seconds), as the provider last said: its
    /// `refresh_expires_in`, or its refresh token's `exp` (`answers::Tokens::session_end`).
    /// Advice: what `auth status` shows, and whether `lmi login sso` signs in afresh rather
    /// than answering "already signed in"; never whether a refresh is tried (the provider
    /// decides that). Not written when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ends_at: Option<u64>,
}

impl Session {
    pub fn new_record(iss: String, client_id: String, sub: String) -> Self {
        Self {
            v: RECORD_VERSION,
            iss,
            client_id,
            sub,
            email: None,
            name: None,
            login_name: None,
            access_token: None,
            refresh_token: None,
            expires_at: 0,
            obtained_at: 0,
            revocation_endpoint: None,
            groups: GroupClaims::default(),
            session_ends_at: None,
        }
    }

    /// The access token is usable at `now` (the one rule, `lifetime::is_fresh`). Judged by
    /// the expiry alone: a record may hold no access token (see the module documentation).
    pub fn is_fresh(&self, now: u64) -> bool {
        lifetime::is_fresh(self.obtained_at, self.expires_at, now)
    }

    /// The provider said the session ends, and that moment has passed: signing in again is
    /// the way on (what the user is told; a refresh is still left to the provider to refuse).
    pub fn has_ended(&self, now: u64) -> bool {
        self.session_ends_at.is_some_and(|end| end <= now)
    }

    /// The session was issued by the configured provider to the configured client.
    pub fn belongs_to(&self, cfg: &SsoConfig) -> bool {
        self.client_id == cfg.client_id && self.iss.trim_end_matches('/') == cfg.issuer_base()
    }

    /// What plugins and `auth status` may know of it.
    pub fn user(&self) -> SsoUser {
        SsoUser {
            subject: self.sub.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            login_name: self.login_name.clone(),
            expires_at: self.expires_at,
            groups: self.groups.clone(),
            session_ends_at: self.session_ends_at,
        }
    }

    /// The same session without its tokens (the summary the dispatch gate reads).
    pub fn without_tokens(&self) -> Self {
        Self {
            access_token: None,
            refresh_token: None,
            revocation_endpoint: None,
            ..self.clone()
        }
    }

    /// The bytes to store: compact JSON within [`KEYCHAIN_SECRET_LIMIT`] when possible.
    pub(super) fn encode(&self) -> Result<Vec<u8>, SessionStoreError> {
        let encode = |s: &Session| {
            serde_json::to_vec(s).map_err(|e| SessionStoreError::Failed(e.to_string()))
        };
        let bytes = encode(self)?;
        if bytes.len() <= KEYCHAIN_SECRET_LIMIT || self.access_token.is_none() {
            return Ok(bytes);
        }
        tracing::info!(
            "the SSO record is {} bytes; storing it without the access token to stay within {KEYCHAIN_SECRET_LIMIT}",
            bytes.len()
        );
        let without_access = Session {
            access_token: None,
            ..self.clone()
        };
        let bytes = encode(&without_access)?;
        if bytes.len() <= KEYCHAIN_SECRET_LIMIT || self.groups.is_empty() {
            return Ok(bytes);
        }
        // Many groups: they stay in the token-free summary the gate reads; a gate that finds
        // none renews the session, which captures them again.
        tracing::info!(
            "the SSO record is {} bytes; storing it without the captured groups to stay within {KEYCHAIN_SECRET_LIMIT}",
            bytes.len()
        );
        encode(&Session {
            groups: GroupClaims::default(),
            ..without_access
        })
    }
}

/// The stored session, if it belongs to the configured provider and client.
pub fn usable(session: Option<Session>, cfg: &SsoConfig) -> Option<Session> {
    session.filter(|s| s.belongs_to(cfg))
}

/// Something the user should know about a session that was nonetheless stored or renewed.
/// The library returns these; the command shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionWarning {
    /// `LMI_SSO_STORAGE=file`: the tokens were written unencrypted to this file.
    PlaintextFile {
        path: PathBuf,
        keychain: &'static str,
    },
    /// The refreshed ID token could not be checked now (its keys are out of reach).
    IdTokenUnverifiable(String),
    /// The refreshed ID token's time claims disagree with this computer's clock.
    IdTokenClockSkew(String),
}

impl std::fmt::Display for SessionWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::store::STORAGE_KEY;
        match self {
            SessionWarning::PlaintextFile { path, keychain } => write!(
                f,
                "{STORAGE_KEY}=file: writing your SSO tokens unencrypted to {} (readable only by you, mode 0600); unset {STORAGE_KEY} to keep them in the {keychain} instead",
                path.display()
            ),
            SessionWarning::IdTokenUnverifiable(why) => write!(
                f,
                "the identity provider's refreshed ID token could not be checked now ({why}); the new tokens were kept and your name and email were not updated"
            ),
            SessionWarning::IdTokenClockSkew(why) => write!(
                f,
                "the identity provider's refreshed ID token disagrees with this computer's clock ({why}); check the clock; the new tokens were kept and your name and email were not updated"
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session(access: usize, refresh: usize) -> Session {
        Session {
            email: Some("alice@example.test".into()),
            name: Some("Test User alice".into()),
            access_token: Some(Secret::new("a".repeat(access))),
            refresh_token: Some(Secret::new("r".repeat(refresh))),
            expires_at: 2,
            obtained_at: 1,
            ..Session::new_record(
                "https://idp.example".into(),
                "lmi-cli".into(),
                "alice".into(),
            )
        }
    }

    #[test]
    fn record_fits_the_smallest_keychain() {
        let small = session(43, 43).encode().unwrap();
        assert!(small.len() < 400, "{}", small.len());
        let back: Session = serde_json::from_slice(&small).unwrap();
        assert_eq!(back, session(43, 43));
        // A large JWT access token is dropped rather than overflowing Windows' limit.
        let big = session(2600, 200).encode().unwrap();
        assert!(big.len() <= KEYCHAIN_SECRET_LIMIT, "{}", big.len());
        let back: Session = serde_json::from_slice(&big).unwrap();
        assert!(back.access_token.is_none() && back.refresh_token.is_some());
        assert!(!format!("{:?}", session(43, 43)).contains("aaaa"));
    }

    /// Many groups do not push the record past the keychain's limit: they are left out of it
    /// (the summary keeps them; a gate that finds none renews the session), the refresh token
    /// never is.
    #[test]
    fn a_record_with_many_groups_still_fits_the_smallest_keychain() {
        let many: Vec<String> = (0..200)
            .map(|i| format!("{i:08x}-aaaa-bbbb-cccc-dddddddddddd"))
            .collect();
        let with_groups = Session {
            groups: crate::auth::sso::groups::capture(
                &serde_json::json!({ "groups": many }),
                &["groups".to_owned()],
            ),
            ..session(1500, 200)
        };
        let bytes = with_groups.encode().unwrap();
        assert!(bytes.len() <= KEYCHAIN_SECRET_LIMIT, "{}", bytes.len());
        let back: Session = serde_json::from_slice(&bytes).unwrap();
        assert!(back.groups.is_empty() && back.refresh_token.is_some());
        // A few groups stay in the record.
        let few = Session {
            groups: crate::auth::sso::groups::capture(
                &serde_json::json!({ "groups": ["ops"] }),
                &["groups".to_owned()],
            ),
            ..session(43, 43)
        };
        let back: Session = serde_json::from_slice(&few.encode().unwrap()).unwrap();
        assert_eq!(back, few);
    }

    #[test]
    fn the_record_format_is_unchanged() {
        let text = String::from_utf8(session(3, 3).encode().unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"iss":"https://idp.example","client_id":"lmi-cli","sub":"alice","email":"alice@example.test","name":"Test User alice","access_token":"aaa","refresh_token":"rrr","expires_at":2,"obtained_at":1}"#
        );
    }

    #[test]
    fn freshness_keeps_a_margin() {
        let at = |obtained_at, expires_at| Session {
            obtained_at,
            expires_at,
            ..session(9, 9)
        };
        assert!(at(1000, 1300).is_fresh(1200));
        assert!(!at(1000, 1300).is_fresh(1270));
        assert!(at(1000, 1002).is_fresh(1001));
        assert!(!at(1000, 1002).is_fresh(1002));
    }
}
