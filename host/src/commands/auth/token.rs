//! `lmi auth token`: the active environment's service access token, for scripts.

use std::process::ExitCode;

use crate::auth::session::EnvSession;
use crate::commands::{CliError, Ctx};
use crate::output;

/// `lmi auth token [--service NAME]`: the token alone on stdout, so `$(lmi auth token)`
/// works.
pub fn run(ctx: &Ctx, service: Option<&str>) -> Result<ExitCode, CliError> {
    let env = ctx.settings.require_env()?;
    let session = EnvSession::open(&ctx.settings, env);
    let token = session.service(service)?.tokens.token()?;
    output::line(token.expose());
    Ok(ExitCode::SUCCESS)
}
