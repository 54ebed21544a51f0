//! `lmi doctor`: one line per check, a fix on every failure, exit 1 when something is wrong.
//! The token endpoint and the SSO issuer are in-process servers (support/fault.rs) so each
//! fault — unreachable, wrong issuer, skewed clock — is exact.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::support::fault::{FaultServer, Reply};
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

/// A provider at `srv`: `/token` answers 405 to GET (reachable), discovery names `issuer`,
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
            "/token" => Reply::status(405),
            _ => Reply::status(404),
        };
        reply
            .headers
            .push(("Date".into(), http_date(SystemTime::now() + skew)));
        reply
    })
}

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
    let run = home.run(["doctor"]);
    run.success()
        .stdout_has("0 failures")
        .nowhere("doctor-secret-81c2");
    line(&run.stdout, "ok", "config", "parses");
    line(&run.stdout, "ok", "env dev", "(HTTP 405)");
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
    // Doctor never asks for a token: it only checks the endpoint answers.
    assert!(
        srv.requests()
            .iter()
            .all(|r| r.method == "GET" && r.body.is_empty())
    );
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
        line(&run.stdout, "FAIL", "env stage", "is unreachable"),
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
    line(&run.stdout, "ok", "env dev", "(HTTP 405)");
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
