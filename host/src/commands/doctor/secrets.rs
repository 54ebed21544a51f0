//! Doctor's checks of the environment secrets (`OAUTH_CLIENT_SECRET`, `OAUTH_PASSWORD`): each
//! one written in plaintext in an env file or the global file is a warning naming the file,
//! the key and the command that moves it into the keychain (never the value); and each secret a grant needs is
//! looked up as a token request would look it up (`auth::env_secrets`), so a missing secret
//! or a keychain that cannot be asked fails here, offline too.

use super::DoctorCheck;
use crate::auth::AuthError;
use crate::auth::env_secrets::KEYS;
use crate::auth::service::GrantConfig;
use crate::keychain::KeychainError;
use crate::settings::{ConfigError, EnvConfig, EnvFile, Settings};

/// A warning for each secret the global file holds in plaintext.
pub fn plaintext_in_global(settings: &Settings) -> Vec<DoctorCheck> {
    let path = settings.paths().global_env_file();
    plaintext(settings.global_file())
        .map(|key| {
            DoctorCheck::warn(
                "config",
                format!(
                    "{} holds {key} in plaintext (for every environment without its own)",
                    path.display()
                ),
                format!("give each environment that uses it its own in the OS keychain, `lmi config set {key} -e NAME` (asks with hidden input), then remove this one with `lmi config unset {key}`; `lmi env secure NAME` moves an environment file's secrets, not the global file's"),
            )
        })
        .collect()
}

/// A warning for each secret `env`'s file holds in plaintext.
pub fn plaintext_in_env_file(name: &str, env: &str, cfg: &EnvConfig) -> Vec<DoctorCheck> {
    let path = cfg.file_path();
    KEYS.into_iter()
        .filter(|key| {
            let [_, (_, in_file), _] = cfg.each_layer(key);
            in_file.is_some_and(|v| !v.is_empty())
        })
        .map(|key| {
            DoctorCheck::warn(
                name,
                format!("{} holds {key} in plaintext", path.display()),
                format!("`lmi env secure {env}` moves it into the OS keychain"),
            )
        })
        .collect()
}

/// The secret keys `file` sets to a value (an empty one says "none" and holds nothing).
fn plaintext(file: &EnvFile) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.into_iter()
        .filter(|key| file.get(key).is_some_and(|v| !v.is_empty()))
}

/// The grant's secrets looked up now; a failing check when one is missing or the keychain
/// cannot be asked for it, `None` when every secret is found.
pub fn lookup_check(name: &str, env: &str, grant: &GrantConfig) -> Option<DoctorCheck> {
    let e = grant.check_secrets().err()?;
    let fix = match &e {
        AuthError::Config(ConfigError::MissingSecret { key, .. }) => format!(
            "store it in the OS keychain: `lmi config set {key} -e {env}` (asks with hidden input; --stdin reads a pipe)"
        ),
        AuthError::Keychain(KeychainError::Unavailable(_)) => format!(
            "{}; or keep the secret in the env file or the process environment",
            crate::keychain::start_fix()
        ),
        AuthError::Keychain(KeychainError::Failed(_)) => {
            "fix the keychain item it names".to_owned()
        }
        _ => "fix the value it names".to_owned(),
    };
    Some(DoctorCheck::fail(name, e.to_string(), fix))
}
