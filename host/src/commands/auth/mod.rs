//! `lmi auth status | token | refresh`: one file each. The service-token parts call into
//! `auth::service`, the SSO parts into `auth::sso`.

mod refresh;
mod status;
mod token;

use std::process::ExitCode;

use crate::commands::{CliError, Ctx};

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// The SSO session and each environment's service-token state (never the tokens).
    Status,
    /// Print the active environment's service access token (for scripts).
    Token,
    /// Refresh the SSO session now.
    Refresh,
}

impl AuthCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            AuthCommand::Status => status::run(ctx),
            AuthCommand::Token => token::run(ctx),
            AuthCommand::Refresh => refresh::run(ctx),
        }
    }
}
