//! The one HTTP client configuration for token endpoints and services: no redirects (a token
//! call or a bearer request is never replayed somewhere else), connect and total timeouts
//! (`LMI_HTTP_TIMEOUT_SECS`, default 30 s), response bodies capped, and one trace line per
//! exchange naming method, URL (redacted) and status. Request and response bodies and
//! credential headers are never logged.

use std::io::Read;
use std::time::{Duration, Instant};

use super::AuthError;
use crate::settings::Settings;

/// Total time for one HTTP exchange unless `LMI_HTTP_TIMEOUT_SECS` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Connecting gets at most this long (or the total, if shorter).
pub const CONNECT_TIMEOUT_SECS: u64 = 10;
/// Largest token-endpoint answer read (a token response is a few KiB).
pub const TOKEN_BODY_LIMIT: u64 = 1 << 20;
/// Largest service answer handed to a plugin.
pub const SERVICE_BODY_LIMIT: u64 = 32 << 20;

/// Why an exchange did not produce a response. Messages never include bodies or headers.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    #[error("no answer within {0} s (LMI_HTTP_TIMEOUT_SECS)")]
    Timeout(u64),
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

/// A blocking client built the way every lmi request needs it.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::blocking::Client,
    timeout_secs: u64,
}

/// A response read in full (up to a limit).
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// The body may be a token response and the headers may set cookies: only their sizes show.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Http {
    pub fn new(settings: &Settings) -> Result<Self, AuthError> {
        let timeout_secs = settings.global_u64("LMI_HTTP_TIMEOUT_SECS", DEFAULT_TIMEOUT_SECS)?;
        let timeout_secs = timeout_secs.max(1);
        let trust = crate::tls::Trust::for_process(settings.global(crate::tls::CA_BUNDLE_KEY))?;
        let client = trust
            .apply_blocking(reqwest::blocking::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(timeout_secs.min(CONNECT_TIMEOUT_SECS)))
            .timeout(Duration::from_secs(timeout_secs))
            .user_agent(concat!("lmi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Network(format!("cannot set up HTTP: {}", chain(&e))))?;
        Ok(Self {
            client,
            timeout_secs,
        })
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> reqwest::blocking::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends `request`, reads at most `limit` bytes of the answer, traces the exchange.
    pub fn execute(
        &self,
        request: reqwest::blocking::Request,
        limit: u64,
    ) -> Result<Reply, HttpFailure> {
        let method = request.method().clone();
        let url = crate::logging::redact_url(request.url());
        let started = Instant::now();
        let result = self.client.execute(request).map_err(|e| self.failure(&e));
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(
                    "HTTP {method} {url} failed after {} ms: {e}",
                    started.elapsed().as_millis()
                );
                return Err(e);
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let read = (&mut response).take(limit + 1).read_to_end(&mut body);
        let ms = started.elapsed().as_millis();
        match read {
            Err(e) => {
                let e = match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                    Some(re) => self.failure(re),
                    None if e.kind() == std::io::ErrorKind::TimedOut => {
                        HttpFailure::Timeout(self.timeout_secs)
                    }
                    None => HttpFailure::Other(format!("reading the answer failed: {e}")),
                };
                tracing::info!(
                    "HTTP {method} {url} -> {} then failed after {ms} ms: {e}",
                    status.as_u16()
                );
                Err(e)
            }
            Ok(_) if body.len() as u64 > limit => {
                tracing::info!(
                    "HTTP {method} {url} -> {}, answer over {limit} bytes, dropped",
                    status.as_u16()
                );
                Err(HttpFailure::TooLarge(limit))
            }
            Ok(_) => {
                tracing::info!(
                    "HTTP {method} {url} -> {} ({ms} ms, {} bytes)",
                    status.as_u16(),
                    body.len()
                );
                Ok(Reply {
                    status,
                    headers,
                    body,
                })
            }
        }
    }

    /// The `oauth2` crate's HTTP client: this client, with the token-body limit.
    pub fn oauth(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpFailure> {
        let request = reqwest::blocking::Request::try_from(request).map_err(|e| {
            HttpFailure::Other(format!("cannot build the token request: {}", chain(&e)))
        })?;
        let reply = self.execute(request, TOKEN_BODY_LIMIT)?;
        let mut builder = oauth2::http::Response::builder().status(reply.status);
        for (name, value) in &reply.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(reply.body)
            .map_err(|e| HttpFailure::Other(e.to_string()))
    }

    fn failure(&self, e: &reqwest::Error) -> HttpFailure {
        if let Some(message) = tls_failure(e) {
            HttpFailure::Tls(message)
        } else if e.is_timeout() {
            HttpFailure::Timeout(self.timeout_secs)
        } else if e.is_connect() {
            HttpFailure::Connect(chain(e))
        } else {
            HttpFailure::Other(chain(e))
        }
    }
}

/// The plain message for a refused server certificate, if that is why `e` failed.
pub fn tls_failure(e: &reqwest::Error) -> Option<String> {
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

/// An error and its causes on one line, without the URL reqwest likes to add.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
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
    crate::logging::scrub(&parts.join(": "))
}

#[cfg(test)]
mod reply_tests {
    use super::Reply;

    #[test]
    fn a_replys_debug_shows_no_body() {
        let reply = Reply {
            status: reqwest::StatusCode::OK,
            headers: reqwest::header::HeaderMap::new(),
            body: br#"{"access_token":"tok-7f3a"}"#.to_vec(),
        };
        let shown = format!("{reply:?}");
        assert!(!shown.contains("tok-7f3a"), "{shown}");
        assert!(shown.contains("body_bytes: 27"), "{shown}");
    }
}
