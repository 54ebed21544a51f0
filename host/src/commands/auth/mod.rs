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
    Token {
        /// The token of one of the environment's named services (OAUTH_SERVICE_<NAME>_URL)
        /// instead of the default service's.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
    },
    /// Refresh the SSO session now.
    Refresh,
}

impl AuthCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            AuthCommand::Status => status::run(ctx),
            AuthCommand::Token { service } => token::run(ctx, service.as_deref()),
            AuthCommand::Refresh => refresh::run(ctx),
        }
    }
}
