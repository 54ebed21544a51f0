//! Authenticated requests to one of an environment's services (`OAUTH_SERVICE_URL`, or a
//! named one), on behalf of a plugin: the path is resolved under the service URL (it cannot leave it), the bearer token
//! is attached by the host, and on a 401 the token is discarded (only if it is still the
//! cached one), a new one acquired and the request retried once. A second 401 is an
//! authentication failure naming the env and the token endpoint. Each token is renewed at
//! most once per [`EnvSession`] (one per env in a plugin run): a service that answers 401
//! forever gets one renewal, not one per request. Requests go out on the session's one client, so a
//! run's requests share a kept-alive connection.
//!
//! What a plugin sends is checked before anything leaves: the path cannot leave the service
//! URL, not even encoded (`%2f`, `%5c`, double-encoded `%252f`, `..;` dot segments), and
//! headers that ask a proxy or framework to reroute or re-verb the request are refused.

use std::sync::Arc;

use super::cache::AccessToken;
use super::http::{Http, SERVICE_BODY_LIMIT};
use super::session::EnvSession;
use super::{AuthError, ServiceTokenError};

/// A request as a plugin asked for it (the path is relative to the service's URL).
#[derive(Debug, Clone)]
pub struct ServiceCall {
    /// One of the environment's named services; `None`: the default one.
    pub service: Option<String>,
    pub method: reqwest::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The `User-Agent` sent: the plugin that asks, `<plugin>/<version> lmi/<version>`
    /// (`runtime::state::user_agent`); `None`: lmi's own, `lmi/<version>`. A plugin cannot
    /// set the header itself (`RESERVED_HEADERS`).
    pub agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers the host sets itself (or the HTTP layer does); a plugin may not. `user-agent`
/// names the plugin to the service, so a plugin cannot pose as another.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "proxy-authorization",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "keep-alive",
    "trailer",
];

/// Headers that make a reverse proxy or web framework route, re-verb or re-attribute the
/// request (so a plugin could reach a path the URL check refused, or pose as a client
/// address): refused by name, and every `x-forwarded-*` / `x-original-*` / `x-rewrite-*`.
const ROUTING_HEADERS: &[&str] = &[
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-override-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-real-ip",
    "x-client-ip",
    "x-host",
    "x-proxyuser-ip",
    "true-client-ip",
    "client-ip",
    "cf-connecting-ip",
    "x-envoy-original-path",
    "x-middleware-subrequest",
];
const ROUTING_PREFIXES: &[&str] = &["x-forwarded-", "x-original-", "x-rewrite-"];

/// A streamed answer: its head, and the body still to read.
pub struct StreamedReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: reqwest::Response,
}

/// How one attempt sends its request and takes the answer.
enum Shape {
    /// The whole answer, read within the exchange's deadline and the body limit.
    Whole,
    /// The answer's head; its body is the caller's to read.
    Streamed,
    /// The answer's head, after a body the caller streams (it cannot be sent twice); the
    /// receiver resolves when the body has been sent whole.
    Upload(reqwest::Body, tokio::sync::oneshot::Receiver<()>),
}

enum Answer {
    Whole(ServiceReply),
    Streamed(StreamedReply),
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::Whole(r) => r.status,
            Answer::Streamed(r) => r.status,
        }
    }
}

impl EnvSession {
    /// One request to one of the environment's services, on the session's connection, with
    /// the service's token and that token's one renewal after a 401. Awaited on the caller's
    /// runtime (a plugin's): the request itself goes out there, and only a token that must be
    /// read, fetched or renewed (a file lock, the token endpoint) is waited for on a worker
    /// thread.
    pub async fn send(self: Arc<Self>, call: ServiceCall) -> Result<ServiceReply, AuthError> {
        match self.exchange(call, Shape::Whole).await? {
            Answer::Whole(reply) => Ok(reply),
            Answer::Streamed(_) => {
                Err(AuthError::InvalidRequest("a whole answer was asked".into()))
            }
        }
    }

    /// [`EnvSession::send`], returning once the answer's head has arrived (after the 401
    /// rule): its body is the caller's to read as it comes.
    pub async fn send_streaming(
        self: Arc<Self>,
        call: ServiceCall,
    ) -> Result<StreamedReply, AuthError> {
        streamed(self.exchange(call, Shape::Streamed).await?)
    }

    /// Sends `call` with `body`, which the caller streams, and returns the answer's head. A
    /// streamed body cannot be sent twice: a 401 renews the token (once per run, as for every
    /// request) for the next request and is an authentication failure saying so.
    pub async fn upload(
        self: Arc<Self>,
        call: ServiceCall,
        body: reqwest::Body,
        body_sent: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<StreamedReply, AuthError> {
        streamed(self.exchange(call, Shape::Upload(body, body_sent)).await?)
    }

    async fn exchange(
        self: Arc<Self>,
        call: ServiceCall,
        shape: Shape,
    ) -> Result<Answer, AuthError> {
        let env = self.env().to_owned();
        let service = self.service(call.service.as_deref())?;
        let what = service.describe(&env);
        let base = service.url.clone().map_err(AuthError::from)?;
        let tokens = service.tokens.clone();
        let scope_keys = service.scope_keys();
        let url = resolve(&base, &call.path)?;
        let headers = plugin_headers(&call.headers)?;
        let http = self.http()?.clone();

        let token = match tokens.token_at_hand() {
            Some(token) => token,
            None => {
                let tokens = tokens.clone();
                off_runtime(move || tokens.token()).await?
            }
        };
        let replayable = !matches!(shape, Shape::Upload(..));
        let streaming = !matches!(shape, Shape::Whole);
        let reply = attempt(&http, &call, &url, &headers, &token, &what, shape).await?;
        if reply.status() != 401 {
            return Ok(reply);
        }
        drop(reply);
        if !tokens.take_renewal() {
            return Err(ServiceTokenError::Rejected(format!(
                "{what} ({}) rejected its token (HTTP 401), and this run already renewed it once; \
                 lmi does not fetch another: check that the env's client may use this service ({scope_keys})",
                crate::logging::redact_url(&base),
            ))
            .into());
        }
        tracing::info!("{what} answered 401; renewing the token and retrying once");
        let why = format!("{what} rejected its token (HTTP 401) and a new one could not be had");
        let renewing = tokens.clone();
        let rejected = token.clone();
        let renewed = off_runtime(move || renewing.renew_after_reject(&rejected))
            .await
            .map_err(|e| match e {
                AuthError::Token(ServiceTokenError::Refused(m)) => {
                    ServiceTokenError::Refused(format!("{why}: {m}")).into()
                }
                AuthError::Token(ServiceTokenError::Unavailable(m)) => {
                    ServiceTokenError::Unavailable(format!("{why}: {m}")).into()
                }
                AuthError::Http { context, cause } => AuthError::Http {
                    context: format!("{why}: {context}"),
                    cause,
                },
                other => other,
            })?;
        if !replayable {
            return Err(ServiceTokenError::Rejected(format!(
                "{what} ({}) rejected its token (HTTP 401) on a streamed upload, which cannot be sent twice; \
                 lmi renewed the token: send the upload again",
                crate::logging::redact_url(&base),
            ))
            .into());
        }
        let shape = if streaming {
            Shape::Streamed
        } else {
            Shape::Whole
        };
        let reply = attempt(&http, &call, &url, &headers, &renewed, &what, shape).await?;
        if reply.status() == 401 {
            return Err(ServiceTokenError::Rejected(format!(
                "{what} ({}) rejected a newly issued token from {} (HTTP 401 twice): \
                 check that the env's client may use this service ({scope_keys})",
                crate::logging::redact_url(&base),
                tokens.source()
            ))
            .into());
        }
        Ok(reply)
    }
}

fn streamed(answer: Answer) -> Result<StreamedReply, AuthError> {
    match answer {
        Answer::Streamed(reply) => Ok(reply),
        Answer::Whole(_) => Err(AuthError::InvalidRequest(
            "a streamed answer was asked".into(),
        )),
    }
}

/// Token work that may block (the cache file and its lock, the token endpoint), on a worker.
async fn off_runtime(
    work: impl FnOnce() -> Result<AccessToken, AuthError> + Send + 'static,
) -> Result<AccessToken, AuthError> {
    crate::blocking::off_runtime(work)
        .await
        .unwrap_or_else(|e| {
            Err(ServiceTokenError::Unavailable(format!("cannot get the service token: {e}")).into())
        })
}

async fn attempt(
    http: &Http,
    call: &ServiceCall,
    url: &url::Url,
    headers: &reqwest::header::HeaderMap,
    token: &AccessToken,
    what: &str,
    shape: Shape,
) -> Result<Answer, AuthError> {
    let context = || {
        format!(
            "{what} ({} {})",
            call.method,
            crate::logging::redact_url(url)
        )
    };
    let failed = |cause| AuthError::Http {
        context: context(),
        cause,
    };
    let mut builder = http
        .request(call.method.clone(), url.clone())
        .map_err(failed)?
        .headers(headers.clone())
        .bearer_auth(token.expose());
    if let Some(agent) = call
        .agent
        .as_deref()
        .and_then(|a| reqwest::header::HeaderValue::from_str(a).ok())
    {
        builder = builder.header(reqwest::header::USER_AGENT, agent);
    }
    if let Some(body) = &call.body {
        builder = builder.body(body.clone());
    }
    let (streamed_body, body_sent) = match shape {
        Shape::Upload(body, sent) => {
            builder = builder.body(body);
            (true, Some(sent))
        }
        Shape::Whole => (false, None),
        Shape::Streamed => (true, None),
    };
    let request = builder
        .build()
        .map_err(|e| AuthError::InvalidRequest(format!("cannot build the request: {e}")))?;
    if !streamed_body {
        let reply = http
            .send(request, SERVICE_BODY_LIMIT)
            .await
            .map_err(failed)?;
        return Ok(Answer::Whole(ServiceReply {
            status: reply.status.as_u16(),
            headers: header_list(&reply.headers),
            body: reply.body,
        }));
    }
    let response = http
        .send_streaming(request, body_sent)
        .await
        .map_err(failed)?;
    Ok(Answer::Streamed(StreamedReply {
        status: response.status().as_u16(),
        headers: header_list(response.headers()),
        body: response,
    }))
}

/// The answer's headers as a plugin gets them (values that are not text left out).
fn header_list(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// `path` (with an optional query) under `base`. Absolute URLs, scheme-relative paths and
/// dot segments that climb out of the base path are refused.
pub fn resolve(base: &url::Url, path: &str) -> Result<url::Url, AuthError> {
    let refuse = |why: &str| AuthError::InvalidRequest(format!("path `{path}` {why}"));
    if path.contains("://") || path.starts_with("//") || path.contains('\\') {
        return Err(refuse("must be relative to the service URL"));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(refuse("contains spaces or control characters"));
    }
    let path = path.split('#').next().unwrap_or_default();
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    for segment in p.split('/') {
        check_segment(segment).map_err(refuse)?;
    }
    let base_path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&format!("{base_path}/{}", p.trim_start_matches('/')));
    url.set_query(query.filter(|q| !q.is_empty()));
    let inside = url.path() == base_path
        || url.path().starts_with(&format!("{base_path}/"))
        || (base_path.is_empty() && url.path().starts_with('/'));
    if !inside || url.origin() != base.origin() {
        return Err(refuse("leaves the service URL"));
    }
    Ok(url)
}

/// How many rounds of percent-decoding a segment is examined through (`%25252f` is `/` after
/// three).
const DECODE_ROUNDS: usize = 4;

/// One path segment as a plugin wrote it. Servers and proxies disagree on whether `%2f` is a
/// separator, whether they decode twice, and whether `..;x` is a dot segment (Tomcat): so a
/// segment that decodes, in any number of rounds, to a separator or to a dot segment that
/// was not written plainly is refused rather than guessed about.
fn check_segment(segment: &str) -> Result<(), &'static str> {
    let mut decoded = segment.to_owned();
    let mut stable = false;
    for _ in 0..DECODE_ROUNDS {
        if decoded.contains('/') || decoded.contains('\\') {
            return Err("contains an encoded `/` or `\\` (%2f, %5c, or encoded twice)");
        }
        let next = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if next == decoded {
            stable = true;
            break;
        }
        decoded = next;
    }
    if !stable || decoded.contains('/') || decoded.contains('\\') {
        return Err("is encoded more times than lmi will decode");
    }
    let bare = decoded.split(';').next().unwrap_or_default();
    let plain_dots = segment == "." || segment == "..";
    if (bare == "." || bare == "..") && !plain_dots {
        return Err("has an encoded or `;`-parameterised dot segment (`%2e%2e`, `..;`)");
    }
    Ok(())
}

/// Whether a plugin may not set header `lname` (lower case).
fn is_forbidden_header(lname: &str) -> bool {
    RESERVED_HEADERS.contains(&lname)
        || ROUTING_HEADERS.contains(&lname)
        || ROUTING_PREFIXES.iter().any(|p| lname.starts_with(p))
}

fn plugin_headers(headers: &[(String, String)]) -> Result<reqwest::header::HeaderMap, AuthError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let lname = name.to_ascii_lowercase();
        if is_forbidden_header(&lname) {
            return Err(AuthError::InvalidRequest(format!(
                "header `{}` is set by lmi or would reroute the request, and may not be given by a plugin",
                crate::text::line(name, 80)
            )));
        }
        let n = HeaderName::from_bytes(lname.as_bytes()).map_err(|_| {
            AuthError::InvalidRequest(format!("`{name}` is not a valid header name"))
        })?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            AuthError::InvalidRequest(format!("header `{name}` has an invalid value"))
        })?;
        map.append(n, v);
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(base: &str, path: &str) -> Result<String, String> {
        resolve(&url::Url::parse(base).unwrap(), path)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn paths_resolve_under_the_service_url() {
        assert_eq!(
            r("http://h:1/api", "v1/items?x=1").unwrap(),
            "http://h:1/api/v1/items?x=1"
        );
        assert_eq!(
            r("http://h:1/api/", "/v1/items").unwrap(),
            "http://h:1/api/v1/items"
        );
        assert_eq!(r("http://h:1", "whoami").unwrap(), "http://h:1/whoami");
        assert_eq!(r("http://h:1/api", "a/../b").unwrap(), "http://h:1/api/b");
        assert!(r("http://h:1/api", "../admin").is_err());
        assert!(r("http://h:1/api", "a/../../admin").is_err());
        assert!(r("http://h:1/api", "%2e%2e/admin").is_err());
        assert!(r("http://h:1/api", "http://evil/x").is_err());
        assert!(r("http://h:1/api", "//evil/x").is_err());
        assert!(r("http://h:1/api", "a b").is_err());
    }

    #[test]
    fn reserved_headers_are_refused() {
        assert!(plugin_headers(&[("Authorization".into(), "Bearer x".into())]).is_err());
        assert!(plugin_headers(&[("host".into(), "evil".into())]).is_err());
        assert!(plugin_headers(&[("User-Agent".into(), "other/1.0".into())]).is_err());
        assert!(plugin_headers(&[("accept".into(), "application/json".into())]).is_ok());
    }

    /// R1.12: encoded separators and parameterised dot segments never reach the service.
    #[test]
    fn encoded_traversal_is_refused() {
        let base = "http://h:1/api";
        for path in [
            "..%2f..%2fadmin",
            "..%2F..%2Fadmin",
            "a%2fb",
            "..%5c..%5cadmin",
            "a%5Cb",
            "..%252f..%252fadmin",
            "..%25252fadmin",
            "x/..;/..;/admin",
            "x/..;jsessionid=1/admin",
            "x/.;/admin",
            "%252e%252e/admin",
            "x/%2e%2e;/admin",
        ] {
            let got = r(base, path);
            assert!(got.is_err(), "{path} was allowed: {got:?}");
        }
        // Ordinary paths, matrix parameters on real segments, and encoded characters in the
        // query still work.
        assert_eq!(
            r(base, "v1/items;v=2/x?next=%2Fa%2Fb").unwrap(),
            "http://h:1/api/v1/items;v=2/x?next=%2Fa%2Fb"
        );
        assert_eq!(
            r(base, "v1/caf%C3%A9").unwrap(),
            "http://h:1/api/v1/caf%C3%A9"
        );
    }

    /// R1.12: headers that reroute, re-verb or re-attribute a request are refused, the
    /// whole family, in any case.
    #[test]
    fn routing_override_headers_are_refused() {
        for name in [
            "X-Original-URL",
            "x-rewrite-url",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "x-forwarded-prefix",
            "Forwarded",
            "X-HTTP-Method-Override",
            "X-Method-Override",
            "X-HTTP-Method",
            "X-Real-IP",
            "X-Original-Host",
            "Upgrade",
        ] {
            let got = plugin_headers(&[(name.into(), "/admin".into())]);
            assert!(got.is_err(), "{name} was allowed");
        }
        assert!(plugin_headers(&[("x-request-id".into(), "abc".into())]).is_ok());
    }
}
