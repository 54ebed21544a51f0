//! Friendly Rust types for the values that cross the plugin boundary, and their
//! conversions to and from the generated WIT types.
//!
//! The SDK's public API uses these rather than the generated ones so it can document them,
//! add helpers, and keep `#[non_exhaustive]` on the error enums the contract says may grow.

use std::borrow::Cow;
use std::fmt;

use crate::bindings::lmi::plugin::types as wit;

/// The signed-in SSO user, as far as a plugin may know it. Raw SSO tokens never reach
/// plugins.
///
/// ```
/// use lmi_plugin_sdk::SsoUser;
///
/// let user = SsoUser::new("00u1").with_email("ada@example.com").with_name("Ada");
/// assert_eq!(user.subject, "00u1");
/// assert_eq!(user.email.as_deref(), Some("ada@example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SsoUser {
    /// The identity provider's stable subject identifier (`sub`).
    pub subject: String,
    /// The user's email address, when the identity provider shares it.
    pub email: Option<String>,
    /// The user's display name, when the identity provider shares it.
    pub name: Option<String>,
    /// When the current session's access token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
}

impl SsoUser {
    /// A user with only a subject (no email, no name, `expires_at` 0).
    ///
    /// ```
    /// let user = lmi_plugin_sdk::SsoUser::new("00u1");
    /// assert_eq!(user.email, None);
    /// ```
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            email: None,
            name: None,
            expires_at: 0,
        }
    }

    /// Sets the email address.
    ///
    /// ```
    /// let user = lmi_plugin_sdk::SsoUser::new("00u1").with_email("ada@example.com");
    /// assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    /// ```
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the display name.
    ///
    /// ```
    /// let user = lmi_plugin_sdk::SsoUser::new("00u1").with_name("Ada Lovelace");
    /// assert_eq!(user.name.as_deref(), Some("Ada Lovelace"));
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the session expiry (seconds since the Unix epoch).
    ///
    /// ```
    /// let user = lmi_plugin_sdk::SsoUser::new("00u1").with_expires_at(1_900_000_000);
    /// assert_eq!(user.expires_at, 1_900_000_000);
    /// ```
    pub fn with_expires_at(mut self, expires_at: u64) -> Self {
        self.expires_at = expires_at;
        self
    }
}

/// The active environment's service access token, from [`Context::get_token`].
///
/// Its `Debug` output is redacted and it has no `Display`, so it does not end up in logs by
/// accident; call [`secret`](AccessToken::secret) where the token itself is needed.
///
/// ```
/// let token = lmi_plugin_sdk::AccessToken::new("eyJhbGciOi...");
/// assert_eq!(token.secret(), "eyJhbGciOi...");
/// assert_eq!(format!("{token:?}"), "AccessToken(****)");
/// ```
///
/// [`Context::get_token`]: crate::Context::get_token
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    ///
    /// ```
    /// let token = lmi_plugin_sdk::AccessToken::new("t0k3n");
    /// assert_eq!(token.secret(), "t0k3n");
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself.
    ///
    /// ```
    /// let token = lmi_plugin_sdk::AccessToken::new("t0k3n");
    /// assert_eq!(token.secret().len(), 5);
    /// ```
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Consumes the wrapper and returns the token.
    ///
    /// ```
    /// let token = lmi_plugin_sdk::AccessToken::new("t0k3n");
    /// assert_eq!(token.into_secret(), "t0k3n");
    /// ```
    pub fn into_secret(self) -> String {
        self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(****)")
    }
}

/// An HTTP method for a [`Request`].
///
/// ```
/// use lmi_plugin_sdk::Method;
/// assert_eq!(Method::Patch.to_string(), "PATCH");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's name as it appears on the wire.
    ///
    /// ```
    /// assert_eq!(lmi_plugin_sdk::Method::Get.as_str(), "GET");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to the active environment's service, sent with [`Context::send_request`].
///
/// `path` is resolved against the environment's service URL (`OAUTH_SERVICE_URL`) and may
/// carry a query (`v1/items?limit=5`, or built with [`Request::with_query`]); absolute URLs
/// are refused. The host sets the `authorization`, `host` and `user-agent` headers
/// (`User-Agent: <plugin>/<version> lmi/<version>`) and refuses them here.
///
/// ```
/// use lmi_plugin_sdk::{Method, Request};
///
/// let request = Request::post("v1/items")
///     .with_header("x-request-id", "42")
///     .with_json(r#"{"name":"widget"}"#);
/// assert_eq!(request.method, Method::Post);
/// assert_eq!(request.path, "v1/items");
/// assert_eq!(request.body.as_deref(), Some(&br#"{"name":"widget"}"#[..]));
/// ```
///
/// [`Context::send_request`]: crate::Context::send_request
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Which of the environment's services; `None` is the default one
    /// (`OAUTH_SERVICE_URL`). See [`Request::to_service`].
    pub service: Option<String>,
    /// The HTTP method.
    pub method: Method,
    /// A path with an optional query, relative to the service URL.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request with no headers and no body.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Method, Request};
    /// let request = Request::new(Method::Head, "v1/health");
    /// assert!(request.headers.is_empty() && request.body.is_none());
    /// ```
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            service: None,
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Sends the request to the environment's named service `name`
    /// (`OAUTH_SERVICE_<NAME>_URL`) instead of the default one. The manifest must list it in
    /// `services`; an environment that does not configure it answers
    /// [`HostError::NotConfigured`], and nothing is sent.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::get("v1/invoices").to_service("billing");
    /// assert_eq!(request.service.as_deref(), Some("billing"));
    /// ```
    pub fn to_service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// A `GET` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::get("v1/items?limit=5");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Get);
    /// ```
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    /// A `HEAD` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::head("v1/items");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Head);
    /// ```
    pub fn head(path: impl Into<String>) -> Self {
        Self::new(Method::Head, path)
    }

    /// A `POST` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::post("v1/items");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Post);
    /// ```
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }

    /// A `PUT` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::put("v1/items/7");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Put);
    /// ```
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }

    /// A `PATCH` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::patch("v1/items/7");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Patch);
    /// ```
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::Patch, path)
    }

    /// A `DELETE` request.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::delete("v1/items/7");
    /// assert_eq!(request.method, lmi_plugin_sdk::Method::Delete);
    /// ```
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }

    /// Adds a header (names are case-insensitive; `authorization`, `host`, `user-agent` and
    /// the headers that reroute a request are refused by the host).
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::get("v1/items").with_header("accept", "text/csv");
    /// assert_eq!(request.headers, [("accept".to_string(), "text/csv".to_string())]);
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::put("v1/blob").with_body(vec![0, 1, 2]);
    /// assert_eq!(request.body, Some(vec![0, 1, 2]));
    /// ```
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body (already serialized) and `content-type: application/json`.
    ///
    /// ```
    /// let request = lmi_plugin_sdk::Request::post("v1/items").with_json(r#"{"a":1}"#);
    /// assert_eq!(
    ///     request.headers,
    ///     [("content-type".to_string(), "application/json".to_string())]
    /// );
    /// ```
    pub fn with_json(self, json: impl Into<String>) -> Self {
        self.with_header("content-type", "application/json")
            .with_body(json.into().into_bytes())
    }
}

/// The service's answer to a [`Request`]. Any HTTP status is a response; only failures to
/// get one are [`HostError`]s.
///
/// ```
/// use lmi_plugin_sdk::Response;
///
/// let response = Response::new(200, "[]").with_header("Content-Type", "application/json");
/// assert!(response.is_success());
/// assert_eq!(response.header("content-type"), Some("application/json"));
/// assert_eq!(response.text(), "[]");
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
    /// The request this answers as messages name it (`GET v1/items`), when a send made it;
    /// see [`Response::error_for_status`]. Not part of equality.
    pub(crate) request: Option<String>,
}

/// Two responses are equal when their status, headers and body are.
impl PartialEq for Response {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status && self.headers == other.headers && self.body == other.body
    }
}

impl Eq for Response {}

impl Response {
    /// A response with no headers (handy for [`MockContext`](crate::MockContext)).
    ///
    /// ```
    /// let response = lmi_plugin_sdk::Response::new(404, "not found");
    /// assert_eq!(response.status, 404);
    /// ```
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            request: None,
        }
    }

    /// A response with status `status`, the JSON text `json` as its body and
    /// `content-type: application/json` (handy for [`MockContext`](crate::MockContext)). Any
    /// status: an error answer is JSON too. To read a JSON body, see `parse_json` (the
    /// `json` feature).
    ///
    /// ```
    /// let response = lmi_plugin_sdk::Response::json(200, r#"{"id":7}"#);
    /// assert_eq!(response.header("Content-Type"), Some("application/json"));
    /// let refused = lmi_plugin_sdk::Response::json(422, r#"{"message":"title is missing"}"#);
    /// assert_eq!((refused.status, refused.text().len()), (422, 30));
    /// ```
    pub fn json(status: u16, json: impl Into<String>) -> Self {
        Self::new(status, json.into().into_bytes()).with_header("content-type", "application/json")
    }

    /// Adds a header.
    ///
    /// ```
    /// let response = lmi_plugin_sdk::Response::new(204, "").with_header("etag", "\"v1\"");
    /// assert_eq!(response.header("ETag"), Some("\"v1\""));
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Whether the status is 2xx.
    ///
    /// ```
    /// assert!(!lmi_plugin_sdk::Response::new(500, "").is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header named `name` (case-insensitive).
    ///
    /// ```
    /// let response = lmi_plugin_sdk::Response::new(200, "").with_header("X-Total", "3");
    /// assert_eq!(response.header("x-total"), Some("3"));
    /// assert_eq!(response.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    /// The body as text; invalid UTF-8 is replaced with `U+FFFD`.
    ///
    /// ```
    /// let response = lmi_plugin_sdk::Response::new(200, b"caf\xc3\xa9".to_vec());
    /// assert_eq!(response.text(), "café");
    /// ```
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Why a host call failed. Each case carries a message for humans that names what was
/// wrong and what to do.
///
/// Return it from [`Plugin::run`](crate::Plugin::run) with `?` (it converts into
/// [`PluginError::Host`]) and the host reports it with the exit code of its case. New cases
/// may be added in a new minor version of the contract, hence `#[non_exhaustive]`.
///
/// ```
/// use lmi_plugin_sdk::HostError;
///
/// let error = HostError::Denied("the manifest does not request service_token".into());
/// assert_eq!(error.kind(), "denied");
/// assert_eq!(error.to_string(), "denied: the manifest does not request service_token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// No environment is active, or it lacks configuration this call needs (exit code 2).
    NotConfigured(String),
    /// The manifest did not request this capability, the user did not grant it, or the
    /// active environment is outside the environments the plugin may use.
    Denied(String),
    /// Acquiring or using a credential failed: bad client credentials, a second 401 from the
    /// service, no valid SSO session (exit code 4).
    AuthFailed(String),
    /// The request did not complete: connection refused, timeout, TLS, oversized body.
    Network(String),
    /// The host refused the request before sending it (an absolute URL, a forbidden header
    /// such as `authorization`).
    InvalidRequest(String),
}

impl HostError {
    /// The case's name as spelled in the WIT contract (`not-configured`, `denied`,
    /// `auth-failed`, `network`, `invalid-request`).
    ///
    /// ```
    /// let error = lmi_plugin_sdk::HostError::AuthFailed("run: lmi login sso".into());
    /// assert_eq!(error.kind(), "auth-failed");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::NotConfigured(_) => "not-configured",
            HostError::Denied(_) => "denied",
            HostError::AuthFailed(_) => "auth-failed",
            HostError::Network(_) => "network",
            HostError::InvalidRequest(_) => "invalid-request",
        }
    }

    /// The message for humans.
    ///
    /// ```
    /// let error = lmi_plugin_sdk::HostError::Network("connection refused".into());
    /// assert_eq!(error.message(), "connection refused");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            HostError::NotConfigured(m)
            | HostError::Denied(m)
            | HostError::AuthFailed(m)
            | HostError::Network(m)
            | HostError::InvalidRequest(m) => m,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for HostError {}

/// How a command failed, when it did not simply return an exit code.
///
/// ```
/// use lmi_plugin_sdk::{HostError, PluginError};
///
/// assert_eq!(PluginError::usage("usage: lmi greet [NAME]").to_string(), "usage: lmi greet [NAME]");
/// let from_host: PluginError = HostError::Denied("no".into()).into();
/// assert!(matches!(from_host, PluginError::Host(HostError::Denied(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginError {
    /// The arguments were wrong; the host prints the message and exits 2.
    Usage(String),
    /// A host call failed and the plugin gives up; the host reports it with the exit code
    /// that belongs to the case (e.g. 4 for [`HostError::AuthFailed`]).
    Host(HostError),
    /// Any other failure; the host prints the message and exits 1.
    Failed(String),
}

impl PluginError {
    /// The arguments were wrong (exit code 2). Include a usage line in the message.
    ///
    /// ```
    /// let error = lmi_plugin_sdk::PluginError::usage("usage: lmi api get <PATH>");
    /// assert!(matches!(error, lmi_plugin_sdk::PluginError::Usage(_)));
    /// ```
    pub fn usage(message: impl Into<String>) -> Self {
        PluginError::Usage(message.into())
    }

    /// Any other failure (exit code 1).
    ///
    /// ```
    /// let error = lmi_plugin_sdk::PluginError::failed("the service said no");
    /// assert_eq!(error.to_string(), "the service said no");
    /// ```
    pub fn failed(message: impl Into<String>) -> Self {
        PluginError::Failed(message.into())
    }

    /// A host call failed; the same as `error.into()`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{HostError, PluginError};
    /// let error = PluginError::host(HostError::Network("timed out".into()));
    /// assert_eq!(error.to_string(), "network: timed out");
    /// ```
    pub fn host(error: HostError) -> Self {
        PluginError::Host(error)
    }

    /// The plugin was asked to run a command it does not implement, which means its
    /// manifest and its code disagree (exit code 1).
    ///
    /// ```
    /// let error = lmi_plugin_sdk::PluginError::unknown_command("frobnicate");
    /// assert_eq!(error.to_string(), "this plugin does not implement the command `frobnicate`");
    /// ```
    pub fn unknown_command(command: &str) -> Self {
        PluginError::failed(format!(
            "this plugin does not implement the command `{command}`"
        ))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::Usage(m) | PluginError::Failed(m) => f.write_str(m),
            PluginError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PluginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PluginError::Host(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HostError> for PluginError {
    /// ```
    /// use lmi_plugin_sdk::{HostError, PluginError};
    /// fn token(ctx: &dyn lmi_plugin_sdk::Context) -> Result<String, PluginError> {
    ///     Ok(ctx.get_token()?.into_secret()) // HostError -> PluginError::Host
    /// }
    /// let ctx = lmi_plugin_sdk::MockContext::new();
    /// assert!(matches!(token(&ctx), Err(PluginError::Host(HostError::Denied(_)))));
    /// ```
    fn from(error: HostError) -> Self {
        PluginError::Host(error)
    }
}

impl From<std::io::Error> for PluginError {
    /// Lets `writeln!(ctx.stdout(), ...)?` and `std::fs::read(path)?` work in a command. The
    /// error does not say which operation failed, so only a closed output is called one;
    /// for a file, [`files::read_error`](crate::files::read_error) names the path and the
    /// grant.
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use lmi_plugin_sdk::PluginError;
    /// let closed = PluginError::from(Error::new(ErrorKind::BrokenPipe, "pipe closed"));
    /// assert_eq!(closed.to_string(), "cannot write output: pipe closed");
    /// let missing = PluginError::from(Error::new(ErrorKind::NotFound, "no such file"));
    /// assert_eq!(missing.to_string(), "input/output error: no such file");
    /// ```
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::WriteZero => {
                PluginError::failed(format!("cannot write output: {error}"))
            }
            _ => PluginError::failed(format!("input/output error: {error}")),
        }
    }
}

// Conversions to and from the generated WIT types. These are the only place that knows both
// shapes; a change to the contract fails to compile here.

impl From<wit::SsoUser> for SsoUser {
    fn from(user: wit::SsoUser) -> Self {
        let wit::SsoUser {
            subject,
            email,
            name,
            expires_at,
        } = user;
        Self {
            subject,
            email,
            name,
            expires_at,
        }
    }
}

impl From<Method> for wit::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => wit::Method::Get,
            Method::Head => wit::Method::Head,
            Method::Post => wit::Method::Post,
            Method::Put => wit::Method::Put,
            Method::Patch => wit::Method::Patch,
            Method::Delete => wit::Method::Delete,
        }
    }
}

impl From<Request> for wit::ServiceRequest {
    fn from(request: Request) -> Self {
        let Request {
            service,
            method,
            path,
            headers,
            body,
        } = request;
        Self {
            service,
            method: method.into(),
            path,
            headers,
            body,
        }
    }
}

impl From<wit::ServiceResponse> for Response {
    fn from(response: wit::ServiceResponse) -> Self {
        let wit::ServiceResponse {
            status,
            headers,
            body,
        } = response;
        Self {
            status,
            headers,
            body,
            request: None,
        }
    }
}

impl From<wit::HostError> for HostError {
    fn from(error: wit::HostError) -> Self {
        match error {
            wit::HostError::NotConfigured(m) => HostError::NotConfigured(m),
            wit::HostError::Denied(m) => HostError::Denied(m),
            wit::HostError::AuthFailed(m) => HostError::AuthFailed(m),
            wit::HostError::Network(m) => HostError::Network(m),
            wit::HostError::InvalidRequest(m) => HostError::InvalidRequest(m),
        }
    }
}

impl From<HostError> for wit::HostError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::NotConfigured(m) => wit::HostError::NotConfigured(m),
            HostError::Denied(m) => wit::HostError::Denied(m),
            HostError::AuthFailed(m) => wit::HostError::AuthFailed(m),
            HostError::Network(m) => wit::HostError::Network(m),
            HostError::InvalidRequest(m) => wit::HostError::InvalidRequest(m),
        }
    }
}

impl From<PluginError> for wit::PluginError {
    fn from(error: PluginError) -> Self {
        match error {
            PluginError::Usage(m) => wit::PluginError::Usage(m),
            PluginError::Host(e) => wit::PluginError::Host(e.into()),
            PluginError::Failed(m) => wit::PluginError::Failed(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_errors_keep_their_case_across_the_boundary() {
        let cases = [
            (PluginError::usage("u"), "usage"),
            (PluginError::failed("f"), "failed"),
            (PluginError::host(HostError::AuthFailed("a".into())), "host"),
        ];
        for (error, case) in cases {
            let converted = match wit::PluginError::from(error) {
                wit::PluginError::Usage(_) => "usage",
                wit::PluginError::Host(wit::HostError::AuthFailed(m)) if m == "a" => "host",
                wit::PluginError::Host(_) => "wrong host case",
                wit::PluginError::Failed(_) => "failed",
            };
            assert_eq!(converted, case);
        }
    }

    #[test]
    fn host_errors_round_trip_through_the_wit_type() {
        let errors = [
            HostError::NotConfigured("n".into()),
            HostError::Denied("d".into()),
            HostError::AuthFailed("a".into()),
            HostError::Network("x".into()),
            HostError::InvalidRequest("i".into()),
        ];
        for error in errors {
            assert_eq!(HostError::from(wit::HostError::from(error.clone())), error);
        }
    }

    #[test]
    fn requests_convert_field_for_field() {
        let request = Request::patch("v1/x?y=1")
            .with_header("a", "b")
            .with_body("z");
        let wit = wit::ServiceRequest::from(request);
        assert_eq!(wit.method, wit::Method::Patch);
        assert_eq!(wit.path, "v1/x?y=1");
        assert_eq!(wit.headers, [("a".to_string(), "b".to_string())]);
        assert_eq!(wit.body.as_deref(), Some(&b"z"[..]));
    }

    #[test]
    fn access_token_debug_is_redacted() {
        let token = AccessToken::new("super-secret");
        assert!(!format!("{token:?}").contains("super-secret"));
    }
}

/// The terminal lmi runs in, as [`Context::terminal`](crate::Context::terminal) reports it.
/// The default is no terminal at all and no colour (output piped to a file).
///
/// ```
/// let t = lmi_plugin_sdk::Terminal::default();
/// assert!(!t.stdout && !t.color && t.width.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    /// Whether standard input is a terminal.
    pub stdin: bool,
    /// Whether standard output is a terminal.
    pub stdout: bool,
    /// Whether standard error is a terminal.
    pub stderr: bool,
    /// Columns, when one of the three is a terminal.
    pub width: Option<u16>,
    /// Rows, when one of the three is a terminal.
    pub height: Option<u16>,
    /// Whether output may be coloured (`NO_COLOR`, `CLICOLOR_FORCE`, `TERM=dumb`, else
    /// whether stdout is a terminal).
    pub color: bool,
}

/// How much a [`Context::log`](crate::Context::log) message matters: errors and warnings
/// always reach stderr; info shows at `lmi -v`, debug and trace at `-vv`. lmi's log file
/// keeps info and above (debug and trace too at `-vv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something the user should know.
    Warn,
    /// Progress, shown at `lmi -v`.
    Info,
    /// Detail for the plugin's author, shown at `-vv`.
    Debug,
    /// More detail still, shown at `-vv`.
    Trace,
}

impl From<crate::bindings::lmi::plugin::terminal::TerminalInfo> for Terminal {
    fn from(t: crate::bindings::lmi::plugin::terminal::TerminalInfo) -> Self {
        Self {
            stdin: t.stdin_is_terminal,
            stdout: t.stdout_is_terminal,
            stderr: t.stderr_is_terminal,
            width: t.width,
            height: t.height,
            color: t.color,
        }
    }
}

impl From<LogLevel> for crate::bindings::lmi::plugin::log::Level {
    fn from(level: LogLevel) -> Self {
        use crate::bindings::lmi::plugin::log::Level;
        match level {
            LogLevel::Error => Level::Error,
            LogLevel::Warn => Level::Warn,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
            LogLevel::Trace => Level::Trace,
        }
    }
}

/// The first of `headers` named `name` (case-insensitive): what every answer's `header` is.
pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
