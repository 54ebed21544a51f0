//! The user's SSO session. OWNER: SSO helper (issue 4). Until login exists there is never a
//! session, which is the truth.

use super::AuthError;
use crate::settings::Settings;

/// What plugins and `auth status` may know about the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoUser {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub expires_at: u64,
}

/// The current valid session's user, refreshing silently if needed; `None` when signed out.
pub fn current_user(settings: &Settings) -> Result<Option<SsoUser>, AuthError> {
    let _ = settings;
    Ok(None)
}
