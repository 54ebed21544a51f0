//! Credentials: per-environment service tokens (`service`, `cache`), authenticated requests
//! to an environment's service (`request`), and the user's SSO session (`sso`).

pub mod cache;
pub mod http;
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
    /// The identity provider or service refused the credentials.
    #[error("{0}")]
    Failed(String),
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

impl ExitStatus for AuthError {
    fn exit(&self) -> Exit {
        match self {
            AuthError::Config(_) | AuthError::InvalidRequest(_) => Exit::Usage,
            AuthError::Failed(_) | AuthError::SsoRequired(_) => Exit::Auth,
            AuthError::Network(_) => Exit::Failure,
        }
    }
}
