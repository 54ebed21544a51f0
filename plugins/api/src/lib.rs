//! `api`: call the active environment's service with the credentials lmi holds.
//!
//! * `lmi api get [-i] [-H NAME:VALUE]... [-f NAME=VALUE]... [-o FILE] <PATH>` sends an
//!   authenticated `GET` through the host (which attaches the token and retries once on a
//!   401) and prints the body, or writes it to FILE in the directory lmi runs in (with a
//!   progress bar on stderr when it is a terminal: `lmi_plugin_sdk::progress`). `-f` adds
//!   a query parameter, percent-encoded. A 4xx or 5xx status is an error naming the request,
//!   the status and the service's message (exit code 1). When lmi says colour is wanted
//!   (`terminal.info`: a terminal, or `lmi --color always`), a JSON body is printed indented
//!   and coloured; otherwise exactly as it came, for pipes and scripts.
//! * `lmi api post|put|patch [-d TEXT|@FILE|@-] ... <PATH>` sends a body: the text itself,
//!   the file FILE (in the directory lmi runs in), or stdin; or, with `-f NAME=VALUE`, a JSON
//!   object of those fields. `delete` sends none (its `-f` fields go in the query).
//! * `lmi api get --follow <PATH>` prints the body line by line as it arrives (a log, a
//!   chunked or server-sent-event stream), each line flushed; `post|put|patch --file FILE`
//!   streams FILE as the body in constant memory (contract 0.3's streams).
//! * `lmi api token` prints the environment's service access token (for scripts).
//! * `--service NAME` (`-s`, before or after the subcommand) sends to the environment's named
//!   service `NAME` (`OAUTH_SERVICE_<NAME>_URL`) instead of its default one; the plugin
//!   setting `service` (`LMI_PLUGIN_API__SERVICE`, e.g. per environment in its env file)
//!   chooses one when the flag is absent.
//!
//! The plugin never sees a URL or a client secret: paths are resolved by the host against
//! `OAUTH_SERVICE_URL`. Files are the `files = "read-write"` grant: only the directory lmi
//! runs in, refusals explained by `lmi_plugin_sdk::files`. Arguments are parsed by the SDK's
//! `clap` feature (one call: `lmi api --help`, `lmi api get --help` and `lmi api --version`
//! work inside the sandbox; a bad argument is a usage error, exit 2).

use std::io::{Read, Write};

use lmi_plugin_sdk::clap::{self, Args, Parser, Subcommand};
use lmi_plugin_sdk::progress::{Progress, Unit};
use lmi_plugin_sdk::{Context, Method, Plugin, PluginError, Request, Response, files};
use serde_json::Value;

/// The plugin; see the crate docs for its commands.
pub struct Api;

impl Plugin for Api {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        if command != "api" {
            return Err(PluginError::unknown_command(command));
        }
        let Some(cli) = clap::parse::<Cli>(ctx, command, args)? else {
            return Ok(0); // --help or --version, printed
        };
        // The flag, else the user's setting, else the environment's default service. (A
        // manifest without the setting, or a test context, answers `denied`: no setting.)
        let service = cli.service.or_else(|| ctx.config("service").ok().flatten());
        let service = service.as_deref();
        match cli.command {
            Command::Get(get) if get.follow => follow(ctx, service, &get.exchange),
            Command::Get(get) => send(ctx, service, Method::Get, &get.exchange, None),
            Command::Delete(exchange) => send(ctx, service, Method::Delete, &exchange, None),
            Command::Post(WithBody {
                exchange,
                file: Some(file),
                ..
            }) => upload(ctx, service, Method::Post, &exchange, &file),
            Command::Post(body) => send(
                ctx,
                service,
                Method::Post,
                &body.exchange,
                body.data.as_deref(),
            ),
            Command::Put(WithBody {
                exchange,
                file: Some(file),
                ..
            }) => upload(ctx, service, Method::Put, &exchange, &file),
            Command::Put(body) => send(
                ctx,
                service,
                Method::Put,
                &body.exchange,
                body.data.as_deref(),
            ),
            Command::Patch(WithBody {
                exchange,
                file: Some(file),
                ..
            }) => upload(ctx, service, Method::Patch, &exchange, &file),
            Command::Patch(body) => send(
                ctx,
                service,
                Method::Patch,
                &body.exchange,
                body.data.as_deref(),
            ),
            Command::Token => token(ctx, service),
        }
    }
}

lmi_plugin_sdk::export!(Api);

/// Send authenticated requests to the active environment's services.
#[derive(Debug, Parser)]
struct Cli {
    /// The environment's named service to call (OAUTH_SERVICE_<NAME>_URL); default: the
    /// `service` setting, else the environment's default service.
    #[arg(short, long, global = true, value_name = "NAME")]
    service: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send an authenticated GET request and print the response body.
    Get(Get),
    /// Send an authenticated POST request with a body (-d).
    Post(WithBody),
    /// Send an authenticated PUT request with a body (-d).
    Put(WithBody),
    /// Send an authenticated PATCH request with a body (-d).
    Patch(WithBody),
    /// Send an authenticated DELETE request.
    Delete(Exchange),
    /// Print the environment's service access token.
    Token,
}

#[derive(Debug, Args)]
struct Exchange {
    /// Path relative to the service URL, with an optional query: `v1/items?limit=5`.
    path: String,
    /// Add a request header; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Add a field; repeatable: a query parameter of a GET or DELETE, a string member of the
    /// JSON object sent as the body of a POST, PUT or PATCH.
    #[arg(short = 'f', long = "field", value_name = "NAME=VALUE", value_parser = parse_field)]
    fields: Vec<(String, String)>,
    /// Print the status line and response headers before the body.
    #[arg(short, long)]
    include: bool,
    /// Write the response body to FILE (in the directory lmi runs in) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
}

#[derive(Debug, Args)]
struct Get {
    #[command(flatten)]
    exchange: Exchange,
    /// Print the body line by line as it arrives (a log, a chunked or server-sent-event
    /// stream), until the service ends it or you stop lmi.
    #[arg(long, conflicts_with_all = ["output", "include"])]
    follow: bool,
}

#[derive(Debug, Args)]
struct WithBody {
    #[command(flatten)]
    exchange: Exchange,
    /// The request body: TEXT itself, @FILE for a file in the directory lmi runs in, or @-
    /// for stdin. A body that is JSON is sent as `application/json` unless -H says otherwise.
    #[arg(short, long, value_name = "TEXT|@FILE", conflicts_with = "fields")]
    data: Option<String>,
    /// Stream FILE (in the directory lmi runs in) as the body, a chunk at a time: a file of
    /// any size in constant memory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "fields"])]
    file: Option<String>,
}

fn parse_field(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{raw}`")),
    }
}

fn parse_header(raw: &str) -> Result<(String, String), String> {
    match raw.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected NAME:VALUE, got `{raw}`")),
    }
}

/// The body `--data` names: the text itself, `@FILE` read from the working directory, or
/// `@-` read from stdin.
fn body(ctx: &dyn Context, data: &str) -> Result<Vec<u8>, PluginError> {
    match data.strip_prefix('@') {
        Some("-") => {
            let mut bytes = Vec::new();
            ctx.stdin().read_to_end(&mut bytes)?;
            Ok(bytes)
        }
        Some(file) => std::fs::read(file).map_err(|e| files::read_error(file, &e)),
        None => Ok(data.as_bytes().to_vec()),
    }
}

fn send(
    ctx: &dyn Context,
    service: Option<&str>,
    method: Method,
    exchange: &Exchange,
    data: Option<&str>,
) -> Result<u8, PluginError> {
    let Exchange {
        path,
        headers,
        fields,
        include,
        output,
    } = exchange;
    let mut request = new_request(service, method, path, headers);
    if matches!(method, Method::Get | Method::Delete) {
        for (name, value) in fields {
            request = request.with_query(name, value);
        }
    } else if !fields.is_empty() {
        let object: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        request = request.json(&object)?;
    }
    if let Some(data) = data {
        let bytes = body(ctx, data)?;
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        request = if !typed && serde_json::from_slice::<Value>(&bytes).is_ok() {
            request
                .with_header("content-type", "application/json")
                .with_body(bytes)
        } else {
            request.with_body(bytes)
        };
    }
    if let Some(file) = output {
        return download(ctx, request, file, *include);
    }
    let response = ctx.send_request(request)?;
    if *include {
        write_head(&mut *ctx.stdout(), response.status, &response.headers)?;
    }
    let response = response.error_for_status()?;
    // Parsed only when it will be shown coloured: a body may be up to 32 MiB.
    if ctx.terminal().color
        && let Ok(json) = response.parse_json::<Value>()
    {
        let mut out = ctx.stdout();
        write_json(&mut *out, &json, 0)?;
        writeln!(out)?;
        return Ok(0);
    }
    write_body(&mut *ctx.stdout(), &response)?;
    Ok(0)
}

/// `-o FILE`: the answer streamed into `FILE` as it arrives, in constant memory, under a
/// progress bar on stderr when it is a terminal (over the `content-length` the service sent,
/// else a spinner counting bytes). The body goes to `FILE.part` first and is renamed when
/// whole, so an interrupted download (Ctrl-C, a cut connection) never leaves a short `FILE`.
fn download(
    ctx: &dyn Context,
    request: Request,
    file: &str,
    include: bool,
) -> Result<u8, PluginError> {
    let mut answer = ctx.send_streaming(request)?;
    if include {
        write_head(&mut *ctx.stdout(), answer.status, &answer.headers)?;
    }
    if answer.status >= 400 {
        // The error names the request, the status and the service's message.
        answer.into_response(ERROR_BODY_LIMIT)?.error_for_status()?;
        return Ok(1);
    }
    let total = answer
        .header("content-length")
        .and_then(|n| n.trim().parse::<u64>().ok());
    let mut progress = match total {
        Some(total) => Progress::bar(ctx, total, Unit::Bytes),
        None => Progress::spinner(ctx, Unit::Bytes),
    }
    .with_message(file);
    let part = format!("{file}.part");
    let failed = |e: std::io::Error| files::write_error(&part, &e);
    let mut out = std::fs::File::create(&part).map_err(failed)?;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = answer.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        out.write_all(&chunk[..n]).map_err(failed)?;
        progress.inc(n as u64);
    }
    out.flush().map_err(failed)?;
    drop(out);
    std::fs::rename(&part, file).map_err(|e| files::write_error(file, &e))?;
    progress.finish();
    Ok(0)
}

/// A request to `path` on `service` with `headers`.
fn new_request(
    service: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(String, String)],
) -> Request {
    let mut request = Request::new(method, path);
    if let Some(service) = service {
        request = request.to_service(service);
    }
    for (name, value) in headers {
        request = request.with_header(name, value);
    }
    request
}

/// The most of a failed streamed answer read for its message.
const ERROR_BODY_LIMIT: u64 = 64 << 10;

/// `get --follow`: each line printed (and flushed) as it arrives.
fn follow(
    ctx: &dyn Context,
    service: Option<&str>,
    exchange: &Exchange,
) -> Result<u8, PluginError> {
    let mut request = new_request(service, Method::Get, &exchange.path, &exchange.headers);
    for (name, value) in &exchange.fields {
        request = request.with_query(name, value);
    }
    let answer = ctx.send_streaming(request)?;
    if answer.status >= 400 {
        // The error names the request, the status and the service's message.
        answer.into_response(ERROR_BODY_LIMIT)?.error_for_status()?;
        return Ok(1);
    }
    let mut out = ctx.stdout();
    let mut lines = std::io::BufReader::new(answer);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        if std::io::BufRead::read_until(&mut lines, b'\n', &mut buffer)? == 0 {
            return Ok(0);
        }
        out.write_all(&buffer)?;
        if !buffer.ends_with(b"\n") {
            writeln!(out)?;
        }
        out.flush()?;
    }
}

/// `--file FILE`: the file streamed as the body; the answer printed as `send` prints one.
fn upload(
    ctx: &dyn Context,
    service: Option<&str>,
    method: Method,
    exchange: &Exchange,
    file: &str,
) -> Result<u8, PluginError> {
    let request = new_request(service, method, &exchange.path, &exchange.headers);
    let mut body = std::fs::File::open(file).map_err(|e| files::read_error(file, &e))?;
    let answer = ctx.upload(request, &mut body)?;
    // An answer to an upload is small (a status document): read whole, up to a bound.
    let response = answer.into_response(ERROR_BODY_LIMIT)?.error_for_status()?;
    write_body(&mut *ctx.stdout(), &response)?;
    Ok(0)
}

/// ANSI colours for JSON: keys blue, strings green, numbers cyan, literals yellow.
const KEY: &str = "\x1b[34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[36m";
const LITERAL: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// `value` indented by two spaces per level, coloured. Strings are written as JSON escapes
/// them, so text from the service cannot carry its own escape sequences.
fn write_json(out: &mut dyn Write, value: &Value, depth: usize) -> std::io::Result<()> {
    let pad = |n: usize| "  ".repeat(n);
    match value {
        Value::Null | Value::Bool(_) => write!(out, "{LITERAL}{value}{RESET}"),
        Value::Number(n) => write!(out, "{NUMBER}{n}{RESET}"),
        Value::String(_) => write!(out, "{STRING}{value}{RESET}"),
        Value::Array(items) if items.is_empty() => write!(out, "[]"),
        Value::Array(items) => {
            writeln!(out, "[")?;
            for (i, item) in items.iter().enumerate() {
                write!(out, "{}", pad(depth + 1))?;
                write_json(out, item, depth + 1)?;
                writeln!(out, "{}", if i + 1 < items.len() { "," } else { "" })?;
            }
            write!(out, "{}]", pad(depth))
        }
        Value::Object(map) if map.is_empty() => write!(out, "{{}}"),
        Value::Object(map) => {
            writeln!(out, "{{")?;
            for (i, (key, item)) in map.iter().enumerate() {
                let key = Value::String(key.clone());
                write!(out, "{}{KEY}{key}{RESET}: ", pad(depth + 1))?;
                write_json(out, item, depth + 1)?;
                writeln!(out, "{}", if i + 1 < map.len() { "," } else { "" })?;
            }
            write!(out, "{}}}", pad(depth))
        }
    }
}

fn write_head(
    out: &mut dyn Write,
    status: u16,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    writeln!(out, "HTTP {status}")?;
    for (name, value) in headers {
        writeln!(out, "{name}: {value}")?;
    }
    writeln!(out)
}

/// Writes the body as it came, ending text with a newline so the shell prompt starts on its
/// own line.
fn write_body(out: &mut dyn Write, response: &Response) -> std::io::Result<()> {
    out.write_all(&response.body)?;
    let is_text = std::str::from_utf8(&response.body).is_ok();
    if is_text && !response.body.is_empty() && !response.body.ends_with(b"\n") {
        writeln!(out)?;
    }
    Ok(())
}

fn token(ctx: &dyn Context, service: Option<&str>) -> Result<u8, PluginError> {
    let token = match service {
        Some(service) => ctx.get_service_token(service)?,
        None => ctx.get_token()?,
    };
    writeln!(ctx.stdout(), "{}", token.secret())?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmi_plugin_sdk::{HostError, Method, MockContext};

    fn run(ctx: &MockContext, words: &[&str]) -> Result<u8, PluginError> {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Api::run(ctx, "api", &args)
    }

    /// With colour wanted, JSON is indented and coloured; a string's own escape character
    /// stays escaped (`\u001b`), so a service cannot paint the terminal.
    #[test]
    fn get_prints_pretty_coloured_json_when_colour_is_wanted() {
        let ctx = MockContext::new()
            .with_terminal(lmi_plugin_sdk::Terminal {
                stdout: true,
                color: true,
                ..Default::default()
            })
            .with_response(
                Method::Get,
                "v1/items",
                Response::json(200, r#"{"id":1,"name":"w\u001b[2J","tags":[]}"#),
            );
        assert_eq!(run(&ctx, &["get", "v1/items"]), Ok(0));
        assert_eq!(
            ctx.stdout_text(),
            "{\n  \x1b[34m\"id\"\x1b[0m: \x1b[36m1\x1b[0m,\n  \x1b[34m\"name\"\x1b[0m: \x1b[32m\"w\\u001b[2J\"\x1b[0m,\n  \x1b[34m\"tags\"\x1b[0m: []\n}\n"
        );
    }

    #[test]
    fn get_prints_the_body_of_a_successful_response() {
        let ctx = MockContext::new().with_response(
            Method::Get,
            "v1/items",
            Response::json(200, r#"[{"id":1}]"#),
        );
        assert_eq!(run(&ctx, &["get", "v1/items?limit=1"]), Ok(0));
        assert_eq!(ctx.stdout_text(), "[{\"id\":1}]\n");
        let requests = ctx.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, Method::Get);
        assert_eq!(requests[0].path, "v1/items?limit=1");
    }

    #[test]
    fn get_sends_extra_headers_and_can_include_the_status() {
        let ctx = MockContext::new().with_response(
            Method::Get,
            "v1/x",
            Response::new(204, "").with_header("etag", "v1"),
        );
        assert_eq!(
            run(&ctx, &["get", "-i", "-H", "accept: text/csv", "v1/x"]),
            Ok(0)
        );
        assert_eq!(ctx.stdout_text(), "HTTP 204\netag: v1\n\n");
        assert_eq!(
            ctx.requests()[0].headers,
            [("accept".to_string(), "text/csv".to_string())]
        );
    }

    #[test]
    fn an_error_status_is_a_failure_naming_the_request_and_the_services_message() {
        let ctx = MockContext::new()
            .with_response(
                Method::Get,
                "v1/missing",
                Response::new(404, "no such item\n"),
            )
            .with_response(
                Method::Delete,
                "v1/items/7",
                Response::json(409, r#"{"error":"conflict","message":"item 7 is in use"}"#),
            );
        assert_eq!(
            run(&ctx, &["get", "v1/missing?token=s3cr3t"]),
            Err(PluginError::failed(
                "GET v1/missing returned HTTP 404 Not Found: no such item"
            ))
        );
        assert_eq!(
            run(&ctx, &["delete", "-i", "v1/items/7"]),
            Err(PluginError::failed(
                "DELETE v1/items/7 returned HTTP 409 Conflict: item 7 is in use (conflict)"
            ))
        );
        // `-i` still shows the head of the answer that failed.
        assert_eq!(
            ctx.stdout_text(),
            "HTTP 409\ncontent-type: application/json\n\n"
        );
    }

    #[test]
    fn get_passes_a_host_error_through_as_is() {
        let ctx = MockContext::new().with_request_error(
            Method::Get,
            "v1/items",
            HostError::AuthFailed("second 401".into()),
        );
        assert_eq!(
            run(&ctx, &["get", "v1/items"]),
            Err(PluginError::Host(HostError::AuthFailed(
                "second 401".into()
            )))
        );
    }

    #[test]
    fn a_body_comes_from_text_or_a_file_and_json_is_typed() {
        let dir = std::env::temp_dir().join(format!("api-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("body.json");
        std::fs::write(&file, r#"{"name":"w"}"#).unwrap();
        let ctx = MockContext::new()
            .with_response(Method::Post, "v1/items", Response::new(201, "made"))
            .with_response(Method::Put, "v1/notes", Response::new(200, ""))
            .with_response(Method::Patch, "v1/notes", Response::new(200, ""));
        let at_file = format!("@{}", file.display());
        assert_eq!(run(&ctx, &["post", "-d", &at_file, "v1/items"]), Ok(0));
        assert_eq!(
            run(
                &ctx,
                &[
                    "put",
                    "-H",
                    "content-type: text/plain",
                    "-d",
                    "{}",
                    "v1/notes"
                ]
            ),
            Ok(0)
        );
        assert_eq!(
            run(&ctx, &["patch", "--data", "plain words", "v1/notes"]),
            Ok(0)
        );
        let requests = ctx.requests();
        assert_eq!(requests[0].method, Method::Post);
        assert_eq!(requests[0].body.as_deref(), Some(&br#"{"name":"w"}"#[..]));
        assert_eq!(
            requests[0].headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(
            requests[1].headers,
            [("content-type".to_string(), "text/plain".to_string())]
        );
        assert_eq!(requests[2].body.as_deref(), Some(&b"plain words"[..]));
        assert!(requests[2].headers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `-d @-` reads the body from stdin (the context's, so it is tested here).
    #[test]
    fn a_body_comes_from_stdin() {
        let ctx = MockContext::new()
            .with_stdin("{\"title\":\"from a pipe\"}\n")
            .with_response(Method::Post, "v1/tickets", Response::new(201, "made"));
        assert_eq!(run(&ctx, &["post", "-d", "@-", "v1/tickets"]), Ok(0));
        let requests = ctx.requests();
        assert_eq!(
            requests[0].body.as_deref(),
            Some(&b"{\"title\":\"from a pipe\"}\n"[..])
        );
        assert_eq!(
            requests[0].headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        // Empty stdin is an empty body.
        let ctx = MockContext::new().with_response(Method::Put, "v1/x", Response::new(204, ""));
        assert_eq!(run(&ctx, &["put", "-d", "@-", "v1/x"]), Ok(0));
        assert_eq!(ctx.requests()[0].body.as_deref(), Some(&b""[..]));
    }

    /// `-f` fields are the query of a GET or DELETE, each percent-encoded, and a JSON object
    /// body otherwise; `-d` and `-f` do not mix.
    #[test]
    fn fields_are_the_query_or_a_json_body() {
        let ctx = MockContext::new()
            .with_response(Method::Get, "v1/tickets", Response::json(200, "[]"))
            .with_response(Method::Post, "v1/tickets", Response::new(201, ""));
        let get = [
            "get",
            "-f",
            "q=a b&c",
            "-f",
            "owner=zoë",
            "v1/tickets?limit=5",
        ];
        assert_eq!(run(&ctx, &get), Ok(0));
        let post = [
            "post",
            "-f",
            "title=Disk \"full\"",
            "-f",
            "tag=ops",
            "v1/tickets",
        ];
        assert_eq!(run(&ctx, &post), Ok(0));
        let requests = ctx.requests();
        assert_eq!(
            requests[0].path,
            "v1/tickets?limit=5&q=a%20b%26c&owner=zo%C3%AB"
        );
        assert_eq!(requests[0].body, None);
        assert_eq!(
            requests[1].body.as_deref(),
            Some(&br#"{"tag":"ops","title":"Disk \"full\""}"#[..])
        );
        assert_eq!(
            requests[1].headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert!(matches!(
            run(&ctx, &["post", "-f", "a=1", "-d", "{}", "v1/tickets"]),
            Err(PluginError::Usage(_))
        ));
        assert!(matches!(
            run(&ctx, &["get", "-f", "novalue", "v1/tickets"]),
            Err(PluginError::Usage(_))
        ));
        assert_eq!(ctx.requests().len(), 2);
    }

    #[test]
    fn output_goes_to_a_file_and_an_unreadable_body_is_a_failure_naming_it() {
        let dir = std::env::temp_dir().join(format!("api-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("items.json");
        let ctx =
            MockContext::new().with_response(Method::Get, "v1/items", Response::json(200, "[1]"));
        let out_arg = out.display().to_string();
        assert_eq!(run(&ctx, &["get", "-o", &out_arg, "v1/items"]), Ok(0));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "[1]");
        assert_eq!(ctx.stdout_text(), "");
        let missing = format!("@{}", dir.join("missing.json").display());
        let Err(PluginError::Failed(message)) = run(&ctx, &["post", "-d", &missing, "v1/items"])
        else {
            panic!("expected a failure");
        };
        assert!(message.starts_with("cannot read `"), "{message}");
        assert_eq!(ctx.requests().len(), 1, "nothing sent without its body");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `-o FILE` shows a bar over the content-length on a terminal's stderr (a spinner
    /// without one) and leaves the line blank; piped, stderr stays empty.
    #[test]
    fn output_to_a_file_shows_progress_only_on_a_terminal() {
        use lmi_plugin_sdk::Terminal;
        let dir = std::env::temp_dir().join(format!("api-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out_arg = dir.join("big.bin").display().to_string();
        let body = vec![b'x'; 200 << 10];
        let sized =
            Response::new(200, body.clone()).with_header("content-length", body.len().to_string());
        let tty = Terminal {
            stderr: true,
            width: Some(100),
            ..Terminal::default()
        };
        for (response, drawn) in [(sized, "% "), (Response::new(200, body.clone()), "- ")] {
            let piped = MockContext::new().with_response(Method::Get, "v1/big", response.clone());
            assert_eq!(run(&piped, &["get", "-o", &out_arg, "v1/big"]), Ok(0));
            assert_eq!(piped.stderr_text(), "");
            let ctx = MockContext::new().with_terminal(tty).with_response(
                Method::Get,
                "v1/big",
                response,
            );
            assert_eq!(run(&ctx, &["get", "-o", &out_arg, "v1/big"]), Ok(0));
            let shown = ctx.stderr_text();
            assert!(
                shown.starts_with('\r') && shown.contains(drawn),
                "{shown:?}"
            );
            assert!(shown.contains("big.bin"), "{shown:?}");
            assert!(
                shown.ends_with(&format!("{}\r", " ".repeat(20))),
                "{shown:?}"
            );
            assert_eq!(std::fs::read(&out_arg).unwrap(), body);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `--service` (or the `service` setting) sends to a named service; the flag wins.
    #[test]
    fn a_named_service_comes_from_the_flag_or_the_setting() {
        let ctx = MockContext::new()
            .with_config("service", "billing")
            .with_service_response(
                "billing",
                Method::Get,
                "v1/invoices",
                Response::json(200, "[1]"),
            )
            .with_service_response(
                "search",
                Method::Get,
                "v1/invoices",
                Response::json(200, "[2]"),
            );
        assert_eq!(run(&ctx, &["get", "v1/invoices"]), Ok(0));
        assert_eq!(run(&ctx, &["get", "-s", "search", "v1/invoices"]), Ok(0));
        assert_eq!(
            run(&ctx, &["--service", "search", "get", "v1/invoices"]),
            Ok(0)
        );
        assert_eq!(ctx.stdout_text(), "[1]\n[2]\n[2]\n");
        let services: Vec<_> = ctx.requests().into_iter().map(|r| r.service).collect();
        assert_eq!(
            services,
            [
                Some("billing".into()),
                Some("search".into()),
                Some("search".into())
            ]
        );
    }

    #[test]
    fn token_prints_the_token() {
        let ctx = MockContext::new().with_token("t0k3n");
        assert_eq!(run(&ctx, &["token"]), Ok(0));
        assert_eq!(ctx.stdout_text(), "t0k3n\n");
    }

    #[test]
    fn token_without_permission_is_the_hosts_denial() {
        let ctx = MockContext::new().with_token_error(HostError::Denied("not granted".into()));
        assert!(matches!(
            run(&ctx, &["token"]),
            Err(PluginError::Host(HostError::Denied(_)))
        ));
    }

    #[test]
    fn help_is_printed_inside_the_plugin_and_exits_0() {
        let ctx = MockContext::new();
        assert_eq!(run(&ctx, &["--help"]), Ok(0));
        let help = ctx.stdout_text();
        assert!(
            help.contains("Usage: lmi api [OPTIONS] <COMMAND>"),
            "{help}"
        );
        assert!(help.contains("--service <NAME>"), "{help}");
        assert!(help.contains("get"), "{help}");

        let ctx = MockContext::new();
        assert_eq!(run(&ctx, &["get", "--help"]), Ok(0));
        assert!(ctx.stdout_text().contains("NAME:VALUE"));
    }

    /// `--version` is the installed manifest's, not Cargo's.
    #[test]
    fn version_is_the_manifests() {
        let ctx = MockContext::new().with_plugin("api", "7.0.1");
        assert_eq!(run(&ctx, &["--version"]), Ok(0));
        assert_eq!(ctx.stdout_text(), "api 7.0.1\n");
    }

    #[test]
    fn bad_arguments_are_a_usage_error() {
        let ctx = MockContext::new();
        let Err(PluginError::Usage(message)) = run(&ctx, &["get"]) else {
            panic!("expected a usage error");
        };
        assert!(message.contains("<PATH>"), "{message}");
        // lmi prints `error: ` before it: the message has none of its own.
        assert!(!message.contains("error:"), "{message}");
        // No command: clap's short usage error, not the whole help.
        let Err(PluginError::Usage(message)) = run(&ctx, &[]) else {
            panic!("expected a usage error");
        };
        assert!(message.contains("requires a subcommand"), "{message}");
        assert!(!message.contains("Send an authenticated GET"), "{message}");
        assert!(matches!(
            run(&ctx, &["get", "-H", "nocolon", "v1"]),
            Err(PluginError::Usage(_))
        ));
        assert!(ctx.requests().is_empty());
    }
}
