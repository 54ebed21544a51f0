//! `lmi auth token`: the active environment's service access token, for scripts.

use std::process::ExitCode;

use crate::audit::{self, Actor, ErrorKind, Outcome, Use};
use crate::auth::session::EnvSession;
use crate::commands::{CliError, Ctx};
use crate::output;

/// `lmi auth token [--service NAME]`: the token alone on stdout, so `$(lmi auth token)`
/// works. A token leaving lmi this way is recorded in the audit trail like a plugin's
/// (`by: lmi`); one that cannot be recorded is not printed.
pub fn run(ctx: &Ctx, service: Option<&str>) -> Result<ExitCode, CliError> {
    let env = ctx.settings.require_env()?;
    // A token leaving lmi obeys the environment's policy as a plugin command does.
    crate::policy::admit(&crate::policy::Request {
        settings: &ctx.settings,
        action: crate::policy::Action::ServiceToken,
        yes: ctx.yes,
        quiet: ctx.quiet,
    })?;
    let mut trail = audit::Trail::new();
    trail.ready(&ctx.settings)?;
    let session = EnvSession::open(&ctx.settings, env);
    let token = session.service(service).and_then(|s| s.tokens.token());
    let outcome = match &token {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Failed(ErrorKind::of_auth(e)),
    };
    let actor = Actor::lmi("auth token");
    trail.record(&ctx.settings, &actor, Use::Token { service }, outcome)?;
    output::line(token?.expose());
    Ok(ExitCode::SUCCESS)
}
