//! `lmi plugin info <NAME>`: an installed plugin's manifest, what was granted and where it
//! came from.

use std::process::ExitCode;

use serde_json::json;

use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::is_name;
use crate::plugins::signature::{Policy, SignatureRecord};
use crate::plugins::store::{PluginStoreError, Store};
use crate::settings::keys;
use crate::text;

/// The most characters of one piece of manifest text lmi prints on a line.
const MAX_TEXT: usize = 200;

pub fn run(ctx: &Ctx, name: &str) -> Result<ExitCode, CliError> {
    if !is_name(name) {
        return Err(PluginStoreError::BadName(text::line(name, 80)).into());
    }
    let p = Store::new(ctx.settings.paths()).get(name)?;
    let m = &p.manifest;
    // Read from the component's exports (no compile); unknown if it cannot be read now.
    let contract = p
        .read_component()
        .ok()
        .and_then(|bytes| crate::runtime::compile::contract_of(&bytes))
        .map_or("unknown (the component cannot be read)", |c| c.name());
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": m.name,
            "version": m.version.to_string(),
            "description": m.description,
            "lmi": m.lmi.to_string(),
            "contract": contract,
            "commands": m.commands,
            "permissions": m.permissions,
            "granted": p.grants,
            "linked": p.record.linked,
            "source": p.record.source,
            "registry": p.record.registry,
            "component": p.component_path(),
            "sha256": p.record.sha256,
            "installed_at": p.record.installed_at,
            "signature": signature_json(ctx, &p.record.signature),
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
    output::line(format_args!("contract: {contract}"));
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
        // The run time granted at install is what a run gets (capped by the user's
        // LMI_PLUGIN_MAX_TIMEOUT_SECS), whatever the manifest says now.
        if let Some(run_time) = p.grants.run_times.get(&c.name) {
            output::line(format_args!("  {:<14} may run {}", "", run_time.phrase()));
        }
    }
    // What a run gets is what was granted at install, whatever the manifest says now.
    let perms = p
        .grants
        .permissions
        .describe(&crate::plugins::data::dir(ctx.settings.paths(), &m.name));
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
    match &p.record.registry {
        Some(r) => output::line(format_args!(
            "source: {}{}",
            text::line(&r.reference(), MAX_TEXT),
            if r.pinned { " (pinned)" } else { "" }
        )),
        None => output::line(format_args!(
            "source: {}{}",
            text::line(&p.record.source.display().to_string(), MAX_TEXT),
            if p.record.linked { " (linked)" } else { "" }
        )),
    }
    output::line(format_args!("sha256: {}", p.record.sha256));
    output::line(format_args!(
        "signature: {}",
        signature_line(ctx, &p.record.signature)
    ));
    Ok(ExitCode::SUCCESS)
}

/// Whether the key that signed it is in `LMI_PLUGIN_TRUSTED_KEYS` now (`None` when that
/// setting does not parse: `info` still shows what was recorded).
fn trusted_now(ctx: &Ctx, record: &SignatureRecord) -> Option<bool> {
    Policy::from_settings(&ctx.settings)
        .ok()
        .map(|policy| policy.trusted.contains(record.key))
}

/// The signature state as recorded at install, and whether its key is trusted now.
fn signature_line(ctx: &Ctx, record: &Option<SignatureRecord>) -> String {
    let Some(r) = record else {
        return "unsigned".to_owned();
    };
    let now = if trusted_now(ctx, r) == Some(false) {
        format!("; it is not in {} now", keys::PLUGIN_TRUSTED_KEYS)
    } else {
        String::new()
    };
    if r.verified {
        format!(
            "signed by key {} (trusted: verified at install{now}; `lmi plugin verify` checks again)",
            r.key
        )
    } else {
        format!(
            "signed by key {} (untrusted: the key was not in {} at install, so the signature was not checked)",
            r.key,
            keys::PLUGIN_TRUSTED_KEYS
        )
    }
}

fn signature_json(ctx: &Ctx, record: &Option<SignatureRecord>) -> serde_json::Value {
    match record {
        None => json!({ "state": "unsigned" }),
        Some(r) => json!({
            "state": if r.verified { "trusted" } else { "untrusted" },
            "key": r.key.to_string(),
            "verified_at_install": r.verified,
            "trusted_now": trusted_now(ctx, r),
        }),
    }
}
