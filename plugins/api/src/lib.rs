//! `api`: call the active environment's service with the credentials lmi holds.
//!
//! * `lmi api get [-i] [-H NAME:VALUE]... <PATH>` sends an authenticated `GET` through the
//!   host (which attaches the token and retries once on a 401) and prints the body. A
//!   non-2xx status is reported on stderr with exit code 1. When lmi says colour is wanted
//!   (`terminal.info`: a terminal, or `lmi --color always`), a JSON body is printed indented
//!   and coloured; otherwise exactly as it came, for pipes and scripts.
//! * `lmi api token` prints the environment's service access token (for scripts).
//!
//! The plugin never sees a URL or a client secret: paths are resolved by the host against
//! `OAUTH_SERVICE_URL`. Argument parsing is clap's derive API, so `lmi api --help` and
//! `lmi api get --help` work inside the sandbox.

use std::io::Write;

use clap::{Parser, Subcommand};
use lmi_plugin_sdk::{Context, Plugin, PluginError, Request, Response};

/// The plugin; see the crate docs for its commands.
pub struct Api;

impl Plugin for Api {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        if command != "api" {
            return Err(PluginError::unknown_command(command));
        }
        let cli = match Cli::try_parse_from(
            std::iter::once("api").chain(args.iter().map(String::as_str)),
        ) {
            Ok(cli) => cli,
            Err(error) => return clap_error(ctx, &error),
        };
        match cli.command {
            Command::Get {
                path,
                headers,
                include,
            } => get(ctx, &path, &headers, include),
            Command::Token => token(ctx),
        }
    }
}

lmi_plugin_sdk::export!(Api);

/// Send authenticated requests to the active environment's service.
#[derive(Debug, Parser)]
#[command(name = "api", bin_name = "lmi api", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send an authenticated GET request and print the response body.
    Get {
        /// Path relative to the service URL, with an optional query: `v1/items?limit=5`.
        path: String,
        /// Add a request header; repeatable.
        #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
        headers: Vec<(String, String)>,
        /// Print the status line and response headers before the body.
        #[arg(short, long)]
        include: bool,
    },
    /// Print the environment's service access token.
    Token,
}

fn parse_header(raw: &str) -> Result<(String, String), String> {
    match raw.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected NAME:VALUE, got `{raw}`")),
    }
}

/// `--help` and `--version` are successful output; anything else is a usage error the host
/// reports with exit code 2.
fn clap_error(ctx: &dyn Context, error: &clap::Error) -> Result<u8, PluginError> {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            write!(ctx.stdout(), "{error}")?;
            Ok(0)
        }
        // `lmi api` alone: show the help, but as a usage error.
        _ => Err(PluginError::usage(error.to_string().trim_end())),
    }
}

fn get(
    ctx: &dyn Context,
    path: &str,
    headers: &[(String, String)],
    include: bool,
) -> Result<u8, PluginError> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.with_header(name, value);
    }
    let response = ctx.send_request(request)?;
    if include {
        write_head(&mut *ctx.stdout(), &response)?;
    }
    if !response.is_success() {
        let mut err = ctx.stderr();
        writeln!(err, "api: GET {path} returned HTTP {}", response.status)?;
        write_body(&mut *err, &response)?;
        return Ok(1);
    }
    // Parsed only when it will be shown coloured: a body may be up to 32 MiB.
    if ctx.terminal().color
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(&response.body)
    {
        let mut out = ctx.stdout();
        write_json(&mut *out, &json, 0)?;
        writeln!(out)?;
        return Ok(0);
    }
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
fn write_json(out: &mut dyn Write, value: &serde_json::Value, depth: usize) -> std::io::Result<()> {
    use serde_json::Value;
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

fn write_head(out: &mut dyn Write, response: &Response) -> std::io::Result<()> {
    writeln!(out, "HTTP {}", response.status)?;
    for (name, value) in &response.headers {
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

fn token(ctx: &dyn Context) -> Result<u8, PluginError> {
    let token = ctx.get_token()?;
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
        let ctx =
            MockContext::new().with_response("v1/items", Response::json(200, r#"[{"id":1}]"#));
        assert_eq!(run(&ctx, &["get", "v1/items?limit=1"]), Ok(0));
        assert_eq!(ctx.stdout_text(), "[{\"id\":1}]\n");
        let requests = ctx.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, Method::Get);
        assert_eq!(requests[0].path, "v1/items?limit=1");
    }

    #[test]
    fn get_sends_extra_headers_and_can_include_the_status() {
        let ctx = MockContext::new()
            .with_response("v1/x", Response::new(204, "").with_header("etag", "v1"));
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
    fn get_reports_a_non_2xx_status_on_stderr_and_exits_1() {
        let ctx =
            MockContext::new().with_response("v1/missing", Response::new(404, "no such item"));
        assert_eq!(run(&ctx, &["get", "v1/missing"]), Ok(1));
        assert_eq!(ctx.stdout_text(), "");
        assert_eq!(
            ctx.stderr_text(),
            "api: GET v1/missing returned HTTP 404\nno such item\n"
        );
    }

    #[test]
    fn get_passes_a_host_error_through_as_is() {
        let ctx = MockContext::new()
            .with_request_error("v1/items", HostError::AuthFailed("second 401".into()));
        assert_eq!(
            run(&ctx, &["get", "v1/items"]),
            Err(PluginError::Host(HostError::AuthFailed(
                "second 401".into()
            )))
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
        assert!(help.contains("Usage: lmi api <COMMAND>"), "{help}");
        assert!(help.contains("get"), "{help}");

        let ctx = MockContext::new();
        assert_eq!(run(&ctx, &["get", "--help"]), Ok(0));
        assert!(ctx.stdout_text().contains("NAME:VALUE"));
    }

    #[test]
    fn bad_arguments_are_a_usage_error() {
        let ctx = MockContext::new();
        let Err(PluginError::Usage(message)) = run(&ctx, &["get"]) else {
            panic!("expected a usage error");
        };
        assert!(message.contains("<PATH>"), "{message}");
        assert!(matches!(run(&ctx, &[]), Err(PluginError::Usage(_))));
        assert!(matches!(
            run(&ctx, &["get", "-H", "nocolon", "v1"]),
            Err(PluginError::Usage(_))
        ));
        assert!(ctx.requests().is_empty());
    }
}
