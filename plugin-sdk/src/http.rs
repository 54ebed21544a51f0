//! Plain HTTP to the public origins a plugin's manifest lists in `allowed_hosts`, through the
//! standard `wasi:http/outgoing-handler` (contract 0.2 and later).
//!
//! lmi sends these requests **without any of its credentials**: no service token, no cookie,
//! nothing the user configured. It refuses, before connecting, a request to an origin the
//! user did not grant, a host name that resolves to a loopback or private address, and it
//! never follows a redirect (the plugin gets the `3xx` as it came). For the environment's
//! own service, with lmi's token, use [`Context::send_request`](crate::Context::send_request).
//!
//! ```toml
//! [permissions]
//! allowed_hosts = ["https://www.githubstatus.com", "https://*.statuspage.io"]
//! ```
//!
//! One call for the simple case, [`get`]; [`send`] for any [`Request`]. To unit-test the
//! command natively, write it against [`&dyn Client`](Client) and hand it a [`MockClient`]:
//!
//! ```
//! use lmi_plugin_sdk::http::{self, Client, MockClient};
//! use lmi_plugin_sdk::{HostError, Response};
//!
//! fn status(client: &dyn Client) -> Result<String, HostError> {
//!     let response = client.get("https://www.githubstatus.com/api/v2/status.json")?;
//!     Ok(format!("{} ({} bytes)", response.status, response.body.len()))
//! }
//!
//! // In the plugin: `status(&http::Wasi)`. In a test:
//! let mock = MockClient::new().with_response(
//!     "https://www.githubstatus.com/api/v2/status.json",
//!     Response::json(200, r#"{"status":{"indicator":"none"}}"#),
//! );
//! assert_eq!(status(&mock).unwrap(), "200 (31 bytes)");
//! assert_eq!(mock.requests()[0].url, "https://www.githubstatus.com/api/v2/status.json");
//! assert!(status(&MockClient::new()).is_err());
//! ```
//!
//! The component then imports `wasi:http/outgoing-handler@0.2.x`; a plugin that never calls
//! this module does not (and pays nothing for it).

use std::cell::RefCell;

use crate::{HostError, Method, Response};

/// An outgoing request to an absolute `http://` or `https://` URL.
///
/// ```
/// use lmi_plugin_sdk::http::Request;
/// use lmi_plugin_sdk::Method;
///
/// let request = Request::post("https://api.example.com/v1/echo")
///     .with_header("content-type", "text/plain")
///     .with_body("hi");
/// assert_eq!(request.method, Method::Post);
/// assert_eq!(request.body, b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL: `https://host[:port]/path?query`.
    pub url: String,
    /// Headers to send, in order. lmi refuses the ones only it may set (`host`,
    /// `connection`, `transfer-encoding`, `proxy-*` …).
    pub headers: Vec<(String, String)>,
    /// The body (empty: none).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::http::Request::get("https://api.example.com/");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Get);
    /// ```
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Something that sends [`Request`]s: [`Wasi`] inside lmi, [`MockClient`] in native tests.
pub trait Client {
    /// Sends `request` and reads the whole answer. Any HTTP status is a [`Response`]; a
    /// refusal by lmi is [`HostError::Denied`], a failure to get an answer
    /// [`HostError::Network`], a malformed request [`HostError::InvalidRequest`].
    fn send(&self, request: Request) -> Result<Response, HostError>;

    /// `GET url`.
    fn get(&self, url: &str) -> Result<Response, HostError> {
        self.send(Request::get(url))
    }
}

/// The real client: `wasi:http/outgoing-handler`, answered by lmi. Natively (unit tests)
/// every request fails: use a [`MockClient`] there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wasi;

// `#[inline]` on everything that touches the bindings: compiled only into a plugin that
// calls it, so no other plugin links the wasi:http bindings (or their WIT, which would move
// its WASI imports to the bindings' version).
impl Client for Wasi {
    #[inline]
    fn send(&self, request: Request) -> Result<Response, HostError> {
        let url = Url::parse(&request.url)?;
        #[cfg(target_arch = "wasm32")]
        {
            wasi::send(&request, &url)
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = url;
            Err(HostError::Network(format!(
                "{} {}: wasi:http is only available inside lmi; in native tests, use http::MockClient",
                request.method, request.url
            )))
        }
    }
}

/// `GET url` through [`Wasi`].
///
/// ```no_run
/// # fn main() -> Result<(), lmi_plugin_sdk::HostError> {
/// let response = lmi_plugin_sdk::http::get("https://www.githubstatus.com/api/v2/status.json")?;
/// println!("{}", response.text());
/// # Ok(())
/// # }
/// ```
#[inline]
pub fn get(url: &str) -> Result<Response, HostError> {
    Wasi.get(url)
}

/// Sends `request` through [`Wasi`].
#[inline]
pub fn send(request: Request) -> Result<Response, HostError> {
    Wasi.send(request)
}

/// A [`Client`] for native unit tests: answers each URL (compared whole, query included)
/// with what it was given and records every request; an unknown URL fails with a
/// [`HostError::Network`] naming it, so a test never reaches a real server.
///
/// ```
/// use lmi_plugin_sdk::http::{Client, MockClient, Request};
/// use lmi_plugin_sdk::{HostError, Response};
///
/// let mock = MockClient::new()
///     .with_response("https://api.example.com/a", Response::new(302, "").with_header("location", "https://evil.example/"))
///     .with_error("https://api.example.com/b", HostError::Denied("not in allowed_hosts".into()));
/// assert_eq!(mock.get("https://api.example.com/a").unwrap().status, 302);
/// assert!(matches!(mock.get("https://api.example.com/b"), Err(HostError::Denied(_))));
/// assert!(matches!(mock.get("https://api.example.com/c"), Err(HostError::Network(_))));
/// assert_eq!(mock.requests().len(), 3);
/// ```
#[derive(Default)]
pub struct MockClient {
    answers: Vec<(String, Result<Response, HostError>)>,
    requests: RefCell<Vec<Request>>,
}

impl MockClient {
    /// A client with no answers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers requests to `url` with `response`.
    pub fn with_response(mut self, url: impl Into<String>, response: Response) -> Self {
        self.answers.push((url.into(), Ok(response)));
        self
    }

    /// Fails requests to `url` with `error`.
    pub fn with_error(mut self, url: impl Into<String>, error: HostError) -> Self {
        self.answers.push((url.into(), Err(error)));
        self
    }

    /// Every request sent so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.borrow().clone()
    }
}

impl Client for MockClient {
    fn send(&self, request: Request) -> Result<Response, HostError> {
        Url::parse(&request.url)?;
        let answer = self
            .answers
            .iter()
            .find(|(url, _)| *url == request.url)
            .map(|(_, answer)| {
                let line = request.line();
                answer.clone().map(|response| response.answering(line))
            })
            .unwrap_or_else(|| {
                Err(HostError::Network(format!(
                    "MockClient has no answer for {} {}",
                    request.method, request.url
                )))
            });
        self.requests.borrow_mut().push(request);
        answer
    }
}

/// The parts of an absolute URL that `wasi:http` takes apart.
#[derive(Debug, PartialEq, Eq)]
struct Url {
    https: bool,
    /// `host[:port]`, as written.
    authority: String,
    /// `/path?query`, without a fragment.
    path_and_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Self, HostError> {
        let invalid = |why: &str| HostError::InvalidRequest(format!("`{url}`: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not an absolute URL (https://host/path)"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "user information (`user@`) is not sent: lmi never attaches credentials to these requests",
            ));
        }
        let tail = tail.split('#').next().unwrap_or_default();
        let path_and_query = match tail.chars().next() {
            None => "/".to_owned(),
            Some('?') => format!("/{tail}"),
            Some(_) => tail.to_owned(),
        };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            path_and_query,
        })
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi {
    use super::{Request, Url};
    use crate::{HostError, Method, Response};
    use wasip2::http::{outgoing_handler, types as t};
    use wasip2::io::streams::StreamError;

    /// Largest write to the request body stream (the host accepts at least this much).
    const CHUNK: usize = 4096;

    #[inline]
    pub(super) fn send(request: &Request, url: &Url) -> Result<Response, HostError> {
        let headers: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone().into_bytes()))
            .collect();
        let fields = t::Fields::from_list(&headers).map_err(|e| {
            HostError::InvalidRequest(match e {
                t::HeaderError::Forbidden => format!(
                    "{}: lmi sets these headers itself and refuses them from a plugin (host, connection, transfer-encoding, proxy-*, …)",
                    names(request)
                ),
                _ => format!("{}: a header name or value is not valid", names(request)),
            })
        })?;
        let outgoing = t::OutgoingRequest::new(fields);
        let invalid = |what: &str| HostError::InvalidRequest(format!("{}: {what}", request.url));
        outgoing
            .set_method(&match request.method {
                Method::Get => t::Method::Get,
                Method::Head => t::Method::Head,
                Method::Post => t::Method::Post,
                Method::Put => t::Method::Put,
                Method::Patch => t::Method::Patch,
                Method::Delete => t::Method::Delete,
            })
            .map_err(|()| invalid("the method is not valid"))?;
        outgoing
            .set_scheme(Some(&if url.https {
                t::Scheme::Https
            } else {
                t::Scheme::Http
            }))
            .map_err(|()| invalid("the scheme is not valid"))?;
        outgoing
            .set_authority(Some(&url.authority))
            .map_err(|()| invalid("the host or port is not valid"))?;
        outgoing
            .set_path_with_query(Some(&url.path_and_query))
            .map_err(|()| invalid("the path is not valid"))?;
        let body = outgoing
            .body()
            .map_err(|()| invalid("its body was already taken"))?;
        let pending = outgoing_handler::handle(outgoing, None).map_err(|e| refused(request, &e))?;
        {
            let stream = body
                .write()
                .map_err(|()| invalid("its body was already taken"))?;
            for chunk in request.body.chunks(CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| stream_failed(request, e))?;
            }
        }
        t::OutgoingBody::finish(body, None).map_err(|e| refused(request, &e))?;
        let answer = loop {
            match pending.get() {
                Some(answer) => break answer,
                None => pending.subscribe().block(),
            }
        };
        let response = answer
            .map_err(|()| {
                HostError::Network(format!("{}: the answer was taken twice", request.url))
            })?
            .map_err(|e| refused(request, &e))?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| {
            HostError::Network(format!("{}: the body was taken twice", request.url))
        })?;
        let mut bytes = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| {
                HostError::Network(format!("{}: the body was taken twice", request.url))
            })?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(stream_failed(request, e)),
                }
            }
        }
        drop(t::IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body: bytes,
            request: Some(request.line()),
        })
    }

    #[inline]
    fn names(request: &Request) -> String {
        let names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
        format!("headers [{}]", names.join(", "))
    }

    #[inline]
    fn stream_failed(request: &Request, e: StreamError) -> HostError {
        match e {
            StreamError::Closed => {
                HostError::Network(format!("{}: the connection closed", request.url))
            }
            StreamError::LastOperationFailed(e) => match t::http_error_code(&e) {
                Some(code) => refused(request, &code),
                // wasmtime-wasi-http 48 passes a body's failure (lmi's size cap, a
                // silence past the timeout) as text, without its error-code.
                None => HostError::Network(format!(
                    "{}: reading the answer failed: {}",
                    request.url,
                    e.to_debug_string()
                )),
            },
        }
    }

    /// What lmi's `error-code` means for the plugin's author.
    #[inline]
    fn refused(request: &Request, code: &t::ErrorCode) -> HostError {
        let url = &request.url;
        match code {
            t::ErrorCode::HttpRequestDenied => HostError::Denied(format!(
                "lmi refused {url}: its origin is not among the plugin's `allowed_hosts` (lmi's warning names the origins granted)"
            )),
            t::ErrorCode::DestinationIpProhibited => HostError::Denied(format!(
                "lmi refused {url}: its host resolves to a loopback, private or other non-public address"
            )),
            t::ErrorCode::HttpRequestUriInvalid | t::ErrorCode::HttpRequestMethodInvalid => {
                HostError::InvalidRequest(format!("{url}: {code:?}"))
            }
            t::ErrorCode::HttpResponseBodySize(_) => HostError::Network(format!(
                "{url}: the answer is larger than lmi hands a plugin"
            )),
            t::ErrorCode::TlsCertificateError => HostError::Network(format!(
                "{url}: its TLS certificate is not trusted (lmi trusts the OS store and LMI_CA_BUNDLE)"
            )),
            other => HostError::Network(format!("{url}: {other:?}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_for_wasi_http() {
        let url = Url::parse("https://API.example.com:8443/v1/x?y=1#frag").unwrap();
        assert_eq!(
            url,
            Url {
                https: true,
                authority: "API.example.com:8443".into(),
                path_and_query: "/v1/x?y=1".into(),
            }
        );
        assert_eq!(Url::parse("http://h").unwrap().path_and_query, "/");
        assert_eq!(Url::parse("http://h?q").unwrap().path_and_query, "/?q");
        for bad in ["h/x", "ftp://h/", "https:///x", "https://u:p@h/"] {
            assert!(
                matches!(Url::parse(bad), Err(HostError::InvalidRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn natively_the_real_client_fails_rather_than_reaching_a_server() {
        let e = get("https://example.com/").unwrap_err();
        assert!(e.message().contains("MockClient"), "{e}");
    }
}
