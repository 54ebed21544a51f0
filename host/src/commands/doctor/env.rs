//! Doctor's per-environment checks: the env file (and the secrets it holds in plaintext),
//! the grant configuration, its secrets and token cache (read, never changed), then, online,
//! each grant tried and each service URL probed (`services`).

use super::DoctorCheck;
use super::config::exposed_secrets;
use super::{secrets, services};
use crate::auth::cache::CacheState;
use crate::settings::{EnvFile, Settings};

pub fn env_checks(settings: &Settings, env: &str, network: bool) -> Vec<DoctorCheck> {
    let name = format!("env {env}");
    let cfg = match settings.env_config(env) {
        Ok(cfg) => cfg,
        Err(e) => {
            return vec![DoctorCheck::fail(
                name,
                e.to_string(),
                format!(
                    "fix or recreate {}",
                    settings.paths().env_file(env).display()
                ),
            )];
        }
    };
    let mut checks = Vec::new();
    if let Some(path) = cfg.file_exists().then(|| cfg.file_path().to_owned())
        && let Ok(file) = EnvFile::load(&path)
        && let Some(check) = exposed_secrets(&path, &file)
    {
        checks.push(DoctorCheck {
            name: name.clone(),
            ..check
        });
    }
    checks.extend(secrets::plaintext_in_env_file(&name, env, &cfg));
    let session = crate::auth::session::EnvSession::open(settings, env);
    // A service whose URL is unusable: a plugin calling it would be told not-configured.
    for service in session.services() {
        if let Err(e) = &service.url {
            let what = match &service.name {
                Some(n) => format!("service `{n}`"),
                None => "default service".to_owned(),
            };
            checks.push(DoctorCheck::warn(
                name.clone(),
                format!("{what}: {e}"),
                format!("set a https:// URL in {}", cfg.file_path().display()),
            ));
        }
    }
    let status = session.status();
    // The grant's secrets, looked up as a token request would: a missing one fails here.
    let mut secrets_found = true;
    if status.overridden {
        // The env's own token comes from the process: there is no grant to try, and grant
        // keys it lacks are not needed (a named service with its own scope still needs them).
        checks.push(DoctorCheck::skip(
            name.clone(),
            format!(
                "{} (process environment) replaces the grant: no grant to try",
                crate::auth::service::ACCESS_TOKEN_VAR
            ),
        ));
        checks.extend(status.handed.as_ref().and_then(|f| handed_check(&name, f)));
    } else {
        match &status.grant {
            Ok(grant) => {
                checks.push(cache_check(settings, env, &name, grant, &status.cache));
                if let Some(failed) = secrets::lookup_check(&name, env, grant) {
                    secrets_found = false;
                    checks.push(failed);
                }
            }
            Err(e) => checks.push(DoctorCheck::fail(
                name.clone(),
                e.to_string(),
                format!("set the key in {}", cfg.file_path().display()),
            )),
        }
    }
    if network {
        // A grant configuration already reported broken is not tried again.
        if status.overridden || (status.grant.is_ok() && secrets_found) {
            checks.extend(services::grant_checks(settings, &cfg, &session, &name));
        }
        checks.extend(services::probe_checks(settings, &cfg, &session, &name));
    } else {
        checks.push(DoctorCheck::skip(
            name,
            "grant not tried and services not contacted (--offline)",
        ));
    }
    checks
}

/// The default token's cache as it stands; read, never repaired or removed.
fn cache_check(
    settings: &Settings,
    env: &str,
    name: &str,
    grant: &crate::auth::service::GrantConfig,
    cache: &CacheState,
) -> DoctorCheck {
    match cache {
        CacheState::Unusable(why) => DoctorCheck::warn(
            name,
            format!(
                "token cache is unusable ({why}); it will be discarded and a new token requested"
            ),
            format!(
                "nothing to do, or delete {}",
                settings
                    .paths()
                    .token_dir()
                    .join(format!("{env}.json"))
                    .display()
            ),
        ),
        CacheState::Present(t) if !t.is_fresh(crate::auth::lifetime::now_secs()) => {
            DoctorCheck::ok(
                name,
                format!(
                    "{} grant; cached token expired (renewed on next use)",
                    grant.grant.as_str()
                ),
            )
        }
        CacheState::Present(_) => DoctorCheck::ok(
            name,
            format!("{} grant; cached token valid", grant.grant.as_str()),
        ),
        CacheState::Missing => DoctorCheck::ok(
            name,
            format!("{} grant; no cached token yet", grant.grant.as_str()),
        ),
    }
}

/// The token in `LMI_ACCESS_TOKEN`, when it is a JWT stating its expiry: expired fails (lmi
/// will not send it), ending within the hour warns. Read offline, from its unverified claims.
fn handed_check(name: &str, facts: &crate::auth::handed::Facts) -> Option<DoctorCheck> {
    use crate::auth::handed::{Standing, VAR};
    let now = crate::auth::lifetime::now_secs();
    let detail = format!("{VAR}: {}", facts.describe(now));
    let fix = format!("get a new token into {VAR}, or unset it to use the environment's own grant");
    match facts.standing(now) {
        Standing::NoExpiry => None,
        Standing::Valid { .. } => Some(DoctorCheck::ok(name, detail)),
        Standing::EndingSoon { .. } => Some(DoctorCheck::warn(name, detail, fix)),
        Standing::Expired { .. } => Some(DoctorCheck::fail(name, detail, fix)),
    }
}
