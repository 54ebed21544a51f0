//! Doctor's configuration checks: the `.env` files (secrets not readable by others), the
//! token cache directory, ignored environment files, and the trusted certificate authorities.

use std::path::Path;

use super::DoctorCheck;
use crate::settings::{EnvFile, Settings};

/// Which certificate authorities HTTPS connections trust (read offline: no connection).
pub fn trust_check(settings: &Settings) -> DoctorCheck {
    match crate::tls::Trust::for_process(settings.global(crate::tls::CA_BUNDLE_KEY)) {
        Ok(trust) => DoctorCheck::ok(
            "tls",
            format!(
                "trusting {}",
                trust
                    .sources
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ),
        Err(e) => DoctorCheck::fail(
            "tls",
            e.to_string(),
            format!(
                "point {} at a readable PEM file holding your company's CA certificate",
                crate::tls::CA_BUNDLE_KEY
            ),
        ),
    }
}

pub fn config_checks(settings: &Settings) -> Vec<DoctorCheck> {
    let paths = settings.paths();
    let mut checks = Vec::new();
    let global = paths.global_env_file();
    // The global file was parsed to get here; only its permissions are left to check.
    if global.exists() {
        checks.push(match exposed_secrets(&global, settings.global_file()) {
            Some(check) => check,
            None => DoctorCheck::ok("config", format!("{} parses", global.display())),
        });
    } else {
        checks.push(DoctorCheck::skip(
            "config",
            format!("no global config at {} (optional)", global.display()),
        ));
    }
    match settings.default_env() {
        Some(env) if !paths.env_file(env).exists() && settings.env_config(env).is_ok() => {
            checks.push(DoctorCheck::warn(
                "config",
                format!(
                    "default_environment is `{env}`, but {} does not exist",
                    paths.env_file(env).display()
                ),
                format!(
                    "create {} or change default_environment in {}",
                    paths.env_file(env).display(),
                    global.display()
                ),
            ));
        }
        _ => {}
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = paths.token_dir();
        if let Ok(meta) = std::fs::metadata(&dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            checks.push(DoctorCheck::fail(
                "config",
                format!(
                    "the token cache {} is open to others (mode {:o})",
                    dir.display(),
                    meta.permissions().mode() & 0o777
                ),
                format!("chmod 700 {}", dir.display()),
            ));
        }
    }
    for ignored in settings.environments().ignored {
        checks.push(DoctorCheck::warn(
            "config",
            format!(
                "{} is ignored: its name is not a valid environment name",
                ignored.display()
            ),
            "rename it to <name>.env using letters, digits, `-` and `_`",
        ));
    }
    checks
}

/// A file holding a secret that group or others can read.
pub fn exposed_secrets(path: &Path, file: &EnvFile) -> Option<DoctorCheck> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        let secrets: Vec<&str> = file
            .keys()
            .filter(|k| crate::settings::SECRET_KEYS.contains(k))
            .collect();
        if mode & 0o077 != 0 && !secrets.is_empty() {
            return Some(DoctorCheck::fail(
                "config",
                format!(
                    "{} holds {} but is readable by others (mode {:o})",
                    path.display(),
                    secrets.join(", "),
                    mode & 0o777
                ),
                format!("chmod 600 {}", path.display()),
            ));
        }
    }
    let _ = (path, file);
    None
}
