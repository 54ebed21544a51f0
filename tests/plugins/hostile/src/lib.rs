//! `hostile`: a fixture plugin that misbehaves on request, for the host's sandbox tests.
//!
//! Each command tries one thing a plugin must not get away with (or checks one boundary)
//! and prints a line the tests can match. The manifest requests no permissions. See
//! README.md for the table of commands and what each prints.

use std::hint::black_box;
use std::io::Write;

use lmi_plugin_sdk::progress::{Progress, Unit};
use lmi_plugin_sdk::{Context, LogLevel, Plugin, PluginError, Request, files};

/// The fixture plugin; see README.md.
pub struct Hostile;

impl Plugin for Hostile {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        let mut out = ctx.stdout();
        match command {
            "spin" => spin(),
            "echo-stdin" => {
                let mut input = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
                writeln!(out, "echo-stdin: {}", input.trim_end())?;
                Ok(0)
            }
            "sleep" => {
                // Waits in the host (a clock pollable), where no epoch check can stop it.
                std::thread::sleep(std::time::Duration::from_secs(3600));
                writeln!(out, "sleep: WOKE")?;
                Ok(0)
            }
            "linger" => {
                // Outlives a short LMI_PLUGIN_TIMEOUT_SECS by its declared `timeout_secs`.
                let secs = args.first().and_then(|a| a.parse().ok()).unwrap_or(2);
                std::thread::sleep(std::time::Duration::from_secs(secs));
                writeln!(out, "linger: DONE after {secs} s")?;
                Ok(0)
            }
            "follow" => {
                // `timeout = "none"`: runs until stopped. `token` first takes a token (with the
                // service_token grant a test gives a copy); `spin` then computes, otherwise it
                // waits in the host.
                if args.iter().any(|a| a == "token") {
                    match ctx.get_token() {
                        Ok(_) => writeln!(out, "follow: token GOT")?,
                        Err(error) => writeln!(out, "follow: token {error}")?,
                    }
                }
                writeln!(out, "follow: STARTED")?;
                out.flush()?;
                if args.iter().any(|a| a == "spin") {
                    spin()
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            "grow" => grow(),
            "recurse" => {
                let depth = recurse(0);
                writeln!(out, "recurse: returned at depth {depth}")?;
                Ok(0)
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "exit3" => Ok(3),
            "exit-process" => std::process::exit(7),
            "read-file" => {
                let path = one_arg(command, args, "<PATH>")?;
                match std::fs::read_to_string(path) {
                    Ok(text) => writeln!(out, "read-file: READ {} bytes: {text}", text.len())?,
                    Err(error) => writeln!(
                        out,
                        "read-file: denied: {}",
                        files::read_error(path, &error)
                    )?,
                }
                Ok(0)
            }
            "write-file" => {
                // `write-file <PATH> <TEXT>`: create or replace PATH with TEXT.
                let [path, text] = args else {
                    return Err(PluginError::usage("usage: lmi write-file <PATH> <TEXT>"));
                };
                match std::fs::write(path, text) {
                    Ok(()) => writeln!(out, "write-file: WROTE {} bytes", text.len())?,
                    Err(error) => writeln!(
                        out,
                        "write-file: denied: {}",
                        files::write_error(path, &error)
                    )?,
                }
                Ok(0)
            }
            "list" => {
                let dir = one_arg(command, args, "<DIR>")?;
                match std::fs::read_dir(dir).and_then(|d| {
                    d.map(|e| e.map(|e| e.file_name()))
                        .collect::<Result<Vec<_>, _>>()
                }) {
                    Ok(mut names) => {
                        names.sort();
                        let names: Vec<_> = names.iter().map(|n| n.to_string_lossy()).collect();
                        writeln!(out, "list: LISTED {}", names.join(" "))?
                    }
                    Err(error) => {
                        writeln!(out, "list: denied: {}", files::read_error(dir, &error))?
                    }
                }
                Ok(0)
            }
            "fs" => {
                // `fs <OP> <PATH> [<ARG>]`: one change to the filesystem, for the read-only
                // grant's tests; prints `fs OP: DONE` or `fs OP: denied: <why>`.
                let (op, path, arg) = match args {
                    [op, path] => (op.as_str(), path.as_str(), ""),
                    [op, path, arg] => (op.as_str(), path.as_str(), arg.as_str()),
                    _ => return Err(PluginError::usage("usage: lmi fs <OP> <PATH> [<ARG>]")),
                };
                match change(op, path, arg) {
                    Ok(()) => writeln!(out, "fs {op}: DONE")?,
                    Err(error) => {
                        writeln!(out, "fs {op}: denied: {}", files::write_error(path, &error))?
                    }
                }
                Ok(0)
            }
            "head" => {
                // `head <PATH>`: the first line of a file, cut to the terminal's width (the
                // benchmark of a plugin that uses files and the terminal).
                let path = one_arg(command, args, "<PATH>")?;
                let width = ctx.terminal().width.unwrap_or(80) as usize;
                let text =
                    std::fs::read_to_string(path).map_err(|e| files::read_error(path, &e))?;
                let line: String = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(width)
                    .collect();
                writeln!(out, "{line}")?;
                Ok(0)
            }
            "files-access" => {
                writeln!(out, "files-access: {:?}", files::working_dir_access())?;
                Ok(0)
            }
            "read-env" => {
                let var = one_arg(command, args, "<VAR>")?;
                // Probing the sandbox: the host must have given the plugin no environment.
                #[allow(clippy::disallowed_methods)]
                let value = std::env::var(var);
                match value {
                    Ok(value) => writeln!(out, "read-env: SET={value}")?,
                    Err(_) => writeln!(out, "read-env: unset")?,
                }
                Ok(0)
            }
            "connect" => {
                let addr = one_arg(command, args, "<ADDR>")?;
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => writeln!(out, "connect: CONNECTED")?,
                    Err(error) => writeln!(out, "connect: denied: {error}")?,
                }
                Ok(0)
            }
            "flood" => loop {
                if writeln!(out, "flood: the quick brown fox jumps over the lazy dog").is_err() {
                    return Ok(0);
                }
            },
            "token" => {
                // Prints `token: <kind>: <message>`, e.g. `token: denied: ...`.
                match ctx.get_token() {
                    Ok(_) => writeln!(out, "token: GOT")?,
                    Err(error) => writeln!(out, "token: {error}")?,
                }
                Ok(0)
            }
            "stream" | "stream-ignore" | "stream-drop" | "stream-many" | "download" | "upload"
            | "upload-abandon" => streams(ctx, &mut out, command, args),
            "request" => {
                let path = one_arg(command, args, "<PATH>")?;
                match ctx.send_request(Request::get(path)) {
                    Ok(response) => writeln!(out, "request: status {}", response.status)?,
                    Err(error) => writeln!(out, "request: {error}")?,
                }
                Ok(0)
            }
            "request-flood" => {
                // `request-flood <N> <PATH>`: N requests, one line each.
                let (count, path) = match args {
                    [n, path] => (n.parse::<u32>().unwrap_or(0), path),
                    _ => return Err(PluginError::usage("usage: lmi request-flood <N> <PATH>")),
                };
                for i in 1..=count {
                    match ctx.send_request(Request::get(path.as_str())) {
                        Ok(response) => {
                            writeln!(out, "request-flood: {i} status {}", response.status)?
                        }
                        Err(error) => writeln!(out, "request-flood: {i} {}", error.kind())?,
                    }
                }
                Ok(0)
            }
            "request-header" => {
                // `request-header <PATH> <NAME> <VALUE>`: one GET with one extra header.
                let [path, name, value] = args else {
                    return Err(PluginError::usage(
                        "usage: lmi request-header <PATH> <NAME> <VALUE>",
                    ));
                };
                match ctx.send_request(Request::get(path.as_str()).with_header(name, value)) {
                    Ok(response) => writeln!(out, "request: status {}", response.status)?,
                    Err(error) => writeln!(out, "request: {error}")?,
                }
                Ok(0)
            }
            "identity" => {
                writeln!(
                    out,
                    "identity: authenticated {}",
                    ctx.is_sso_authenticated()
                )?;
                match ctx.sso_user() {
                    Some(user) => writeln!(out, "identity: subject {}", user.subject)?,
                    None => writeln!(out, "identity: no identity")?,
                }
                Ok(0)
            }
            "fail-escapes" => Err(PluginError::failed(
                "it failed \u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m \u{202e}end",
            )),
            "print-escapes" => {
                // OSC 52 (set the clipboard), OSC 8 (a hyperlink), and a colour.
                write!(out, "print-escapes: \u{1b}]52;c;cm0gLXJmIH4=\u{7}")?;
                // The same write in the forms terminals also accept: a leading zero, the C1
                // OSC introducer as UTF-8 (U+009D … U+009C) and as raw 8-bit bytes.
                write!(out, "\u{1b}]052;c;cm0gLXJmIH4=\u{1b}\\")?;
                write!(out, "\u{9d}52;c;cm0gLXJmIH4=\u{9c}")?;
                out.write_all(b"\x9d0052;c;cm0gLXJmIH4=\x9c")?;
                write!(
                    out,
                    "\u{1b}]8;;https://example.invalid/\u{1b}\\link\u{1b}]8;;\u{1b}\\ "
                )?;
                writeln!(out, "\u{1b}[32mgreen\u{1b}[0m")?;
                Ok(0)
            }
            "sso-only" => {
                writeln!(out, "sso-only: STARTED")?;
                Ok(0)
            }
            "terminal" => {
                let t = ctx.terminal();
                let size = match (t.width, t.height) {
                    (Some(w), Some(h)) => format!("{w}x{h}"),
                    _ => "none".to_owned(),
                };
                writeln!(
                    out,
                    "terminal: stdin={} stdout={} stderr={} size={size} color={}",
                    t.stdin, t.stdout, t.stderr, t.color
                )?;
                // What Rust's own `IsTerminal` answers inside the sandbox (documented for
                // authors beside `ctx.terminal()`).
                use std::io::IsTerminal;
                writeln!(
                    out,
                    "std: stdin={} stdout={} stderr={}",
                    std::io::stdin().is_terminal(),
                    std::io::stdout().is_terminal(),
                    std::io::stderr().is_terminal()
                )?;
                Ok(0)
            }
            "log" => {
                // `log <TEXT> [ROUNDS]`: one message per level, each naming its level and the
                // text, ROUNDS times (default once).
                let text = args.first().map_or("", String::as_str);
                let rounds: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
                for _ in 0..rounds {
                    for (level, name) in [
                        (LogLevel::Error, "error"),
                        (LogLevel::Warn, "warn"),
                        (LogLevel::Info, "info"),
                        (LogLevel::Debug, "debug"),
                        (LogLevel::Trace, "trace"),
                    ] {
                        ctx.log(level, &format!("plugin-log-{name} {text}"));
                    }
                }
                Ok(0)
            }
            "log-token" => {
                // Tries to leak the service token through lmi's own log.
                let token = ctx.get_token().map_err(PluginError::from)?;
                ctx.log(LogLevel::Error, &format!("leak {}", token.into_secret()));
                Ok(0)
            }
            "launder-token" => {
                // Tries to get the service token into lmi's audit trail through the one field
                // a plugin writes, the request path: the token in a segment and in the query,
                // an escape sequence, and a newline followed by a forged audit line.
                let token = ctx.get_token().map_err(PluginError::from)?;
                let token = token.into_secret();
                let path =
                    format!("v1/echo/{token}/\u{1b}]52;c;aGk=\u{7}?access_token={token}#{token}");
                let forged = format!("v1/x\n{{\"outcome\":\"forged\",\"token\":\"{token}\"}}");
                for path in [path, forged] {
                    match ctx.send_request(Request::get(path)) {
                        Ok(r) => writeln!(out, "launder-token: {}", r.status)?,
                        Err(e) => writeln!(out, "launder-token: {}", e.kind())?,
                    }
                }
                Ok(0)
            }
            "service" => {
                // `service <NAME> <PATH>`: a request to a named service.
                let name = args.first().cloned().unwrap_or_default();
                let path = args.get(1).cloned().unwrap_or_default();
                match ctx.send_request(Request::get(path).to_service(name)) {
                    Ok(r) => writeln!(out, "service: {}", r.status)?,
                    Err(e) => writeln!(out, "service: {e}")?,
                }
                Ok(0)
            }
            "service-token" => {
                // `service-token <NAME>`: whether a named service's token was handed over.
                let name = args.first().map_or("", String::as_str);
                match ctx.get_service_token(name) {
                    Ok(_) => writeln!(out, "service-token: GOT")?,
                    Err(e) => writeln!(out, "service-token: {e}")?,
                }
                Ok(0)
            }
            "setting" => {
                // `setting <NAME>`: one of its declared settings (`config.get`). Not `config`,
                // which is lmi's own command.
                let name = args.first().map_or("", String::as_str);
                match ctx.config(name) {
                    Ok(v) => writeln!(out, "setting: {v:?}")?,
                    Err(e) => writeln!(out, "setting: {e}")?,
                }
                Ok(0)
            }
            "http" => {
                // `http <METHOD> <URL> [NAME=VALUE]...`: outbound wasi:http (allowed_hosts).
                let [method, url, headers @ ..] = args else {
                    return Err(PluginError::usage(
                        "usage: lmi http <METHOD> <URL> [NAME=VALUE]...",
                    ));
                };
                let method = match method.as_str() {
                    "POST" => lmi_plugin_sdk::Method::Post,
                    _ => lmi_plugin_sdk::Method::Get,
                };
                let mut request = lmi_plugin_sdk::http::Request::new(method, url.as_str());
                for header in headers {
                    let (name, value) = header.split_once('=').unwrap_or((header, ""));
                    request = request.with_header(name, value);
                }
                match lmi_plugin_sdk::http::send(request) {
                    Ok(r) => {
                        writeln!(out, "http: status {}", r.status)?;
                        if let Some(location) = r.header("location") {
                            writeln!(out, "http: location {location}")?;
                        }
                        writeln!(out, "http: {} bytes", r.body.len())?;
                    }
                    Err(e) => writeln!(out, "http: {e}")?,
                }
                Ok(0)
            }
            "http-authority" => {
                // `http-authority <AUTHORITY> <PATH>`: wasi:http with any authority, as a
                // plugin using the raw bindings may set it (`user@host`, odd forms).
                let [authority, path] = args else {
                    return Err(PluginError::usage(
                        "usage: lmi http-authority <AUTHORITY> <PATH>",
                    ));
                };
                writeln!(out, "http-authority: {}", raw_http(authority, path))?;
                Ok(0)
            }
            "args" => {
                for arg in args {
                    writeln!(out, "{arg}")?;
                }
                Ok(0)
            }
            "usage" => Err(PluginError::usage("usage: lmi usage <x>")),
            "fail" => Err(PluginError::failed("it failed")),
            "progress-escapes" => {
                // The SDK's bar on stderr, with an OSC 52 (clipboard write) between redraws:
                // the bar's `\r` redraws must reach a terminal, the clipboard write not.
                let mut bar = Progress::bar(ctx, 3, Unit::Items).with_message("hostile progress");
                for _ in 0..3 {
                    bar.inc(1);
                    write!(ctx.stderr(), "\u{1b}]52;c;cm0gLXJmIH4=\u{7}")?;
                    std::thread::sleep(std::time::Duration::from_millis(120));
                }
                bar.finish();
                writeln!(ctx.stderr(), "progress-escapes: done")?;
                Ok(0)
            }
            other => Err(PluginError::unknown_command(other)),
        }
    }
}

lmi_plugin_sdk::export!(Hostile);

/// Contract 0.3's streams, used well and badly:
/// * `stream <PATH>`: prints each line of a streamed answer as it arrives;
/// * `stream-ignore <PATH>`: opens a streamed answer and returns without reading it;
/// * `stream-drop <PATH>`: opens one, drops it, then sends a plain request to the same path;
/// * `stream-many <N> <PATH>`: opens N at once, holding each;
/// * `download <PATH>`: counts a streamed answer's bytes;
/// * `upload <PATH> <BYTES>`: PUTs BYTES generated bytes with `Context::upload`;
/// * `upload-abandon <PATH>`: starts an upload, writes 1 MiB and drops it unfinished.
fn streams(
    ctx: &dyn Context,
    out: &mut dyn Write,
    command: &str,
    args: &[String],
) -> Result<u8, PluginError> {
    use std::io::{BufRead, Read};
    match (command, args) {
        ("stream", [path]) => {
            let answer = ctx.send_streaming(Request::get(path.as_str()))?;
            writeln!(out, "stream: status {}", answer.status)?;
            out.flush()?;
            for line in std::io::BufReader::new(answer).lines() {
                writeln!(out, "stream: {}", line?)?;
                out.flush()?;
            }
            writeln!(out, "stream: END")?;
        }
        ("stream-ignore", [path]) => {
            let answer = ctx.send_streaming(Request::get(path.as_str()))?;
            writeln!(out, "stream-ignore: status {}, not read", answer.status)?;
            // Returned with the stream still open: the run ends, and it with the run.
            std::mem::forget(answer);
        }
        ("stream-drop", [path]) => {
            drop(ctx.send_streaming(Request::get(path.as_str()))?);
            let again = ctx.send_request(Request::get("v1/plain"))?;
            writeln!(out, "stream-drop: dropped, then status {}", again.status)?;
        }
        ("stream-many", [n, path]) => {
            let mut held = Vec::new();
            for i in 1..=n.parse::<u32>().unwrap_or(0) {
                match ctx.send_streaming(Request::get(path.as_str())) {
                    Ok(answer) => held.push(answer),
                    Err(error) => {
                        writeln!(out, "stream-many: {i} refused: {error}")?;
                        break;
                    }
                }
            }
            writeln!(out, "stream-many: held {}", held.len())?;
            drop(held);
            // Slots come back when streams are dropped.
            let again = ctx.send_streaming(Request::get(path.as_str()))?;
            writeln!(out, "stream-many: after dropping, status {}", again.status)?;
        }
        ("download", [path]) => {
            let mut answer = ctx.send_streaming(Request::get(path.as_str()))?;
            let n = std::io::copy(&mut answer, &mut std::io::sink())?;
            writeln!(out, "download: status {} {n} bytes", answer.status)?;
        }
        ("upload", [path, bytes]) => {
            let size = bytes.parse::<u64>().unwrap_or(0);
            let mut body = std::io::repeat(b'u').take(size);
            let mut answer = ctx.upload(
                Request::new(lmi_plugin_sdk::Method::Put, path.as_str()),
                &mut body,
            )?;
            let mut text = String::new();
            answer.read_to_string(&mut text)?;
            writeln!(out, "upload: status {} {}", answer.status, text.trim())?;
        }
        ("upload-abandon", [path]) => {
            use lmi_plugin_sdk::bindings::lmi::plugin::cli_context as wit;
            let request = Request::new(lmi_plugin_sdk::Method::Put, path.as_str());
            let upload =
                wit::start_upload(&request.into()).map_err(lmi_plugin_sdk::HostError::from)?;
            let stream = upload.body().map_err(lmi_plugin_sdk::HostError::from)?;
            // 1 MiB: more than the host queues, so the request is surely under way.
            for _ in 0..256 {
                let _ = stream.blocking_write_and_flush(&[b'a'; 4096]);
            }
            drop(stream);
            drop(upload);
            // Still running: a request left going would now finish its body.
            std::thread::sleep(std::time::Duration::from_millis(800));
            writeln!(out, "upload-abandon: dropped")?;
        }
        _ => {
            return Err(PluginError::usage(format!(
                "usage: lmi {command} … (see README.md)"
            )));
        }
    }
    Ok(0)
}

fn one_arg<'a>(command: &str, args: &'a [String], name: &str) -> Result<&'a str, PluginError> {
    match args {
        [arg] => Ok(arg),
        _ => Err(PluginError::usage(format!("usage: lmi {command} {name}"))),
    }
}

/// One change to the filesystem: `create` (a new file), `append`, `truncate`, `rename` (to
/// ARG), `unlink`, `mkdir`, `rmdir`, `symlink` (PATH pointing at ARG), `hardlink` (PATH to
/// the file ARG) or `touch` (set its modification time).
fn change(op: &str, path: &str, arg: &str) -> std::io::Result<()> {
    use std::fs::{self, OpenOptions};
    match op {
        "create" => OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(drop),
        "append" => OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(arg.as_bytes())),
        "truncate" => OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .map(drop),
        "rename" => fs::rename(path, arg),
        "unlink" => fs::remove_file(path),
        "mkdir" => fs::create_dir(path),
        "rmdir" => fs::remove_dir(path),
        "symlink" => symlink(arg, path),
        "hardlink" => fs::hard_link(arg, path),
        "touch" => {
            fs::File::open(path).and_then(|f| f.set_modified(std::time::SystemTime::UNIX_EPOCH))
        }
        other => Err(std::io::Error::other(format!(
            "unknown fs operation `{other}`"
        ))),
    }
}

/// wasi-libc's `symlink` (std's WASI one is unstable): the plugin plants a link.
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    unsafe extern "C" {
        fn symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
    }
    let c = |s: &str| std::ffi::CString::new(s).map_err(std::io::Error::other);
    let (target, link) = (c(target)?, c(link)?);
    // SAFETY: two NUL-terminated strings that outlive the call.
    match unsafe { symlink(target.as_ptr(), link.as_ptr()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "wasi"))]
fn symlink(_target: &str, _link: &str) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symbolic links are made only inside the sandbox",
    ))
}

/// `GET http://<authority><path>` with the raw wasi:http bindings: the status, or what went
/// wrong.
#[cfg(target_arch = "wasm32")]
fn raw_http(authority: &str, path: &str) -> String {
    use wasip2::http::{outgoing_handler, types as t};
    let request = t::OutgoingRequest::new(t::Fields::new());
    if request.set_scheme(Some(&t::Scheme::Http)).is_err()
        || request.set_authority(Some(authority)).is_err()
        || request.set_path_with_query(Some(path)).is_err()
    {
        return "refused by wasi:http".to_owned();
    }
    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(e) => return format!("{e:?}"),
    };
    loop {
        match pending.get() {
            Some(Ok(Ok(response))) => return format!("status {}", response.status()),
            Some(Ok(Err(e))) => return format!("{e:?}"),
            Some(Err(())) => return "taken twice".to_owned(),
            None => pending.subscribe().block(),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn raw_http(_authority: &str, _path: &str) -> String {
    "wasi:http only exists in the component".to_owned()
}

/// Burns CPU until the host's deadline interrupts it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB at a time, writing to every page, until the memory cap stops it.
fn grow() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        hoard.push(black_box(chunk));
    }
}

/// Recurses until the stack runs out; the frame holds a buffer so it cannot be elided.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 256]);
    if black_box(true) {
        recurse(depth + 1) + u64::from(frame[0])
    } else {
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmi_plugin_sdk::{HostError, Method, MockContext, Response};

    fn run(ctx: &MockContext, command: &str, words: &[&str]) -> Result<u8, PluginError> {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Hostile::run(ctx, command, &args)
    }

    #[test]
    fn exit_codes_and_errors_are_what_the_sandbox_tests_expect() {
        let ctx = MockContext::new();
        assert_eq!(run(&ctx, "exit3", &[]), Ok(3));
        assert_eq!(
            run(&ctx, "usage", &[]),
            Err(PluginError::usage("usage: lmi usage <x>"))
        );
        assert_eq!(
            run(&ctx, "fail", &[]),
            Err(PluginError::failed("it failed"))
        );
    }

    #[test]
    fn args_prints_one_per_line() {
        let ctx = MockContext::new();
        assert_eq!(run(&ctx, "args", &["a b", "--c", ""]), Ok(0));
        assert_eq!(ctx.stdout_text(), "a b\n--c\n\n");
    }

    #[test]
    fn token_and_request_report_the_hosts_answer() {
        let ctx = MockContext::new()
            .with_response(Method::Get, "v1/x", Response::new(200, ""))
            .with_request_error(Method::Get, "v1/y", HostError::Denied("no".into()));
        assert_eq!(run(&ctx, "token", &[]), Ok(0));
        assert_eq!(run(&ctx, "request", &["v1/x"]), Ok(0));
        assert_eq!(run(&ctx, "request", &["v1/y"]), Ok(0));
        let out = ctx.stdout_text();
        assert!(out.starts_with("token: denied: "), "{out}");
        assert!(
            out.contains("request: status 200\nrequest: denied: no\n"),
            "{out}"
        );

        let ctx = MockContext::new().with_token("t");
        assert_eq!(run(&ctx, "token", &[]), Ok(0));
        assert_eq!(ctx.stdout_text(), "token: GOT\n");
    }

    #[test]
    fn commands_with_an_argument_require_exactly_one() {
        let ctx = MockContext::new();
        for command in ["read-file", "read-env", "connect", "request"] {
            assert!(
                matches!(run(&ctx, command, &[]), Err(PluginError::Usage(_))),
                "{command}"
            );
        }
    }
}
