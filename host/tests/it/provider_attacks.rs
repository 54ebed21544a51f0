//! A hostile identity provider against the real `lmi` binary: URLs it asks lmi to open, numbers
//! that overflow, text with terminal escapes, refresh-token rotation lmi must not lose, and
//! sessions logout must find. The provider is scripted in-process ([`Provider`], built on
//! the fault server): it signs ID tokens with the fake IdP's test key, rotates refresh tokens
//! and treats a reused one as theft (the whole family is revoked), as strict providers do.
//! Run under `scripts/with-keyring` (the sessions live in a private Secret Service).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Home;
use crate::support::fake_idp::{jwks, sign_id_token, sign_id_token_badly, unix_now};
use crate::support::fault::{FaultServer, Reply, Req};

const CLIENT: &str = "lmi-cli";
const SUBJECT: &str = "grace";
const EMAIL: &str = "grace@provider.test";

/// How the scripted provider behaves; tests change it between runs of lmi.
#[derive(Clone)]
struct Script {
    /// The device-authorization answer (the endpoint's JSON), `verification_uri` and all.
    device: Value,
    /// `expires_in` of token answers, as raw JSON (to send `u64::MAX`, `-1`, `1.5`).
    expires_in: Value,
    /// The token endpoint's answer to the device-code grant, instead of tokens.
    device_token_error: Option<Reply>,
    /// Claims merged into the ID token of a refresh answer.
    refresh_claims: Value,
    /// Sign the refresh answer's ID token with a key the JWKS does not hold.
    refresh_bad_signature: bool,
    /// `/jwks` answers 503.
    jwks_down: bool,
    /// `/jwks` answers after this long.
    jwks_delay: Duration,
    /// The discovery document's `issuer`, instead of the real one.
    discovery_issuer: Option<String>,
    /// `refresh_expires_in` of token answers, as raw JSON (Keycloak's session lifetime).
    refresh_expires_in: Option<String>,
    /// Issue refresh tokens as JWTs (signed with the test key) with this `exp`, raw JSON.
    refresh_jwt_exp: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            device: json!({
                "device_code": "dev-code-1",
                "user_code": "WDJB-MJHT",
                "verification_uri": "https://idp.provider.test/device",
                "expires_in": 600,
                "interval": 1,
            }),
            expires_in: json!(300),
            device_token_error: None,
            refresh_claims: json!({}),
            refresh_bad_signature: false,
            jwks_down: false,
            jwks_delay: Duration::ZERO,
            discovery_issuer: None,
            refresh_expires_in: None,
            refresh_jwt_exp: None,
        }
    }
}

struct State {
    issuer: String,
    script: Script,
    /// The one refresh token the provider honours now (rotation); empty when revoked.
    live_refresh: String,
    issued: usize,
}

/// A scripted provider on `127.0.0.1:<ephemeral>`.
struct Provider {
    server: FaultServer,
    state: Arc<Mutex<State>>,
}

impl Provider {
    fn start(script: Script) -> Self {
        let state = Arc::new(Mutex::new(State {
            issuer: String::new(),
            script,
            live_refresh: String::new(),
            issued: 0,
        }));
        let shared = state.clone();
        let server = FaultServer::start(move |req, _n| answer(&shared, req));
        state.lock().unwrap().issuer = server.base();
        for client in [CLIENT, "another-client"] {
            crate::support::forget_keychain_session(client, &server.base());
        }
        Self { server, state }
    }

    fn issuer(&self) -> String {
        self.server.base()
    }

    fn sso_env(&self, client: &str) -> String {
        format!(
            "OAUTH_SSO_ISSUER={}\nOAUTH_SSO_CLIENT_ID={client}\n",
            self.issuer()
        )
    }

    fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.state.lock().unwrap().script);
    }

    fn live_refresh(&self) -> String {
        self.state.lock().unwrap().live_refresh.clone()
    }

    /// The forms posted to `path`, in order.
    fn forms(&self, path: &str) -> Vec<BTreeMap<String, String>> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path() == path)
            .map(Req::form)
            .collect()
    }

    fn refreshes(&self) -> usize {
        self.forms("/token")
            .iter()
            .filter(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .count()
    }

    /// The tokens revoked at `/token/revocation`, with the client that asked.
    fn revoked(&self) -> Vec<(String, String)> {
        self.forms("/token/revocation")
            .into_iter()
            .map(|f| {
                (
                    f.get("token").cloned().unwrap_or_default(),
                    f.get("client_id").cloned().unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn answer(state: &Mutex<State>, req: &Req) -> Reply {
    let mut st = state.lock().unwrap();
    let issuer = st.issuer.clone();
    match req.path() {
        "/.well-known/openid-configuration" => Reply::json(
            200,
            json!({
                "issuer": st.script.discovery_issuer.clone().unwrap_or(issuer.clone()),
                "authorization_endpoint": format!("{issuer}/auth"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
                "revocation_endpoint": format!("{issuer}/token/revocation"),
                "device_authorization_endpoint": format!("{issuer}/device"),
            }),
        ),
        "/jwks" if st.script.jwks_down => Reply::status(503),
        "/jwks" => Reply::json(200, jwks()).delayed(st.script.jwks_delay),
        "/device" => Reply::json(200, st.script.device.clone()),
        "/token" => {
            let form = req.form();
            let client = form.get("client_id").cloned().unwrap_or_default();
            match form.get("grant_type").map(String::as_str) {
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    if let Some(reply) = st.script.device_token_error.clone() {
                        return reply;
                    }
                    tokens(&mut st, &client, json!({}), false)
                }
                Some("refresh_token") => {
                    let presented = form.get("refresh_token").cloned().unwrap_or_default();
                    if st.live_refresh.is_empty() || presented != st.live_refresh {
                        // Reuse of a rotated token: revoke the whole family.
                        st.live_refresh.clear();
                        return Reply::json(
                            400,
                            json!({"error": "invalid_grant", "error_description": "refresh token reused or revoked"}),
                        );
                    }
                    let claims = st.script.refresh_claims.clone();
                    let bad = st.script.refresh_bad_signature;
                    tokens(&mut st, &client, claims, bad)
                }
                _ => Reply::json(400, json!({"error": "unsupported_grant_type"})),
            }
        }
        "/token/revocation" => {
            let token = req.form().get("token").cloned().unwrap_or_default();
            if token == st.live_refresh {
                st.live_refresh.clear();
            }
            Reply::status(200)
        }
        _ => Reply::status(404),
    }
}

/// A token answer: a rotated refresh token and an ID token (with `extra` claims merged in).
fn tokens(st: &mut State, client: &str, extra: Value, bad_signature: bool) -> Reply {
    st.issued += 1;
    let n = st.issued;
    let now = unix_now();
    st.live_refresh = match &st.script.refresh_jwt_exp {
        Some(exp) => sign_id_token(&json!({
            "iss": st.issuer, "typ": "Refresh", "jti": format!("rt-{n}"),
            "exp": serde_json::from_str::<Value>(exp).unwrap(),
        })),
        None => format!("rt-{n}-{}", st.issuer.len()),
    };
    let mut claims = json!({
        "iss": st.issuer, "sub": SUBJECT, "aud": client, "iat": now, "exp": now + 300,
        "email": EMAIL, "name": "Grace Provider",
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let id_token = if bad_signature {
        sign_id_token_badly(&claims)
    } else {
        sign_id_token(&claims)
    };
    let refresh_expires_in = match &st.script.refresh_expires_in {
        Some(raw) => format!(r#","refresh_expires_in":{raw}"#),
        None => String::new(),
    };
    let body = format!(
        r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":{},"refresh_token":"{}","id_token":"{id_token}"{refresh_expires_in}}}"#,
        st.script.expires_in, st.live_refresh
    );
    Reply::raw(200, "application/json", body)
}

// ---- helpers ---------------------------------------------------------------------------------

fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run these tests under scripts/with-keyring"
    );
}

fn home_for(idp: &Provider) -> Home {
    require_keyring();
    let home = Home::new();
    home.global_env(&idp.sso_env(CLIENT));
    home
}

/// The keychain record lmi stored for `client` at `issuer`.
fn keychain(client: &str, issuer: &str) -> Option<Value> {
    crate::support::keychain_record(client, issuer).map(|text| serde_json::from_str(&text).unwrap())
}

/// A device-flow sign-in the provider approves at once (no browser).
fn sign_in(home: &Home, idp: &Provider) {
    let run = home.run(["login", "sso", "--device", "--no-browser"]);
    run.success().stdout_has(&format!("Signed in as {EMAIL}"));
    assert!(keychain(CLIENT, &idp.issuer()).is_some(), "{run:#?}");
}

/// A `$BROWSER` that records each argument it gets, one per line, and starts nothing.
fn recording_browser(home: &mut Home) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = home.path().join("record-browser.sh");
    let log = home.path().join("browser-argv.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    home.env("BROWSER", &script.to_string_lossy());
    log
}

/// What the recording browser got, waiting briefly for it (lmi does not wait for a browser).
fn browser_argv(log: &Path, expect_some: bool) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(if expect_some { 10 } else { 1 });
    loop {
        if let Ok(text) = std::fs::read_to_string(log) {
            return Some(text);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[track_caller]
fn assert_terminal_safe(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            c != '\n' && c != '\t' && (c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{what} holds control characters {bad:?}:\n{text}"
    );
}

// ---- R1.1: URLs a provider asks lmi to open ---------------------------------------------------

const HOSTILE_URLS: &[&str] = &[
    "--renderer-cmd-prefix=/tmp/lmi-pwned.sh",
    "file:///etc/passwd",
    "\\\\attacker.example\\share\\run.exe",
    "javascript:alert(1)",
    "vscode://file/etc/passwd",
    "http://attacker.example/device",
    "https://idp.provider.test@attacker.example/device",
    "/device",
];

#[test]
fn a_hostile_verification_uri_is_never_opened_or_shown() {
    for hostile in HOSTILE_URLS {
        let idp = Provider::start(Script::default());
        idp.script(|s| s.device["verification_uri"] = json!(hostile));
        let mut home = home_for(&idp);
        let argv = recording_browser(&mut home);
        let run = home.run(["login", "sso", "--device"]);
        run.code(4)
            .stderr_has("verification_uri")
            .stderr_has("nothing was started");
        assert!(
            browser_argv(&argv, false).is_none(),
            "{hostile}: the browser was started: {run:#?}"
        );
        assert!(
            !run.stderr.contains("enter the code"),
            "{hostile}: {run:#?}"
        );
        assert_eq!(idp.forms("/token").len(), 0, "{hostile}: no polling");
        assert!(keychain(CLIENT, &idp.issuer()).is_none());
    }
}

#[test]
fn a_hostile_verification_uri_complete_is_never_opened_either() {
    for hostile in HOSTILE_URLS {
        let idp = Provider::start(Script::default());
        idp.script(|s| s.device["verification_uri_complete"] = json!(hostile));
        let mut home = home_for(&idp);
        let argv = recording_browser(&mut home);
        let run = home.run(["login", "sso", "--device"]);
        run.code(4).stderr_has("verification_uri_complete");
        assert!(
            browser_argv(&argv, false).is_none(),
            "{hostile}: the browser was started: {run:#?}"
        );
    }
}

#[test]
fn a_safe_verification_uri_reaches_the_browser_as_one_url_argument() {
    // The control: a well-formed answer opens the browser on exactly that URL.
    let idp = Provider::start(Script::default());
    let complete = "https://idp.provider.test/device?user_code=WDJB-MJHT";
    idp.script(|s| s.device["verification_uri_complete"] = json!(complete));
    let mut home = home_for(&idp);
    let argv = recording_browser(&mut home);
    home.run(["login", "sso", "--device"])
        .success()
        .stderr_has("https://idp.provider.test/device");
    assert_eq!(
        browser_argv(&argv, true).as_deref(),
        Some(format!("{complete}\n").as_str())
    );
}

// ---- R1.9: numbers a provider states ----------------------------------------------------------

/// `expires_in` values no provider should send, as raw JSON.
const ABSURD: &[&str] = &[
    "18446744073709551615",
    "18446744073709551616",
    "1e300",
    "-1",
    "1.5",
    "\"3600\"",
];

#[test]
fn absurd_token_lifetimes_are_clamped_not_wrapped() {
    for raw in ABSURD {
        let idp = Provider::start(Script::default());
        idp.script(|s| s.expires_in = serde_json::from_str(raw).unwrap());
        let home = home_for(&idp);
        let started = unix_now();
        let run = home.run(["login", "sso", "--device", "--no-browser"]);
        assert!(!run.stderr.contains("panicked"), "{raw}: {run:#?}");
        run.success();
        let rec = keychain(CLIENT, &idp.issuer()).unwrap();
        let expires_at = rec["expires_at"].as_u64().unwrap();
        assert!(
            expires_at >= started && expires_at <= unix_now() + 366 * 24 * 3600,
            "{raw}: expires_at {expires_at}"
        );
        home.run(["auth", "status"])
            .success()
            .stdout_has("SSO: signed in as");
    }
}

#[test]
fn absurd_device_code_lifetimes_neither_panic_nor_hang() {
    for raw in ABSURD {
        let idp = Provider::start(Script::default());
        idp.script(|s| s.device["expires_in"] = serde_json::from_str(raw).unwrap());
        let mut home = home_for(&idp);
        home.env("LMI_SSO_LOGIN_TIMEOUT_SECS", "10");
        let started = Instant::now();
        let run = home.run(["login", "sso", "--device", "--no-browser"]);
        assert!(
            run.code == 0 || run.code == 4,
            "{raw}: exit {}: {run:#?}",
            run.code
        );
        assert!(!run.stderr.contains("panicked"), "{raw}: {run:#?}");
        assert!(started.elapsed() < Duration::from_secs(20), "{raw}");
    }
}

#[test]
fn absurd_polling_intervals_are_clamped() {
    // u64::MAX: clamped to 60 s, longer than the login may wait: a clear timeout, at once.
    let idp = Provider::start(Script::default());
    idp.script(|s| s.device["interval"] = json!(u64::MAX));
    let mut home = home_for(&idp);
    home.env("LMI_SSO_LOGIN_TIMEOUT_SECS", "5");
    let started = Instant::now();
    let run = home.run(["login", "sso", "--device", "--no-browser"]);
    run.code(4).stderr_has("timed out");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Negative and fractional intervals: polled at a sane pace, and the login succeeds.
    for raw in ["-1", "0.5", "\"2\""] {
        let idp = Provider::start(Script::default());
        idp.script(|s| s.device["interval"] = serde_json::from_str(raw).unwrap());
        let home = home_for(&idp);
        let run = home.run(["login", "sso", "--device", "--no-browser"]);
        assert!(!run.stderr.contains("panicked"), "{raw}: {run:#?}");
        run.success();
    }
}

// ---- R1.10: provider text on the terminal -----------------------------------------------------

const ESCAPES: &str = "\u{1b}[2J\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[31mred\u{9b}1m\u{202e}txt.exe";

#[track_caller]
fn assert_run_terminal_safe(home: &Home, run: &crate::support::Run) {
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert_terminal_safe(what, text);
        assert!(
            !text.contains('\u{202e}'),
            "{what} holds a bidi override: {text}"
        );
    }
    let log = std::fs::read_to_string(home.log_file()).unwrap_or_default();
    assert_terminal_safe("the log", &log);
    assert!(!log.contains('\u{202e}'), "the log holds a bidi override");
}

#[test]
fn a_token_error_with_escapes_reaches_neither_terminal_nor_log() {
    let idp = Provider::start(Script::default());
    idp.script(|s| {
        s.device_token_error = Some(Reply::json(
            400,
            json!({"error": format!("access_denied{ESCAPES}"), "error_description": ESCAPES}),
        ))
    });
    let home = home_for(&idp);
    let run = home.run(["-vv", "login", "sso", "--device", "--no-browser"]);
    run.code(4).stderr_has("access_denied");
    assert_run_terminal_safe(&home, &run);
}

#[test]
fn discovery_text_with_escapes_reaches_neither_terminal_nor_log() {
    let idp = Provider::start(Script::default());
    idp.script(|s| s.discovery_issuer = Some(format!("https://evil.example/{ESCAPES}")));
    let home = home_for(&idp);
    let run = home.run(["-vv", "login", "sso", "--device", "--no-browser"]);
    run.code(4).stderr_has("names the issuer");
    assert_run_terminal_safe(&home, &run);
}

#[test]
fn id_token_names_with_escapes_are_stripped_before_they_are_shown() {
    let idp = Provider::start(Script::default());
    let home = home_for(&idp);
    // The login's ID token comes from the device grant: give it hostile claims.
    idp.script(|s| {
        s.device_token_error = None;
        s.refresh_claims =
            json!({"name": format!("Grace{ESCAPES}"), "email": format!("g{ESCAPES}@x.test")});
    });
    sign_in(&home, &idp);
    let run = home.run(["-vv", "auth", "refresh"]);
    run.success();
    assert_run_terminal_safe(&home, &run);
    let status = home.run(["auth", "status"]);
    status.success();
    assert_run_terminal_safe(&home, &status);
}

// ---- R2.4: refresh-token rotation -------------------------------------------------------------

/// Signs in; the provider then honours only the refresh token it issued last.
fn signed_in() -> (Provider, Home) {
    let idp = Provider::start(Script::default());
    let home = home_for(&idp);
    sign_in(&home, &idp);
    (idp, home)
}

#[track_caller]
fn assert_keeps_the_live_token(idp: &Provider) {
    let live = idp.live_refresh();
    assert!(!live.is_empty(), "the provider revoked the family (reuse)");
    let rec = keychain(CLIENT, &idp.issuer()).expect("the session is kept");
    assert_eq!(rec["refresh_token"], live.as_str(), "{rec}");
}

/// The next refresh, with the provider behaving, works: the stored token was the live one.
#[track_caller]
fn assert_next_refresh_works(idp: &Provider, home: &Home) {
    idp.script(|s| *s = Script::default());
    let before = idp.refreshes();
    home.run(["auth", "refresh"])
        .success()
        .stderr_has("Refreshed the SSO session of");
    assert_eq!(idp.refreshes(), before + 1);
    assert_keeps_the_live_token(idp);
}

#[test]
fn a_refresh_whose_keys_are_unreachable_keeps_the_rotated_token() {
    let (idp, home) = signed_in();
    idp.script(|s| s.jwks_down = true);
    let run = home.run(["auth", "refresh"]);
    run.success()
        .stderr_has("could not be checked")
        .stderr_has("the new tokens were kept");
    assert_eq!(idp.refreshes(), 1);
    assert_keeps_the_live_token(&idp);
    assert_next_refresh_works(&idp, &home);
}

#[test]
fn a_refresh_seen_through_a_skewed_clock_keeps_the_rotated_token() {
    let now = unix_now();
    for (clock, claims) in [
        // lmi's clock 2 h behind the provider's: issued "in the future".
        (
            "behind",
            json!({"iat": now + 7200, "nbf": now + 7200, "exp": now + 7500}),
        ),
        // lmi's clock 2 h ahead: already "expired".
        ("ahead", json!({"iat": now - 7500, "exp": now - 7200})),
    ] {
        let (idp, home) = signed_in();
        idp.script(|s| s.refresh_claims = claims.clone());
        let run = home.run(["auth", "refresh"]);
        assert_eq!(run.code, 0, "clock {clock}: {run:#?}");
        run.stderr_has("clock");
        assert_keeps_the_live_token(&idp);
        assert_next_refresh_works(&idp, &home);
    }
}

#[test]
fn a_refreshed_id_token_that_is_not_the_users_revokes_the_new_token_and_ends_the_session() {
    for (what, claims, bad_signature) in [
        ("another user", json!({"sub": "mallory"}), false),
        (
            "another issuer",
            json!({"iss": "https://evil.example"}),
            false,
        ),
        ("another client", json!({"aud": "other-client"}), false),
        ("a bad signature", json!({}), true),
    ] {
        let (idp, home) = signed_in();
        idp.script(|s| {
            s.refresh_claims = claims.clone();
            s.refresh_bad_signature = bad_signature;
        });
        let run = home.run(["auth", "refresh"]);
        assert_eq!(run.code, 4, "{what}: {run:#?}");
        run.stderr_has("was rejected")
            .stderr_has("run: lmi login sso");
        let rotated = format!("rt-2-{}", idp.issuer().len());
        assert!(
            idp.revoked()
                .contains(&(rotated.clone(), CLIENT.to_owned())),
            "{what}: the new refresh token {rotated} was not revoked: {:?}",
            idp.revoked()
        );
        assert!(keychain(CLIENT, &idp.issuer()).is_none(), "{what}");
        run.nowhere(&rotated);
    }
}

#[test]
fn a_kill_during_the_jwks_fetch_does_not_lose_the_rotated_token() {
    let (idp, home) = signed_in();
    idp.script(|s| s.jwks_delay = Duration::from_secs(30));
    let jwks_before = idp.server.count("/jwks");
    let mut child = home
        .cmd(["auth", "refresh"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while idp.server.count("/jwks") == jwks_before {
        assert!(Instant::now() < deadline, "lmi never fetched the keys");
        assert!(child.try_wait().unwrap().is_none(), "lmi ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(idp.refreshes(), 1);
    assert_keeps_the_live_token(&idp);
    assert_next_refresh_works(&idp, &home);
}

// ---- R1 "also close" / R2.10: logout finds every session lmi stored ------------------------

#[test]
fn logout_after_the_client_id_changed_revokes_the_old_session_with_its_own_client() {
    let (idp, home) = signed_in();
    let refresh = idp.live_refresh();
    home.global_env(&idp.sso_env("another-client"));
    let run = home.run(["logout", "sso"]);
    run.success()
        .stdout_has("revoked at the identity provider")
        .nowhere(&refresh);
    assert_eq!(idp.revoked(), vec![(refresh, CLIENT.to_owned())]);
    assert!(
        keychain(CLIENT, &idp.issuer()).is_none(),
        "the old item is gone"
    );
    home.run(["logout", "sso"])
        .success()
        .stdout_has("Not signed in with SSO; nothing to do.");
}

#[test]
fn logout_after_the_issuer_changed_revokes_the_old_session_at_its_own_issuer() {
    let (old, home) = signed_in();
    let refresh = old.live_refresh();
    let new = Provider::start(Script::default());
    home.global_env(&new.sso_env(CLIENT));
    home.run(["logout", "sso"])
        .success()
        .stdout_has("revoked at the identity provider");
    assert_eq!(old.revoked(), vec![(refresh, CLIENT.to_owned())]);
    assert!(new.revoked().is_empty());
    assert!(
        keychain(CLIENT, &old.issuer()).is_none(),
        "the old item is gone"
    );
}

#[test]
fn logout_revokes_every_stored_session_each_at_its_own_provider() {
    let (first, home) = signed_in();
    let first_refresh = first.live_refresh();
    let second = Provider::start(Script::default());
    home.global_env(&second.sso_env(CLIENT));
    sign_in(&home, &second);
    let second_refresh = second.live_refresh();
    home.run(["logout", "sso"]).success();
    assert_eq!(first.revoked(), vec![(first_refresh, CLIENT.to_owned())]);
    assert_eq!(second.revoked(), vec![(second_refresh, CLIENT.to_owned())]);
    assert!(keychain(CLIENT, &first.issuer()).is_none());
    assert!(keychain(CLIENT, &second.issuer()).is_none());
}

// ---- R2.1 (SSO part): the summary and the session file are lmi's own state ------------------

/// A session record naming `sub` at `issuer`, valid for an hour (what an attacker plants).
fn forged_record(issuer: &str, sub: &str, with_tokens: bool) -> Vec<u8> {
    let now = unix_now();
    let mut rec = json!({
        "v": 1, "iss": issuer, "client_id": CLIENT, "sub": sub,
        "email": format!("{sub}@evil.test"), "expires_at": now + 3600, "obtained_at": now,
    });
    if with_tokens {
        rec["access_token"] = json!("planted-access");
        rec["refresh_token"] = json!("planted-refresh");
    }
    serde_json::to_vec(&rec).unwrap()
}

fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).unwrap();
}

/// Replaces `path` with a link to a copy of `bytes` elsewhere in the home.
fn plant_link(home: &Home, path: &Path, bytes: &[u8]) {
    let target = home.path().join("planted.json");
    std::fs::write(&target, bytes).unwrap();
    let _ = std::fs::remove_file(path);
    std::os::unix::fs::symlink(&target, path).unwrap();
}

#[test]
fn a_summary_another_user_wrote_or_a_linked_one_is_not_trusted() {
    for how in ["owned by another user", "a symbolic link"] {
        let (idp, home) = signed_in();
        let summary = home.cache().join("sso-summary.json");
        assert!(summary.exists());
        let forged = forged_record(&idp.issuer(), "mallory", false);
        if how == "a symbolic link" {
            plant_link(&home, &summary, &forged);
        } else {
            std::fs::write(&summary, &forged).unwrap();
            chown_nobody(&summary);
        }
        let run = home.run(["auth", "status"]);
        run.success();
        assert!(!run.stdout.contains("mallory"), "{how}: {run:#?}");
        run.stdout_has(&format!("signed in as {EMAIL}"))
            .stderr_has("sso-summary.json");
    }
}

#[test]
fn a_session_file_another_user_wrote_or_a_linked_one_is_refused_naming_the_path() {
    for how in ["owned by another user", "a symbolic link"] {
        let idp = Provider::start(Script::default());
        let mut home = home_for(&idp);
        home.env("LMI_SSO_STORAGE", "file");
        let file = home.data().join("sso-session.json");
        let forged = forged_record(&idp.issuer(), "mallory", true);
        std::fs::create_dir_all(home.data()).unwrap();
        if how == "a symbolic link" {
            plant_link(&home, &file, &forged);
        } else {
            std::fs::write(&file, &forged).unwrap();
            chown_nobody(&file);
        }
        let run = home.run(["auth", "status"]);
        assert!(!run.stdout.contains("mallory"), "{how}: {run:#?}");
        run.stdout_has("SSO: unavailable")
            .stdout_has("sso-session.json");
        assert_eq!(
            idp.refreshes(),
            0,
            "{how}: a planted refresh token was used"
        );
    }
}

// ---- E-TOK: how long the session lasts ----------------------------------------------------------

/// The token-free summary lmi keeps beside the keychain session.
fn summary_of(home: &Home) -> Value {
    let text = std::fs::read_to_string(home.cache().join("sso-summary.json")).unwrap();
    assert!(!text.contains("token"), "the summary holds a token: {text}");
    serde_json::from_str(&text).unwrap()
}

/// `auth status` with the Secret Service out of reach: what the summary alone tells.
fn status_without_keychain(home: &Home, json: bool) -> crate::support::Run {
    let mut args = vec!["auth", "status"];
    if json {
        args.extend(["--output", "json"]);
    }
    let out = home
        .cmd(&args)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/lmi-test-bus",
        )
        .output()
        .unwrap();
    let run = crate::support::Run::from(out);
    run.success();
    run
}

#[track_caller]
fn assert_near(got: u64, want: u64) {
    assert!(
        got <= want && got + 60 > want,
        "{got} is not within a minute before {want}"
    );
}

const UNSTATED: &str = "session lasts until the identity provider ends it (it stated no end)";

#[test]
fn the_session_end_is_refresh_expires_in_read_without_the_keychain_and_moved_by_a_refresh() {
    let idp = Provider::start(Script {
        refresh_expires_in: Some("36000".into()),
        ..Script::default()
    });
    let home = home_for(&idp);
    sign_in(&home, &idp);
    let end = summary_of(&home)["session_ends_at"].as_u64().unwrap();
    assert_near(end, unix_now() + 36000);
    assert_eq!(
        keychain(CLIENT, &idp.issuer()).unwrap()["session_ends_at"],
        end
    );

    let run = status_without_keychain(&home, false);
    run.stdout_has(&format!("signed in as {EMAIL}"))
        .stdout_has("  session valid until ")
        .nowhere(&idp.live_refresh());
    assert!(
        run.stdout.contains(" UTC (in 9 h 59 min)") || run.stdout.contains(" UTC (in 10 h)"),
        "{run:#?}"
    );
    let v: Value = serde_json::from_str(&status_without_keychain(&home, true).stdout).unwrap();
    assert_eq!(v["sso"]["session_ends_at"], end);
    // `lmi login sso` on a valid session says the same.
    home.run(["login", "sso", "--device", "--no-browser"])
        .success()
        .stdout_has("Already signed in as ")
        .stdout_has(" and the session is valid until ");

    // A refresh whose answer states a new lifetime moves the end.
    idp.script(|s| s.refresh_expires_in = Some("7200".into()));
    home.run(["auth", "refresh"]).success();
    let moved = summary_of(&home)["session_ends_at"].as_u64().unwrap();
    assert_near(moved, unix_now() + 7200);
    // One that states nothing keeps it (the provider's end stands unless it says otherwise).
    idp.script(|s| s.refresh_expires_in = None);
    home.run(["auth", "refresh"]).success();
    assert_eq!(summary_of(&home)["session_ends_at"], moved);
    let run = status_without_keychain(&home, false);
    assert!(
        run.stdout.contains(" UTC (in 1 h 59 min)") || run.stdout.contains(" UTC (in 2 h)"),
        "{run:#?}"
    );
    assert_eq!(idp.refreshes(), 2);
}

#[test]
fn a_jwt_refresh_tokens_exp_is_the_session_end_unless_refresh_expires_in_says() {
    let exp = unix_now() + 3 * 86400;
    let idp = Provider::start(Script {
        refresh_jwt_exp: Some(exp.to_string()),
        ..Script::default()
    });
    let home = home_for(&idp);
    sign_in(&home, &idp);
    assert_eq!(
        idp.live_refresh().split('.').count(),
        3,
        "a JWT refresh token"
    );
    assert_eq!(summary_of(&home)["session_ends_at"], exp);
    home.run(["auth", "status"])
        .success()
        .stdout_has(" UTC (in 2 d 23 h)")
        .nowhere(&idp.live_refresh());

    // Keycloak sends both: `refresh_expires_in` is what the provider says of the session.
    idp.script(|s| {
        s.refresh_expires_in = Some("1800".into());
        s.refresh_jwt_exp = Some((unix_now() + 86400).to_string());
    });
    home.run(["auth", "refresh"]).success();
    assert_near(
        summary_of(&home)["session_ends_at"].as_u64().unwrap(),
        unix_now() + 1800,
    );
    // A rotated JWT refresh token alone moves it too.
    let later = unix_now() + 5 * 86400;
    idp.script(|s| {
        s.refresh_expires_in = None;
        s.refresh_jwt_exp = Some(later.to_string());
    });
    let run = home.run(["-vv", "auth", "refresh"]);
    run.success().nowhere(&idp.live_refresh());
    assert_eq!(summary_of(&home)["session_ends_at"], later);
}

/// Session lifetimes no provider should state, and refresh-token `exp`s that are no date:
/// never a panic or a wrapped date; the session is then shown as lasting until the provider
/// ends it. A numeric string is read as `expires_in` is (leniently).
#[test]
fn absurd_session_lifetimes_count_as_unstated_never_wrap() {
    let eleven_years = (unix_now() + 11 * 366 * 86400).to_string();
    let cases: Vec<(Option<&str>, Option<&str>, Option<u64>)> = vec![
        (Some("-1"), None, None),
        (Some("0"), None, None),
        (Some("18446744073709551615"), None, None),
        (Some("18446744073709551616"), None, None),
        (Some("1e300"), None, None),
        (Some("\"soon\""), None, None),
        (Some("[3600]"), None, None),
        (Some("\"3600\""), None, Some(3600)),
        (Some("1.5"), None, Some(1)),
        (None, Some("\"tomorrow\""), None),
        (None, Some("-5"), None),
        (None, Some("1e300"), None),
        (None, Some("18446744073709551615"), None),
        (None, Some("253402300800"), None),
        (None, Some(&eleven_years), None),
        (Some("-1"), Some("\"tomorrow\""), None),
    ];
    for (refresh_expires_in, jwt_exp, want) in cases {
        let idp = Provider::start(Script {
            refresh_expires_in: refresh_expires_in.map(str::to_owned),
            refresh_jwt_exp: jwt_exp.map(str::to_owned),
            ..Script::default()
        });
        let home = home_for(&idp);
        let started = unix_now();
        let run = home.run(["login", "sso", "--device", "--no-browser"]);
        let case = format!("{refresh_expires_in:?} / {jwt_exp:?}");
        assert!(!run.stderr.contains("panicked"), "{case}: {run:#?}");
        run.success();
        let end = summary_of(&home)["session_ends_at"].as_u64();
        match want {
            None => {
                assert_eq!(end, None, "{case}");
                home.run(["auth", "status"]).success().stdout_has(UNSTATED);
            }
            Some(secs) => {
                let end = end.unwrap_or_else(|| panic!("{case}: no end"));
                assert!(
                    end >= started + secs && end <= unix_now() + secs,
                    "{case}: {end}"
                );
            }
        }
    }
}

#[test]
fn a_session_past_its_end_says_so_and_signing_in_again_works() {
    let idp = Provider::start(Script {
        refresh_expires_in: Some("2".into()),
        ..Script::default()
    });
    let home = home_for(&idp);
    sign_in(&home, &idp);
    std::thread::sleep(Duration::from_secs(3));
    // The access token (300 s) is still fresh; the session it belongs to has ended.
    home.run(["auth", "status"])
        .success()
        .stdout_has(&format!("signed in as {EMAIL}"))
        .stdout_has("  session ended at ")
        .stdout_has(" ago): run: lmi login sso");
    let v: Value =
        serde_json::from_str(&home.run(["auth", "status", "--output", "json"]).stdout).unwrap();
    assert!(v["sso"]["session_ends_at"].as_u64().unwrap() < unix_now());
    // As advised: `lmi login sso` signs in again rather than saying "Already signed in".
    let run = home.run(["login", "sso", "--device", "--no-browser"]);
    run.success().stdout_has(&format!("Signed in as {EMAIL}"));
    assert!(!run.stdout.contains("Already"), "{run:#?}");

    // A refresh the provider grants after the stated end proves that end wrong: it is then
    // unknown, not kept.
    idp.script(|s| s.refresh_expires_in = None);
    std::thread::sleep(Duration::from_secs(3));
    home.run(["auth", "refresh"]).success();
    assert_eq!(summary_of(&home).get("session_ends_at"), None);
    home.run(["auth", "status"]).success().stdout_has(UNSTATED);
}
