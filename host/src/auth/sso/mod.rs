//! The user's SSO session: `lmi login sso` ([`login`]), the session plugins and the
//! `requires_sso` gate see ([`current_user`]), `lmi auth refresh` ([`refresh`]), `lmi auth
//! status` ([`status`]) and `lmi logout sso` ([`logout`]).
//!
//! Layout, one concern per module:
//! - `config` (the `OAUTH_SSO_*` keys, the loopback-only `http://` rule) and `discovery` (the
//!   provider's endpoints; [`discovery::check`] is doctor's probe);
//! - `login` (the steps of `lmi login sso`: `login::code` for the browser, `login::device` for
//!   RFC 8628), `callback` (the loopback listener), `browser` (opening it), `safe_url`;
//! - `token` (the provider's token, device and revocation endpoints, through `oauth2`),
//!   `answers` (their bounded parsing), `id_token` (validation against the JWKS);
//! - `session` (the stored record and its freshness), `groups` (the group claims it keeps
//!   for the environment policies), `status` (who is signed in),
//!   `refresh` (renewal under its lock), `logout` (revocation);
//! - `store` (`store::keychain`, the session's items in [`crate::keychain`], split over
//!   several when longer than one Windows secret by `store::split`; `store::file`,
//!   the opted-in 0600 file; `store::summary`, the token-free copy the gate reads).
//!
//! Invariants:
//! - Raw SSO tokens never leave this module but one way: plugins get [`SsoUser`] (subject,
//!   email, name, expiry) and nothing else; `handout` gives the verified ID token to `lmi
//!   credential kube --token sso-id` (the user's own command, for kubectl).
//! - Nothing here prints: what the user must see is returned ([`LoginUi`] steps,
//!   [`SessionWarning`]s) and shown by the command.
//! - A valid session is read without network or lock. An expired access token is refreshed
//!   under `~/.cache/lmi/sso.lock`: the process that gets the lock re-reads the store and
//!   refreshes only if the token is still expired, so concurrent processes refresh once and a
//!   rotated refresh token is never presented twice.
//! - Nothing here opens a browser except [`login`]: the gate and plugins fail with exit 4
//!   (`run: lmi login sso`) instead.
//! - A refresh token the provider rejects (`invalid_grant`) ends the session locally too.
//! - A refresh stores the provider's answer (a rotated refresh token spends the old one)
//!   before it checks the new ID token (see `refresh`).

pub mod answers;
mod browser;
mod callback;
pub mod config;
pub mod discovery;
pub mod groups;
pub mod handout;
mod id_token;
pub mod login;
pub mod logout;
pub mod profile;
pub mod refresh;
mod safe_url;
pub mod session;
pub mod status;
pub mod store;
mod token;

use std::time::Duration;

use config::SsoConfig;

pub use login::{LoginError, LoginOptions, LoginOutcome, LoginStep, LoginUi, login};
pub use logout::{LogoutOutcome, Revocation, SignedOut, logout};
pub use refresh::{Renewal, refresh};
pub use safe_url::SafeUrl;
pub use session::SessionWarning;
pub use status::{
    SsoStatus, current_user, current_user_without_keychain, status, stored_session, stored_user,
    subject_without_keychain,
};

/// What plugins and `auth status` may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoUser {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// What names the user when the ID token has no `email` (never given to plugins).
    pub login_name: Option<LoginName>,
    /// When the current access token expires (unix seconds); refreshed silently after that.
    pub expires_at: u64,
    /// The group claims of the last verified ID token (never given to plugins).
    pub groups: groups::GroupClaims,
    /// When the session ends, if the provider said (unix seconds; see
    /// `session::Session::session_ends_at`). Never given to plugins.
    pub session_ends_at: Option<u64>,
}

impl SsoUser {
    /// Email, else the login name (`preferred_username`, `upn`), else name, else subject:
    /// how messages name the user.
    pub fn display_name(&self) -> &str {
        self.email
            .as_deref()
            .or(self.login_name.as_ref().map(|l| l.value.as_str()))
            .or(self.name.as_deref())
            .unwrap_or(&self.subject)
    }

    /// The user as messages name them: `email (name)`, else the display name, saying which
    /// claim that is when it is not the email or the name.
    pub fn who(&self) -> String {
        match (&self.email, &self.name, self.display_claim()) {
            (Some(email), Some(name), _) => format!("{email} ({name})"),
            (_, _, "email" | "name") => self.display_name().to_owned(),
            (_, _, claim) => format!(
                "{} (the ID token's `{claim}`: it carries no `email`)",
                self.display_name()
            ),
        }
    }

    /// The ID-token claim [`Self::display_name`] comes from.
    pub fn display_claim(&self) -> &'static str {
        match (&self.email, &self.login_name, &self.name) {
            (Some(_), _, _) => "email",
            (None, Some(login), _) => login.claim.name(),
            (None, None, Some(_)) => "name",
            (None, None, None) => "sub",
        }
    }
}

/// The user's login name where the ID token carries no `email`, and the claim it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoginName {
    pub claim: NameClaim,
    pub value: String,
}

/// The claims a login name is read from, in order (Entra ID's `upn` is an optional claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameClaim {
    PreferredUsername,
    Upn,
}

impl NameClaim {
    pub fn name(self) -> &'static str {
        match self {
            NameClaim::PreferredUsername => "preferred_username",
            NameClaim::Upn => "upn",
        }
    }
}

/// The keychain account of a provider and client.
fn account(cfg: &SsoConfig) -> String {
    format!("{}@{}", cfg.client_id, cfg.issuer_base())
}

/// A duration in words: `4m 58s`.
pub fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}
