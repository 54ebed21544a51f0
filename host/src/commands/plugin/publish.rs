//! `lmi plugin publish <DIR> oci://HOST/REPO:TAG`: checks the plugin as install would
//! (manifest, component, contract, compile), then pushes it in lmi's artifact layout
//! ([`crate::registry::artifact`]) with its signature when the directory holds one (`--sign
//! KEY` signs it first).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::signature::{SIGNATURE_FILE, Verdict};
use crate::plugins::store::PluginFiles;
use crate::registry::artifact::{self, Description};
use crate::registry::{Access, Reference, Session};

pub fn run(
    ctx: &Ctx,
    dir: &Path,
    target: &str,
    sign_with: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let reference = Reference::parse(target).map_err(CliError::usage)?;
    let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else {
        return Err(CliError::usage(format!(
            "publish to a tag: `{reference}` must end in `:TAG` (such as `:{}`), with no digest",
            "1.0.0"
        )));
    };
    let signed_now = match sign_with {
        Some(key) => Some(super::sign::sign_files(ctx, dir, key)?),
        None => None,
    };
    // Every install check, the signature included: a plugin whose signature does not match
    // it is refused here rather than by every user who installs it.
    let candidate = inspect::inspect(ctx, dir, true)?.into_candidate(dir)?;
    let m = &candidate.manifest;
    let engine = crate::runtime::engine().map_err(CliError::failure)?;
    let ty = candidate.compiled.component.component_type();
    let about = Description {
        name: m.name.clone(),
        version: m.version.to_string(),
        lmi: m.lmi.to_string(),
        contract: candidate.compiled.contract.name().to_owned(),
        imports: ty.imports(&engine).map(|(n, _)| n.to_owned()).collect(),
        exports: ty.exports(&engine).map(|(n, _)| n.to_owned()).collect(),
    };
    let signed = candidate.signature.is_some();
    if let (None, Verdict::UntrustedKey(id)) = (sign_with, candidate.verdict) {
        // Checking a minisign signature takes its public key: without it, a signature made
        // before the component was rebuilt would go out, and every installer would refuse it.
        output::warn(format_args!(
            "{SIGNATURE_FILE} is signed by key {id}, which is not in your {}, so it was not checked against these files: if they changed since it was signed, installers will refuse the plugin (sign again with --sign KEY)",
            crate::settings::keys::PLUGIN_TRUSTED_KEYS
        ));
    }
    let files = PluginFiles {
        manifest: candidate.manifest_text.as_bytes(),
        component: &candidate.bytes,
        signature: candidate.signature.as_deref(),
    };
    let http = crate::auth::http::Http::for_process(&ctx.settings)?;
    let session = Session::open(&http, &reference, Access::Push)?;
    let digest = artifact::push(&session, &tag, &files, &about)?;
    tracing::info!(plugin = %m.name, reference = %reference, %digest, "published");
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": m.name,
            "version": m.version.to_string(),
            "reference": format!("{reference}@{digest}"),
            "digest": digest,
            "signed": signed,
            "signature": candidate.verdict.describe(),
            // With --sign: the file written and the key installers are to trust.
            "signed_now": signed_now.map(|s| json!({
                "signature": s.target,
                "key": s.key,
                "public_key": s.public_key,
            })),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    output::note(format_args!(
        "Published {} {} ({}) in {:.1?}: {}@{digest}",
        m.name,
        m.version,
        if signed { "signed" } else { "unsigned" },
        started.elapsed(),
        reference
    ));
    output::line(format_args!("{}@{digest}", reference));
    Ok(ExitCode::SUCCESS)
}
