//! `lmi plugin config <NAME>`: the settings an installed plugin declares, whether each is
//! set and where from. A secret value is never printed; others are, cut to one line.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::config;
use crate::plugins::manifest::is_name;
use crate::plugins::store::{PluginStoreError, Store};
use crate::text;

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    if !is_name(name) {
        return Err(PluginStoreError::BadName(text::line(name, 80)).into());
    }
    let p = Store::new(ctx.settings.paths()).get(name)?;
    let resolved = config::resolve(&ctx.settings, &p.manifest)?;
    let shown = |r: &config::Resolved| match &r.found {
        Some(_) if r.key.secret => Some("(secret, not shown)".to_owned()),
        Some((value, _)) => Some(text::line(value, 200)),
        None => None,
    };
    if ctx.output == OutputFormat::Json {
        let keys: Vec<_> = resolved
            .iter()
            .map(|r| {
                json!({
                    "name": r.key.name,
                    "about": r.key.about,
                    "required": r.key.required,
                    "secret": r.key.secret,
                    "variable": r.variable,
                    "set": r.found.is_some(),
                    "value": if r.key.secret { None } else { shown(r) },
                    "from": r.found.as_ref().map(|(_, source)| source.to_string()),
                })
            })
            .collect();
        output::json(
            &json!({ "plugin": p.manifest.name, "env": ctx.settings.active_env(), "config": keys }),
        );
        return Ok(ExitCode::SUCCESS);
    }
    if resolved.is_empty() {
        output::line(format_args!("{} declares no settings", p.label()));
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format_args!(
        "{} settings ({}):",
        p.label(),
        ctx.settings
            .active_env()
            .map_or("no environment active".to_owned(), |e| format!(
                "environment {e}"
            ))
    ));
    for r in &resolved {
        let flags = match (r.key.required, r.key.secret) {
            (true, true) => " [required, secret]",
            (true, false) => " [required]",
            (false, true) => " [secret]",
            (false, false) => "",
        };
        output::line(format_args!(
            "  {}{flags}: {}",
            r.key.name,
            text::line(&r.key.about, 200)
        ));
        match (&r.found, shown(r)) {
            (Some((_, source)), Some(value)) => {
                output::line(format_args!(
                    "    {} = {value}  (from {source})",
                    r.variable
                ));
            }
            _ => output::line(format_args!("    {} is not set", r.variable)),
        }
    }
    Ok(ExitCode::SUCCESS)
}
