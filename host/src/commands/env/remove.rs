//! `lmi env remove NAME`: the environment's file, its cached service tokens (its own and its
//! named services'), its keychain items (also when the file is already gone), and
//! `default_environment` in the global file if it names it. A keychain that cannot be asked
//! does not stop the rest: the items that may remain are named, and the exit is 1. Asks first ([`prompt::confirm`]); `--yes` answers, and
//! with no terminal and no `--yes` nothing is removed (exit 2).

use std::io::ErrorKind;
use std::process::ExitCode;

use super::secrets;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::prompt::{self, PromptError};
use crate::settings::{EnvFileEdit, keys, validate_env_name};

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    validate_env_name(name)?;
    let paths = ctx.settings.paths();
    let file = paths.env_file(name);
    let has_file = std::fs::symlink_metadata(&file).is_ok();
    let tokens = crate::auth::cache::files_of_env(&paths.token_dir(), name);
    let global = paths.global_env_file();
    let is_default = ctx.settings.default_env() == Some(name);
    // Asked even without a file: an item left behind (a file removed by hand) is removed too.
    let kept = secrets::kept_in_keychain(ctx, name);
    if !has_file && tokens.is_empty() && !is_default && kept.as_ref().is_ok_and(Vec::is_empty) {
        return Err(CliError::usage(format!(
            "there is no environment `{name}`: {} does not exist{}",
            file.display(),
            ctx.settings.environments().others_than(name)
        )));
    }
    if !has_file && tokens.is_empty() && !is_default {
        // Nothing but keychain items could be left, and the keychain does not answer: its
        // error (exit 1), naming the items that may remain, as when the file exists.
        if let Err(e) = kept {
            let items: Vec<String> = crate::auth::env_secrets::KEYS
                .iter()
                .filter_map(|key| {
                    crate::auth::env_secrets::SecretItem::new(&ctx.settings, name, key).ok()
                })
                .map(|item| item.location())
                .collect();
            return Err(e.with_context(format!(
                "{} does not exist, and the keychain could not be asked whether it holds secrets of `{name}`; these may remain: {}; run `lmi env remove {name}` again once it answers",
                file.display(),
                items.join(", ")
            )));
        }
    }

    let mut what = Vec::new();
    if has_file {
        what.push(file.display().to_string());
    }
    if !tokens.is_empty() {
        what.push("its cached tokens".to_owned());
    }
    match &kept {
        Ok(kept) if kept.is_empty() => {}
        Ok(kept) => what.push(format!(
            "its {} in the {}",
            kept.join(" and "),
            crate::keychain::name()
        )),
        Err(_) => what.push(format!(
            "its secrets in the {}, if any (it does not answer now)",
            crate::keychain::name()
        )),
    }
    if is_default {
        what.push(format!(
            "{} in {}",
            keys::DEFAULT_ENVIRONMENT,
            global.display()
        ));
    }
    if !ctx.yes {
        match prompt::confirm(&format!(
            "Remove environment `{name}`: {}?",
            what.join(", ")
        )) {
            Ok(true) => {}
            Ok(false) => {
                return Err(CliError::usage(format!(
                    "environment `{name}` was not removed"
                )));
            }
            Err(PromptError::NoTerminal) => {
                return Err(CliError::usage(format!(
                    "refusing to remove environment `{name}` without confirmation: no terminal to ask on; pass --yes"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }

    if has_file {
        std::fs::remove_file(&file).map_err(|e| {
            CliError::failure(anyhow::anyhow!("cannot remove {}: {e}", file.display()))
        })?;
        output::line(format_args!("removed {}", file.display()));
    }
    let mut removed = 0;
    for token in &tokens {
        match std::fs::remove_file(token) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CliError::failure(anyhow::anyhow!(
                    "cannot remove {}: {e}",
                    token.display()
                )));
            }
        }
    }
    if removed > 0 {
        output::line(format_args!(
            "removed {removed} cached token file{} in {}",
            if removed == 1 { "" } else { "s" },
            paths.token_dir().display()
        ));
    }
    let forgotten = secrets::forget_secrets(ctx, name)?;
    for gone in &forgotten.removed {
        output::line(format_args!("removed {gone}"));
    }
    if is_default {
        let mut edit = EnvFileEdit::load(&global)?;
        edit.unset(keys::DEFAULT_ENVIRONMENT)?;
        edit.save()?;
        output::line(format_args!(
            "unset {} in {} (it named `{name}`)",
            keys::DEFAULT_ENVIRONMENT,
            global.display()
        ));
    }
    if let Some(e) = forgotten.error {
        // Everything else is gone; the items that may remain are named, and a second run
        // finds them even without the file.
        return Err(CliError::from(crate::auth::AuthError::Keychain(e)).with_context(format!(
            "environment `{name}` was removed except, perhaps, its secrets in the keychain: {} may remain; run `lmi env remove {name}` again once the keychain answers",
            forgotten.left.join(", ")
        )));
    }
    Ok(ExitCode::SUCCESS)
}
