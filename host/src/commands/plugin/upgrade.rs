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
use crate::plugins::manifest::host_version;
use crate::plugins::store::{InstalledPlugin, RegistrySource, Store};
use crate::registry::artifact::{self, Summary};
use crate::registry::reference::check_tag;
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
    let mut failed = Failed::default();
    for (p, source) in registry_plugins(ctx) {
        match offer(&http, &p, &source) {
            Ok(offer) => rows.extend(Row::of(&p, &source, &offer)),
            Err(e) => failed.note(&p.manifest.name, &e),
        }
    }
    if ctx.output == OutputFormat::Json {
        output::json(&json!(rows.iter().map(Row::json).collect::<Vec<_>>()));
    } else if rows.is_empty() && failed.exit.is_none() {
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
    Ok(failed.exit_code())
}

/// The plugins a registry could not answer for: each is named as it fails, and the command
/// ends with the first one's exit code (1 unreachable, 4 credentials, …).
#[derive(Default)]
struct Failed {
    exit: Option<crate::exit::Exit>,
}

impl Failed {
    fn note(&mut self, plugin: &str, e: &RegistryError) {
        output::warn(format_args!("{plugin}: {e}"));
        self.exit.get_or_insert(crate::exit::ExitStatus::exit(e));
    }

    fn exit_code(&self) -> ExitCode {
        self.exit.map_or(ExitCode::SUCCESS, ExitCode::from)
    }
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
    let mut failed = Failed::default();
    let mut refused = Vec::new();
    for (p, source) in plugins {
        let label = p.label();
        let offer = offer(&http, &p, &source).and_then(|offer| {
            let base = Reference::parse(&format!("{}@{}", source.repository, source.digest))
                .map_err(RegistryError::Invalid)?;
            Ok((offer, base))
        });
        let (offer, base) = match offer {
            Ok(o) => o,
            Err(e) => {
                failed.note(&p.manifest.name, &e);
                continue;
            }
        };
        let (tag, what) = match offer {
            Offer::UpToDate => {
                output::note(format_args!("{label} is up to date"));
                continue;
            }
            Offer::Newer { tag, version } => (tag, format!("{label} → {version}")),
            Offer::Moved { tag, digest } => {
                let what = format!(
                    "{label}: tag {tag} moved from {} to {digest}",
                    source.digest
                );
                (tag, what)
            }
        };
        if source.pinned {
            output::note(format_args!(
                "{what} is available; {} is pinned to {}: `lmi plugin install {}:{tag}` moves it",
                p.manifest.name, source.digest, source.repository
            ));
            continue;
        }
        let target = base.with_tag(&tag);
        if dry_run {
            output::line(format_args!("would upgrade {what} ({target})"));
            continue;
        }
        output::note(format_args!("Upgrading {what}"));
        let opts = Options {
            yes: yes || ctx.yes,
            ..Options::default()
        };
        // The repository must still hold this plugin: an artifact naming another one would
        // replace that one under grants the user gave something else.
        // One plugin refusing (its grants not agreed, a bad signature) does not stop the rest.
        if let Err(e) = install::from_registry(ctx, &target, opts, Some(&p.manifest.name)) {
            output::warn(format_args!("{}: {e}", p.manifest.name));
            refused.push(e);
        }
    }
    if let Some(first) = refused.into_iter().next() {
        return Err(first.with_context("not every plugin was upgraded".into()));
    }
    Ok(failed.exit_code())
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
        .filter(|tag| check_tag(tag).is_ok())
        .filter_map(|tag| {
            let v = semver::Version::parse(tag.strip_prefix('v').unwrap_or(&tag)).ok()?;
            // A pre-release is offered only to someone already on one.
            let offered = v > *installed && (v.pre.is_empty() || !installed.pre.is_empty());
            offered.then_some((v, tag))
        })
        .collect();
    newer.sort_by(|a, b| b.0.cmp(&a.0));
    for (version, tag) in newer.into_iter().take(MAX_CANDIDATES) {
        // A tag that is not an lmi plugin, or not this one, or not the version its tag says,
        // or not one this lmi runs, is passed over, not fatal: the next one may be.
        match artifact::summary(&session, &tag) {
            Ok((_, summary)) if fits(&summary, &p.manifest.name, Some(&version)) => {
                return Ok(Offer::Newer { tag, version });
            }
            Ok(_) | Err(RegistryError::Invalid(_) | RegistryError::NotFound(_)) => {
                tracing::info!(plugin = %p.manifest.name, %tag, "passed over: not a version of this plugin this lmi runs");
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(tag) = &source.tag {
        let (digest, summary) = artifact::summary(&session, tag)?;
        if digest != source.digest && fits(&summary, &p.manifest.name, None) {
            return Ok(Offer::Moved {
                tag: tag.clone(),
                digest,
            });
        }
    }
    Ok(Offer::UpToDate)
}

/// Whether a manifest's annotations describe `name` (at `version`, when the tag says one) in
/// a form this lmi runs. An artifact without annotations is left to the install checks.
fn fits(summary: &Summary, name: &str, version: Option<&semver::Version>) -> bool {
    let named = summary.name.as_deref().is_none_or(|n| n == name);
    let versioned = match (version, summary.version.as_deref()) {
        (Some(v), Some(said)) => semver::Version::parse(said).is_ok_and(|said| said == *v),
        _ => true,
    };
    let lmi_ok = summary
        .lmi
        .as_deref()
        .is_none_or(|req| semver::VersionReq::parse(req).is_ok_and(|r| r.matches(&host_version())));
    let contract_ok = summary
        .contract
        .as_deref()
        .is_none_or(|c| Contract::ALL.iter().any(|k| k.name() == c));
    named && versioned && lmi_ok && contract_ok
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
