//! `lmi plugin sign <DIR> --key FILE` and `lmi plugin digest <DIR>`: signing a plugin
//! directory, and the statement a signature signs (for signing with the minisign tool).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::inspect;
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::plugins::manifest::{MANIFEST_FILE, Manifest, read_text};
use crate::plugins::signature::{self, SIGNATURE_FILE, SignError, Statement};
use crate::plugins::store::{MAX_COMPONENT_BYTES, read_plugin_file};
use crate::prompt::{self, PromptError};
use crate::secrets::Secret;
use crate::settings::keys;

/// A plugin directory read for signing: its manifest and the statement over its files.
struct ToSign {
    dir: PathBuf,
    manifest: Manifest,
    statement: Statement,
}

/// Reads `dir` as install does (the manifest strictly, each file under the rules for plugin
/// files), without compiling: signing does not replace `lmi plugin validate`.
fn read(dir: &Path) -> Result<ToSign, CliError> {
    let dir = std::fs::canonicalize(dir).map_err(|e| {
        CliError::usage(format!(
            "cannot open plugin directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(MANIFEST_FILE);
    let text = read_text(&dir)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let manifest = inspect::parse_manifest(&text, &path)?;
    let component =
        read_plugin_file(&dir, &manifest.component, MAX_COMPONENT_BYTES).map_err(|e| {
            CliError::usage(format!(
                "cannot read the component {} named in the manifest: {e}",
                dir.join(&manifest.component).display()
            ))
        })?;
    let statement = Statement::of(&component, text.as_bytes());
    Ok(ToSign {
        dir,
        manifest,
        statement,
    })
}

/// `lmi plugin digest <DIR>`: the statement, byte for byte, on stdout.
pub fn digest(ctx: &Ctx, dir: &Path) -> Result<ExitCode, CliError> {
    let p = read(dir)?;
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "name": p.manifest.name,
            "version": p.manifest.version.to_string(),
            "statement": p.statement.as_str(),
        }));
    } else {
        // `line` ends the last line, which the statement already does.
        output::line(p.statement.as_str().trim_end_matches('\n'));
    }
    Ok(ExitCode::SUCCESS)
}

/// What [`sign_files`] wrote, for its caller to report.
pub struct Signed {
    pub target: PathBuf,
    pub key: String,
    pub public_key: String,
}

/// `lmi plugin sign <DIR> --key FILE`: writes `DIR/lmi-plugin.minisig` whole or not at all.
pub fn sign(ctx: &Ctx, dir: &Path, key: &Path) -> Result<ExitCode, CliError> {
    let signed = sign_files(ctx, dir, key)?;
    if ctx.output == OutputFormat::Json {
        output::json(&json!({
            "signature": signed.target,
            "key": signed.key,
            "public_key": signed.public_key,
        }));
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the plugin in `dir` with the minisign key `key`, writing `DIR/lmi-plugin.minisig`
/// whole or not at all; noted as text (with the public key installers trust), silent under
/// `--output json`, where the caller's answer carries it.
pub fn sign_files(ctx: &Ctx, dir: &Path, key: &Path) -> Result<Signed, CliError> {
    let p = read(dir)?;
    let key_shown = crate::text::line(&key.display().to_string(), 200);
    let password = || -> Result<Secret<String>, String> {
        if let Some(pw) = ctx.settings.process_value(keys::SIGNING_KEY_PASSWORD) {
            return Ok(Secret::new(pw.to_owned()));
        }
        match prompt::secret(&format!("Password of the minisign key {key_shown}")) {
            Ok(pw) => Ok(pw),
            Err(PromptError::NoTerminal) => Err(format!(
                "the minisign key {key_shown} is encrypted and there is no terminal to ask for its password on: set {} in the environment (for scripts)",
                keys::SIGNING_KEY_PASSWORD
            )),
            Err(e) => Err(format!("no password for the minisign key {key_shown}: {e}")),
        }
    };
    let m = &p.manifest;
    // Signed too, and shown by `minisign -V`: when, and which plugin.
    let trusted_comment = format!(
        "timestamp:{}\tlmi-plugin:{} {}",
        crate::auth::lifetime::now_secs(),
        m.name,
        m.version
    );
    let signed =
        signature::sign(&p.statement, key, password, &trusted_comment).map_err(|e| match e {
            SignError::Sign(_) => CliError::failure(e),
            _ => CliError::usage(e.to_string()),
        })?;
    let target = p.dir.join(SIGNATURE_FILE);
    write_whole(&p.dir, &target, signed.text.as_bytes()).map_err(|e| {
        CliError::failure(anyhow::anyhow!("cannot write {}: {e}", target.display()))
    })?;
    tracing::info!(plugin = %m.name, version = %m.version, key = %signed.key, "signed");
    if ctx.output != OutputFormat::Json {
        output::note(format_args!(
            "Signed {} {} with minisign key {}: wrote {}",
            m.name,
            m.version,
            signed.key,
            target.display()
        ));
        output::note(format_args!(
            "Installers who trust this key add its public key to {}: {}",
            keys::PLUGIN_TRUSTED_KEYS,
            signed.public_key
        ));
    }
    Ok(Signed {
        target,
        key: signed.key.to_string(),
        public_key: signed.public_key,
    })
}

/// Writes `target` as a temporary file in `dir`, flushed, then renamed over it: a reader
/// sees the old signature or the new one, never half of one.
fn write_whole(dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".lmi-plugin.minisig.");
    // A signature is public: readable like the rest of the plugin.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}
