//! The one HTTP client configuration for token endpoints and services: no redirects (a token
//! call or a bearer request is never replayed somewhere else), one total deadline per
//! exchange (`LMI_HTTP_TIMEOUT_SECS`, default 30 s: connect, send and the whole body, so a
//! server that drips a byte at a time cannot hold lmi or its token lock), response bodies
//! capped, loopback never sent through a proxy, and one log line per exchange naming method,
//! URL without its query (`-vv` adds the query with every value redacted) and status.
//! Request and response bodies and credential headers are never logged.
//!
//! Requests run on reqwest's async client inside a private runtime with one worker thread (it
//! keeps pooled connections polled, so one the server closed is not reused), under a
//! `tokio::time::timeout`: reqwest's blocking client bounds each read, not the exchange.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::AuthError;
use crate::settings::Settings;

/// Connecting gets at most this long (or the total, if shorter).
pub const CONNECT_TIMEOUT_SECS: u64 = 10;
/// How long an idle connection is kept for reuse by a one-off client (the SSO calls, around a
/// browser sign-in that takes minutes): under the shortest common server keep-alive.
const POOL_IDLE_SECS: u64 = 2;
/// How long an environment session keeps an idle connection to its service: long enough for
/// a plugin's back-to-back requests to share one, and under the common server keep-alive
/// (Node's 5 s): a request written just as the server closes the connection would fail
/// without a retry. One the server closed earlier is noticed before reuse and replaced.
pub const SESSION_POOL_IDLE_SECS: u64 = 4;
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

/// A client built the way every lmi request needs it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    timeout_secs: u64,
    /// How long an idle connection is kept for reuse.
    idle_secs: u64,
    /// The roots every connection trusts (`tls`).
    trust: crate::tls::Trust,
    /// Requests to anything but loopback: the environment's proxy settings apply.
    proxied: OnceLock<Result<reqwest::Client, String>>,
    /// Requests to loopback: never proxied, so `http://` stays on the machine.
    direct: reqwest::Client,
    /// `None` only while dropping.
    io: Option<tokio::runtime::Runtime>,
}

impl Inner {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.io
            .as_ref()
            .expect("the runtime lives as long as the client")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A name lookup abandoned at the deadline runs on a blocking thread until the
        // resolver gives up: do not wait for it, or the total deadline would stretch by it.
        if let Some(io) = self.io.take() {
            io.shutdown_background();
        }
    }
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
        let timeout_secs = settings.http_options()?.timeout.as_secs();
        Self::with_timeout(settings, timeout_secs)
    }

    /// The client of an environment session (`session`): idle connections are kept for
    /// [`SESSION_POOL_IDLE_SECS`], so a run's requests share one.
    pub fn for_session(settings: &Settings) -> Result<Self, AuthError> {
        let timeout_secs = settings.http_options()?.timeout.as_secs();
        Self::build(settings, timeout_secs, SESSION_POOL_IDLE_SECS)
    }

    /// The same client with another total deadline per exchange (`lmi doctor`'s probes).
    pub fn with_timeout(settings: &Settings, timeout_secs: u64) -> Result<Self, AuthError> {
        Self::build(settings, timeout_secs, POOL_IDLE_SECS)
    }

    fn build(settings: &Settings, timeout_secs: u64, idle_secs: u64) -> Result<Self, AuthError> {
        // One worker thread that keeps polling idle pooled connections: a connection the
        // server closes between requests is seen closed and never reused (with a runtime that
        // only runs inside `execute`, the next request was written to the closed socket).
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lmi-http")
            .enable_all()
            .build()
            .map_err(|e| AuthError::Network(format!("cannot set up HTTP: {e}")))?;
        let timeout_secs = timeout_secs.max(1);
        let trust = crate::tls::Trust::for_process(settings.global(crate::tls::CA_BUNDLE_KEY))?;
        let direct = build_client(timeout_secs, idle_secs, true, &trust)
            .map_err(|e| AuthError::Network(format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                timeout_secs,
                trust,
                idle_secs,
                proxied: OnceLock::new(),
                direct,
                io: Some(io),
            }),
        })
    }

    /// The total deadline of one exchange.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.inner.timeout_secs)
    }

    /// A request builder; send what it builds with [`Http::execute`].
    pub fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        // Building only: which client sends it is decided by `execute`, from the URL.
        self.inner.direct.request(method, url)
    }

    /// Loopback goes direct, whatever `HTTP_PROXY` says; everything else may be proxied.
    fn client_for(&self, url: &url::Url) -> Result<&reqwest::Client, HttpFailure> {
        if crate::settings::is_loopback(url) {
            return Ok(&self.inner.direct);
        }
        self.inner
            .proxied
            .get_or_init(|| {
                build_client(
                    self.inner.timeout_secs,
                    self.inner.idle_secs,
                    false,
                    &self.inner.trust,
                )
            })
            .as_ref()
            .map_err(|e| HttpFailure::Other(format!("cannot set up HTTP: {e}")))
    }

    /// Sends `request`, reads at most `limit` bytes of the answer within the total deadline,
    /// logs the exchange.
    pub fn execute(&self, request: reqwest::Request, limit: u64) -> Result<Reply, HttpFailure> {
        let method = request.method().clone();
        let (url_info, url_debug) = (
            crate::logging::url_for_log(request.url()),
            crate::logging::redact_url(request.url()),
        );
        let started = Instant::now();
        let secs = self.inner.timeout_secs;
        let exchange = async {
            match tokio::time::timeout(self.timeout(), self.exchange(request, limit)).await {
                Ok(result) => result,
                Err(_elapsed) => Err((None, HttpFailure::Timeout(secs))),
            }
        };
        // A caller inside an async runtime (none today) gets its own thread: a runtime
        // cannot be driven from inside another.
        let result = if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.inner.runtime().block_on(exchange))
                    .join()
                    .unwrap_or_else(|_| {
                        Err((
                            None,
                            HttpFailure::Other("the HTTP exchange panicked".into()),
                        ))
                    })
            })
        } else {
            self.inner.runtime().block_on(exchange)
        };
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(reply) => {
                tracing::info!(
                    "HTTP {method} {url_info} -> {} ({ms} ms, {} bytes)",
                    reply.status.as_u16(),
                    reply.body.len()
                );
            }
            Err((Some(status), e)) => {
                tracing::info!(
                    "HTTP {method} {url_info} -> {} then failed after {ms} ms: {e}",
                    status.as_u16()
                );
            }
            Err((None, e)) => {
                tracing::info!("HTTP {method} {url_info} failed after {ms} ms: {e}");
            }
        }
        tracing::debug!("HTTP {method} {url_debug}");
        result.map_err(|(_, e)| e)
    }

    /// One exchange: the answer's status once known travels with any later failure.
    async fn exchange(
        &self,
        request: reqwest::Request,
        limit: u64,
    ) -> Result<Reply, (Option<reqwest::StatusCode>, HttpFailure)> {
        let client = self.client_for(request.url()).map_err(|e| (None, e))?;
        // A kept-alive connection the server closes just as a request goes out fails it
        // before any answer: an idempotent request is sent once more, on a new connection.
        let idempotent = matches!(
            *request.method(),
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
        );
        let again = request.try_clone().filter(|_| idempotent);
        let mut response = match (client.execute(request).await, again) {
            (Err(e), Some(again)) if closed_before_answer(&e) => {
                tracing::debug!("the server closed a kept-alive connection; sending once more");
                client.execute(again).await
            }
            (result, _) => result,
        }
        .map_err(|e| (None, self.failure(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        if response.content_length().is_some_and(|n| n > limit) {
            return Err((Some(status), HttpFailure::TooLarge(limit)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| (Some(status), self.failure(&e)))?
        {
            if (body.len() as u64).saturating_add(chunk.len() as u64) > limit {
                return Err((Some(status), HttpFailure::TooLarge(limit)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The `oauth2` crate's HTTP client: this client, with the token-body limit and the same
    /// total deadline.
    pub fn oauth(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpFailure> {
        let request = reqwest::Request::try_from(request).map_err(|e| {
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
            HttpFailure::Timeout(self.inner.timeout_secs)
        } else if e.is_connect() {
            HttpFailure::Connect(chain(e))
        } else {
            HttpFailure::Other(chain(e))
        }
    }
}

/// The connection was closed before any of the answer came (hyper's "incomplete message").
fn closed_before_answer(e: &reqwest::Error) -> bool {
    chain(e).contains("connection closed before message completed")
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

/// One client: the trusted roots, no redirects, the total deadline, and for loopback no
/// proxy at all.
fn build_client(
    timeout_secs: u64,
    idle_secs: u64,
    direct: bool,
    trust: &crate::tls::Trust,
) -> Result<reqwest::Client, String> {
    let mut builder = trust
        .apply(reqwest::Client::builder())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(timeout_secs.min(CONNECT_TIMEOUT_SECS)))
        .timeout(Duration::from_secs(timeout_secs))
        // Servers close idle keep-alive connections after a few seconds (Node and Apache: 5 s);
        // a request sent on one just closed fails ("connection closed before message
        // completed"), as the code exchange after a slow browser sign-in did. One-off clients
        // reuse a connection only while it is surely still open; a session keeps it longer.
        .pool_idle_timeout(Duration::from_secs(idle_secs))
        .user_agent(concat!("lmi/", env!("CARGO_PKG_VERSION")));
    if direct {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| chain(&e))
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
    // Error text can quote what a server sent (a malformed header, a TLS alert): one safe line.
    crate::text::line(&crate::logging::scrub(&parts.join(": ")), 500)
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
