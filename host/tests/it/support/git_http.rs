//! A loopback smart-HTTP git server: a bare repository served by the real
//! `git http-backend` (CGI) behind [`FaultServer`], which demands `Authorization: Bearer`
//! with a token its `accept` function takes (the test's token endpoint issued it).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::fault::{FaultServer, Reply, Req};

pub const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// A running server and the repository it serves (`/repo.git`).
pub struct GitServer {
    pub server: FaultServer,
    _root: tempfile::TempDir,
}

impl GitServer {
    /// Serves a bare repository with one commit; a request whose bearer token `accept`
    /// refuses (or that has none) is answered 401 with `WWW-Authenticate: Bearer`.
    pub fn start(accept: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        let root = tempfile::tempdir().unwrap();
        make_repo(root.path());
        let project_root = root.path().to_owned();
        let server = FaultServer::start(move |req, _| match req.bearer() {
            Some(token) if accept(token) => cgi(&project_root, req),
            _ => {
                let mut reply = Reply::raw(401, "text/plain", "authentication required");
                reply.headers.push((
                    "WWW-Authenticate".into(),
                    "Bearer realm=\"lmi-test\"".into(),
                ));
                reply
            }
        });
        Self {
            server,
            _root: root,
        }
    }

    pub fn repo_url(&self) -> String {
        self.server.url("/repo.git")
    }

    /// How many requests came with an accepted token (reached the CGI).
    pub fn served(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.bearer().is_some())
            .count()
    }
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.test"]);
    cmd
}

fn make_repo(root: &Path) {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["commit", "-q", "--allow-empty", "-m", "first"],
        &["clone", "-q", "--bare", ".", "../repo.git"],
    ] {
        assert!(
            git(&work).args(args).status().unwrap().success(),
            "{args:?}"
        );
    }
}

/// Runs the CGI for `req`, as a web server would.
fn cgi(project_root: &PathBuf, req: &Req) -> Reply {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut cmd = Command::new(HTTP_BACKEND);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(t) = req.header("content-type") {
        cmd.env("CONTENT_TYPE", t);
    }
    if let Some(p) = req.header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&req.body).unwrap();
    let out = child.wait_with_output().unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        });
    let Some((at, sep)) = split else {
        return Reply::raw(500, "text/plain", out.stderr);
    };
    let head = String::from_utf8_lossy(&out.stdout[..at]).into_owned();
    let body = out.stdout[at + sep..].to_vec();
    let mut reply = Reply::raw(200, "text/plain", body);
    reply.headers.clear();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            reply.status = v.split(' ').next().unwrap_or("500").parse().unwrap_or(500);
        } else {
            reply.headers.push((k.trim().to_owned(), v.to_owned()));
        }
    }
    reply
}
