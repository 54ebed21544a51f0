//! The stored SSO session: the record kept in the keychain (or the opted-in file), how it is
//! matched to the configuration, and when its access token is fresh.
//!
//! The record holds tokens, expiry and the validated user claims, and the last ID token lmi
//! verified itself (for `lmi credential kube --token sso-id`; never given to plugins). Its
//! format is read back by other tools (`secret-tool`): the field names and their JSON are
//! fixed. The smallest keychain keeps 2,560 bytes per secret (Windows Credential Manager);
//! a longer record (an Entra access token, hundreds of groups) is split over up to 8 items
//! (`store::split`), whole. Only a record beyond that is trimmed ([`Session::encode_fitting`]):
//! the ID token first, then the access token, then the captured groups, never the refresh token.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::SsoConfig;
use super::groups::GroupClaims;
use super::store::SessionStoreError;
use super::{LoginName, SsoUser};
use crate::auth::lifetime;
use crate::secrets::Secret;

pub use crate::keychain::KEYCHAIN_SECRET_LIMIT;
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
    /// The last ID token that passed every check (signature, issuer, audience, subject, time)
    /// at sign-in or refresh, for tools that present the user's identity themselves
    /// (`lmi credential kube --token sso-id`). Not written when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<IdTokenRecord>,
}

/// A verified ID token as kept in the session: the token and its lifetime (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenRecord {
    pub token: Secret,
    /// Its `exp`, clamped to lmi's longest believable lifetime.
    pub expires_at: u64,
    /// When lmi received it (for the refresh margin).
    pub obtained_at: u64,
}

impl IdTokenRecord {
    /// A token verified at `now` whose `exp` is `exp`.
    pub fn verified(token: Secret, exp: u64, now: u64) -> Self {
        Self {
            token,
            expires_at: exp.min(lifetime::expiry_after(
                now,
                lifetime::MAX_TOKEN_LIFETIME_SECS,
            )),
            obtained_at: now,
        }
    }

    /// Usable at `now`, by the one freshness rule.
    pub fn is_fresh(&self, now: u64) -> bool {
        lifetime::is_fresh(self.obtained_at, self.expires_at, now)
    }
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
            id_token: None,
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
            id_token: None,
            ..self.clone()
        }
    }

    /// The record as stored: compact JSON, whole.
    pub(super) fn encode(&self) -> Result<Vec<u8>, SessionStoreError> {
        serde_json::to_vec(self).map_err(|e| SessionStoreError::Failed(e.to_string()))
    }

    /// The record as a store keeps it, `fit` saying whether (and how) it keeps the bytes:
    /// whole when it can, else without the ID token, then the access token, then also without the captured
    /// groups, each step logged (the refresh token is never left out); `None` when even that
    /// does not fit. `room` names the store's bound, for the log.
    pub(super) fn encode_fitting<T>(
        &self,
        room: &str,
        fit: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<Option<T>, SessionStoreError> {
        let whole = self.encode()?;
        if let Some(kept) = fit(&whole) {
            return Ok(Some(kept));
        }
        // The ID token goes first: only `lmi credential kube --token sso-id` reads it, and a
        // refresh brings a new one.
        let without_id = Session {
            id_token: None,
            ..self.clone()
        };
        let without_access = Session {
            access_token: None,
            ..without_id.clone()
        };
        // Many groups: they stay in the token-free summary the gate reads; a gate that finds
        // none renews the session, which captures them again.
        let without_groups = Session {
            groups: GroupClaims::default(),
            ..without_access.clone()
        };
        let mut len = whole.len();
        for (what, smaller) in [
            ("the ID token", without_id),
            ("the ID token and the access token", without_access),
            (
                "the ID token, the access token and the captured groups",
                without_groups,
            ),
        ] {
            tracing::info!(
                "the SSO record is {len} bytes, more than {room}; storing it without {what}"
            );
            let bytes = smaller.encode()?;
            if let Some(kept) = fit(&bytes) {
                return Ok(Some(kept));
            }
            len = bytes.len();
        }
        Ok(None)
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

    fn many_groups(n: usize) -> GroupClaims {
        let many: Vec<String> = (0..n)
            .map(|i| format!("{i:08x}-aaaa-bbbb-cccc-dddddddddddd"))
            .collect();
        crate::auth::sso::groups::capture(
            &serde_json::json!({ "groups": many }),
            &["groups".to_owned()],
        )
    }

    /// The keychain's bound: what `store::split` lays out in its items.
    fn keychain_fit(b: &[u8]) -> Option<Vec<Vec<u8>>> {
        crate::auth::sso::store::split::layout(b)
    }

    #[test]
    fn a_small_record_is_one_item_and_round_trips() {
        let small = session(43, 43).encode().unwrap();
        assert!(small.len() < 400, "{}", small.len());
        let back: Session = serde_json::from_slice(&small).unwrap();
        assert_eq!(back, session(43, 43));
        let items = session(43, 43)
            .encode_fitting("", keychain_fit)
            .unwrap()
            .unwrap();
        assert_eq!(items, vec![small]);
        assert!(!format!("{:?}", session(43, 43)).contains("aaaa"));
    }

    /// Entra-sized tokens and 200 groups (GUIDs): the record is split, whole — the access
    /// token and the groups kept — every item within Windows' 2,560 bytes.
    #[test]
    fn a_record_with_large_tokens_and_many_groups_is_split_whole() {
        let big = Session {
            groups: many_groups(200),
            ..session(3000, 2000)
        };
        let whole = big.encode().unwrap();
        let items = big.encode_fitting("", keychain_fit).unwrap().unwrap();
        let sizes: Vec<usize> = items.iter().map(Vec::len).collect();
        // What one item would have kept: the record trimmed to the limit.
        let one_item = big
            .encode_fitting("", |b| {
                (b.len() <= KEYCHAIN_SECRET_LIMIT).then_some(b.len())
            })
            .unwrap()
            .unwrap();
        eprintln!(
            "FIGURE sso-record: refresh 2,000 B + access 3,000 B + 200 groups: {} bytes whole; split into {} items of {sizes:?} bytes (limit {KEYCHAIN_SECRET_LIMIT}); one item would keep {one_item} bytes (no access token, no groups)",
            whole.len(),
            items.len()
        );
        assert!(whole.len() > KEYCHAIN_SECRET_LIMIT);
        assert!(items.len() > 1 && items.len() <= 8, "{sizes:?}");
        assert!(
            sizes.iter().all(|&n| n <= KEYCHAIN_SECRET_LIMIT),
            "{sizes:?}"
        );
        let mut slots = std::collections::BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            slots.insert(i + 1, item.clone());
        }
        let joined = join(&slots);
        let back: Session = serde_json::from_slice(&joined).unwrap();
        assert_eq!(back, big);
    }

    /// The parts of a split record, put back together the way a reader does.
    fn join(slots: &std::collections::BTreeMap<usize, Vec<u8>>) -> Vec<u8> {
        let first = &slots[&1];
        let body = &first[first.iter().position(|&b| b == b'\n').unwrap() + 1..];
        let mut all = body.to_vec();
        for part in slots.range(2..).map(|(_, p)| p) {
            all.extend_from_slice(part);
        }
        all
    }

    /// Beyond what a store keeps even split, the access token goes first, then the groups;
    /// the refresh token never; and a record that still does not fit is not stored.
    #[test]
    fn a_record_beyond_the_stores_bound_is_trimmed_access_token_first_then_groups() {
        let within = |limit: usize| move |b: &[u8]| (b.len() <= limit).then(|| b.to_vec());
        let with_groups = Session {
            groups: many_groups(200),
            ..session(1500, 200)
        };
        // A bound the groups fit in but not the access token as well.
        let groups_only = Session {
            access_token: None,
            ..with_groups.clone()
        };
        let bound = groups_only.encode().unwrap().len();
        let kept = with_groups
            .encode_fitting("", within(bound))
            .unwrap()
            .unwrap();
        let back: Session = serde_json::from_slice(&kept).unwrap();
        assert_eq!(back, groups_only);
        // A bound only the tokens-free-of-groups record fits.
        let kept = with_groups
            .encode_fitting("", within(KEYCHAIN_SECRET_LIMIT))
            .unwrap()
            .unwrap();
        let back: Session = serde_json::from_slice(&kept).unwrap();
        assert!(back.groups.is_empty() && back.access_token.is_none());
        assert_eq!(back.refresh_token, with_groups.refresh_token);
        // A refresh token beyond the bound: nothing to store.
        assert!(
            session(10, 3000)
                .encode_fitting("", within(KEYCHAIN_SECRET_LIMIT))
                .unwrap()
                .is_none()
        );
        // Past the keychain's 8 items.
        assert!(
            session(10, 8 * KEYCHAIN_SECRET_LIMIT)
                .encode_fitting("", keychain_fit)
                .unwrap()
                .is_none()
        );
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
