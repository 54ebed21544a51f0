//! Setup without an editor, the file side: `lmi config get|set|unset` edits `.env` files in
//! place, `lmi env add` writes a new environment after trying its grant, `lmi env show`
//! prints one (secrets masked), `lmi env remove` deletes one with its cached tokens. The real
//! binary against the real OpenID provider (client_credentials) and a loopback fault server
//! (the password grant, which the provider lacks); hidden input on a pseudo-terminal (`support::pty`).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::{Value, json};

use crate::support::fault::{FaultServer, Reply};
use crate::support::idp::{Idp, SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET};
use crate::support::{Home, Run};

/// A secret that must never reach any output.
const SECRET: &str = "s3cret-value-4f9e2a71";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `lmi args…` with `input` on stdin (a pipe).
fn run_with_stdin(home: &Home, args: &[&str], input: &str) -> Run {
    Run::piped(home.cmd(args), input)
}

/// `lmi env add NAME` against `idp` for its confidential client, the secret piped in.
fn add_args<'a>(idp_token_url: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "env",
        "add",
        name,
        "--service-url",
        "http://127.0.0.1:9/api",
        "--token-url",
        idp_token_url,
        "--grant",
        "client_credentials",
        "--client-id",
        SERVICE_CLIENT_ID,
        "--scope",
        "api:read",
    ]
}

const KEPT: &str = "# dev: the team's staging environment\n\
\n\
export OAUTH_CLIENT_ID=lmi-service   # confidential client\n\
MY_HELPER=https://staging.example\n\
OAUTH_SERVICE_URL=\"${MY_HELPER}/api\"\n\
OAUTH_CLIENT_SECRET=\"s3cret-value-4f9e2a71\n\
OAUTH_TOKEN_URL=https://continuation.example/not-a-key\n\
tail\"\n\
    # indented note\n\
OAUTH_SCOPE=read\n\
SOMETHING_ELSE='kept as written'\n";

/// `config set` changes one line of a file with comments, `export` lines, unknown keys and a
/// multi-line secret, and leaves every other byte as it was; the file is then 0600; values
/// holding `$`, spaces and quotes read back exactly through `config get`.
#[test]
fn config_set_keeps_comments_export_lines_and_unknown_lines() {
    let home = Home::new();
    home.env_file("dev", KEPT);
    let file = home.env_path("dev");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    let run = home.run(["-e", "dev", "config", "set", "OAUTH_SCOPE", "api:read"]);
    run.success()
        .stdout_has("set OAUTH_SCOPE=api:read in ")
        .stdout_has("(was read)")
        .nowhere(SECRET);
    assert_eq!(
        read(&file),
        KEPT.replace("OAUTH_SCOPE=read\n", "OAUTH_SCOPE=api:read\n")
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "rewritten private");

    // A key the file lacks is appended; the continuation line of the secret was not a key.
    home.run([
        "-e",
        "dev",
        "config",
        "set",
        "OAUTH_TOKEN_URL",
        "https://idp.example/token",
    ])
    .success()
    .stdout_has("set OAUTH_TOKEN_URL=https://idp.example/token in");
    assert_eq!(
        read(&file),
        KEPT.replace("OAUTH_SCOPE=read\n", "OAUTH_SCOPE=api:read\n")
            + "OAUTH_TOKEN_URL=https://idp.example/token\n"
    );

    for awkward in [
        "it's $HOME and \"quoted\" # not a comment",
        "  two  spaces  ",
        "back\\slash$",
        "ab$cd",
    ] {
        home.run(["-e", "dev", "config", "set", "OAUTH_AUDIENCE", awkward])
            .success();
        let got = home.run(["-e", "dev", "config", "get", "OAUTH_AUDIENCE"]);
        got.success().stderr_has("OAUTH_AUDIENCE from ");
        assert_eq!(got.stdout.strip_suffix('\n').unwrap(), awkward);
        let json = home.run([
            "-e",
            "dev",
            "--output",
            "json",
            "config",
            "get",
            "OAUTH_AUDIENCE",
        ]);
        let json: Value = serde_json::from_str(&json.stdout).unwrap();
        assert_eq!(json["value"], awkward);
        assert_eq!(json["source"], "env-file");
    }
    // Everything else is still as it was.
    assert!(read(&file).starts_with(&KEPT[..KEPT.find("OAUTH_SCOPE").unwrap()]));

    // unset removes the line and says what it was.
    home.run(["-e", "dev", "config", "unset", "OAUTH_AUDIENCE"])
        .success()
        .stdout_has("unset OAUTH_AUDIENCE in");
    assert!(!read(&file).contains("OAUTH_AUDIENCE"));
    home.run(["-e", "dev", "config", "unset", "OAUTH_AUDIENCE"])
        .success()
        .stdout_has("OAUTH_AUDIENCE is not set in");

    // Without -e: the global file, created 0600 in a 0700 directory when missing.
    let fresh = Home::new();
    fresh
        .run(["config", "set", "LMI_HTTP_TIMEOUT_SECS", "7"])
        .success();
    let global = fresh.config().join(".env");
    assert_eq!(read(&global), "LMI_HTTP_TIMEOUT_SECS=7\n");
    #[cfg(unix)]
    {
        assert_eq!(mode(&global), 0o600);
        assert_eq!(mode(&fresh.config()), 0o700);
    }
}

/// A secret from an argument, an unknown key, a key in the wrong file, a value lmi would
/// refuse later: each refused (exit 2) before the file is touched, and the secret shown
/// nowhere. An exported `LMI_ENV` does not send a write to its environment's file.
#[test]
fn config_set_refuses_what_lmi_would_not_read_and_loses_nothing() {
    let mut home = Home::new();
    home.global_env("# global\ndefault_environment=dev\n");
    home.env_file("dev", KEPT);
    let file = home.env_path("dev");
    let global = home.config().join(".env");
    let refused = |args: &[&str], says: &str| {
        home.run(args)
            .code(2)
            .stderr_has(says)
            .nowhere("hunter2-from-argv");
        assert_eq!(read(&file), KEPT, "{args:?} changed the env file");
        assert_eq!(read(&global), "# global\ndefault_environment=dev\n");
    };
    refused(
        &[
            "-e",
            "dev",
            "config",
            "set",
            "OAUTH_CLIENT_SECRET",
            "hunter2-from-argv",
        ],
        "never takes a secret from an argument",
    );
    refused(
        &[
            "-e",
            "dev",
            "config",
            "set",
            "OAUTH_PASSWORD",
            "hunter2-from-argv",
        ],
        "lmi env add NAME … --secret-stdin",
    );
    refused(
        &["config", "set", "OAUTH_CLIENT_SCRET", "x"],
        "lmi does not know the key OAUTH_CLIENT_SCRET (did you mean OAUTH_CLIENT_SECRET?)",
    );
    refused(
        &["-e", "dev", "config", "set", "LMI_HTTP_TIMEOUT_SECS", "5"],
        "never from an environment's file: leave out -e",
    );
    refused(
        &["-e", "dev", "config", "set", "default_environment", "prod"],
        "leave out -e",
    );
    refused(
        &["config", "set", "LMI_ENV", "dev"],
        "set default_environment instead",
    );
    refused(
        &[
            "-e",
            "dev",
            "config",
            "set",
            "OAUTH_TOKEN_URL",
            "http://idp.example/token",
        ],
        "plain http:// to a non-loopback host",
    );
    refused(
        &["-e", "dev", "config", "set", "LMI_CONFIRM", "none"],
        "LMI_CONFIRM has an invalid value",
    );
    refused(
        &[
            "-e",
            "dev",
            "config",
            "set",
            "OAUTH_SCOPE",
            "a\u{1b}]52;c;eA==\u{7}",
        ],
        "U+001B",
    );
    refused(
        &["-e", "prod", "config", "set", "OAUTH_SCOPE", "x"],
        "environment `prod` has no file",
    );
    refused(
        &["config", "set", "OAUTH_SCOPE", ""],
        "lmi config unset OAUTH_SCOPE",
    );

    // LMI_ENV (or default_environment) does not choose the file: without -e it is the
    // global one.
    home.env("LMI_ENV", "dev");
    home.run(["config", "set", "OAUTH_SCOPE", "from-global"])
        .success()
        .stdout_has(&global.display().to_string());
    assert_eq!(read(&file), KEPT);
    assert!(read(&global).ends_with("OAUTH_SCOPE=from-global\n"));
}

/// `config get` says where a value comes from, and never prints a secret's.
#[test]
fn config_get_names_the_source_and_never_prints_a_secret() {
    let mut home = Home::new();
    home.global_env("OAUTH_AUDIENCE=https://global.example\n");
    home.env_file("dev", KEPT);
    let secret = home.run(["-vv", "-e", "dev", "config", "get", "OAUTH_CLIENT_SECRET"]);
    secret
        .success()
        .stderr_has("OAUTH_CLIENT_SECRET is set in ")
        .stderr_has("dev.env (a secret: its value is not shown)")
        .nowhere(SECRET);
    assert_eq!(secret.stdout, "");
    let json = home.run([
        "-e",
        "dev",
        "--output",
        "json",
        "config",
        "get",
        "OAUTH_CLIENT_SECRET",
    ]);
    json.success().nowhere(SECRET);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (
            &json["set"],
            &json["secret"],
            &json["value"],
            &json["source"]
        ),
        (&json!(true), &json!(true), &Value::Null, &json!("env-file"))
    );
    // The global file's value applies to dev; the process environment's wins.
    let audience = home.run(["-e", "dev", "config", "get", "OAUTH_AUDIENCE"]);
    audience.success().stderr_has("(OAUTH_AUDIENCE from ");
    assert_eq!(audience.stdout, "https://global.example\n");
    home.env("OAUTH_AUDIENCE", "https://process.example");
    let audience = home.run(["-e", "dev", "config", "get", "OAUTH_AUDIENCE"]);
    audience
        .success()
        .stderr_has("from the process environment");
    assert_eq!(audience.stdout, "https://process.example\n");
    home.run(["config", "get", "OAUTH_NOPE"])
        .code(2)
        .stderr_has("lmi does not know the key OAUTH_NOPE");
    home.run(["config", "get", "LMI_PLUGIN_TIMEOUT_SECS"])
        .success()
        .stderr_has("LMI_PLUGIN_TIMEOUT_SECS is not set");
}

/// `env add` with the secret piped in and `--store-in-file` tries the grant at the real
/// provider, writes a 0600 file, and `lmi auth token -e NAME` then works with it.
#[test]
fn env_add_with_secret_stdin_writes_a_file_auth_token_works_with() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    let mut args = add_args(&token_url, "stage");
    args.extend(["--secret-stdin", "--store-in-file"]);
    let added = run_with_stdin(&home, &args, &format!("{SERVICE_CLIENT_SECRET}\n"));
    added
        .success()
        .stdout_has("added environment `stage`")
        .stdout_has("its client_credentials grant was tried: a token was issued, valid 300 s")
        .stderr_has("OAUTH_CLIENT_SECRET of environment `stage` is kept in plaintext")
        .stderr_has("lmi config set default_environment stage")
        .nowhere(SERVICE_CLIENT_SECRET);
    assert_eq!(
        idp.token_requests("client_credentials"),
        1,
        "the grant was tried"
    );
    assert!(
        !home.cache().join("tokens/stage.json").exists(),
        "the trial's token is not kept"
    );
    let file = home.env_path("stage");
    assert_eq!(
        read(&file),
        format!(
            "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL={token_url}\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n\
             OAUTH_SCOPE=api:read\nOAUTH_CLIENT_SECRET={SERVICE_CLIENT_SECRET}\n"
        )
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&home.config().join("env")), 0o700);
    }
    let token = home.run(["-e", "stage", "auth", "token"]);
    token.success();
    assert_eq!(
        token.stdout.trim().split('.').count(),
        3,
        "a JWT: {token:?}"
    );
    assert_eq!(idp.token_requests("client_credentials"), 2);
    home.run(["env", "list"]).success().stdout_has("stage");
}

/// An existing environment is never overwritten; a wrong secret saves nothing (without a
/// keychain: `env_keychain::without_a_keychain_env_add_is_refused_unless_store_in_file`).
#[test]
fn env_add_refuses_an_existing_env_a_wrong_secret_and_keeps_files_as_they_were() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    home.env_file("stage", "OAUTH_SCOPE=mine\n");
    let mut args = add_args(&token_url, "stage");
    args.extend(["--secret-stdin", "--store-in-file"]);
    run_with_stdin(&home, &args, &format!("{SERVICE_CLIENT_SECRET}\n"))
        .code(2)
        .stderr_has("environment `stage` already exists")
        .stderr_has("lmi config set -e stage KEY VALUE")
        .stderr_has("lmi env remove stage");
    assert_eq!(read(&home.env_path("stage")), "OAUTH_SCOPE=mine\n");
    assert_eq!(
        idp.token_requests("client_credentials"),
        0,
        "nothing was tried"
    );

    let mut args = add_args(&token_url, "other");
    args.extend(["--secret-stdin", "--store-in-file"]);
    let wrong = run_with_stdin(&home, &args, "not-the-secret-77c1\n");
    wrong
        .code(4)
        .stderr_has(
            "environment `other` was not saved: its client_credentials grant was tried and failed",
        )
        .stderr_has("invalid_client")
        .stderr_has("--no-verify")
        .nowhere("not-the-secret-77c1");
    assert!(!home.env_path("other").exists());
    assert_eq!(idp.token_requests("client_credentials"), 1);

    // A bad URL is refused before any secret is read.
    let mut args = add_args("http://idp.example/token", "other");
    args.extend(["--secret-stdin", "--store-in-file"]);
    run_with_stdin(&home, &args, "")
        .code(2)
        .stderr_has("OAUTH_TOKEN_URL has an invalid value");
    // No secret on stdin, or no terminal to ask on: refused, nothing written.
    let mut args = add_args(&token_url, "other");
    args.extend(["--secret-stdin", "--store-in-file"]);
    run_with_stdin(&home, &args, "")
        .code(2)
        .stderr_has("no client secret was given");
    let mut args = add_args(&token_url, "other");
    args.push("--store-in-file");
    home.run(&args)
        .code(2)
        .stderr_has("no terminal to ask for the secret on: pipe it to stdin with --secret-stdin");
    assert!(!home.env_path("other").exists());
    assert!(
        std::fs::read_dir(home.config().join("env"))
            .unwrap()
            .all(|e| e.unwrap().file_name() == "stage.env"),
        "no temp file left behind"
    );
}

/// The password grant reads the password first, then the client secret (optional), and
/// sends them to the token endpoint.
#[test]
fn env_add_password_grant_reads_the_password_then_the_client_secret() {
    let srv = FaultServer::start(|req, _| {
        let form = req.form();
        let basic = req.header("authorization").unwrap_or_default().to_owned();
        if form.get("password").map(String::as_str) == Some("pw-9d2e")
            && form.get("username").map(String::as_str) == Some("alice")
            && !basic.is_empty()
        {
            Reply::json(
                200,
                json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 60}),
            )
        } else {
            Reply::json(400, json!({"error": "invalid_grant"}))
        }
    });
    let home = Home::new();
    let token_url = srv.url("/token");
    let args = [
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
        "--store-in-file",
    ];
    run_with_stdin(&home, &args, "pw-9d2e\nclient-secret-31\n")
        .success()
        .stdout_has("its password grant was tried")
        .nowhere("pw-9d2e")
        .nowhere("client-secret-31");
    let text = read(&home.env_path("pw"));
    assert!(text.contains("OAUTH_USERNAME=alice\n"), "{text}");
    assert!(text.contains("OAUTH_PASSWORD=pw-9d2e\n"), "{text}");
    assert!(
        text.contains("OAUTH_CLIENT_SECRET=client-secret-31\n"),
        "{text}"
    );
    // --username belongs to the password grant alone, which needs it.
    let mut args = args.to_vec();
    args[2] = "pw2";
    args.retain(|a| *a != "--username" && *a != "alice");
    run_with_stdin(&home, &args, "pw-9d2e\n")
        .code(2)
        .stderr_has("the password grant needs --username");
}

/// `env show` lists every key with where it comes from, the secret masked (at -vv too, and in
/// JSON).
#[test]
fn env_show_masks_the_secret() {
    let home = Home::new();
    home.global_env(
        "default_environment=dev\nOAUTH_AUDIENCE=https://global.example\nLMI_HTTP_TIMEOUT_SECS=9\n",
    );
    home.env_file("dev", KEPT);
    let shown = home.run(["-vv", "env", "show", "dev"]);
    shown
        .success()
        .stdout_has("environment `dev` (default): ")
        .stdout_has("OAUTH_CLIENT_SECRET")
        .stdout_has("set (secret, not shown)")
        .stdout_has("https://staging.example/api")
        .stdout_has("(env file)")
        .stdout_has("https://global.example")
        .stdout_has("(global file ")
        .stdout_has("SOMETHING_ELSE")
        .stdout_has("set (not shown: lmi does not read this key)")
        .stdout_has("policy: none")
        .nowhere(SECRET);
    // A helper key may hold anything: its value is not shown.
    assert!(!shown.stdout.contains("kept as written"), "{shown:?}");
    assert!(
        !shown.stdout.contains("LMI_HTTP_TIMEOUT_SECS")
            && !shown.stdout.contains("default_environment"),
        "global-only keys are not the environment's: {shown:?}"
    );
    home.log_lacks(SECRET);
    let json = home.run(["--output", "json", "env", "show", "dev"]);
    json.success().nowhere(SECRET);
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    let secret = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == "OAUTH_CLIENT_SECRET")
        .unwrap();
    assert_eq!(
        (&secret["set"], &secret["value"], &secret["source"]),
        (&json!(true), &Value::Null, &json!("env-file"))
    );
    home.run(["env", "show", "dve"])
        .code(2)
        .stderr_has("there is no environment `dve`")
        .stderr_has("did you mean `dev`?");
}

/// `env remove --yes` leaves no env file and no cached token (its named services' included),
/// and unsets `default_environment` where it named the environment, keeping the rest of the
/// global file.
#[test]
fn env_remove_yes_leaves_no_file_and_no_token_cache() {
    let idp = Idp::start();
    let home = Home::new();
    home.global_env("# mine\ndefault_environment=dev\nLMI_HTTP_TIMEOUT_SECS=9\n");
    home.env_file("dev", &idp.service_env());
    home.env_file("dev-eu", &idp.service_env());
    home.run(["auth", "token"]).success();
    home.run(["-e", "dev-eu", "auth", "token"]).success();
    let tokens = home.cache().join("tokens");
    std::fs::write(tokens.join("dev.billing.json"), "{}").unwrap();
    assert!(tokens.join("dev.json").exists() && tokens.join("dev.lock").exists());

    home.run(["env", "remove", "dev", "--yes"])
        .success()
        .stdout_has("removed ")
        .stdout_has("removed 3 cached token files")
        .stdout_has("unset default_environment in ")
        .stdout_has("(it named `dev`)");
    assert!(!home.env_path("dev").exists());
    let left: Vec<String> = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|n| n.starts_with("dev-eu.")),
        "only dev-eu's cache is left: {left:?}"
    );
    assert_eq!(
        read(&home.config().join(".env")),
        "# mine\nLMI_HTTP_TIMEOUT_SECS=9\n"
    );
    assert!(home.env_path("dev-eu").exists());
    home.run(["env", "remove", "dev", "--yes"])
        .code(2)
        .stderr_has("there is no environment `dev`");
}

/// Without a terminal and without `--yes`, `env remove` refuses (exit 2) and removes nothing.
#[test]
fn env_remove_without_a_terminal_or_yes_is_exit_2_and_removes_nothing() {
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", KEPT);
    std::fs::create_dir_all(home.cache().join("tokens")).unwrap();
    std::fs::write(home.cache().join("tokens/dev.json"), "{}").unwrap();
    home.run(["env", "remove", "dev"])
        .code(2)
        .stderr_has("refusing to remove environment `dev` without confirmation: no terminal to ask on; pass --yes");
    assert_eq!(read(&home.env_path("dev")), KEPT);
    assert!(home.cache().join("tokens/dev.json").exists());
    assert_eq!(
        read(&home.config().join(".env")),
        "default_environment=dev\n"
    );
}

/// On a terminal, `env add` asks for the secret with the echo off: the typed secret never
/// shows on the terminal, and the grant is tried with it. `env remove` asks and a `n` keeps
/// everything.
#[cfg(unix)]
#[test]
fn on_a_terminal_the_secret_is_asked_without_echo() {
    use crate::support::pty::Terminal;
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    let mut args = add_args(&token_url, "tty");
    args.push("--store-in-file");
    let mut t = Terminal::spawn(&home, &args);
    t.answer("(hidden): ", SERVICE_CLIENT_SECRET);
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Client secret of `lmi-service` for environment `tty` (hidden): "),
        "{screen}"
    );
    assert!(screen.contains("added environment `tty`"), "{screen}");
    assert!(
        !screen.contains(SERVICE_CLIENT_SECRET),
        "the secret was echoed: {screen}"
    );
    assert_eq!(idp.token_requests("client_credentials"), 1);
    // The terminal's echo is back: a later question shows what is typed.
    let mut t = Terminal::spawn(&home, &["env", "remove", "tty"]);
    t.answer("[y/N] ", "nope");
    let (_, screen) = t.finish();
    assert!(screen.contains("Remove environment `tty`: "), "{screen}");
    assert!(screen.contains("nope"), "echo is on again: {screen}");
    assert!(
        screen.contains("environment `tty` was not removed"),
        "{screen}"
    );
    assert!(home.env_path("tty").exists());
}

/// A `default_environment` that is no environment name stops only the commands that need an
/// environment, with a message naming the key and the way out; `lmi config` still mends it.
#[test]
fn a_bad_default_environment_is_reported_where_needed_and_config_mends_it() {
    let home = Home::new();
    home.global_env("default_environment=../../etc\n");
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("default_environment")
        .stderr_has("lmi config set default_environment NAME");
    home.run(["config", "set", "default_environment", "dev"])
        .code(0);
    assert_eq!(
        read(&home.config().join(".env")),
        "default_environment=dev\n"
    );
    home.run(["config", "get", "default_environment"]).code(0);
}
