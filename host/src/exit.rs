//! Exit codes, the one place they are defined. Documented in the README.
//!
//! Every domain error says which code it ends the process with ([`ExitStatus`]); commands turn
//! it into a `commands::CliError` carrying that code, so the compiler checks every error has one.

use std::process::ExitCode;

/// The process exit codes `lmi` itself uses. A plugin's own code passes through unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Failure = 1,
    /// Bad usage or configuration: unknown command, missing key, invalid manifest.
    Usage = 2,
    /// Authentication required or failed; printed with the hint `run: lmi login sso`
    /// where signing in would help.
    Auth = 4,
    /// The plugin crashed, trapped or hit a limit.
    Plugin = 5,
    /// Ctrl-C (SIGINT) stopped a plugin run (128 + 2, as a shell reports it).
    Interrupted = 130,
    /// SIGTERM stopped a plugin run (128 + 15).
    Terminated = 143,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Implemented by error types that know which exit code they mean.
pub trait ExitStatus {
    fn exit(&self) -> Exit;
}

/// A plain usage or configuration error raised by command code.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl ExitStatus for UsageError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}
