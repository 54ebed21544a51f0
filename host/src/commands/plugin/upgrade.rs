//! `lmi plugin outdated` and `lmi plugin upgrade [<NAME>|--all] [--dry-run]`: for each plugin
//! installed from a registry, the newest semver tag of its repository that this lmi can run
//! (read from the manifests' annotations, no layer pulled), or its tag moved to another
//! digest. An upgrade is an install of that tag, so the grant prompt shows only what grows.
//! A pinned plugin (`install --pin`) is reported, never moved. A registry that cannot be
//! reached is named and skipped: nothing installed is touched.

use std::process::ExitCode;

use serde_json::json;

use super::install::{self, Options};
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::store::{InstalledPlugin, RegistrySource, Store};
use crate::registry::artifact::{self, Summary};
use crate::registry::{Access, Reference, RegistryError, Session};
use crate::runtime::bindings::Contract;

/// Newer tags whose manifests are read before giving up on finding one this lmi runs.
const MAX_CANDIDATES: usize = 8;

/// What a registry offers an installed plugin.
enum Offer {
    UpToDate,
    /// A newer version under `tag`.
    Newer {
        tag: String,
        version: semver::Version,
    },
    /// The installed tag now names another digest.
    Moved {
        tag: String,
        digest: String,
    },
}

pub fn outdated(ctx: &Ctx) -> Result<ExitCode, CliError> {
    let http = crate::auth::http::Http::for_process(&ctx.settings)?;
    let mut rows = Vec::new();
    let mut unreachable = 0;
    for (p, source) in registry_plugins(ctx) {
        let row = match offer(&http, &p, &source) {
            Ok(offer) => Row::of(&p, &source, &offer),
            Err(e) => {
                unreachable += 1;
                output::warn(format_args!("{}: {e}", p.manifest.name));
                continue;
            }
        };
        rows.push(row);
    }
    let rows: Vec<Row> = rows.into_iter().flatten().collect();
    if ctx.output == OutputFormat::Json {
        output::json(&json!(rows.iter().map(Row::json).collect::<Vec<_>>()));
    } else if rows.is_empty() {
        output::note("Every plugin installed from a registry is up to date.");
    } else {
        for r in &rows {
            output::line(format_args!(
                "{:<16} {:<10} → {:<10} {}{}",
                r.name,
                r.installed,
                r.available,
                r.reference,
                if r.pinned {
                    " (pinned: upgrade leaves it)"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(exit_for(unreachable))
}

pub fn upgrade(
    ctx: &Ctx,
    name: Option<&str>,
    all: bool,
    dry_run: bool,
    yes: bool,
) -> Result<ExitCode, CliError> {
    let plugins = match (name, all) {
        (Some(_), true) => return Err(CliError::usage("name one plugin or pass --all, not both")),
        (None, false) => {
            return Err(CliError::usage(
                "name the plugin to upgrade, or pass --all (`lmi plugin outdated` lists what can be)",
            ));
        }
        (Some(name), false) => {
            let p = Store::new(ctx.settings.paths()).get(name)?;
            let Some(source) = p.record.registry.clone() else {
                return Err(CliError::usage(format!(
                    "{name} was not installed from a registry: install its new version with `{}`",
                    p.reinstall_hint()
                )));
            };
            vec![(p, source)]
        }
        (None, true) => registry_plugins(ctx),
    };
    let http = crate::auth::http::Http::for_process(&ctx.settings)?;
    let mut unreachable = 0;
    let mut failures = Vec::new();
    for (p, source) in plugins {
        let label = p.label();
        let offer = match offer(&http, &p, &source) {
            Ok(o) => o,
            Err(e) => {
                unreachable += 1;
                output::warn(format_args!("{}: {e}", p.manifest.name));
                continue;
            }
        };
        let tag = match &offer {
            Offer::UpToDate => {
                output::note(format_args!("{label} is up to date"));
                continue;
            }
            Offer::Newer { tag, .. } | Offer::Moved { tag, .. } => tag.clone(),
        };
        let what = match &offer {
            Offer::Newer { version, .. } => format!("{label} → {version}"),
            Offer::Moved { digest, .. } => {
                format!(
                    "{label}: tag {tag} moved from {} to {digest}",
                    source.digest
                )
            }
            Offer::UpToDate => unreachable!(),
        };
        if source.pinned {
            output::note(format_args!(
                "{what} is available; {} is pinned to {}: `lmi plugin install {}:{tag}` moves it",
                p.manifest.name, source.digest, source.repository
            ));
            continue;
        }
        let target =
            Reference::parse(&format!("{}:{tag}", source.repository)).map_err(CliError::usage)?;
        if dry_run {
            output::line(format_args!("would upgrade {what} ({target})"));
            continue;
        }
        output::note(format_args!("Upgrading {what}"));
        let opts = Options {
            yes: yes || ctx.yes,
            ..Options::default()
        };
        // One plugin refusing (its grants not agreed, a bad signature) does not stop the rest.
        if let Err(e) = install::from_registry(ctx, &target, opts) {
            output::warn(format_args!("{}: {e}", p.manifest.name));
            failures.push(e);
        }
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(first.with_context("not every plugin was upgraded".into()));
    }
    Ok(exit_for(unreachable))
}

fn exit_for(unreachable: usize) -> ExitCode {
    if unreachable > 0 {
        crate::exit::Exit::Failure.into()
    } else {
        ExitCode::SUCCESS
    }
}

/// Installed plugins that came from a registry, by name.
fn registry_plugins(ctx: &Ctx) -> Vec<(InstalledPlugin, RegistrySource)> {
    let (plugins, problems) = Store::new(ctx.settings.paths()).list();
    for problem in problems {
        output::warn(problem);
    }
    plugins
        .into_iter()
        .filter_map(|p| p.record.registry.clone().map(|s| (p, s)))
        .collect()
}

/// What the plugin's repository offers beyond what is installed.
fn offer(
    http: &crate::auth::http::Http,
    p: &InstalledPlugin,
    source: &RegistrySource,
) -> Result<Offer, RegistryError> {
    let reference = Reference::parse(&format!("{}@{}", source.repository, source.digest))
        .map_err(RegistryError::Invalid)?;
    let session = Session::open(http, &reference, Access::Pull)?;
    let installed = &p.manifest.version;
    let mut newer: Vec<(semver::Version, String)> = session
        .tags()?
        .into_iter()
        .filter_map(|tag| {
            let v = semver::Version::parse(tag.strip_prefix('v').unwrap_or(&tag)).ok()?;
            (v > *installed).then_some((v, tag))
        })
        .collect();
    newer.sort_by(|a, b| b.0.cmp(&a.0));
    for (version, tag) in newer.into_iter().take(MAX_CANDIDATES) {
        let (_, summary) = artifact::summary(&session, &tag)?;
        if runs_here(&summary) {
            return Ok(Offer::Newer { tag, version });
        }
        tracing::info!(plugin = %p.manifest.name, %tag, "skipped: this lmi cannot run it");
    }
    if let Some(tag) = &source.tag {
        let (digest, summary) = artifact::summary(&session, tag)?;
        if digest != source.digest && runs_here(&summary) {
            return Ok(Offer::Moved {
                tag: tag.clone(),
                digest,
            });
        }
    }
    Ok(Offer::UpToDate)
}

/// Whether this lmi can run what a manifest's annotations describe (an artifact without them
/// is left to the install checks).
fn runs_here(summary: &Summary) -> bool {
    let ours = semver::Version::parse(env!("CARGO_PKG_VERSION")).ok();
    let lmi_ok = match (&summary.lmi, &ours) {
        (Some(req), Some(ours)) => semver::VersionReq::parse(req).is_ok_and(|r| r.matches(ours)),
        _ => true,
    };
    let contract_ok = summary
        .contract
        .as_deref()
        .is_none_or(|c| Contract::ALL.iter().any(|k| k.name() == c));
    lmi_ok && contract_ok
}

/// One line of `outdated`.
struct Row {
    name: String,
    installed: String,
    available: String,
    reference: String,
    pinned: bool,
}

impl Row {
    fn of(p: &InstalledPlugin, source: &RegistrySource, offer: &Offer) -> Option<Row> {
        let (available, tag) = match offer {
            Offer::UpToDate => return None,
            Offer::Newer { tag, version } => (version.to_string(), tag),
            Offer::Moved { tag, digest } => (format!("{tag} (moved to {digest})"), tag),
        };
        Some(Row {
            name: p.manifest.name.clone(),
            installed: p.manifest.version.to_string(),
            available,
            reference: format!("{}:{tag}", source.repository),
            pinned: source.pinned,
        })
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "installed": self.installed,
            "available": self.available,
            "reference": self.reference,
            "pinned": self.pinned,
        })
    }
}
