//! `lmi plugin install <DIR | oci://…>`: inspect, ask for the grants, compile, then commit the
//! new version to the store under its lock. A fresh install shows everything the plugin asks
//! for; an upgrade (or a re-link) shows only what it asks beyond the recorded grants, and
//! asks nothing when that is nothing.
//!
//! A registry install pulls the plugin (every layer checked against its digest) into a
//! private temporary directory laid out as a plugin directory, then installs that exactly as
//! a directory is installed, recording the repository, tag and digest.

use std::path::Path;
use std::process::ExitCode;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::paths::Paths;
use crate::plugins::manifest::{MANIFEST_FILE, Manifest};
use crate::plugins::signature::{SIGNATURE_FILE, SignatureRecord, Verdict};
use crate::plugins::store::{
    Grant, GrantChanges, Grants, InstallRecord, PluginFiles, RegistrySource, Store,
};
use crate::prompt::{self, PromptError};
use crate::registry::artifact::{self, Pulled};
use crate::registry::{Access, Reference, Session, reference};
use crate::runtime::{self, ArtifactCache, component_sha256};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `--link`: use the directory in place.
    pub link: bool,
    /// `--yes`: grant without asking.
    pub yes: bool,
    /// `--pin`: keep a registry plugin on the digest installed.
    pub pin: bool,
    /// `--allow-unsigned`: install what the signature policy would refuse as unsigned or
    /// signed by an untrusted key (never a signature that does not verify).
    pub allow_unsigned: bool,
}

pub fn run(ctx: &Ctx, source: &Path, opts: Options) -> Result<ExitCode, CliError> {
    match source.to_str().filter(|s| s.starts_with(reference::SCHEME)) {
        Some(text) => {
            let reference = Reference::parse(text).map_err(CliError::usage)?;
            if opts.link {
                return Err(CliError::usage(
                    "--link takes a plugin directory: a plugin from a registry is installed as a copy",
                ));
            }
            from_registry(ctx, &reference, opts, None)
        }
        None if opts.pin => Err(CliError::usage(
            "--pin keeps a registry plugin on its digest: it applies to `oci://` installs only",
        )),
        None => install_dir(ctx, source, opts, None, None),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Pulls `reference` and installs it; with `expected`, only if it is that plugin (an upgrade
/// never lets one repository replace another plugin).
pub fn from_registry(
    ctx: &Ctx,
    reference: &Reference,
    opts: Options,
    expected: Option<&str>,
) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let http = crate::auth::http::Http::for_process(&ctx.settings)?;
    output::note(format_args!("Pulling {reference}"));
    let session = Session::open(&http, reference, Access::Pull)?;
    let pulled = artifact::pull(&session, reference.manifest_name())?;
    tracing::info!(reference = %reference, digest = %pulled.digest, elapsed = ?started.elapsed(), "pulled");
    let staged = stage(&pulled)?;
    let source = RegistrySource {
        repository: reference.repository_url(),
        tag: reference.tag.clone(),
        digest: pulled.digest,
        pinned: opts.pin,
    };
    // The checks name the directory they read; here that is a temporary one the user never
    // saw: name the reference instead.
    install_dir(ctx, staged.path(), opts, Some(source), expected)
        .map_err(|e| e.naming(staged.path(), &reference.to_string()))
}

/// A private temporary directory holding `files` as a plugin directory: the manifest, the
/// component where the manifest says, and the signature.
fn stage(files: &Pulled) -> Result<tempfile::TempDir, CliError> {
    let failed = |e: std::io::Error| {
        CliError::failure(anyhow::anyhow!("cannot stage the pulled plugin: {e}"))
    };
    let dir = tempfile::Builder::new()
        .prefix("lmi-pull-")
        .tempdir()
        .map_err(failed)?;
    std::fs::write(dir.path().join(MANIFEST_FILE), &files.manifest).map_err(failed)?;
    if let Some(sig) = &files.signature {
        std::fs::write(dir.path().join(SIGNATURE_FILE), sig).map_err(failed)?;
    }
    // Where the component goes is the manifest's to say (a relative path inside the
    // directory, checked when it is parsed); a manifest that does not parse is reported by
    // the install checks, as for a directory.
    let parsed = std::str::from_utf8(&files.manifest)
        .ok()
        .and_then(|text| inspect::parse_manifest(text, Path::new(MANIFEST_FILE)).ok());
    if let Some(m) = parsed {
        let path = dir.path().join(&m.component);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&path, &files.component).map_err(failed)?;
    }
    Ok(dir)
}

/// Installs the plugin directory `dir`; `registry` says where it was pulled from, and
/// `expected` which plugin it must be.
fn install_dir(
    ctx: &Ctx,
    dir: &Path,
    opts: Options,
    registry: Option<RegistrySource>,
    expected: Option<&str>,
) -> Result<(), CliError> {
    let Options {
        link,
        yes,
        allow_unsigned,
        ..
    } = opts;
    let started = std::time::Instant::now();
    let candidate = inspect::inspect(ctx, dir, allow_unsigned)?.into_candidate(dir)?;
    let engine = runtime::engine().map_err(CliError::failure)?;
    let m = &candidate.manifest;
    if let Some(expected) = expected.filter(|e| *e != m.name) {
        return Err(CliError::usage(format!(
            "it holds plugin `{}`, not `{expected}`: refused, as it would replace another plugin (install it by name if that is what you want)",
            m.name
        )));
    }
    let store = Store::new(ctx.settings.paths());

    let previous = store.get(&m.name).ok();
    // The same name from another repository (or a directory in place of a repository) may be
    // another author's plugin: say so before asking.
    if let Some(prev) = &previous {
        let from = |r: Option<&RegistrySource>| r.map(|r| r.repository.clone());
        if from(prev.record.registry.as_ref()) != from(registry.as_ref()) {
            output::warn(format_args!(
                "this replaces {} installed from {}",
                prev.label(),
                prev.record.registry.as_ref().map_or_else(
                    || prev.record.source.display().to_string(),
                    RegistrySource::reference
                )
            ));
        }
    }
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
    if let (Some(new), Some(old)) = (
        &registry,
        previous.as_ref().and_then(|p| p.record.registry.as_ref()),
    ) && new.repository == old.repository
        && new.tag.is_some()
        && new.tag == old.tag
        && new.digest != old.digest
    {
        output::warn(format_args!(
            "tag {} of {} moved: it was {} when installed, it is now {}",
            new.tag.as_deref().unwrap_or_default(),
            new.repository,
            old.digest,
            new.digest
        ));
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
    let shown_source = registry.as_ref().map(RegistrySource::reference);
    let record = InstallRecord {
        sha256: candidate.sha256.clone(),
        source: shown_source
            .clone()
            .map_or_else(|| candidate.dir.clone(), std::path::PathBuf::from),
        linked: link,
        installed_at: crate::auth::lifetime::now_secs(),
        registry,
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
        "Installed {} {}{}{} in {:.1?}: {}",
        m.name,
        m.version,
        if link { " (linked)" } else { "" },
        shown_source
            .map(|s| format!(" from {s}"))
            .unwrap_or_default(),
        started.elapsed(),
        m.commands
            .iter()
            .map(|c| format!("lmi {}", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
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
