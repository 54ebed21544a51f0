//! Real TLS for the tests: a private test CA made once per test process (rcgen), server
//! certificates it signs, a second CA nobody trusts, an expired and a wrong-name certificate,
//! and a CONNECT proxy on loopback that records every tunnel it opened.
//!
//! Servers present names a company would use (`idp.corp.test`, `api.corp.test`) and also
//! `localhost` / `127.0.0.1`, so a test can reach them directly or through the proxy, which
//! routes any `*.corp.test` name to the loopback port registered for it.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Names every good server certificate is valid for.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "idp.corp.test", "api.corp.test"];

/// One certificate and key, as PEM files and as a rustls server configuration.
pub struct ServerIdentity {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub config: Arc<rustls::ServerConfig>,
}

/// The test PKI, made once per process.
pub struct Pki {
    _dir: tempfile::TempDir,
    /// The company CA lmi is told about (`LMI_CA_BUNDLE`, `SSL_CERT_FILE`).
    pub ca_pem: PathBuf,
    /// A CA nobody configured.
    pub other_ca_pem: PathBuf,
    /// Signed by the company CA for `SERVER_NAMES`.
    pub good: ServerIdentity,
    /// Signed by the other CA.
    pub untrusted: ServerIdentity,
    /// Signed by the company CA, expired in 2001.
    pub expired: ServerIdentity,
    /// Signed by the company CA for `elsewhere.test` only.
    pub wrong_name: ServerIdentity,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::make)
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

impl Pki {
    fn make() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, ca) = new_ca("lmi test company CA");
        let (other_pem, other) = new_ca("someone else's CA");
        let ca_path = dir.path().join("company-ca.pem");
        std::fs::write(&ca_path, &ca_pem).unwrap();
        let other_path = dir.path().join("other-ca.pem");
        std::fs::write(&other_path, &other_pem).unwrap();

        let leaf = |tag: &str, names: &[&str], issuer: &Issuer<'static, KeyPair>, expired: bool| {
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, names[0]);
            params.use_authority_key_identifier_extension = true;
            params
                .extended_key_usages
                .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
            if expired {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, issuer).unwrap();
            let cert_pem = dir.path().join(format!("{tag}.crt"));
            let key_pem = dir.path().join(format!("{tag}.key"));
            std::fs::write(&cert_pem, cert.pem()).unwrap();
            std::fs::write(&key_pem, key.serialize_pem()).unwrap();
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
            ServerIdentity {
                cert_pem,
                key_pem,
                config: Arc::new(config),
            }
        };
        let good = leaf("server", SERVER_NAMES, &ca, false);
        let untrusted = leaf("untrusted", SERVER_NAMES, &other, false);
        let expired = leaf("expired", SERVER_NAMES, &ca, true);
        let wrong_name = leaf("wrong-name", &["elsewhere.test"], &ca, false);
        Pki {
            _dir: dir,
            ca_pem: ca_path,
            other_ca_pem: other_path,
            good,
            untrusted,
            expired,
            wrong_name,
        }
    }
}

/// A TLS terminator on loopback in front of a plain server: each connection is decrypted
/// with `identity` and relayed to `backend`. Any of the tests' plain fault servers becomes an
/// HTTPS one this way.
pub struct TlsFront {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handshakes: Arc<Mutex<usize>>,
}

impl TlsFront {
    pub fn start(identity: &ServerIdentity, backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handshakes = Arc::new(Mutex::new(0));
        let config = identity.config.clone();
        {
            let (stop, handshakes) = (stop.clone(), handshakes.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (config, handshakes) = (config.clone(), handshakes.clone());
                    std::thread::spawn(move || relay_tls(conn, config, backend, &handshakes));
                }
            });
        }
        Self {
            addr,
            stop,
            handshakes,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://<host>:<port><path>`.
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.addr.port())
    }
    /// Connections whose TLS handshake completed.
    pub fn handshakes(&self) -> usize {
        *self.handshakes.lock().unwrap()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay_tls(
    mut tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    backend: SocketAddr,
    handshakes: &Mutex<usize>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return;
        }
    }
    *handshakes.lock().unwrap() += 1;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let Ok(mut plain) = TcpStream::connect(backend) else {
        return;
    };
    let _ = plain.set_read_timeout(Some(Duration::from_secs(30)));
    // HTTP/1.1 request then response: the fault servers answer one request per connection
    // and close, so relay the request, then the answer until the backend closes.
    let mut reader = BufReader::new(&mut tls);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(v) = line
            .to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().to_owned())
        {
            content_length = v.parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if plain.write_all(&head).is_err() || plain.write_all(&body).is_err() {
        return;
    }
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    let _ = tls.write_all(&answer);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

/// A forward proxy on loopback: `CONNECT host:port` tunnels (HTTPS) and absolute-form plain
/// requests (HTTP). `routes` maps a `host:port` to where it really is (the test servers all
/// listen on loopback); everything it saw is recorded, with any `Proxy-Authorization`.
pub struct Proxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<ProxyRequest>>>,
}

#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// `CONNECT` or the method of a plain request.
    pub method: String,
    /// `host:port` for CONNECT, the absolute URL otherwise.
    pub target: String,
    pub proxy_authorization: Option<String>,
}

impl Proxy {
    pub fn start(routes: BTreeMap<String, SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<ProxyRequest>>> = Arc::default();
        let routes = Arc::new(routes);
        {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, routes) = (seen.clone(), routes.clone());
                    std::thread::spawn(move || proxy_one(conn, &routes, &seen));
                }
            });
        }
        Self { addr, stop, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    pub fn seen(&self) -> Vec<ProxyRequest> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn proxy_one(
    client: TcpStream,
    routes: &BTreeMap<String, SocketAddr>,
    seen: &Mutex<Vec<ProxyRequest>>,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("proxy-authorization")
        {
            auth = Some(v.trim().to_owned());
        } else {
            head.extend_from_slice(line.as_bytes());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    seen.lock().unwrap().push(ProxyRequest {
        method: method.clone(),
        target: target.clone(),
        proxy_authorization: auth,
    });
    let mut client = client;
    if method != "CONNECT" {
        // Plain proxying is not needed by lmi's tests: answer so the client fails fast.
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let Some(backend) = routes.get(&target).copied() else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let Ok(upstream) = TcpStream::connect(backend) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    // Bytes the client sent after the CONNECT head are already in the reader's buffer.
    let buffered = reader.buffer().to_vec();
    let mut up_write = upstream.try_clone().unwrap();
    let _ = up_write.write_all(&buffered);
    let mut client_read = client.try_clone().unwrap();
    let to_upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let mut up_read = upstream;
    let _ = std::io::copy(&mut up_read, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = to_upstream.join();
}
