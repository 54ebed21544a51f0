//! The error every command returns: its cause, the exit code it ends the process with, and
//! the hint printed under it (cargo's `CliError` is the model).
//!
//! Each domain error converts into it by `From`, which takes the code (and hint) from the
//! error's type. A command that lets a new kind of error through with `?` does not compile
//! until that kind says what it means; untyped failures must be wrapped on purpose
//! ([`CliError::failure`]).

use std::fmt;

use crate::exit::{Exit, ExitStatus, UsageError};

/// What `main` prints under an exit-4 error that has no hint of its own (e.g. a plugin's
/// `auth-failed`).
pub const SIGN_IN_HINT: &str = "run: lmi login sso";

pub struct CliError {
    pub cause: anyhow::Error,
    pub exit: Exit,
    pub hint: Option<&'static str>,
}

impl CliError {
    /// `cause` ending the process with `exit`; an authentication failure suggests signing in.
    pub fn new(cause: impl Into<anyhow::Error>, exit: Exit) -> Self {
        Self {
            cause: cause.into(),
            exit,
            hint: (exit == Exit::Auth).then_some(SIGN_IN_HINT),
        }
    }

    /// A failure with no code of its own: exit 1.
    pub fn failure(cause: impl Into<anyhow::Error>) -> Self {
        Self::new(cause, Exit::Failure)
    }

    /// A usage or configuration error: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        UsageError(message.into()).into()
    }

    /// The same error (code and hint kept) with `path` named `as_` wherever its text shows it
    /// (a temporary directory the user never saw).
    pub fn naming(self, path: &std::path::Path, as_: &str) -> Self {
        let text = self.to_string().replace(&path.display().to_string(), as_);
        Self {
            cause: anyhow::anyhow!(text),
            ..self
        }
    }

    /// The same error (code and hint kept) with `context` said first.
    pub fn with_context(mut self, context: String) -> Self {
        self.cause = self.cause.context(context);
        self
    }
}

impl fmt::Debug for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliError")
            .field("cause", &self.cause)
            .field("exit", &self.exit)
            .field("hint", &self.hint)
            .finish()
    }
}

/// The cause and its chain on one line. A cause the text before it already ends with is left
/// out: errors such as `AuthError::Http` say "{context}: {cause}" and keep the cause as their
/// `source` too, and `{:#}` printed it twice. (Only the tail counts: a short cause such as
/// "timed out" that merely appears somewhere in the context is still printed.)
impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.cause.to_string();
        for cause in self.cause.chain().skip(1) {
            let more = cause.to_string();
            if !text.ends_with(&more) {
                text = format!("{text}: {more}");
            }
        }
        f.write_str(&text)
    }
}

/// The error types whose own [`ExitStatus`] says which code they mean.
macro_rules! exit_by_type {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for CliError {
            fn from(e: $ty) -> Self {
                let exit = e.exit();
                Self::new(e, exit)
            }
        }
    )*};
}

exit_by_type!(
    UsageError,
    crate::paths::NoHomeError,
    crate::settings::ConfigError,
    crate::plugins::manifest::ManifestError,
    crate::plugins::store::PluginStoreError,
    crate::runtime::ComponentError,
    crate::plugins::data::DataDirError,
    crate::audit::AuditError,
    crate::prompt::PromptError,
    crate::settings::EditError,
);

impl From<crate::runtime::RunError> for CliError {
    fn from(e: crate::runtime::RunError) -> Self {
        let exit = e.exit();
        let hint = e.hint();
        Self {
            hint: hint.or((exit == Exit::Auth).then_some(SIGN_IN_HINT)),
            ..Self::new(e, exit)
        }
    }
}

impl From<crate::auth::AuthError> for CliError {
    fn from(e: crate::auth::AuthError) -> Self {
        let exit = e.exit();
        let hint = e.hint();
        Self {
            hint: hint.or((exit == Exit::Auth).then_some(SIGN_IN_HINT)),
            ..Self::new(e, exit)
        }
    }
}

impl From<crate::auth::sso::LoginError> for CliError {
    fn from(e: crate::auth::sso::LoginError) -> Self {
        match e {
            crate::auth::sso::LoginError::Usage(e) => e.into(),
            crate::auth::sso::LoginError::Auth(e) => e.into(),
        }
    }
}

/// The environment policy gate: a refusal with its own code and hint, or what stopped the
/// gate from deciding.
impl From<crate::policy::GateError> for CliError {
    fn from(e: crate::policy::GateError) -> Self {
        use crate::policy::GateError;
        match e {
            GateError::Config(e) => e.into(),
            GateError::Auth(e) => e.into(),
            GateError::Refused(refusal) => {
                let exit = refusal.exit();
                let hint = refusal.hint();
                Self {
                    hint,
                    ..Self::new(*refusal, exit)
                }
            }
        }
    }
}

/// Registry credentials are fixed with `docker login`, which the message names: exit 4 without
/// lmi's sign-in hint.
impl From<crate::registry::RegistryError> for CliError {
    fn from(e: crate::registry::RegistryError) -> Self {
        let exit = e.exit();
        Self {
            cause: e.into(),
            exit,
            hint: None,
        }
    }
}

/// Reading or writing a file the command itself opened: a plain failure.
impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::failure(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{context}: {source}")]
    struct Quoting {
        context: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_shown_once_whether_or_not_the_message_quotes_it() {
        let quoted = Quoting {
            context: "cannot read x",
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(
            CliError::failure(quoted).to_string(),
            "cannot read x: disk on fire"
        );
        let chained =
            anyhow::Error::new(std::io::Error::other("disk on fire")).context("cannot read x");
        assert_eq!(
            CliError::failure(chained).to_string(),
            "cannot read x: disk on fire"
        );
        // A cause that only appears inside the context is still a cause of its own.
        let unquoted =
            anyhow::Error::new(std::io::Error::other("timed out")).context("GET /timed out/x");
        assert_eq!(
            CliError::failure(unquoted).to_string(),
            "GET /timed out/x: timed out"
        );
    }
}
