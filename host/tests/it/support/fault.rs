//! An in-process HTTP/1.1 server for fault injection (what the real provider will not do:
//! the password grant, 401s from a service, 500s, slow or malformed answers). Plain
//! `std::net` and one thread per connection; every request and every accepted connection is
//! recorded. [`FaultServer::start`] answers one request per connection (`Connection: close`);
//! [`FaultServer::keep_alive`] serves requests on a connection until it is idle for a while.
//!
//! ```ignore
//! let srv = FaultServer::start(|req, n| match req.path() {
//!     "/token" => Reply::json(200, json!({"access_token": format!("tok-{n}"), ...})),
//!     _ => Reply::status(404),
//! });
//! ```
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The `application/x-www-form-urlencoded` body as a map.
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
    /// The bearer token sent, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("Bearer ")
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (for timeouts).
    pub delay: Duration,
    /// Send the body one byte at a time, this long apart (a server that is never quite
    /// silent, so no per-read timeout fires).
    pub drip: Option<Duration>,
    /// Close the connection after reading the request, without answering (a kept-alive
    /// connection the server closes just as a request arrives).
    pub hang_up: bool,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            drip: None,
            hang_up: false,
        }
    }
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self::raw(status, "application/json", value.to_string())
    }
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
            drip: None,
            hang_up: false,
        }
    }
    /// Reads the request and closes the connection without a word.
    pub fn hang_up() -> Self {
        Self {
            hang_up: true,
            ..Self::status(500)
        }
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Sends the body one byte every `interval`.
    pub fn dripped(mut self, interval: Duration) -> Self {
        self.drip = Some(interval);
        self
    }
}

type Handler = dyn Fn(&Req, usize) -> Reply + Send + Sync;

/// A running server on `127.0.0.1:<ephemeral>`; stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl FaultServer {
    /// `handler(request, n)` answers each request; `n` counts the requests to the same path
    /// so far, starting at 1.
    pub fn start(handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::serving(None, handler)
    }

    /// Like [`FaultServer::start`], but a connection stays open for further requests until
    /// it has been idle for `idle` (then the server closes it, as real servers do).
    pub fn keep_alive(
        idle: Duration,
        handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::serving(Some(idle), handler)
    }

    fn serving(
        keep_alive: Option<Duration>,
        handler: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (log, stop, connections) = (log.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let (log, handler) = (log.clone(), handler.clone());
                    std::thread::spawn(move || serve(conn, &log, &*handler, keep_alive));
                }
            });
        }
        Self {
            addr,
            log,
            stop,
            connections,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A server whose `/token` issues `tok-<n>` (an hour) and that answers 404 elsewhere.
    pub fn token_endpoint() -> Self {
        Self::start(|req, n| match req.path() {
            "/token" => Reply::json(
                200,
                serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
            ),
            _ => Reply::status(404),
        })
    }

    /// An env file whose client-credentials grant uses this server's `/token` (client
    /// `lmi-test`, `secret`) and whose service is its `/api`.
    pub fn client_credentials_env(&self, secret: &str) -> String {
        format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_SERVICE_URL={}\nOAUTH_GRANT_TYPE=client_credentials\n\
             OAUTH_CLIENT_ID=lmi-test\nOAUTH_CLIENT_SECRET={secret}\n",
            self.url("/token"),
            self.url("/api")
        )
    }
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// How many TCP connections the server accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    /// How many requests reached `path` (exact path, query ignored).
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path() == path).count()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Req>>, handler: &Handler, keep_alive: Option<Duration>) {
    let _ = conn.set_read_timeout(Some(keep_alive.unwrap_or(Duration::from_secs(10))));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    while let Some(req) = read_request(&mut reader) {
        let open = keep_alive.is_some()
            && !req
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let n = {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            log.push(req.clone());
            log.iter().filter(|r| r.path() == req.path()).count()
        };
        let reply = handler(&req, n);
        if reply.hang_up || !answer(&mut out, &reply, open) || !open {
            return;
        }
    }
}

/// One request off the connection; `None` at its end (or when idle past the read timeout).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        target,
        headers,
        body,
    })
}

/// Writes `reply`; false if the connection broke.
fn answer(out: &mut TcpStream, reply: &Reply, open: bool) -> bool {
    if !reply.delay.is_zero() {
        std::thread::sleep(reply.delay);
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reply.status,
        reply.body.len(),
        if open { "keep-alive" } else { "close" }
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    match reply.drip {
        None => {
            if out.write_all(&reply.body).is_err() {
                return false;
            }
        }
        Some(interval) => {
            for byte in &reply.body {
                let _ = out.flush();
                std::thread::sleep(interval);
                if out.write_all(&[*byte]).is_err() {
                    return false;
                }
            }
        }
    }
    out.flush().is_ok()
}
