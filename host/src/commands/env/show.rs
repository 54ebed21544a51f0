//! `lmi env show NAME`: every key of an environment, its value and where it comes from (the
//! process environment, the env file, the global file), as a run of that environment reads
//! them. A secret's value is never shown: only whether it is set, and where.

use std::process::ExitCode;

use serde_json::json;

use crate::auth::service::GrantType;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::settings::{EnvConfig, Source, keys, validate_env_name};

/// One row: a key, what is shown of its value, where it comes from.
struct Row {
    key: String,
    /// `None` for a secret (never shown).
    value: Option<String>,
    secret: bool,
    source: Option<Source>,
}

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    validate_env_name(name)?;
    let settings = &ctx.settings;
    let config = settings.env_config(name)?;
    let rows = rows(ctx, &config);
    if !config.file_exists() && !rows.iter().any(|r| r.source == Some(Source::Process)) {
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
                        "source": r.source.as_ref().map(source_kind),
                        "from": r.source.as_ref().map(|s| s.to_string()),
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
                    let value = match (&r.value, &r.source) {
                        (_, None) => "not set".to_owned(),
                        (None, Some(_)) => "set (secret, not shown)".to_owned(),
                        (Some(v), Some(_)) => v.clone(),
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
/// file's unknown helpers left out), sorted; and the grant's secrets even when unset.
fn rows(ctx: &Ctx, config: &EnvConfig) -> Vec<Row> {
    let mut rows: Vec<Row> = config
        .keys()
        .into_iter()
        .filter(|k| !keys::is_global_only(k))
        .filter_map(|key| {
            let (value, source) = config.lookup(key)?;
            let from_env_file = matches!(source, Source::EnvFile(_));
            if !keys::is_known(key) && !from_env_file {
                return None;
            }
            let secret = super::super::config::is_secret(ctx, key);
            Some(Row {
                key: key.to_owned(),
                value: (!secret).then(|| crate::text::line(value, 200)),
                secret,
                source: Some(source),
            })
        })
        .collect();
    let password_grant =
        config.get(keys::GRANT_TYPE).map(str::trim) == Some(GrantType::Password.as_str());
    let mut needed = vec![keys::CLIENT_SECRET];
    if password_grant {
        needed.push(keys::PASSWORD);
    }
    for key in needed {
        if !rows.iter().any(|r| r.key == key) {
            rows.push(Row {
                key: key.to_owned(),
                value: None,
                secret: true,
                source: None,
            });
        }
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

fn source_kind(source: &Source) -> &'static str {
    match source {
        Source::Process => "process",
        Source::EnvFile(_) => "env-file",
        Source::GlobalFile(_) => "global-file",
    }
}

fn source_label(source: &Source) -> String {
    match source {
        Source::Process => "(process environment)".to_owned(),
        Source::EnvFile(_) => "(env file)".to_owned(),
        Source::GlobalFile(p) => format!("(global file {})", p.display()),
    }
}
