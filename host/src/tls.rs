//! Which certificate authorities lmi trusts, for every HTTPS connection it makes (the
//! identity provider and its discovery and JWKS documents, token endpoints, services).
//!
//! - The platform's trust store, read with `rustls-native-certs`: the Linux CA bundle
//!   (honouring `SSL_CERT_FILE` and `SSL_CERT_DIR` as OpenSSL-based tools do), the macOS
//!   Keychain, the Windows certificate store. A company CA the administrator installed is
//!   trusted exactly as `curl` trusts it.
//! - `LMI_CA_BUNDLE=PATH` (global `.env` or the environment) adds a PEM bundle, for a private
//!   CA without touching the system. An unreadable bundle, or one with no certificate in it,
//!   is a configuration error naming the file.
//! - Mozilla's roots (compiled in) only where the platform offers no store at all.
//!
//! Verification is never optional: there is no switch to skip it. The roots are read once per
//! process, and only when a connection is about to be made: dispatching a plugin that makes
//! no request never reads them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::settings::ConfigError;

/// The settings key naming an extra PEM bundle.
pub const CA_BUNDLE_KEY: &str = crate::settings::keys::CA_BUNDLE;

/// Where trusted roots came from, as `lmi doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// The platform store; `from` says which file or directory when an env var chose it.
    Platform { certificates: usize, from: String },
    /// `LMI_CA_BUNDLE`.
    Bundle { path: PathBuf, certificates: usize },
    /// Mozilla's roots compiled into lmi, used because the platform has none.
    Mozilla,
}

impl std::fmt::Display for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::Platform { certificates, from } => {
                write!(
                    f,
                    "the OS trust store ({certificates} certificates, {from})"
                )
            }
            TrustSource::Bundle { path, certificates } => write!(
                f,
                "{CA_BUNDLE_KEY} {} ({certificates} certificates)",
                path.display()
            ),
            TrustSource::Mozilla => {
                write!(
                    f,
                    "Mozilla's roots built into lmi (no OS trust store was found)"
                )
            }
        }
    }
}

/// The roots every client lmi builds trusts.
#[derive(Clone)]
pub struct Trust {
    certificates: Vec<reqwest::Certificate>,
    /// The same roots as DER, for the one TLS client lmi builds without reqwest (a plugin's
    /// outbound `wasi:http`, `runtime/outbound.rs`).
    ders: Vec<rustls::pki_types::CertificateDer<'static>>,
    mozilla: bool,
    pub sources: Vec<TrustSource>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("certificates", &self.certificates.len())
            .field("sources", &self.sources)
            .finish()
    }
}

impl Trust {
    /// The roots for this process with `ca_bundle`: read once per bundle, on first use (a
    /// process has one; a test process may ask for several).
    pub fn for_process(ca_bundle: Option<&str>) -> Result<Trust, ConfigError> {
        type Loaded = Vec<(Option<PathBuf>, Result<Trust, String>)>;
        static TRUST: Mutex<Loaded> = Mutex::new(Vec::new());
        let bundle = ca_bundle.filter(|b| !b.is_empty()).map(PathBuf::from);
        let mut loaded = TRUST.lock().unwrap_or_else(|e| e.into_inner());
        let found = match loaded.iter().find(|(b, _)| *b == bundle) {
            Some((_, trust)) => trust.clone(),
            None => {
                let trust = Trust::load(bundle.as_deref()).map_err(|e| e.to_string());
                loaded.push((bundle, trust.clone()));
                trust
            }
        };
        found.map_err(|reason| ConfigError::InvalidValue {
            key: CA_BUNDLE_KEY.to_owned(),
            source_name: "the settings".to_owned(),
            reason,
        })
    }

    /// Reads the platform store and the optional bundle.
    pub fn load(bundle: Option<&Path>) -> Result<Trust, BundleError> {
        let started = std::time::Instant::now();
        let mut certificates = Vec::new();
        let mut ders = Vec::new();
        let mut sources = Vec::new();

        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!("a certificate of the OS trust store could not be read: {error}");
        }
        let platform: Vec<_> = native
            .certs
            .iter()
            .filter_map(|der| {
                let cert = reqwest::Certificate::from_der(der).ok()?;
                ders.push(der.clone().into_owned());
                Some(cert)
            })
            .collect();
        if !platform.is_empty() {
            sources.push(TrustSource::Platform {
                certificates: platform.len(),
                from: platform_origin(),
            });
            certificates.extend(platform);
        }

        if let Some(path) = bundle {
            let (added, added_ders) = read_bundle(path)?;
            sources.push(TrustSource::Bundle {
                path: path.to_owned(),
                certificates: added.len(),
            });
            certificates.extend(added);
            ders.extend(added_ders);
        }

        let mozilla = !sources
            .iter()
            .any(|s| matches!(s, TrustSource::Platform { .. }));
        if mozilla {
            sources.push(TrustSource::Mozilla);
        }
        tracing::debug!(
            "read {} trusted roots in {} µs",
            certificates.len(),
            started.elapsed().as_micros()
        );
        Ok(Trust {
            certificates,
            ders,
            mozilla,
            sources,
        })
    }

    /// A rustls client configuration that trusts these roots and nothing else (HTTP/1.1
    /// only), for the TLS connections lmi makes without reqwest.
    pub fn rustls_config(&self) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
        let mut roots = rustls::RootCertStore::empty();
        let (_added, _ignored) = roots.add_parsable_certificates(self.ders.iter().cloned());
        if self.mozilla {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(std::sync::Arc::new(config))
    }

    /// A client builder that trusts these roots and nothing else.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder = builder.tls_built_in_root_certs(false);
        for cert in &self.certificates {
            builder = builder.add_root_certificate(cert.clone());
        }
        builder.tls_built_in_webpki_certs(self.mozilla)
    }
}

/// Which part of the platform store was read, in the words of the variables that chose it.
fn platform_origin() -> String {
    #[allow(clippy::disallowed_methods)] // OpenSSL's variables, read as OpenSSL reads them
    let var = |k: &str| std::env::var_os(k).map(|v| PathBuf::from(v).display().to_string());
    match (var("SSL_CERT_FILE"), var("SSL_CERT_DIR")) {
        (Some(file), _) => format!("SSL_CERT_FILE={file}"),
        (None, Some(dir)) => format!("SSL_CERT_DIR={dir}"),
        (None, None) => "system default".to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read the CA bundle {0}: {1}")]
    Unreadable(PathBuf, String),
    #[error("the CA bundle {0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    Empty(PathBuf),
    #[error("the CA bundle {0} is not valid PEM: {1}")]
    Invalid(PathBuf, String),
}

/// A CA bundle is at most this large (a full Mozilla bundle is about 220 KiB).
const BUNDLE_LIMIT: u64 = 4 << 20;

type BundleCertificates = (
    Vec<reqwest::Certificate>,
    Vec<rustls::pki_types::CertificateDer<'static>>,
);

fn read_bundle(path: &Path) -> Result<BundleCertificates, BundleError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| BundleError::Unreadable(path.into(), e.to_string()))?;
    let mut pem = Vec::new();
    file.take(BUNDLE_LIMIT + 1)
        .read_to_end(&mut pem)
        .map_err(|e| BundleError::Unreadable(path.into(), e.to_string()))?;
    if pem.len() as u64 > BUNDLE_LIMIT {
        return Err(BundleError::Unreadable(
            path.into(),
            format!("larger than {BUNDLE_LIMIT} bytes"),
        ));
    }
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(BundleError::Empty(path.into()));
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| BundleError::Invalid(path.into(), e.to_string()))?;
    if certs.is_empty() {
        return Err(BundleError::Empty(path.into()));
    }
    use rustls::pki_types::pem::PemObject;
    let ders = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    Ok((certs, ders))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope.pem");
        let e = Trust::load(Some(&missing)).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
        let empty = tmp.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Trust::load(Some(&empty)).unwrap_err();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        let broken = tmp.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(Trust::load(Some(&broken)).is_err());
    }

    #[test]
    fn the_platform_store_is_read_when_the_machine_has_one() {
        let trust = Trust::load(None).unwrap();
        // This machine has Debian's ca-certificates: the OS store is used, Mozilla's
        // built-in roots are not.
        if std::path::Path::new("/etc/ssl/certs/ca-certificates.crt").exists() {
            assert!(
                matches!(trust.sources[0], TrustSource::Platform { certificates, .. } if certificates > 10),
                "{:?}",
                trust.sources
            );
            assert!(!trust.mozilla);
        }
    }
}
