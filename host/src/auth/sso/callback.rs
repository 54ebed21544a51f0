//! The loopback listener for the browser's redirect (RFC 8252 §7.3).
//!
//! Invariants:
//! - Bound to `127.0.0.1` only, before the browser is opened (so the redirect cannot race the
//!   bind), on an ephemeral port unless the user chose one.
//! - Only `GET /callback` exactly is a callback; anything else (Chromium's `/favicon.ico`, a
//!   probe) gets 404 and is otherwise ignored.
//! - Only a callback carrying this login's `state` (compared in constant time) is handed to
//!   the login. Any other (another local process guessing, a stale tab, a malformed one) gets
//!   an error page and changes nothing: the login keeps waiting for the real redirect.
//! - Single use: the first matching callback is handed to the login; later ones are told the
//!   response was already used.
//! - Each connection is read on its own thread, so an idle preconnected socket (browsers open
//!   them) never blocks the real request; but at most [`MAX_CONNECTIONS`] are read at once
//!   (a new one closes the oldest still unread) and each must send its request head within
//!   [`HEAD_DEADLINE`] in total, so a flood of idle or dripping connections neither piles up
//!   threads nor keeps the real redirect out.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// The redirect path.
pub const CALLBACK_PATH: &str = "/callback";
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections read at once; a browser needs two or three.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take to send its whole request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);

/// The connections being read, oldest first, so the oldest can be closed to make room.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: VecDeque<(u64, TcpStream)>,
}

type OpenConns = Arc<Mutex<Open>>;

/// What the accept loop and every connection thread share.
struct Shared {
    tx: mpsc::Sender<Callback>,
    state: String,
    taken: AtomicBool,
    open: OpenConns,
}

/// A running listener; stops accepting when dropped.
pub struct CallbackServer {
    port: u16,
    rx: mpsc::Receiver<Callback>,
    stop: Arc<AtomicBool>,
}

/// The first callback: its query parameters and the connection to answer on.
pub struct Callback {
    pub params: HashMap<String, String>,
    stream: TcpStream,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.params.keys().collect();
        keys.sort();
        f.debug_struct("Callback").field("params", &keys).finish()
    }
}

impl Callback {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Answers the browser with a small page and closes the connection.
    pub fn respond(mut self, ok: bool, message: &str) {
        let (status, title) = if ok {
            ("200 OK", "Signed in to lmi")
        } else {
            ("400 Bad Request", "lmi sign-in failed")
        };
        let body = page(title, message);
        write_response(&mut self.stream, status, &body);
    }
}

impl CallbackServer {
    /// Binds `127.0.0.1:port` (0: any free port) and starts accepting callbacks that carry
    /// `state`.
    pub fn bind(port: u16, state: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            tx,
            state: state.to_owned(),
            taken: AtomicBool::new(false),
            open: OpenConns::default(),
        });
        {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("lmi-callback".to_owned())
                .spawn(move || accept_loop(listener, &shared, &stop))?;
        }
        Ok(Self { port, rx, stop })
    }

    #[cfg(test)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/callback`
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// The first callback, or `None` when `deadline` passes first.
    pub fn wait(&self, deadline: Instant) -> Option<Callback> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.rx.recv_timeout(left).ok()
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        // Wake the blocking accept so the thread sees the flag and closes the socket.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((stream, _)) => {
                let Some(id) = admit(&shared.open, &stream) else {
                    continue;
                };
                let conn_shared = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("lmi-callback-conn".to_owned())
                    .spawn(move || {
                        serve(stream, &conn_shared);
                        release(&conn_shared.open, id);
                    });
                if spawned.is_err() {
                    release(&shared.open, id);
                }
            }
            Err(e) => {
                tracing::debug!("callback listener: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Registers a new connection, closing the oldest one still being read when
/// [`MAX_CONNECTIONS`] are. `None` if it cannot be tracked (then it is dropped).
fn admit(open: &OpenConns, stream: &TcpStream) -> Option<u64> {
    let tracked = stream.try_clone().ok()?;
    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
    while open.conns.len() >= MAX_CONNECTIONS {
        if let Some((_, oldest)) = open.conns.pop_front() {
            // Its thread's read ends at once; the thread then exits.
            let _ = oldest.shutdown(Shutdown::Both);
        }
    }
    open.next_id += 1;
    let id = open.next_id;
    open.conns.push_back((id, tracked));
    Some(id)
}

fn release(open: &OpenConns, id: u64) {
    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
    open.conns.retain(|(i, _)| *i != id);
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some(head) = read_head(&mut stream, Instant::now() + HEAD_DEADLINE) else {
        return;
    };
    let mut words = head.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" || path != CALLBACK_PATH {
        tracing::debug!("callback listener: {method} {path}: not the callback, 404");
        write_response(
            &mut stream,
            "404 Not Found",
            &page(
                "Not found",
                "This address only receives lmi's sign-in redirect.",
            ),
        );
        return;
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(code) = params.get("code") {
        crate::logging::register_secret(code);
    }
    let ours = params
        .get("state")
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(shared.state.as_bytes())));
    if !ours {
        tracing::warn!(
            "ignored a request to the sign-in listener that does not carry this login's state; still waiting for the browser"
        );
        write_response(
            &mut stream,
            "400 Bad Request",
            &page(
                "Not this sign-in",
                "This response does not belong to the sign-in lmi is waiting for. Return to the terminal.",
            ),
        );
        return;
    }
    if shared.taken.swap(true, Ordering::SeqCst) {
        write_response(
            &mut stream,
            "400 Bad Request",
            &page(
                "Already used",
                "This sign-in response was already received. Return to the terminal.",
            ),
        );
        return;
    }
    if let Err(mpsc::SendError(cb)) = shared.tx.send(Callback { params, stream }) {
        // The login gave up (timeout) before this arrived.
        cb.respond(
            false,
            "lmi is no longer waiting for this sign-in. Run `lmi login sso` again.",
        );
    }
}

/// The request line of an HTTP/1.x request (the rest of the head is read and ignored), if
/// the whole head arrives before `deadline`.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().map(str::to_owned)
}

fn write_response(stream: &mut TcpStream, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
}

fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn only_the_first_exact_callback_counts() {
        let server = CallbackServer::bind(0, "s 1").unwrap();
        let port = server.port();
        assert!(
            server
                .redirect_uri()
                .ends_with(&format!(":{port}/callback"))
        );
        // An idle preconnected socket does not block anything.
        let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(get(port, "/favicon.ico").starts_with("HTTP/1.1 404"));
        assert!(get(port, "/callbackx?code=1").starts_with("HTTP/1.1 404"));
        assert!(get(port, "/callback/?code=1").starts_with("HTTP/1.1 404"));

        let first = std::thread::spawn(move || get(port, "/callback?code=abc&state=s%201"));
        let cb = server
            .wait(Instant::now() + Duration::from_secs(5))
            .expect("the callback arrives");
        assert_eq!(cb.get("code"), Some("abc"));
        assert_eq!(cb.get("state"), Some("s 1"));
        assert!(get(port, "/callback?code=again&state=s+1").contains("already received"));
        assert!(get(port, "/callback?code=again&state=s+2").contains("does not belong"));
        cb.respond(true, "You can close this tab <now>.");
        let page = first.join().unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("You can close this tab &lt;now&gt;."));
        assert!(
            server
                .wait(Instant::now() + Duration::from_millis(50))
                .is_none()
        );
    }

    #[test]
    fn waiting_ends_at_the_deadline() {
        let server = CallbackServer::bind(0, "s").unwrap();
        let started = Instant::now();
        assert!(server.wait(started + Duration::from_millis(200)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Dropping the server closes the socket: the port can be bound again.
        let port = server.port();
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "port {port} still held");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_wrong_state_is_answered_and_the_right_one_still_counts() {
        let server = CallbackServer::bind(0, "right").unwrap();
        let port = server.port();
        for bad in [
            "/callback?state=wrong&code=1",
            "/callback?code=1",
            "/callback",
        ] {
            let page = get(port, bad);
            assert!(page.starts_with("HTTP/1.1 400"), "{bad}: {page}");
        }
        assert!(
            server
                .wait(Instant::now() + Duration::from_millis(50))
                .is_none()
        );
        let first = std::thread::spawn(move || get(port, "/callback?code=c&state=right"));
        let cb = server
            .wait(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert_eq!(cb.get("code"), Some("c"));
        cb.respond(true, "ok");
        assert!(first.join().unwrap().starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn idle_connections_are_bounded_and_the_oldest_make_room() {
        let server = CallbackServer::bind(0, "s").unwrap();
        let port = server.port();
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS * 4)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let first = std::thread::spawn(move || get(port, "/callback?code=c&state=s"));
        let cb = server
            .wait(Instant::now() + Duration::from_secs(5))
            .unwrap();
        cb.respond(true, "ok");
        assert!(first.join().unwrap().starts_with("HTTP/1.1 200"));
        // The oldest idle connections were closed to make room.
        let mut closed = 0;
        for mut s in idle {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            let mut b = [0u8; 1];
            if matches!(s.read(&mut b), Ok(0)) {
                closed += 1;
            }
        }
        assert!(closed >= MAX_CONNECTIONS * 3, "{closed} closed");
    }
}
