//! The loopback listener for the browser's redirect (RFC 8252 §7.3).
//!
//! Invariants:
//! - Bound to `127.0.0.1` only, before the browser is opened (so the redirect cannot race the
//!   bind), on an ephemeral port unless the user chose one.
//! - Only `GET /callback` exactly is a callback; anything else (Chromium's `/favicon.ico`, a
//!   probe) gets 404 and is otherwise ignored.
//! - Single use: the first callback is handed to the login; later ones are told the response
//!   was already used.
//! - Each connection is read on its own thread with a read timeout, so an idle preconnected
//!   socket (browsers open them) never blocks the real request.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The redirect path.
pub const CALLBACK_PATH: &str = "/callback";
const MAX_REQUEST_HEAD: usize = 16 * 1024;

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
    /// Binds `127.0.0.1:port` (0: any free port) and starts accepting.
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("lmi-callback".to_owned())
                .spawn(move || accept_loop(listener, tx, stop, taken))?;
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

fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<Callback>,
    stop: Arc<AtomicBool>,
    taken: Arc<AtomicBool>,
) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((stream, _)) => {
                let (tx, taken) = (tx.clone(), taken.clone());
                let _ = std::thread::Builder::new()
                    .name("lmi-callback-conn".to_owned())
                    .spawn(move || serve(stream, &tx, &taken));
            }
            Err(e) => {
                tracing::debug!("callback listener: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn serve(mut stream: TcpStream, tx: &mpsc::Sender<Callback>, taken: &AtomicBool) {
    if stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .is_err()
    {
        return;
    }
    let Some(head) = read_head(&mut stream) else {
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
    if taken.swap(true, Ordering::SeqCst) {
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
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if let Some(code) = params.get("code") {
        crate::logging::register_secret(code);
    }
    if let Err(mpsc::SendError(cb)) = tx.send(Callback { params, stream }) {
        // The login gave up (timeout) before this arrived.
        cb.respond(
            false,
            "lmi is no longer waiting for this sign-in. Run `lmi login sso` again.",
        );
    }
}

/// The request line of an HTTP/1.x request (the rest of the head is read and ignored).
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > MAX_REQUEST_HEAD {
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
        let server = CallbackServer::bind(0).unwrap();
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
        assert!(get(port, "/callback?code=again").contains("already received"));
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
        let server = CallbackServer::bind(0).unwrap();
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
}
