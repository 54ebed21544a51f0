//! `lmi plugin publish <DIR> oci://HOST/REPO:TAG`: checks the plugin as install would
//! (manifest, component, contract, compile), then pushes it in lmi's artifact layout
//! ([`crate::registry::artifact`]) with its signature when the directory holds one.

use std::path::Path;
use std::process::ExitCode;

use super::inspect;
use super::install::SIGNATURE_FILE;
use crate::commands::{CliError, Ctx};
use crate::output;
use crate::plugins::manifest::MANIFEST_FILE;
use crate::plugins::store::read_plugin_file;
use crate::registry::artifact::{self, Description, PluginFiles};
use crate::registry::{Access, Reference, Session};

/// A signature file is a few hundred bytes.
const MAX_SIGNATURE_BYTES: u64 = 4096;

pub fn run(ctx: &Ctx, dir: &Path, target: &str) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let reference = Reference::parse(target).map_err(CliError::usage)?;
    let Some(tag) = reference.tag.clone().filter(|_| reference.digest.is_none()) else {
        return Err(CliError::usage(format!(
            "publish to a tag: `{reference}` must end in `:TAG` (such as `:{}`), with no digest",
            "1.0.0"
        )));
    };
    let candidate = inspect::inspect(ctx, dir)?.into_candidate(dir)?;
    let m = &candidate.manifest;
    let read = |name: &str, limit: u64| read_plugin_file(&candidate.dir, Path::new(name), limit);
    let manifest = read(MANIFEST_FILE, 1 << 20)
        .map_err(|e| CliError::failure(anyhow::anyhow!("cannot read {MANIFEST_FILE}: {e}")))?;
    let signature = match read(SIGNATURE_FILE, MAX_SIGNATURE_BYTES) {
        Ok(sig) => Some(sig),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::failure(anyhow::anyhow!(
                "cannot read {SIGNATURE_FILE}: {e}"
            )));
        }
    };
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
    let signed = signature.is_some();
    let files = PluginFiles {
        manifest,
        component: candidate.bytes,
        signature,
    };
    let http = crate::auth::http::Http::for_process(&ctx.settings)?;
    let session = Session::open(&http, &reference, Access::Push)?;
    let digest = artifact::push(&session, &tag, &files, &about)?;
    tracing::info!(plugin = %m.name, reference = %reference, %digest, "published");
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
