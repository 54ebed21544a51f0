//! `lmi auth token`: the active environment's service access token, for scripts.

use std::process::ExitCode;

use crate::auth::session::EnvSession;
use crate::commands::{CliError, Ctx};
use crate::output;

/// `lmi auth token [--service NAME]`: the token alone on stdout, so `$(lmi auth token)`
/// works.
pub fn run(ctx: &Ctx, service: Option<&str>) -> Result<ExitCode, CliError> {
    let env = ctx.settings.require_env()?;
    // A token leaving lmi obeys the environment's policy as a plugin command does.
    crate::policy::admit(&crate::policy::Request {
        settings: &ctx.settings,
        action: crate::policy::Action::ServiceToken,
        yes: ctx.yes,
        quiet: ctx.quiet,
    })?;
    let session = EnvSession::open(&ctx.settings, env);
    let token = session.service(service)?.tokens.token()?;
    output::line(token.expose());
    Ok(ExitCode::SUCCESS)
}
