//! What can go wrong talking to a registry, and the exit code each means.

use crate::exit::{Exit, ExitStatus};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No answer: nothing installed is touched, and the message names the registry.
    #[error("registry {registry} is unreachable: {why}")]
    Unreachable { registry: String, why: String },
    /// Missing or refused credentials; the message says which `docker login` fixes it.
    #[error("{0}")]
    Credentials(String),
    /// The tag, digest or repository does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The docker configuration cannot be read.
    #[error("{0}")]
    Config(String),
    /// The registry answered something lmi refuses: a digest that does not match, a layer
    /// too large, an artifact that is not an lmi plugin.
    #[error("{0}")]
    Invalid(String),
}

impl ExitStatus for RegistryError {
    fn exit(&self) -> Exit {
        match self {
            RegistryError::Unreachable { .. } | RegistryError::Invalid(_) => Exit::Failure,
            RegistryError::Credentials(_) => Exit::Auth,
            RegistryError::NotFound(_) | RegistryError::Config(_) => Exit::Usage,
        }
    }
}
