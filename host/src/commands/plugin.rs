//! `lmi plugin install | list | info | remove | validate | new`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::cli::Ctx;
use crate::exit::UsageError;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::Manifest;
use crate::plugins::store::{InstallRecord, Store};
use crate::runtime::{self, ArtifactCache, Compiled, component_sha256};

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from a directory holding lmi-plugin.toml and its component.
    Install {
        /// The plugin directory.
        dir: PathBuf,
        /// Use the directory in place (for plugin development): changes to its component are
        /// picked up on the next run.
        #[arg(long)]
        link: bool,
        /// Grant the permissions the plugin asks for without asking (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List installed plugins.
    List,
    /// Show an installed plugin's manifest, permissions and where it came from.
    Info { name: String },
    /// Uninstall a plugin.
    Remove { name: String },
    /// Run every install check on a plugin directory without installing it.
    Validate { dir: PathBuf },
    /// Create a new plugin project.
    New {
        name: String,
        /// Where to create it (default: ./<NAME>).
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

impl PluginCommand {
    pub fn run(self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match self {
            PluginCommand::Install { dir, link, yes } => install(ctx, &dir, link, yes),
            PluginCommand::List => list(ctx),
            PluginCommand::Info { name } => info(ctx, &name),
            PluginCommand::Remove { name } => remove(ctx, &name),
            PluginCommand::Validate { dir } => validate(ctx, &dir),
            PluginCommand::New { name, path } => {
                let _ = (name, path);
                anyhow::bail!("`lmi plugin new` is not implemented yet")
            }
        }
    }
}

/// A plugin directory that passed every install check.
struct Candidate {
    dir: PathBuf,
    manifest: Manifest,
    bytes: Vec<u8>,
    sha256: String,
    compiled: Compiled,
}

/// Reads, checks and compiles a plugin directory: manifest, host-version requirement,
/// component kind and world.
fn inspect(dir: &Path, engine: &wasmtime::Engine) -> anyhow::Result<Candidate> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| UsageError(format!("cannot open plugin directory {}: {e}", dir.display())))?;
    let manifest = Manifest::load(&dir)?;
    manifest.host_compatible().map_err(UsageError)?;
    let component_path = dir.join(&manifest.component);
    let bytes = std::fs::read(&component_path).map_err(|e| {
        UsageError(format!(
            "cannot read the component {} named in the manifest: {e} (build the plugin first)",
            component_path.display()
        ))
    })?;
    let compiled = runtime::compile_and_check(engine, &bytes).map_err(|e| {
        UsageError(format!("{}: {e}", component_path.display()))
    })?;
    Ok(Candidate {
        dir,
        sha256: component_sha256(&bytes),
        manifest,
        bytes,
        compiled,
    })
}

fn install(ctx: &Ctx, dir: &Path, link: bool, yes: bool) -> anyhow::Result<ExitCode> {
    let engine = runtime::engine()?;
    let started = std::time::Instant::now();
    let candidate = inspect(dir, &engine)?;
    let m = &candidate.manifest;
    let store = Store::new(ctx.settings.paths());
    store.check_clashes(m)?;

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
        .map_err(|e| anyhow::anyhow!("cannot write the compiled plugin: {e}"))?;
    let record = InstallRecord {
        sha256: candidate.sha256.clone(),
        source: candidate.dir.clone(),
        linked: link,
        installed_at: now(),
    };
    let _lock = store.lock()?;
    // Another install may have landed while we compiled; check again under the lock.
    store.check_clashes(m)?;
    store.commit(m, &candidate.dir, &candidate.bytes, &record)?;
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
fn confirm_permissions(m: &Manifest, yes: bool) -> anyhow::Result<()> {
    let asks = m.permissions.describe();
    let sso: Vec<_> = m
        .commands
        .iter()
        .filter(|c| c.requires_sso)
        .map(|c| c.name.as_str())
        .collect();
    output::note(format_args!("{} {} asks to:", m.name, m.version));
    output::note("  - run in the lmi sandbox (no files, environment variables or network of its own)");
    for line in &asks {
        output::note(format_args!("  - {line}"));
    }
    if !sso.is_empty() {
        output::note(format_args!(
            "  - see your SSO identity (subject, email, name) in: {}",
            sso.join(", ")
        ));
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "refusing to install without confirmation: no terminal to ask on; pass --yes to grant these permissions".into(),
        )
        .into());
    }
    eprint!("Install and grant these permissions? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(UsageError("installation cancelled".into()).into())
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<ExitCode> {
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
        let commands: Vec<_> = p.manifest.commands.iter().map(|c| c.name.as_str()).collect();
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

fn info(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let p = Store::new(ctx.settings.paths()).get(name)?;
    let m = &p.manifest;
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": m.name,
            "version": m.version.to_string(),
            "description": m.description,
            "lmi": m.lmi.to_string(),
            "commands": m.commands,
            "permissions": m.permissions,
            "linked": p.record.linked,
            "source": p.record.source,
            "component": p.component_path(),
            "sha256": p.record.sha256,
            "installed_at": p.record.installed_at,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format_args!("{} {}", m.name, m.version));
    if let Some(d) = &m.description {
        output::line(format_args!("  {d}"));
    }
    output::line(format_args!("requires lmi: {}", m.lmi));
    output::line("commands:");
    for c in &m.commands {
        output::line(format_args!(
            "  {:<14} {}{}",
            c.name,
            c.about,
            if c.requires_sso { " [requires SSO]" } else { "" }
        ));
    }
    let perms = m.permissions.describe();
    output::line(format_args!(
        "permissions: {}",
        if perms.is_empty() { "none".to_owned() } else { perms.join("; ") }
    ));
    output::line(format_args!(
        "source: {}{}",
        p.record.source.display(),
        if p.record.linked { " (linked)" } else { "" }
    ));
    output::line(format_args!("sha256: {}", p.record.sha256));
    Ok(ExitCode::SUCCESS)
}

fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    let store = Store::new(ctx.settings.paths());
    let plugin = store.get(name).ok();
    let _lock = store.lock()?;
    store.remove(name)?;
    if let Some(p) = plugin {
        remove_artifacts(&ctx.settings.paths().compiled_dir(), &p.record.sha256, &store);
        output::note(format_args!("Removed {}", p.label()));
    } else {
        output::note(format_args!("Removed {name}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes compiled artifacts of a component no remaining plugin uses.
fn remove_artifacts(dir: &Path, sha: &str, store: &Store) {
    let (rest, _) = store.list();
    if rest.iter().any(|p| p.record.sha256 == sha) {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(sha) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn validate(ctx: &Ctx, dir: &Path) -> anyhow::Result<ExitCode> {
    let engine = runtime::engine()?;
    let candidate = inspect(dir, &engine)?;
    let m = &candidate.manifest;
    Store::new(ctx.settings.paths()).check_clashes(m)?;
    output::line(format_args!("ok: manifest {} {}", m.name, m.version));
    output::line(format_args!("ok: works with this lmi ({})", m.lmi));
    output::line("ok: component implements lmi:plugin@0.1.0");
    let perms = m.permissions.describe();
    output::line(format_args!(
        "ok: permissions: {}",
        if perms.is_empty() { "none".to_owned() } else { perms.join("; ") }
    ));
    Ok(ExitCode::SUCCESS)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
