//! What a running plugin may ask of the host: the [`Context`] trait and its real
//! implementation, [`HostContext`], which calls the WIT `cli-context` imports.

use std::io::{Read, Write};

use crate::bindings::lmi::plugin::cli_context as wit;
use crate::{
    AccessToken, HostError, LogLevel, OutputFormat, PluginIdentity, Request, Response, SsoUser,
    StreamedResponse, Terminal,
};

/// Everything a command may learn or do beyond its own arguments.
///
/// Inside the component this is [`HostContext`], backed by the host's `cli-context`
/// imports; in native unit tests it is a [`MockContext`](crate::MockContext). Commands take
/// `&dyn Context` so the same code runs against both.
///
/// ```
/// use lmi_plugin_sdk::{Context, MockContext, SsoUser};
///
/// fn who(ctx: &dyn Context) -> String {
///     match ctx.sso_user() {
///         Some(user) => user.email.unwrap_or(user.subject),
///         None => "nobody".to_string(),
///     }
/// }
///
/// assert_eq!(who(&MockContext::new()), "nobody");
/// let ctx = MockContext::new().with_sso_user(SsoUser::new("00u1"));
/// assert_eq!(who(&ctx), "00u1");
/// ```
pub trait Context {
    /// The active environment's name (`--env` or `default_environment`), if any.
    /// (WIT: `environment`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// assert_eq!(MockContext::new().with_env("prod").environment().as_deref(), Some("prod"));
    /// ```
    fn environment(&self) -> Option<String>;

    /// Whether the user has a valid SSO session; the host refreshes an expired one silently
    /// but never starts a login. (WIT: `is-sso-authenticated`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// assert!(!MockContext::new().is_sso_authenticated());
    /// ```
    fn is_sso_authenticated(&self) -> bool;

    /// The signed-in SSO user, if any. (WIT: `get-sso-user`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, SsoUser};
    /// let ctx = MockContext::new().with_sso_user(SsoUser::new("00u1").with_name("Ada"));
    /// assert_eq!(ctx.sso_user().and_then(|u| u.name).as_deref(), Some("Ada"));
    /// ```
    fn sso_user(&self) -> Option<SsoUser>;

    /// The active environment's service access token. Only for plugins whose manifest asks
    /// for `service_token` and that the user granted; others get [`HostError::Denied`].
    /// (WIT: `get-token`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_token("t0k3n");
    /// assert_eq!(ctx.get_token().map(|t| t.into_secret()), Ok("t0k3n".to_string()));
    /// ```
    fn get_token(&self) -> Result<AccessToken, HostError>;

    /// The access token of the environment's named service `service`
    /// (`OAUTH_SERVICE_<NAME>_URL`): the environment's own token, or the service's when it
    /// has its own scope or audience. Needs `service_token` and `service` listed in the
    /// manifest's `services`. (WIT: `get-token` with a service.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_service_token("billing", "b1ll");
    /// assert_eq!(ctx.get_service_token("billing").map(|t| t.into_secret()), Ok("b1ll".to_string()));
    /// assert!(ctx.get_service_token("search").is_err());
    /// ```
    fn get_service_token(&self, service: &str) -> Result<AccessToken, HostError>;

    /// Sends an authenticated request to the active environment's service. The host
    /// attaches the token and, on a 401, acquires a new one and retries once. Needs the
    /// `service_requests` permission. Any HTTP status is `Ok`; check
    /// [`Response::is_success`]. (WIT: `send-request`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new().with_response(Method::Get, "v1/items", Response::json(200, "[]"));
    /// let response = ctx.send_request(Request::get("v1/items")).expect("mocked");
    /// assert_eq!(response.text(), "[]");
    /// ```
    fn send_request(&self, request: Request) -> Result<Response, HostError>;

    /// Sends an authenticated request as [`Context::send_request`] does (the same token and
    /// 401 rule, applied before the body is handed over), and returns once the answer's
    /// head has arrived: its body is read as it arrives, in constant memory, with no size
    /// limit ([`StreamedResponse`] implements [`std::io::Read`]). Reads wait within the
    /// run's deadline. A run may hold 16 streamed answers and uploads open at once.
    /// (WIT: `send-request-streaming`, contract 0.3.)
    ///
    /// A context without streams (a [`MockContext`](crate::MockContext)) answers with
    /// [`Context::send_request`]'s whole response as the stream.
    ///
    /// ```
    /// use std::io::Read;
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new().with_response(Method::Get, "v1/export", Response::new(200, "data"));
    /// let mut answer = ctx.send_streaming(Request::get("v1/export")).expect("mocked");
    /// let mut body = String::new();
    /// answer.read_to_string(&mut body).unwrap();
    /// assert_eq!((answer.status, body.as_str()), (200, "data"));
    /// ```
    fn send_streaming(&self, request: Request) -> Result<StreamedResponse, HostError> {
        self.send_request(request).map(StreamedResponse::from)
    }

    /// Sends `request` with `body` as its body, read and sent a chunk at a time: a body of
    /// any size (a [`std::fs::File`] under the `files` grant, stdin) in constant memory.
    /// `request.body` must be `None`. The answer streams as for [`Context::send_streaming`].
    /// A streamed body cannot be sent twice, so a 401 is not retried: the host renews the
    /// token and the upload fails with [`HostError::AuthFailed`]; send it again.
    /// (WIT: `start-upload`, contract 0.3.)
    ///
    /// A context without streams (a [`MockContext`](crate::MockContext)) reads `body`
    /// whole and sends it with [`Context::send_request`].
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, Method, MockContext, Request, Response};
    /// let ctx = MockContext::new().with_response(Method::Put, "v1/blobs/a", Response::new(201, ""));
    /// let answer = ctx.upload(Request::new(Method::Put, "v1/blobs/a"), &mut &b"bytes"[..]).expect("mocked");
    /// assert_eq!(answer.status, 201);
    /// assert_eq!(ctx.requests()[0].body.as_deref(), Some(&b"bytes"[..]));
    /// ```
    fn upload(&self, request: Request, body: &mut dyn Read) -> Result<StreamedResponse, HostError> {
        let mut whole = Vec::new();
        body.read_to_end(&mut whole).map_err(|e| {
            HostError::InvalidRequest(format!("cannot read the upload's body: {e}"))
        })?;
        self.send_request(request.with_body(whole))
            .map(StreamedResponse::from)
    }

    /// The terminal lmi runs in: which streams are terminals, its size, and whether colour
    /// is wanted. Needs no permission. (WIT: `terminal.info`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, Terminal};
    /// let ctx = MockContext::new().with_terminal(Terminal { stdout: true, color: true, width: Some(120), ..Terminal::default() });
    /// assert_eq!(ctx.terminal().width, Some(120));
    /// ```
    fn terminal(&self) -> Terminal;

    /// Writes `message` to lmi's log (and, by level and lmi's `-v`, to stderr). Needs no
    /// permission. (WIT: `log.log`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, LogLevel, MockContext};
    /// let ctx = MockContext::new();
    /// ctx.log(LogLevel::Info, "fetched 3 pages");
    /// assert_eq!(ctx.logged(), vec![(LogLevel::Info, "fetched 3 pages".to_string())]);
    /// ```
    fn log(&self, level: LogLevel, message: &str);

    /// The value of the configuration key `name`, which the manifest must declare.
    /// (WIT: `config.get`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_config("region", "eu-west-1");
    /// assert_eq!(ctx.config("region"), Ok(Some("eu-west-1".to_string())));
    /// ```
    fn config(&self, name: &str) -> Result<Option<String>, HostError>;

    /// How many times `-v` was given to lmi, before the command word (`lmi -vv tool`: 2;
    /// `lmi tool -v` hands `-v` to the plugin instead). lmi shows a plugin's
    /// [`log`](Context::log) messages by the same count; use it for output of the plugin's
    /// own that grows with `-v`. Needs no permission. (WIT: `invocation.verbosity`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// assert_eq!(MockContext::new().with_verbosity(2).verbosity(), 2);
    /// assert_eq!(MockContext::new().verbosity(), 0);
    /// ```
    fn verbosity(&self) -> u8;

    /// The output format given to lmi (`lmi --output json tool`), [`OutputFormat::Text`]
    /// without it. Needs no permission. (WIT: `invocation.output`.)
    ///
    /// ```
    /// use std::io::Write;
    /// use lmi_plugin_sdk::{Context, MockContext, OutputFormat};
    /// let ctx = MockContext::new().with_output_format(OutputFormat::Json);
    /// match ctx.output_format() {
    ///     OutputFormat::Json => writeln!(ctx.stdout(), r#"{{"count":3}}"#),
    ///     _ => writeln!(ctx.stdout(), "3 items"),
    /// }
    /// .expect("in memory");
    /// assert_eq!(ctx.stdout_text(), "{\"count\":3}\n");
    /// ```
    fn output_format(&self) -> OutputFormat;

    /// The running plugin's name and version, from its installed manifest: the one place a
    /// plugin's version is stated. Needs no permission. (WIT: `invocation.plugin`.)
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new().with_plugin("my-tool", "0.3.1");
    /// assert_eq!(ctx.plugin().name, "my-tool");
    /// ```
    fn plugin(&self) -> PluginIdentity;

    /// Where the command's normal output goes: the process's standard output by default.
    ///
    /// ```
    /// use std::io::Write;
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new();
    /// writeln!(ctx.stdout(), "done").expect("in memory");
    /// assert_eq!(ctx.stdout_text(), "done\n");
    /// ```
    fn stdout(&self) -> Box<dyn Write + '_> {
        Box::new(std::io::stdout())
    }

    /// Where diagnostics go: the process's standard error by default.
    ///
    /// ```
    /// use std::io::Write;
    /// use lmi_plugin_sdk::{Context, MockContext};
    /// let ctx = MockContext::new();
    /// writeln!(ctx.stderr(), "warning: slow").expect("in memory");
    /// assert_eq!(ctx.stderr_text(), "warning: slow\n");
    /// ```
    fn stderr(&self) -> Box<dyn Write + '_> {
        Box::new(std::io::stderr())
    }

    /// Where the command's input comes from: the process's standard input by default (under
    /// lmi, what the user pipes in, or the terminal), the bytes given to
    /// [`MockContext::with_stdin`](crate::MockContext::with_stdin) in a test. Read it here
    /// rather than through `std::io::stdin()`, so input-driven code can be unit-tested.
    ///
    /// ```
    /// use std::io::Read;
    /// use lmi_plugin_sdk::{Context, MockContext};
    ///
    /// fn count_lines(ctx: &dyn Context) -> std::io::Result<usize> {
    ///     let mut text = String::new();
    ///     ctx.stdin().read_to_string(&mut text)?;
    ///     Ok(text.lines().count())
    /// }
    ///
    /// assert_eq!(count_lines(&MockContext::new().with_stdin("a\nb\n")).unwrap(), 2);
    /// assert_eq!(count_lines(&MockContext::new()).unwrap(), 0); // no input: at its end
    /// ```
    fn stdin(&self) -> Box<dyn Read + '_> {
        Box::new(std::io::stdin())
    }
}

/// The real [`Context`], calling the host through the WIT `cli-context` imports.
///
/// [`export!`](crate::export) passes it to [`Plugin::run`](crate::Plugin::run); plugin code
/// rarely names it. Only usable inside a component run by `lmi`: on a native target the
/// imports are stubs that panic, so tests use [`MockContext`](crate::MockContext) instead.
///
/// ```no_run
/// use lmi_plugin_sdk::{Context, HostContext};
/// let env = HostContext.environment(); // calls the host
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HostContext;

impl Context for HostContext {
    fn environment(&self) -> Option<String> {
        wit::environment()
    }

    fn is_sso_authenticated(&self) -> bool {
        wit::is_sso_authenticated()
    }

    fn sso_user(&self) -> Option<SsoUser> {
        wit::get_sso_user().map(SsoUser::from)
    }

    fn get_token(&self) -> Result<AccessToken, HostError> {
        wit::get_token(None)
            .map(AccessToken::new)
            .map_err(HostError::from)
    }

    fn get_service_token(&self, service: &str) -> Result<AccessToken, HostError> {
        wit::get_token(Some(service))
            .map(AccessToken::new)
            .map_err(HostError::from)
    }

    fn send_request(&self, request: Request) -> Result<Response, HostError> {
        let line = request.line();
        wit::send_request(&request.into())
            .map(|response| Response::from(response).answering(line))
            .map_err(HostError::from)
    }

    fn send_streaming(&self, request: Request) -> Result<StreamedResponse, HostError> {
        let line = request.line();
        let answer = wit::send_request_streaming(&request.into()).map_err(HostError::from)?;
        Ok(StreamedResponse::from_host(
            answer.status,
            answer.headers,
            answer.body,
            line,
        ))
    }

    fn upload(&self, request: Request, body: &mut dyn Read) -> Result<StreamedResponse, HostError> {
        let line = request.line();
        let upload = wit::start_upload(&request.into()).map_err(HostError::from)?;
        let stream = upload.body().map_err(HostError::from)?;
        let pumped = crate::stream::pump(body, &stream);
        // The stream goes before `finish`, which ends the body only if all of it was read:
        // dropping the upload instead cuts the request off, so a partial body is never
        // taken for a whole one.
        drop(stream);
        match pumped {
            Ok(_) => {}
            Err(crate::stream::Stopped::Read(e)) => {
                drop(upload);
                return Err(HostError::InvalidRequest(format!(
                    "cannot read the upload's body: {e}"
                )));
            }
            // The host stopped taking the body: `finish` says why.
            Err(crate::stream::Stopped::Send) => {}
        }
        let answer = wit::Upload::finish(upload).map_err(HostError::from)?;
        Ok(StreamedResponse::from_host(
            answer.status,
            answer.headers,
            answer.body,
            line,
        ))
    }

    fn terminal(&self) -> Terminal {
        crate::bindings::lmi::plugin::terminal::info().into()
    }

    fn log(&self, level: LogLevel, message: &str) {
        crate::bindings::lmi::plugin::log::log(level.into(), message);
    }

    fn config(&self, name: &str) -> Result<Option<String>, HostError> {
        crate::bindings::lmi::plugin::config::get(name).map_err(HostError::from)
    }

    fn verbosity(&self) -> u8 {
        crate::invocation::verbosity()
    }

    fn output_format(&self) -> OutputFormat {
        crate::invocation::output_format()
    }

    fn plugin(&self) -> PluginIdentity {
        crate::invocation::plugin()
    }
}
