//! `lmi plugin install <DIR>`: inspect, show the permissions and ask, compile, then commit
//! the new version to the store under its lock.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::plugins::manifest::Manifest;
use crate::plugins::store::{InstallRecord, Store};
use crate::runtime::{self, ArtifactCache, component_sha256};

pub fn run(ctx: &Ctx, dir: &Path, link: bool, yes: bool) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let candidate = inspect::inspect(ctx, dir)?.into_candidate(dir)?;
    let engine = runtime::engine().map_err(CliError::failure)?;
    let m = &candidate.manifest;
    let store = Store::new(ctx.settings.paths());

    let previous = store.get(&m.name).ok();
    match &previous {
        Some(prev) if prev.manifest.version > m.version => output::warn(format_args!(
            "downgrading {} from {} to {}",
            m.name, prev.manifest.version, m.version
        )),
        Some(prev) => output::note(format_args!(
            "Upgrading {} {} → {}",
            m.name, prev.manifest.version, m.version
        )),
        None => output::note(format_args!("Installing {} {}", m.name, m.version)),
    }
    confirm_permissions(m, yes)?;

    let cache = ArtifactCache::new(ctx.settings.paths().compiled_dir(), &engine);
    cache
        .store(&candidate.sha256, &candidate.compiled.artifact)
        .map_err(|e| CliError::failure(anyhow::anyhow!("cannot write the compiled plugin: {e}")))?;
    let record = InstallRecord {
        sha256: candidate.sha256.clone(),
        source: candidate.dir.clone(),
        linked: link,
        installed_at: crate::auth::lifetime::now_secs(),
    };
    let _lock = store.lock()?;
    // Another install may have landed while we compiled; check again under the lock.
    store.check_clashes(m)?;
    // Success means the staged version loads as dispatch will load it: its component is the
    // one compiled, and its artifact deserializes from lmi's cache.
    store.commit(m, &candidate.bytes, &record, |staged| {
        let bytes = staged
            .read_component()
            .map_err(|e| format!("cannot read {}: {e}", staged.component_path().display()))?;
        if component_sha256(&bytes) != candidate.sha256 {
            return Err(format!(
                "{} is not the component that was checked",
                staged.component_path().display()
            ));
        }
        match cache.load(&engine, &candidate.sha256) {
            Ok(_) => Ok(()),
            Err(runtime::Miss::Absent) => Err("its compiled artifact is missing".into()),
            Err(runtime::Miss::Damaged(why) | runtime::Miss::Untrusted(why)) => Err(why),
        }
    })?;
    tracing::info!(plugin = %m.name, version = %m.version, linked = link, "installed");
    output::note(format_args!(
        "Installed {} {}{} in {:.1?}: {}",
        m.name,
        m.version,
        if link { " (linked)" } else { "" },
        started.elapsed(),
        m.commands
            .iter()
            .map(|c| format!("lmi {}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(ExitCode::SUCCESS)
}

/// Shows what the plugin asks for and gets the user's consent (or `--yes`).
fn confirm_permissions(m: &Manifest, yes: bool) -> Result<(), CliError> {
    output::note(format_args!("{} {} asks to:", m.name, m.version));
    output::note(
        "  - run in the lmi sandbox (no files, environment variables or network of its own)",
    );
    for line in m.grants() {
        output::note(format_args!("  - {line}"));
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "refusing to install without confirmation: no terminal to ask on; pass --yes to grant these permissions",
        ));
    }
    eprint!("Install and grant these permissions? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(CliError::usage("installation cancelled"))
    }
}
