//! The process's one HTTP client, for token endpoints, the identity provider and services:
//! no redirects (a token call or a bearer request is never replayed somewhere else), one
//! total deadline per exchange (`LMI_HTTP_TIMEOUT_SECS`, default 30 s: connect, send and the
//! whole body, so a server that drips a byte at a time cannot hold lmi or its token lock),
//! response bodies capped, loopback never sent through a proxy, and one log line per
//! exchange naming method, URL without its query (`-vv` adds the query with every value
//! redacted) and status. Request and response bodies and credential headers are never logged.
//!
//! [`Http::for_process`] hands every caller the same client: one configuration, one set of
//! trusted roots and, per runtime that drives them, one pool of kept-alive connections (the
//! SSO calls and the token endpoint share the private runtime's; a plugin's service requests
//! use its own runtime's). It is cheap until used: the trusted roots are read on the first
//! TLS connection (a plain `http://` loopback exchange never reads them, unless
//! `LMI_CA_BUNDLE` is set, which is checked up front), and each reqwest client is built on
//! first use.
//!
//! Two ways to send:
//! - [`Http::execute`] blocks: the exchange runs on the client's private runtime (one worker
//!   thread, built on first use, which keeps pooled connections polled so one the server
//!   closed is not reused).
//! - [`Http::send`] is awaited on the caller's runtime (a plugin's): each calling runtime gets
//!   a connection pool of its own and drives it, so a plugin's request costs no thread hop, as
//!   a native loop's does not. Before each exchange the runtime polls its I/O once, so a
//!   connection the server closed while the plugin computed is seen closed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

mod clients;
mod failure;
mod log;

use clients::{Clients, Route, build_client};
pub use failure::{HttpFailure, chain};
use failure::{closed_before_answer, panicked, tls_failure};
use log::ExchangeLog;

use super::AuthError;
use crate::settings::Settings;
use crate::tls::Trust;

/// Connecting gets at most this long (or the exchange's total deadline, if shorter).
pub const CONNECT_TIMEOUT_SECS: u64 = 10;
/// How long an idle connection is kept for reuse: long enough for a plugin's back-to-back
/// requests to share one, and under the common server keep-alive (Node's 5 s): a request
/// written just as the server closes the connection would fail without a retry. One the
/// server closed earlier is noticed before reuse and replaced.
pub const POOL_IDLE_SECS: u64 = 4;
/// How many runtimes' pools a client keeps (a plugin run has one runtime; tests have many).
const LOCAL_POOLS: usize = 4;
/// Largest token-endpoint answer read (a token response is a few KiB).
pub const TOKEN_BODY_LIMIT: u64 = 1 << 20;
/// Largest service answer handed to a plugin.
pub const SERVICE_BODY_LIMIT: u64 = 32 << 20;

/// The process's client (see the module docs), with one exchange deadline. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Http {
    inner: Arc<Inner>,
    /// The total deadline of one exchange.
    timeout_secs: u64,
    /// What sets that deadline, as a timeout's message names it.
    timeout_set_by: &'static str,
}

#[derive(Debug)]
struct Inner {
    /// The deadline the settings ask for; a [`Http::with_timeout`] view may use another.
    timeout_secs: u64,
    /// `LMI_CA_BUNDLE`, as the settings gave it.
    ca_bundle: Option<String>,
    /// The roots every TLS connection trusts, read on first need.
    trust: OnceLock<Result<Trust, String>>,
    /// Clients whose connections the private runtime drives (blocking callers).
    pooled: Clients,
    /// Clients whose connections an async caller's runtime drives, per runtime (the CLI has
    /// one; the oldest is let go beyond [`LOCAL_POOLS`]).
    local: Mutex<Vec<(tokio::runtime::Id, Arc<Clients>)>>,
    /// The private runtime, built on the first blocking exchange. Taken only while dropping.
    io: OnceLock<tokio::runtime::Runtime>,
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

/// What a failed exchange had got: its status, once known, travels with the failure.
type Exchange = Result<Reply, (Option<reqwest::StatusCode>, HttpFailure)>;

impl Http {
    /// The process's client for these settings: every caller with the same settings gets the
    /// same one (and so its kept-alive connections).
    pub fn for_process(settings: &Settings) -> Result<Self, AuthError> {
        static SHARED: Mutex<Option<Http>> = Mutex::new(None);
        let timeout_secs = settings.http_options()?.timeout.as_secs().max(1);
        let ca_bundle = settings
            .global(crate::tls::CA_BUNDLE_KEY)
            .filter(|b| !b.is_empty())
            .map(str::to_owned);
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(http) = shared
            .as_ref()
            .filter(|h| h.inner.timeout_secs == timeout_secs && h.inner.ca_bundle == ca_bundle)
        {
            return Ok(http.clone());
        }
        let http = Self::build(timeout_secs, ca_bundle)?;
        *shared = Some(http.clone());
        Ok(http)
    }

    /// A client of its own, sharing nothing with the process's.
    fn build(timeout_secs: u64, ca_bundle: Option<String>) -> Result<Self, AuthError> {
        let trust = OnceLock::new();
        if ca_bundle.is_some() {
            // A configured bundle is checked now: a missing or empty file is a configuration
            // error before anything is sent, not a failure of the first TLS connection.
            let _ = trust.set(Ok(Trust::for_process(ca_bundle.as_deref())?));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                timeout_secs,
                ca_bundle,
                trust,
                pooled: Clients::default(),
                local: Mutex::new(Vec::new()),
                io: OnceLock::new(),
            }),
            timeout_secs,
            timeout_set_by: "LMI_HTTP_TIMEOUT_SECS",
        })
    }

    /// The same client, with another total deadline per exchange (`lmi doctor`'s probes),
    /// which a timeout's message attributes to `set_by`.
    pub fn with_timeout(&self, timeout: Duration, set_by: &'static str) -> Self {
        Self {
            inner: self.inner.clone(),
            timeout_secs: timeout.as_secs().max(1),
            timeout_set_by: set_by,
        }
    }

    /// The total deadline of one exchange.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// A request builder; send what it builds with [`Http::execute`] or [`Http::send`].
    pub fn request(
        &self,
        method: reqwest::Method,
        url: url::Url,
    ) -> Result<reqwest::RequestBuilder, HttpFailure> {
        // Building only: which client sends it is decided from the URL when it is sent. The
        // plain client reads no roots.
        self.inner
            .pooled
            .plain
            .get_or_init(|| build_client(Route::Plain, None))
            .as_ref()
            .map(|client| client.request(method, url))
            .map_err(|e| HttpFailure::Other(format!("cannot set up HTTP: {e}")))
    }

    /// The private runtime, built on first use.
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, HttpFailure> {
        if let Some(io) = self.inner.io.get() {
            return Ok(io);
        }
        // One worker thread that keeps polling idle pooled connections: a connection the
        // server closes between requests is seen closed and never reused.
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lmi-http")
            .enable_all()
            .build()
            .map_err(|e| HttpFailure::Other(format!("cannot set up HTTP: {e}")))?;
        if let Err(lost) = self.inner.io.set(io) {
            // Another thread built one first. Dropping a runtime may block, which panics on
            // a runtime thread: let it go in the background.
            lost.shutdown_background();
        }
        self.inner
            .io
            .get()
            .ok_or_else(|| HttpFailure::Other("cannot set up HTTP".into()))
    }

    /// Reads the roots `url` will need now, so the first exchange does not (a caller on an
    /// async runtime does this on a worker: the OS store is files, maybe on a slow mount).
    pub fn prepare_for(&self, url: &url::Url) -> Result<(), HttpFailure> {
        if Route::of(url) != Route::Plain {
            self.trust()
                .map_err(|e| HttpFailure::Other(format!("cannot set up HTTP: {e}")))?;
        }
        Ok(())
    }

    /// The reqwest client for `url` out of `clients`.
    fn client<'a>(
        &'a self,
        clients: &'a Clients,
        url: &url::Url,
    ) -> Result<&'a reqwest::Client, HttpFailure> {
        let route = Route::of(url);
        let slot = match route {
            Route::Plain => &clients.plain,
            Route::Direct => &clients.direct,
            Route::Proxied => &clients.proxied,
        };
        slot.get_or_init(|| {
            let trust = match route {
                Route::Plain => None,
                Route::Direct | Route::Proxied => Some(self.trust()?),
            };
            build_client(route, trust)
        })
        .as_ref()
        .map_err(|e| HttpFailure::Other(format!("cannot set up HTTP: {e}")))
    }

    /// The trusted roots, read on first need.
    fn trust(&self) -> Result<&Trust, String> {
        self.inner
            .trust
            .get_or_init(|| {
                Trust::for_process(self.inner.ca_bundle.as_deref()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Sends `request` and reads at most `limit` bytes of the answer within the total
    /// deadline, blocking the calling thread; logs the exchange.
    pub fn execute(&self, request: reqwest::Request, limit: u64) -> Result<Reply, HttpFailure> {
        let log = ExchangeLog::start(&request);
        log.finish(self.blocking(request, limit))
    }

    /// Sends `request` and returns the status of the answer without reading its body, within
    /// the total deadline, blocking the calling thread; logs the exchange. What a server
    /// answers, not what it says (`lmi doctor`'s probe of a service URL).
    pub fn status_of(&self, request: reqwest::Request) -> Result<reqwest::StatusCode, HttpFailure> {
        let log = ExchangeLog::start(&request);
        // A limit of 0 ends the exchange at the first byte of a body, with the status known.
        let result = match self.blocking(request, 0) {
            Err((Some(status), HttpFailure::TooLarge(_))) => Ok(Reply {
                status,
                headers: reqwest::header::HeaderMap::new(),
                body: Vec::new(),
            }),
            other => other,
        };
        log.finish(result).map(|reply| reply.status)
    }

    /// One exchange on the private runtime, blocking the calling thread.
    fn blocking(&self, request: reqwest::Request, limit: u64) -> Exchange {
        let io = self.runtime().map_err(|e| (None, e))?;
        let exchange = self.timed(&self.inner.pooled, request, limit);
        // A caller inside an async runtime gets its own thread: a runtime cannot be driven
        // from inside another.
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| io.block_on(exchange))
                    .join()
                    .unwrap_or_else(|_| Err((None, panicked())))
            })
        } else {
            io.block_on(exchange)
        }
    }

    /// [`Http::execute`], awaited on the caller's runtime (see the module docs), which must
    /// have I/O enabled (the plugin runtime does: `runtime::sandbox`).
    pub async fn send(&self, request: reqwest::Request, limit: u64) -> Result<Reply, HttpFailure> {
        let log = ExchangeLog::start(&request);
        let result = match tokio::runtime::Handle::try_current() {
            Ok(here) => {
                let clients = self.pool_of(here.id());
                // Let the runtime poll its I/O once: a kept-alive connection the server
                // closed while this runtime was busy elsewhere is then seen closed.
                tokio::task::yield_now().await;
                self.timed(&clients, request, limit).await
            }
            // Not on a tokio runtime: the private one sends it.
            Err(_) => {
                let this = self.clone();
                let io = self.runtime()?;
                io.spawn(async move { this.timed(&this.inner.pooled, request, limit).await })
                    .await
                    .unwrap_or_else(|_| Err((None, panicked())))
            }
        };
        log.finish(result)
    }

    /// The connection pool that runtime `id` drives.
    fn pool_of(&self, id: tokio::runtime::Id) -> Arc<Clients> {
        let mut pools = self.inner.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, clients)) = pools.iter().find(|(bound, _)| *bound == id) {
            return clients.clone();
        }
        if pools.len() >= LOCAL_POOLS {
            pools.remove(0);
        }
        let clients = Arc::new(Clients::default());
        pools.push((id, clients.clone()));
        clients
    }

    /// One exchange within the total deadline.
    async fn timed(&self, clients: &Clients, request: reqwest::Request, limit: u64) -> Exchange {
        match tokio::time::timeout(self.timeout(), self.exchange(clients, request, limit)).await {
            Ok(result) => result,
            Err(_elapsed) => Err((
                None,
                HttpFailure::Timeout(self.timeout_secs, self.timeout_set_by),
            )),
        }
    }

    /// Sends `request` on the caller's runtime (a plugin's) and returns the answer once its
    /// head has arrived, the body unread: the caller reads it as it comes. The total deadline
    /// bounds connecting and the head only; what bounds the body is the caller's (a plugin
    /// run's deadline). Logs the exchange's head.
    ///
    /// With `body_sent` (a body the caller streams, which may take far longer than the
    /// deadline to send), the deadline starts when it resolves: the head must come that long
    /// after the body's end. A `body_sent` that fails (the body was abandoned) never starts it.
    pub async fn send_streaming(
        &self,
        request: reqwest::Request,
        body_sent: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> Result<reqwest::Response, HttpFailure> {
        let log = ExchangeLog::start(&request);
        let here = tokio::runtime::Handle::try_current()
            .map_err(|_| HttpFailure::Other("a streamed exchange needs a runtime".into()))?;
        let clients = self.pool_of(here.id());
        tokio::task::yield_now().await;
        let timeout = self.timeout();
        let deadline = async move {
            if let Some(sent) = body_sent
                && sent.await.is_err()
            {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(timeout).await;
        };
        let mut head = std::pin::pin!(self.head(&clients, request));
        let mut deadline = std::pin::pin!(deadline);
        let result = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(result) = head.as_mut().poll(cx) {
                return std::task::Poll::Ready(result);
            }
            deadline
                .as_mut()
                .poll(cx)
                .map(|()| Err(HttpFailure::Timeout(self.timeout_secs, self.timeout_set_by)))
        })
        .await;
        log.streamed(result)
    }

    /// Sends `request` and waits for the answer's head. A kept-alive connection the server
    /// closes just as a request goes out fails it before any answer: an idempotent request
    /// whose body can be sent again is sent once more, on a new connection.
    async fn head(
        &self,
        clients: &Clients,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, HttpFailure> {
        let client = self.client(clients, request.url())?;
        let idempotent = matches!(
            *request.method(),
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
        );
        let again = request.try_clone().filter(|_| idempotent);
        match (client.execute(request).await, again) {
            (Err(e), Some(again)) if closed_before_answer(&e) => {
                tracing::debug!("the server closed a kept-alive connection; sending once more");
                client.execute(again).await
            }
            (result, _) => result,
        }
        .map_err(|e| self.failure(&e))
    }

    /// One exchange: the answer's status once known travels with any later failure.
    async fn exchange(&self, clients: &Clients, request: reqwest::Request, limit: u64) -> Exchange {
        let mut response = self.head(clients, request).await.map_err(|e| (None, e))?;
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
            HttpFailure::Timeout(self.timeout_secs, self.timeout_set_by)
        } else if e.is_connect() {
            HttpFailure::Connect(chain(e))
        } else {
            HttpFailure::Other(chain(e))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn settings(dir: &std::path::Path) -> Settings {
        Settings::load(crate::paths::Paths::under(dir), None).unwrap()
    }

    /// A loopback server answering one request with `200 ok`.
    fn answer_once() -> url::Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url::Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        });
        url
    }

    #[test]
    fn every_caller_in_a_process_shares_one_client() {
        let dir = tempfile::tempdir().unwrap();
        let a = Http::for_process(&settings(dir.path())).unwrap();
        let b = Http::for_process(&settings(dir.path())).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        let probe = a.with_timeout(Duration::from_secs(3), "a test");
        assert!(
            Arc::ptr_eq(&a.inner, &probe.inner),
            "a shorter deadline, the same pool"
        );
        assert_eq!(probe.timeout(), Duration::from_secs(3));
        assert_eq!(
            a.timeout(),
            settings(dir.path()).http_options().unwrap().timeout
        );
    }

    /// A plain `http://` loopback exchange builds no TLS client and reads no roots (they cost
    /// a few milliseconds and hundreds of file operations per run).
    #[test]
    fn a_plain_loopback_exchange_reads_no_roots() {
        let http = Http::build(30, None).unwrap();
        let url = answer_once();
        let request = http
            .request(reqwest::Method::GET, url)
            .unwrap()
            .build()
            .unwrap();
        let reply = http.execute(request, 10).unwrap();
        assert_eq!(reply.body, b"ok");
        assert!(http.inner.trust.get().is_none(), "roots were read");
        assert!(http.inner.pooled.direct.get().is_none());
        assert!(http.inner.pooled.proxied.get().is_none());
    }

    /// Awaited on a runtime, the exchange runs there, on that runtime's own pool: the private
    /// runtime is never started.
    #[test]
    fn send_uses_the_callers_runtime() {
        let http = Http::build(5, None).unwrap();
        for _ in 0..2 {
            let io = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let request = http
                .request(reqwest::Method::GET, answer_once())
                .unwrap()
                .build()
                .unwrap();
            let reply = io.block_on(http.send(request, 10)).unwrap();
            assert_eq!(reply.status, reqwest::StatusCode::OK);
            let pools = http.inner.local.lock().unwrap();
            assert_eq!(pools.last().unwrap().0, io.handle().id());
        }
        assert_eq!(
            http.inner.local.lock().unwrap().len(),
            2,
            "a pool per runtime"
        );
        assert!(
            http.inner.io.get().is_none(),
            "the private runtime was started"
        );
    }

    /// `status_of` returns at the answer's head: a body that never ends (a chunk, then
    /// silence) does not hold it to the deadline, and no byte of it is kept.
    #[test]
    fn status_of_reads_the_head_and_no_body() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
            );
            // Hold the connection open, the body unfinished, longer than the deadline.
            std::thread::sleep(Duration::from_secs(6));
        });
        let http = Http::build(5, None).unwrap();
        let request = http
            .request(reqwest::Method::GET, url)
            .unwrap()
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let status = http.status_of(request).unwrap();
        assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(server);
    }

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
