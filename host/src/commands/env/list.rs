//! `lmi env list`: the environments found in `~/.config/lmi/env/`, the default marked, each
//! with its policy.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::settings::{ConfigError, Policy};

pub fn run(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let settings = &ctx.settings;
    let found = settings.environments();
    let default = settings.default_env();
    let active = settings.active_env();
    for path in &found.ignored {
        output::warn(format_args!(
            "ignoring {}: environment names use letters, digits, `-` and `_`",
            path.display()
        ));
    }
    if let Some(d) = default
        && !found.names.iter().any(|n| n == d)
    {
        output::warn(format_args!(
            "default_environment `{d}` (in {}) has no file {}",
            settings.paths().global_env_file().display(),
            settings.paths().env_file(d).display()
        ));
    }
    // Each environment's policy; one that cannot be read is shown as such (the command
    // that would use it refuses, exit 2).
    let policies: Vec<Result<Policy, ConfigError>> = found
        .names
        .iter()
        .map(|n| {
            settings
                .env_config(n)
                .and_then(|c| settings.policy(Some(&c)))
        })
        .collect();
    match ctx.output {
        OutputFormat::Json => {
            let envs: Vec<_> = found
                .names
                .iter()
                .zip(&policies)
                .map(|(n, policy)| {
                    json!({
                        "name": n,
                        "default": Some(n.as_str()) == default,
                        "active": Some(n.as_str()) == active,
                        "file": settings.paths().env_file(n),
                        "policy": match policy {
                            Ok(p) => p.to_json(),
                            Err(e) => json!({ "error": e.to_string() }),
                        },
                    })
                })
                .collect();
            output::json(&json!({
                "default": default,
                "active": active,
                "directory": settings.paths().env_dir(),
                "environments": envs,
            }));
        }
        OutputFormat::Text => {
            if found.names.is_empty() {
                output::note(format_args!(
                    "no environments: add one with `lmi env add NAME --service-url URL --token-url URL --grant client_credentials --client-id ID` (it writes {})",
                    settings.paths().env_file("NAME").display()
                ));
            }
            for (n, policy) in found.names.iter().zip(&policies) {
                let mut marks = Vec::new();
                if Some(n.as_str()) == default {
                    marks.push("default");
                }
                if Some(n.as_str()) == active && active != default {
                    marks.push("active");
                }
                let policy = match policy {
                    Ok(p) if p.is_empty() => String::new(),
                    Ok(p) => format!(" — policy: {}", p.describe()),
                    Err(e) => format!(" — policy cannot be read: {e}"),
                };
                if marks.is_empty() {
                    output::line(format_args!("{n}{policy}"));
                } else {
                    output::line(format_args!("{n} ({}){policy}", marks.join(", ")));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
