//! `lmi credential git | docker | kube | process` (issue 15): the real `lmi` binary spoken to
//! through each protocol — real `git` over smart HTTP (`git http-backend` behind a loopback
//! server that demands a Bearer token), golden docker and kube transcripts, the real
//! provider (tests/idp) for the SSO ID token and its one refresh, the real Secret Service.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::fault::{FaultServer, Reply};
use crate::support::git_http::GitServer;
use crate::support::idp::Idp;
use crate::support::{Home, Run};

/// A token endpoint whose tokens are unguessable and recorded, so a server can check a
/// token against the ones really issued.
struct Issuer {
    server: FaultServer,
    issued: Arc<Mutex<Vec<String>>>,
}

impl Issuer {
    fn start() -> Self {
        let issued: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = issued.clone();
        let server = FaultServer::start(move |req, n| match req.path() {
            "/token" => {
                let token = format!("tok-{n}-{}", std::process::id() ^ (n as u32 * 7919));
                kept.lock().unwrap().push(token.clone());
                Reply::json(
                    200,
                    serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
                )
            }
            _ => Reply::status(404),
        });
        Self { server, issued }
    }

    fn accepts(&self) -> impl Fn(&str) -> bool + Send + Sync + 'static {
        let issued = self.issued.clone();
        move |token| issued.lock().unwrap().iter().any(|t| t == token)
    }

    fn last(&self) -> String {
        self.issued
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a token was issued")
    }

    fn requests(&self) -> usize {
        self.server.count("/token")
    }

    /// An env file whose client-credentials grant uses this issuer, plus `extra` lines.
    fn env(&self, extra: &str) -> String {
        format!(
            "{}{extra}\n",
            self.server.client_credentials_env("s3cret-client")
        )
    }
}

fn lmi() -> &'static str {
    env!("CARGO_BIN_EXE_lmi")
}

/// `git ls-remote URL` in `home`, with `helper` as its only credential helper (none when
/// empty), no system config, no prompt.
fn ls_remote(home: &Home, helper: &str, url: &str) -> Run {
    let lmi_cmd = home.cmd(["--version"]);
    let mut git = Command::new("git");
    git.env_clear();
    for (k, v) in lmi_cmd.get_envs() {
        if let Some(v) = v {
            git.env(k, v);
        }
    }
    git.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .args(["-c", "credential.helper="]);
    if !helper.is_empty() {
        git.args(["-c", &format!("credential.helper={helper}")]);
    }
    git.args(["-c", "credential.useHttpPath=false", "ls-remote", url])
        .stdin(Stdio::null());
    Run::from(git.output().expect("git"))
}

/// `lmi args` with `input` on stdin.
fn piped(home: &Home, args: &[&str], input: &str) -> Run {
    Run::piped(home.cmd(args), input)
}

fn git_get(home: &Home, args: &[&str], input: &str) -> Run {
    let mut all = args.to_vec();
    all.extend(["credential", "git", "get"]);
    piped(home, &all, input)
}

/// The real git, over smart HTTP, with `lmi credential git` as its helper: the server
/// demands a Bearer token the test's token endpoint issued, and git gets it from lmi.
#[test]
fn git_ls_remote_over_smart_http_gets_the_environments_token_from_lmi() {
    let issuer = Issuer::start();
    let git = GitServer::start(issuer.accepts());
    let port = git.server.base().rsplit(':').next().unwrap().to_owned();
    let home = Home::new();
    home.env_file(
        "dev",
        &issuer.env(&format!("LMI_GIT_HOSTS=127.0.0.1:{port}")),
    );
    let helper = format!("!{} credential git", lmi());

    // Without a helper git has no token: the server refuses it.
    let run = ls_remote(&home, "", &git.repo_url());
    assert_ne!(run.code, 0, "{run:#?}");
    assert_eq!(git.served(), 0);

    let run = ls_remote(&home, &helper, &git.repo_url());
    run.success().stdout_has("refs/heads/main");
    assert_eq!(issuer.requests(), 1);
    assert!(git.served() >= 1, "git sent the token");
    let token = issuer.last();
    run.stderr_lacks(&token);
    home.log_lacks(&token).log_lacks("s3cret-client");

    // lmi with no environment for this host answers nothing, and git fails.
    let other = Home::new();
    other.env_file("dev", &issuer.env("LMI_GIT_HOSTS=127.0.0.1:1"));
    let run = ls_remote(&other, &helper, &git.repo_url());
    assert_ne!(run.code, 0, "{run:#?}");
    assert_eq!(
        issuer.requests(),
        1,
        "no token fetched for a host no env claims"
    );
}

/// git's protocol as lmi answers it, with and without the `authtype` capability; the host is
/// the env's service URL's.
#[test]
fn git_get_answers_a_claimed_host_and_nothing_else() {
    let issuer = Issuer::start();
    let home = Home::new();
    home.env_file("dev", &issuer.env(""));
    let host = issuer
        .server
        .base()
        .trim_start_matches("http://")
        .to_owned();

    let run = git_get(
        &home,
        &[],
        &format!("protocol=http\nhost={host}\npath=x\n\n"),
    );
    run.success();
    let token = issuer.last();
    let expiry = |run: &Run| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix("password_expiry_utc="))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("password_expiry_utc")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3500..=now + 3700).contains(&expiry(&run)),
        "{run:#?}"
    );
    assert_eq!(
        run.stdout
            .replace(&token, "<TOKEN>")
            .replace(&expiry(&run).to_string(), "<EXP>"),
        "username=oauth2\npassword=<TOKEN>\npassword_expiry_utc=<EXP>\n"
    );

    let run = git_get(
        &home,
        &[],
        &format!("capability[]=authtype\ncapability[]=state\nprotocol=http\nhost={host}\n"),
    );
    run.success();
    assert_eq!(issuer.requests(), 1, "the cached token");
    assert_eq!(
        run.stdout
            .replace(&token, "<TOKEN>")
            .replace(&expiry(&run).to_string(), "<EXP>"),
        "capability[]=authtype\nauthtype=Bearer\ncredential=<TOKEN>\nephemeral=1\npassword_expiry_utc=<EXP>\n"
    );

    // An unknown host, another port, plain http off loopback: an empty answer, exit 0.
    for input in [
        "protocol=https\nhost=unknown.example\n".to_owned(),
        format!(
            "protocol=http\nhost={}:1\n",
            host.split(':').next().unwrap()
        ),
        format!("protocol=https\nhost={host}\n"),
        "protocol=http\nhost=example.com\n".to_owned(),
    ] {
        let run = git_get(&home, &[], &input);
        run.success();
        assert_eq!(run.stdout, "", "{input}");
    }
    // store and erase read and keep nothing; an unknown action is ignored.
    for action in ["store", "erase", "frobnicate"] {
        piped(
            &home,
            &["credential", "git", action],
            &format!("protocol=http\nhost={host}\nusername=oauth2\npassword={token}\n"),
        )
        .success();
    }
    // A control character in the input: refused whole, nothing answered.
    let run = git_get(&home, &[], &format!("protocol=http\nhost={host}\x1b[2J\n"));
    run.code(2).stderr_has("control character");
    assert_eq!(run.stdout, "");
    assert_eq!(issuer.requests(), 1);
}

/// Two environments claiming one host: refused, naming both; `-e` picks one.
#[test]
fn a_host_two_environments_claim_is_refused_unless_one_is_named() {
    let issuer = Issuer::start();
    let home = Home::new();
    home.env_file("dev", &issuer.env("LMI_GIT_HOSTS=git.example.test"));
    home.env_file(
        "prod",
        &issuer.env("LMI_GIT_HOSTS=git.example.test,other.example.test"),
    );
    let input = "protocol=https\nhost=git.example.test\n";
    git_get(&home, &[], input)
        .code(2)
        .stderr_has("environment `dev`")
        .stderr_has("environment `prod`")
        .stderr_has("-e NAME");
    assert_eq!(issuer.requests(), 0);
    git_get(&home, &["-e", "prod"], input)
        .success()
        .stdout_has("password=");
    // -e names the only environment looked at: a host it does not claim gets nothing.
    let run = git_get(
        &home,
        &["-e", "dev"],
        "protocol=https\nhost=other.example.test\n",
    );
    run.success();
    assert_eq!(run.stdout, "");
}

/// The process environment's `LMI_ACCESS_TOKEN` (and `LMI_ENV`) belong to the environment the
/// shell meant: a host of another environment never gets them.
#[test]
fn a_token_in_the_process_environment_never_goes_to_another_environments_host() {
    let issuer = Issuer::start();
    let mut home = Home::new();
    home.env_file("ci", &issuer.env(""));
    home.env_file("prod", &issuer.env("LMI_GIT_HOSTS=git.prod.test"));
    home.env("LMI_ENV", "ci")
        .env("LMI_ACCESS_TOKEN", "ci-handed-token");
    let run = git_get(&home, &[], "protocol=https\nhost=git.prod.test\n");
    run.success().nowhere("ci-handed-token");
    assert_eq!(
        run.stdout.lines().nth(1),
        Some(format!("password={}", issuer.last()).as_str())
    );
    // Named with -e while the shell is in `ci`: still prod's own token, never ci's.
    let run = git_get(
        &home,
        &["-e", "prod"],
        "protocol=https\nhost=git.prod.test\n",
    );
    run.success().nowhere("ci-handed-token");
    // Named with -e and the shell in that same environment: the process's token, as every
    // command takes it.
    home.env("LMI_ENV", "prod");
    git_get(
        &home,
        &["-e", "prod"],
        "protocol=https\nhost=git.prod.test\n",
    )
    .success()
    .stdout_has("password=ci-handed-token");
}

/// A token that would add lines to git's answer (a hostile token endpoint's) is refused and
/// never printed; a `protocol` or `host` shaped to parse as another host gets nothing.
#[test]
fn a_token_or_request_that_could_forge_an_answer_is_refused() {
    let issuer = Issuer::start();
    let mut home = Home::new();
    home.env_file("prod", &issuer.env("LMI_GIT_HOSTS=git.prod.test"));
    home.env("LMI_ENV", "prod")
        .env("LMI_ACCESS_TOKEN", "abc\tquit=1");
    let run = git_get(
        &home,
        &["-e", "prod"],
        "protocol=https\nhost=git.prod.test\n",
    );
    run.code(1).stderr_has("was not printed");
    assert_eq!(run.stdout, "");

    let home = Home::new();
    home.env_file("prod", &issuer.env("LMI_GIT_HOSTS=git.prod.test"));
    for input in [
        "protocol=https://git.prod.test#\nhost=evil.test\n",
        "protocol=https\nhost=evil.test\\git.prod.test\n",
        "protocol=ftp\nhost=git.prod.test\n",
    ] {
        let run = git_get(&home, &[], input);
        run.success();
        assert_eq!(run.stdout, "", "{input:?}");
    }
}

/// docker's protocol, golden: `get` for a claimed registry, not-found for any other, `list`.
#[test]
fn docker_transcripts() {
    let issuer = Issuer::start();
    let home = Home::new();
    home.env_file(
        "dev",
        &issuer.env("LMI_GIT_HOSTS=registry.example.test,registry.example.test:5000"),
    );
    let base = issuer.server.base();

    let run = piped(
        &home,
        &["credential", "docker", "get"],
        "registry.example.test",
    );
    run.success();
    let token = issuer.last();
    assert_eq!(
        run.stdout.replace(&token, "<TOKEN>"),
        "{\"Secret\":\"<TOKEN>\",\"ServerURL\":\"registry.example.test\",\"Username\":\"oauth2\"}\n"
    );
    run.stderr_lacks(&token);

    let run = piped(
        &home,
        &["credential", "docker", "get"],
        "https://registry.example.test:5000\n",
    );
    run.success()
        .stdout_has("\"ServerURL\":\"https://registry.example.test:5000\"");

    let run = piped(
        &home,
        &["credential", "docker", "get"],
        "unknown.example.test\n",
    );
    run.code(1);
    assert_eq!(run.stdout, "credentials not found in native keychain\n");

    let run = piped(&home, &["credential", "docker", "list"], "");
    run.success();
    assert_eq!(
        run.stdout.replace(&base, "<SERVICE>"),
        "{\"<SERVICE>\":\"oauth2\",\"https://registry.example.test\":\"oauth2\",\"https://registry.example.test:5000\":\"oauth2\"}\n"
    );
    for action in ["store", "erase"] {
        piped(
            &home,
            &["credential", "docker", action],
            "{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"s\"}",
        )
        .success();
    }
    assert_eq!(issuer.requests(), 1);

    // Called by the name docker runs: a link named docker-credential-lmi.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("docker-credential-lmi");
    std::os::unix::fs::symlink(lmi(), &link).unwrap();
    let mut cmd = Command::new(&link);
    cmd.env_clear_keep(&home.cmd(["get"])).arg("get");
    Run::piped(cmd, "registry.example.test")
        .success()
        .stdout_has("\"Username\":\"oauth2\"");
}

trait ClearKeep {
    fn env_clear_keep(&mut self, from: &Command) -> &mut Self;
}

impl ClearKeep for Command {
    /// Only `from`'s environment (what `Home::cmd` sets).
    fn env_clear_keep(&mut self, from: &Command) -> &mut Self {
        self.env_clear();
        for (k, v) in from.get_envs() {
            if let Some(v) = v {
                self.env(k, v);
            }
        }
        self
    }
}

/// kubectl's exec protocol, golden, for the service token: v1 by default, the version
/// `KUBERNETES_EXEC_INFO` asks for.
#[test]
fn kube_transcripts_for_the_service_token() {
    let issuer = Issuer::start();
    let mut home = Home::new();
    home.env_file("dev", &issuer.env(""));
    home.run(["credential", "kube", "--token", "service"])
        .code(2)
        .stderr_has("-e NAME");
    let run = home.run(["-e", "dev", "credential", "kube", "--token", "service"]);
    run.success();
    let token = issuer.last();
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let expiry = answer["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(humantime::parse_rfc3339(&expiry).is_ok(), "{expiry}");
    assert_eq!(
        run.stdout
            .replace(&token, "<TOKEN>")
            .replace(&expiry, "<TIME>"),
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"expirationTimestamp\":\"<TIME>\",\"token\":\"<TOKEN>\"}}\n"
    );
    home.env(
        "KUBERNETES_EXEC_INFO",
        r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}"#,
    );
    let run = home.run(["-e", "dev", "credential", "kube", "--token", "service"]);
    run.success();
    assert_eq!(
        run.stdout
            .replace(&token, "<TOKEN>")
            .replace(&expiry, "<TIME>"),
        "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"expirationTimestamp\":\"<TIME>\",\"token\":\"<TOKEN>\"}}\n"
    );
    assert_eq!(issuer.requests(), 1);
}

/// `credential process`: one JSON object; -e required (LMI_ENV does not count).
#[test]
fn process_prints_one_json_object_for_the_named_environment() {
    let issuer = Issuer::start();
    let mut home = Home::new();
    home.env_file("dev", &issuer.env(""));
    home.env("LMI_ENV", "dev");
    home.run(["credential", "process"])
        .code(2)
        .stderr_has("-e NAME");
    let run = home.run(["-e", "dev", "credential", "process"]);
    run.success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["access_token"], issuer.last().as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["environment"], "dev");
    assert!(humantime::parse_rfc3339(v["expires_at"].as_str().unwrap()).is_ok());
}

/// The environment's policy holds for every helper that hands out its token: LMI_REQUIRE_SSO
/// with nobody signed in is exit 4 with the hint, and no token is fetched.
#[test]
fn a_policy_refusal_is_exit_4_for_git_docker_kube_and_process() {
    let issuer = Issuer::start();
    let home = Home::new();
    home.global_env(
        "OAUTH_SSO_ISSUER=http://127.0.0.1:9/\nOAUTH_SSO_CLIENT_ID=lmi-cli\nLMI_SSO_STORAGE=file\n",
    );
    home.env_file(
        "prod",
        &issuer.env("LMI_REQUIRE_SSO=true\nLMI_GIT_HOSTS=git.prod.test"),
    );
    let runs = [
        git_get(&home, &[], "protocol=https\nhost=git.prod.test\n"),
        piped(&home, &["credential", "docker", "get"], "git.prod.test"),
        home.run(["-e", "prod", "credential", "process"]),
        home.run(["-e", "prod", "credential", "kube", "--token", "service"]),
    ];
    for run in runs {
        run.code(4).stderr_has("run: lmi login sso");
        assert_eq!(run.stdout, "", "{run:#?}");
    }
    assert_eq!(issuer.requests(), 0);
}

/// A `$BROWSER` that records that it was started.
fn recording_browser(home: &mut Home) -> std::path::PathBuf {
    let dir = home.path().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("browser");
    let record = home.path().join("browser-started");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", record.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    home.env("BROWSER", script.to_str().unwrap());
    record
}

/// `interactiveMode: Never` and no session: exit 4 with the hint, and no browser.
#[test]
fn kube_without_a_session_exits_4_and_starts_no_browser() {
    let mut home = Home::new();
    home.global_env(
        "OAUTH_SSO_ISSUER=http://127.0.0.1:9/\nOAUTH_SSO_CLIENT_ID=lmi-cli\nLMI_SSO_STORAGE=file\n",
    );
    let record = recording_browser(&mut home);
    for mode in ["Never", "IfAvailable", "Always"] {
        home.env(
            "KUBERNETES_EXEC_INFO",
            &format!(
                r#"{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{{"interactive":false,"interactiveMode":"{mode}"}}}}"#
            ),
        );
        let run = home.run(["credential", "kube", "--token", "sso-id"]);
        run.code(4)
            .stderr_has("not signed in")
            .stderr_has("run: lmi login sso");
        assert_eq!(run.stdout, "");
    }
    assert!(!record.exists(), "no browser was started");
}

fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run the credential tests under scripts/with-keyring"
    );
}

/// kubectl runs the plugin before every request: 20 calls in a row with an expired session
/// make one refresh at the provider; the ID token is the one lmi verified, not in the log.
#[test]
fn twenty_kube_calls_with_an_expired_session_refresh_once() {
    require_keyring();
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "8"), ("IDP_ID_TOKEN_TTL", "8")]);
    let mut home = Home::new();
    home.global_env(&idp.sso_env());
    let record = recording_browser(&mut home);
    crate::sso::device_login(&idp, &home, "alice").success();

    let id_token = |run: &Run| -> String {
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        v["status"]["token"].as_str().unwrap().to_owned()
    };
    // Fresh from the login: answered from the session, no refresh.
    let run = home.run(["credential", "kube", "--token", "sso-id"]);
    run.success();
    let first = id_token(&run);
    assert_eq!(first.split('.').count(), 3, "a JWT");
    assert_eq!(idp.token_requests("refresh_token"), 0);

    std::thread::sleep(Duration::from_millis(8500));
    let mut tokens = Vec::new();
    for _ in 0..20 {
        let run = home.run(["-vv", "credential", "kube", "--token", "sso-id"]);
        run.success();
        let token = id_token(&run);
        run.stderr_lacks(&token);
        tokens.push(token);
    }
    assert_eq!(
        idp.token_requests("refresh_token"),
        1,
        "{}",
        idp.request_log()
    );
    assert_ne!(tokens[0], first, "a new ID token after the refresh");
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token for the burst"
    );
    home.log_lacks(&tokens[0]).log_lacks(&first);
    assert!(!record.exists(), "no browser");
}
