//! [`MockContext`]: a scripted [`Context`] for native unit tests of command logic.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};

use crate::{
    AccessToken, Context, HostError, LogLevel, Method, OutputFormat, PluginIdentity, Request,
    Response, SsoUser, Terminal,
};

type Handler = Box<dyn Fn(&Request) -> Result<Response, HostError>>;

enum Route {
    /// Answers requests to `service` (`None`: the default one) with this method whose path
    /// matches.
    Path {
        service: Option<String>,
        method: Method,
        path: String,
        answer: Result<Response, HostError>,
    },
    /// Answers every request that reaches it.
    Handler(Handler),
}

/// A [`Context`] for native unit tests: configured with a builder, it answers from what it
/// was given, records the requests a command sends, and captures what the command writes to
/// [`Context::stdout`] and [`Context::stderr`].
///
/// Defaults: no environment, not signed in, [`get_token`](Context::get_token) denied,
/// every request answered with a [`HostError::Network`] error naming the request, no `-v`,
/// text output, and the plugin `mock-plugin` `0.0.0`.
///
/// ```
/// use lmi_plugin_sdk::{Context, HostError, Method, MockContext, Request, Response, SsoUser};
///
/// let ctx = MockContext::new()
///     .with_env("staging")
///     .with_sso_user(SsoUser::new("00u1").with_email("ada@example.com"))
///     .with_token("t0k3n")
///     .with_response(Method::Get, "v1/items", Response::json(200, r#"[{"id":1}]"#))
///     .with_request_error(Method::Get, "v1/down", HostError::Network("connection refused".into()));
///
/// assert_eq!(ctx.environment().as_deref(), Some("staging"));
/// assert!(ctx.is_sso_authenticated());
/// assert_eq!(ctx.send_request(Request::get("v1/items?page=2")).map(|r| r.status), Ok(200));
/// assert!(ctx.send_request(Request::get("v1/down")).is_err());
/// assert_eq!(ctx.requests().len(), 2);
/// ```
pub struct MockContext {
    environment: Option<String>,
    sso_user: Option<SsoUser>,
    token: Result<AccessToken, HostError>,
    service_tokens: Vec<(String, AccessToken)>,
    routes: Vec<Route>,
    requests: RefCell<Vec<Request>>,
    stdout: RefCell<Vec<u8>>,
    stderr: RefCell<Vec<u8>>,
    /// What [`Context::stdin`] reads, and how far it has been read.
    stdin: RefCell<io::Cursor<Vec<u8>>>,
    terminal: Terminal,
    /// `invocation`: `-v`, `--output`, and the plugin's name and version.
    verbosity: u8,
    output_format: OutputFormat,
    plugin: PluginIdentity,
    config: Vec<(String, String)>,
    logged: RefCell<Vec<(LogLevel, String)>>,
}

impl MockContext {
    /// A context with no environment, no SSO session, no token and no responses.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new();
    /// assert_eq!(ctx.environment(), None);
    /// assert!(ctx.get_token().is_err());
    /// ```
    pub fn new() -> Self {
        Self {
            environment: None,
            sso_user: None,
            token: Err(HostError::Denied(
                "MockContext has no token; configure one with with_token".to_string(),
            )),
            service_tokens: Vec::new(),
            routes: Vec::new(),
            requests: RefCell::new(Vec::new()),
            stdout: RefCell::new(Vec::new()),
            stderr: RefCell::new(Vec::new()),
            stdin: RefCell::new(io::Cursor::new(Vec::new())),
            terminal: Terminal::default(),
            verbosity: 0,
            output_format: OutputFormat::Text,
            plugin: PluginIdentity::new(MOCK_PLUGIN.0, MOCK_PLUGIN.1),
            config: Vec::new(),
            logged: RefCell::new(Vec::new()),
        }
    }

    /// Sets what [`Context::terminal`] reports (default: no terminal, no colour).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, Terminal};
    /// let ctx = MockContext::new().with_terminal(Terminal { color: true, ..Terminal::default() });
    /// assert!(ctx.terminal().color);
    /// ```
    pub fn with_terminal(mut self, terminal: Terminal) -> Self {
        self.terminal = terminal;
        self
    }

    /// Sets what [`Context::verbosity`] reports: how many `-v` lmi was given (default 0).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// assert_eq!(MockContext::new().with_verbosity(1).verbosity(), 1);
    /// ```
    pub fn with_verbosity(mut self, verbosity: u8) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// Sets what [`Context::output_format`] reports: lmi's `--output` (default text).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, OutputFormat};
    /// let ctx = MockContext::new().with_output_format(OutputFormat::Json);
    /// assert_eq!(ctx.output_format(), OutputFormat::Json);
    /// ```
    pub fn with_output_format(mut self, format: OutputFormat) -> Self {
        self.output_format = format;
        self
    }

    /// Sets what [`Context::plugin`] reports, as a manifest would (default: `mock-plugin`
    /// `0.0.0`).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_plugin("my-tool", "2.0.1");
    /// assert_eq!((ctx.plugin().name.as_str(), ctx.plugin().version.as_str()), ("my-tool", "2.0.1"));
    /// assert_eq!(MockContext::new().plugin().version, "0.0.0");
    /// ```
    pub fn with_plugin(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.plugin = PluginIdentity::new(name, version);
        self
    }

    /// Sets a configuration value for [`Context::config`]; any other key is denied, as lmi
    /// denies a key the manifest does not declare.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_config("project", "p-42");
    /// assert_eq!(ctx.config("project"), Ok(Some("p-42".to_string())));
    /// assert!(ctx.config("region").is_err());
    /// ```
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((name.into(), value.into()));
        self
    }

    /// What the command logged with [`Context::log`], in order.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, LogLevel, MockContext};
    /// let ctx = MockContext::new();
    /// ctx.log(LogLevel::Warn, "slow");
    /// assert_eq!(ctx.logged().len(), 1);
    /// ```
    pub fn logged(&self) -> Vec<(LogLevel, String)> {
        self.logged.borrow().clone()
    }

    /// Sets the active environment's name.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// assert_eq!(MockContext::new().with_env("dev").environment().as_deref(), Some("dev"));
    /// ```
    pub fn with_env(mut self, name: impl Into<String>) -> Self {
        self.environment = Some(name.into());
        self
    }

    /// Signs a user in: [`is_sso_authenticated`](Context::is_sso_authenticated) becomes
    /// true and [`sso_user`](Context::sso_user) returns `user`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, SsoUser};
    /// let ctx = MockContext::new().with_sso_user(SsoUser::new("00u1"));
    /// assert!(ctx.is_sso_authenticated());
    /// ```
    pub fn with_sso_user(mut self, user: SsoUser) -> Self {
        self.sso_user = Some(user);
        self
    }

    /// Makes [`get_token`](Context::get_token) return `token`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_token("t0k3n");
    /// assert_eq!(ctx.get_token().map(|t| t.into_secret()), Ok("t0k3n".to_string()));
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Ok(AccessToken::new(token));
        self
    }

    /// Makes [`get_token`](Context::get_token) fail with `error`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, HostError, MockContext};
    /// let ctx = MockContext::new().with_token_error(HostError::AuthFailed("bad secret".into()));
    /// assert!(matches!(ctx.get_token(), Err(HostError::AuthFailed(_))));
    /// ```
    pub fn with_token_error(mut self, error: HostError) -> Self {
        self.token = Err(error);
        self
    }

    /// Answers `method` requests for `path` with `response`.
    ///
    /// A request matches when its method is `method` and its path equals `path`, ignoring a
    /// leading `/`; when `path` has no query, the request's query is ignored too. Routes are
    /// tried in the order they were added. To answer every method (or anything dynamic), use
    /// [`with_handler`](Self::with_handler).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new()
    ///     .with_response(Method::Get, "v1/items", Response::new(200, "[]"))
    ///     .with_response(Method::Post, "v1/items", Response::new(201, "made"));
    /// assert_eq!(ctx.send_request(Request::get("/v1/items?limit=1")).map(|r| r.status), Ok(200));
    /// assert_eq!(ctx.send_request(Request::post("v1/items")).map(|r| r.status), Ok(201));
    /// // Another method, another path: not answered.
    /// let error = ctx.send_request(Request::delete("v1/items")).unwrap_err();
    /// assert!(error.message().contains("DELETE v1/items"), "{error}");
    /// assert!(ctx.send_request(Request::get("v1/other")).is_err());
    /// ```
    pub fn with_response(
        mut self,
        method: Method,
        path: impl Into<String>,
        response: Response,
    ) -> Self {
        self.routes.push(Route::Path {
            service: None,
            method,
            path: path.into(),
            answer: Ok(response),
        });
        self
    }

    /// Fails `method` requests for `path` with `error` (matched like
    /// [`with_response`](Self::with_response)).
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, HostError, Method, MockContext, Request};
    /// let ctx = MockContext::new()
    ///     .with_request_error(Method::Get, "v1/items", HostError::Denied("no service_requests".into()));
    /// assert!(matches!(ctx.send_request(Request::get("v1/items")), Err(HostError::Denied(_))));
    /// assert!(matches!(ctx.send_request(Request::put("v1/items")), Err(HostError::Network(_))));
    /// ```
    pub fn with_request_error(
        mut self,
        method: Method,
        path: impl Into<String>,
        error: HostError,
    ) -> Self {
        self.routes.push(Route::Path {
            service: None,
            method,
            path: path.into(),
            answer: Err(error),
        });
        self
    }

    /// Answers `method` requests to the named service `service` for `path` with `response`
    /// (matched like [`with_response`](Self::with_response)). A request to a named service no
    /// route or handler answers fails as lmi fails it when the environment does not
    /// configure the service: [`HostError::NotConfigured`].
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, HostError, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new()
    ///     .with_service_response("billing", Method::Get, "v1/invoices", Response::json(200, "[]"));
    /// assert!(ctx.send_request(Request::get("v1/invoices").to_service("billing")).is_ok());
    /// assert!(matches!(
    ///     ctx.send_request(Request::get("v1/invoices")),
    ///     Err(HostError::Network(_))
    /// ));
    /// assert!(matches!(
    ///     ctx.send_request(Request::get("v1/invoices").to_service("search")),
    ///     Err(HostError::NotConfigured(_))
    /// ));
    /// ```
    pub fn with_service_response(
        mut self,
        service: impl Into<String>,
        method: Method,
        path: impl Into<String>,
        response: Response,
    ) -> Self {
        self.routes.push(Route::Path {
            service: Some(service.into()),
            method,
            path: path.into(),
            answer: Ok(response),
        });
        self
    }

    /// Makes [`get_service_token`](Context::get_service_token) for `service` return `token`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_service_token("billing", "b1ll");
    /// assert!(ctx.get_service_token("billing").is_ok());
    /// ```
    pub fn with_service_token(
        mut self,
        service: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        self.service_tokens
            .push((service.into(), AccessToken::new(token)));
        self
    }

    /// Answers every request that reaches it (routes are tried in the order they were
    /// added) with `handler`'s result.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new().with_handler(|request| {
    ///     let status = if request.method == Method::Delete { 204 } else { 405 };
    ///     Ok(Response::new(status, ""))
    /// });
    /// assert_eq!(ctx.send_request(Request::delete("v1/items/7")).map(|r| r.status), Ok(204));
    /// ```
    pub fn with_handler(
        mut self,
        handler: impl Fn(&Request) -> Result<Response, HostError> + 'static,
    ) -> Self {
        self.routes.push(Route::Handler(Box::new(handler)));
        self
    }

    /// The requests sent so far, in order.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, Request};
    /// let ctx = MockContext::new();
    /// let _ = ctx.send_request(Request::get("v1/items").with_header("accept", "text/csv"));
    /// assert_eq!(ctx.requests()[0].headers[0].1, "text/csv");
    /// ```
    pub fn requests(&self) -> Vec<Request> {
        self.requests.borrow().clone()
    }

    /// Makes [`Context::stdin`] read `input` (default: nothing, as from an empty pipe). Reads
    /// continue where the last one stopped, across calls to `stdin()`.
    ///
    /// ```
    /// use std::io::Read;
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_stdin(r#"{"title":"Disk full"}"#);
    /// let mut first = [0u8; 2];
    /// ctx.stdin().read_exact(&mut first).expect("in memory");
    /// let mut rest = String::new();
    /// ctx.stdin().read_to_string(&mut rest).expect("in memory");
    /// assert_eq!((&first, rest.as_str()), (b"{\"", r#"title":"Disk full"}"#));
    /// ```
    pub fn with_stdin(self, input: impl Into<Vec<u8>>) -> Self {
        *self.stdin.borrow_mut() = io::Cursor::new(input.into());
        self
    }

    /// Everything written to [`Context::stdout`] so far, as text (lossy UTF-8).
    ///
    /// ```
    /// use std::io::Write;
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new();
    /// write!(ctx.stdout(), "a").and_then(|()| write!(ctx.stdout(), "b")).expect("in memory");
    /// assert_eq!(ctx.stdout_text(), "ab");
    /// ```
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.borrow()).into_owned()
    }

    /// Everything written to [`Context::stderr`] so far, as text (lossy UTF-8).
    ///
    /// ```
    /// use std::io::Write;
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new();
    /// writeln!(ctx.stderr(), "oops").expect("in memory");
    /// assert_eq!(ctx.stderr_text(), "oops\n");
    /// ```
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.borrow()).into_owned()
    }
}

impl Default for MockContext {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MockContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockContext")
            .field("environment", &self.environment)
            .field("sso_user", &self.sso_user)
            .field("token", &self.token)
            .field("routes", &self.routes.len())
            .field("requests", &self.requests.borrow())
            .finish_non_exhaustive()
    }
}

impl MockContext {
    /// The error for a request no route answers, naming the methods that would have been
    /// answered for its path.
    fn unanswered(&self, request: &Request) -> HostError {
        let methods: Vec<&str> = self
            .routes
            .iter()
            .filter_map(|route| match route {
                Route::Path {
                    service,
                    method,
                    path,
                    ..
                } if *service == request.service && path_matches(path, &request.path) => {
                    Some(method.as_str())
                }
                _ => None,
            })
            .collect();
        let others = if methods.is_empty() {
            String::new()
        } else {
            format!(" (it answers {} there)", methods.join(", "))
        };
        match &request.service {
            // As lmi answers when the environment does not configure the service.
            Some(service) => HostError::NotConfigured(format!(
                "MockContext: no {} {} for service `{service}`{others}; answer it with with_service_response",
                request.method, request.path
            )),
            None => HostError::Network(format!(
                "MockContext has no response for {} {}{others}; add one with with_response",
                request.method, request.path
            )),
        }
    }
}

/// The name and version [`MockContext::plugin`](Context::plugin) reports unless set.
const MOCK_PLUGIN: (&str, &str) = ("mock-plugin", "0.0.0");

/// Whether a request path matches a route's path (see [`MockContext::with_response`]).
fn path_matches(route: &str, request: &str) -> bool {
    let route = route.trim_start_matches('/');
    let request = request.trim_start_matches('/');
    if route.contains('?') {
        route == request
    } else {
        route
            == request
                .split_once('?')
                .map_or(request, |(path, _query)| path)
    }
}

impl Context for MockContext {
    fn terminal(&self) -> Terminal {
        self.terminal
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.logged.borrow_mut().push((level, message.to_owned()));
    }

    /// As the host answers: a key set with `with_config` is declared; any other is denied.
    fn config(&self, name: &str) -> Result<Option<String>, HostError> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| Some(v.clone()))
            .ok_or_else(|| {
                HostError::Denied(format!(
                    "MockContext: `{name}` is not a declared configuration key; set it with with_config"
                ))
            })
    }

    fn verbosity(&self) -> u8 {
        self.verbosity
    }

    fn output_format(&self) -> OutputFormat {
        self.output_format
    }

    fn plugin(&self) -> PluginIdentity {
        self.plugin.clone()
    }

    fn environment(&self) -> Option<String> {
        self.environment.clone()
    }

    fn is_sso_authenticated(&self) -> bool {
        self.sso_user.is_some()
    }

    fn sso_user(&self) -> Option<SsoUser> {
        self.sso_user.clone()
    }

    fn get_token(&self) -> Result<AccessToken, HostError> {
        self.token.clone()
    }

    fn get_service_token(&self, service: &str) -> Result<AccessToken, HostError> {
        self.service_tokens
            .iter()
            .rev()
            .find(|(s, _)| s == service)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                HostError::NotConfigured(format!(
                    "MockContext: no token for service `{service}`; set one with with_service_token"
                ))
            })
    }

    fn send_request(&self, request: Request) -> Result<Response, HostError> {
        let answer = self.routes.iter().find_map(|route| match route {
            Route::Path {
                service,
                method,
                path,
                answer,
            } if *service == request.service
                && *method == request.method
                && path_matches(path, &request.path) =>
            {
                Some(answer.clone())
            }
            Route::Path { .. } => None,
            Route::Handler(handler) => Some(handler(&request)),
        });
        let answer = answer.unwrap_or_else(|| Err(self.unanswered(&request)));
        let line = request.line();
        self.requests.borrow_mut().push(request);
        answer.map(|response| response.answering(line))
    }

    fn stdout(&self) -> Box<dyn Write + '_> {
        Box::new(Capture(&self.stdout))
    }

    fn stderr(&self) -> Box<dyn Write + '_> {
        Box::new(Capture(&self.stderr))
    }

    fn stdin(&self) -> Box<dyn Read + '_> {
        Box::new(Input(&self.stdin))
    }
}

/// A reader taking from a shared cursor, so successive readers continue where the last
/// stopped.
struct Input<'a>(&'a RefCell<io::Cursor<Vec<u8>>>);

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// A writer appending to a shared buffer.
struct Capture<'a>(&'a RefCell<Vec<u8>>);

impl Write for Capture<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_or_without_the_query_and_leading_slash() {
        assert!(path_matches("v1/items", "v1/items"));
        assert!(path_matches("v1/items", "/v1/items?limit=2"));
        assert!(path_matches("/v1/items?limit=2", "v1/items?limit=2"));
        assert!(!path_matches("v1/items?limit=2", "v1/items?limit=3"));
        assert!(!path_matches("v1/items", "v1/items/7"));
    }

    #[test]
    fn first_matching_route_wins() {
        let ctx = MockContext::new()
            .with_response(Method::Get, "v1/a", Response::new(201, ""))
            .with_handler(|_| Ok(Response::new(299, "")))
            .with_response(Method::Get, "v1/b", Response::new(202, ""));
        let status = |path: &str| ctx.send_request(Request::get(path)).map(|r| r.status);
        assert_eq!(status("v1/a"), Ok(201));
        assert_eq!(status("v1/b"), Ok(299));
        assert_eq!(ctx.requests().len(), 2);
    }

    #[test]
    fn unanswered_request_names_itself() {
        let ctx = MockContext::new();
        let error = ctx
            .send_request(Request::post("v1/x"))
            .expect_err("no routes");
        assert!(error.message().contains("POST v1/x"), "{error}");
    }

    /// A route answers its own method only; a request with another method is told which
    /// methods the path answers.
    #[test]
    fn routes_match_the_method_too() {
        let ctx = MockContext::new()
            .with_response(Method::Get, "v1/x", Response::new(200, "got"))
            .with_request_error(Method::Put, "v1/x", HostError::Denied("no".into()))
            .with_response(Method::Delete, "v1/x", Response::new(204, ""))
            .with_service_response("billing", Method::Post, "v1/x", Response::new(201, ""));
        let status = |request: Request| ctx.send_request(request).map(|r| r.status);
        assert_eq!(status(Request::get("v1/x")), Ok(200));
        assert_eq!(status(Request::delete("v1/x")), Ok(204));
        assert!(matches!(
            status(Request::put("v1/x")),
            Err(HostError::Denied(_))
        ));
        assert_eq!(status(Request::post("v1/x").to_service("billing")), Ok(201));
        let Err(HostError::Network(message)) = status(Request::post("v1/x")) else {
            panic!("a POST to the default service is not answered");
        };
        assert_eq!(
            message,
            "MockContext has no response for POST v1/x (it answers GET, PUT, DELETE there); add one with with_response"
        );
        assert!(matches!(
            status(Request::get("v1/x").to_service("billing")),
            Err(HostError::NotConfigured(_))
        ));
    }

    /// What the mock answers names its request, as the host's answers do.
    #[test]
    fn answers_know_their_request() {
        let ctx = MockContext::new().with_response(Method::Patch, "v1/x", Response::new(409, ""));
        let response = ctx
            .send_request(Request::patch("v1/x?secret=1"))
            .expect("answered");
        assert_eq!(
            response.error_for_status().unwrap_err().to_string(),
            "PATCH v1/x returned HTTP 409 Conflict"
        );
    }
}
