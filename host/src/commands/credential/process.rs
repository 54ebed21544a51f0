//! `lmi credential process -e ENV [--service NAME]`: the environment's service token as one
//! JSON object, for any program that runs a command for its credentials (as AWS's
//! `credential_process` does):
//! `{"version":1,"access_token","token_type":"Bearer","expires_at","environment"}`, where
//! `expires_at` is RFC 3339 (UTC), as AWS's `Expiration`, or `null` for an
//! `LMI_ACCESS_TOKEN` whose expiry lmi cannot read.

use std::process::ExitCode;

use super::core::{self, Chosen};
use crate::commands::{CliError, Ctx};
use crate::output;

const COMMAND: &str = "credential process";

pub fn run(ctx: &Ctx, service: Option<&str>) -> Result<ExitCode, CliError> {
    let env = core::require_named_env(ctx, COMMAND)?;
    let handed = core::service_token(ctx, COMMAND, env, Chosen::Named, service)?;
    output::line(serde_json::json!({
        "version": 1,
        "access_token": handed.token.expose(),
        "token_type": "Bearer",
        "expires_at": handed.expires_at.map(core::rfc3339),
        "environment": handed.env,
    }));
    Ok(ExitCode::SUCCESS)
}
