//! `lmi auth token`: the active environment's service access token, for scripts.

use std::process::ExitCode;

use crate::auth::service;
use crate::commands::{CliError, Ctx};
use crate::output;

/// `lmi auth token`: the token alone on stdout, so `$(lmi auth token)` works.
pub fn run(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let env = ctx.settings.require_env()?;
    let token = service::token(&ctx.settings, env)?;
    output::line(token.secret());
    Ok(ExitCode::SUCCESS)
}
