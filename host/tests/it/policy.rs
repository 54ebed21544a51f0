//! Environment policy (issue 13): `LMI_REQUIRE_SSO`, `LMI_SSO_ALLOWED_GROUPS` with
//! `LMI_SSO_GROUPS_CLAIM`, `LMI_PROTECTED` with `confirm = true` and `LMI_CONFIRM`, the global
//! `--yes` / `LMI_ASSUME_YES` and `--quiet`, enforced by the host before a plugin starts and
//! before `lmi auth token` prints. SSO against the real provider (tests/idp, which issues a
//! `groups` claim) and the real Secret Service (`scripts/with-keyring`); the confirmation
//! answered on a real terminal (a pty from `script`).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::support::idp::Idp;
use crate::support::{Home, Run, copy_plugin, plugin_dir};

fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the policy tests under scripts/with-keyring"
    );
}

/// A home signed in nowhere yet, configured for SSO against `idp`, with `hello` installed
/// (`hello` runs without SSO; `whoami` is `requires_sso`).
fn sso_home(idp: &Idp) -> Home {
    require_keyring();
    let home = Home::new();
    home.global_env(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    home
}

/// Signs in with the device grant, the provider approving the code as `login`.
fn device_login(idp: &Idp, home: &Home, login: &str) {
    crate::sso::device_login(idp, home, login).success();
}

/// The plugin did not start: at `-vv` lmi logs the instantiation, and `hello` prints first.
#[track_caller]
fn not_started(run: &Run) {
    assert!(!run.stderr.contains("plugin instantiated"), "{run:#?}");
    assert!(!run.stdout.contains("Hello"), "{run:#?}");
}

/// Installs a copy of `hello` whose `hello` command says `confirm = true`.
fn install_confirming_hello(home: &Home) {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/hello"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replacen(
        "requires_sso = false",
        "requires_sso = false\nconfirm = true",
        1,
    );
    std::fs::write(&manifest, text).unwrap();
    home.install(dir.path());
}

/// Runs `lmi args…` on a terminal (a pty from `script`), typing `input`.
fn on_terminal(home: &Home, args: &[&str], input: &str) -> Run {
    let lmi = home.cmd(args);
    let line = std::iter::once(env!("CARGO_BIN_EXE_lmi").to_owned())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in lmi.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let mut child = script.spawn().expect("script(1) from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

// ---- LMI_REQUIRE_SSO ---------------------------------------------------------------------------

/// Allowed once signed in; refused before, exit 4 with the login hint and the plugin never
/// started; set in the global file it covers every environment and a command run with none.
#[test]
fn require_sso_refuses_before_the_plugin_starts_until_the_user_signs_in() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file("prod", "LMI_REQUIRE_SSO=true\n");
    home.env_file("dev", "");

    let refused = home.run(["-vv", "-e", "prod", "hello"]);
    refused
        .code(4)
        .stderr_has("environment `prod` requires an SSO session (LMI_REQUIRE_SSO in ")
        .stderr_has("prod.env")
        .stderr_has("hint: run: lmi login sso");
    not_started(&refused);
    // `--yes` answers confirmations, not the policy.
    let mut yes = home.cmd(["--yes", "-e", "prod", "hello"]);
    yes.env("LMI_ASSUME_YES", "1");
    Run::from(yes.output().unwrap())
        .code(4)
        .stderr_has("requires an SSO session");
    home.run(["-e", "dev", "hello"]).success();

    // From the global file: every environment, and no environment at all (before anyone
    // signs in: homes share the test keychain, where sessions are keyed by provider).
    let other = Home::new();
    other.global_env(&format!("{}LMI_REQUIRE_SSO=true\n", idp.sso_env()));
    other.install(&plugin_dir("plugins/hello"));
    other.env_file("dev", "");
    for args in [&["-e", "dev", "hello"][..], &["hello"]] {
        let run = other.run(args);
        run.code(4).stderr_has("hint: run: lmi login sso");
        not_started(&run);
    }
    // An env file may say otherwise for its environment.
    other.env_file("sandbox", "LMI_REQUIRE_SSO=false\n");
    other.run(["-e", "sandbox", "hello"]).success();

    device_login(&idp, &home, "alice");
    home.run(["-vv", "-e", "prod", "hello", "x"])
        .success()
        .stdout_has("Hello, x!")
        .stderr_has("plugin instantiated");
}

/// `lmi auth token` obeys the policy: no token request is made for a refused user.
#[test]
fn auth_token_obeys_require_sso_and_the_groups() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file(
        "prod",
        &format!("{}LMI_REQUIRE_SSO=true\n", idp.service_env()),
    );
    home.env_file(
        "ops",
        &format!("{}LMI_SSO_ALLOWED_GROUPS=ops\n", idp.service_env()),
    );
    home.run(["-e", "prod", "auth", "token"])
        .code(4)
        .stderr_has("requires an SSO session")
        .stderr_has("hint: run: lmi login sso");
    assert_eq!(idp.token_requests("client_credentials"), 0);

    device_login(&idp, &home, "alice");
    let token = home.run(["-e", "prod", "auth", "token"]);
    token.success();
    assert!(token.stdout.trim().len() > 20, "{token:#?}");
    home.run(["-e", "ops", "auth", "token"])
        .code(4)
        .stderr_has("alice@example.test may not use environment `ops`")
        .stderr_has("members of ops");
    assert_eq!(idp.token_requests("client_credentials"), 1, "only prod's");
}

// ---- LMI_SSO_ALLOWED_GROUPS ----------------------------------------------------------------------

/// A user outside the groups is refused by name (exit 4, naming the environment and the
/// groups needed); once the provider adds them and the session is refreshed, admitted. A
/// claim named by LMI_SSO_GROUPS_CLAIM is kept and checked the same way.
#[test]
fn a_user_outside_the_groups_is_refused_naming_user_environment_and_groups() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=\"ops, admins\"\n");
    home.env_file(
        "roles",
        "LMI_SSO_ALLOWED_GROUPS=lmi-users\nLMI_SSO_GROUPS_CLAIM=preferred_username\n",
    );
    home.env_file(
        "named",
        "LMI_SSO_ALLOWED_GROUPS=carol\nLMI_SSO_GROUPS_CLAIM=preferred_username\n",
    );
    device_login(&idp, &home, "carol");

    let refused = home.run(["-vv", "-e", "prod", "hello"]);
    refused
        .code(4)
        .stderr_has(
            "carol@example.test may not use environment `prod`: it admits members of ops or admins",
        )
        .stderr_has("LMI_SSO_ALLOWED_GROUPS in ")
        .stderr_has(
            "hint: if you were added to one of them since you signed in, run: lmi auth refresh",
        );
    not_started(&refused);
    // The session keeps the claim without any token (the summary the gate reads).
    let summary = std::fs::read_to_string(home.cache().join("sso-summary.json")).unwrap();
    assert!(
        summary.contains(r#""groups":{"groups":["lmi-users"]"#),
        "{summary}"
    );

    idp.set_groups("carol", json!(["admins", "dev"]));
    home.run(["auth", "refresh"]).success();
    home.run(["-e", "prod", "hello"]).success();

    // Another claim: `preferred_username` is `carol`, not `lmi-users`.
    home.run(["-e", "roles", "hello"])
        .code(4)
        .stderr_has("the `preferred_username` claim of your ID token names none of them");
    home.run(["-e", "named", "hello"]).success();
}

/// A session past its access token's lifetime is refreshed silently at the gate and passes
/// with the groups the provider states at that refresh: added groups admit, removed ones
/// refuse.
#[test]
fn a_refreshed_session_passes_the_gate_with_the_groups_of_the_refresh() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let home = sso_home(&idp);
    home.env_file("prod", "LMI_REQUIRE_SSO=true\nLMI_SSO_ALLOWED_GROUPS=ops\n");
    idp.set_groups("dave", json!(["ops"]));
    device_login(&idp, &home, "dave");

    std::thread::sleep(Duration::from_millis(2500));
    home.run(["-e", "prod", "hello"])
        .success()
        .stdout_has("Hello");
    assert_eq!(idp.token_requests("refresh_token"), 1, "a silent refresh");

    idp.set_groups("dave", json!(["dev"]));
    std::thread::sleep(Duration::from_millis(2500));
    let refused = home.run(["-e", "prod", "hello"]);
    refused
        .code(4)
        .stderr_has("dave@example.test may not use environment `prod`");
    not_started(&refused);
    assert_eq!(idp.token_requests("refresh_token"), 2);
}

/// A session that kept no group claim (signed in by an lmi before groups were kept, or
/// before any environment checked groups, as here) is not admitted as it is: the gate renews
/// it to capture the claim, and refuses if the renewal fails.
#[test]
fn a_session_without_groups_is_renewed_before_it_is_admitted() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    device_login(&idp, &home, "erin");
    let summary = home.cache().join("sso-summary.json");
    let before = std::fs::read_to_string(&summary).unwrap();
    assert!(
        !before.contains("groups"),
        "nothing checks groups yet: {before}"
    );

    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=lmi-users\n");
    home.run(["-e", "prod", "hello"]).success();
    assert_eq!(idp.token_requests("refresh_token"), 1, "renewed to capture");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("lmi-users")
    );
    home.run(["-e", "prod", "hello"]).success();
    assert_eq!(idp.token_requests("refresh_token"), 1, "captured once");

    // A claim configured later, and a provider that no longer knows the session.
    home.env_file(
        "roles",
        "LMI_SSO_ALLOWED_GROUPS=admins\nLMI_SSO_GROUPS_CLAIM=roles\n",
    );
    idp.forget();
    let refused = home.run(["-vv", "-e", "roles", "hello"]);
    refused
        .code(4)
        .stderr_has("erin@example.test may not use environment `roles` yet")
        .stderr_has("holds no `roles` claim")
        .stderr_has("hint: run: lmi login sso --force");
    not_started(&refused);
}

/// The provider's claim is hostile text: too many groups or the wrong type is refused, not
/// guessed at; a single string is one group; a group holding an escape sequence is dropped
/// and never reaches the terminal (`auth status` lists the rest).
#[test]
fn odd_group_claims_are_refused_or_bounded_never_guessed() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=ops\n");

    let many: Vec<String> = (0..300).map(|i| format!("g{i}")).collect();
    for (login, groups, why) in [
        (
            "frank",
            json!(many),
            "it holds 300 groups, more than the 256 lmi reads",
        ),
        ("gina", json!(42), "it is neither text nor a list of text"),
    ] {
        idp.set_groups(login, groups);
        device_login(&idp, &home, login);
        home.run(["-e", "prod", "hello"])
            .code(4)
            .stderr_has("cannot be read as groups")
            .stderr_has(why);
    }
    idp.set_groups("hugo", json!("ops"));
    device_login(&idp, &home, "hugo");
    home.run(["-e", "prod", "hello"]).success();

    idp.set_groups(
        "ivy",
        json!(["ops", "\u{1b}]52;c;cm0gLXJmIH4=\u{7}", "dev"]),
    );
    device_login(&idp, &home, "ivy");
    home.run(["-e", "prod", "hello"]).success();
    let status = home.run(["auth", "status"]);
    status
        .success()
        .stdout_has("groups (`groups`): dev, ops")
        .stdout_has("policy: SSO required; groups ops (claim `groups`) — you may use it");
    assert!(!status.stdout.contains('\u{1b}'), "{status:#?}");
}

// ---- LMI_PROTECTED and confirm ------------------------------------------------------------------

/// A protected environment prints one banner line naming it and the user before each plugin
/// command; `--quiet` suppresses it; other environments have none.
#[test]
fn a_protected_environment_shows_a_banner_unless_quiet() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file("prod", "LMI_PROTECTED=true\n");
    home.env_file("dev", "");
    home.run(["-e", "prod", "hello"])
        .success()
        .stderr_has("lmi: environment `prod` is protected; not signed in");
    device_login(&idp, &home, "jane");
    let run = home.run(["-e", "prod", "hello"]);
    run.success()
        .stderr_has("lmi: environment `prod` is protected; signed in as jane@example.test");
    assert_eq!(run.stderr.matches("is protected").count(), 1, "{run:#?}");
    for quiet in ["-q", "--quiet"] {
        let run = home.run([quiet, "-e", "prod", "hello"]);
        run.success();
        assert!(!run.stderr.contains("protected"), "{run:#?}");
    }
    let dev = home.run(["-e", "dev", "hello"]);
    dev.success();
    assert!(!dev.stderr.contains("protected"), "{dev:#?}");
}

/// A command marked `confirm = true` in a protected environment: refused without a terminal
/// (exit 2, naming --yes), run with `--yes` or `LMI_ASSUME_YES=1`; unprotected, it never
/// asks; a malformed `LMI_ASSUME_YES` is a configuration error.
#[test]
fn a_confirmed_command_needs_a_terminal_or_yes() {
    let home = Home::new();
    install_confirming_hello(&home);
    home.env_file("prod", "LMI_PROTECTED=true\n");
    home.env_file("dev", "");

    let refused = home.run(["-vv", "-e", "prod", "hello", "svc"]);
    refused
        .code(2)
        .stderr_has("`lmi -e prod hello svc` asks for confirmation in environment `prod`, which is protected, and there is no terminal to ask on")
        .stderr_has("pass --yes before the command");
    not_started(&refused);

    for yes in ["--yes", "-y"] {
        home.run([yes, "-e", "prod", "hello", "svc"])
            .success()
            .stdout_has("Hello, svc!")
            .stderr_has("lmi: environment `prod` is protected; not signed in");
    }
    // After the command, `--yes` is the plugin's word, not an answer.
    home.run(["-e", "prod", "hello", "--yes"]).code(2);
    home.cmd(["-e", "prod", "hello"])
        .env("LMI_ASSUME_YES", "1")
        .output()
        .map(Run::from)
        .unwrap()
        .success();
    home.env_file("prod", "LMI_PROTECTED=true\nLMI_ASSUME_YES=true\n");
    home.run(["-e", "prod", "hello"]).success();
    home.env_file("prod", "LMI_PROTECTED=true\nLMI_ASSUME_YES=sure\n");
    home.run(["-e", "prod", "hello"])
        .code(2)
        .stderr_has("LMI_ASSUME_YES has an invalid value in ")
        .stderr_has("prod.env");

    home.run(["-e", "dev", "hello"]).success();
    // An unmarked command of a protected environment runs without asking...
    home.env_file("prod", "LMI_PROTECTED=true\n");
    home.run(["-e", "prod", "whoami"]).code(4);
    // ... unless LMI_CONFIRM=all, which also protects the environment by itself.
    home.env_file("stage", "LMI_CONFIRM=all\n");
    let all = home.run(["-e", "stage", "whoami"]);
    all.code(2)
        .stderr_has("asks for confirmation in environment `stage`");
}

/// On a terminal the question names the environment, the user and the whole command line;
/// `y` runs the command with its words, `n` (or anything else) does not.
#[cfg(target_os = "linux")]
#[test]
fn the_confirmation_is_answered_on_the_terminal() {
    let home = Home::new();
    install_confirming_hello(&home);
    home.env_file("prod", "LMI_PROTECTED=true\n");

    let yes = on_terminal(&home, &["-e", "prod", "hello", "two words", "x"], "y\n");
    assert_eq!(yes.code, 0, "{yes:#?}");
    for shown in [
        "environment `prod` is protected; this command asks before it runs:",
        "lmi -e prod hello 'two words' x",
        "not signed in",
        "Run it in environment `prod`? [y/N]",
        "Hello, two words x!",
    ] {
        assert!(yes.stdout.contains(shown), "{shown:?} not in {yes:#?}");
    }

    let no = on_terminal(&home, &["-e", "prod", "hello", "x"], "n\n");
    assert_eq!(no.code, 2, "{no:#?}");
    assert!(
        no.stdout
            .contains("not confirmed: `lmi -e prod hello x` did not run"),
        "{no:#?}"
    );
    assert!(!no.stdout.contains("Hello"), "{no:#?}");

    // An escape sequence in the command's words reaches the terminal as `?`.
    let hostile = on_terminal(
        &home,
        &["-e", "prod", "hello", "\u{1b}]0;pwned\u{7}"],
        "n\n",
    );
    assert!(hostile.stdout.contains("'?]0;pwned?'"), "{hostile:#?}");
    assert!(!hostile.stdout.contains("\u{1b}]0;"), "{hostile:#?}");
}

/// `--yes` before `plugin install` and after it both answer the install's question.
#[test]
fn yes_answers_plugin_install_before_or_after_the_command() {
    let home = Home::new();
    let dir = plugin_dir("plugins/hello");
    let dir = dir.to_str().unwrap();
    home.run(["plugin", "install", dir])
        .code(2)
        .stderr_has("pass --yes");
    home.run(["--yes", "plugin", "install", dir]).success();
    home.run(["plugin", "remove", "hello"]).success();
    home.run(["plugin", "install", dir, "--yes"]).success();
    home.run(["plugin", "remove", "hello"]).success();
    home.run(["-y", "plugin", "install", "-y", dir]).success();
}

// ---- layers and malformed values ----------------------------------------------------------------

/// The process environment may tighten a file's policy, never loosen it: each loosening value
/// is ignored with a warning, and the file's policy holds.
#[test]
fn the_process_environment_cannot_loosen_the_policy() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file(
        "prod",
        "LMI_REQUIRE_SSO=true\nLMI_SSO_ALLOWED_GROUPS=ops\nLMI_PROTECTED=true\nLMI_CONFIRM=all\n",
    );
    let loosen = |args: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = home.cmd(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    };
    home.env_file("strict", "LMI_REQUIRE_SSO=true\n");
    let run = loosen(&["-e", "strict", "hello"], &[("LMI_REQUIRE_SSO", "0")]);
    run.code(4).stderr_has("requires an SSO session");
    not_started(&run);
    let run = loosen(
        &["-e", "prod", "hello"],
        &[
            ("LMI_REQUIRE_SSO", "false"),
            ("LMI_PROTECTED", "false"),
            ("LMI_CONFIRM", "marked"),
        ],
    );
    run.code(4)
        .stderr_has("LMI_REQUIRE_SSO=false in the process environment is ignored")
        .stderr_has("LMI_PROTECTED=false in the process environment is ignored")
        .stderr_has("LMI_CONFIRM=marked in the process environment is ignored");

    idp.set_groups("kim", json!(["dev"]));
    device_login(&idp, &home, "kim");
    // Another claim, or more groups, from the process environment admit nobody new.
    let run = loosen(
        &["--yes", "-e", "prod", "hello"],
        &[
            ("LMI_SSO_GROUPS_CLAIM", "preferred_username"),
            ("LMI_SSO_ALLOWED_GROUPS", "ops,dev,kim"),
        ],
    );
    run.code(4)
        .stderr_has("LMI_SSO_GROUPS_CLAIM=preferred_username in the process environment is ignored")
        .stderr_has("names dev, kim beyond what")
        .stderr_has("kim@example.test may not use environment `prod`");
    not_started(&run);
    // Still asks: LMI_CONFIRM=marked did not loosen LMI_CONFIRM=all.
    idp.set_groups("kim", json!(["ops"]));
    home.run(["auth", "refresh"]).success();
    loosen(&["-e", "prod", "hello"], &[("LMI_CONFIRM", "marked")])
        .code(2)
        .stderr_has("no terminal to ask on");
    // Tightening from the process environment applies.
    home.env_file("dev", "");
    loosen(
        &["-e", "dev", "hello"],
        &[("LMI_SSO_ALLOWED_GROUPS", "admins")],
    )
    .code(4)
    .stderr_has("it admits members of admins");
}

/// A malformed policy value anywhere is a configuration error naming the key and where it is
/// set (exit 2), never "off"; a misspelt key is warned about, once.
#[test]
fn malformed_policy_values_are_configuration_errors() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    for (line, key) in [
        ("LMI_REQUIRE_SSO=\"yes please\"", "LMI_REQUIRE_SSO"),
        ("LMI_PROTECTED=maybe", "LMI_PROTECTED"),
        ("LMI_CONFIRM=none", "LMI_CONFIRM"),
        ("LMI_SSO_ALLOWED_GROUPS=,", "LMI_SSO_ALLOWED_GROUPS"),
        ("LMI_SSO_GROUPS_CLAIM=\"two words\"", "LMI_SSO_GROUPS_CLAIM"),
    ] {
        home.env_file("prod", &format!("{line}\n"));
        let run = home.run(["-e", "prod", "hello"]);
        run.code(2)
            .stderr_has(&format!("{key} has an invalid value in "))
            .stderr_has("prod.env");
        not_started(&run);
    }
    // Unquoted, the file itself does not parse: also exit 2, naming it.
    home.env_file("prod", "LMI_REQUIRE_SSO=yes please\n");
    home.run(["-e", "prod", "hello"])
        .code(2)
        .stderr_has("prod.env");
    home.env_file("prod", "");
    home.cmd(["-e", "prod", "hello"])
        .env("LMI_REQUIRE_SSO", "yes please")
        .output()
        .map(Run::from)
        .unwrap()
        .code(2)
        .stderr_has("LMI_REQUIRE_SSO has an invalid value in the process environment");

    home.env_file("prod", "LMI_REQUIRE_SS0=true\n");
    let run = home.run(["-e", "prod", "hello"]);
    run.success()
        .stderr_has("lmi does not know the key LMI_REQUIRE_SS0 (did you mean LMI_REQUIRE_SSO?)");
    assert_eq!(run.stderr.matches("LMI_REQUIRE_SS0").count(), 1, "{run:#?}");
}

// ---- shown by env list and auth status ----------------------------------------------------------

#[test]
fn env_list_and_auth_status_show_each_environments_policy() {
    let idp = Idp::start();
    let home = sso_home(&idp);
    home.env_file(
        "prod",
        "LMI_REQUIRE_SSO=true\nLMI_SSO_ALLOWED_GROUPS=ops,admins\nLMI_PROTECTED=true\n",
    );
    home.env_file("stage", "LMI_CONFIRM=all\n");
    home.env_file("dev", "");
    home.env_file("broken", "LMI_PROTECTED=perhaps\n");

    let list = home.run(["env", "list"]);
    list.success()
        .stdout_has("prod — policy: SSO required; groups ops or admins (claim `groups`); protected, commands marked confirm ask first")
        .stdout_has("stage — policy: protected, every command asks first")
        .stdout_has("broken — policy cannot be read: LMI_PROTECTED has an invalid value");
    assert!(list.stdout.lines().any(|l| l == "dev"), "{list:#?}");
    let json: serde_json::Value =
        serde_json::from_str(&home.run(["env", "list", "--output", "json"]).stdout).unwrap();
    let prod = &json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "prod")
        .unwrap()["policy"];
    assert_eq!(prod["require_sso"], true);
    assert_eq!(prod["allowed_groups"], json!(["ops", "admins"]));
    assert_eq!(prod["groups_claim"], "groups");
    assert_eq!(prod["protected"], true);
    assert_eq!(prod["confirm"], "marked");

    home.run(["auth", "status"])
        .success()
        .stdout_has("policy: SSO required; groups ops or admins (claim `groups`); protected, commands marked confirm ask first — refused: you are not signed in")
        .stdout_has("policy: none")
        .stdout_has("policy: cannot be read: LMI_PROTECTED has an invalid value");
    device_login(&idp, &home, "lena");
    let status = home.run(["auth", "status", "--output", "json"]);
    status.success();
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let env = |name: &str| {
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["policy"]
            .clone()
    };
    assert_eq!(env("prod")["admitted"], false);
    assert!(
        env("prod")["refusal"]
            .as_str()
            .unwrap()
            .contains("lena@example.test may not use environment `prod`")
    );
    assert_eq!(env("dev")["admitted"], true);
    assert_eq!(v["sso"]["groups"], json!({ "groups": ["lmi-users"] }));
}

/// A policy a file sets trusts the identity provider the global file names: pointing
/// `OAUTH_SSO_ISSUER` (or the client id) elsewhere from the process environment, where the
/// user's own provider could issue any groups, is refused naming the key (review finding).
#[test]
fn the_process_environment_cannot_choose_the_identity_provider_of_a_file_policy() {
    let mut home = Home::new();
    home.install(&crate::support::plugin_dir("plugins/hello"));
    home.global_env(
        "default_environment=prod\nOAUTH_SSO_ISSUER=https://idp.example.invalid\nOAUTH_SSO_CLIENT_ID=lmi-cli\n",
    );
    home.env_file("prod", "LMI_SSO_ALLOWED_GROUPS=ops\n");
    home.env("LMI_SSO_STORAGE", "file");
    // Without an override: refused for want of a session (exit 4).
    home.run(["hello"]).code(4);
    home.env("OAUTH_SSO_ISSUER", "https://mine.example.invalid");
    home.run(["hello"])
        .code(2)
        .stderr_has("OAUTH_SSO_ISSUER")
        .stderr_has("unset OAUTH_SSO_ISSUER in the process environment");
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("OAUTH_SSO_ISSUER");
}
