//! `lmi auth status`: the SSO session and each environment's service-token state, never the
//! tokens themselves.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::auth::cache::CacheState;
use crate::auth::lifetime::now_secs;
use crate::auth::service::ACCESS_TOKEN_VAR;
use crate::auth::session::{EnvSession, EnvTokenStatus};
use crate::auth::sso::groups::{Captured, GroupClaims};
use crate::auth::sso::{SsoUser, human};
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};

/// The SSO part of `auth status`, as JSON and as text lines, and the signed-in user.
fn sso_status(ctx: &Ctx) -> (Value, Vec<String>, Option<SsoUser>) {
    let st = crate::auth::sso::status(&ctx.settings);
    let json = serde_json::to_value(&st).unwrap_or(Value::Null);
    let storage = match &st.location {
        Some(loc) => format!("{} ({loc})", st.storage),
        None => st.storage.clone(),
    };
    let mut lines = Vec::new();
    if st.authenticated {
        let who = match &st.user {
            Some(user) => user.who(),
            None => st.subject.clone().unwrap_or_default(),
        };
        let left = st.expires_at.unwrap_or(0).saturating_sub(now_secs());
        lines.push(format!(
            "SSO: signed in as {who} (access token expires in {})",
            human(left)
        ));
        lines.push(format!(
            "  {}",
            session_text(st.session_ends_at, now_secs())
        ));
        if let Some(profile) = &st.provider_profile {
            lines.push(format!("  provider profile: {profile}"));
        }
        lines.push(format!("  storage: {storage}"));
        lines.extend(groups_text(&st.groups));
    } else if !st.configured {
        lines.push("SSO: not configured (set OAUTH_SSO_ISSUER and OAUTH_SSO_CLIENT_ID in ~/.config/lmi/.env)".to_owned());
    } else if let Some(e) = &st.error {
        lines.push(format!("SSO: unavailable: {e}"));
        lines.push(format!("  storage: {storage}"));
    } else {
        lines.push("SSO: not signed in (run: lmi login sso)".to_owned());
        lines.push(format!("  storage: {storage}"));
    }
    (json, lines, st.user)
}

/// How long the SSO session lasts, as the provider last said (not the access token, which
/// lmi renews within the session).
fn session_text(ends_at: Option<u64>, now: u64) -> String {
    use crate::auth::when;
    match ends_at {
        None => "session lasts until the identity provider ends it (it stated no end)".to_owned(),
        Some(end) if end > now => format!("session valid until {}", when::moment(end, now)),
        Some(end) => format!(
            "session ended at {}: run: lmi login sso",
            when::moment(end, now)
        ),
    }
}

/// The kept group claims, one line each, the longest lists cut.
fn groups_text(groups: &GroupClaims) -> Vec<String> {
    const SHOWN: usize = 20;
    groups
        .iter()
        .map(|(claim, captured)| match captured {
            Captured::Groups(held) if held.is_empty() => format!("  groups (`{claim}`): none"),
            Captured::Groups(held) => {
                let more = held.len().saturating_sub(SHOWN);
                let mut text = held
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if more > 0 {
                    text.push_str(&format!(" and {more} more"));
                }
                format!("  groups (`{claim}`): {text}")
            }
            Captured::Unusable { unusable } => {
                format!("  groups (`{claim}`): cannot be read as groups: {unusable}")
            }
        })
        .collect()
}

/// An environment's policy and the signed-in user's standing under it.
fn policy_of(ctx: &Ctx, env: &str, user: Option<&SsoUser>) -> (Value, String) {
    let settings = &ctx.settings;
    // Quietly: the env's session, opened beside it, already warns about the file's keys.
    let policy = settings
        .env_config_quietly(env)
        .and_then(|config| settings.policy(Some(&config)));
    match policy {
        Err(e) => (
            json!({ "error": e.to_string() }),
            format!("cannot be read: {e}"),
        ),
        Ok(policy) => {
            let verdict = crate::policy::decide(&policy, user);
            let mut json = policy.to_json();
            json["admitted"] = json!(verdict.is_ok());
            json["refusal"] = json!(verdict.as_ref().err().map(ToString::to_string));
            let text = match (&verdict, policy.needs_sso()) {
                (_, false) => policy.describe(),
                (Ok(()), true) => format!("{} — you may use it", policy.describe()),
                (Err(refusal), true) => {
                    format!("{} — refused: {}", policy.describe(), refusal.short())
                }
            };
            (json, text)
        }
    }
}

/// Where the audit trail of credential use goes (`LMI_AUDIT_LOG`), as JSON and as a line.
fn audit_status(ctx: &Ctx) -> (Value, String) {
    match crate::audit::describe(&ctx.settings) {
        Ok(Some(path)) => (
            json!({ "enabled": true, "path": path.display().to_string(), "error": null }),
            format!("Audit log: {}", path.display()),
        ),
        Ok(None) => (
            json!({ "enabled": false, "path": null, "error": null }),
            format!("Audit log: off ({}=off)", crate::settings::keys::AUDIT_LOG),
        ),
        Err(e) => (
            json!({ "enabled": true, "path": null, "error": e.to_string() }),
            format!("Audit log: unusable: {e} (credentials are not used until it is fixed)"),
        ),
    }
}

pub fn run(ctx: &Ctx) -> Result<ExitCode, CliError> {
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
    let (sso_json, sso_lines, user) = sso_status(ctx);
    let (audit_json, audit_line) = audit_status(ctx);
    let rows: Vec<(String, EnvSession, EnvTokenStatus)> = names
        .into_iter()
        .map(|n| {
            let session = EnvSession::open(settings, &n);
            let st = session.status();
            (n, session, st)
        })
        .collect();

    match ctx.output {
        OutputFormat::Json => {
            let envs: Vec<Value> = rows
                .iter()
                .map(|(name, session, st)| {
                    let mut env = env_json(name, st, default, active, now);
                    let (secrets, missing) = secrets_of(ctx, name, st);
                    env["secrets"] = secrets.json;
                    if let Some(missing) = missing {
                        env["configured"] = json!(false);
                        env["error"] = json!(missing);
                    }
                    env["services"] = services_json(session, now);
                    env["policy"] = policy_of(ctx, name, user.as_ref()).0;
                    env
                })
                .collect();
            output::json(&json!({
                "sso": sso_json,
                "audit_log": audit_json,
                "default_environment": default,
                "active_environment": active,
                "environments": envs,
            }));
        }
        OutputFormat::Text => {
            for l in sso_lines {
                output::line(l);
            }
            output::line(audit_line);
            if rows.is_empty() {
                output::line(format_args!(
                    "Environments: none (create {})",
                    settings.paths().env_file("<name>").display()
                ));
            } else {
                output::line("Environments:");
            }
            for (name, session, st) in &rows {
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
                if let Some(facts) = &st.handed {
                    output::line(format_args!(
                        "    {ACCESS_TOKEN_VAR}: {}",
                        facts.describe(now)
                    ));
                }
                for line in secrets_of(ctx, name, st).0.lines {
                    output::line(format_args!("    {line}"));
                }
                output::line(format_args!(
                    "    {}token: {}",
                    if st.overridden { "cached " } else { "" },
                    token_text(st, now)
                ));
                for line in services_text(session, now) {
                    output::line(format_args!("    {line}"));
                }
                output::line(format_args!(
                    "    policy: {}",
                    policy_of(ctx, name, user.as_ref()).1
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where an environment's secrets live, as JSON and as text lines; never their values.
struct SecretsStatus {
    json: Value,
    lines: Vec<String>,
}

/// Where each secret the env's grant sends is found, by the lookup every token request makes
/// (`auth::env_secrets`: the keychain is asked only for a secret in neither the process
/// environment nor the env file). The second value is the error for a required secret found
/// nowhere.
fn secrets_of(ctx: &Ctx, env: &str, st: &EnvTokenStatus) -> (SecretsStatus, Option<String>) {
    use crate::auth::env_secrets::{self, Found, SecretItem};
    let mut status = SecretsStatus {
        json: json!([]),
        lines: Vec::new(),
    };
    let Ok(grant) = &st.grant else {
        return (status, None); // the grant line says what is wrong
    };
    // Quietly: the env's session, opened beside it, already warns about the file's keys.
    let config = match ctx.settings.env_config_quietly(env) {
        Ok(config) => config,
        Err(_) => return (status, None),
    };
    let mut missing = None;
    let mut items = Vec::new();
    for &(key, required) in grant.secret_keys() {
        let item = match SecretItem::new(&ctx.settings, env, key) {
            Ok(item) => item,
            Err(e) => {
                status
                    .lines
                    .push(format!("secret: {key} cannot be looked up: {e}"));
                items.push(json!({ "key": key, "required": required, "source": "unknown", "location": null, "plaintext": false, "error": e.to_string() }));
                continue;
            }
        };
        let (source, location, plaintext, error, text) = match env_secrets::lookup(&config, &item) {
            // The value is dropped here: only where it lives is shown.
            Ok(Found::Value(_, origin)) => {
                let plaintext = origin.plaintext_file().is_some();
                let text = match &origin {
                    env_secrets::Origin::EnvFile(p) => format!(
                        "in {} (plaintext; `lmi env secure {env}` moves it into the OS keychain)",
                        p.display()
                    ),
                    env_secrets::Origin::GlobalFile(p) => format!(
                        "in {}, the global file (plaintext, for every environment without its own; `lmi config set {key} -e {env}` gives `{env}` its own in the OS keychain)",
                        p.display()
                    ),
                    other => format!("in {other}"),
                };
                let location = match &origin {
                    env_secrets::Origin::Process => "the process environment".to_owned(),
                    env_secrets::Origin::Keychain(item) => item.clone(),
                    env_secrets::Origin::EnvFile(p) | env_secrets::Origin::GlobalFile(p) => {
                        p.display().to_string()
                    }
                };
                (origin.kind(), Some(location), plaintext, None, text)
            }
            Ok(Found::Blank(source)) => (
                "empty",
                Some(source.to_string()),
                false,
                None,
                format!("set empty in {source}: none"),
            ),
            Ok(Found::Missing) => {
                let text = format!(
                    "not set (not in {}, the OS keychain item {} or {})",
                    config.file_path().display(),
                    item.location(),
                    ctx.settings.paths().global_env_file().display()
                );
                if required && missing.is_none() {
                    missing = Some(format!("{key} is {text}"));
                }
                ("none", None, false, None, text)
            }
            Err(e) => (
                "unknown",
                Some(item.location()),
                false,
                Some(e.to_string()),
                format!("cannot be looked up: {e}"),
            ),
        };
        status.lines.push(format!("secret: {key} {text}"));
        items.push(json!({
            "key": key,
            "required": required,
            "source": source,
            "location": location,
            "plaintext": plaintext,
            "error": error,
        }));
    }
    status.json = json!(items);
    (status, missing)
}

/// One line per service of the env (the default first), and its token if it has its own.
fn services_text(session: &EnvSession, now: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for service in session.services() {
        let title = match &service.name {
            Some(name) => format!("service `{name}`"),
            None => "service".to_owned(),
        };
        let url = match &service.url {
            Ok(url) => crate::logging::redact_url(url),
            Err(e) => format!("not configured: {e}"),
        };
        if service.own_token {
            let st = service.tokens.status();
            let scope = match &st.grant {
                Ok(g) => {
                    let mut parts = Vec::new();
                    if !g.scopes.is_empty() {
                        parts.push(format!("scope {}", g.scopes.join(" ")));
                    }
                    if let Some(aud) = &g.audience {
                        parts.push(format!("audience {aud}"));
                    }
                    parts.join(", ")
                }
                Err(_) => "its grant is not configured".to_owned(),
            };
            lines.push(format!("{title}: {url} (own token: {scope})"));
            lines.push(format!("  token: {}", token_text(&st, now)));
        } else {
            lines.push(format!("{title}: {url}"));
        }
    }
    lines
}

/// The env's services as JSON: name (`null`: the default), URL or error, and the token of
/// a service that has its own.
fn services_json(session: &EnvSession, now: u64) -> Value {
    session
        .services()
        .map(|service| {
            let (url, error) = match &service.url {
                Ok(url) => (json!(crate::logging::redact_url(url)), Value::Null),
                Err(e) => (Value::Null, json!(e.to_string())),
            };
            let token = if service.own_token {
                let st = service.tokens.status();
                token_json(&st, now)
            } else {
                Value::Null
            };
            json!({
                "name": service.name,
                "url": url,
                "error": error,
                "own_token": service.own_token,
                "token": token,
            })
        })
        .collect()
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
    let token = token_json(st, now);
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
        "override_token": st.handed.as_ref().map_or(Value::Null, |f| handed_json(f, now)),
        "token": token,
    })
}

/// A token's state as JSON; never the token.
fn token_json(st: &EnvTokenStatus, now: u64) -> Value {
    match &st.cache {
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
    }
}

/// What the token in `LMI_ACCESS_TOKEN` claims, as JSON; never the token. `state`:
/// `valid`, `expiring` (within the hour: warned about), `expired` (not sent) or `unknown`
/// (opaque, or no usable `exp`).
fn handed_json(facts: &crate::auth::handed::Facts, now: u64) -> Value {
    use crate::auth::handed::Standing;
    let state = match facts.standing(now) {
        Standing::NoExpiry => "unknown",
        Standing::Valid { .. } => "valid",
        Standing::EndingSoon { .. } => "expiring",
        Standing::Expired { .. } => "expired",
    };
    let claims = facts.claims.as_ref();
    json!({
        "jwt": facts.is_jwt(),
        "subject": claims.and_then(|c| c.sub.as_deref()),
        "issuer": claims.and_then(|c| c.iss.as_deref()),
        "expires_at": facts.exp(),
        "expires_in_secs": facts.exp().map(|exp| exp.saturating_sub(now)),
        "state": state,
        "verified": false,
    })
}
