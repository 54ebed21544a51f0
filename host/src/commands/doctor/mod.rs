//! `lmi doctor`: one line per check, a fix for each failure, non-zero exit when something is
//! wrong.
//!
//! Checks, in order: the configuration files (readable, parseable, secrets not readable by
//! others, secrets in plaintext that belong in the keychain), each environment's grant
//! configuration, its secrets (found, the keychain answering) and token cache, each of its grants tried
//! and each of its service URLs probed, the keychain (or the opted-in file storage), the SSO
//! issuer's discovery document and the clock against its `Date` header, and each installed
//! plugin with its compiled artifact.
//!
//! Doctor writes nothing. Its one use of a credential is the grant trial: the env's own
//! credentials go to the env's token endpoint, as every run sends them, and the token that
//! comes back is dropped unseen (never printed, cached or sent anywhere); services are asked
//! without a token. `--offline` contacts nothing. Every network call and the keychain probe
//! have short deadlines, so the whole run is bounded however broken the machine is.

mod config;
mod env;
mod plugins;
mod probe;
mod secrets;
mod services;
mod sso;

use std::process::ExitCode;
use std::time::Duration;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::settings::Settings;

/// Longest wait for one network check or the keychain.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock difference with the issuer beyond which ID tokens start failing validation.
const MAX_SKEW_SECS: i64 = 60;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Skip the checks that use the network (grant trials, service URLs, the SSO issuer).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Worth knowing, repaired automatically or harmless: does not fail the run.
    Warn,
    Fail,
    /// Not applicable (nothing configured to check).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check's outcome. `fix` is set for every failure and warning.
#[derive(Debug, Clone)]
pub struct DoctorCheck {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl DoctorCheck {
    pub(super) fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Ok, detail, None::<String>)
    }
    pub(super) fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Status::Skip, detail, None::<String>)
    }
    pub(super) fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(name, Status::Warn, detail, Some(fix))
    }
    pub(super) fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(name, Status::Fail, detail, Some(fix))
    }
    fn new(
        name: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
        fix: Option<impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: fix.map(Into::into),
        }
    }
}

impl DoctorArgs {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let checks = diagnose(&ctx.settings, !self.offline);
        report(&checks, ctx.output);
        let failed = checks.iter().any(|c| c.status == Status::Fail);
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Runs every check. `network` off skips the grant trials, service probes and the issuer.
pub fn diagnose(settings: &Settings, network: bool) -> Vec<DoctorCheck> {
    let mut checks = Vec::new();
    checks.extend(config::config_checks(settings));
    checks.extend(secrets::plaintext_in_global(settings));
    checks.push(config::trust_check(settings));
    let mut envs = settings.environments().names;
    // An env chosen with `-e` or `LMI_ENV` may have no file, its keys in the process
    // environment (the CI shape: `LMI_ENV`, `OAUTH_SERVICE_URL`, `LMI_ACCESS_TOKEN`).
    if let Some(active) = settings.chosen_env()
        && !envs.iter().any(|e| e == active)
    {
        envs.push(active.to_owned());
    }
    for env in envs {
        checks.extend(env::env_checks(settings, &env, network));
    }
    checks.push(sso::keychain_check(settings));
    checks.extend(sso::sso_checks(settings, network));
    checks.extend(plugins::plugin_checks(settings));
    checks
}

fn report(checks: &[DoctorCheck], format: OutputFormat) {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    match format {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = checks
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "check": c.name,
                        "status": c.status.label().to_ascii_lowercase(),
                        "detail": c.detail,
                        "fix": c.fix,
                    })
                })
                .collect();
            output::json(&serde_json::json!({
                "checks": items,
                "failures": count(Status::Fail),
                "warnings": count(Status::Warn),
            }));
        }
        OutputFormat::Text => {
            let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
            for c in checks {
                let mut line = format!("{:<4}  {:<width$}  {}", c.status.label(), c.name, c.detail);
                if let Some(fix) = &c.fix {
                    line.push_str(&format!(" — fix: {fix}"));
                }
                output::line(line);
            }
            output::line(format_args!(
                "{} checks: {} ok, {} warnings, {} failures",
                checks.len(),
                count(Status::Ok),
                count(Status::Warn),
                count(Status::Fail)
            ));
        }
    }
}
