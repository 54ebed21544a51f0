//! `lmi auth status | token | refresh`.
//!
//! The service-token parts live here and in `auth::service`; the SSO parts are marked
//! `SSO:` below and call into `auth::sso` (`sso_status` for `auth status`, `refresh`).

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::cache::{CacheState, now_secs};
use crate::auth::service::{self, ACCESS_TOKEN_VAR, EnvTokenStatus};
use crate::cli::Ctx;
use crate::output::{self, OutputFormat};

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
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match self {
            AuthCommand::Status => status(ctx),
            AuthCommand::Token => token(ctx),
            AuthCommand::Refresh => refresh(ctx),
        }
    }
}

/// `lmi auth token`: the token alone on stdout, so `$(lmi auth token)` works.
fn token(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let env = ctx.settings.require_env()?;
    let token = service::token(&ctx.settings, env)?;
    output::line(token.secret());
    Ok(ExitCode::SUCCESS)
}

/// SSO: `lmi auth refresh` belongs to the SSO session (auth::sso).
fn refresh(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let _ = ctx;
    anyhow::bail!("`lmi auth refresh` is not implemented yet")
}

/// SSO: the session part of `auth status`, as JSON and as text lines. Extend here (storage
/// backend, expiry) when `auth::sso` offers more than `current_user`.
fn sso_status(ctx: &Ctx) -> (Value, Vec<String>) {
    match crate::auth::sso::current_user(&ctx.settings) {
        Ok(Some(u)) => {
            let who = u
                .email
                .clone()
                .or(u.name.clone())
                .unwrap_or(u.subject.clone());
            let left = u.expires_at.saturating_sub(now_secs());
            (
                json!({
                    "signed_in": true,
                    "subject": u.subject,
                    "email": u.email,
                    "name": u.name,
                    "expires_at": u.expires_at,
                }),
                vec![format!(
                    "SSO: signed in as {who} (expires in {})",
                    human(left)
                )],
            )
        }
        Ok(None) => (
            json!({ "signed_in": false }),
            vec!["SSO: not signed in (run: lmi login sso)".to_owned()],
        ),
        Err(e) => (
            json!({ "signed_in": false, "error": e.to_string() }),
            vec![format!("SSO: unavailable: {e}")],
        ),
    }
}

fn status(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let settings = &ctx.settings;
    let mut names = settings.environments().names;
    if let Some(active) = settings.active_env()
        && !names.iter().any(|n| n == active)
    {
        names.push(active.to_owned());
    }
    let default = settings.default_env();
    let active = settings.active_env();
    let now = now_secs();
    let (sso_json, sso_lines) = sso_status(ctx);
    let rows: Vec<(String, EnvTokenStatus)> = names
        .into_iter()
        .map(|n| {
            let st = service::status(settings, &n);
            (n, st)
        })
        .collect();

    match ctx.output {
        OutputFormat::Json => {
            let envs: Vec<Value> = rows
                .iter()
                .map(|(name, st)| env_json(name, st, default, active, now))
                .collect();
            output::json(&json!({
                "sso": sso_json,
                "default_environment": default,
                "active_environment": active,
                "environments": envs,
            }));
        }
        OutputFormat::Text => {
            for l in sso_lines {
                output::line(l);
            }
            if rows.is_empty() {
                output::line(format_args!(
                    "Environments: none (create {})",
                    settings.paths().env_file("<name>").display()
                ));
            } else {
                output::line("Environments:");
            }
            for (name, st) in &rows {
                let mut marks = Vec::new();
                if Some(name.as_str()) == default {
                    marks.push("default");
                }
                if Some(name.as_str()) == active {
                    marks.push("active");
                }
                let title = if marks.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", marks.join(", "))
                };
                output::line(format_args!("  {title}"));
                match &st.grant {
                    Ok(g) => output::line(format_args!(
                        "    grant: {} (client {}) at {}",
                        g.grant.as_str(),
                        g.client_id,
                        g.endpoint()
                    )),
                    Err(e) if st.overridden => {
                        output::line(format_args!("    grant: not configured ({e})"))
                    }
                    Err(e) => output::line(format_args!("    grant: not configured: {e}")),
                }
                if st.overridden {
                    output::line(format_args!(
                        "    token: {ACCESS_TOKEN_VAR} is set and overrides the grant for this environment"
                    ));
                }
                output::line(format_args!(
                    "    {}token: {}",
                    if st.overridden { "cached " } else { "" },
                    token_text(st, now)
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn token_text(st: &EnvTokenStatus, now: u64) -> String {
    match &st.cache {
        CacheState::Missing => "none cached".to_owned(),
        CacheState::Unusable(why) => format!("cache file unusable ({why}); it will be replaced"),
        CacheState::Present(t) => {
            let scope = t
                .scope
                .as_deref()
                .map(|s| format!(", scope {s}"))
                .unwrap_or_default();
            let stale = if st.stale_config {
                "; issued for an earlier configuration, will be replaced"
            } else {
                ""
            };
            if t.is_fresh(now) {
                format!(
                    "cached, valid for {}{scope}{stale}",
                    human(t.expires_at - now)
                )
            } else if t.expires_at > now {
                format!(
                    "cached, expires in {} (will be renewed before use){scope}",
                    human(t.expires_at - now)
                )
            } else {
                format!("expired {} ago{scope}", human(now - t.expires_at))
            }
        }
    }
}

fn env_json(
    name: &str,
    st: &EnvTokenStatus,
    default: Option<&str>,
    active: Option<&str>,
    now: u64,
) -> Value {
    let token = match &st.cache {
        CacheState::Missing => json!({ "state": "none" }),
        CacheState::Unusable(why) => json!({ "state": "unusable", "reason": why }),
        CacheState::Present(t) => json!({
            "state": if t.is_fresh(now) { "valid" } else { "expired" },
            "token_type": t.token_type,
            "scope": t.scope,
            "obtained_at": t.obtained_at,
            "expires_at": t.expires_at,
            "expires_in_secs": t.expires_at.saturating_sub(now),
            "issued_for_current_config": !st.stale_config,
        }),
    };
    let (grant, error) = match &st.grant {
        Ok(g) => (
            json!({
                "type": g.grant.as_str(),
                "token_url": g.endpoint(),
                "client_id": g.client_id,
                "scope": if g.scopes.is_empty() { Value::Null } else { json!(g.scopes.join(" ")) },
                "audience": g.audience,
            }),
            Value::Null,
        ),
        Err(e) => (Value::Null, json!(e.to_string())),
    };
    json!({
        "name": name,
        "default": Some(name) == default,
        "active": Some(name) == active,
        "configured": st.grant.is_ok(),
        "grant": grant,
        "error": error,
        "overridden_by": if st.overridden { json!(ACCESS_TOKEN_VAR) } else { Value::Null },
        "token": token,
    })
}

fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}
