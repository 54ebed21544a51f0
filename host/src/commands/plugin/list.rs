//! `lmi plugin list`: the installed plugins and their commands.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};

pub fn run(ctx: &Ctx) -> Result<ExitCode, CliError> {
    if ctx.output == OutputFormat::Json {
        let items: Vec<_> = ctx
            .plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.manifest.name,
                    "version": p.manifest.version.to_string(),
                    "commands": p.manifest.commands.iter().map(|c| &c.name).collect::<Vec<_>>(),
                    "linked": p.record.linked,
                    "source": p.record.source,
                })
            })
            .collect();
        output::json(&json!(items));
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.plugins.is_empty() {
        output::note("No plugins installed. Install one with `lmi plugin install <DIR>`.");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &ctx.plugins {
        let commands: Vec<_> = p
            .manifest
            .commands
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        output::line(format_args!(
            "{:<16} {:<10} {}{}",
            p.manifest.name,
            p.manifest.version,
            commands.join(", "),
            if p.record.linked { "  (linked)" } else { "" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
