//! Credentials: per-environment service tokens (`service`, `cache`), authenticated requests
//! to an environment's service (`request`), and the user's SSO session (`sso`).

pub mod cache;
pub mod http;
pub mod lifetime;
pub mod request;
pub mod service;
pub mod sso;

use crate::exit::{Exit, ExitStatus};
use crate::settings::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The environment lacks configuration the call needs.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The identity provider refused the SSO sign-in or refresh.
    #[error("{0}")]
    Failed(String),
    /// An environment's token endpoint or service refused its service credentials (signing
    /// in again would not help: the environment's client credentials need fixing).
    #[error("{0}")]
    ServiceCredentials(String),
    /// No valid SSO session.
    #[error("{0}")]
    SsoRequired(String),
    /// The request did not complete (connection, timeout, oversized or malformed answer).
    #[error("{0}")]
    Network(String),
    /// A plugin's request was refused before it was sent.
    #[error("{0}")]
    InvalidRequest(String),
}

impl AuthError {
    /// What to tell the user beside the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AuthError::Failed(_) | AuthError::SsoRequired(_) => Some("run: lmi login sso"),
            AuthError::ServiceCredentials(_) => Some(
                "check the environment's OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET (or OAUTH_USERNAME / OAUTH_PASSWORD); `lmi auth status` shows where they come from",
            ),
            _ => None,
        }
    }
}

impl ExitStatus for AuthError {
    fn exit(&self) -> Exit {
        match self {
            AuthError::Config(_) | AuthError::InvalidRequest(_) => Exit::Usage,
            AuthError::Failed(_) | AuthError::ServiceCredentials(_) | AuthError::SsoRequired(_) => {
                Exit::Auth
            }
            AuthError::Network(_) => Exit::Failure,
        }
    }
}
