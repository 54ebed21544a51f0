//! `lmi doctor`: one line per check, a fix on every failure, exit 1 when something is wrong.
//! The token endpoint and the SSO issuer are in-process servers (support/fault.rs) so each
//! fault — unreachable, wrong issuer, skewed clock — is exact.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::support::fault::{FaultServer, Reply};
use crate::support::idp::{self, Idp};
use crate::support::tls::{TlsFront, pki};
use crate::support::{Home, plugin_dir};

/// An IMF-fixdate (`Mon, 23 Nov 2026 13:59:00 GMT`) for a `Date` header.
fn http_date(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string(); // 2026-11-23T13:59:00Z
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let mut d = date.split('-');
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[m.parse::<usize>().unwrap() - 1];
    format!("Mon, {day} {month} {y} {time} GMT")
}

/// A provider at `srv`: `/token` issues [`HEALTHY_TOKEN`] to a POST, discovery names `issuer`,
/// and every answer carries a `Date` that is `skew` ahead of this machine.
fn provider(issuer: Option<String>, skew: Duration) -> FaultServer {
    FaultServer::start(move |req, _| {
        let base = format!("http://{}", req.header("host").unwrap_or_default());
        let mut reply = match req.path() {
            "/.well-known/openid-configuration" => Reply::json(
                200,
                json!({
                    "issuer": issuer.clone().unwrap_or(base.clone()),
                    "authorization_endpoint": format!("{base}/auth"),
                    "token_endpoint": format!("{base}/token"),
                    "jwks_uri": format!("{base}/jwks"),
                }),
            ),
            "/token" if req.method == "POST" => Reply::json(
                200,
                json!({"access_token": HEALTHY_TOKEN, "token_type": "Bearer", "expires_in": 600}),
            ),
            "/token" => Reply::status(405),
            _ => Reply::status(404),
        };
        reply
            .headers
            .push(("Date".into(), http_date(SystemTime::now() + skew)));
        reply
    })
}

/// The token [`provider`] issues; doctor must never show it.
const HEALTHY_TOKEN: &str = "healthy-token-c0ffee";

fn configured(srv: &FaultServer) -> Home {
    let mut home = Home::new();
    home.global_env(&format!(
        "default_environment=dev\nOAUTH_SSO_ISSUER={}\nOAUTH_SSO_CLIENT_ID=lmi\n",
        srv.base()
    ));
    home.env_file(
        "dev",
        &format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_CLIENT_ID=svc\nOAUTH_CLIENT_SECRET=doctor-secret-81c2\n",
            srv.url("/token")
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = home.config().join("env/dev.env");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    home.env("LMI_SSO_STORAGE", "file")
        .env("LMI_LOG_FILE", "off");
    home
}

/// The first line of check `name` with `status` that contains `needle`.
#[track_caller]
fn line<'a>(stdout: &'a str, status: &str, name: &str, needle: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            l.split_whitespace().next() == Some(status)
                && l[status.len()..]
                    .trim_start()
                    .starts_with(&format!("{name} "))
                && l.contains(needle)
        })
        .unwrap_or_else(|| panic!("no `{status} {name}` line with {needle:?} in:\n{stdout}"))
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let srv = provider(None, Duration::ZERO);
    let home = configured(&srv);
    home.install(&plugin_dir("plugins/hello"));
    let run = home.run(["-vv", "doctor"]);
    run.success()
        .stdout_has("0 failures")
        .nowhere("doctor-secret-81c2")
        .nowhere(HEALTHY_TOKEN);
    line(&run.stdout, "ok", "config", "parses");
    line(
        &run.stdout,
        "ok",
        "env dev",
        "grant tried: token issued, valid 600 s",
    );
    line(&run.stdout, "ok", "keychain", "LMI_SSO_STORAGE=file");
    line(&run.stdout, "ok", "sso", "publishes its discovery document");
    line(&run.stdout, "ok", "clock", "of the issuer's");
    line(
        &run.stdout,
        "ok",
        "plugin hello",
        "compiled artifact intact",
    );
    assert!(!run.stdout.contains("FAIL"), "{run:#?}");
    // The one credential doctor sends is the grant trial's, to the token endpoint, and the
    // token it gets is kept nowhere.
    let posts: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(posts[0].path(), "/token");
    assert!(!home.cache().join("tokens").exists());
}

#[test]
fn each_problem_gets_a_failing_line_with_a_fix() {
    // The issuer's clock is ten minutes ahead, and its discovery names another issuer.
    let srv = provider(
        Some("https://login.elsewhere.example".into()),
        Duration::from_secs(600),
    );
    let mut home = configured(&srv);
    // A second env whose token endpoint is a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    home.env_file(
        "stage",
        &format!("OAUTH_TOKEN_URL={dead}\nOAUTH_CLIENT_ID=svc\nOAUTH_CLIENT_SECRET=x\n"),
    );
    // A third with a key missing.
    home.env_file("qa", "OAUTH_CLIENT_ID=svc\n");
    // A plugin whose installed component was modified, one whose artifact is gone.
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    let wasm = home.data().join("plugins/hello/component.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend_from_slice(&[0x00, 0x03, 0x02, b'x', b'y']);
    std::fs::write(&wasm, bytes).unwrap();
    std::fs::remove_dir_all(home.cache().join("compiled")).unwrap();
    // The keychain: a D-Bus address where there is none.
    home.env("LMI_SSO_STORAGE", "").env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/lmi-doctor",
    );

    let start = std::time::Instant::now();
    let run = home.run(["doctor"]);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    run.code(1);
    for failing in [
        line(
            &run.stdout,
            "FAIL",
            "env stage",
            "cannot get a service token",
        ),
        line(&run.stdout, "FAIL", "env stage", "readable by others"),
        line(&run.stdout, "FAIL", "env qa", "OAUTH_TOKEN_URL"),
        line(&run.stdout, "FAIL", "keychain", "not"),
        line(&run.stdout, "FAIL", "sso", "login.elsewhere.example"),
        line(&run.stdout, "FAIL", "clock", "s off the issuer's"),
        line(
            &run.stdout,
            "FAIL",
            "plugin hello",
            "modified after installation",
        ),
    ] {
        assert!(failing.contains(" — fix: "), "no fix on: {failing}");
    }
    line(
        &run.stdout,
        "warn",
        "plugin hostile",
        "no compiled artifact",
    );
    line(&run.stdout, "ok", "env dev", "grant tried: token issued");
}

#[test]
fn secrets_readable_by_others_fail_and_json_output_lists_checks() {
    let srv = provider(None, Duration::ZERO);
    let home = configured(&srv);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = home.config().join("env/dev.env");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = home.run(["doctor", "--offline"]);
        run.code(1);
        assert!(line(&run.stdout, "FAIL", "env dev", "OAUTH_CLIENT_SECRET").contains("chmod 600"));
        assert!(!run.stdout.contains("doctor-secret-81c2"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let run = home.run(["--output", "json", "doctor", "--offline"]);
    run.success();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["failures"], 0, "{doc}");
    let checks = doc["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "env dev" && c["status"] == "ok")
    );
    assert!(
        checks
            .iter()
            .all(|c| c["status"] != "fail" || c["fix"].is_string())
    );
    // --offline contacted nothing.
    assert!(srv.requests().is_empty());
}

/// Doctor judges the SSO configuration by login's own rules: a plain-http issuer off loopback,
/// which `lmi login sso` refuses, is a failure here too (doctor used to pass it).
#[test]
fn doctor_refuses_the_issuer_login_refuses() {
    let mut home = Home::new();
    home.env("LMI_SSO_STORAGE", "file");
    home.global_env("OAUTH_SSO_ISSUER=http://login.example.com\nOAUTH_SSO_CLIENT_ID=lmi\n");
    let run = home.run(["doctor", "--offline"]);
    run.code(1);
    line(&run.stdout, "FAIL", "sso", "OAUTH_SSO_ISSUER");
    home.run(["login", "sso", "--no-browser"])
        .code(2)
        .stderr_has("OAUTH_SSO_ISSUER");
}

/// Writes `env/<name>.env` readable by its owner only (doctor fails a secret others can read).
fn private_env_file(home: &Home, name: &str, contents: &str) {
    home.env_file(name, contents);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = home.config().join(format!("env/{name}.env"));
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A home whose SSO session would live in a file (so no keychain is needed) and whose log is
/// kept, for the tests that look into it.
fn plain_home() -> Home {
    let mut home = Home::new();
    home.env("LMI_SSO_STORAGE", "file");
    home
}

/// The token cache files in `home` (`tokens/*.json`).
fn token_files(home: &Home) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(home.cache().join("tokens"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

/// A service that answers every request 401, as an API does without a token.
fn service_401() -> FaultServer {
    FaultServer::start(|_, _| {
        let mut reply = Reply::json(401, json!({"error": "unauthorized"}));
        reply
            .headers
            .push(("WWW-Authenticate".into(), "Bearer".into()));
        reply
    })
}

/// Doctor tries the grant at the real provider: a wrong client secret is the provider's
/// `invalid_client`, a named service asking for an audience the provider refuses is its
/// `invalid_target`, each a failing line (and a failing check in the JSON output), exit 1.
/// Before: doctor only sent a GET to the token URL and said `ok`.
#[test]
fn a_wrong_client_secret_is_the_providers_invalid_client() {
    let idp = Idp::start();
    let api = service_401();
    let home = plain_home();
    let wrong = "wrong-secret-5e1d2c";
    private_env_file(
        &home,
        "dev",
        &format!(
            "{}OAUTH_SERVICE_URL={}\n",
            idp.service_env().replace(idp::SERVICE_CLIENT_SECRET, wrong),
            api.url("/api")
        ),
    );
    private_env_file(
        &home,
        "scoped",
        &format!(
            "{}OAUTH_SERVICE_URL={}\nOAUTH_SERVICE_BILLING_URL={}\nOAUTH_SERVICE_BILLING_AUDIENCE=billing\n",
            idp.service_env(),
            api.url("/api"),
            api.url("/billing")
        ),
    );
    let run = home.run(["doctor"]);
    run.code(1)
        .nowhere(wrong)
        .nowhere(idp::SERVICE_CLIENT_SECRET);
    let bad = line(&run.stdout, "FAIL", "env dev", "invalid_client");
    assert!(
        bad.contains("OAUTH_CLIENT_SECRET"),
        "no fix naming the key: {bad}"
    );
    line(&run.stdout, "ok", "env scoped", "grant tried: token issued");
    let scope = line(&run.stdout, "FAIL", "env scoped", "service `billing`");
    assert!(scope.contains("invalid_target"), "{scope}");
    assert!(scope.contains("OAUTH_SERVICE_BILLING_AUDIENCE"), "{scope}");
    // One request for dev's grant, two for scoped's (its own and billing's).
    assert_eq!(idp.token_requests("client_credentials"), 3);
    assert!(token_files(&home).is_empty(), "{:?}", token_files(&home));

    let run = home.run(["--output", "json", "doctor"]);
    run.code(1).nowhere(wrong);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = doc["checks"].as_array().unwrap();
    let failing = |env: &str, needle: &str| {
        checks.iter().any(|c| {
            c["check"] == format!("env {env}")
                && c["status"] == "fail"
                && c["detail"].as_str().unwrap().contains(needle)
                && c["fix"].is_string()
        })
    };
    assert!(failing("dev", "invalid_client"), "{doc:#}");
    assert!(failing("scoped", "invalid_target"), "{doc:#}");
    assert_eq!(doc["failures"], 2, "{doc:#}");
}

/// A token URL that is not a token endpoint fails, saying what came back: a 404 page, the real
/// provider's 404 for a path it does not serve, a 503, a login page answered 200. Before:
/// any answer to a GET counted as "token endpoint answers".
#[test]
fn a_token_url_answering_404_or_a_page_is_a_failure() {
    let idp = Idp::start();
    let srv = FaultServer::start(|req, _| match req.path() {
        "/missing" => Reply::raw(404, "text/html", "<html><h1>Not Found</h1></html>"),
        "/down" => Reply::raw(503, "text/plain", "maintenance"),
        "/login" => Reply::raw(200, "text/html", "<html>sign in</html>"),
        _ => Reply::status(500),
    });
    let home = plain_home();
    let env = |token_url: &str| {
        format!(
            "OAUTH_TOKEN_URL={token_url}\nOAUTH_CLIENT_ID={}\nOAUTH_CLIENT_SECRET={}\n",
            idp::SERVICE_CLIENT_ID,
            idp::SERVICE_CLIENT_SECRET
        )
    };
    private_env_file(&home, "html404", &env(&srv.url("/missing")));
    private_env_file(&home, "down", &env(&srv.url("/down")));
    private_env_file(&home, "page", &env(&srv.url("/login")));
    private_env_file(
        &home,
        "wrongpath",
        &env(&format!("{}/oauth2/token", idp.issuer())),
    );
    let run = home.run(["doctor"]);
    run.code(1).nowhere(idp::SERVICE_CLIENT_SECRET);
    let html = line(&run.stdout, "FAIL", "env html404", "HTTP 404");
    assert!(html.contains("text/html"), "{html}");
    assert!(html.contains("OAUTH_TOKEN_URL"), "{html}");
    line(&run.stdout, "FAIL", "env down", "HTTP 503");
    line(&run.stdout, "FAIL", "env page", "text/html");
    line(&run.stdout, "FAIL", "env wrongpath", "HTTP 404");
    assert!(
        !run.stdout.contains("Not Found"),
        "a body was echoed: {run:#?}"
    );
}

/// A good configuration: each grant is tried once (the env's own, and a named service's with
/// its own audience; a named service sharing the env's token adds none), nothing is written
/// to the token cache, no token appears in the output at `-vv` or in the log, and the service
/// URLs are probed without one (a 401 is what an API answers then: ok). A run holding the
/// cache's lock does not hold doctor up, and a cached token is left as it was.
#[test]
fn a_good_setup_tries_each_grant_and_keeps_and_prints_no_token() {
    let idp = Idp::start();
    let api = service_401();
    let home = plain_home();
    private_env_file(
        &home,
        "dev",
        &format!(
            "{}OAUTH_SERVICE_URL={}\nOAUTH_SERVICE_BILLING_URL={}\nOAUTH_SERVICE_BILLING_AUDIENCE=urn:lmi:billing\nOAUTH_SERVICE_REPORTS_URL={}\n",
            idp.service_env(),
            api.url("/api"),
            api.url("/billing"),
            api.url("/reports")
        ),
    );
    let run = home.run(["-vv", "doctor"]);
    run.success().nowhere(idp::SERVICE_CLIENT_SECRET);
    // Access tokens from this provider are JWTs: base64url JSON, `eyJ…`.
    assert!(
        !run.stdout.contains("eyJ") && !run.stderr.contains("eyJ"),
        "a token was printed: {run:#?}"
    );
    home.log_lacks("eyJ");
    line(&run.stdout, "ok", "env dev", "grant tried: token issued");
    assert!(
        line(&run.stdout, "ok", "env dev", "service `billing` (its own").contains("token issued")
    );
    for path in ["/api", "/billing", "/reports"] {
        line(
            &run.stdout,
            "ok",
            "env dev",
            &format!("{path} answers HTTP 401"),
        );
    }
    assert_eq!(idp.token_requests("client_credentials"), 2);
    assert!(token_files(&home).is_empty(), "{:?}", token_files(&home));
    let probes = api.requests();
    assert_eq!(probes.len(), 3, "{probes:#?}");
    assert!(
        probes
            .iter()
            .all(|r| r.method == "GET" && r.header("authorization").is_none()),
        "{probes:#?}"
    );

    // A cached token, and another process holding the cache's lock: doctor neither waits for
    // the lock (lmi waits up to LMI_HTTP_TIMEOUT_SECS + 15 s) nor reuses or touches the cache.
    home.run(["-e", "dev", "auth", "token"]).success();
    let cache = home.cache().join("tokens/dev.json");
    let before = (
        std::fs::read(&cache).unwrap(),
        std::fs::metadata(&cache).unwrap().modified().unwrap(),
    );
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(home.cache().join("tokens/dev.lock"))
        .unwrap();
    lock.lock().unwrap();
    idp.reset();
    let started = std::time::Instant::now();
    let run = home.run(["doctor"]);
    let took = started.elapsed();
    drop(lock);
    run.success();
    assert!(took < Duration::from_secs(12), "took {took:?}: {run:#?}");
    line(&run.stdout, "ok", "env dev", "grant tried: token issued");
    assert_eq!(
        idp.token_requests("client_credentials"),
        2,
        "the grant was not tried"
    );
    let after = (
        std::fs::read(&cache).unwrap(),
        std::fs::metadata(&cache).unwrap().modified().unwrap(),
    );
    assert!(before == after, "doctor changed the token cache");
    assert_eq!(token_files(&home), vec![cache]);
}

/// The service URLs are probed: reachable, TLS valid with lmi's roots (`LMI_CA_BUNDLE` here),
/// and what a request without a token answers. A closed port, a name that does not resolve, a
/// certificate from a CA nobody configured and an expired one each fail naming what failed;
/// a 401 and a good certificate pass. No token is sent to any of them, and the token the
/// grant trial got is never shown, even at `-vv`. Before: the service URL was never probed.
#[test]
fn service_urls_are_probed_for_reach_tls_and_answer() {
    const TOKEN: &str = "doctor-token-3f9a71";
    let token = FaultServer::start(|req, _| match req.path() {
        "/token" => Reply::json(
            200,
            json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}),
        ),
        _ => Reply::status(404),
    });
    let api = service_401();
    let backend: std::net::SocketAddr = api.base().trim_start_matches("http://").parse().unwrap();
    let good = TlsFront::start(&pki().good, backend);
    let untrusted = TlsFront::start(&pki().untrusted, backend);
    let expired = TlsFront::start(&pki().expired, backend);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/api", closed.local_addr().unwrap());
    drop(closed);
    let mut home = plain_home();
    home.env("LMI_CA_BUNDLE", pki().ca_pem.to_str().unwrap());
    private_env_file(
        &home,
        "dev",
        &format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_CLIENT_ID=svc\nOAUTH_CLIENT_SECRET=probe-secret-77\n\
             OAUTH_SERVICE_URL={}\nOAUTH_SERVICE_GOOD_URL={}\nOAUTH_SERVICE_UNTRUSTED_URL={}\n\
             OAUTH_SERVICE_EXPIRED_URL={}\nOAUTH_SERVICE_CLOSED_URL={closed_url}\n\
             OAUTH_SERVICE_NOWHERE_URL=https://lmi-doctor-probe.invalid/api\n",
            token.url("/token"),
            api.url("/api"),
            good.url("localhost", "/good"),
            untrusted.url("localhost", "/untrusted"),
            expired.url("localhost", "/expired"),
        ),
    );
    let started = std::time::Instant::now();
    let run = home.run(["-vv", "doctor"]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    run.code(1).nowhere(TOKEN).nowhere("probe-secret-77");
    line(&run.stdout, "ok", "env dev", "grant tried: token issued");
    line(&run.stdout, "ok", "env dev", "/api answers HTTP 401");
    line(&run.stdout, "ok", "env dev", "/good answers HTTP 401");
    for (service, what) in [
        (
            "untrusted",
            "not signed by a certificate authority lmi trusts",
        ),
        ("expired", "has expired"),
        ("closed", "cannot connect"),
        ("nowhere", "lmi-doctor-probe.invalid"),
    ] {
        let failing = line(
            &run.stdout,
            "FAIL",
            "env dev",
            &format!("service `{service}`"),
        );
        assert!(failing.contains(what), "{service}: {failing}");
        assert!(failing.contains(" — fix: "), "{service}: {failing}");
    }
    // Only the good front completed a handshake; nothing reached the backend through the
    // refused ones, and nothing carried a token.
    assert_eq!(untrusted.handshakes() + expired.handshakes(), 0);
    let probes = api.requests();
    assert_eq!(probes.len(), 2, "{probes:#?}");
    assert!(
        probes.iter().all(|r| r.header("authorization").is_none()),
        "{probes:#?}"
    );
}

/// `LMI_ACCESS_TOKEN` replaces the active env's grant: doctor says there is none to try and
/// asks the token endpoint nothing, and an env that configures only a service URL, with no
/// file (the CI shape), is checked and does not fail for want of grant keys. The service URL
/// is still probed, without the token.
#[test]
fn an_env_using_lmi_access_token_has_no_grant_to_try() {
    let srv = FaultServer::token_endpoint();
    let api = service_401();
    let mut home = plain_home();
    home.global_env("default_environment=dev\n");
    private_env_file(&home, "dev", &srv.client_credentials_env("ci-secret-4d"));
    home.env("LMI_ACCESS_TOKEN", "static-ci-token-91b0");
    let run = home.run(["doctor"]);
    run.success().nowhere("static-ci-token-91b0");
    line(&run.stdout, "skip", "env dev", "LMI_ACCESS_TOKEN");
    assert_eq!(srv.count("/token"), 0, "a grant was tried");
    line(&run.stdout, "ok", "env dev", "/api answers HTTP 404");

    // The CI shape: an env with no file, chosen by LMI_ENV, its service URL in the process
    // environment (which configures the active env only).
    home.env("LMI_ENV", "ci")
        .env("OAUTH_SERVICE_URL", &api.url("/ci"));
    let run = home.run(["doctor"]);
    run.success();
    run.nowhere("static-ci-token-91b0");
    line(&run.stdout, "skip", "env ci", "LMI_ACCESS_TOKEN");
    line(&run.stdout, "ok", "env ci", "/ci answers HTTP 401");
    let ci_lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" env ci "))
        .collect();
    assert!(
        ci_lines
            .iter()
            .all(|l| !l.starts_with("FAIL") && !l.contains("OAUTH_TOKEN_URL")),
        "{run:#?}"
    );
    assert_eq!(
        api.requests()
            .iter()
            .filter(|r| r.bearer().is_some())
            .count(),
        0
    );
}

/// `--offline` opens no connection to any token endpoint or service (the listeners count
/// connections, not only requests), and says what it left out.
#[test]
fn offline_contacts_no_token_endpoint_and_no_service() {
    let srv = FaultServer::token_endpoint();
    let api = service_401();
    let home = plain_home();
    private_env_file(
        &home,
        "dev",
        &format!(
            "{}OAUTH_SERVICE_BILLING_URL={}\nOAUTH_SERVICE_BILLING_SCOPE=billing\n",
            srv.client_credentials_env("offline-secret-1a"),
            api.url("/billing")
        ),
    );
    let run = home.run(["doctor", "--offline"]);
    run.success();
    line(&run.stdout, "skip", "env dev", "--offline");
    assert_eq!(srv.connections(), 0, "{:#?}", srv.requests());
    assert_eq!(api.connections(), 0, "{:#?}", api.requests());
    let run = home.run(["--output", "json", "doctor", "--offline"]);
    run.success();
    assert_eq!(srv.connections() + api.connections(), 0);
}

/// The password grant is tried too (the real provider has none, so a fault server plays it):
/// a wrong password is the provider's `invalid_grant`, its description shown on one bounded
/// line without escapes and without the password it echoes, and the fix names the user's
/// keys; the right one passes.
#[test]
fn a_wrong_password_is_the_providers_invalid_grant_shown_safely() {
    const PASSWORD: &str = "hunter2-doctor-9c";
    const WRONG: &str = "wrong-pass-77a1";
    let srv = FaultServer::start(|req, _| {
        let form = req.form();
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        if req.path() != "/token" || field("grant_type") != "password" || field("username") != "uma"
        {
            return Reply::status(400);
        }
        if field("password") == PASSWORD {
            return Reply::json(
                200,
                json!({"access_token": "pw-token-5e", "token_type": "Bearer", "expires_in": 60}),
            );
        }
        Reply::json(
            400,
            json!({
                "error": "invalid_grant",
                "error_description": format!(
                    "wrong password {} for uma\u{1b}]52;c;ZXZpbA==\u{7}{}",
                    field("password"),
                    "x".repeat(2000)
                ),
            }),
        )
    });
    let home = plain_home();
    let env = |password: &str| {
        format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_GRANT_TYPE=password\nOAUTH_CLIENT_ID=cli\n\
             OAUTH_USERNAME=uma\nOAUTH_PASSWORD={password}\n",
            srv.url("/token")
        )
    };
    private_env_file(&home, "dev", &env(PASSWORD));
    private_env_file(&home, "bad", &env(WRONG));
    let run = home.run(["-vv", "doctor"]);
    run.code(1)
        .nowhere(WRONG)
        .nowhere(PASSWORD)
        .nowhere("pw-token-5e");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'),
        "{run:#?}"
    );
    line(
        &run.stdout,
        "ok",
        "env dev",
        "password grant tried: token issued",
    );
    let bad = line(&run.stdout, "FAIL", "env bad", "invalid_grant");
    assert!(bad.contains("OAUTH_USERNAME, OAUTH_PASSWORD"), "{bad}");
    assert!(bad.len() < 1200, "{} characters: {bad}", bad.len());
    assert_eq!(srv.count("/token"), 2);
    assert!(token_files(&home).is_empty());
}

/// The process environment configures the active environment only: `LMI_ENV=ci
/// OAUTH_CLIENT_SECRET=…` never reaches another environment's token endpoint, though doctor
/// tries every environment's grant (review finding: dev's provider got ci's secret).
#[test]
fn a_secret_in_the_process_environment_goes_to_the_active_envs_provider_only() {
    let dev = FaultServer::token_endpoint();
    let ci = FaultServer::token_endpoint();
    let mut home = plain_home();
    home.global_env("default_environment=dev\n");
    // Secrets in the form (client_secret_post), where the test can read them.
    private_env_file(
        &home,
        "dev",
        &format!(
            "{}OAUTH_CLIENT_AUTH_METHOD=client_secret_post\n",
            dev.client_credentials_env("dev-secret-0a1b")
        ),
    );
    home.env("LMI_ENV", "ci")
        .env("OAUTH_TOKEN_URL", &ci.url("/token"))
        .env("OAUTH_GRANT_TYPE", "client_credentials")
        .env("OAUTH_CLIENT_ID", "ci-client")
        .env("OAUTH_CLIENT_SECRET", "ci-secret-XYZ9")
        .env("OAUTH_CLIENT_AUTH_METHOD", "client_secret_post");
    let run = home.run(["doctor"]);
    run.nowhere("ci-secret-XYZ9").nowhere("dev-secret-0a1b");
    let sent = |srv: &FaultServer| {
        srv.requests()
            .iter()
            .map(|r| format!("{:?} {:?}", r.header("authorization"), r.form()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let to_dev = sent(&dev);
    assert!(
        to_dev.contains("dev-secret-0a1b"),
        "dev's grant was tried: {to_dev} {run:#?}"
    );
    assert!(
        !to_dev.contains("ci-secret-XYZ9") && !to_dev.contains("ci-client"),
        "{to_dev}"
    );
    assert!(sent(&ci).contains("ci-secret-XYZ9"), "{}", sent(&ci));
}

/// `user:password@` in a URL key is refused (the HTTP client would send it as Basic
/// credentials, even to doctor's "no credential" probe), and the error quotes the URL
/// without them.
#[test]
fn a_url_holding_a_user_or_password_is_refused_and_never_quoted() {
    let api = service_401();
    let mut home = plain_home();
    home.global_env("default_environment=dev\n");
    let url = api
        .url("/api")
        .replace("http://", "http://svcuser:svc-pass-77@");
    private_env_file(&home, "dev", &format!("OAUTH_SERVICE_URL={url}\n"));
    home.env("LMI_ACCESS_TOKEN", "static-3e");
    let run = home.run(["doctor"]);
    run.nowhere("svc-pass-77").nowhere("svcuser");
    line(
        &run.stdout,
        "warn",
        "env dev",
        "holds a user name or password",
    );
    assert_eq!(api.requests().len(), 0, "the probe was sent");
    // A run refuses it too, before anything is sent.
    home.install(&plugin_dir("plugins/api"));
    home.run(["api", "get", "v1/x"])
        .code(2)
        .nowhere("svc-pass-77")
        .stderr_has("holds a user name or password");
    assert_eq!(api.requests().len(), 0, "a request was sent");
}

/// `-e NAME` is checked even when NAME is also the default and has no file (the CI shape).
#[test]
fn the_env_chosen_with_e_is_checked_even_when_it_is_the_default() {
    let api = service_401();
    let mut home = plain_home();
    home.global_env("default_environment=ghost\n");
    home.env("OAUTH_SERVICE_URL", &api.url("/ghost"))
        .env("LMI_ACCESS_TOKEN", "static-ghost-1");
    let run = home.run(["-e", "ghost", "doctor"]);
    line(&run.stdout, "ok", "env ghost", "/ghost answers HTTP 401");
}

/// A provider and service that accept connections but never answer: each is waited on once
/// (the deadline names what sets it), and the later trials and probes there are skipped, so
/// doctor stays bounded however many services an environment names.
#[test]
fn an_endpoint_that_never_answers_is_waited_on_once() {
    let silent = FaultServer::start(|_, _| Reply::status(200).delayed(Duration::from_secs(30)));
    let mut home = plain_home();
    home.global_env("default_environment=dev\n");
    let mut env = silent.client_credentials_env("quiet-secret-1");
    env.push_str(&format!("OAUTH_SERVICE_URL={}\n", silent.url("/api")));
    for name in ["BILLING", "TICKETS"] {
        env.push_str(&format!(
            "OAUTH_SERVICE_{name}_URL={}\nOAUTH_SERVICE_{name}_SCOPE={}:read\n",
            silent.url(&format!("/{name}")),
            name.to_lowercase()
        ));
    }
    private_env_file(&home, "dev", &env);
    home.env("LMI_HTTP_TIMEOUT_SECS", "2");
    let started = std::time::Instant::now();
    let run = home.run(["doctor"]);
    let took = started.elapsed();
    run.code(1);
    line(
        &run.stdout,
        "FAIL",
        "env dev",
        "no answer within 2 s (LMI_HTTP_TIMEOUT_SECS)",
    );
    line(
        &run.stdout,
        "skip",
        "env dev",
        "service `billing` (its own scope or audience): not tried",
    );
    line(
        &run.stdout,
        "skip",
        "env dev",
        "service `tickets` not probed",
    );
    assert!(took < Duration::from_secs(9), "took {took:?}: {run:#?}");
}
