//! `lmi env list`: the environments found in `~/.config/lmi/env/`, the default marked.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};

#[derive(Debug, clap::Subcommand)]
pub enum EnvCommand {
    /// List the environments found in ~/.config/lmi/env/ and mark the default.
    List,
}

impl EnvCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        match self {
            EnvCommand::List => list(ctx),
        }
    }
}

fn list(ctx: &Ctx) -> Result<ExitCode, CliError> {
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
    match ctx.output {
        OutputFormat::Json => {
            let envs: Vec<_> = found
                .names
                .iter()
                .map(|n| {
                    json!({
                        "name": n,
                        "default": Some(n.as_str()) == default,
                        "active": Some(n.as_str()) == active,
                        "file": settings.paths().env_file(n),
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
                    "no environments: create {} (see the README for its keys)",
                    settings.paths().env_file("<name>").display()
                ));
            }
            for n in &found.names {
                let mut marks = Vec::new();
                if Some(n.as_str()) == default {
                    marks.push("default");
                }
                if Some(n.as_str()) == active && active != default {
                    marks.push("active");
                }
                if marks.is_empty() {
                    output::line(n);
                } else {
                    output::line(format_args!("{n} ({})", marks.join(", ")));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
