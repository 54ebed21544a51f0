//! How an lmi plugin is laid out in a registry: an OCI image manifest in the CNCF wasm
//! artifact format (config `application/vnd.wasm.config.v0+json`, the component as the one
//! `application/wasm` layer), plus two layers of lmi's own that other wasm tools ignore:
//!
//! | layer | media type |
//! |---|---|
//! | the component | `application/wasm` |
//! | `lmi-plugin.toml`, byte for byte | `application/vnd.lmi.plugin.manifest.v1+toml` |
//! | `lmi-plugin.minisig` (when signed) | `application/vnd.lmi.plugin.signature.v1+minisig` |
//!
//! The manifest's annotations carry what `lmi plugin outdated` needs without pulling a layer:
//! the plugin's name and version, the lmi versions it runs on and its contract. They are a
//! convenience only: what is installed is checked from the layers themselves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{OCI_MANIFEST, Session};
use super::error::RegistryError;
use super::reference::{digest_of, parse_digest};
use crate::plugins::store::PluginFiles;

pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const MANIFEST_LAYER: &str = "application/vnd.lmi.plugin.manifest.v1+toml";
pub const SIGNATURE_LAYER: &str = "application/vnd.lmi.plugin.signature.v1+minisig";

pub const NAME_ANNOTATION: &str = "dev.lmi.plugin.name";
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
pub const LMI_ANNOTATION: &str = "dev.lmi.plugin.lmi";
pub const CONTRACT_ANNOTATION: &str = "dev.lmi.plugin.contract";

/// Largest `lmi-plugin.toml` and signature taken from a registry.
const MAX_PLUGIN_MANIFEST_BYTES: u64 = 1 << 20;
const MAX_SIGNATURE_BYTES: u64 = 4096;

/// What a publish says about the plugin, for the annotations and the wasm config.
pub struct Description {
    pub name: String,
    pub version: String,
    pub lmi: String,
    pub contract: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageManifest {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl Descriptor {
    fn of(media_type: &str, bytes: &[u8], title: &str) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::from([(
                "org.opencontainers.image.title".to_owned(),
                title.to_owned(),
            )]),
        }
    }
}

/// A pulled plugin: its files (every digest checked) and its manifest's digest.
pub struct Pulled {
    pub digest: String,
    /// `lmi-plugin.toml`, byte for byte.
    pub manifest: Vec<u8>,
    pub component: Vec<u8>,
    /// `lmi-plugin.minisig`, when it was published signed.
    pub signature: Option<Vec<u8>>,
}

/// What a manifest says without its layers (for `outdated`).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub name: Option<String>,
    pub version: Option<String>,
    pub lmi: Option<String>,
    pub contract: Option<String>,
}

/// Pushes `files` under `tag`; returns the manifest's digest.
pub fn push(
    session: &Session,
    tag: &str,
    files: &PluginFiles<'_>,
    about: &Description,
) -> Result<String, RegistryError> {
    let component = Descriptor::of(WASM_LAYER, files.component, &format!("{}.wasm", about.name));
    let mut layers = vec![
        component.clone(),
        Descriptor::of(MANIFEST_LAYER, files.manifest, "lmi-plugin.toml"),
    ];
    if let Some(sig) = files.signature {
        layers.push(Descriptor::of(SIGNATURE_LAYER, sig, "lmi-plugin.minisig"));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [component.digest],
        "component": { "exports": about.exports, "imports": about.imports },
    }))
    .map_err(|e| RegistryError::Invalid(format!("cannot write the wasm config: {e}")))?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: Descriptor {
            annotations: BTreeMap::new(),
            ..Descriptor::of(WASM_CONFIG, &config, "")
        },
        layers,
        annotations: BTreeMap::from([
            (NAME_ANNOTATION.to_owned(), about.name.clone()),
            (
                "org.opencontainers.image.title".to_owned(),
                about.name.clone(),
            ),
            (VERSION_ANNOTATION.to_owned(), about.version.clone()),
            (LMI_ANNOTATION.to_owned(), about.lmi.clone()),
            (CONTRACT_ANNOTATION.to_owned(), about.contract.clone()),
        ]),
    };
    let manifest = serde_json::to_vec(&manifest)
        .map_err(|e| RegistryError::Invalid(format!("cannot write the manifest: {e}")))?;
    session.push_blob(&config)?;
    session.push_blob(files.component)?;
    session.push_blob(files.manifest)?;
    if let Some(sig) = files.signature {
        session.push_blob(sig)?;
    }
    session.push_manifest(tag, &manifest)
}

/// The layers of an lmi plugin's manifest, checked.
struct Layers {
    component: Descriptor,
    manifest: Descriptor,
    signature: Option<Descriptor>,
    summary: Summary,
}

fn parse(bytes: &[u8], shown: &str) -> Result<Layers, RegistryError> {
    let invalid =
        |why: String| RegistryError::Invalid(format!("{shown} is not an lmi plugin: {why}"));
    let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!(
            "its manifest cannot be read ({})",
            crate::text::line(&e.to_string(), 160)
        ))
    })?;
    if m.schema_version != 2 || m.media_type.as_deref().is_some_and(|t| t != OCI_MANIFEST) {
        return Err(invalid(format!(
            "its manifest is not an OCI image manifest (media type {})",
            crate::text::line(m.media_type.as_deref().unwrap_or("none"), 80)
        )));
    }
    if m.config.media_type != WASM_CONFIG {
        return Err(invalid(format!(
            "its config is `{}`, not a wasm component's `{WASM_CONFIG}`",
            crate::text::line(&m.config.media_type, 80)
        )));
    }
    let mut component = None;
    let mut manifest = None;
    let mut signature = None;
    for layer in &m.layers {
        parse_digest(&layer.digest).map_err(&invalid)?;
        let slot = match layer.media_type.as_str() {
            WASM_LAYER => &mut component,
            MANIFEST_LAYER => &mut manifest,
            SIGNATURE_LAYER => &mut signature,
            other => {
                return Err(invalid(format!(
                    "it has a layer of type `{}`, which lmi does not take",
                    crate::text::line(other, 80)
                )));
            }
        };
        if slot.replace(layer.clone()).is_some() {
            return Err(invalid(format!("it has two `{}` layers", layer.media_type)));
        }
    }
    let component =
        component.ok_or_else(|| invalid("it has no `application/wasm` layer".into()))?;
    let manifest = manifest.ok_or_else(|| {
        invalid("it has no lmi-plugin.toml layer (publish it with `lmi plugin publish`)".into())
    })?;
    let note = |key: &str| m.annotations.get(key).map(|v| crate::text::line(v, 100));
    Ok(Layers {
        component,
        manifest,
        signature,
        summary: Summary {
            name: note(NAME_ANNOTATION),
            version: note(VERSION_ANNOTATION),
            lmi: note(LMI_ANNOTATION),
            contract: note(CONTRACT_ANNOTATION),
        },
    })
}

/// The manifest `name` (tag or digest) names, summarised without pulling layers; and its digest.
pub fn summary(session: &Session, name: &str) -> Result<(String, Summary), RegistryError> {
    let (digest, bytes) = session.manifest(name)?;
    let layers = parse(&bytes, &format!("`{name}`"))?;
    Ok((digest, layers.summary))
}

/// Pulls the plugin `name` (a tag or digest) names: every layer read to its declared size and
/// checked against its digest.
pub fn pull(session: &Session, name: &str) -> Result<Pulled, RegistryError> {
    let (digest, bytes) = session.manifest(name)?;
    let layers = parse(&bytes, &format!("`{name}`"))?;
    let component = session.blob(
        &layers.component.digest,
        layers.component.size,
        crate::plugins::store::MAX_COMPONENT_BYTES,
    )?;
    let manifest = session.blob(
        &layers.manifest.digest,
        layers.manifest.size,
        MAX_PLUGIN_MANIFEST_BYTES,
    )?;
    let signature = layers
        .signature
        .map(|s| session.blob(&s.digest, s.size, MAX_SIGNATURE_BYTES))
        .transpose()?;
    Ok(Pulled {
        digest,
        manifest,
        component,
        signature,
    })
}
