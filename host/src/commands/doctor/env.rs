//! Doctor's per-environment checks: grant configuration, token cache, and whether the token
//! endpoint answers (no credential is sent).

use super::DoctorCheck;
use super::config::exposed_secrets;
use super::probe::probe;
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
    let grant = match status.grant {
        Ok(g) => g,
        Err(e) => {
            checks.push(DoctorCheck::fail(
                name,
                e.to_string(),
                format!("set the key in {}", cfg.file_path().display()),
            ));
            return checks;
        }
    };
    checks.push(match &status.cache {
        CacheState::Unusable(why) => DoctorCheck::warn(
            name.clone(),
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
                name.clone(),
                format!(
                    "{} grant; cached token expired (renewed on next use)",
                    grant.grant.as_str()
                ),
            )
        }
        CacheState::Present(_) => DoctorCheck::ok(
            name.clone(),
            format!("{} grant; cached token valid", grant.grant.as_str()),
        ),
        CacheState::Missing => DoctorCheck::ok(
            name.clone(),
            format!("{} grant; no cached token yet", grant.grant.as_str()),
        ),
    });
    if network {
        checks.push(match probe(settings, &grant.token_url) {
            Ok(p) => DoctorCheck::ok(
                name,
                format!(
                    "token endpoint {} answers (HTTP {})",
                    grant.endpoint(),
                    p.status
                ),
            ),
            Err(why) => DoctorCheck::fail(
                name,
                format!("token endpoint {} is unreachable: {why}", grant.endpoint()),
                format!(
                    "check OAUTH_TOKEN_URL in {} and your network or VPN",
                    cfg.file_path().display()
                ),
            ),
        });
    }
    checks
}
