//! Environments and service authentication: `.env` layering, the Client Credentials and
//! Password grants, the shared token cache, `lmi auth token|status`, `lmi env list`, and
//! authenticated service requests with one retry on 401.
//!
//! The real OpenID provider (tests/idp) covers the happy paths it implements; an in-process
//! server (support/fault.rs) covers what it does not do (password grant, 401s, 500s, slow or
//! malformed answers).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Home;
use crate::support::fault::{FaultServer, Reply, Req};
use crate::support::idp::{Idp, SERVICE_CLIENT_SECRET};

use lmi::auth::cache::{AccessToken, CachedToken, TokenCache};
use lmi::auth::lifetime::now_secs;
use lmi::auth::request::{ServiceCall, ServiceReply};
use lmi::auth::session::EnvSession;
use lmi::auth::{AuthError, ServiceTokenError};
use lmi::exit::{Exit, ExitStatus};
use lmi::paths::Paths;
use lmi::settings::Settings;

const PLANTED_SECRET: &str = "planted-client-secret-9f3a7c";
const PLANTED_PASSWORD: &str = "planted-password-51e0bb";

fn token_reply(token: &str, ttl: u64) -> Reply {
    Reply::json(
        200,
        json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": "api:read" }),
    )
}

/// A token endpoint at `/token` issuing `tok-<n>` (n-th request), and `service` for the rest.
fn oauth_server(service: impl Fn(&Req, usize) -> Reply + Send + Sync + 'static) -> FaultServer {
    FaultServer::start(move |req, n| {
        if req.path() == "/token" {
            token_reply(&format!("tok-{n}"), 3600)
        } else {
            service(req, n)
        }
    })
}

/// `dev` configured against `srv` with the client_credentials grant (secret posted in the body
/// so tests can see what was sent), and the default environment.
fn fault_home(srv: &FaultServer) -> Home {
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &client_credentials_env(srv));
    home
}

fn client_credentials_env(srv: &FaultServer) -> String {
    format!(
        "{}OAUTH_CLIENT_AUTH_METHOD=client_secret_post\n",
        srv.client_credentials_env(PLANTED_SECRET)
    )
}

fn idp_home(idp: &Idp) -> Home {
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &idp.service_env());
    home
}

fn cache_file(home: &Home, env: &str) -> std::path::PathBuf {
    home.cache().join("tokens").join(format!("{env}.json"))
}

fn read_cache(home: &Home, env: &str) -> Value {
    serde_json::from_slice(&std::fs::read(cache_file(home, env)).expect("cache file"))
        .expect("cache is JSON")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

// ---------------------------------------------------------------------------------------------
// Against the real OpenID provider.

#[test]
fn client_credentials_token_from_the_real_provider_is_cached_privately() {
    let idp = Idp::start();
    let home = idp_home(&idp);

    let run = home.run(["auth", "token"]);
    run.success();
    let token = run.stdout.trim();
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "only the token on stdout: {run:#?}"
    );
    assert_eq!(
        token.split('.').count(),
        3,
        "the provider issues JWT access tokens: {token}"
    );
    assert_eq!(idp.token_requests("client_credentials"), 1);

    let cache = read_cache(&home, "dev");
    assert_eq!(cache["access_token"], token);
    assert_eq!(cache["token_type"], "Bearer");
    assert_eq!(cache["scope"], "api:read");
    let (obtained, expires) = (
        cache["obtained_at"].as_u64().unwrap(),
        cache["expires_at"].as_u64().unwrap(),
    );
    assert!(
        expires > now_secs() && expires - obtained == 300,
        "absolute expiry: {cache}"
    );
    assert!(
        !cache.to_string().contains(SERVICE_CLIENT_SECRET),
        "no secret in the cache"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&cache_file(&home, "dev")), 0o600);
        assert_eq!(mode(&home.cache().join("tokens")), 0o700);
    }
    assert!(
        home.cache().join("tokens/dev.lock").exists(),
        "the lock file lives beside the cache"
    );
}

#[test]
fn a_valid_cached_token_is_reused_without_a_request() {
    let idp = Idp::start();
    let home = idp_home(&idp);
    let first = home.run(["auth", "token"]);
    first.success();
    for _ in 0..3 {
        let again = home.run(["auth", "token"]);
        again.success();
        assert_eq!(again.stdout, first.stdout);
    }
    assert_eq!(
        idp.token_requests("client_credentials"),
        1,
        "cache hits make no request"
    );
}

#[test]
fn an_expired_token_triggers_a_new_request() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "3")]);
    let home = idp_home(&idp);
    let first = home.run(["auth", "token"]);
    first.success();
    assert_eq!(idp.token_requests("client_credentials"), 1);
    std::thread::sleep(Duration::from_millis(3600));
    let second = home.run(["auth", "token"]);
    second.success();
    assert_ne!(second.stdout, first.stdout, "a new token");
    assert_eq!(idp.token_requests("client_credentials"), 2);
    let third = home.run(["auth", "token"]);
    assert_eq!(third.stdout, second.stdout);
    assert_eq!(idp.token_requests("client_credentials"), 2);
}

#[test]
fn eight_concurrent_processes_with_an_empty_cache_make_one_token_request() {
    let idp = Idp::start();
    let home = idp_home(&idp);
    let runs = home.spawn_all(&vec![vec!["auth", "token"]; 8]);
    for run in &runs {
        run.success();
        assert_eq!(
            run.stdout, runs[0].stdout,
            "every process got the same token"
        );
    }
    let requests = idp.token_requests("client_credentials");
    eprintln!("concurrency: 8 lmi processes, {requests} token request(s) at the provider");
    assert_eq!(requests, 1);
}

#[test]
fn auth_status_reports_each_env_and_its_token_state_but_never_the_token() {
    let idp = Idp::start();
    let home = idp_home(&idp);
    home.env_file(
        "prod",
        "OAUTH_GRANT_TYPE=password\nOAUTH_TOKEN_URL=https://login.example/token\n",
    );

    let before = home.run(["auth", "status"]);
    before
        .success()
        .stdout_has("dev (default, active)")
        .stdout_has("client_credentials")
        .stdout_has("none cached");
    before
        .stdout_has("prod")
        .stdout_has("OAUTH_CLIENT_ID is not set");

    let token = home
        .run(["auth", "token"])
        .success()
        .stdout
        .trim()
        .to_owned();
    let text = home.run(["-vv", "auth", "status"]);
    text.success()
        .stdout_has("cached, valid for")
        .nowhere(&token)
        .nowhere(SERVICE_CLIENT_SECRET);

    let json_run = home.run(["-vv", "auth", "status", "--output", "json"]);
    json_run.success().nowhere(&token);
    home.log_lacks(&token).log_lacks(SERVICE_CLIENT_SECRET);
    let v: Value = serde_json::from_str(&json_run.stdout).expect("JSON status");
    let envs = v["environments"].as_array().unwrap();
    let dev = envs.iter().find(|e| e["name"] == "dev").unwrap();
    assert_eq!(dev["grant"]["type"], "client_credentials");
    assert_eq!(dev["token"]["state"], "valid");
    assert_eq!(dev["default"], true);
    let prod = envs.iter().find(|e| e["name"] == "prod").unwrap();
    assert_eq!(prod["configured"], false);
    assert_eq!(prod["token"]["state"], "none");
    assert_eq!(v["sso"]["authenticated"], false);
    assert_eq!(
        idp.token_requests("client_credentials"),
        1,
        "status never fetches"
    );
}

// ---------------------------------------------------------------------------------------------
// Fault injection: the token endpoint.

fn password_server() -> FaultServer {
    FaultServer::start(|req, n| {
        let form = req.form();
        if form.get("grant_type").map(String::as_str) != Some("password") {
            return Reply::json(400, json!({"error": "unsupported_grant_type"}));
        }
        if form.get("username").map(String::as_str) == Some("alice")
            && form.get("password").map(String::as_str) == Some(PLANTED_PASSWORD)
        {
            token_reply(&format!("pw-token-{n}-0a1b2c3d"), 3600)
        } else {
            Reply::json(
                400,
                json!({"error": "invalid_grant", "error_description": "wrong username or password"}),
            )
        }
    })
}

fn password_env(srv: &FaultServer, password: &str) -> String {
    format!(
        "OAUTH_GRANT_TYPE=password\nOAUTH_TOKEN_URL={}\nOAUTH_CLIENT_ID=lmi-cli\nOAUTH_USERNAME=alice\n\
         OAUTH_PASSWORD={password}\nOAUTH_SCOPE=\"api:read api:write\"\nOAUTH_AUDIENCE=https://api.example\n",
        srv.url("/token")
    )
}

#[test]
fn password_grant_sends_the_resource_owner_credentials() {
    let srv = password_server();
    let home = Home::new();
    home.env_file("dev", &password_env(&srv, PLANTED_PASSWORD));
    let run = home.run(["-e", "dev", "auth", "token"]);
    run.success()
        .stdout_has("pw-token-1-0a1b2c3d")
        .nowhere(PLANTED_PASSWORD);
    let form = srv.requests()[0].form();
    assert_eq!(form["username"], "alice");
    assert_eq!(
        form["client_id"], "lmi-cli",
        "a public client names itself in the body"
    );
    assert_eq!(form["scope"], "api:read api:write");
    assert_eq!(form["audience"], "https://api.example");
}

#[test]
fn password_grant_with_a_wrong_password_is_an_auth_failure_naming_env_and_endpoint() {
    let srv = password_server();
    let home = Home::new();
    home.env_file("dev", &password_env(&srv, "not-the-password"));
    let run = home.run(["-e", "dev", "auth", "token"]);
    run.code(4)
        .stderr_has("`dev`")
        .stderr_has(&srv.url("/token"))
        .stderr_has("invalid_grant")
        .nowhere("not-the-password");
    assert!(run.stdout.is_empty());
    assert!(
        !cache_file(&home, "dev").exists(),
        "nothing cached on failure"
    );
}

#[test]
fn token_endpoint_500_is_a_failure_naming_env_and_endpoint() {
    let srv = FaultServer::start(|_, _| Reply::raw(500, "text/html", "<h1>oops</h1>"));
    let home = fault_home(&srv);
    home.run(["auth", "token"])
        .code(1)
        .stderr_has("`dev`")
        .stderr_has(&srv.url("/token"))
        .stderr_has("HTTP 500")
        .nowhere(PLANTED_SECRET);
}

#[test]
fn token_endpoint_timeout_is_reported_promptly() {
    let srv = FaultServer::start(|_, n| {
        token_reply(&format!("late-{n}"), 60).delayed(Duration::from_secs(5))
    });
    let mut home = fault_home(&srv);
    home.env("LMI_HTTP_TIMEOUT_SECS", "1");
    let started = Instant::now();
    home.run(["auth", "token"])
        .code(1)
        .stderr_has("`dev`")
        .stderr_has(&srv.url("/token"))
        .stderr_has("no answer within 1 s");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn token_endpoint_malformed_json_is_reported() {
    let srv = FaultServer::start(|_, _| {
        Reply::raw(200, "application/json", r#"{"access_token": "abc", "tok"#)
    });
    let home = fault_home(&srv);
    home.run(["auth", "token"])
        .code(1)
        .stderr_has("malformed JSON")
        .stderr_has(&srv.url("/token"));
    let srv2 = FaultServer::start(|_, _| Reply::json(200, json!({"token_type": "Bearer"})));
    let home2 = fault_home(&srv2);
    home2
        .run(["auth", "token"])
        .code(1)
        .stderr_has("unexpected token response")
        .stderr_has("`dev`");
}

#[test]
fn a_corrupt_cache_file_is_discarded_with_a_warning_and_refetched() {
    let srv = oauth_server(|_, _| Reply::status(404));
    let home = fault_home(&srv);
    std::fs::create_dir_all(home.cache().join("tokens")).unwrap();
    std::fs::write(cache_file(&home, "dev"), b"{\"access_token\": \"half-writ").unwrap();
    let run = home.run(["auth", "token"]);
    run.success()
        .stdout_has("tok-1")
        .stderr_has("warning: ")
        .stderr_has("discarding the token cache");
    assert_eq!(read_cache(&home, "dev")["access_token"], "tok-1");
    // Valid JSON of the wrong shape is recovered from too.
    std::fs::write(cache_file(&home, "dev"), b"[1, 2, 3]").unwrap();
    home.run(["auth", "token"]).success().stdout_has("tok-2");
    assert_eq!(srv.count("/token"), 2);
}

#[test]
fn a_cached_token_for_a_different_configuration_is_not_reused() {
    let srv = oauth_server(|_, _| Reply::status(404));
    let home = fault_home(&srv);
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    home.env_file(
        "dev",
        &format!("{}OAUTH_SCOPE=api:write\n", client_credentials_env(&srv)),
    );
    home.run(["auth", "token"]).success().stdout_has("tok-2");
    assert_eq!(srv.count("/token"), 2);
}

// ---------------------------------------------------------------------------------------------
// Secrets stay secret.

#[test]
fn planted_secret_and_token_never_appear_in_output_or_log_at_debug() {
    // The token endpoint echoes the client secret and password back in an error, as a careless
    // provider might; lmi must scrub them.
    let srv = FaultServer::start(|req, n| {
        if req.form().get("scope").map(String::as_str) == Some("bad") {
            Reply::json(
                400,
                json!({"error": "invalid_client", "error_description": format!("client_secret={PLANTED_SECRET} is wrong; password {PLANTED_PASSWORD}")}),
            )
        } else {
            token_reply(&format!("planted-token-{n}-77d1e4"), 3600)
        }
    });
    let home = fault_home(&srv);
    home.env_file(
        "bad",
        &format!(
            "{}OAUTH_SCOPE=bad\nOAUTH_PASSWORD={PLANTED_PASSWORD}\n",
            client_credentials_env(&srv)
        ),
    );

    let tok = home.run(["-vv", "auth", "token"]);
    tok.success();
    assert_eq!(tok.stdout.trim(), "planted-token-1-77d1e4");
    assert!(
        tok.stderr.contains("HTTP POST"),
        "-vv traces HTTP: {tok:#?}"
    );
    let status = home.run(["-vv", "auth", "status", "--output", "json"]);
    status.success();
    let bad = home.run(["-vv", "-e", "bad", "auth", "token"]);
    bad.code(4).stderr_has("invalid_client");

    for run in [&tok, &status, &bad] {
        assert!(
            !run.stderr.contains("planted-token"),
            "token on stderr: {run:#?}"
        );
        run.nowhere(PLANTED_SECRET).nowhere(PLANTED_PASSWORD);
    }
    assert!(!status.stdout.contains("planted-token"));
    let log = std::fs::read_to_string(home.log_file()).expect("log file at the default place");
    assert!(
        log.contains("HTTP POST") && log.contains("/token"),
        "HTTP traces in the log: {log}"
    );
    for secret in [PLANTED_SECRET, PLANTED_PASSWORD, "planted-token-1-77d1e4"] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
    // The request really carried the secret (so the test would catch a leak).
    assert_eq!(srv.requests()[0].form()["client_secret"], PLANTED_SECRET);
}

/// `LMI_LOG_FILE=PATH` writes there (0600) and leaves the user's directory as it was.
#[cfg(unix)]
#[test]
fn the_log_file_can_be_moved_without_touching_its_directory() {
    use std::os::unix::fs::PermissionsExt;
    let srv = oauth_server(|_, _| Reply::status(404));
    let mut home = fault_home(&srv);
    let dir = home.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.join("lmi.log");
    home.env("LMI_LOG_FILE", log.to_str().unwrap());
    home.run(["-v", "auth", "token"]).success();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert!(std::fs::read_to_string(&log).unwrap().contains("HTTP POST"));
    assert_eq!(mode(&log), 0o600);
    assert_eq!(
        mode(&dir),
        0o755,
        "the user's directory keeps its permissions"
    );
    assert!(!home.log_file().exists());
}

#[test]
fn the_log_file_can_be_disabled() {
    let srv = oauth_server(|_, _| Reply::status(404));
    let mut home = fault_home(&srv);
    home.env("LMI_LOG_FILE", "off");
    home.run(["-v", "auth", "token"]).success();
    assert!(!home.log_file().exists());
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[test]
fn a_command_that_needs_an_env_without_one_is_a_usage_error() {
    let home = Home::new();
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("no environment selected")
        .stderr_has("--env");
}

/// Issue 16, item 5: a misspelt key is named with its file, line and the key it is close
/// to; a misspelt environment lists the ones that exist and suggests the close one; and a
/// plugin told that no environment is selected learns which file `default_environment`
/// goes in.
#[test]
fn misspellings_are_named_with_the_close_match() {
    let home = Home::new();
    home.env_file(
        "dev",
        "OAUTH_TOKEN_URL=http://127.0.0.1:9/token\nOAUTH_CLIENT_ID=x\nOAUTH_CLIENT_SCRET=s3cr3t-typo\n",
    );
    // A secret quoted over two lines: its second line is not a key to warn about (the
    // warning would print the secret's tail).
    home.env_file(
        "prod",
        "OAUTH_TOKEN_URL=http://127.0.0.1:9/token\nOAUTH_CLIENT_SECRET=\"first-half\nLMI_HUNTER2_TAIL=zz\"\n",
    );
    home.run(["-e", "prod", "auth", "status"])
        .success()
        .nowhere("HUNTER2");
    let run = home.run(["-e", "dev", "auth", "token"]);
    run.code(2)
        .stderr_has("dev.env:3: lmi does not know the key OAUTH_CLIENT_SCRET (did you mean OAUTH_CLIENT_SECRET?)")
        .stderr_has("OAUTH_CLIENT_SECRET is not set")
        .nowhere("s3cr3t-typo");
    home.run(["-e", "Dev", "auth", "token"])
        .code(2)
        .stderr_has("environments here: dev, prod; did you mean `dev`?");
    let mut ci = Home::new();
    ci.env("LMI_ENV", "dve");
    ci.env_file("dev", "OAUTH_TOKEN_URL=http://127.0.0.1:9/token\n");
    ci.run(["auth", "token"])
        .code(2)
        .stderr_has("did you mean `dev`?");
}

#[test]
fn a_missing_key_names_the_key_and_the_file() {
    let home = Home::new();
    home.env_file(
        "dev",
        "OAUTH_TOKEN_URL=http://127.0.0.1:9/token\nOAUTH_CLIENT_ID=x\n",
    );
    let env_file = home.config().join("env/dev.env");
    home.run(["-e", "dev", "auth", "token"])
        .code(2)
        .stderr_has("OAUTH_CLIENT_SECRET")
        .stderr_has(&env_file.display().to_string());
    home.run(["-e", "nope", "auth", "token"])
        .code(2)
        .stderr_has("environment `nope` is not configured")
        .stderr_has("nope.env");
}

#[test]
fn malformed_files_and_values_name_the_file_and_key() {
    let home = Home::new();
    home.env_file(
        "dev",
        "OAUTH_GRANT_TYPE=implicit\nOAUTH_TOKEN_URL=http://127.0.0.1:9/token\n",
    );
    home.run(["-e", "dev", "auth", "token"])
        .code(2)
        .stderr_has("OAUTH_GRANT_TYPE")
        .stderr_has("dev.env");
    // Client secrets never go over plain http to another host.
    home.env_file(
        "dev",
        "OAUTH_TOKEN_URL=http://auth.example.com/token\nOAUTH_CLIENT_ID=x\nOAUTH_CLIENT_SECRET=y\n",
    );
    home.run(["-e", "dev", "auth", "token"])
        .code(2)
        .stderr_has("OAUTH_TOKEN_URL")
        .stderr_has("unencrypted");
    home.env_file("dev", "OAUTH_TOKEN_URL=ftp:/nowhere\n");
    home.run(["-e", "dev", "auth", "token"])
        .code(2)
        .stderr_has("OAUTH_TOKEN_URL")
        .stderr_has("dev.env");
    home.env_file(
        "dev",
        &format!("OAUTH_CLIENT_SECRET='{PLANTED_SECRET}\nOAUTH_TOKEN_URL=x\n"),
    );
    let run = home.run(["-e", "dev", "auth", "token"]);
    run.code(2).stderr_has("dev.env").nowhere(PLANTED_SECRET);
    home.global_env("default_environment=dev\nbroken line without equals\n");
    home.run(["env", "list"]).code(2).stderr_has(".env");
}

#[test]
fn flags_beat_process_env_beat_env_file_beat_global_file() {
    let srv = oauth_server(|_, _| Reply::status(404));
    let mut home = Home::new();
    home.global_env(&format!(
        "default_environment=dev\nOAUTH_TOKEN_URL={}\nOAUTH_CLIENT_ID=from-global\nOAUTH_CLIENT_SECRET=s3cret-global\n\
         OAUTH_CLIENT_AUTH_METHOD=client_secret_post\n",
        srv.url("/token")
    ));
    home.env_file("dev", "OAUTH_CLIENT_ID=from-dev-file\n");
    home.env_file("other", "OAUTH_SCOPE=other-scope\n");

    let client_of = |i: usize| srv.requests()[i].form()["client_id"].clone();
    home.run(["auth", "token"]).success();
    assert_eq!(client_of(0), "from-dev-file", "env file beats global file");
    home.run(["-e", "other", "auth", "token"]).success();
    assert_eq!(
        client_of(1),
        "from-global",
        "global file fills what the env file lacks"
    );
    assert_eq!(
        srv.requests()[1].form()["scope"],
        "other-scope",
        "--env beats default_environment"
    );
    home.env("OAUTH_CLIENT_ID", "from-process");
    std::fs::remove_dir_all(home.cache()).unwrap();
    home.run(["auth", "token"]).success();
    assert_eq!(
        client_of(2),
        "from-process",
        "process environment beats the env file"
    );

    // Choosing the environment: LMI_ENV beats default_environment, and --env beats LMI_ENV.
    home.env("LMI_ENV", "other");
    std::fs::remove_dir_all(home.cache()).unwrap();
    home.run(["auth", "token"]).success();
    assert_eq!(srv.requests()[3].form()["scope"], "other-scope", "LMI_ENV");
    std::fs::remove_dir_all(home.cache()).unwrap();
    home.run(["-e", "dev", "auth", "token"]).success();
    assert!(
        !srv.requests()[4].form().contains_key("scope"),
        "--env beats LMI_ENV: {:?}",
        srv.requests()[4].form()
    );
}

#[test]
fn env_list_shows_the_environments_and_the_default() {
    let home = Home::new();
    home.run(["env", "list"])
        .success()
        .stderr_has("no environments");
    home.global_env("default_environment=staging\n");
    home.env_file("prod", "");
    home.env_file("staging", "");
    home.env_file("bad name", "");
    let run = home.run(["env", "list"]);
    run.success().stderr_has("ignoring");
    assert_eq!(run.stdout, "prod\nstaging (default)\n");
    home.run(["-e", "prod", "env", "list"])
        .success()
        .stdout_has("prod (active)");
    let json_run = home.run(["env", "list", "--output", "json"]);
    let v: Value = serde_json::from_str(&json_run.success().stdout).unwrap();
    assert_eq!(v["default"], "staging");
    assert_eq!(v["environments"].as_array().unwrap().len(), 2);
    assert_eq!(v["environments"][1]["default"], true);
}

#[test]
fn lmi_access_token_overrides_the_grant_for_the_active_env() {
    let srv = oauth_server(|_, _| Reply::status(404));
    let mut home = fault_home(&srv);
    home.env("LMI_ACCESS_TOKEN", "ci-provided-token-3c9e");
    home.run(["auth", "token"])
        .success()
        .stdout_has("ci-provided-token-3c9e");
    let status = home.run(["auth", "status"]);
    status
        .success()
        .stdout_has("LMI_ACCESS_TOKEN")
        .nowhere("ci-provided-token-3c9e");
    let v: Value =
        serde_json::from_str(&home.run(["auth", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(v["environments"][0]["overridden_by"], "LMI_ACCESS_TOKEN");
    assert_eq!(
        srv.count("/token"),
        0,
        "no token request when the token is given"
    );
    // Works with no env file at all, as in CI.
    let mut bare = Home::new();
    bare.env("LMI_ACCESS_TOKEN", "ci-provided-token-3c9e");
    bare.run(["-e", "ci", "auth", "token"])
        .success()
        .stdout_has("ci-provided-token-3c9e");
}

/// The CI recipe docs/plugin-authoring.md gives for trying a plugin against a real service:
/// no configuration files at all, only `LMI_ENV`, `OAUTH_SERVICE_URL` and `LMI_ACCESS_TOKEN`
/// in the process environment; the plugin's request reaches the service with that token.
#[test]
fn the_ci_recipe_runs_a_plugin_against_a_service_with_variables_alone() {
    let srv = FaultServer::start(|_, _| Reply::json(200, serde_json::json!({"items": 2})));
    let mut home = Home::new();
    home.install(&crate::support::plugin_dir("plugins/api"));
    assert!(!home.config().join(".env").exists() && !home.config().join("env").exists());
    home.env("LMI_ENV", "ci")
        .env("OAUTH_SERVICE_URL", &srv.base())
        .env("LMI_ACCESS_TOKEN", "ci-recipe-token-77d1");
    let run = home.run(["api", "get", "v1/items"]);
    run.success()
        .stdout_has("\"items\":2")
        .nowhere("ci-recipe-token-77d1");
    let seen = srv.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path(), "/v1/items");
    assert_eq!(seen[0].bearer(), Some("ci-recipe-token-77d1"));
}

// ---------------------------------------------------------------------------------------------
// Authenticated service requests (the library call behind the WIT `send-request`).

/// Settings for `env` rooted in a throw-away directory (Paths::under layout).
struct LibHome {
    _dir: tempfile::TempDir,
    paths: Paths,
}

impl LibHome {
    fn new(global: &str, envs: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.env_dir()).unwrap();
        std::fs::write(paths.global_env_file(), global).unwrap();
        for (name, body) in envs {
            std::fs::write(paths.env_file(name), body).unwrap();
        }
        Self { _dir: dir, paths }
    }
    fn settings(&self) -> Settings {
        Settings::load(self.paths.clone(), Some("dev")).expect("settings")
    }
    fn cache(&self) -> TokenCache {
        TokenCache::new(&self.paths.token_dir(), "dev")
    }
}

/// One request with a session of its own (its own renewal budget), as from a script.
fn send(settings: &Settings, env: &str, call: ServiceCall) -> Result<ServiceReply, AuthError> {
    crate::session::PluginRun::open(settings, env).send(call)
}

fn lib_home(srv: &FaultServer) -> LibHome {
    LibHome::new("", &[("dev", client_credentials_env(srv))])
}

pub(crate) fn get(path: &str) -> ServiceCall {
    ServiceCall {
        service: None,
        method: reqwest::Method::GET,
        path: path.into(),
        headers: vec![],
        body: None,
        agent: None,
    }
}

#[test]
fn service_request_attaches_the_bearer_token_under_the_service_url() {
    let srv = oauth_server(|req, _| {
        Reply::raw(200, "text/plain", format!("{} {}", req.method, req.target))
    });
    let lib = lib_home(&srv);
    let call = ServiceCall {
        service: None,
        method: reqwest::Method::POST,
        path: "v1/items?x=1".into(),
        headers: vec![("X-Trace".into(), "abc".into())],
        body: Some(b"{}".to_vec()),
        agent: None,
    };
    let reply = send(&lib.settings(), "dev", call).expect("request");
    assert_eq!(reply.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        "POST /api/v1/items?x=1"
    );
    let api = srv
        .requests()
        .into_iter()
        .find(|r| r.path() == "/api/v1/items")
        .unwrap();
    assert_eq!(api.bearer(), Some("tok-1"));
    assert_eq!(api.header("x-trace"), Some("abc"));
    assert_eq!(api.body, b"{}");
    // A second call reuses the cached token.
    send(&lib.settings(), "dev", get("v1/items")).unwrap();
    assert_eq!(srv.count("/token"), 1);

    let refused = send(&lib.settings(), "dev", get("../admin")).unwrap_err();
    assert!(matches!(refused, AuthError::InvalidRequest(_)), "{refused}");
    let call = ServiceCall {
        headers: vec![("Authorization".into(), "Bearer mine".into())],
        ..get("x")
    };
    assert!(matches!(
        send(&lib.settings(), "dev", call),
        Err(AuthError::InvalidRequest(_))
    ));
}

#[test]
fn a_401_discards_the_token_fetches_a_new_one_and_retries_once() {
    let srv = oauth_server(|req, _| match req.bearer() {
        Some("tok-1") => Reply::status(401),
        _ => Reply::raw(200, "text/plain", "hello"),
    });
    let lib = lib_home(&srv);
    let reply = send(&lib.settings(), "dev", get("whoami")).expect("retried");
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (200, b"hello".as_slice())
    );
    assert_eq!(srv.count("/token"), 2);
    assert_eq!(srv.count("/api/whoami"), 2);
    let cached = lib.cache().read().expect("the new token is cached");
    assert_eq!(cached.access_token.expose(), "tok-2");
}

#[test]
fn a_second_401_is_an_auth_failure_naming_env_and_token_endpoint() {
    let srv = oauth_server(|_, _| Reply::status(401));
    let lib = lib_home(&srv);
    let err = send(&lib.settings(), "dev", get("whoami")).unwrap_err();
    assert!(
        matches!(err, AuthError::Token(ServiceTokenError::Rejected(_))),
        "{err:?}"
    );
    assert_eq!(err.exit(), Exit::Auth);
    let msg = err.to_string();
    assert!(
        msg.contains("`dev`") && msg.contains(&srv.url("/token")) && msg.contains("401"),
        "{msg}"
    );
    assert_eq!(srv.count("/token"), 2, "one renewal only");
    assert_eq!(srv.count("/api/whoami"), 2, "one retry only");
}

#[test]
fn a_failed_renewal_after_a_401_is_an_error_naming_env_and_endpoint() {
    let srv = FaultServer::start(|req, n| match (req.path(), n) {
        ("/token", 1) => token_reply("tok-1", 3600),
        ("/token", _) => Reply::json(401, json!({"error": "invalid_client"})),
        _ => Reply::status(401),
    });
    let lib = lib_home(&srv);
    let err = send(&lib.settings(), "dev", get("whoami")).unwrap_err();
    assert_eq!(err.exit(), Exit::Auth, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("`dev`") && msg.contains(&srv.url("/token")),
        "{msg}"
    );
}

#[test]
fn a_service_500_is_returned_to_the_plugin_without_a_retry() {
    let srv = oauth_server(|_, _| Reply::raw(500, "text/plain", "boom"));
    let lib = lib_home(&srv);
    let reply = send(&lib.settings(), "dev", get("x")).expect("a reply");
    assert_eq!(reply.status, 500);
    assert_eq!(srv.count("/token"), 1);
    assert_eq!(srv.count("/api/x"), 1);
}

#[test]
fn a_slow_service_times_out_as_a_network_error() {
    let srv = oauth_server(|_, _| Reply::status(200).delayed(Duration::from_secs(4)));
    let lib = LibHome::new(
        "LMI_HTTP_TIMEOUT_SECS=1\n",
        &[("dev", client_credentials_env(&srv))],
    );
    let started = Instant::now();
    let err = send(&lib.settings(), "dev", get("slow")).unwrap_err();
    assert!(matches!(err, AuthError::Http { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_stale_401_does_not_discard_a_token_another_process_renewed() {
    let srv = oauth_server(|req, _| match req.bearer() {
        Some("renewed-elsewhere") => Reply::status(200),
        _ => Reply::status(401),
    });
    let lib = lib_home(&srv);
    let now = now_secs();
    let fresh = CachedToken {
        access_token: AccessToken::new("renewed-elsewhere".into()),
        token_type: "Bearer".into(),
        scope: None,
        expires_at: now + 3600,
        obtained_at: now,
        issued_for: None,
    };
    lib.cache().write(&fresh).unwrap();
    let rejected = AccessToken::new("an-older-token".into());
    let session = EnvSession::open(&lib.settings(), "dev");
    let t = session
        .service(None)
        .unwrap()
        .tokens
        .renew_after_reject(&rejected)
        .unwrap();
    assert_eq!(t.expose(), "renewed-elsewhere");
    assert_eq!(
        srv.count("/token"),
        0,
        "no request: the cache already had a different, valid token"
    );
    assert_eq!(lib.cache().read(), Some(fresh));
}

// ---------------------------------------------------------------------------------------------
// Through real plugins (plugins/api asks for service_token + service_requests; the hostile
// test plugin asks for nothing). Built by `make plugins`.

#[test]
fn a_plugin_request_is_retried_once_after_a_401_end_to_end() {
    let srv = oauth_server(|req, _| match req.bearer() {
        Some("tok-1") => Reply::status(401),
        Some(_) => Reply::raw(200, "text/plain", "hello from the service"),
        None => Reply::status(400),
    });
    let home = fault_home(&srv);
    home.install(&crate::support::plugin_dir("plugins/api"));
    home.run(["api", "get", "whoami"])
        .success()
        .stdout_has("hello from the service");
    assert_eq!(srv.count("/token"), 2);
    assert_eq!(srv.count("/api/whoami"), 2);
    home.run(["api", "get", "whoami"]).success();
    assert_eq!(srv.count("/token"), 2, "the renewed token was cached");
}

/// The api example asks lmi whether colour is wanted: piped, the body comes as it is; with
/// `--color always`, JSON is indented and coloured (and a string's escape stays escaped).
#[test]
fn the_api_plugin_colours_json_only_when_colour_is_wanted() {
    let srv =
        oauth_server(|_, _| Reply::json(200, serde_json::json!({"id": 7, "note": "x\u{1b}[2Jy"})));
    let home = fault_home(&srv);
    home.install(&crate::support::plugin_dir("plugins/api"));
    let plain = home.run(["api", "get", "v1/items"]);
    plain.success();
    assert!(!plain.stdout.contains("\u{1b}[3"), "{plain:#?}");
    let coloured = home.run(["--color", "always", "api", "get", "v1/items"]);
    coloured
        .success()
        .stdout_has("\u{1b}[34m\"id\"\u{1b}[0m: \u{1b}[36m7\u{1b}[0m")
        .stdout_has("\\u001b[2J");
    assert!(!coloured.stdout.contains("\u{1b}[2J"), "{coloured:#?}");
}

/// The api example on the SDK's request helpers, end to end: `-d @-` sends what was piped
/// to lmi, `-f` fields reach the service as an encoded query, and an error status ends the
/// run with exit 1 and one line naming the request, the status and the service's message,
/// its escape sequences removed and a token in it masked. The service sees the plugin's
/// name in `User-Agent`.
#[test]
fn the_api_plugin_sends_stdin_and_fields_and_reports_an_error_status_safely() {
    use std::io::Write;
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNlY3JldA";
    let message = format!("no ticket 7\u{1b}]52;c;ZXZpbA==\u{7} for Bearer {jwt}");
    let srv = oauth_server(move |req, _| match req.path() {
        "/api/v1/tickets/7" => Reply::json(
            404,
            serde_json::json!({"error": "not_found", "message": message}),
        ),
        _ => Reply::raw(201, "text/plain", "made"),
    });
    let home = fault_home(&srv);
    home.install(&crate::support::plugin_dir("plugins/api"));

    let mut child = home
        .cmd(["api", "post", "-d", "@-", "v1/tickets"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"title":"piped"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    home.run([
        "api",
        "get",
        "-f",
        "q=a b&c",
        "-f",
        "owner=zoë",
        "v1/tickets",
    ])
    .success();

    let failed = home.run(["api", "get", "v1/tickets/7"]);
    failed
        .code(1)
        .stderr_has("error: GET v1/tickets/7 returned HTTP 404 Not Found: no ticket 7 ]52;c;ZXZpbA== for Bearer **** (not_found)")
        .nowhere(jwt)
        .nowhere("\u{1b}")
        .nowhere("\u{7}");

    let requests: Vec<_> = srv
        .requests()
        .into_iter()
        .filter(|r| r.path() != "/token")
        .collect();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].body, br#"{"title":"piped"}"#);
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(
        requests[1].target,
        "/api/v1/tickets?q=a%20b%26c&owner=zo%C3%AB"
    );
    for request in &requests {
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("api/0.1.0 lmi/", env!("CARGO_PKG_VERSION"))),
            "{request:#?}"
        );
    }
}

#[test]
fn a_second_401_surfaces_as_exit_4_naming_env_and_token_endpoint() {
    let srv = oauth_server(|_, _| Reply::status(401));
    let home = fault_home(&srv);
    home.install(&crate::support::plugin_dir("plugins/api"));
    home.run(["api", "get", "whoami"])
        .code(4)
        .stderr_has("`dev`")
        .stderr_has(&srv.url("/token"))
        .nowhere("tok-1")
        .nowhere(PLANTED_SECRET);
    assert_eq!(srv.count("/api/whoami"), 2);
}

#[test]
fn get_token_is_given_to_a_permitted_plugin_and_denied_to_others() {
    let srv = oauth_server(|_, _| Reply::status(200));
    let home = fault_home(&srv);
    home.install(&crate::support::plugin_dir("tests/plugins/hostile"));
    let denied = home.run(["token"]);
    denied.stdout_has("denied").nowhere("tok-");
    home.run(["request", "whoami"]).stdout_has("denied");
    assert_eq!(
        srv.count("/token"),
        0,
        "no token is fetched for a plugin without the permission"
    );
    assert_eq!(srv.count("/api/whoami"), 0);

    home.install(&crate::support::plugin_dir("plugins/api"));
    let granted = home.run(["api", "token"]);
    granted.success();
    assert_eq!(granted.stdout.trim(), "tok-1");
    assert_eq!(
        home.run(["auth", "token"]).stdout.trim(),
        "tok-1",
        "the same cached token"
    );
    assert_eq!(srv.count("/token"), 1);
}

#[test]
#[allow(clippy::disallowed_methods)] // reads the environment to show it was not changed
fn env_files_are_parsed_without_touching_the_process_environment() {
    let lib = LibHome::new(
        "OAUTH_LMI_TEST_GLOBAL_ONLY=g\n",
        &[("dev", "OAUTH_LMI_TEST_FILE_ONLY=f\n".to_owned())],
    );
    let config = lib.settings().env_config("dev").unwrap();
    assert_eq!(config.get("OAUTH_LMI_TEST_FILE_ONLY"), Some("f"));
    assert_eq!(config.get("OAUTH_LMI_TEST_GLOBAL_ONLY"), Some("g"));
    assert!(std::env::var_os("OAUTH_LMI_TEST_FILE_ONLY").is_none());
    assert!(std::env::var_os("OAUTH_LMI_TEST_GLOBAL_ONLY").is_none());
}

#[test]
fn a_secret_echoed_bare_by_the_provider_is_scrubbed_from_the_error() {
    // No `client_secret=` label for a pattern to catch: only knowing the value helps.
    let srv = FaultServer::start(|_, _| {
        Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": format!("we got {PLANTED_SECRET} and did not like it")}),
        )
    });
    let home = fault_home(&srv);
    let run = home.run(["-vv", "auth", "token"]);
    run.code(4)
        .stderr_has("invalid_client")
        .stderr_has("we got ****");
    run.nowhere(PLANTED_SECRET);
    home.log_lacks(PLANTED_SECRET);
    assert!(
        std::fs::read_to_string(home.log_file())
            .unwrap()
            .contains("HTTP POST"),
        "the exchange was logged, so the log check means something"
    );
}

/// A token endpoint that drips one byte a second never trips a per-read timeout: the whole
/// exchange is bounded by `LMI_HTTP_TIMEOUT_SECS`, so `auth token` fails promptly and the
/// env's lock is free for the next process, which is bounded the same way.
#[test]
fn a_dripping_token_endpoint_is_cut_off_at_the_http_deadline_and_frees_the_lock() {
    let srv = FaultServer::start(|_, n| {
        token_reply(&format!("drip-{n}"), 60).dripped(Duration::from_millis(700))
    });
    let mut home = fault_home(&srv);
    home.env("LMI_HTTP_TIMEOUT_SECS", "2");
    let started = Instant::now();
    let first = home
        .cmd(["auth", "token"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The second process arrives while the first holds `dev.lock`.
    std::thread::sleep(Duration::from_millis(500));
    let second = home
        .cmd(["auth", "token"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for child in [first, second] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output().unwrap());
        });
    }
    for _ in 0..2 {
        let out = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("an `auth token` against a dripping endpoint did not end");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("within 2 s"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("drip-"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(!cache_file(&home, "dev").exists());
}

// ---- R1.9 (service side): absurd lifetimes are clamped, not wrapped ----------------------

#[test]
fn an_absurd_expires_in_is_clamped_and_the_token_is_reused() {
    let srv = FaultServer::start(|_, n| {
        Reply::json(
            200,
            json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": u64::MAX}),
        )
    });
    let home = fault_home(&srv);
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    assert_eq!(srv.count("/token"), 1, "the cached token was reused");
    let cache = read_cache(&home, "dev");
    let expires_at = cache["expires_at"].as_u64().unwrap();
    let year = 366 * 24 * 3600;
    assert!(
        expires_at <= now_secs() + year,
        "expiry clamped to a year: {cache}"
    );
}

// ---- R2.5: loopback is never proxied -----------------------------------------------------

/// With `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` pointing at a listener, a token request and a
/// plugin's service request to `http://127.0.0.1` go direct: the client secret and bearer
/// token never reach the proxy in cleartext.
#[test]
fn loopback_requests_never_go_through_a_proxy() {
    let proxy = FaultServer::start(|_, _| Reply::status(502));
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => token_reply(&format!("tok-{n}"), 3600),
        _ => Reply::status(200),
    });
    let mut home = crate::sandbox::hostile_granted(&srv);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        home.env(var, &proxy.base());
    }
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    home.run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
    let seen: Vec<String> = proxy.requests().iter().map(|r| r.target.clone()).collect();
    assert!(seen.is_empty(), "the proxy saw: {seen:?}");
}

// ---- R2.1 (token cache): a cache file lmi did not write is never trusted ----------------

#[cfg(unix)]
#[test]
fn a_token_cache_owned_by_someone_else_or_linked_is_discarded_and_refetched() {
    use std::os::unix::fs::{PermissionsExt, chown, symlink};
    let srv = oauth_server(|_, _| Reply::status(404));
    let home = fault_home(&srv);
    let planted = |home: &Home| {
        let dir = home.cache().join("tokens");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let body = json!({
            "access_token": "planted-by-another-user", "token_type": "Bearer",
            "expires_at": now_secs() + 3600, "obtained_at": now_secs()
        });
        (dir, body.to_string())
    };

    // Owned by another uid (the tests run as root, so chown works).
    let (dir, body) = planted(&home);
    let file = dir.join("dev.json");
    std::fs::write(&file, &body).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(&file, Some(65534), Some(65534)).unwrap();
    let run = home.run(["auth", "token"]);
    run.success().stdout_has("tok-1");
    assert!(!run.stdout.contains("planted"), "{run:#?}");
    run.stderr_has("dev.json");

    // A symlink to a file with a valid-looking token.
    std::fs::remove_file(&file).ok();
    let elsewhere = home.path().join("elsewhere.json");
    std::fs::write(&elsewhere, &body).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
    symlink(&elsewhere, &file).unwrap();
    let run = home.run(["auth", "token"]);
    run.success();
    assert!(!run.stdout.contains("planted"), "{run:#?}");
    assert_eq!(srv.count("/token"), 2, "each untrusted cache was refetched");
}

/// Issue 16, item 4: an authentication failure a plugin passes on ends with the hint that
/// fits what the host saw, not always "run: lmi login sso": a refused client secret points
/// at the credentials, a rejected `LMI_ACCESS_TOKEN` at that variable.
#[test]
fn an_auth_failure_through_a_plugin_gets_the_hint_that_fits_it() {
    let srv = FaultServer::start(|req, _| match req.path() {
        "/token" => Reply::json(401, serde_json::json!({"error": "invalid_client"})),
        _ => Reply::status(401),
    });
    let mut home = Home::new();
    home.install(&crate::support::plugin_dir("plugins/api"));
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("wrong-secret-41"));
    home.run(["api", "get", "v1/x"])
        .code(4)
        .stderr_has("invalid_client")
        .stderr_has("hint: check the environment's OAUTH_CLIENT_ID")
        .nowhere("lmi login sso")
        .nowhere("wrong-secret-41");
    home.env("LMI_ACCESS_TOKEN", "handed-over-token-93");
    home.run(["api", "get", "v1/x"])
        .code(4)
        .stderr_has("hint: LMI_ACCESS_TOKEN holds a token the service does not accept")
        .nowhere("lmi login sso")
        .nowhere("handed-over-token-93");
}
