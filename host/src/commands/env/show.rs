//! `lmi env show NAME`: every key of an environment, its value and where it comes from (the
//! process environment, the env file, the global file; for the grant's secrets also the OS
//! keychain, in the order a token request looks), as a run of that environment reads them.
//! A secret's value is never shown: only whether it is set, and where; nor is the value of a
//! key lmi does not read (a helper may hold anything), nor a user or password in a URL.

use std::process::ExitCode;

use serde_json::json;

use crate::auth::env_secrets::{self, Found, Origin, SecretItem};
use crate::auth::service::GrantType;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::settings::{EnvConfig, Source, keys, validate_env_name};

/// One row: a key, what is shown of its value, where it comes from.
struct Row {
    key: String,
    /// `None` for a secret or a key lmi does not read (never shown).
    value: Option<String>,
    secret: bool,
    source: Option<Origin>,
    /// Why the row says less than it might: the value is not shown, or the keychain could
    /// not be asked.
    note: Option<String>,
}

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    validate_env_name(name)?;
    let settings = &ctx.settings;
    let config = settings.env_config(name)?;
    let rows = rows(ctx, &config);
    if !config.file_exists() && !rows.iter().any(|r| r.source == Some(Origin::Process)) {
        return Err(CliError::usage(format!(
            "there is no environment `{name}`: {} does not exist{}",
            config.file_path().display(),
            settings.environments().others_than(name)
        )));
    }
    let policy = settings.policy(Some(&config));
    let default = settings.default_env() == Some(name);
    match ctx.output {
        OutputFormat::Json => {
            let keys: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "key": r.key,
                        "value": r.value,
                        "secret": r.secret,
                        "set": r.source.is_some(),
                        "source": r.source.as_ref().map(Origin::kind),
                        "from": r.source.as_ref().map(|s| s.to_string()),
                        "note": r.note,
                    })
                })
                .collect();
            output::json(&json!({
                "name": name,
                "file": config.file_path(),
                "file_exists": config.file_exists(),
                "default": default,
                "keys": keys,
                "policy": match &policy {
                    Ok(p) => p.to_json(),
                    Err(e) => json!({ "error": e.to_string() }),
                },
            }));
        }
        OutputFormat::Text => {
            output::line(format_args!(
                "environment `{name}`{}: {}{}",
                if default { " (default)" } else { "" },
                config.file_path().display(),
                if config.file_exists() {
                    ""
                } else {
                    " (no file: its keys come from the process environment)"
                }
            ));
            let shown: Vec<(String, String)> = rows
                .iter()
                .map(|r| {
                    let value = match (&r.value, &r.source, &r.note) {
                        (_, None, Some(note)) => note.clone(),
                        (_, None, None) => "not set".to_owned(),
                        (None, Some(_), Some(note)) => format!("set ({note})"),
                        (None, Some(_), None) => "set (secret, not shown)".to_owned(),
                        (Some(v), Some(_), _) => v.clone(),
                    };
                    (r.key.clone(), value)
                })
                .collect();
            let key_width = shown.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            let value_width = shown
                .iter()
                .map(|(_, v)| v.chars().count())
                .max()
                .unwrap_or(0)
                .min(60);
            for (row, (key, value)) in rows.iter().zip(&shown) {
                let from = row.source.as_ref().map(source_label).unwrap_or_default();
                output::line(
                    format_args!("  {key:key_width$}  {value:value_width$}  {from}")
                        .to_string()
                        .trim_end(),
                );
            }
            match policy {
                Ok(p) => output::line(format_args!("policy: {}", p.describe())),
                Err(e) => output::line(format_args!("policy cannot be read: {e}")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every key the environment reads that is set somewhere (global-only keys and the global
/// file's unknown helpers left out), sorted; the grant's secrets where a token request
/// would find them (the keychain too), even when unset.
fn rows(ctx: &Ctx, config: &EnvConfig) -> Vec<Row> {
    let mut rows: Vec<Row> = config
        .keys()
        .into_iter()
        .filter(|k| !keys::is_global_only(k) && !env_secrets::KEYS.contains(k))
        .filter_map(|key| {
            let (value, source) = config.lookup(key)?;
            let known = keys::is_known(key);
            if !known && !matches!(source, Source::EnvFile(_)) {
                return None;
            }
            let secret = super::super::config::is_secret(ctx, key);
            let shown = known && !secret;
            Some(Row {
                key: key.to_owned(),
                value: shown.then(|| crate::text::line(&crate::text::without_userinfo(value), 200)),
                secret,
                source: Some(source.into()),
                note: (!known).then(|| "not shown: lmi does not read this key".to_owned()),
            })
        })
        .collect();
    let password_grant =
        config.get(keys::GRANT_TYPE).map(str::trim) == Some(GrantType::Password.as_str());
    let mut needed = vec![keys::CLIENT_SECRET];
    if password_grant || config.get(keys::PASSWORD).is_some() {
        needed.push(keys::PASSWORD);
    }
    for key in needed {
        rows.push(secret_row(ctx, config, key));
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

/// Where a token request would find `key` (its value dropped at once).
fn secret_row(ctx: &Ctx, config: &EnvConfig, key: &str) -> Row {
    let row = |source, note| Row {
        key: key.to_owned(),
        value: None,
        secret: true,
        source,
        note,
    };
    let found = SecretItem::new(&ctx.settings, config.name(), key)
        .map_err(|e| e.to_string())
        .and_then(|item| env_secrets::lookup(config, &item).map_err(|e| e.to_string()));
    match found {
        Ok(Found::Value(_, origin)) => row(Some(origin), None),
        Ok(Found::Blank(source)) => row(None, Some(format!("none (set empty in {source})"))),
        Ok(Found::Missing) => row(None, None),
        Err(e) => row(
            None,
            Some(format!(
                "cannot be looked up: {}",
                crate::text::line(&crate::logging::scrub(&e), 300)
            )),
        ),
    }
}

fn source_label(source: &Origin) -> String {
    match source {
        Origin::Process => "(process environment)".to_owned(),
        Origin::EnvFile(_) => "(env file)".to_owned(),
        Origin::Keychain(item) => format!("(OS keychain: {item})"),
        Origin::GlobalFile(p) => format!("(global file {})", p.display()),
    }
}
