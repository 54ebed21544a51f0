//! `lmi plugin install | list | info | remove | validate | new`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::commands::Ctx;
use crate::exit::UsageError;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::{Manifest, is_name};
use crate::plugins::store::{
    InstallRecord, MAX_COMPONENT_BYTES, Store, StoreError, read_plugin_file,
};
use crate::runtime::{self, ArtifactCache, Compiled, component_sha256};
use crate::text;

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
    /// Create a new plugin project: a Rust crate that builds to a component and installs as is.
    New {
        /// The plugin's name, which is also its command: lowercase letters, digits and `-`.
        name: String,
        /// The project directory to create (default: ./<NAME>); it must be new or empty.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// The `plugin-sdk` directory of an lmi checkout to depend on (default:
        /// LMI_SDK_PATH; one of the two is required).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
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
            PluginCommand::New {
                name,
                path,
                sdk_path,
            } => super::scaffold::run(ctx, &name, path.as_deref(), sdk_path.as_deref()),
        }
    }
}

/// The most characters of one piece of manifest text lmi prints on a line.
const MAX_TEXT: usize = 200;

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
fn inspect(
    dir: &Path,
    engine: &wasmtime::Engine,
    bounds: runtime::compile::Bounds,
) -> anyhow::Result<Candidate> {
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        UsageError(format!(
            "cannot open plugin directory {}: {e}",
            dir.display()
        ))
    })?;
    let manifest = Manifest::load(&dir)?;
    manifest.host_compatible().map_err(UsageError)?;
    let component_path = dir.join(&manifest.component);
    let bytes = read_plugin_file(&dir, &manifest.component, MAX_COMPONENT_BYTES).map_err(|e| {
        UsageError(format!(
            "cannot read the component {} named in the manifest: {e} (build the plugin first)",
            component_path.display()
        ))
    })?;
    let compiled = runtime::compile_and_check(engine, &bytes, bounds)
        .map_err(|e| UsageError(format!("{}: {e}", component_path.display())))?;
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
    let bounds = runtime::compile::Bounds::from_settings(&ctx.settings)?;
    let candidate = inspect(dir, &engine, bounds)?;
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
fn confirm_permissions(m: &Manifest, yes: bool) -> anyhow::Result<()> {
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

fn info(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    if !is_name(name) {
        return Err(StoreError::BadName(text::line(name, 80)).into());
    }
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
            "granted": p.grants,
            "linked": p.record.linked,
            "source": p.record.source,
            "component": p.component_path(),
            "sha256": p.record.sha256,
            "installed_at": p.record.installed_at,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    // Manifest text is checked at install, but a plugin linked or installed before that rule
    // is printed through the same filter as any other untrusted text.
    output::line(format_args!("{} {}", m.name, m.version));
    if let Some(d) = &m.description {
        output::line(format_args!("  {}", text::line(d, MAX_TEXT)));
    }
    output::line(format_args!("requires lmi: {}", m.lmi));
    output::line("commands:");
    for c in &m.commands {
        output::line(format_args!(
            "  {:<14} {}{}",
            c.name,
            text::line(&c.about, MAX_TEXT),
            if c.requires_sso {
                " [requires SSO]"
            } else {
                ""
            }
        ));
    }
    // What a run gets is what was granted at install, whatever the manifest says now.
    let perms = p.grants.permissions.describe();
    output::line(format_args!(
        "permissions granted: {}",
        if perms.is_empty() {
            "none".to_owned()
        } else {
            perms.join("; ")
        }
    ));
    let asks_more = m
        .commands
        .iter()
        .any(|c| !p.grants.exceeded_by(m, &c.name).is_empty());
    if asks_more {
        output::line(format_args!(
            "its manifest now asks for more; it will not run until you grant that: `{}`",
            text::line(&p.reinstall_hint(), MAX_TEXT)
        ));
    }
    output::line(format_args!(
        "source: {}{}",
        text::line(&p.record.source.display().to_string(), MAX_TEXT),
        if p.record.linked { " (linked)" } else { "" }
    ));
    output::line(format_args!("sha256: {}", p.record.sha256));
    Ok(ExitCode::SUCCESS)
}

fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<ExitCode> {
    if !is_name(name) {
        return Err(StoreError::BadName(text::line(name, 80)).into());
    }
    let store = Store::new(ctx.settings.paths());
    let plugin = store.get(name).ok();
    let _lock = store.lock()?;
    store.remove(name)?;
    if let Some(p) = plugin {
        remove_artifacts(
            &ctx.settings.paths().compiled_dir(),
            &p.record.sha256,
            &store,
        );
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

/// One install check's outcome: what was found, or what is wrong and how to fix it.
struct Check {
    name: &'static str,
    outcome: Result<String, String>,
}

/// `lmi plugin validate <DIR>`: every check `install` makes (manifest, lmi requirement,
/// component and world, command clashes, permissions), without installing. Unlike install it
/// does not stop at the first problem: each check that can still run does, and each problem
/// is one line on stderr. Exit 2 if there is any.
fn validate(ctx: &Ctx, dir: &Path) -> anyhow::Result<ExitCode> {
    let checks = validate_checks(ctx, dir)?;
    let problems: Vec<&str> = checks
        .iter()
        .filter_map(|c| c.outcome.as_ref().err().map(String::as_str))
        .collect();
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "dir": dir,
            "ok": problems.is_empty(),
            "checks": checks.iter().map(|c| match &c.outcome {
                Ok(m) => json!({ "check": c.name, "ok": true, "message": m }),
                Err(m) => json!({ "check": c.name, "ok": false, "message": m }),
            }).collect::<Vec<_>>(),
        }));
    } else {
        // Messages quote the plugin's files (a TOML error shows the offending line).
        for c in &checks {
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

fn validate_checks(ctx: &Ctx, dir: &Path) -> anyhow::Result<Vec<Check>> {
    use crate::plugins::manifest::{MANIFEST_FILE, host_version};

    let mut checks = Vec::new();
    let mut check = |name, outcome| checks.push(Check { name, outcome });
    let dir = match std::fs::canonicalize(dir) {
        Ok(d) if d.is_dir() => d,
        Ok(d) => {
            check(
                "directory",
                Err(format!("{} is not a directory", d.display())),
            );
            return Ok(checks);
        }
        Err(e) => {
            check(
                "directory",
                Err(format!(
                    "cannot open plugin directory {}: {e}",
                    dir.display()
                )),
            );
            return Ok(checks);
        }
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = match crate::plugins::manifest::read_text(&dir) {
        Ok(t) => t,
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no {MANIFEST_FILE} in {}: every plugin needs one (`lmi plugin new` creates a project with it)",
                    dir.display()
                )
            } else {
                format!("cannot read {}: {e}", manifest_path.display())
            };
            check("manifest", Err(why));
            return Ok(checks);
        }
    };

    // The manifest, strictly, as install reads it.
    let manifest = match Manifest::parse(&text, &manifest_path) {
        Ok(m) => {
            check(
                "manifest",
                Ok(format!(
                    "manifest {} {} declares {}",
                    m.name,
                    m.version,
                    m.commands
                        .iter()
                        .map(|c| format!("`lmi {}`", c.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            Some(m)
        }
        Err(e) => {
            check("manifest", Err(one_line_manifest_error(&e)));
            None
        }
    };

    // The requirement on lmi and the component. When the manifest failed, these still run
    // on whatever of it can be read, so one run shows every problem; values that do not
    // parse at all are left to the manifest problem already reported.
    let loose: Option<toml::Table> = text.parse().ok();
    let field = |key: &str| loose.as_ref()?.get(key)?.as_str().map(str::to_owned);
    let requirement = match &manifest {
        Some(m) => Some(m.lmi.clone()),
        None => field("lmi").and_then(|r| semver::VersionReq::parse(&r).ok()),
    };
    if let Some(req) = requirement {
        let host = host_version();
        check(
            "lmi",
            if req.matches(&host) {
                Ok(format!("works with this lmi {host} (requires lmi {req})"))
            } else {
                Err(format!(
                    "requires lmi {req}, but this is lmi {host}: change `lmi` in {MANIFEST_FILE} if the plugin works with this version, or upgrade lmi"
                ))
            },
        );
    }
    let component = match &manifest {
        Some(m) => Some(m.component.clone()),
        None => field("component").map(PathBuf::from).filter(|p| {
            p.is_relative()
                && !p
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
        }),
    };
    if let Some(component) = component {
        let bounds = runtime::compile::Bounds::from_settings(&ctx.settings)?;
        check("component", check_component(&dir, &component, bounds));
    }

    let Some(m) = manifest else {
        return Ok(checks);
    };
    // Install's clash check, one command at a time so each clash gets its own line.
    let store = Store::new(ctx.settings.paths());
    let mut clashes = 0;
    for c in &m.commands {
        let one = Manifest {
            commands: vec![c.clone()],
            ..m.clone()
        };
        if let Err(e) = store.check_clashes(&one) {
            check("commands", Err(e.to_string()));
            clashes += 1;
        }
    }
    if clashes == 0 {
        check(
            "commands",
            Ok(match store.get(&m.name) {
                Ok(prev) => format!(
                    "no clash with installed plugins' commands (installing would replace {} {})",
                    prev.manifest.name, prev.manifest.version
                ),
                Err(_) => "no clash with installed plugins' commands".to_owned(),
            }),
        );
    }
    let asks = m.grants();
    check(
        "permissions",
        Ok(format!(
            "permissions shown at install: {}",
            if asks.is_empty() {
                "none beyond the sandbox".to_owned()
            } else {
                asks.join("; ")
            }
        )),
    );
    Ok(checks)
}

/// Reads a component and checks it is a component of the world this host offers, as
/// install does.
fn check_component(
    dir: &Path,
    component: &Path,
    bounds: runtime::compile::Bounds,
) -> Result<String, String> {
    let path = &dir.join(component);
    let bytes = read_plugin_file(dir, component, MAX_COMPONENT_BYTES).map_err(|e| {
        format!(
            "cannot read the component {} named in the manifest: {e} (build the plugin first: cargo build --release --target wasm32-wasip2)",
            path.display()
        )
    })?;
    let engine = runtime::engine().map_err(|e| format!("cannot start the wasm engine: {e:#}"))?;
    runtime::compile_and_check(&engine, &bytes, bounds)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "component {} implements the lmi:plugin@0.1 world ({} KiB)",
        path.display(),
        bytes.len().div_ceil(1024)
    ))
}

/// A manifest error on one line: the TOML parser's multi-line report (location, source
/// excerpt, message) becomes `<path> line L, column C: <message>`.
fn one_line_manifest_error(e: &crate::plugins::manifest::ManifestError) -> String {
    use crate::plugins::manifest::ManifestError;
    let ManifestError::Parse { path, message } = e else {
        return e.to_string();
    };
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let Some(location) = first.strip_prefix("TOML parse error at ") else {
        return format!(
            "{}: {}",
            path.display(),
            message.lines().collect::<Vec<_>>().join(" ")
        );
    };
    // Skip the excerpt: lines like `  |`, `5 | colour = 1`, `  | ^^^^^^`.
    let is_excerpt = |l: &str| {
        let t = l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        t.starts_with('|')
    };
    let text: Vec<&str> = lines
        .filter(|l| !is_excerpt(l) && !l.trim().is_empty())
        .collect();
    format!("{} {location}: {}", path.display(), text.join(" "))
}
