//! The environment session (`auth::session`): one per run, reading the env file once and
//! sending every request on one kept-alive connection.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::service_auth::get;
use crate::support::fault::{FaultServer, Reply};
use lmi::auth::AuthError;
use lmi::auth::request::{ServiceCall, ServiceReply};
use lmi::auth::session::EnvSession;
use lmi::paths::Paths;
use lmi::settings::Settings;

/// A keep-alive server with a token endpoint at `/token` and `200 ok` everywhere else;
/// connections idle longer than `idle` are closed by the server.
fn keep_alive_server(idle: Duration) -> FaultServer {
    FaultServer::keep_alive(idle, |req, n| match req.path() {
        "/token" => Reply::json(
            200,
            json!({ "access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600 }),
        ),
        _ => Reply::raw(200, "text/plain", "ok"),
    })
}

/// `dev` configured against `srv`, in a throw-away directory.
fn settings_for(srv: &FaultServer, dir: &Path) -> Settings {
    let paths = Paths::under(dir);
    std::fs::create_dir_all(paths.env_dir()).unwrap();
    std::fs::write(
        paths.env_file("dev"),
        srv.client_credentials_env("session-secret-2b7d"),
    )
    .unwrap();
    Settings::load(paths, Some("dev")).unwrap()
}

/// A session driven as a plugin run drives it: every request awaited on one current-thread
/// runtime, which sits idle between requests (as it does while the plugin computes).
pub(crate) struct PluginRun {
    io: tokio::runtime::Runtime,
    pub session: Arc<EnvSession>,
}

impl PluginRun {
    pub fn open(settings: &Settings, env: &str) -> Self {
        let io = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            io,
            session: Arc::new(EnvSession::open(settings, env)),
        }
    }

    pub fn send(&self, call: ServiceCall) -> Result<ServiceReply, AuthError> {
        self.io.block_on(self.session.clone().send(call))
    }
}

/// Issue 11 §1: a plugin's service requests in one run share one TCP connection. Before the
/// session each request opened its own. The token request, sent from a worker thread under
/// the token lock, has a connection of its own even on the same server (in production the
/// token endpoint is usually another host anyway).
#[test]
fn a_plugin_runs_requests_share_one_connection() {
    let srv = keep_alive_server(Duration::from_secs(30));
    let mut home = crate::sandbox::hostile_granted(&srv);
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "60");
    let run = home.run(["request-flood", "20", "v1/items"]);
    run.success()
        .stdout_has("request-flood: 1 status 200")
        .stdout_has("request-flood: 20 status 200");
    assert_eq!(srv.count("/token"), 1);
    assert_eq!(srv.count("/api/v1/items"), 20);
    assert_eq!(
        srv.connections(),
        2,
        "one connection for the token, one for all 20 requests"
    );
}

/// A server that closes an idle kept-alive connection does not fail the next request, not
/// even a POST (which is never sent twice): the plugin's runtime, idle while the plugin
/// computed, looks at its connections before sending and connects again.
#[test]
fn a_connection_the_server_closed_while_idle_is_replaced() {
    let srv = keep_alive_server(Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let session = PluginRun::open(&settings_for(&srv, dir.path()), "dev");
    assert_eq!(session.send(get("a")).unwrap().status, 200);
    let before = srv.connections();
    std::thread::sleep(Duration::from_millis(800));
    let post = lmi::auth::request::ServiceCall {
        method: reqwest::Method::POST,
        ..get("b")
    };
    assert_eq!(session.send(post).unwrap().status, 200);
    assert_eq!(srv.count("/api/b"), 1, "no request is sent twice");
    assert_eq!(
        srv.connections(),
        before + 1,
        "a new connection after the server closed the idle one"
    );
}

/// The env file is read when the session opens, not again per token or request: a session
/// carries on after the file is gone (before, each request read it up to four times).
#[test]
fn a_session_reads_the_env_file_once() {
    let srv = keep_alive_server(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(&srv, dir.path());
    let run = PluginRun::open(&settings, "dev");
    std::fs::remove_file(settings.paths().env_file("dev")).unwrap();
    assert_eq!(run.send(get("x")).unwrap().status, 200);
    assert_eq!(run.session.token().unwrap().expose(), "tok-1");
    assert!(run.session.status().grant.is_ok());
    assert!(
        EnvSession::open(&settings, "dev").status().grant.is_err(),
        "a new session does read the (now missing) file"
    );
}

/// A server that closes a kept-alive connection just as a request arrives (it read it, and
/// answers nothing): an idempotent request is sent once more on a new connection; a POST is
/// not sent again (it might have been acted on), and fails naming the service.
#[test]
fn a_request_the_server_hung_up_on_is_sent_again_only_if_idempotent() {
    let srv = FaultServer::keep_alive(Duration::from_secs(30), |req, n| match req.path() {
        "/token" => Reply::json(
            200,
            json!({ "access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600 }),
        ),
        "/api/b" if n == 1 => Reply::hang_up(),
        "/api/c" => Reply::hang_up(),
        _ => Reply::raw(200, "text/plain", "ok"),
    });
    let dir = tempfile::tempdir().unwrap();
    let session = PluginRun::open(&settings_for(&srv, dir.path()), "dev");
    assert_eq!(session.send(get("a")).unwrap().status, 200);
    assert_eq!(session.send(get("b")).unwrap().status, 200);
    assert_eq!(srv.count("/api/b"), 2, "sent once more after the hang-up");
    let post = lmi::auth::request::ServiceCall {
        method: reqwest::Method::POST,
        ..get("c")
    };
    let err = session.send(post).unwrap_err().to_string();
    assert!(err.contains("POST"), "{err}");
    assert_eq!(srv.count("/api/c"), 1, "a POST is never sent twice");
}
