//! `lmi plugin validate <DIR>`: every finding of [`inspect`](super::inspect), without
//! installing.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::text;

/// `lmi plugin validate <DIR>`: every check `install` makes (manifest, lmi requirement,
/// signature, component and world, command clashes, permissions), without installing. Each finding is
/// one line: `ok:` on stdout, `error:` on stderr. Exit 2 if there is any problem.
pub fn run(ctx: &Ctx, dir: &Path) -> Result<ExitCode, CliError> {
    let inspection = inspect::inspect(ctx, dir, false)?;
    let checks = &inspection.findings;
    let problems = inspection.problems();
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "dir": dir,
            "ok": problems.is_empty(),
            "checks": checks.iter().map(|c| match &c.outcome {
                Ok(m) => json!({ "check": c.check, "ok": true, "message": m }),
                Err(m) => json!({ "check": c.check, "ok": false, "message": m }),
            }).collect::<Vec<_>>(),
        }));
    } else {
        // Messages quote the plugin's files (a TOML error shows the offending line).
        for c in checks {
            match &c.outcome {
                Ok(m) => output::line(format_args!("ok: {}", text::line(m, 2000))),
                Err(m) => output::note(format_args!("error: {}", text::line(m, 2000))),
            }
        }
    }
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.output == OutputFormat::Text {
        output::note(format_args!(
            "{} cannot be installed: {} problem{} (nothing was installed)",
            dir.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(crate::exit::Exit::Usage.into())
}
