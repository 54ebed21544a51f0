//! Where an environment's secrets (`OAUTH_CLIENT_SECRET`, `OAUTH_PASSWORD`) are kept: the one
//! place that decides, stores and deletes them. Today a secret goes to the env file only when
//! the user asks for it (`--store-in-file`); the OS keychain is not wired yet, and choosing it
//! is a clear error rather than a silent fallback to plaintext.

use crate::commands::{CliError, Ctx};
use crate::secrets::Secret;
use crate::settings::EnvFileEdit;

/// Where a secret goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The OS keychain, keyed by environment (the default).
    Keychain,
    /// The env file (0600), in plaintext: only when asked for (`--store-in-file`).
    File,
}

impl Placement {
    /// `--store-in-file` chooses the file; otherwise the keychain.
    pub fn from_flag(store_in_file: bool) -> Self {
        if store_in_file {
            Placement::File
        } else {
            Placement::Keychain
        }
    }
}

/// Fails now, before anything is asked, tried or written, if secrets cannot be kept as
/// `placement` says.
pub fn check_placement(_ctx: &Ctx, placement: Placement) -> Result<(), CliError> {
    match placement {
        Placement::File => Ok(()),
        // KEYCHAIN (second wave of issue 17): probe the keychain here, under its timeout; an
        // unreachable one fails closed, as the SSO session's store does.
        Placement::Keychain => Err(keychain_not_available()),
    }
}

/// Keeps `secret` as `key` of environment `env`. With [`Placement::File`] it goes into
/// `file` (the env file being written, so it lands in the caller's one atomic write), with a
/// warning that it is plaintext.
pub fn store_secret(
    _ctx: &Ctx,
    env: &str,
    file: &mut EnvFileEdit,
    key: &str,
    secret: &Secret<String>,
    placement: Placement,
) -> Result<(), CliError> {
    match placement {
        Placement::File => {
            file.set(key, secret.expose())?;
            crate::output::warn(format_args!(
                "{key} of environment `{env}` is kept in plaintext in {} (mode 0600: readable by you and by root, and by any program you run)",
                file.path().display()
            ));
            Ok(())
        }
        // KEYCHAIN (second wave of issue 17): write the secret to the keychain here.
        Placement::Keychain => Err(keychain_not_available()),
    }
}

/// Deletes the secrets of `env` kept outside its env file (the env file itself is the
/// caller's to remove); returns what was deleted, for the user.
pub fn forget_secrets(_ctx: &Ctx, _env: &str) -> Result<Vec<String>, CliError> {
    // KEYCHAIN (second wave of issue 17): delete the environment's keychain items here.
    Ok(Vec::new())
}

fn keychain_not_available() -> CliError {
    CliError::usage(
        "keeping environment secrets in the OS keychain is not available yet: pass --store-in-file to keep the secret in the environment's file (0600, plaintext), or set it in the process environment when you run lmi",
    )
}
