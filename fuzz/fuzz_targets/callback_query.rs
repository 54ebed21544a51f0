//! The SSO redirect listener reads whatever reaches `127.0.0.1:<port>`: a browser, a port
//! scanner, another local process. This target sends each input as the raw request to the
//! real listener (`host/src/auth/sso/callback.rs`, compiled in here as a module since it is
//! private to lmi) and checks its invariants: it never panics or hangs, only an exact
//! `GET /callback` request line carrying the login's `state` is handed to the login (with its
//! query decoded into parameters), another callback gets a well-formed 400 page, and
//! everything else a well-formed 404 or a closed connection.
#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;

/// What callback.rs needs from the rest of lmi.
mod logging {
    pub use lmi::logging::register_secret;
}

#[allow(dead_code)]
#[path = "../../host/src/auth/sso/callback.rs"]
mod callback;

use callback::{CALLBACK_PATH, CallbackServer};

/// The state of the login the listener serves (the seeds carry it).
const STATE: &str = "fuzz-state";

/// The request line the listener sees (it reads up to the blank line, then takes line one).
fn request_line(data: &[u8]) -> Option<String> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&data[..end + 4]);
    text.lines().next().map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let server = CallbackServer::bind(0, STATE).expect("bind loopback");
    let uri = server.redirect_uri();
    let authority = uri
        .strip_prefix("http://")
        .and_then(|r| r.strip_suffix(CALLBACK_PATH))
        .expect("http://127.0.0.1:<port>/callback");
    let mut client = TcpStream::connect(authority).expect("connect");
    // The listener may answer and close before reading everything: that is fine.
    let _ = client.write_all(data);
    let _ = client.shutdown(Shutdown::Write);
    // Poll both sides: the listener either answers the connection or hands the callback over.
    client.set_nonblocking(true).expect("non-blocking");

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut answer = Vec::new();
    let mut handed_over = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the listener neither answered nor handed over"
        );
        if !handed_over && let Some(cb) = server.wait(Instant::now()) {
            handed_over = true;
            let line = request_line(data).expect("a callback has a complete head");
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("GET"), "{line:?}");
            let target = words.next().unwrap_or_default();
            assert_eq!(target.split('?').next(), Some(CALLBACK_PATH), "{line:?}");
            assert_eq!(cb.get("state"), Some(STATE), "{line:?}");
            cb.respond(true, "fuzz <&> \"done\"");
            continue;
        }
        let mut buf = [0u8; 4096];
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(20));
            }
            // Reset by a listener that closed with unread input: a closed connection.
            Err(_) => break,
        }
    }

    if answer.is_empty() {
        assert!(!handed_over, "a handed-over callback got no page");
        return;
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete response head");
    let status = head.lines().next().unwrap_or_default();
    if handed_over {
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(!body.contains("<&>"), "the page must escape what it shows");
    } else {
        // A callback with another state is refused with a page; anything else is a 404.
        let is_callback = request_line(data).is_some_and(|line| {
            let mut words = line.split(' ');
            words.next() == Some("GET")
                && words.next().unwrap_or_default().split('?').next() == Some(CALLBACK_PATH)
        });
        let expected = if is_callback {
            "HTTP/1.1 400 Bad Request"
        } else {
            "HTTP/1.1 404 Not Found"
        };
        assert_eq!(
            status, expected,
            "only exact callbacks are answered otherwise"
        );
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    assert_eq!(length, body.len());
});
