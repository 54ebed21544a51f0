//! `lmi config get|set|unset KEY [VALUE]`: one key of lmi's configuration, edited in place
//! ([`EnvFileEdit`]: comments, order and unknown lines kept; written atomically, 0600).
//!
//! Which file: the environment named by `-e NAME` on this command line, else the global
//! `~/.config/lmi/.env`. Never `LMI_ENV` or `default_environment`: a variable exported in the
//! shell must not silently send a write to another file than the one the user sees named.
//! Only keys lmi reads are accepted (a misspelling gets the close key), each in a file it is
//! read from, with a value lmi would accept; a secret is never taken from an argument.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::auth::env_secrets::KEYS as ENV_SECRET_KEYS;
use crate::auth::env_secrets::Origin;
use crate::commands::{CliError, Ctx, env};
use crate::output::{self, OutputFormat};
use crate::prompt::{self, PromptError};
use crate::secrets::Secret;
use crate::settings::{Change, EnvFileEdit, SECRET_KEYS, Source, check_value, keys};

#[derive(Debug, clap::Subcommand)]
#[command(after_help = "\
Edits the global ~/.config/lmi/.env, or with -e NAME on the command line the file of
environment NAME (LMI_ENV and default_environment never choose the file). Secrets
(OAUTH_CLIENT_SECRET, OAUTH_PASSWORD) are never taken from an argument: `lmi config set KEY
-e NAME` asks for one with hidden input (--stdin reads a pipe) and puts it where NAME keeps
it: the OS keychain, or the file if it is there (or --store-in-file). `unset` removes a
secret from the file and the keychain.")]
pub enum ConfigCommand {
    /// Print a key's value and where it comes from (a secret's value is never printed).
    Get {
        /// The key (`OAUTH_SCOPE`, `default_environment`, …).
        key: String,
    },
    /// Set a key in the global .env, or with -e NAME in that environment's file. A secret
    /// (OAUTH_CLIENT_SECRET, OAUTH_PASSWORD) takes no VALUE: it is asked with hidden input,
    /// or read from stdin with --stdin, and goes where the environment keeps it.
    Set {
        /// The key.
        key: String,
        /// Its value (quoted in the file as needed, so it reads back exactly).
        #[arg(allow_hyphen_values = true)]
        value: Option<String>,
        /// A secret: read it from stdin (one line) instead of asking on the terminal.
        #[arg(long)]
        stdin: bool,
        /// A secret: keep it in the file (0600, plaintext) instead of the OS keychain.
        #[arg(long)]
        store_in_file: bool,
    },
    /// Remove a key from the global .env, or with -e NAME from that environment's file.
    Unset {
        /// The key.
        key: String,
    },
}

/// The file `lmi config` works on.
enum Target {
    Global(PathBuf),
    Env { name: String, file: PathBuf },
}

impl Target {
    fn of(ctx: &Ctx) -> Self {
        let paths = ctx.settings.paths();
        match ctx.settings.env_flag() {
            Some(name) => Target::Env {
                name: name.to_owned(),
                file: paths.env_file(name),
            },
            None => Target::Global(paths.global_env_file()),
        }
    }

    fn file(&self) -> &PathBuf {
        match self {
            Target::Global(file) | Target::Env { file, .. } => file,
        }
    }

    fn source(&self) -> Source {
        match self {
            Target::Global(file) => Source::GlobalFile(file.clone()),
            Target::Env { file, .. } => Source::EnvFile(file.clone()),
        }
    }
}

impl ConfigCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let target = Target::of(ctx);
        match self {
            ConfigCommand::Get { key } => get(ctx, &target, &key),
            ConfigCommand::Set {
                key,
                value,
                stdin,
                store_in_file,
            } => match value {
                Some(value) if !stdin && !store_in_file => set(ctx, &target, &key, &value),
                Some(_) if is_secret(ctx, &key) => set(ctx, &target, &key, ""),
                Some(_) => Err(CliError::usage(
                    "--stdin and --store-in-file are for a secret (OAUTH_CLIENT_SECRET, OAUTH_PASSWORD), which takes no VALUE",
                )),
                None => set_secret(ctx, &target, &key, stdin, store_in_file),
            },
            ConfigCommand::Unset { key } => unset(ctx, &target, &key),
        }
    }
}

/// Whether `key`'s value is a secret: lmi's own secret keys, and a plugin setting an
/// installed plugin declares `secret`.
pub fn is_secret(ctx: &Ctx, key: &str) -> bool {
    SECRET_KEYS.contains(&key)
        || ctx.plugins.iter().any(|p| {
            p.manifest.config.iter().any(|k| {
                k.secret && crate::plugins::config::variable(&p.manifest.name, &k.name) == key
            })
        })
}

/// A key lmi reads, in a file it is read from, with `writing` also one a file may hold.
fn check_key(ctx: &Ctx, target: &Target, key: &str, writing: bool) -> Result<(), CliError> {
    let shown = crate::text::line(key, 80);
    if !keys::is_known(key) {
        let close = keys::closest(key)
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        return Err(CliError::usage(format!(
            "lmi does not know the key {shown}{close}; `lmi config` takes the keys lmi reads (the README's \"Configuration keys\")"
        )));
    }
    if !writing {
        return Ok(());
    }
    if keys::PROCESS_ONLY.contains(&key) {
        return Err(CliError::usage(format!(
            "{key} is read from the process environment only; a file that sets it changes nothing{}",
            if key == keys::ENV {
                format!(": set {} instead", keys::DEFAULT_ENVIRONMENT)
            } else {
                String::new()
            }
        )));
    }
    if let Target::Env { .. } = target
        && keys::is_global_only(key)
    {
        return Err(CliError::usage(format!(
            "{key} is read from the global file ({}) and the process environment only, never from an environment's file: leave out -e",
            ctx.settings.paths().global_env_file().display()
        )));
    }
    Ok(())
}

fn get(ctx: &Ctx, target: &Target, key: &str) -> Result<ExitCode, CliError> {
    check_key(ctx, target, key, false)?;
    let found = lookup(ctx, target, key)?;
    let secret = is_secret(ctx, key);
    let shadowed = keys::POLICY_KEYS.contains(&key)
        && ctx
            .settings
            .process_value(key)
            .is_some_and(|v| !v.is_empty());
    match ctx.output {
        OutputFormat::Json => output::json(&json!({
            "key": key,
            "set": found.is_some(),
            "secret": secret,
            "value": found.as_ref().filter(|_| !secret).map(|(v, _)| v),
            "source": found.as_ref().map(|(_, s)| s.kind()),
            "from": found.as_ref().map(|(_, s)| s.to_string()),
        })),
        OutputFormat::Text => match &found {
            None => output::note(format_args!("{key} is not set")),
            Some((_, source)) if secret => output::note(format_args!(
                "{key} is set in {source} (a secret: its value is not shown)"
            )),
            Some((value, source)) => {
                // Raw for a script; on a terminal without the control characters a file may
                // hold.
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    output::line(crate::text::line(value, usize::MAX));
                } else {
                    output::line(value);
                }
                output::note(format_args!("({key} from {source})"));
            }
        },
    }
    if shadowed {
        output::note(format_args!(
            "{key} is also set in the process environment, which may only tighten the files' policy (`lmi env show NAME` shows the policy in force)"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `key`'s value and where it comes from, layered as the code that reads it layers it.
/// A secret's value is never kept: it comes back empty, with where it lives (for the
/// grant's secrets of an environment, where a token request finds it: the keychain too).
fn lookup(ctx: &Ctx, target: &Target, key: &str) -> Result<Option<(String, Origin)>, CliError> {
    if let Target::Env { name, .. } = target
        && crate::auth::env_secrets::KEYS.contains(&key)
    {
        use crate::auth::env_secrets::{self, Found, SecretItem};
        let config = ctx.settings.env_config(name)?;
        let item = SecretItem::new(&ctx.settings, name, key)?;
        return match env_secrets::lookup(&config, &item) {
            Ok(Found::Value(_, origin)) => Ok(Some((String::new(), origin))),
            Ok(Found::Blank(_) | Found::Missing) => Ok(None),
            Err(e) => Err(CliError::from(crate::auth::AuthError::Keychain(e))),
        };
    }
    Ok(layered(ctx, target, key)?.map(|(v, s)| (v, s.into())))
}

/// `key`'s value and where it comes from in the process environment and the files.
fn layered(ctx: &Ctx, target: &Target, key: &str) -> Result<Option<(String, Source)>, CliError> {
    let settings = &ctx.settings;
    let global_file = || {
        settings
            .global_file()
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                (
                    v.to_owned(),
                    Source::GlobalFile(settings.paths().global_env_file()),
                )
            })
    };
    let process = || {
        settings
            .process_value(key)
            .filter(|v| !v.is_empty())
            .map(|v| (v.to_owned(), Source::Process))
    };
    Ok(match target {
        // Read from the global file alone.
        _ if key == keys::DEFAULT_ENVIRONMENT => global_file(),
        // The global file's holds against the process environment's.
        _ if key == keys::AUDIT_LOG => global_file().or_else(process),
        _ if keys::PROCESS_ONLY.contains(&key) => process(),
        _ if keys::is_global_only(key) => process().or_else(global_file),
        Target::Env { name, .. } => {
            let config = settings.env_config(name)?;
            // A policy is the files' (the process environment may only tighten it).
            let found = if keys::POLICY_KEYS.contains(&key) {
                config.lookup_in_files(key)
            } else {
                config.lookup(key)
            };
            found.map(|(v, s)| (v.to_owned(), s))
        }
        Target::Global(_) if keys::POLICY_KEYS.contains(&key) => global_file(),
        Target::Global(_) => process().or_else(global_file),
    })
}

fn set(ctx: &Ctx, target: &Target, key: &str, value: &str) -> Result<ExitCode, CliError> {
    check_key(ctx, target, key, true)?;
    if is_secret(ctx, key) {
        return Err(CliError::usage(format!(
            "{key} is a secret, and lmi never takes a secret from an argument (it would stay in your shell's history and show in the process list): {}",
            secret_way(key)
        )));
    }
    if value.is_empty() {
        return Err(CliError::usage(format!(
            "an empty value leaves {key} unset: use `lmi config unset {key}`"
        )));
    }
    require_env_file(ctx, target)?;
    check_value(key, value, &target.source())?;
    let mut edit = EnvFileEdit::load(target.file())?;
    let change = edit.set(key, value)?;
    edit.save()?;
    report(ctx, target, key, Some(value), &change, false);
    if key == keys::DEFAULT_ENVIRONMENT {
        let file = ctx.settings.paths().env_file(value);
        if !file.exists() {
            output::warn(format_args!(
                "environment `{value}` has no file {}: add it with `lmi env add {value} …`",
                file.display()
            ));
        }
    }
    process_note(ctx, key);
    Ok(ExitCode::SUCCESS)
}

/// How a secret `key` is given instead of an argument.
fn secret_way(key: &str) -> String {
    if ENV_SECRET_KEYS.contains(&key) {
        format!(
            "leave out the VALUE: `lmi config set {key} -e NAME` asks for it with hidden input, and with --stdin reads it from a pipe (for a new environment, `lmi env add NAME … --secret-stdin`)"
        )
    } else {
        "set it in the process environment when you run lmi, or edit the global file (mode 0600)"
            .to_owned()
    }
}

/// `set KEY` without a VALUE: a secret of lmi's, read with hidden input (or from stdin) and
/// put where the environment keeps it (`env::rotate_secret`).
fn set_secret(
    ctx: &Ctx,
    target: &Target,
    key: &str,
    stdin: bool,
    store_in_file: bool,
) -> Result<ExitCode, CliError> {
    check_key(ctx, target, key, true)?;
    if !ENV_SECRET_KEYS.contains(&key) {
        return Err(CliError::usage(if is_secret(ctx, key) {
            format!("{key} is a secret lmi does not keep: {}", secret_way(key))
        } else {
            format!("`lmi config set {key}` needs a VALUE")
        }));
    }
    require_env_file(ctx, target)?;
    if let Target::Global(_) = target
        && !store_in_file
    {
        return Err(CliError::usage(format!(
            "a keychain item belongs to one environment: give -e NAME to keep {key} of environment NAME in the OS keychain, or pass --store-in-file to write it to the global file (plaintext, for every environment without its own)"
        )));
    }
    let done = match target {
        Target::Env { name, .. } => {
            // Where it goes is settled (the keychain probed) before the secret is asked for.
            let placement = env::rotation_placement(ctx, name, key, store_in_file)?;
            let secret = read_secret(key, stdin)?;
            env::rotate_secret(ctx, name, key, &secret, placement)?
        }
        Target::Global(file) => {
            let secret = read_secret(key, stdin)?;
            let mut edit = EnvFileEdit::load(file)?;
            edit.set(key, secret.expose())?;
            edit.save()?;
            crate::output::warn(format_args!(
                "{key} is kept in plaintext in {} (for every environment without its own; mode 0600: readable by you and by root, and by any program you run)",
                file.display()
            ));
            format!("set {key} in {}", file.display())
        }
    };
    match ctx.output {
        OutputFormat::Json => output::json(&json!({
            "key": key,
            "file": target.file(),
            "change": "set",
            "done": done,
        })),
        OutputFormat::Text => output::line(&done),
    }
    process_note(ctx, key);
    Ok(ExitCode::SUCCESS)
}

/// A secret from stdin (`--stdin`: a pipe, one line) or asked with hidden input.
fn read_secret(key: &str, stdin: bool) -> Result<Secret<String>, CliError> {
    let secret = if stdin {
        if prompt::stdin_is_terminal() {
            return Err(CliError::usage(
                "--stdin reads a pipe, but stdin is a terminal, where the secret would show as you type: leave out --stdin and lmi asks with hidden input",
            ));
        }
        prompt::piped_line()
            .map_err(|e| CliError::usage(format!("--stdin: {key}: {e}")))?
            .unwrap_or_else(|| Secret::new(String::new()))
    } else {
        prompt::secret(&format!("New value of {key} (hidden)")).map_err(|e| match e {
            PromptError::NoTerminal => CliError::usage(
                "no terminal to ask for the secret on: pipe it to stdin with --stdin (lmi never takes it from an argument)",
            ),
            e => e.into(),
        })?
    };
    if secret.expose().is_empty() {
        return Err(CliError::usage(format!(
            "no value was given for {key}: an empty one leaves it unset (use `lmi config unset {key}`)"
        )));
    }
    Ok(secret)
}

fn unset(ctx: &Ctx, target: &Target, key: &str) -> Result<ExitCode, CliError> {
    check_key(ctx, target, key, true)?;
    require_env_file(ctx, target)?;
    if let Target::Env { name, file } = target
        && ENV_SECRET_KEYS.contains(&key)
    {
        // The file's line and the keychain item both.
        let removed = env::unset_secret(ctx, name, key)?;
        match ctx.output {
            OutputFormat::Json => output::json(&json!({
                "key": key,
                "file": file,
                "change": if removed.is_empty() { "absent" } else { "removed" },
                "removed": removed,
            })),
            OutputFormat::Text if removed.is_empty() => output::line(format_args!(
                "{key} is not set in {} or the OS keychain: nothing changed",
                file.display()
            )),
            OutputFormat::Text => {
                for line in &removed {
                    output::line(line);
                }
            }
        }
        process_note(ctx, key);
        return Ok(ExitCode::SUCCESS);
    }
    let mut edit = EnvFileEdit::load(target.file())?;
    let change = edit.unset(key)?;
    edit.save()?;
    report(ctx, target, key, None, &change, is_secret(ctx, key));
    process_note(ctx, key);
    Ok(ExitCode::SUCCESS)
}

/// An environment's file must exist: `config` changes environments, `env add` makes them.
fn require_env_file(ctx: &Ctx, target: &Target) -> Result<(), CliError> {
    if let Target::Env { name, file } = target
        && std::fs::symlink_metadata(file).is_err()
    {
        return Err(CliError::usage(format!(
            "environment `{name}` has no file {}{}: add it with `lmi env add {name} …`",
            file.display(),
            ctx.settings.environments().others_than(name)
        )));
    }
    Ok(())
}

/// What the process environment's value of `key` does to the file's.
fn process_note(ctx: &Ctx, key: &str) {
    let set = ctx
        .settings
        .process_value(key)
        .is_some_and(|v| !v.is_empty());
    // The global file's `default_environment` and `LMI_AUDIT_LOG` hold against it.
    if !set || key == keys::DEFAULT_ENVIRONMENT || key == keys::AUDIT_LOG {
        return;
    }
    if keys::POLICY_KEYS.contains(&key) {
        output::note(format_args!(
            "note: {key} is also set in the process environment, which may only tighten the files' policy"
        ));
    } else {
        output::note(format_args!(
            "note: {key} is also set in the process environment, which takes precedence over the file"
        ));
    }
}

/// One line saying what changed.
fn report(
    ctx: &Ctx,
    target: &Target,
    key: &str,
    value: Option<&str>,
    change: &Change,
    secret: bool,
) {
    let file = target.file().display();
    let shown = |v: &str| crate::text::line(v, 200);
    let old = match change {
        Change::Replaced { old } | Change::Removed { old } => Some(old.as_str()),
        _ => None,
    };
    let kind = match change {
        Change::Added => "added",
        Change::Replaced { .. } => "replaced",
        Change::Unchanged => "unchanged",
        Change::Removed { .. } => "removed",
        Change::Absent => "absent",
    };
    match ctx.output {
        OutputFormat::Json => output::json(&json!({
            "key": key,
            "file": target.file(),
            "change": kind,
            "value": value,
            "old": old.filter(|_| !secret),
        })),
        OutputFormat::Text => {
            let was = |old: &str| {
                if secret {
                    " (it was set)".to_owned()
                } else {
                    format!(" (was {})", shown(old))
                }
            };
            let value = value.map(shown).unwrap_or_default();
            output::line(match change {
                Change::Added => format!("set {key}={value} in {file}"),
                Change::Replaced { old } => format!("set {key}={value} in {file}{}", was(old)),
                Change::Unchanged => format!("{key} is already {value} in {file}: nothing changed"),
                Change::Removed { old } => format!("unset {key} in {file}{}", was(old)),
                Change::Absent => format!("{key} is not set in {file}: nothing changed"),
            });
        }
    }
}
