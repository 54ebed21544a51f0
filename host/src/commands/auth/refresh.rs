//! `lmi auth refresh`: refresh the SSO session now.

use std::process::ExitCode;

use crate::auth::lifetime::now_secs;
use crate::auth::sso::human;
use crate::commands::{CliError, Ctx};
use crate::output;

/// `lmi auth refresh`: refresh the SSO session now.
pub fn run(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let renewal = crate::auth::sso::refresh(&ctx.settings)?;
    for warning in &renewal.warnings {
        output::warn(warning);
    }
    let user = renewal.user;
    let left = user.expires_at.saturating_sub(now_secs());
    output::note(format_args!(
        "Refreshed the SSO session of {} (expires in {})",
        user.display_name(),
        human(left)
    ));
    Ok(ExitCode::SUCCESS)
}
