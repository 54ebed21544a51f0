//! Environment secrets in the OS keychain (issue 17, item 3): the real binary, the real Secret
//! Service (`scripts/with-keyring`), items written with `secret-tool` under the attributes
//! `keyring` uses, and an in-process token endpoint that shows which secret was sent.
//!
//! The lookup order is the process environment, the env file, the keychain, the global file;
//! a token request looks the secret up, a cached token never does.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::support::fault::{FaultServer, Reply};
use crate::support::keychain::{env_secret_account, store_env_secret};
use crate::support::{Home, Run, plugin_dir};

const KEYCHAIN_SECRET: &str = "keychain-secret-4d1f9a";
const GLOBAL_SECRET: &str = "global-file-secret-77c2e0";
const FILE_SECRET: &str = "env-file-secret-0b93d5";
const PROCESS_SECRET: &str = "process-secret-a51c38";
const GLOBAL_PASSWORD: &str = "global-password-e6f204";
/// A D-Bus address where nothing listens: no keychain can be reached.
const NO_BUS: &str = "unix:path=/nonexistent/lmi-test-bus";

/// `/token` issues `tok-<n>` for an hour; `/api/…` answers 200 to a bearer token.
fn server() -> FaultServer {
    FaultServer::start(|req, n| match req.path() {
        "/token" => Reply::json(
            200,
            json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        p if p.starts_with("/api/") && req.bearer().is_some() => {
            Reply::json(200, json!({"items": []}))
        }
        _ => Reply::status(401),
    })
}

/// The client secrets the token endpoint received, in order (posted in the body).
fn secrets_sent(srv: &FaultServer) -> Vec<String> {
    srv.requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .map(|r| r.form().get("client_secret").cloned().unwrap_or_default())
        .collect()
}

/// An env `name` against `srv` whose file holds every grant key but the secret.
fn env_without_secret(srv: &FaultServer) -> String {
    format!(
        "OAUTH_TOKEN_URL={}\nOAUTH_SERVICE_URL={}\nOAUTH_GRANT_TYPE=client_credentials\n\
         OAUTH_CLIENT_ID=lmi-test\nOAUTH_CLIENT_AUTH_METHOD=client_secret_post\n",
        srv.url("/token"),
        srv.url("/api")
    )
}

/// A home whose default env `dev` has its secret in the keychain only.
fn keychain_home(srv: &FaultServer, global: &str) -> Home {
    let home = Home::new();
    home.global_env(&format!("default_environment=dev\n{global}"));
    home.env_file("dev", &env_without_secret(srv));
    store_env_secret(&home, "dev", "OAUTH_CLIENT_SECRET", KEYCHAIN_SECRET);
    home
}

/// Runs `lmi` with no keychain reachable.
fn without_keychain(home: &Home, args: &[&str]) -> Run {
    Run::from(
        home.cmd(args)
            .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
            .output()
            .unwrap(),
    )
}

#[test]
fn a_secret_only_in_the_keychain_gets_a_token_and_is_never_shown() {
    let srv = server();
    let home = keychain_home(&srv, "");
    let run = home.run(["-vv", "auth", "token", "-e", "dev"]);
    run.success().nowhere(KEYCHAIN_SECRET);
    assert_eq!(run.stdout.trim(), "tok-1");
    assert_eq!(secrets_sent(&srv), [KEYCHAIN_SECRET]);
    home.log_lacks(KEYCHAIN_SECRET);
}

/// The secret is looked up when a token must be fetched, never for a cached one: with no
/// keychain reachable, a warm `lmi auth token` and a warm plugin dispatch work, and a cold
/// one fails closed with the keychain's message (exit 1, as for the SSO session) instead of
/// sending the global file's secret. (Seen failing with the secrets looked up when the
/// environment's session opened: the warm runs failed on the keychain.)
#[test]
fn a_warm_token_needs_no_keychain_and_a_cold_one_fails_closed_without_it() {
    let srv = server();
    let home = keychain_home(&srv, &format!("OAUTH_CLIENT_SECRET={GLOBAL_SECRET}\n"));
    home.install(&plugin_dir("plugins/api"));
    // Cold, keychain reachable: the keychain's item wins over the global file's value.
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    assert_eq!(secrets_sent(&srv), [KEYCHAIN_SECRET]);

    let warm = without_keychain(&home, &["-vv", "auth", "token"]);
    warm.success().stdout_has("tok-1");
    let work = tempfile::tempdir().unwrap();
    let dispatch = Run::from(
        home.cmd(["api", "get", "v1/items"])
            .current_dir(work.path())
            .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
            .output()
            .unwrap(),
    );
    dispatch.success().stdout_has("items");
    assert_eq!(srv.count("/token"), 1, "the warm runs fetched nothing");

    std::fs::remove_file(home.cache().join("tokens/dev.json")).unwrap();
    let cold = without_keychain(&home, &["auth", "token"]);
    cold.code(1)
        .stderr_has("cannot read OAUTH_CLIENT_SECRET of environment `dev` from the Secret Service")
        .stderr_has("start and unlock a Secret Service provider")
        .stderr_has("or set OAUTH_CLIENT_SECRET in")
        .stderr_has("`lmi doctor --offline` checks whether the keychain answers")
        .nowhere(GLOBAL_SECRET);
    assert!(cold.stdout.is_empty(), "{cold:#?}");
    assert_eq!(
        srv.count("/token"),
        1,
        "no token request without the secret"
    );
    assert_eq!(
        secrets_sent(&srv),
        [KEYCHAIN_SECRET],
        "never the global one"
    );

    let cold_dispatch = Run::from(
        home.cmd(["api", "get", "v1/items"])
            .current_dir(work.path())
            .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
            .output()
            .unwrap(),
    );
    assert_ne!(cold_dispatch.code, 0, "{cold_dispatch:#?}");
    cold_dispatch.stderr_has("cannot read OAUTH_CLIENT_SECRET");
    assert_eq!(srv.count("/token"), 1);
}

/// Tests share one Secret Service and each has its own configuration directory; so do two
/// users of one machine with `XDG_CONFIG_HOME` set apart. An env `dev` in each never sees the
/// other's secret. (Seen failing with the account keyed by environment alone: the second
/// home sent the first one's secret.)
#[test]
fn two_config_dirs_with_env_dev_each_get_their_own_secret() {
    let srv = server();
    let first = keychain_home(&srv, "");
    let second = Home::new();
    second.global_env("default_environment=dev\n");
    second.env_file("dev", &env_without_secret(&srv));

    second
        .run(["auth", "token"])
        .code(2)
        .stderr_has("OAUTH_CLIENT_SECRET is not set for environment `dev`")
        .nowhere(KEYCHAIN_SECRET);
    assert_eq!(srv.count("/token"), 0);

    store_env_secret(
        &second,
        "dev",
        "OAUTH_CLIENT_SECRET",
        "second-home-secret-93ab",
    );
    first.run(["auth", "token"]).success();
    second.run(["auth", "token"]).success();
    assert_eq!(
        secrets_sent(&srv),
        [KEYCHAIN_SECRET, "second-home-secret-93ab"]
    );
    for home in [&first, &second] {
        home.run(["auth", "status"])
            .success()
            .stdout_has(&env_secret_account(home, "dev", "OAUTH_CLIENT_SECRET"));
    }
}

/// A secret in no place of the lookup order: exit 2, naming the key, the environment, the
/// places looked in (the keychain item among them) and the commands that put it there.
#[test]
fn a_missing_secret_names_the_keychain_and_the_commands_that_fill_it() {
    let srv = server();
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &env_without_secret(&srv));
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("OAUTH_CLIENT_SECRET is not set for environment `dev`")
        .stderr_has(&env_secret_account(&home, "dev", "OAUTH_CLIENT_SECRET"))
        .stderr_has("`lmi config set OAUTH_CLIENT_SECRET -e dev` (asks with hidden input; --stdin reads a pipe)")
        .stderr_has("`lmi env secure dev`");
    assert_eq!(srv.count("/token"), 0);
}

/// `auth status` names where each environment's secret lives — the process environment, the
/// env file (plaintext, naming `lmi env secure`), the keychain (naming the item), the global
/// file, nowhere — in text and JSON, and prints no secret, at `-vv` neither.
#[test]
fn auth_status_names_where_each_secret_lives_and_prints_none() {
    let srv = server();
    let mut home = keychain_home(&srv, &format!("OAUTH_PASSWORD={GLOBAL_PASSWORD}\n"));
    home.env_file(
        "plain",
        &format!(
            "{}OAUTH_CLIENT_SECRET={FILE_SECRET}\n",
            env_without_secret(&srv)
        ),
    );
    home.env_file("ci", &env_without_secret(&srv));
    home.env_file(
        "pw",
        &format!(
            "OAUTH_TOKEN_URL={}\nOAUTH_GRANT_TYPE=password\nOAUTH_CLIENT_ID=cli\nOAUTH_USERNAME=alice\n",
            srv.url("/token")
        ),
    );
    home.env_file("bare", &env_without_secret(&srv));
    home.env("LMI_ENV", "ci");
    home.env("OAUTH_CLIENT_SECRET", PROCESS_SECRET);
    let all = [
        KEYCHAIN_SECRET,
        FILE_SECRET,
        PROCESS_SECRET,
        GLOBAL_PASSWORD,
    ];

    let text = home.run(["-vv", "auth", "status"]);
    text.success();
    for secret in all {
        text.nowhere(secret);
        home.log_lacks(secret);
    }
    // An environment's lines: its title ("  dev (default)") and the indented ones under it.
    let section = |env: &str| -> String {
        text.stdout
            .lines()
            .skip_while(|l| *l != format!("  {env}") && !l.starts_with(&format!("  {env} (")))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with("    "))
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    };
    let dev = section("dev");
    assert!(
        dev.contains(&format!(
            "secret: OAUTH_CLIENT_SECRET in the OS keychain: Secret Service (service `lmi`, account `{}`)",
            env_secret_account(&home, "dev", "OAUTH_CLIENT_SECRET")
        )),
        "{dev}"
    );
    let plain = section("plain");
    assert!(
        plain.contains("secret: OAUTH_CLIENT_SECRET in ")
            && plain.contains(
                "plain.env (plaintext; `lmi env secure plain` moves it into the OS keychain)"
            ),
        "{plain}"
    );
    assert!(
        section("ci").contains("secret: OAUTH_CLIENT_SECRET in the process environment"),
        "{}",
        section("ci")
    );
    let pw = section("pw");
    assert!(
        pw.contains("secret: OAUTH_PASSWORD in ")
            && pw.contains(".env, the global file (plaintext")
            && pw.contains("`lmi config set OAUTH_PASSWORD -e pw` gives `pw` its own"),
        "{pw}"
    );
    assert!(pw.contains("secret: OAUTH_CLIENT_SECRET not set"), "{pw}");
    assert!(
        section("bare").contains("secret: OAUTH_CLIENT_SECRET not set"),
        "{}",
        section("bare")
    );

    let json_run = home.run(["-vv", "auth", "status", "--output", "json"]);
    json_run.success();
    for secret in all {
        json_run.nowhere(secret);
    }
    let v: Value = serde_json::from_str(&json_run.stdout).unwrap();
    let env = |name: &str| -> Value {
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    let source = |name: &str, key: &str| -> Value {
        env(name)["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["source"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(source("dev", "OAUTH_CLIENT_SECRET"), "keychain");
    assert_eq!(source("plain", "OAUTH_CLIENT_SECRET"), "env-file");
    assert_eq!(source("ci", "OAUTH_CLIENT_SECRET"), "process");
    assert_eq!(source("pw", "OAUTH_PASSWORD"), "global-file");
    assert_eq!(source("pw", "OAUTH_CLIENT_SECRET"), "none");
    assert_eq!(source("bare", "OAUTH_CLIENT_SECRET"), "none");
    assert_eq!(
        env("dev")["secrets"][0]["location"],
        json!(format!(
            "Secret Service (service `lmi`, account `{}`)",
            env_secret_account(&home, "dev", "OAUTH_CLIENT_SECRET")
        ))
    );
    assert_eq!(env("plain")["secrets"][0]["plaintext"], true);
    assert_eq!(env("dev")["configured"], true);
    assert_eq!(
        env("pw")["configured"],
        true,
        "its client secret is optional"
    );
    assert_eq!(env("bare")["configured"], false);
}

/// `lmi doctor` warns about every secret written in plaintext in an env file or the global
/// file, naming the file, the key and `lmi env secure NAME`, never the value; a secret found
/// nowhere fails its environment, offline too.
#[test]
fn doctor_flags_plaintext_secrets_and_never_prints_them() {
    let srv = server();
    let home = keychain_home(&srv, &format!("OAUTH_PASSWORD={GLOBAL_PASSWORD}\n"));
    home.env_file(
        "plain",
        &format!(
            "{}OAUTH_CLIENT_SECRET={FILE_SECRET}\n",
            env_without_secret(&srv)
        ),
    );
    home.env_file("bare", &env_without_secret(&srv));
    let run = home.run(["-vv", "doctor", "--offline"]);
    run.code(1);
    for secret in [KEYCHAIN_SECRET, FILE_SECRET, GLOBAL_PASSWORD] {
        run.nowhere(secret);
        home.log_lacks(secret);
    }
    let line = |needle: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}: {run:#?}"))
            .to_owned()
    };
    let plain = line("plain.env holds OAUTH_CLIENT_SECRET in plaintext");
    assert!(
        plain.starts_with("warn")
            && plain.contains("fix: `lmi env secure plain` moves it into the OS keychain"),
        "{plain}"
    );
    let global = line(".env holds OAUTH_PASSWORD in plaintext");
    assert!(
        global.starts_with("warn")
            && global.contains("`lmi config set OAUTH_PASSWORD -e NAME`")
            && global.contains("`lmi config unset OAUTH_PASSWORD`"),
        "{global}"
    );
    let bare = line("OAUTH_CLIENT_SECRET is not set for environment `bare`");
    assert!(
        bare.starts_with("FAIL") && bare.contains("fix: store it in the OS keychain"),
        "{bare}"
    );
    assert!(
        !run.stdout.contains("dev.env holds"),
        "the keychain's secret is not flagged: {run:#?}"
    );

    let json_run = home.run(["doctor", "--offline", "--output", "json"]);
    for secret in [KEYCHAIN_SECRET, FILE_SECRET, GLOBAL_PASSWORD] {
        json_run.nowhere(secret);
    }
}

/// A "D-Bus" socket that accepts connections and never says a word (a keychain waiting for
/// a prompt nobody sees); dropped with the returned guard.
fn silent_bus() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(16) {
            held.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    let address = format!("unix:path={}", socket.display());
    (dir, address)
}

/// A keychain that never answers costs one `LMI_KEYCHAIN_TIMEOUT_SECS` per run: a cold token
/// fails at it (exit 1, no token request), and `auth status` over five environments whose
/// secrets would be looked up there waits once, not five times. (Seen taking 5 s with every
/// call waiting out its own deadline.)
#[test]
fn a_keychain_that_never_answers_costs_one_timeout_per_run() {
    let srv = server();
    let mut home = Home::new();
    home.global_env("default_environment=e1\n");
    for n in 1..=5 {
        home.env_file(&format!("e{n}"), &env_without_secret(&srv));
    }
    let (_bus, address) = silent_bus();
    home.env("DBUS_SESSION_BUS_ADDRESS", &address);
    home.env("LMI_KEYCHAIN_TIMEOUT_SECS", "1");

    let started = std::time::Instant::now();
    home.run(["auth", "token"])
        .code(1)
        .stderr_has("cannot read OAUTH_CLIENT_SECRET of environment `e1` from the Secret Service (no answer within 1 s)");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(srv.count("/token"), 0);

    let started = std::time::Instant::now();
    let status = home.run(["auth", "status"]);
    let took = started.elapsed();
    status.success();
    assert_eq!(
        status
            .stdout
            .matches("cannot be looked up: cannot read OAUTH_CLIENT_SECRET")
            .count(),
        5,
        "{status:#?}"
    );
    assert!(
        took < std::time::Duration::from_millis(4500),
        "auth status took {took:?}"
    );
}

/// Two items for one account (another tool, or an item copied by hand with an extra
/// attribute): lmi does not pick one, it says so (exit 1) and sends nothing.
#[test]
fn two_keychain_items_for_one_secret_are_an_error_not_a_guess() {
    let srv = server();
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &env_without_secret(&srv));
    let account = env_secret_account(&home, "dev", "OAUTH_CLIENT_SECRET");
    for (n, value) in [(1, "first-copy-1c9e"), (2, "second-copy-84aa")] {
        let mut child = std::process::Command::new("secret-tool")
            .args(["store", "--label", "copy"])
            .args(["service", "lmi", "username", &account])
            .args(["target", "default", "copy", &n.to_string()])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
    home.run(["auth", "token"])
        .code(1)
        .stderr_has("holds 2 items for service `lmi` and this account; remove the extra ones")
        .nowhere("first-copy-1c9e")
        .nowhere("second-copy-84aa");
    assert_eq!(srv.count("/token"), 0);
}

/// The API the commands that write secrets use (`SecretItem::store` / `delete`) writes the
/// item lmi reads, under the attributes `secret-tool` (and a keychain window) sees, labelled
/// for a person; storing again replaces it (never a second item), and after `delete` the
/// secret is not set.
#[test]
fn an_item_stored_through_the_api_is_read_by_lmi_and_seen_by_secret_tool() {
    use lmi::auth::env_secrets::SecretItem;
    use lmi::secrets::Secret;

    let srv = server();
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &env_without_secret(&srv));
    let paths = lmi::paths::Paths::from_dirs(home.config(), home.cache(), home.data());
    let settings = lmi::settings::Settings::load(paths, Some("dev")).unwrap();
    let item = SecretItem::new(&settings, "dev", "OAUTH_CLIENT_SECRET").unwrap();
    assert_eq!(
        item.account(),
        env_secret_account(&home, "dev", "OAUTH_CLIENT_SECRET")
    );

    item.store(&Secret::new("stored-first-5e21".to_owned()))
        .unwrap();
    item.store(&Secret::new("stored-second-a7d3".to_owned()))
        .unwrap();
    assert_eq!(
        crate::support::keychain::env_secret(&home, "dev", "OAUTH_CLIENT_SECRET").as_deref(),
        Some("stored-second-a7d3")
    );
    let search = std::process::Command::new("secret-tool")
        .args([
            "search",
            "--all",
            "service",
            "lmi",
            "username",
            item.account(),
        ])
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&search.stdout).into_owned()
        + &String::from_utf8_lossy(&search.stderr);
    assert_eq!(found.matches("label = ").count(), 1, "{found}");
    assert!(
        found.contains(&format!(
            "label = lmi: OAUTH_CLIENT_SECRET of environment `dev` ({})",
            home.config().display()
        )),
        "{found}"
    );
    assert_eq!(
        item.read()
            .unwrap()
            .map(|s| s.expose().to_owned())
            .as_deref(),
        Some("stored-second-a7d3")
    );

    home.run(["auth", "token"])
        .success()
        .nowhere("stored-second-a7d3");
    assert_eq!(secrets_sent(&srv), ["stored-second-a7d3"]);

    assert!(item.delete().unwrap());
    assert!(!item.delete().unwrap());
    std::fs::remove_file(home.cache().join("tokens/dev.json")).unwrap();
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("OAUTH_CLIENT_SECRET is not set for environment `dev`");
}
