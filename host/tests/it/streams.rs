//! Contract 0.3's streams: service answers read as they arrive (`send-request-streaming`)
//! and request bodies written as they go (`start-upload`), through the real `lmi`, the real
//! hostile and api plugins, and a raw HTTP/1.1 server on loopback that can drip, hold,
//! stream forever and count a gigabyte without keeping it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Home, plugin_dir};

const GIB: u64 = 1 << 30;
/// The peak RSS a gigabyte may cost the host (issue 21).
const RSS_LIMIT_KIB: u64 = 64 << 10;

/// What the server saw, for assertions.
#[derive(Default)]
struct Seen {
    tokens: AtomicUsize,
    /// `(path, bearer)` of every service request.
    requests: Mutex<Vec<(String, String)>>,
    /// How each upload's body ended: `whole N` or `cut off after N`.
    uploads: Mutex<Vec<String>>,
}

/// A loopback server: `/token` issues `tok-<n>`; under `/api/`:
/// * `follow`: a chunked body of `line <k> <ms since start>` every 200 ms, for ever;
/// * `slow`: `first` at once, the rest 2 s later (chunked);
/// * `big`: a gigabyte with a `content-length`;
/// * `upload`: reads a body (chunked or not), answers `{"received":N}`;
/// * `auth401/...`: 401 for `tok-1`, then as the rest of the path;
/// * `plain` (and anything else): `plain`.
struct Server {
    addr: std::net::SocketAddr,
    seen: Arc<Seen>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let seen = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &seen);
                });
            }
        });
        Self { addr, seen }
    }

    fn env(&self) -> String {
        format!(
            "OAUTH_TOKEN_URL=http://{a}/token\nOAUTH_SERVICE_URL=http://{a}/api\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID=lmi-test\nOAUTH_CLIENT_SECRET=s3cret-stream\n",
            a = self.addr
        )
    }

    fn uploads(&self) -> Vec<String> {
        self.seen.uploads.lock().unwrap().clone()
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.seen.requests.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, seen: &Seen) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut head = String::new();
    reader.read_line(&mut head)?;
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (mut length, mut chunked, mut bearer) = (0u64, false, String::new());
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "authorization" => bearer = value.trim_start_matches("Bearer ").to_owned(),
            _ => {}
        }
    }
    if path == "/token" {
        let mut form = vec![0; length as usize];
        reader.read_exact(&mut form)?;
        let n = seen.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        let body =
            format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#);
        return respond_typed(&mut out, 200, "application/json", &body);
    }
    seen.requests
        .lock()
        .unwrap()
        .push((path.clone(), bearer.clone()));
    let mut route = path.trim_start_matches("/api/").to_owned();
    if let Some(rest) = route.strip_prefix("auth401/") {
        if bearer == "tok-1" {
            return respond(&mut out, 401, "expired");
        }
        route = rest.to_owned();
    }
    match route.as_str() {
        "follow" => {
            chunked_head(&mut out)?;
            let start = Instant::now();
            for k in 1..=3000 {
                let line = format!("line {k} {}\n", start.elapsed().as_millis());
                chunk(&mut out, line.as_bytes())?;
                std::thread::sleep(Duration::from_millis(200));
            }
            chunk(&mut out, b"")
        }
        "slow" => {
            chunked_head(&mut out)?;
            chunk(&mut out, b"first\n")?;
            std::thread::sleep(Duration::from_secs(2));
            chunk(&mut out, b"rest\n")?;
            chunk(&mut out, b"")
        }
        "big" => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-length: {GIB}\r\nconnection: close\r\n\r\n"
            )?;
            let piece = vec![b'd'; 64 << 10];
            for _ in 0..GIB / piece.len() as u64 {
                out.write_all(&piece)?;
            }
            Ok(())
        }
        "upload" => {
            let outcome = if chunked {
                read_chunked(&mut reader)
            } else {
                let n = std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
                Ok(n)
            };
            let said = match &outcome {
                Ok(n) => format!("whole {n}"),
                Err(n) => format!("cut off after {n}"),
            };
            seen.uploads.lock().unwrap().push(said);
            match outcome {
                Ok(n) => respond(&mut out, 200, &format!(r#"{{"received":{n}}}"#)),
                Err(_) => Ok(()),
            }
        }
        _ => respond(&mut out, 200, "plain"),
    }
}

/// A chunked body's length, or how much came before it broke off.
fn read_chunked(reader: &mut impl BufRead) -> Result<u64, u64> {
    let mut total = 0u64;
    let mut sink = vec![0u8; 64 << 10];
    loop {
        let mut size = String::new();
        match reader.read_line(&mut size) {
            Ok(0) | Err(_) => return Err(total),
            Ok(_) => {}
        }
        let Ok(mut n) = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16) else {
            return Err(total);
        };
        if n == 0 {
            let mut end = String::new();
            let _ = reader.read_line(&mut end);
            return Ok(total);
        }
        while n > 0 {
            let take = n.min(sink.len() as u64) as usize;
            if reader.read_exact(&mut sink[..take]).is_err() {
                return Err(total);
            }
            n -= take as u64;
            total += take as u64;
        }
        let mut crlf = [0u8; 2];
        if reader.read_exact(&mut crlf).is_err() {
            return Err(total);
        }
    }
}

fn respond(out: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    respond_typed(out, status, "text/plain", body)
}

fn respond_typed(out: &mut TcpStream, status: u16, kind: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: {kind}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn chunked_head(out: &mut TcpStream) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
    )?;
    out.flush()
}

fn chunk(out: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    write!(out, "{:x}\r\n", data.len())?;
    out.write_all(data)?;
    out.write_all(b"\r\n")?;
    out.flush()
}

/// The hostile plugin (contract 0.3, today's SDK) granted service requests in `dev`, which
/// is `server`.
fn hostile(server: &Server) -> Home {
    granted_home(&plugin_dir("tests/plugins/hostile"), server)
}

fn granted_home(plugin: &std::path::Path, server: &Server) -> Home {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(plugin, dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[permissions]\nservice_requests = true\nenvironments = [\"dev\"]\n");
    std::fs::write(&manifest, text).unwrap();
    let home = Home::new();
    home.install(dir.path()).success();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &server.env());
    home
}

/// The api example, granted everything it asks for, in `dev`, which is `server`.
fn api(server: &Server) -> Home {
    let home = Home::new();
    home.install(&plugin_dir("plugins/api")).success();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &server.env());
    home
}

/// `lmi` started with its stdout piped: each line with the time it arrived since the start.
struct Watched {
    child: Child,
    started: Instant,
    lines: std::sync::mpsc::Receiver<(Duration, String)>,
}

impl Watched {
    fn start(home: &Home, args: &[&str]) -> Self {
        let started = Instant::now();
        let mut child = home.spawn_piped(args);
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send((started.elapsed(), line)).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            started,
            lines,
        }
    }

    fn next(&self, within: Duration) -> (Duration, String) {
        self.lines
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("no line within {within:?}"))
    }

    /// The running `lmi`, to signal (its stdout stays drained by the line reader).
    fn into_child(self) -> Child {
        self.child
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident memory of `lmi` running `args` (VmHWM, read while it runs), and how
/// it ended. Its output is drained as it comes (a full pipe would stall it), and it is
/// killed past 5 minutes (a 1 GiB transfer takes under 30 s here).
fn peak_rss(home: &Home, args: &[&str]) -> (u64, std::process::Output) {
    let mut child = home.spawn_piped(args);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak = 0u64;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lmi {args:?} ran past 5 minutes");
        }
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = std::process::Output {
        status: child.wait().unwrap(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (peak, output)
}

/// An endless chunked answer is printed line by line as it arrives: the lines reach lmi's
/// stdout spread over time as the server wrote them, not at the end (there is none).
#[test]
fn an_endless_stream_is_printed_line_by_line_as_it_arrives() {
    let server = Server::start();
    for home_and_args in [
        (hostile(&server), vec!["stream", "follow"]),
        (api(&server), vec!["api", "get", "--follow", "follow"]),
    ] {
        let (home, args) = home_and_args;
        let run = Watched::start(&home, &args);
        let mut lines = Vec::new();
        while lines.len() < 6 {
            let (at, line) = run.next(Duration::from_secs(15));
            if line.contains("line ") {
                lines.push((at, line));
            }
        }
        let (first, _) = lines[0];
        let (last, _) = lines[5];
        // The server writes a line every 200 ms: six lines take at least a second to come,
        // and the first came long before the last.
        assert!(
            last - first >= Duration::from_millis(800),
            "{args:?}: lines came together: {lines:?}"
        );
        assert!(run.started.elapsed() < Duration::from_secs(20));
        run.kill();
    }
}

/// Issue 21's example whole: `api get --follow` on an endless stream outlives the default
/// run time (the `api` command declares `timeout = "none"`), prints as lines arrive, and
/// Ctrl-C ends it at once with exit 130, the token cache whole and no temp file left; the
/// next run uses the cached token.
#[test]
fn api_follow_outlives_the_default_run_time_and_ctrl_c_ends_it_with_the_caches_whole() {
    let server = Server::start();
    let mut home = api(&server);
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "1");
    let run = Watched::start(&home, &["api", "get", "--follow", "follow"]);
    let mut last = Duration::ZERO;
    while last < Duration::from_millis(2500) {
        let (at, line) = run.next(Duration::from_secs(15));
        if line.contains("line ") {
            last = at;
        }
    }
    let cache = crate::run_time::token_cache(&home);
    let (ended, took) = crate::run_time::signal_and_wait(run.into_child(), "INT");
    eprintln!("FIGURE api-follow: SIGINT -> exit in {took:?} after {last:?} of stream");
    ended.code(130);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(crate::run_time::token_cache(&home), cache);
    crate::run_time::assert_no_leftovers(&home);
    let tokens = |s: &Server| s.seen.tokens.load(Ordering::SeqCst);
    let before = tokens(&server);
    let again = Watched::start(&home, &["api", "get", "--follow", "follow"]);
    again.next(Duration::from_secs(15));
    again.kill();
    assert_eq!(tokens(&server), before, "the cached token was used");
}

/// The figure issue 21 asks for: time to the first line printed, streamed (`--follow`)
/// against whole, from a server that sends one line and the rest 2 s later.
#[test]
fn a_streamed_answer_prints_its_first_line_before_the_rest_comes() {
    let server = Server::start();
    let home = api(&server);
    // Warm the token cache so both runs time the exchange alone.
    home.run(["api", "get", "plain"]).success();
    let streamed = Watched::start(&home, &["api", "get", "--follow", "slow"]);
    let (streamed_first, line) = streamed.next(Duration::from_secs(15));
    assert_eq!(line, "first");
    let (_, rest) = streamed.next(Duration::from_secs(15));
    assert_eq!(rest, "rest");
    let whole = Watched::start(&home, &["api", "get", "slow"]);
    let (whole_first, line) = whole.next(Duration::from_secs(15));
    assert_eq!(line, "first");
    eprintln!(
        "FIGURE time to first line printed: streamed {} ms, whole {} ms (server holds the rest 2 s)",
        streamed_first.as_millis(),
        whole_first.as_millis()
    );
    assert!(
        streamed_first + Duration::from_millis(1500) <= whole_first,
        "streamed {streamed_first:?}, whole {whole_first:?}"
    );
    streamed.kill();
    whole.kill();
}

/// The 401 rule holds before the stream is handed over: the first token is refused, a
/// renewed one is fetched and the request sent once more; the plugin sees only the answer.
#[test]
fn a_401_on_a_streamed_request_is_retried_once_with_a_renewed_token() {
    let server = Server::start();
    let home = hostile(&server);
    home.run(["stream", "auth401/slow"])
        .success()
        .stdout_has("stream: status 200\nstream: first\nstream: rest\nstream: END");
    let bearers: Vec<String> = server.requests().into_iter().map(|(_, b)| b).collect();
    assert_eq!(bearers, ["tok-1", "tok-2"]);
}

/// A gigabyte uploaded from the plugin and a gigabyte downloaded into it, each with lmi's
/// peak RSS under 64 MiB: neither body is ever held whole.
#[test]
fn a_gigabyte_streams_up_and_down_in_constant_memory() {
    let server = Server::start();
    let mut home = hostile(&server);
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "600");
    let started = Instant::now();
    let (up, out) = peak_rss(&home, &["upload", "upload", &GIB.to_string()]);
    let up_secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(r#"upload: status 200 {{"received":{GIB}}}"#)),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.uploads(), [format!("whole {GIB}")]);
    let started = Instant::now();
    let (down, out) = peak_rss(&home, &["download", "big"]);
    let down_secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("download: status 200 {GIB} bytes")),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "FIGURE peak RSS of lmi: 1 GiB upload {} MiB ({up_secs:.1} s), 1 GiB download {} MiB ({down_secs:.1} s)",
        up >> 10,
        down >> 10
    );
    assert!(up < RSS_LIMIT_KIB, "upload peak {up} KiB");
    assert!(down < RSS_LIMIT_KIB, "download peak {down} KiB");
}

/// A 0.2 plugin (the committed fixture) keeps 0.2's behaviour: `send-request` returns the
/// whole body, and it has no streams to call.
#[test]
fn a_contract_0_2_plugin_still_gets_whole_answers() {
    let server = Server::start();
    let home = granted_home(&plugin_dir("tests/fixtures/contract-0.2"), &server);
    home.run(["plugin", "info", "hostile-v02"])
        .success()
        .stdout_has("contract: lmi:plugin@0.2.0");
    home.run(["request", "slow"])
        .success()
        .stdout_has("request: status 200");
    home.run(["args", "a b"]).success().stdout_has("a b\n");
}

/// Hostile uses of streams stay bounded: a stream never read, or dropped, ends with the run
/// (or frees its slot); more than 16 at once are refused; a stream read past the run's
/// deadline is cut there.
#[test]
fn hostile_streams_are_bounded() {
    let server = Server::start();
    let mut home = hostile(&server);
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "3");
    // Never read: the endless answer does not hold the run (or the process) open.
    let started = Instant::now();
    home.run(["stream-ignore", "follow"])
        .success()
        .stdout_has("stream-ignore: status 200, not read");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Dropped: the run goes on and makes another request.
    home.run(["stream-drop", "follow"])
        .success()
        .stdout_has("stream-drop: dropped, then status 200");
    // Many: the seventeenth is refused, and dropping them frees the slots.
    home.run(["stream-many", "40", "follow"])
        .success()
        .stdout_has("stream-many: 17 refused: ")
        .stdout_has("at most 16 streamed answers and uploads")
        .stdout_has("stream-many: held 16")
        .stdout_has("stream-many: after dropping, status 200");
    // Read for ever: the run's deadline ends it (exit 5), having printed as it went.
    let started = Instant::now();
    let run = home.run(["stream", "follow"]);
    run.code(5).stdout_has("stream: line 1 ");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// An upload dropped before `finish` is cut off, never sent as if whole; a streamed body's
/// 401 is not sent twice but renews the token for the next request.
#[test]
fn an_abandoned_or_rejected_upload_is_never_taken_for_a_whole_one() {
    let server = Server::start();
    let home = hostile(&server);
    let abandoned = home.run(["upload-abandon", "upload"]);
    abandoned.success().stdout_has("upload-abandon: dropped");
    // The server's side ends when the connection drops.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.uploads().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert!(
        uploads[0].starts_with("cut off after"),
        "{uploads:?} {abandoned:?}"
    );
    // tok-1 is refused: the upload fails naming why, and the next request has tok-2.
    home.run(["upload", "auth401/upload", "100000"])
        .code(4)
        .stderr_has("streamed upload, which cannot be sent twice");
    home.run(["upload", "auth401/upload", "100"])
        .success()
        .stdout_has(r#"upload: status 200 {"received":100}"#);
}

/// Streamed requests are in the audit trail as `send-request`'s are: a streamed answer at
/// its head with its status, an upload at `finish` with its status, an abandoned upload as
/// a failure.
#[test]
fn streamed_requests_are_audited_like_send_request() {
    let server = Server::start();
    let home = hostile(&server);
    home.run(["stream", "slow"]).success();
    home.run(["upload", "upload", "100"]).success();
    home.run(["upload-abandon", "upload"]).success();
    let text = std::fs::read_to_string(home.data().join("audit.jsonl")).unwrap();
    let got: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String, String, String, String)> = got
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().map_or(l[k].to_string(), str::to_owned);
            (s("use"), s("method"), s("path"), s("status"), s("outcome"))
        })
        .collect();
    let row = |m: &str, p: &str, st: &str, o: &str| {
        (
            "service-request".to_owned(),
            m.to_owned(),
            p.to_owned(),
            st.to_owned(),
            o.to_owned(),
        )
    };
    assert_eq!(
        seen,
        // An upload is recorded when its head leaves with the token (no status yet), then
        // when it ends.
        [
            row("GET", "slow", "200", "ok"),
            row("PUT", "upload", "null", "ok"),
            row("PUT", "upload", "200", "ok"),
            row("PUT", "upload", "null", "ok"),
            row("PUT", "upload", "null", "failed"),
        ],
        "{text}"
    );
    assert!(!text.contains("tok-"), "{text}");
}
