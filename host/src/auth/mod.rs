//! Credentials: one environment's service side built once per process (`session`: its
//! configuration, services and HTTP client), the token of each grant configuration
//! (`tokens`), the grant and token endpoint (`service`, `cache`), the grant's secrets and
//! where they live (`env_secrets`: process environment, env file, OS keychain, global file),
//! authenticated requests to the environment's service (`request`), the token handed in
//! `LMI_ACCESS_TOKEN` (`handed`, its claims read unverified by `unverified`), and the user's
//! SSO session (`sso`).

pub mod cache;
pub mod env_secrets;
pub mod handed;
pub mod http;
pub mod lifetime;
pub mod request;
pub mod service;
pub mod session;
pub mod sso;
pub mod tokens;
pub mod unverified;
pub mod when;

use crate::exit::{Exit, ExitStatus};
use crate::settings::ConfigError;
use sso::store::SessionStoreError;

/// What went wrong, by cause; [`AuthError::exit`] and [`AuthError::hint`] follow from it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The environment lacks configuration the call needs.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The identity provider refused the SSO sign-in or refresh.
    #[error("{0}")]
    Failed(String),
    /// No valid SSO session.
    #[error("{0}")]
    SsoRequired(String),
    /// The SSO session could not be read, written or deleted (keychain or session file). Not
    /// an authentication verdict: signing in would hit the same store.
    #[error(transparent)]
    Store(#[from] SessionStoreError),
    /// An environment's secret could not be read from the OS keychain (`env_secrets`). Like
    /// a failing session store, not an authentication verdict.
    #[error(transparent)]
    Keychain(#[from] crate::keychain::KeychainError),
    /// The environment has no usable service token: see [`ServiceTokenError`].
    #[error(transparent)]
    Token(#[from] ServiceTokenError),
    /// An exchange with a token endpoint or a service did not complete.
    #[error("{context}: {cause}")]
    Http {
        /// What was being asked of whom (env, method, URL without secrets).
        context: String,
        #[source]
        cause: http::HttpFailure,
    },
    /// A plugin's request was refused before it was sent.
    #[error("{0}")]
    InvalidRequest(String),
}

/// Why an environment's service token could not be had or was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ServiceTokenError {
    /// The token endpoint refused the environment's credentials (signing in again would not
    /// help: the client credentials need fixing).
    #[error("{0}")]
    Refused(String),
    /// The service rejected the token (a renewed one).
    #[error("{0}")]
    Rejected(String),
    /// The service rejected the token handed over in `LMI_ACCESS_TOKEN`, which lmi may not
    /// renew.
    #[error("{0}")]
    OverrideRejected(String),
    /// The token handed over in `LMI_ACCESS_TOKEN` says it has expired (its unverified
    /// `exp`): lmi did not send it.
    #[error("{0}")]
    OverrideExpired(String),
    /// The token endpoint failed on its side (5xx) or answered something unusable.
    #[error("{0}")]
    Unavailable(String),
}

impl AuthError {
    /// What to tell the user beside the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            AuthError::Failed(_) | AuthError::SsoRequired(_) => Some("run: lmi login sso"),
            AuthError::Token(ServiceTokenError::Refused(_) | ServiceTokenError::Rejected(_)) => {
                Some(
                    "check the environment's OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET (or OAUTH_USERNAME / OAUTH_PASSWORD); `lmi auth status` shows where they come from",
                )
            }
            AuthError::Token(ServiceTokenError::OverrideRejected(_)) => Some(
                "LMI_ACCESS_TOKEN holds a token the service does not accept: provide a valid one, or unset it to use the environment's grant",
            ),
            AuthError::Token(ServiceTokenError::OverrideExpired(_)) => Some(
                "get a new token into LMI_ACCESS_TOKEN, or unset LMI_ACCESS_TOKEN to use the environment's own grant",
            ),
            AuthError::Store(SessionStoreError::Unavailable(_))
            | AuthError::Keychain(crate::keychain::KeychainError::Unavailable(_)) => {
                Some("`lmi doctor --offline` checks whether the keychain answers")
            }
            _ => None,
        }
    }
}

impl ExitStatus for AuthError {
    fn exit(&self) -> Exit {
        match self {
            AuthError::Config(_) | AuthError::InvalidRequest(_) => Exit::Usage,
            AuthError::Failed(_)
            | AuthError::SsoRequired(_)
            | AuthError::Token(
                ServiceTokenError::Refused(_)
                | ServiceTokenError::Rejected(_)
                | ServiceTokenError::OverrideRejected(_)
                | ServiceTokenError::OverrideExpired(_),
            ) => Exit::Auth,
            AuthError::Store(_)
            | AuthError::Keychain(_)
            | AuthError::Http { .. }
            | AuthError::Token(ServiceTokenError::Unavailable(_)) => Exit::Failure,
        }
    }
}
