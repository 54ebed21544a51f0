//! Environment secrets put into the keychain by lmi's own commands (issue 17, item 3, second
//! wave): `env add` keeps them there by default, `env remove` deletes them, `env secure`
//! moves them out of a file, `config set KEY -e NAME` rotates them, `config unset` removes
//! them. The real binary, the real Secret Service (`scripts/with-keyring`, read back with
//! `secret-tool`), the real OpenID provider (client_credentials) and a loopback fault server
//! (the password grant). Every run is at `-vv` where a secret could show, and no output or log
//! line may hold one.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::support::fault::{FaultServer, Reply};
use crate::support::idp::{Idp, SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET};
use crate::support::keychain::{env_secret, store_env_secret};
use crate::support::{Home, Run};

/// A D-Bus address where nothing listens: no keychain can be reached.
const NO_BUS: &str = "unix:path=/nonexistent/lmi-test-bus";
const SECRET_KEY: &str = "OAUTH_CLIENT_SECRET";

fn read(home: &Home, name: &str) -> String {
    std::fs::read_to_string(home.env_path(name)).unwrap()
}

/// Runs `lmi args…` with `input` piped to stdin; `no_bus`: with no keychain reachable.
fn piped(home: &Home, args: &[&str], input: &str, no_bus: bool) -> Run {
    let mut cmd = home.cmd(args);
    if no_bus {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", NO_BUS);
    }
    Run::piped(cmd, input)
}

/// `lmi -vv env add NAME` against `idp` for its confidential client, the secret piped in.
fn add_args<'a>(token_url: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "-vv",
        "env",
        "add",
        name,
        "--service-url",
        "http://127.0.0.1:9/api",
        "--token-url",
        token_url,
        "--grant",
        "client_credentials",
        "--client-id",
        SERVICE_CLIENT_ID,
        "--scope",
        "api:read",
        "--secret-stdin",
    ]
}

/// `env add --secret-stdin` keeps the secret in the keychain: the env file holds no secret
/// line at all, `secret-tool` finds the item, and `lmi auth token -e NAME` works with it.
/// Then `env remove --yes` leaves no file, no cached token and no keychain item. (Seen
/// failing before the keychain was wired: `env add` refused without `--store-in-file`.)
#[test]
fn env_add_keeps_the_secret_in_the_keychain_and_env_remove_deletes_it() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    let added = piped(
        &home,
        &add_args(&token_url, "stage"),
        &format!("{SERVICE_CLIENT_SECRET}\n"),
        false,
    );
    added
        .success()
        .stdout_has("added environment `stage`")
        .stdout_has("OAUTH_CLIENT_SECRET is kept in the Secret Service (service `lmi`, account `stage:OAUTH_CLIENT_SECRET@")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert!(!added.stderr.contains("plaintext"), "{added:#?}");
    assert_eq!(
        read(&home, "stage"),
        format!(
            "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL={token_url}\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n\
             OAUTH_SCOPE=api:read\n"
        ),
        "no secret line"
    );
    assert_eq!(
        env_secret(&home, "stage", SECRET_KEY).as_deref(),
        Some(SERVICE_CLIENT_SECRET)
    );
    let token = home.run(["-vv", "-e", "stage", "auth", "token"]);
    token.success().nowhere(SERVICE_CLIENT_SECRET);
    assert_eq!(token.stdout.trim().split('.').count(), 3, "{token:?}");
    assert_eq!(idp.token_requests("client_credentials"), 2, "trial + token");
    home.run(["-e", "stage", "auth", "status"])
        .success()
        .stdout_has("the OS keychain")
        .nowhere(SERVICE_CLIENT_SECRET);
    // env show finds the secret where a token request does: in the keychain.
    home.run(["env", "show", "stage"])
        .success()
        .stdout_has("(OS keychain: ")
        .nowhere(SERVICE_CLIENT_SECRET);

    let removed = home.run(["-vv", "env", "remove", "stage", "--yes"]);
    removed
        .success()
        .stdout_has("removed OAUTH_CLIENT_SECRET from the Secret Service")
        .stdout_has("removed 2 cached token files")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert!(!home.env_path("stage").exists());
    assert!(
        env_secret(&home, "stage", SECRET_KEY).is_none(),
        "item gone"
    );
    let left: Vec<_> = std::fs::read_dir(home.cache().join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "no token cache left: {left:?}");
    home.log_lacks(SERVICE_CLIENT_SECRET);

    // An item left behind without its file (removed by hand) is found and removed too.
    store_env_secret(&home, "gone", "OAUTH_PASSWORD", "left-over-pw-8e1b");
    home.run(["env", "remove", "gone", "--yes"])
        .success()
        .stdout_has("removed OAUTH_PASSWORD from the Secret Service")
        .nowhere("left-over-pw-8e1b");
    assert!(env_secret(&home, "gone", "OAUTH_PASSWORD").is_none());
    home.run(["env", "remove", "gone", "--yes"])
        .code(2)
        .stderr_has("there is no environment `gone`");
}

/// No keychain reachable: `env add` is refused before anything is tried or written (exit 1,
/// the keychain's message, `--store-in-file` named), and with `--store-in-file` writes the
/// 0600 file with the plaintext warning. `env secure` is refused and changes nothing; `env
/// remove` removes the rest, names the items that may remain and exits 1. (Seen failing
/// with the probe left out: `env add` tried the grant and failed only at the keychain write.)
#[test]
fn without_a_keychain_env_add_is_refused_unless_store_in_file() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    let refused = piped(
        &home,
        &add_args(&token_url, "stage"),
        &format!("{SERVICE_CLIENT_SECRET}\n"),
        true,
    );
    refused
        .code(1)
        .stderr_has("cannot keep environment secrets in the Secret Service")
        .stderr_has("start and unlock a Secret Service provider")
        .stderr_has("or pass --store-in-file to keep the secret in the environment's file (0600, plaintext)")
        .stderr_has("`lmi doctor --offline` checks whether the keychain answers")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert!(!home.env_path("stage").exists(), "nothing written");
    assert_eq!(idp.token_requests("client_credentials"), 0, "nothing tried");

    let mut args = add_args(&token_url, "stage");
    args.push("--store-in-file");
    piped(&home, &args, &format!("{SERVICE_CLIENT_SECRET}\n"), true)
        .success()
        .stderr_has("OAUTH_CLIENT_SECRET of environment `stage` is kept in plaintext")
        .stdout_has("added environment `stage`")
        .nowhere(SERVICE_CLIENT_SECRET);
    let text = read(&home, "stage");
    assert!(
        text.contains(&format!("OAUTH_CLIENT_SECRET={SERVICE_CLIENT_SECRET}\n")),
        "{text}"
    );

    let secure = piped(&home, &["-vv", "env", "secure", "stage"], "", true);
    secure
        .code(1)
        .stderr_has("cannot keep environment secrets in the Secret Service")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert_eq!(read(&home, "stage"), text, "nothing changed");

    let removed = piped(&home, &["env", "remove", "stage", "--yes"], "", true);
    removed
        .code(1)
        .stdout_has("removed ")
        .stderr_has("may remain")
        .stderr_has("account `stage:OAUTH_CLIENT_SECRET@")
        .stderr_has("run `lmi env remove stage` again once the keychain answers");
    assert!(!home.env_path("stage").exists(), "the rest was removed");
    // With the file gone, only items could remain: still the keychain's exit 1, naming them.
    piped(&home, &["env", "remove", "stage", "--yes"], "", true)
        .code(1)
        .stderr_has("may remain")
        .stderr_has("account `stage:OAUTH_CLIENT_SECRET@");
    // A rotation is refused before the secret is read (nothing consumed, nothing written).
    let without = text.replace(
        &format!("OAUTH_CLIENT_SECRET={SERVICE_CLIENT_SECRET}\n"),
        "",
    );
    home.env_file("other", &without);
    piped(
        &home,
        &[
            "config",
            "set",
            "OAUTH_CLIENT_SECRET",
            "-e",
            "other",
            "--stdin",
        ],
        "rotated-6c1d\n",
        true,
    )
    .code(1)
    .stderr_has("--store-in-file")
    .nowhere("rotated-6c1d");
    assert_eq!(read(&home, "other"), without);
}

/// `env secure` moves the plaintext secret into the keychain and removes only its line: the
/// file is otherwise byte for byte as written, the item holds the secret, `auth token` still
/// works. A second run has nothing to move. A different item already in the keychain is
/// replaced only with `--yes`. The global file's secret is not moved, and it says so.
#[test]
fn env_secure_moves_a_secret_out_of_a_file() {
    let idp = Idp::start();
    let home = Home::new();
    home.global_env("OAUTH_PASSWORD=global-pw-51aa\n");
    let kept = format!(
        "# staging, kept as written\nexport OAUTH_TOKEN_URL={}   # the provider\n\
         OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n\n",
        idp.token_url()
    );
    let with_secret = format!(
        "{kept}OAUTH_CLIENT_SECRET='{SERVICE_CLIENT_SECRET}'\nOAUTH_SCOPE=api:read\nMINE=x\n"
    );
    home.env_file("dev", &with_secret);
    let moved = home.run(["-vv", "env", "secure", "dev"]);
    moved
        .success()
        .stdout_has("moved OAUTH_CLIENT_SECRET of environment `dev` from ")
        .stdout_has("into the Secret Service (service `lmi`, account `dev:OAUTH_CLIENT_SECRET@")
        .stderr_has("OAUTH_PASSWORD in ")
        .stderr_has("is not moved: the global file's value serves every environment")
        .stderr_has("`lmi config set OAUTH_PASSWORD -e dev`")
        .nowhere(SERVICE_CLIENT_SECRET)
        .nowhere("global-pw-51aa");
    assert_eq!(
        read(&home, "dev"),
        format!("{kept}OAUTH_SCOPE=api:read\nMINE=x\n"),
        "only the secret's line is gone"
    );
    assert_eq!(
        env_secret(&home, "dev", SECRET_KEY).as_deref(),
        Some(SERVICE_CLIENT_SECRET)
    );
    home.run(["-vv", "-e", "dev", "auth", "token"])
        .success()
        .nowhere(SERVICE_CLIENT_SECRET);
    assert_eq!(idp.token_requests("client_credentials"), 1);
    home.run(["env", "secure", "dev"])
        .success()
        .stdout_has("holds no secret in plaintext: nothing to move");
    home.run(["doctor", "--offline"])
        .stdout_lacks_plaintext_warning_for("dev.env");

    // A different item there: refused without --yes (no terminal), nothing changed.
    std::fs::write(home.env_path("dev"), &with_secret).unwrap();
    store_env_secret(&home, "dev", SECRET_KEY, "older-secret-c0ffee");
    home.run(["env", "secure", "dev"])
        .code(2)
        .stderr_has("already holds a different OAUTH_CLIENT_SECRET for `dev`")
        .stderr_has("--yes replaces it")
        .nowhere("older-secret-c0ffee")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert_eq!(read(&home, "dev"), with_secret);
    assert_eq!(
        env_secret(&home, "dev", SECRET_KEY).as_deref(),
        Some("older-secret-c0ffee")
    );
    home.run(["env", "secure", "dev", "--yes"])
        .success()
        .stdout_has("moved OAUTH_CLIENT_SECRET");
    assert_eq!(
        env_secret(&home, "dev", SECRET_KEY).as_deref(),
        Some(SERVICE_CLIENT_SECRET)
    );
    assert!(!read(&home, "dev").contains("OAUTH_CLIENT_SECRET"));
}

/// `config set OAUTH_CLIENT_SECRET -e NAME --stdin` rotates the keychain item (the file is
/// left alone), a VALUE argument stays refused, and `config unset` removes the item.
#[test]
fn config_set_rotates_the_keychain_item_and_unset_removes_it() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    piped(
        &home,
        &add_args(&token_url, "stage"),
        &format!("{SERVICE_CLIENT_SECRET}\n"),
        false,
    )
    .success();
    let file = read(&home, "stage");
    let rotated = piped(
        &home,
        &["-vv", "config", "set", SECRET_KEY, "-e", "stage", "--stdin"],
        "rotated-secret-5a7e\n",
        false,
    );
    rotated
        .success()
        .stdout_has("set OAUTH_CLIENT_SECRET of environment `stage` in the Secret Service")
        .stdout_has("(replacing the one there)")
        .nowhere("rotated-secret-5a7e");
    assert_eq!(
        env_secret(&home, "stage", SECRET_KEY).as_deref(),
        Some("rotated-secret-5a7e")
    );
    assert_eq!(read(&home, "stage"), file, "the file is left alone");
    // config get says where a token request finds it, never what it is.
    home.run(["config", "get", SECRET_KEY, "-e", "stage"])
        .success()
        .stderr_has("is set in the OS keychain")
        .nowhere("rotated-secret-5a7e");
    // The rotated secret is the one sent: the provider refuses it.
    home.run(["-e", "stage", "auth", "token"])
        .code(4)
        .nowhere("rotated-secret-5a7e");
    home.run(["config", "set", SECRET_KEY, "a-value-7", "-e", "stage"])
        .code(2)
        .stderr_has("lmi never takes a secret from an argument")
        .stderr_has("`lmi config set OAUTH_CLIENT_SECRET -e NAME` asks for it with hidden input");
    home.run(["config", "set", SECRET_KEY, "-e", "stage"])
        .code(2)
        .stderr_has("no terminal to ask for the secret on: pipe it to stdin with --stdin");
    home.run(["-vv", "config", "unset", SECRET_KEY, "-e", "stage"])
        .success()
        .stdout_has("removed OAUTH_CLIENT_SECRET of environment `stage` from the Secret Service")
        .nowhere("rotated-secret-5a7e");
    assert!(env_secret(&home, "stage", SECRET_KEY).is_none());
    home.log_lacks("rotated-secret-5a7e");
}

/// Write order: when the env file cannot be written after the keychain items were, the items
/// are put back as they were (here an older item is restored, not left replaced) and no
/// file is left: no half-made environment. (Seen failing with the undo left out: the item
/// held the new secret after the refusal.)
#[test]
fn a_failed_file_write_puts_the_keychain_items_back() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    store_env_secret(&home, "stage", SECRET_KEY, "older-item-9d3f");
    let env_dir = home.config().join("env");
    std::fs::create_dir_all(&env_dir).unwrap();
    // A directory others may write is refused as the place for the file (even for root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&env_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let failed = piped(
        &home,
        &add_args(&token_url, "stage"),
        &format!("{SERVICE_CLIENT_SECRET}\n"),
        false,
    );
    assert_ne!(failed.code, 0, "{failed:#?}");
    failed
        .stderr_has("environment `stage` was not saved")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert!(!home.env_path("stage").exists());
    assert_eq!(
        env_secret(&home, "stage", SECRET_KEY).as_deref(),
        Some("older-item-9d3f"),
        "the item is as it was"
    );
}

/// A password-grant client without a secret: the grant trial states "none" (an empty
/// `OAUTH_CLIENT_SECRET=`), so a keychain item left from an earlier environment of that name
/// is not sent, and the file says none too, so no run sends it either. (Seen failing with the
/// trial's layer lacking the key: the stale item went to the token endpoint.)
#[test]
fn a_password_grant_without_a_client_secret_never_sends_a_stale_item() {
    let srv = FaultServer::start(|req, _| {
        let form = req.form();
        if req.header("authorization").is_none()
            && !form.contains_key("client_secret")
            && form.get("password").map(String::as_str) == Some("pw-71c4")
        {
            Reply::json(
                200,
                json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 60}),
            )
        } else {
            Reply::json(400, json!({"error": "invalid_client"}))
        }
    });
    let home = Home::new();
    store_env_secret(&home, "pw", SECRET_KEY, "stale-client-secret-2b");
    let token_url = srv.url("/token");
    let args = [
        "-vv",
        "env",
        "add",
        "pw",
        "--service-url",
        "https://api.example",
        "--token-url",
        &token_url,
        "--grant",
        "password",
        "--client-id",
        "cli",
        "--username",
        "alice",
        "--secret-stdin",
    ];
    piped(&home, &args, "pw-71c4\n\n", false)
        .success()
        .stdout_has("its password grant was tried")
        .stdout_has("OAUTH_PASSWORD is kept in the Secret Service")
        .nowhere("pw-71c4")
        .nowhere("stale-client-secret-2b");
    let text = read(&home, "pw");
    assert!(
        text.ends_with("OAUTH_CLIENT_SECRET=''\n"),
        "empty: none; {text}"
    );
    assert!(!text.contains("OAUTH_PASSWORD"), "{text}");
    assert_eq!(
        env_secret(&home, "pw", "OAUTH_PASSWORD").as_deref(),
        Some("pw-71c4")
    );
    home.run(["-e", "pw", "auth", "token"])
        .success()
        .stdout_has("tok-1");
}

trait DoctorRun {
    fn stdout_lacks_plaintext_warning_for(&self, file: &str);
}

impl DoctorRun for Run {
    fn stdout_lacks_plaintext_warning_for(&self, file: &str) {
        assert!(
            !self
                .stdout
                .lines()
                .any(|l| l.contains(file) && l.contains("plaintext")),
            "{self:#?}"
        );
    }
}
