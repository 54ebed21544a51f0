//! A plugin's outbound HTTP (`wasi:http/outgoing-handler`, contract 0.2): requests to the
//! origins the user granted in `allowed_hosts`, and nowhere else, without lmi's credentials.
//!
//! wasmtime-wasi-http turns the plugin's calls into an `http::Request`; lmi sends it here
//! ([`Hooks::send_request`]), in this order, and refuses at the first step that fails,
//! before any connection is made:
//!
//! 1. the URL's scheme, host and port must match a granted origin (no user information; any
//!    `Host` header must name the URL's authority, and the one sent is the checked origin);
//! 2. a host *name* is resolved once, and every address it resolves to must be global
//!    ([`address::is_global`]); a literal address is used as granted;
//! 3. lmi connects to exactly those checked addresses (no second lookup, so the DNS cannot
//!    swap in another address between the check and the connection), with TLS against lmi's
//!    own roots (`tls::Trust`: the OS store and `LMI_CA_BUNDLE`) and the host name as SNI;
//! 4. the request goes out on its own HTTP/1.1 connection, with the headers the plugin set and
//!    nothing of lmi's (no token, no cookie, no proxy credential) but a `User-Agent` naming
//!    the plugin when it set none; a redirect is handed to the plugin as it came, never
//!    followed.
//!
//! Connecting (name lookup, TCP and TLS) gets at most [`CONNECT_TIMEOUT`], the answer's
//! first byte and every later silence at most `LMI_HTTP_TIMEOUT_SECS` (a plugin may ask for
//! less), and the run's deadline bounds it all. Bodies stream both ways (wasmtime-wasi-http
//! hands the plugin's outgoing body to hyper as it is written, and the answer's body to the
//! plugin as it arrives): none is held whole. A 0.2 plugin's answer is cut at
//! [`RESPONSE_BODY_LIMIT`], as 0.2 promised; a 0.3 plugin's is not. Nothing here runs, and no roots are read, unless the plugin sends a request.

mod address;
mod body;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::state::{HostState, State};
use crate::plugins::origin::{AllowedHost, RequestHost, default_port};

pub use address::is_global;

/// Connecting to an allowed origin (name lookup, TCP, TLS, HTTP handshake) gets at most this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(crate::auth::http::CONNECT_TIMEOUT_SECS);
/// The largest response body a 0.2 plugin is handed, as for its service requests.
pub const RESPONSE_BODY_LIMIT: u64 = crate::auth::http::SERVICE_BODY_LIMIT;
/// Requests of one run that may be under way at once; more wait for one to finish.
const IN_FLIGHT: usize = 16;
/// Refusals a run reports on stderr; further ones only go to the log.
const REFUSALS_SHOWN: usize = 8;

/// The store's `wasi:http` state: the context wasmtime-wasi-http keeps, and lmi's policy,
/// built from the plugin's grants on the first `wasi:http` call of the run.
#[derive(Default)]
pub struct Outbound {
    ctx: WasiHttpCtx,
    hooks: Option<Hooks>,
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let host = &self.host;
        let hooks = self.http.hooks.get_or_insert_with(|| Hooks {
            policy: Arc::new(Policy::new(host)),
        });
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks,
        }
    }
}

struct Hooks {
    policy: Arc<Policy>,
}

/// What a run's requests may do, fixed when the first one is made.
struct Policy {
    plugin: String,
    /// Sent when the plugin sets no `User-Agent` (`state::user_agent`).
    user_agent: Option<http::HeaderValue>,
    /// The granted origins; the manifest's entries are canonical, so each parses.
    allowed: Vec<AllowedHost>,
    /// The first byte of an answer, and every later silence.
    read_timeout: Duration,
    /// The most of an answer's body the plugin may read (contract 0.2's cap; 0.3 streams).
    response_limit: u64,
    ca_bundle: Option<String>,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    in_flight: Arc<tokio::sync::Semaphore>,
    refusals: AtomicUsize,
}

impl Policy {
    fn new(host: &HostState) -> Self {
        let allowed = host
            .permissions
            .allowed_hosts
            .iter()
            .filter_map(|entry| AllowedHost::parse(entry).ok())
            .collect();
        let read_timeout =
            host.settings
                .http_options()
                .map(|o| o.timeout)
                .unwrap_or(Duration::from_secs(
                    crate::settings::HttpOptions::DEFAULT_TIMEOUT_SECS,
                ));
        Self {
            plugin: host.plugin.clone(),
            user_agent: http::HeaderValue::from_str(&host.user_agent).ok(),
            allowed,
            read_timeout,
            response_limit: if host.contract >= super::bindings::Contract::V0_3 {
                u64::MAX
            } else {
                RESPONSE_BODY_LIMIT
            },
            ca_bundle: host
                .settings
                .global(crate::tls::CA_BUNDLE_KEY)
                .filter(|b| !b.is_empty())
                .map(str::to_owned),
            tls: OnceLock::new(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            refusals: AtomicUsize::new(0),
        }
    }

    /// A refused request: the plugin gets `error`, the user a warning saying why (the first
    /// few of a run; the log gets every one).
    fn refuse(&self, origin: &str, why: &str, error: Error) -> Error {
        let n = self.refusals.fetch_add(1, Ordering::Relaxed);
        if n < REFUSALS_SHOWN {
            tracing::warn!("plugin {} may not reach {origin}: {why}", self.plugin);
        } else {
            tracing::info!("plugin {} may not reach {origin}: {why}", self.plugin);
        }
        error
    }

    /// The origins granted, for messages.
    fn granted(&self) -> String {
        if self.allowed.is_empty() {
            "it was granted none".to_owned()
        } else {
            let list: Vec<String> = self.allowed.iter().map(ToString::to_string).collect();
            format!("it may reach {}", list.join(", "))
        }
    }

    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        self.tls
            .get_or_init(|| {
                crate::tls::Trust::for_process(self.ca_bundle.as_deref())
                    .map_err(|e| e.to_string())?
                    .rustls_config()
            })
            .clone()
    }
}

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let policy = self.policy.clone();
        Box::new(async move { send(policy, request, options).await })
    }
}

/// Where a checked request goes: the origin as checked, and the addresses to connect to.
struct Target {
    https: bool,
    host: RequestHost,
    /// `host[:port]` as the `Host` header sends it (the port only when not the default).
    authority: String,
    addresses: Vec<SocketAddr>,
}

type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

async fn send(
    policy: Arc<Policy>,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, Connection), Error> {
    // The head alone is checked (the body is not `Sync`, and is not looked at).
    let (mut head, body) = request.into_parts();
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT));
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .map_or(policy.read_timeout, |t| t.min(policy.read_timeout));
    let between_bytes = options
        .and_then(|o| o.between_bytes_timeout)
        .map_or(policy.read_timeout, |t| t.min(policy.read_timeout))
        .max(Duration::from_millis(1));
    let log_url = url_for_log(&head.uri);
    let method = head.method.clone();

    // The slot is taken before the name lookup: a lookup runs on a blocking thread that a
    // timeout does not stop, so lookups count against the run's in-flight limit too.
    let permit = policy
        .in_flight
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::InternalError(Some("no request slot".into())))?;
    let target = tokio::time::timeout(connect_timeout, check(&policy, &head))
        .await
        .map_err(|_| Error::DnsTimeout)??;
    // The trusted roots are read (the OS store, `LMI_CA_BUNDLE`) on a worker, within the
    // connect deadline: never on the run's own thread, where a slow file would hold the
    // run's deadline too.
    if target.https && policy.tls.get().is_none() {
        let loading = policy.clone();
        tokio::time::timeout(
            connect_timeout,
            crate::blocking::off_runtime(move || drop(loading.tls_config())),
        )
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(|_| Error::ConfigurationError)?;
    }
    let sender = tokio::time::timeout(connect_timeout, connect(&policy, &target))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let (mut sender, conn) = sender;

    // The request line carries the path and query only; the `Host` header names the origin
    // that was checked and connected to.
    let path = head
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    head.uri = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    let host_value =
        http::HeaderValue::from_str(&target.authority).map_err(|_| Error::HttpRequestUriInvalid)?;
    head.headers.insert(http::header::HOST, host_value);
    if !head.headers.contains_key(http::header::USER_AGENT)
        && let Some(agent) = &policy.user_agent
    {
        head.headers.insert(http::header::USER_AGENT, agent.clone());
    }
    let request = http::Request::from_parts(head, body);

    let started = std::time::Instant::now();
    let mut conn = Some(conn);
    let mut exchange = std::pin::pin!(tokio::time::timeout(
        first_byte,
        sender.send_request(request)
    ));
    // Drive the connection while waiting for the answer's head.
    let answer = std::future::poll_fn(|cx| {
        use std::task::Poll;
        if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if let Some(c) = conn.as_mut()
            && let Poll::Ready(done) = std::pin::Pin::new(c).poll(cx)
        {
            conn = None;
            if let Err(e) = done {
                return Poll::Ready(Ok(Err(e)));
            }
            return exchange.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await;
    let response = match answer {
        Err(_elapsed) => {
            tracing::info!(
                "plugin {}: HTTP {method} {log_url} had no answer within {first_byte:?}",
                policy.plugin
            );
            return Err(Error::ConnectionReadTimeout);
        }
        Ok(Err(e)) => {
            tracing::info!(
                "plugin {}: HTTP {method} {log_url} failed: {e}",
                policy.plugin
            );
            return Err(Error::Hyper(e));
        }
        Ok(Ok(response)) => response,
    };
    tracing::info!(
        "plugin {}: HTTP {method} {log_url} -> {} ({} ms)",
        policy.plugin,
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    // An answer that announces more than a plugin may read is refused with its head.
    let announced = http_body::Body::size_hint(response.body()).lower();
    let limit = policy.response_limit;
    if announced > limit {
        tracing::info!(
            "plugin {}: HTTP {method} {log_url}: the answer announces {announced} bytes, over the limit of {limit}",
            policy.plugin
        );
        return Err(Error::HttpResponseBodySize(Some(announced)));
    }
    let response =
        response.map(|incoming| body::Capped::new(incoming, limit, between_bytes).boxed_unsync());
    // The connection lives until the body is read (or dropped); the slot with it.
    let connection: Connection = Box::new(async move {
        let _permit = permit;
        match conn {
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::Hyper(e)
                }
            }),
            None => Ok(()),
        }
    });
    Ok((response, connection))
}

/// Step 1 and 2: the origin against the grants, then the addresses it reaches.
async fn check(policy: &Policy, request: &http::request::Parts) -> Result<Target, Error> {
    let uri = &request.uri;
    let https = match uri.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => return Err(Error::HttpProtocolError),
    };
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    // Never user information (`user:password@`) in what is shown or logged.
    let hostport = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, hostport)| hostport);
    let shown = crate::text::line(hostport, 200);
    let origin = format!("{}://{shown}", if https { "https" } else { "http" });
    if authority.as_str().contains('@') {
        return Err(policy.refuse(
            &origin,
            "the address holds user information (`user@`), which lmi never sends",
            Error::HttpRequestDenied,
        ));
    }
    for host in request.headers.get_all(http::header::HOST) {
        if host.as_bytes() != authority.as_str().as_bytes() {
            return Err(policy.refuse(
                &origin,
                "its `Host` header names another host than its URL",
                Error::HttpRequestDenied,
            ));
        }
    }
    let Some(port) = request_port(authority, https) else {
        return Err(Error::HttpRequestUriInvalid);
    };
    let Some(host) = RequestHost::parse(authority.host()) else {
        return Err(Error::HttpRequestUriInvalid);
    };
    let Some(entry) = policy
        .allowed
        .iter()
        .find(|entry| entry.matches(https, &host, port))
    else {
        return Err(policy.refuse(
            &origin,
            &format!(
                "it is not among the origins granted in `allowed_hosts` ({})",
                policy.granted()
            ),
            Error::HttpRequestDenied,
        ));
    };
    let name = match &host {
        RequestHost::Name(name) => name.clone(),
        RequestHost::Address(IpAddr::V4(ip)) => ip.to_string(),
        RequestHost::Address(IpAddr::V6(ip)) => format!("[{ip}]"),
    };
    let authority = if port == default_port(https) {
        name.clone()
    } else {
        format!("{name}:{port}")
    };
    let addresses = match &host {
        // A literal address is used as granted, private or not.
        RequestHost::Address(ip) => vec![SocketAddr::new(*ip, port)],
        RequestHost::Name(name) => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| {
                    tracing::info!("plugin {}: cannot resolve {name}: {e}", policy.plugin);
                    Error::DnsError {
                        rcode: Some("no address for this name".into()),
                        info_code: None,
                    }
                })?
                .collect();
            if found.is_empty() {
                return Err(Error::DestinationNotFound);
            }
            if let Some(bad) = found.iter().find(|a| !is_global(a.ip())) {
                debug_assert!(!entry.is_literal_address());
                return Err(policy.refuse(
                    &origin,
                    &format!(
                        "{name} resolves to {}, a loopback, private or other non-public address; only an `allowed_hosts` entry that is that literal address reaches one",
                        bad.ip()
                    ),
                    Error::DestinationIpProhibited,
                ));
            }
            found
        }
    };
    Ok(Target {
        https,
        host,
        authority,
        addresses,
    })
}

/// The port an authority (without `user@`) names: the scheme's default when it names none,
/// `None` when what follows the host is not a port from 1 to 65535. (`Authority::port`
/// would read `host:99999` as no port, that is the default one.)
fn request_port(authority: &http::uri::Authority, https: bool) -> Option<u16> {
    let after_host = authority.as_str().get(authority.host().len()..)?;
    if after_host.is_empty() {
        return Some(default_port(https));
    }
    let digits = after_host.strip_prefix(':')?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u16>().ok().filter(|&p| p != 0)
}

type Sender = (
    hyper::client::conn::http1::SendRequest<WasiBody>,
    hyper::client::conn::http1::Connection<
        wasmtime_wasi_http::io::TokioIo<Box<dyn Stream>>,
        WasiBody,
    >,
);

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Step 3: a connection to one of the checked addresses, TLS for `https`, and the HTTP/1.1
/// handshake.
async fn connect(policy: &Policy, target: &Target) -> Result<Sender, Error> {
    let mut last = None;
    let mut tcp = None;
    for address in &target.addresses {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        if let Some(e) = &last {
            tracing::info!(
                "plugin {}: cannot connect to {}: {e}",
                policy.plugin,
                target.authority
            );
        }
        return Err(Error::ConnectionRefused);
    };
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if target.https {
        let config = policy.tls_config().map_err(|e| {
            tracing::warn!("{e}");
            Error::ConfigurationError
        })?;
        let server_name = match &target.host {
            RequestHost::Name(name) => rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|_| Error::HttpRequestUriInvalid)?,
            RequestHost::Address(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
        };
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| tls_error(policy, &target.authority, e))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    hyper::client::conn::http1::Builder::new()
        .handshake(wasmtime_wasi_http::io::TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)
}

/// A failed TLS handshake: a refused certificate is the plugin's `tls-certificate-error`,
/// and the user learns why, as for lmi's own connections.
fn tls_error(policy: &Policy, authority: &str, e: std::io::Error) -> Error {
    let certificate = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    tracing::warn!(
        "plugin {}: the TLS connection to {authority} failed: {}{}",
        policy.plugin,
        crate::text::line(&e.to_string(), 300),
        if certificate {
            " (lmi trusts the OS trust store and LMI_CA_BUNDLE)"
        } else {
            ""
        }
    );
    if certificate {
        Error::TlsCertificateError
    } else {
        Error::TlsProtocolError
    }
}

/// Scheme, host and path of a request, without its query, as every exchange is logged.
fn url_for_log(uri: &http::Uri) -> String {
    match url::Url::parse(&uri.to_string()) {
        Ok(url) => crate::logging::url_for_log(&url),
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_the_one_written_or_the_schemes() {
        let port = |a: &str, https| request_port(&a.parse().unwrap(), https);
        assert_eq!(port("example.com", true), Some(443));
        assert_eq!(port("example.com", false), Some(80));
        assert_eq!(port("example.com:8443", true), Some(8443));
        assert_eq!(port("[::1]", false), Some(80));
        assert_eq!(port("[::1]:8080", false), Some(8080));
        // Not read as "no port", which would mean the default one.
        assert_eq!(port("example.com:99999", false), None);
        assert_eq!(port("example.com:0", false), None);
        assert_eq!(port("example.com:", false), None);
        assert_eq!(port("[::1]:", false), None);
    }
}
