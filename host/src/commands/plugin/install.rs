//! `lmi plugin install <DIR>`: inspect, ask for the grants, compile, then commit the new
//! version to the store under its lock. A fresh install shows everything the plugin asks
//! for; an upgrade (or a re-link) shows only what it asks beyond the recorded grants, and
//! asks nothing when that is nothing.

use std::path::Path;
use std::process::ExitCode;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::paths::Paths;
use crate::plugins::manifest::Manifest;
use crate::plugins::signature::{SignatureRecord, Verdict};
use crate::plugins::store::{Grant, GrantChanges, Grants, InstallRecord, PluginFiles, Store};
use crate::prompt::{self, PromptError};
use crate::runtime::{self, ArtifactCache, component_sha256};

pub fn run(
    ctx: &Ctx,
    dir: &Path,
    link: bool,
    yes: bool,
    allow_unsigned: bool,
) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let candidate = inspect::inspect(ctx, dir, allow_unsigned)?.into_candidate(dir)?;
    let engine = runtime::engine().map_err(CliError::failure)?;
    let m = &candidate.manifest;
    let store = Store::new(ctx.settings.paths());

    let previous = store.get(&m.name).ok();
    match &previous {
        Some(prev) if prev.manifest.version > m.version => output::warn(format_args!(
            "downgrading {} from {} to {}",
            m.name, prev.manifest.version, m.version
        )),
        Some(prev) if prev.manifest.version == m.version => {
            output::note(format_args!("Reinstalling {} {}", m.name, m.version))
        }
        Some(prev) => output::note(format_args!(
            "Upgrading {} {} → {}",
            m.name, prev.manifest.version, m.version
        )),
        None => output::note(format_args!("Installing {} {}", m.name, m.version)),
    }
    if let Verdict::UntrustedKey(_) = candidate.verdict {
        output::warn(format_args!(
            "{} {} is {}: it is installed as an unverified plugin",
            m.name,
            m.version,
            candidate.verdict.describe()
        ));
    }
    let agreed = match &previous {
        None => confirm_install(m, ctx.settings.paths(), yes)?,
        Some(prev) => confirm_upgrade(m, &prev.grants.changes_for(m), yes)?,
    };

    let cache = ArtifactCache::new(ctx.settings.paths().compiled_dir(), &engine);
    cache
        .store(&candidate.sha256, &candidate.compiled.artifact)
        .map_err(|e| CliError::failure(anyhow::anyhow!("cannot write the compiled plugin: {e}")))?;
    let record = InstallRecord {
        sha256: candidate.sha256.clone(),
        source: candidate.dir.clone(),
        linked: link,
        installed_at: crate::auth::lifetime::now_secs(),
        signature: SignatureRecord::of(&candidate.verdict),
    };
    let _lock = store.lock()?;
    // Another install may have landed while we asked and compiled; check again under the
    // lock.
    store.check_clashes(m)?;
    if !yes {
        store.check_agreed(m, &agreed)?;
    }
    // Success means the staged version loads as dispatch will load it: its component is the
    // one compiled, and its artifact deserializes from lmi's cache.
    let files = PluginFiles {
        manifest: candidate.manifest_text.as_bytes(),
        component: &candidate.bytes,
        signature: candidate.signature.as_deref(),
    };
    store.commit(m, &files, &record, |staged| {
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

/// Shows everything the plugin asks for and gets the user's consent (or `--yes`); returns
/// what was agreed to.
fn confirm_install(m: &Manifest, paths: &Paths, yes: bool) -> Result<Vec<Grant>, CliError> {
    output::note(format_args!("{} {} asks to:", m.name, m.version));
    let p = &m.permissions;
    output::note(if p.files.is_none() && !p.data {
        "  - run in the lmi sandbox (no files, environment variables or network of its own)"
    } else {
        "  - run in the lmi sandbox (no environment variables or network of its own, and no files but those below)"
    });
    let lines = m.grants(paths);
    for line in &lines {
        output::note(format_args!("  - {line}"));
    }
    // Nothing beyond the sandbox to grant: nothing to ask.
    if lines.is_empty() {
        return Ok(Grants::default().changes_for(m).added);
    }
    ask(
        yes,
        "Install and grant these permissions?",
        "refusing to install without confirmation: no terminal to ask on; pass --yes to grant these permissions".to_owned(),
    )?;
    Ok(Grants::default().changes_for(m).added)
}

/// Shows only what the new version asks beyond the recorded grants and asks for that; a
/// version that asks for the same or less is installed without asking. Returns what was
/// agreed to.
fn confirm_upgrade(
    m: &Manifest,
    changes: &GrantChanges,
    yes: bool,
) -> Result<Vec<Grant>, CliError> {
    let dropped = (!changes.dropped.is_empty())
        .then(|| format!("it no longer asks to {}", Grant::list(&changes.dropped)));
    if changes.added.is_empty() {
        output::note(format_args!(
            "{} {} asks for nothing new: {}",
            m.name,
            m.version,
            dropped.map_or_else(
                || "its grants are unchanged".to_owned(),
                |d| format!("its grants are lowered ({d})")
            )
        ));
        return Ok(Vec::new());
    }
    output::note(format_args!("{} {} now also asks to:", m.name, m.version));
    for grant in &changes.added {
        output::note(format_args!("  - {grant}"));
    }
    if let Some(dropped) = &dropped {
        output::note(format_args!("({dropped})"));
    }
    ask(
        yes,
        "Install and grant this?",
        format!(
            "refusing to install {} {} without confirmation: it now also asks to {}; there is no terminal to ask on: pass --yes to grant that (the installed version is left as it is)",
            m.name,
            m.version,
            Grant::list(&changes.added)
        ),
    )?;
    Ok(changes.added.clone())
}

/// Asks `question` on the terminal ([`prompt::confirm`]); `--yes` answers for the user, and
/// without a terminal the answer is no, with `refusal` as the error.
fn ask(yes: bool, question: &str, refusal: String) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    match prompt::confirm(question) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CliError::usage("installation cancelled")),
        Err(PromptError::NoTerminal) => Err(CliError::usage(refusal)),
        Err(e) => Err(e.into()),
    }
}
