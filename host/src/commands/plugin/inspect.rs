//! The install checks, shared by `install` and `validate`: directory, manifest (every rule it
//! breaks, lmi's own command names included), lmi requirement, signature, component and
//! world, command clashes with installed plugins, and the permissions asked for. Each check
//! that can still run does, so one inspection reports every problem; but a component whose
//! signature is refused is never compiled (nor parsed beyond its bytes).

use std::path::{Path, PathBuf};

use crate::commands::{CliError, Ctx, is_builtin};
use crate::plugins::manifest::{MANIFEST_FILE, Manifest, ManifestError, host_version, read_text};
use crate::plugins::signature::{self, Policy, Statement, Verdict};
use crate::plugins::store::{MAX_COMPONENT_BYTES, Store, read_plugin_file};
use crate::progress;
use crate::runtime::{self, Compiled, component_sha256};

/// One install check's outcome: what was found, or what is wrong and how to fix it.
pub struct Finding {
    pub check: &'static str,
    pub outcome: Result<String, String>,
}

/// A plugin directory that passed every install check.
pub struct Candidate {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// `lmi-plugin.toml` exactly as read: what the signature's statement covers, kept in the
    /// installed copy so `lmi plugin verify` can compute it again.
    pub manifest_text: String,
    /// The signature file's bytes, if the plugin is signed.
    pub signature: Option<Vec<u8>>,
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub compiled: Compiled,
}

pub struct Inspection {
    pub findings: Vec<Finding>,
    /// Set when no finding is a problem.
    pub candidate: Option<Candidate>,
}

impl Inspection {
    pub fn problems(&self) -> Vec<&str> {
        self.findings
            .iter()
            .filter_map(|f| f.outcome.as_ref().err().map(String::as_str))
            .collect()
    }

    /// The candidate, or a usage error (exit 2) naming every problem.
    pub fn into_candidate(self, dir: &Path) -> Result<Candidate, CliError> {
        let problems: Vec<String> = self.problems().into_iter().map(str::to_owned).collect();
        match (self.candidate, problems.as_slice()) {
            (Some(candidate), []) => Ok(candidate),
            (_, [one]) => Err(CliError::usage(one.clone())),
            (_, many) => Err(CliError::usage(format!(
                "{} cannot be installed: {} problems:\n  - {}",
                dir.display(),
                many.len(),
                many.join("\n  - ")
            ))),
        }
    }
}

/// Parses manifest text as install does, refusing lmi's own command names.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    Manifest::parse_reserving(text, path, &is_builtin)
}

/// Runs every install check on `dir`. Errors only when the checks themselves cannot run
/// (bad settings, no wasm engine); what is wrong with the plugin is in the findings.
/// `allow_unsigned` (`install --allow-unsigned`) sets `LMI_PLUGIN_REQUIRE_SIGNATURE` aside.
pub fn inspect(ctx: &Ctx, dir: &Path, allow_unsigned: bool) -> Result<Inspection, CliError> {
    let policy = Policy::from_settings(&ctx.settings)?;
    let mut findings = Vec::new();
    let mut check = |check, outcome| findings.push(Finding { check, outcome });
    let done = |findings| {
        Ok(Inspection {
            findings,
            candidate: None,
        })
    };
    let dir = match std::fs::canonicalize(dir) {
        Ok(d) if d.is_dir() => d,
        Ok(d) => {
            check(
                "directory",
                Err(format!("{} is not a directory", d.display())),
            );
            return done(findings);
        }
        Err(e) => {
            check(
                "directory",
                Err(format!(
                    "cannot open plugin directory {}: {e}",
                    dir.display()
                )),
            );
            return done(findings);
        }
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = match read_text(&dir) {
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
            return done(findings);
        }
    };

    // The manifest, strictly, as install reads it.
    let manifest = match parse_manifest(&text, &manifest_path) {
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
        Err(ManifestError::Invalid { path, problems }) => {
            for problem in problems {
                check("manifest", Err(format!("{}: {problem}", path.display())));
            }
            None
        }
        Err(e) => {
            check("manifest", Err(e.to_string()));
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
    let mut checked = None;
    let mut signed = None;
    if let Some(component) = component {
        let bytes = read_component(&dir, &component);
        // The signature, before anything parses the component: what the policy refuses is
        // never compiled.
        let admitted = match &bytes {
            Ok(bytes) => match check_signature(&dir, bytes, &text, &policy, allow_unsigned) {
                Ok((verdict, file)) => {
                    check("signature", Ok(verdict.describe()));
                    signed = Some((verdict, file));
                    true
                }
                Err(why) => {
                    check("signature", Err(why));
                    false
                }
            },
            Err(_) => false,
        };
        match bytes {
            Err(why) => check("component", Err(why)),
            Ok(bytes) if admitted => {
                let bounds = runtime::compile::Bounds::from_settings(&ctx.settings)?;
                // A compile that takes more than a moment shows a spinner on a terminal.
                let _spinner = progress::wanted(ctx.quiet, ctx.verbose).then(|| {
                    let name = manifest
                        .as_ref()
                        .map_or_else(|| component.display().to_string(), |m| m.name.clone());
                    // The component path comes from a manifest that may not have parsed.
                    let label = format!("compiling {}...", crate::text::line(&name, 60));
                    progress::Spinner::start(progress::COMPILE_DELAY, move |_| label.clone())
                });
                match check_component(&dir, &component, &bytes, bounds) {
                    Ok((what, compiled)) => {
                        check("component", Ok(what));
                        checked = Some((bytes, compiled));
                    }
                    Err(why) => check("component", Err(why)),
                }
            }
            Ok(_) => {}
        }
    }

    let Some(m) = manifest else {
        return done(findings);
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
    let asks = m.grants(ctx.settings.paths());
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
    // Contract 0.1 has no files: a 0.1 plugin asking for them would run without them, so
    // it is refused rather than installed with a grant it can never use.
    if let Some((_, compiled)) = &checked
        && let Some(problem) = beyond_contract(&m, compiled.contract)
    {
        check("permissions", Err(problem));
    }
    let ok = findings.iter().all(|f| f.outcome.is_ok());
    let candidate = match (checked, signed) {
        (Some((bytes, compiled)), Some((verdict, signature))) if ok => Some(Candidate {
            dir,
            sha256: component_sha256(&bytes),
            manifest: m,
            manifest_text: text,
            signature,
            verdict,
            bytes,
            compiled,
        }),
        _ => None,
    };
    Ok(Inspection {
        findings,
        candidate,
    })
}

/// What `m` asks for that its component's `contract` cannot use: `files` and `data` need
/// contract 0.2.
fn beyond_contract(m: &Manifest, contract: runtime::bindings::Contract) -> Option<String> {
    let p = &m.permissions;
    let asked: Vec<&str> = [
        p.files.is_some().then_some("`files`"),
        p.data.then_some("`data`"),
    ]
    .into_iter()
    .flatten()
    .collect();
    (contract == runtime::bindings::Contract::V0_1 && !asked.is_empty()).then(|| {
        format!(
            "plugin {} {} asks for {} in [permissions], but its component implements {}, which has no files or data directory: rebuild it against lmi:plugin@0.2 (the current SDK), or remove {} from its manifest",
            m.name,
            m.version,
            asked.join(" and "),
            contract.name(),
            if asked.len() == 1 { "it" } else { "them" },
        )
    })
}

/// Reads the component named in the manifest, as every plugin file is read.
fn read_component(dir: &Path, component: &Path) -> Result<Vec<u8>, String> {
    read_plugin_file(dir, component, MAX_COMPONENT_BYTES).map_err(|e| {
        format!(
            "cannot read the component {} named in the manifest: {e} (build the plugin first: cargo build --release --target wasm32-wasip2)",
            dir.join(component).display()
        )
    })
}

/// The plugin's signature over its component's bytes and its manifest's text, under the
/// trust policy: what it proves and the signature file, or why the install is refused.
fn check_signature(
    dir: &Path,
    component: &[u8],
    manifest: &str,
    policy: &Policy,
    allow_unsigned: bool,
) -> Result<(Verdict, Option<Vec<u8>>), String> {
    let file = signature::read_signature(dir).map_err(|e| {
        format!(
            "cannot read {}: {e}",
            dir.join(signature::SIGNATURE_FILE).display()
        )
    })?;
    let statement = Statement::of(component, manifest.as_bytes());
    let refused = |why: String| format!("{} is refused: {why}", dir.display());
    let verdict = signature::check(&statement, file.as_deref(), &policy.trusted)
        .map_err(|e| refused(e.to_string()))?;
    policy.admit(&verdict, allow_unsigned).map_err(refused)?;
    Ok((verdict, file))
}

/// Checks that a component's bytes are a component of the world this host offers.
fn check_component(
    dir: &Path,
    component: &Path,
    bytes: &[u8],
    bounds: runtime::compile::Bounds,
) -> Result<(String, Compiled), String> {
    let path = &dir.join(component);
    let engine = runtime::engine().map_err(|e| format!("cannot start the wasm engine: {e:#}"))?;
    let compiled = runtime::compile_and_check(&engine, bytes, bounds)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let what = format!(
        "component {} implements contract {} ({} KiB)",
        path.display(),
        compiled.contract.name(),
        bytes.len().div_ceil(1024)
    );
    Ok((what, compiled))
}
