//! A real OCI registry on loopback: Debian's `docker-registry` (CNCF distribution), started
//! per test on its own port and storage, anonymous or behind htpasswd basic auth.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Registry {
    /// A registry anyone may push to and pull from.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that asks for `user` and `password` (htpasswd, bcrypt) for everything.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(auth: Option<(&str, &str)>) -> Self {
        let exe = which("docker-registry").expect(
            "docker-registry is not installed: `apt-get install docker-registry` (.ci/run installs it)",
        );
        let dir = tempfile::Builder::new()
            .prefix("lmi-registry-")
            .tempdir()
            .unwrap();
        let auth_block = match auth {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils; .ci/run installs it)");
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: lmi-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
        };
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_block}",
                dir.path().join("data").display()
            );
            std::fs::write(dir.path().join("config.yml"), config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new(&exe)
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            if wait_ready(&mut child, port) {
                return Self {
                    child: Some(child),
                    dir,
                    port,
                };
            }
            // The port was taken between our probe and its bind: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    /// `GET path` on the registry; the status line, or none when nothing answers.
    pub fn get(&self, path: &str) -> Option<String> {
        get(self.port, path)
    }

    /// The manifest `repo:reference` names, as the registry stores it.
    pub fn manifest(&self, repo: &str, reference: &str) -> String {
        let answer = exchange(
            self.port,
            &format!(
                "GET /v2/{repo}/manifests/{reference} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n"
            ),
        );
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_owned()
    }

    /// Puts `manifest` under `repo:tag` behind lmi's back (an artifact lmi would not publish).
    pub fn put_manifest(&self, repo: &str, tag: &str, manifest: &str) {
        let answer = exchange(
            self.port,
            &format!(
                "PUT /v2/{repo}/manifests/{tag} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{manifest}",
                manifest.len()
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }

    /// `oci://127.0.0.1:PORT/<rest>`.
    pub fn oci(&self, rest: &str) -> String {
        format!("oci://127.0.0.1:{}/{rest}", self.port)
    }

    /// `127.0.0.1:PORT`, as docker's configuration names it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps the blob `sha256:<hex>` (to damage it behind its back).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A docker configuration directory (for `DOCKER_CONFIG`) holding `user:password` for `host`.
pub fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    use std::fmt::Write as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut json = String::new();
    write!(json, r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), json).unwrap();
    dir.to_owned()
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if get(port, "/v2/").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_owned)
}

fn exchange(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("registry");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}
