//! Why an exchange failed, in the user's terms: the failure kinds, a refused certificate
//! explained, and an error chain on one safe line.

/// Why an exchange did not produce a response. Messages never include bodies or headers.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    /// The deadline in seconds, and what sets it (`LMI_HTTP_TIMEOUT_SECS`, doctor's limit).
    #[error("no answer within {0} s ({1})")]
    Timeout(u64, &'static str),
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server's certificate was refused; the message says why and what to do.
    #[error("{0}")]
    Tls(String),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Other(String),
}

/// The connection was closed before any of the answer came (hyper's "incomplete message").
pub(super) fn closed_before_answer(e: &reqwest::Error) -> bool {
    chain(e).contains("connection closed before message completed")
}

/// The plain message for a refused server certificate, if that is why `e` failed.
pub(super) fn tls_failure(e: &reqwest::Error) -> Option<String> {
    let host = e.url().and_then(|u| u.host_str()).unwrap_or("the server");
    tls_problem(e).map(|p| p.explain(host))
}

/// Why a server's certificate was refused, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsProblem {
    UnknownIssuer,
    Expired,
    WrongName,
    Other,
}

impl TlsProblem {
    fn explain(self, host: &str) -> String {
        match self {
            TlsProblem::UnknownIssuer => format!(
                "the TLS certificate of {host} is not signed by a certificate authority lmi trusts: \
                 install your company's CA in the OS trust store, or set {}=PATH to a PEM file holding it \
                 (`lmi doctor` lists the roots in use)",
                crate::tls::CA_BUNDLE_KEY
            ),
            TlsProblem::Expired => format!(
                "the TLS certificate of {host} has expired or is not valid yet (check this machine's clock)"
            ),
            TlsProblem::WrongName => {
                format!("the TLS certificate of {host} was issued for another name: check the URL")
            }
            TlsProblem::Other => format!("the TLS certificate of {host} was refused"),
        }
    }
}

/// The certificate error somewhere in `e`'s causes. rustls's error sits inside nested
/// `io::Error`s, whose `source()` skips the error they wrap, so those are opened instead.
fn tls_problem(e: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
    use rustls::{CertificateError, Error as TlsError};
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(TlsError::InvalidCertificate(cert)) = err.downcast_ref::<TlsError>() {
            return Some(match cert {
                CertificateError::UnknownIssuer => TlsProblem::UnknownIssuer,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsProblem::Expired,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsProblem::WrongName,
                _ => TlsProblem::Other,
            });
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

pub(super) fn panicked() -> HttpFailure {
    HttpFailure::Other("the HTTP exchange panicked".into())
}

/// An error and its causes on one line, without the URL reqwest likes to add.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(re) if re.url().is_some() => {
                let mut re_text = re.to_string();
                if let Some(url) = re.url() {
                    re_text = re_text
                        .replace(&format!(" ({url})"), "")
                        .replace(url.as_str(), "<url>");
                }
                re_text
            }
            _ => err.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    // Error text can quote what a server sent (a malformed header, a TLS alert): one safe line.
    crate::text::line(&crate::logging::scrub(&parts.join(": ")), 500)
}
