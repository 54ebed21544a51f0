//! `lmi env secure NAME`: the plaintext `OAUTH_CLIENT_SECRET` / `OAUTH_PASSWORD` of
//! `env/NAME.env` moved into the OS keychain, and their lines removed from the file with the
//! editor (everything else stays as written).
//!
//! Order: every keychain item is written and read back before the file is touched, so a
//! failure never loses the secret: a failed keychain write leaves the file as it was, a
//! failed file edit leaves both copies (and says so). An item that already holds a different
//! value is replaced only after a confirmation or `--yes`. The global file's secrets serve
//! every environment and are not moved.

use std::process::ExitCode;

use super::secrets;
use crate::auth::AuthError;
use crate::auth::env_secrets::{KEYS, SecretItem};
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::prompt::{self, PromptError};
use crate::secrets::Secret;
use crate::settings::{EnvFileEdit, validate_env_name};

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    validate_env_name(name)?;
    let paths = ctx.settings.paths();
    let path = paths.env_file(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(CliError::usage(format!(
            "there is no environment `{name}`: {} does not exist{}",
            path.display(),
            ctx.settings.environments().others_than(name)
        )));
    }
    let mut file = EnvFileEdit::load(&path)?;
    let global = ctx.settings.global_file();
    for key in KEYS {
        if global.get(key).is_some_and(|v| !v.is_empty()) {
            output::note(format_args!(
                "{key} in {} is not moved: the global file's value serves every environment without its own; give `{name}` its own in the keychain with `lmi config set {key} -e {name}` (asks with hidden input; --stdin reads a pipe), and remove the global one with `lmi config unset {key}` once no environment needs it",
                paths.global_env_file().display()
            ));
        }
    }
    let moving: Vec<(&str, Secret<String>)> = KEYS
        .into_iter()
        .filter_map(|key| {
            let value = file.get(key).filter(|v| !v.is_empty())?;
            Some((key, Secret::new(value.to_owned())))
        })
        .collect();
    if moving.is_empty() {
        output::line(format_args!(
            "{} holds no secret in plaintext: nothing to move",
            path.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    secrets::require_keychain(ctx, "")?;

    // Every item is read before any is written: a different value there is replaced only
    // when the user says so.
    let mut items = Vec::new();
    for (key, value) in &moving {
        let item = SecretItem::new(&ctx.settings, name, key)?;
        let held = item.read().map_err(AuthError::Keychain)?;
        if let Some(held) = &held
            && held.expose() != value.expose()
        {
            confirm_replace(ctx, name, key, &item)?;
        }
        items.push((item, held));
    }
    for (i, ((item, _), (_, value))) in items.iter().zip(&moving).enumerate() {
        if let Err(e) = secrets::store_verified(item, value) {
            // The items written before this one go back to what they held: the file still
            // has every secret, and the keychain is as it was.
            let left = secrets::Placed::of(items[..=i].to_vec()).undo();
            return Err(secrets::with_left(e, &left));
        }
    }
    for (key, _) in &moving {
        file.unset(key)?;
    }
    if let Err(e) = file.save() {
        return Err(CliError::from(e).with_context(format!(
            "the keychain now holds {} of `{name}`, but {} could not be edited: both copies exist (the file's is used first); run `lmi env secure {name}` again",
            moving.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(" and "),
            path.display()
        )));
    }
    for (item, _) in &items {
        output::line(format_args!(
            "moved {} of environment `{name}` from {} into the {}",
            item.key(),
            path.display(),
            item.location()
        ));
    }
    if ctx.settings.active_env() == Some(name) {
        for (key, _) in &moving {
            if ctx
                .settings
                .process_value(key)
                .is_some_and(|v| !v.is_empty())
            {
                output::note(format_args!(
                    "note: {key} is also set in the process environment, which comes before the keychain"
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks before the file's value replaces a different one in the keychain; `--yes` answers.
fn confirm_replace(ctx: &Ctx, env: &str, key: &str, item: &SecretItem) -> Result<(), CliError> {
    if ctx.yes {
        return Ok(());
    }
    let refused = |why: &str| {
        CliError::usage(format!(
            "the {} already holds a different {key} for `{env}`; {why}: nothing was changed (--yes replaces it with the file's value)",
            crate::keychain::name()
        ))
    };
    match prompt::confirm(&format!(
        "The {} holds a different {key} for `{env}` ({}). Replace it with the one in the file?",
        crate::keychain::name(),
        item.location()
    )) {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused("not replaced")),
        Err(PromptError::NoTerminal) => Err(refused("no terminal to ask on")),
        Err(e) => Err(e.into()),
    }
}
