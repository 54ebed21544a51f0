//! `lmi plugin verify <NAME>`: the installed plugin's files checked again against its
//! signature and the keys trusted now. Exit 0 only when a trusted key's signature verifies
//! over the component and the manifest as installed (a linked plugin's: as they are in the
//! author's directory now); otherwise exit 1, naming what is wrong.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::exit::Exit;
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::is_name;
use crate::plugins::signature::{self, Policy, Statement, Verdict};
use crate::plugins::store::{InstalledPlugin, PluginStoreError, Store};
use crate::runtime::component_sha256;
use crate::settings::keys;
use crate::text;

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    if !is_name(name) {
        return Err(PluginStoreError::BadName(text::line(name, 80)).into());
    }
    let p = Store::new(ctx.settings.paths()).get(name)?;
    let policy = Policy::from_settings(&ctx.settings)?;
    let (verdict, problems) = check(&p, &policy);
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": p.manifest.name,
            "version": p.manifest.version.to_string(),
            "verified": problems.is_empty(),
            "key": match verdict {
                Some(Verdict::Trusted(id) | Verdict::UntrustedKey(id)) => Some(id.to_string()),
                _ => None,
            },
            "problems": problems,
        }));
    } else if problems.is_empty() {
        output::line(format_args!(
            "{}: verified: {}",
            p.label(),
            verdict.map(|v| v.describe()).unwrap_or_default()
        ));
    } else {
        for problem in &problems {
            output::note(format_args!("error: {}: {problem}", p.label()));
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        Exit::Failure.into()
    })
}

/// What the files' signature proves now, and every reason the plugin does not verify.
fn check(p: &InstalledPlugin, policy: &Policy) -> (Option<Verdict>, Vec<String>) {
    let mut problems = Vec::new();
    let read = |what: std::io::Result<Vec<u8>>, file: &str| {
        what.map_err(|e| {
            format!(
                "cannot read its {file}: {e} (reinstall it: `{}`)",
                p.reinstall_hint()
            )
        })
    };
    let component = read(p.read_component(), "component");
    let manifest = read(p.read_manifest_bytes(), "manifest");
    let signature_file = p
        .read_signature()
        .map_err(|e| format!("cannot read its signature: {e}"));
    let (component, manifest, signature_file) = match (component, manifest, signature_file) {
        (Ok(c), Ok(m), Ok(s)) => (c, m, s),
        (c, m, s) => {
            problems.extend([c.err(), m.err(), s.err()].into_iter().flatten());
            return (None, problems);
        }
    };
    // What runs is the compiled artifact of the component recorded at install; a copy that
    // changed since is not what runs, whatever signs it. (A linked plugin runs its author's
    // current component.)
    if !p.record.linked && component_sha256(&component) != p.record.sha256 {
        problems.push(format!(
            "its installed component {} is not the one installed (its sha256 changed): reinstall it: `{}`",
            p.component_path().display(),
            p.reinstall_hint()
        ));
    }
    let statement = Statement::of(&component, &manifest);
    let verdict = match signature::check(&statement, signature_file.as_deref(), &policy.trusted) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("{e}"));
            return (None, problems);
        }
    };
    let recorded = p.record.signature.as_ref();
    match verdict {
        Verdict::Trusted(id) => {
            if let Some(r) = recorded.filter(|r| r.key != id) {
                problems.push(format!(
                    "it is signed by key {id} now, but key {} signed it when it was installed: its signature was replaced",
                    r.key
                ));
            }
        }
        Verdict::UntrustedKey(id) => problems.push(format!(
            "it is signed by key {id}, which is not in {}{}: the signature cannot be checked (add the key's public key there if you trust it)",
            keys::PLUGIN_TRUSTED_KEYS,
            if recorded.is_some_and(|r| r.verified && r.key == id) {
                " (it was when the plugin was installed)"
            } else {
                ""
            }
        )),
        Verdict::Unsigned => problems.push(match recorded {
            Some(r) => format!(
                "its signature ({}, by key {}) is gone: the installed files were changed; reinstall it: `{}`",
                signature::SIGNATURE_FILE,
                r.key,
                p.reinstall_hint()
            ),
            None => format!(
                "it is not signed, so there is nothing to verify{}",
                if policy.require {
                    format!(
                        " ({}=true: it was installed with --allow-unsigned, or before the policy)",
                        keys::PLUGIN_REQUIRE_SIGNATURE
                    )
                } else {
                    String::new()
                }
            ),
        }),
    }
    (Some(verdict), problems)
}
