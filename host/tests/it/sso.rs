//! `lmi login sso`, the session, silent refresh, logout and the `requires_sso` gate, against
//! the real OpenID provider (tests/idp), a real Secret Service (run under
//! `scripts/with-keyring`) and a real headless browser driven through `$BROWSER`. The ID-token
//! checks the real provider cannot fail are driven by the in-process fake (support/fake_idp).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::browser::{self, Browser};
use crate::support::fake_idp::{self, FakeIdp, Fault};
use crate::support::idp::{self, Idp};
use crate::support::{Home, Run, plugin_dir};

/// The keychain tests need a private Secret Service: `scripts/with-keyring cargo test ...`.
pub(crate) fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the SSO tests under scripts/with-keyring (a private D-Bus + gnome-keyring)"
    );
}

/// The session lmi stored in the Secret Service for this provider, read with `secret-tool`.
fn keychain_record(issuer: &str) -> Option<String> {
    keychain_record_of(idp::CLI_CLIENT_ID, issuer)
}

/// The session lmi stored for the fake provider's own client.
fn fake_keychain_record(idp: &FakeIdp) -> Option<String> {
    keychain_record_of(&idp.client_id(), &idp.issuer())
}

use crate::support::keychain_record as keychain_record_of;

fn keychain_json(issuer: &str) -> serde_json::Value {
    let raw = keychain_record(issuer).expect("a session in the keychain");
    serde_json::from_str(&raw).expect("the keychain record is JSON")
}

/// A home configured for SSO against `env` (the provider's `.env` lines).
fn sso_home(env: &str) -> Home {
    require_keyring();
    let home = Home::new();
    home.global_env(env);
    home
}

/// `lmi` running in the background, its stderr read line by line with arrival times.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    stdout: std::thread::JoinHandle<String>,
}

fn spawn(home: &Home, args: &[&str]) -> Spawned {
    let mut child = home.spawn_piped(args);
    let stderr = child.stderr.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    Spawned {
        child,
        lines,
        seen: Vec::new(),
        stdout,
    }
}

impl Spawned {
    /// The first stderr line matching `pred`, within `timeout`.
    fn wait_line(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> (Instant, String) {
        if let Some(found) = self.seen.iter().find(|(_, l)| pred(l)) {
            return found.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(item) => {
                    self.seen.push(item.clone());
                    if pred(&item.1) {
                        return item;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no matching stderr line within {timeout:?} ({e}); so far: {:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    /// The sign-in URL lmi printed.
    fn auth_url(&mut self) -> String {
        let (_, line) = self.wait_line(
            |l| l.trim_start().starts_with("http") && l.contains("code_challenge="),
            Duration::from_secs(30),
        );
        line.trim().to_owned()
    }

    /// Waits for the exit; returns the run and when it ended.
    fn finish(mut self) -> (Run, Instant, Vec<(Instant, String)>) {
        let status = self.child.wait().expect("wait lmi");
        let ended = Instant::now();
        let stdout = self.stdout.join().unwrap();
        while let Ok(item) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(item);
        }
        let stderr = self
            .seen
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        (
            Run {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
            },
            ended,
            self.seen,
        )
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Signs in through the real provider with the headless browser as `login` (the home is
/// already configured for `idp`).
pub(crate) fn browser_login(home: &mut Home, login: &str) -> Run {
    browser::set_browser(home, Browser::approve(login));
    // --force: the keychain is shared by every test of the run, and a provider started on a
    // port an earlier test's provider used has that provider's issuer, so a session of that
    // test could otherwise answer "Already signed in".
    let run = home.run(["login", "sso", "--force"]);
    assert_eq!(
        run.code,
        0,
        "login failed: {run:#?}\nbrowser: {}",
        browser::log(home)
    );
    browser_finished(home);
    run
}

/// Every keychain item of the session lmi stored for `idp`'s client (a record over the
/// Windows limit is split over several, see `auth::sso::store`).
pub(crate) fn keychain_records(idp: &Idp) -> Vec<String> {
    crate::support::keychain_records(idp.client_id(), idp.issuer().trim_end_matches('/'))
}

/// Signs in with the device grant, the provider approving the code as `login` (no browser).
pub(crate) fn device_login(idp: &Idp, home: &Home, login: &str) -> Run {
    let mut running = spawn(
        home,
        &["login", "sso", "--device", "--no-browser", "--force"],
    );
    let (_, line) = running.wait_line(
        |l| {
            let t = l.trim();
            t.len() == 9 && t.as_bytes()[4] == b'-'
        },
        Duration::from_secs(30),
    );
    idp.approve_device(line.trim(), login);
    running.finish().0
}

/// How many times the headless browser finished a flow in this home.
fn browser_runs(home: &Home) -> usize {
    browser::log(home).matches("done:").count()
}

/// The browser log once the browser finished its flow (lmi does not wait for it, so it may
/// still be writing when lmi exits).
fn browser_finished(home: &Home) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = browser::log(home);
        if log.contains("done:") || log.contains("FAILED") || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn refresh_at_idp(idp: &Idp, refresh_token: &str) -> (u16, serde_json::Value) {
    let resp = idp
        .http()
        .post(idp.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", idp::CLI_CLIENT_ID),
            ("refresh_token", refresh_token),
        ])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(serde_json::Value::Null))
}

#[track_caller]
fn assert_private_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
    let dir = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir, 0o700, "{}", path.parent().unwrap().display());
}

// ---- the real provider, keychain and browser -------------------------------------------------

#[test]
fn browser_login_stores_a_small_session_in_the_keychain_and_whoami_sees_the_user() {
    let idp = Idp::start();
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser::set_browser(&mut home, Browser::approve("alice"));

    let mut login = spawn(&home, &["-vv", "login", "sso"]);
    let (redirected, _) = login.wait_line(
        |l| l.contains("received the browser's redirect"),
        Duration::from_secs(90),
    );
    let (run, ended, _) = login.finish();
    run.success()
        .stdout_has("Signed in as alice@example.test (Test User alice).");
    eprintln!(
        "FIGURE sso-login: browser redirect -> `lmi login sso` exit: {:?}",
        ended.duration_since(redirected)
    );
    let log = browser_finished(&home);
    assert!(log.contains("answered 200"), "{log}");
    assert_eq!(idp.token_requests("authorization_code"), 1);

    // The keychain holds a small record: tokens, expiry, the validated claims, and the ID
    // token lmi verified (for `lmi credential kube --token sso-id`).
    let raw = keychain_record(idp.issuer()).expect("a session in the keychain");
    assert!(raw.len() < 2560, "{} bytes: {raw}", raw.len());
    let rec: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(rec["sub"], "alice");
    assert_eq!(rec["email"], "alice@example.test");
    assert_eq!(rec["iss"], idp.issuer());
    assert!(
        rec["refresh_token"].is_string() && rec["access_token"].is_string(),
        "{rec}"
    );
    let id_token = rec["id_token"]["token"]
        .as_str()
        .expect("the verified ID token");
    assert!(
        rec["id_token"]["expires_at"].as_u64() > rec["obtained_at"].as_u64(),
        "{rec}"
    );
    run.nowhere(id_token);
    home.log_lacks(id_token);
    assert!(
        !home.data().join("sso-session.json").exists(),
        "no plaintext copy"
    );
    let (refresh_token, access_token) = (
        rec["refresh_token"].as_str().unwrap(),
        rec["access_token"].as_str().unwrap(),
    );
    run.nowhere(refresh_token).nowhere(access_token);
    home.log_lacks(refresh_token).log_lacks(access_token);

    // A requires_sso command runs and sees the user; the plugin never sees a token.
    let whoami = home.run(["whoami"]);
    whoami
        .success()
        .stdout_has("subject: alice")
        .stdout_has("email: alice@example.test")
        .stdout_has("name: Test User alice")
        .nowhere(refresh_token);

    // Signing in again with a valid session does nothing (no browser).
    let again = home.run(["login", "sso"]);
    again
        .success()
        .stdout_has("Already signed in as alice@example.test");
    assert_eq!(browser_runs(&home), 1);
    assert_eq!(idp.token_requests("authorization_code"), 1);
}

#[test]
fn logout_revokes_the_refresh_token_at_the_idp_and_deletes_the_session() {
    let idp = Idp::start();
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser_login(&mut home, "bob");
    let refresh_token = keychain_json(idp.issuer())["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = home.run(["logout", "sso"]);
    out.success()
        .stdout_has("revoked at the identity provider")
        .nowhere(&refresh_token);
    assert_eq!(idp.revocations(), 1);
    assert!(keychain_record(idp.issuer()).is_none(), "deleted locally");

    // The provider no longer honours the old refresh token.
    let (status, body) = refresh_at_idp(&idp, &refresh_token);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    home.run(["whoami"])
        .code(4)
        .stderr_has("run: lmi login sso");
    home.run(["logout", "sso"])
        .success()
        .stdout_has("Not signed in");
    assert_eq!(idp.revocations(), 1);
}

#[test]
fn an_expired_access_token_is_refreshed_silently_and_the_rotated_token_is_kept() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser_login(&mut home, "alice");
    let first = keychain_json(idp.issuer());

    std::thread::sleep(Duration::from_millis(2500));
    home.run(["whoami"])
        .success()
        .stdout_has("email: alice@example.test");
    assert_eq!(idp.token_requests("refresh_token"), 1);
    let second = keychain_json(idp.issuer());
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    assert!(second["expires_at"].as_u64() > first["expires_at"].as_u64());

    // The rotated refresh token works for the next refresh too.
    std::thread::sleep(Duration::from_millis(2500));
    home.run(["whoami"])
        .success()
        .stdout_has("email: alice@example.test");
    assert_eq!(idp.token_requests("refresh_token"), 2);
    let log = idp.request_log();
    let failed: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["grant_type"] == "refresh_token" && r["status"] != 200)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(browser_runs(&home), 1, "no browser after the first login");
}

/// A plugin's host call never renews the session: a refresh there could be cut off by the
/// run's deadline after the provider spent the old refresh token (rotation) and before the new
/// one was stored. `is-sso-authenticated` answers from what is stored; renewing is for lmi's
/// own commands and the `requires_sso` gate, which run before the deadline is armed.
#[test]
fn a_plugins_sso_question_never_starts_a_refresh() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser_login(&mut home, "alice");
    std::thread::sleep(Duration::from_millis(2500));
    home.run(["hello"])
        .success()
        .stdout_has("sso: signed in (see lmi whoami)");
    assert_eq!(
        idp.token_requests("refresh_token"),
        0,
        "no refresh from a host call"
    );
    // The gate of a requires_sso command renews it, before the plugin starts.
    home.run(["whoami"])
        .success()
        .stdout_has("email: alice@example.test");
    assert_eq!(idp.token_requests("refresh_token"), 1);
}

#[test]
fn eight_concurrent_commands_with_an_expired_access_token_refresh_once() {
    // Long enough that the refreshed token outlives all eight processes even on a loaded
    // machine (a second refresh after *that* token expired would be correct, not a race).
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "8")]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser_login(&mut home, "alice");
    std::thread::sleep(Duration::from_millis(8500));

    for run in home.spawn_all(&vec![vec!["whoami"]; 8]) {
        run.success().stdout_has("email: alice@example.test");
    }
    assert_eq!(
        idp.token_requests("refresh_token"),
        1,
        "{}",
        idp.request_log()
    );
    // The session still works afterwards (the one rotated refresh token is stored).
    home.run(["whoami"]).success();
}

#[test]
fn a_refresh_token_the_idp_rejects_ends_the_session_with_exit_4_and_no_browser() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("tests/plugins/hostile"));
    browser_login(&mut home, "alice");
    idp.forget();
    std::thread::sleep(Duration::from_millis(2500));

    let run = home.run(["sso-only"]);
    run.code(4)
        .stderr_has("no longer accepts your SSO session")
        .stderr_has("run: lmi login sso");
    assert!(
        !run.stdout.contains("STARTED"),
        "the plugin must not start: {run:#?}"
    );
    assert_eq!(
        browser_runs(&home),
        1,
        "a non-interactive refresh never opens a browser"
    );
    assert!(
        keychain_record(idp.issuer()).is_none(),
        "the dead session is removed"
    );
    home.run(["sso-only"]).code(4);
}

/// R2.4 against the real provider, which rotates refresh tokens: a refresh whose ID token
/// cannot be checked (the JWKS is out of reach) keeps the rotated token, so the next refresh
/// presents the live one, not a spent one.
#[test]
fn a_refresh_with_the_keys_out_of_reach_keeps_the_rotated_token() {
    let idp = Idp::start();
    let home = sso_home(&idp.sso_env());
    device_login(&idp, &home, "alice").success();
    let first = keychain_json(idp.issuer())["refresh_token"].clone();
    home.global_env(&format!(
        "{}OAUTH_SSO_JWKS_URL=http://127.0.0.1:9/jwks\n",
        idp.sso_env()
    ));
    home.run(["auth", "refresh"])
        .success()
        .stderr_has("could not be checked")
        .stderr_has("the new tokens were kept");
    let second = keychain_json(idp.issuer())["refresh_token"].clone();
    assert_ne!(second, first, "the rotated refresh token is stored");

    home.global_env(&idp.sso_env());
    home.run(["auth", "refresh"]).success();
    assert_eq!(idp.token_requests("refresh_token"), 2);
    let log = idp.request_log();
    let failed: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["grant_type"] == "refresh_token" && r["status"] != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "a spent refresh token was presented: {failed:?}"
    );
}

/// A provider that cannot be reached is a network failure (exit 1, no sign-in hint), and
/// the session survives it for the next try.
#[test]
fn an_unreachable_provider_during_a_refresh_keeps_the_session() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("tests/plugins/hostile"));
    browser_login(&mut home, "alice");
    let issuer = idp.issuer().to_owned();
    drop(idp);
    std::thread::sleep(Duration::from_millis(2500));

    let run = home.run(["sso-only"]);
    run.code(1).stderr_has("cannot");
    assert!(!run.stderr.contains("lmi login sso"), "{run:#?}");
    assert!(!run.stdout.contains("STARTED"), "{run:#?}");
    assert!(
        keychain_record(&issuer).is_some(),
        "a network failure must not sign the user out"
    );
}

#[test]
fn without_a_refresh_token_an_expired_session_needs_a_new_login() {
    // The strict provider drops offline_access unless prompt=consent: no refresh token.
    let idp = Idp::start_with(&[
        ("IDP_ACCESS_TOKEN_TTL", "6"),
        ("IDP_STRICT_OFFLINE_ACCESS", "1"),
    ]);
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    let run = browser_login(&mut home, "alice");
    run.stderr_has("issued no refresh token");
    assert!(keychain_json(idp.issuer()).get("refresh_token").is_none());
    home.run(["whoami"]).success();
    std::thread::sleep(Duration::from_millis(6500));
    home.run(["whoami"])
        .code(4)
        .stderr_has("issued no refresh token")
        .stderr_has("run: lmi login sso");
    assert_eq!(idp.token_requests("refresh_token"), 0);
}

#[test]
fn device_code_login_through_the_browser() {
    let idp = Idp::start();
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    browser::set_browser(&mut home, Browser::device("carol"));
    let run = home.run(["login", "sso", "--device"]);
    run.success().stdout_has("Signed in as carol@example.test");
    assert!(run.stderr.contains("enter the code"), "{run:#?}");
    assert!(idp.token_requests(idp::DEVICE_CODE_GRANT) >= 1);
    assert_eq!(idp.token_requests("authorization_code"), 0);
    assert_eq!(keychain_json(idp.issuer())["sub"], "carol");
    home.run(["whoami"])
        .success()
        .stdout_has("email: carol@example.test");
}

#[test]
fn device_code_login_approved_on_another_device() {
    let idp = Idp::start();
    let home = sso_home(&idp.sso_env());
    device_login(&idp, &home, "dave")
        .success()
        .stdout_has("Signed in as dave@example.test");
}

#[test]
fn denied_consent_is_reported_and_nothing_is_stored() {
    let idp = Idp::start();
    let mut home = sso_home(&idp.sso_env());
    browser::set_browser(&mut home, Browser::deny("alice"));
    let run = home.run(["login", "sso"]);
    run.code(4)
        .stderr_has("the sign-in was refused at the identity provider: access_denied")
        .stderr_has("run: lmi login sso");
    let log = browser_finished(&home);
    assert!(log.contains("answered 400"), "{log}");
    assert!(keychain_record(idp.issuer()).is_none());
    assert_eq!(idp.token_requests("authorization_code"), 0);
}

#[test]
fn file_storage_is_opt_in_private_and_warned_about() {
    let idp = Idp::start();
    let mut home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    // No keychain at all: file storage must not need one.
    home.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/lmi-test-bus",
    );
    home.env("LMI_SSO_STORAGE", "file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    browser::set_browser(&mut home, Browser::approve("erin"));
    let run = home.run(["login", "sso", "--redirect-port", &port.to_string()]);
    run.success()
        .stderr_has("warning: LMI_SSO_STORAGE=file: writing your SSO tokens unencrypted")
        .stdout_has("Signed in as erin@example.test");
    let log = browser_finished(&home);
    assert!(
        log.contains(&format!("127.0.0.1:{port}/callback")),
        "--redirect-port is used: {log}"
    );
    let file = home.data().join("sso-session.json");
    assert_private_file(&file);
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(rec["sub"], "erin");
    home.run(["whoami"])
        .success()
        .stdout_has("email: erin@example.test");
    home.run(["logout", "sso"]).success();
    assert!(!file.exists());
}

// ---- failures that need no browser -----------------------------------------------------------

#[test]
fn an_unreachable_keychain_is_a_clear_error_before_any_browser_and_nothing_is_written() {
    let idp = FakeIdp::start(Fault::None);
    let mut home = sso_home(&idp.sso_env());
    home.env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/lmi-test-bus",
    );
    home.env("BROWSER", "/nonexistent/browser-must-not-run");
    let started = Instant::now();
    let run = home.run(["login", "sso"]);
    run.code(1)
        .stderr_has("cannot read the SSO session from the Secret Service")
        .stderr_has("LMI_SSO_STORAGE=file");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!run.stderr.contains("Opening your browser"), "{run:#?}");
    assert_eq!(idp.count("/auth") + idp.count("/token"), 0);
    assert!(
        !home.data().join("sso-session.json").exists(),
        "no silent plaintext fallback"
    );
}

#[test]
fn a_plain_http_endpoint_off_loopback_is_refused() {
    let home = sso_home(
        "OAUTH_SSO_ISSUER=https://idp.example.com\nOAUTH_SSO_CLIENT_ID=lmi-cli\n\
         OAUTH_SSO_TOKEN_URL=http://idp.example.com/token\n",
    );
    home.run(["login", "sso"])
        .code(2)
        .stderr_has("OAUTH_SSO_TOKEN_URL")
        .stderr_has("non-loopback");
}

#[test]
fn a_sign_in_that_never_comes_back_times_out() {
    let idp = FakeIdp::start(Fault::None);
    let mut home = sso_home(&idp.sso_env());
    home.env("LMI_SSO_LOGIN_TIMEOUT_SECS", "2");
    let started = Instant::now();
    let run = home.run(["login", "sso", "--no-browser"]);
    run.code(4).stderr_has("timed out after 2s");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(fake_keychain_record(&idp).is_none());
}

/// Runs `lmi login sso --no-browser` against the fake, plays the browser (with `tamper`
/// applied to the redirect) and returns lmi's run and the page the browser got.
fn fake_login(idp: &FakeIdp, tamper: impl Fn(&mut url::Url)) -> (Run, u16, String) {
    let home = sso_home(&idp.sso_env());
    fake_login_in(&home, idp, &["login", "sso", "--no-browser"], tamper)
}

fn fake_login_in(
    home: &Home,
    idp: &FakeIdp,
    args: &[&str],
    tamper: impl Fn(&mut url::Url),
) -> (Run, u16, String) {
    let mut login = spawn(home, args);
    let url = login.auth_url();
    let mut callback = idp.authorize(&url);
    tamper(&mut callback);
    let resp = http().get(callback.as_str()).send().unwrap();
    let status = resp.status().as_u16();
    let page = resp.text().unwrap();
    let (run, _, _) = login.finish();
    (run, status, page)
}

#[track_caller]
fn assert_id_token_refused(fault: Fault, why: &str) {
    let idp = FakeIdp::start(fault);
    let (run, status, page) = fake_login(&idp, |_| {});
    run.code(4)
        .stderr_has("the identity provider's ID token was rejected")
        .stderr_has(why)
        .stderr_has("nothing was stored");
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("sign-in failed"), "{page}");
    assert!(fake_keychain_record(&idp).is_none());
}

#[test]
fn a_fake_idp_login_works_when_nothing_is_wrong() {
    // The control for the negative cases below.
    let idp = FakeIdp::start(Fault::None);
    let (run, status, page) = fake_login(&idp, |_| {});
    run.success()
        .stdout_has(&format!("Signed in as {}", fake_idp::EMAIL));
    assert_eq!(status, 200);
    assert!(page.contains("You can close this tab"), "{page}");
    let rec: serde_json::Value =
        serde_json::from_str(&fake_keychain_record(&idp).unwrap()).unwrap();
    assert_eq!(rec["sub"], fake_idp::SUBJECT);
    assert_eq!(idp.count("/jwks"), 1);
}

#[test]
fn endpoints_from_the_keys_need_no_discovery_and_force_signs_in_again() {
    let idp = FakeIdp::start(Fault::None);
    let iss = idp.issuer();
    let home = sso_home(&format!(
        "{}OAUTH_SSO_AUTHORIZATION_URL={iss}/auth\nOAUTH_SSO_TOKEN_URL={iss}/token\nOAUTH_SSO_JWKS_URL={iss}/jwks\n",
        idp.sso_env()
    ));
    let args = ["login", "sso", "--no-browser"];
    fake_login_in(&home, &idp, &args, |_| {}).0.success();
    assert_eq!(idp.count("/.well-known/openid-configuration"), 0);
    home.run(args).success().stdout_has("Already signed in as");
    let (run, _, _) = fake_login_in(
        &home,
        &idp,
        &["login", "sso", "--no-browser", "--force"],
        |_| {},
    );
    run.success().stdout_has("Signed in as");
    assert_eq!(idp.count("/token"), 2);
}

#[test]
fn device_login_needs_an_idp_that_offers_it() {
    let idp = FakeIdp::start(Fault::None);
    let home = sso_home(&idp.sso_env());
    home.run(["login", "sso", "--device"])
        .code(2)
        .stderr_has("does not offer the device-authorization grant")
        .stderr_has("OAUTH_SSO_DEVICE_AUTHORIZATION_URL");
}

#[test]
fn an_unknown_signing_key_makes_exactly_one_jwks_refetch() {
    let idp = FakeIdp::start(Fault::KeyRotated);
    let (run, status, _) = fake_login(&idp, |_| {});
    run.success();
    assert_eq!(status, 200);
    assert_eq!(idp.count("/jwks"), 2);
}

#[test]
fn an_id_token_with_a_bad_signature_is_refused() {
    assert_id_token_refused(Fault::BadSignature, "signature does not verify");
}

#[test]
fn an_id_token_from_another_issuer_is_refused() {
    assert_id_token_refused(Fault::WrongIssuer, "issued by `https://evil.example`");
}

#[test]
fn an_expired_id_token_is_refused() {
    assert_id_token_refused(Fault::ExpiredIdToken, "it has expired");
}

#[test]
fn an_id_token_for_another_client_is_refused() {
    assert_id_token_refused(Fault::WrongAudience, "issued for `another-client`");
}

#[test]
fn an_id_token_issued_in_the_future_is_refused() {
    assert_id_token_refused(Fault::IssuedInTheFuture, "in the future");
}

#[test]
fn an_id_token_with_another_nonce_is_refused() {
    assert_id_token_refused(Fault::NonceMismatch, "nonce does not match");
}

/// The redirect with its `state` replaced.
fn with_state(callback: &url::Url, state: &str) -> url::Url {
    let mut cb = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, state.to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    cb.query_pairs_mut().clear().extend_pairs(pairs);
    cb
}

/// R1.11: a request to `/callback` that does not carry this login's `state` (another local
/// process guessing, a stale tab) gets an error page and is otherwise ignored: the code is
/// never redeemed, and the login keeps waiting for the real redirect.
#[test]
fn a_callback_with_the_wrong_state_is_refused_and_the_login_keeps_waiting() {
    let idp = FakeIdp::start(Fault::None);
    let home = sso_home(&idp.sso_env());
    let mut login = spawn(&home, &["login", "sso", "--no-browser"]);
    let url = login.auth_url();
    let callback = idp.authorize(&url);
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut no_state = callback.clone();
    no_state.set_query(Some("code=stolen&error=access_denied"));
    for bad in [
        with_state(&callback, &format!("{state}x")),
        with_state(&callback, ""),
        no_state,
    ] {
        let resp = http().get(bad.as_str()).send().unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let page = resp.text().unwrap();
        assert!(page.contains("does not belong"), "{page}");
    }
    assert_eq!(
        idp.count("/token"),
        0,
        "no code is redeemed for a wrong state"
    );

    let resp = http().get(callback.as_str()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (run, _, _) = login.finish();
    run.success()
        .stdout_has(&format!("Signed in as {}", fake_idp::EMAIL));
    assert_eq!(idp.count("/token"), 1);
}

/// Threads of a running process.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// R1.11: idle and half-sent connections are bounded (a few handler threads, a deadline per
/// connection) and never keep the real redirect out.
#[test]
fn a_flood_of_idle_connections_neither_piles_up_threads_nor_stops_the_login() {
    use std::io::Write;
    let idp = FakeIdp::start(Fault::None);
    let home = sso_home(&idp.sso_env());
    let mut login = spawn(&home, &["login", "sso", "--no-browser"]);
    let url = login.auth_url();
    let callback = idp.authorize(&url);
    let addr = format!("127.0.0.1:{}", callback.port().unwrap());
    let mut held = Vec::new();
    for i in 0..300 {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            // Half a request, never finished (slowloris).
            let _ = conn.write_all(b"GET /callback?state=");
        }
        held.push(conn);
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = login.child.id();
    let count = threads(pid);
    assert!(
        count < 64,
        "lmi runs {count} threads for 300 idle connections"
    );

    let started = Instant::now();
    let resp = http().get(callback.as_str()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let (run, _, _) = login.finish();
    run.success();
    drop(held);
}

#[test]
fn a_keychain_that_never_answers_fails_within_the_timeout() {
    // A "D-Bus" socket that accepts connections and never says a word.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let idp = FakeIdp::start(Fault::None);
    let mut home = sso_home(&idp.sso_env());
    home.env(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", socket.display()),
    );
    home.env("LMI_KEYCHAIN_TIMEOUT_SECS", "1");
    let started = Instant::now();
    let run = home.run(["login", "sso", "--no-browser"]);
    run.code(1)
        .stderr_has("no answer within 1 s")
        .stderr_has("LMI_SSO_STORAGE=file");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(idp.count("/auth") + idp.count("/token"), 0);
    drop(held);
}

#[test]
fn auth_status_shows_the_session_and_auth_refresh_renews_it() {
    let idp = Idp::start();
    let home = sso_home(&idp.sso_env());
    let before = home.run(["auth", "status", "--output", "json"]);
    before.success();
    let v: serde_json::Value = serde_json::from_str(&before.stdout).unwrap();
    assert_eq!(v["sso"]["authenticated"], false, "{before:#?}");

    device_login(&idp, &home, "erin").success();

    let json = home.run(["auth", "status", "--output", "json"]);
    json.success();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let sso = &v["sso"];
    assert_eq!(sso["authenticated"], true, "{json:#?}");
    assert_eq!(sso["subject"], "erin");
    assert_eq!(sso["email"], "erin@example.test");
    assert_eq!(sso["storage"], "keychain");
    assert!(sso["expires_at"].as_u64().unwrap() > 0);
    assert!(v["environments"].is_array());
    // oidc-provider states no session end: no `refresh_expires_in`, and its refresh tokens
    // are opaque (not JWTs), so there is no `exp` to read either.
    assert_eq!(sso["session_ends_at"], serde_json::Value::Null, "{json:#?}");
    let session_line = "session lasts until the identity provider ends it (it stated no end)";
    home.run(["auth", "status"])
        .success()
        .stdout_has("SSO: signed in as erin@example.test")
        .stdout_has(session_line)
        .stdout_has("storage: keychain");

    let refreshes = idp.token_requests("refresh_token");
    home.run(["auth", "refresh"])
        .success()
        .stderr_has("Refreshed the SSO session of erin@example.test");
    assert_eq!(idp.token_requests("refresh_token"), refreshes + 1);
    home.run(["auth", "status"])
        .success()
        .stdout_has(session_line);
}

#[test]
fn a_fresh_session_passes_the_gate_without_a_keychain_round_trip() {
    let idp = Idp::start();
    let home = sso_home(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    device_login(&idp, &home, "finn").success();

    // The token-free summary the gate reads: private, and holding no token.
    let summary = home.cache().join("sso-summary.json");
    assert_private_file(&summary);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        text.contains("\"sub\":\"finn\"") && !text.contains("token"),
        "{text}"
    );

    // With the Secret Service out of reach, a fresh session still passes the gate.
    let out = home
        .cmd(["whoami"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/lmi-test-bus",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("finn@example.test"));

    // Logging out removes the summary with the session: the gate refuses again.
    home.run(["logout", "sso"]).success();
    assert!(!summary.exists());
    home.run(["whoami"])
        .code(4)
        .stderr_has("run: lmi login sso");
}
