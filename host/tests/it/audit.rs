//! The audit trail of credential use (issue 13, item 4): one JSON line per token read,
//! service request and refusal, in a 0600 file lmi opens without following links, rotated
//! by size, never holding a secret; and no credential used when the line cannot be written.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::fault::{FaultServer, Reply};
use crate::support::{Home, Run, copy_plugin, plugin_dir};

const TOKEN_PREFIX: &str = "tok-audit-7c1e-";
const CLIENT_SECRET: &str = "audit-client-secret-4b7e";
const QUERY_SECRET: &str = "query-secret-91c3";
const HEADER_SECRET: &str = "header-secret-d20f";
const BODY_SECRET: &str = "body-secret-6a58";

/// `/token` issues `tok-audit-7c1e-<n>`; the service answers 404 under `/missing`, else 200.
fn server() -> FaultServer {
    FaultServer::start(|req, n| match req.path() {
        "/token" => Reply::json(
            200,
            json!({"access_token": format!("{TOKEN_PREFIX}{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        p if p.ends_with("/missing") => Reply::json(404, json!({"error": "not_found"})),
        _ => Reply::json(200, json!({"ok": true})),
    })
}

fn home_for(srv: &FaultServer) -> Home {
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env(CLIENT_SECRET));
    home
}

/// The hostile fixture granted the service token and requests in `dev`.
fn install_granted_hostile(home: &Home) {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "\n[permissions]\nservice_token = true\nservice_requests = true\nenvironments = [\"dev\"]\n",
    );
    std::fs::write(&manifest, text).unwrap();
    home.install(dir.path());
}

fn audit_file(home: &Home) -> PathBuf {
    home.data().join("audit.jsonl")
}

/// Every line of the trail, each checked to be one whole JSON object.
#[track_caller]
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a partial last line: {text}"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[track_caller]
fn no_secret_in(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} in:\n{text}");
    }
}

/// A token read, service requests (with a query, a header and a body that are secrets, and
/// an error status), a plugin refused for want of the permission, and `lmi auth token`: one
/// line each, with what was used and how it ended, and not one secret in the trail, the
/// output or the log at `-vv`.
#[test]
fn a_token_read_requests_and_refusals_are_recorded_without_a_secret() {
    let srv = server();
    let home = home_for(&srv);
    home.install(&plugin_dir("plugins/api"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    let work = tempfile::tempdir().unwrap();
    let token = format!("{TOKEN_PREFIX}1");

    home.run_in(work.path(), ["-vv", "api", "token"])
        .success()
        .stdout_has(&token);
    let header = format!("X-Api-Key: {HEADER_SECRET}");
    let path = format!("v1/items?api_key={QUERY_SECRET}&page=2");
    let mut runs: Vec<Run> = vec![
        home.run_in(
            work.path(),
            [
                "-vv",
                "api",
                "post",
                "-H",
                &header,
                "-d",
                BODY_SECRET,
                &path,
            ],
        ),
        home.run_in(work.path(), ["-vv", "api", "get", "v1/missing"]),
        home.run(["-vv", "token"]),
        home.run(["-vv", "request", &path]),
    ];
    runs[0].success();
    runs[1].code(1);
    runs[2].success().stdout_has("token: denied");
    runs[3].success().stdout_has("request: denied");
    home.run(["-vv", "auth", "token"])
        .success()
        .stdout_has(&token);
    runs.push(home.run(["-vv", "auth", "status"]));
    runs[4]
        .success()
        .stdout_has(&format!("Audit log: {}", audit_file(&home).display()));
    let secrets = [
        token.as_str(),
        CLIENT_SECRET,
        QUERY_SECRET,
        HEADER_SECRET,
        BODY_SECRET,
    ];
    for run in &runs {
        for secret in secrets {
            run.nowhere(secret);
        }
    }
    for secret in secrets {
        home.log_lacks(secret);
    }
    let text = std::fs::read_to_string(audit_file(&home)).unwrap();
    no_secret_in(&text, &secrets);
    no_secret_in(&text, &["X-Api-Key", "api_key", "Bearer", "?"]);

    let got = lines(&audit_file(&home));
    assert_eq!(got.len(), 6, "{text}");
    for line in &got {
        assert_eq!(line["env"], "dev", "{line}");
        assert_eq!(line["sso_subject"], Value::Null, "{line}");
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(line["pid"].as_u64().is_some(), "{line}");
    }
    let pick = |line: &Value, keys: &[&str]| -> Value {
        keys.iter()
            .map(|k| {
                (
                    k.to_string(),
                    line.get(*k).cloned().unwrap_or(json!("<absent>")),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let keys = [
        "by", "plugin", "version", "command", "use", "service", "method", "path", "status",
        "outcome", "reason", "error",
    ];
    let absent = "<absent>";
    assert_eq!(
        pick(&got[0], &keys),
        json!({"by": "plugin", "plugin": "api", "version": "0.1.0", "command": "api",
               "use": "token", "service": null, "method": absent, "path": absent,
               "status": absent, "outcome": "ok", "reason": absent, "error": absent})
    );
    assert_eq!(
        pick(&got[1], &keys),
        json!({"by": "plugin", "plugin": "api", "version": "0.1.0", "command": "api",
               "use": "service-request", "service": null, "method": "POST",
               "path": "v1/items", "status": 200, "outcome": "ok", "reason": absent,
               "error": absent})
    );
    assert_eq!(got[2]["method"], "GET");
    assert_eq!(got[2]["path"], "v1/missing");
    assert_eq!(got[2]["status"], 404);
    assert_eq!(got[2]["outcome"], "ok");
    assert_eq!(
        pick(&got[3], &keys),
        json!({"by": "plugin", "plugin": "hostile", "version": "0.1.0", "command": "token",
               "use": "token", "service": null, "method": absent, "path": absent,
               "status": absent, "outcome": "refused", "reason": "permission",
               "error": "denied"})
    );
    assert_eq!(
        pick(&got[4], &keys),
        json!({"by": "plugin", "plugin": "hostile", "version": "0.1.0", "command": "request",
               "use": "service-request", "service": null, "method": "GET",
               "path": "v1/items", "status": null, "outcome": "refused",
               "reason": "permission", "error": "denied"})
    );
    assert_eq!(
        pick(&got[5], &keys),
        json!({"by": "lmi", "plugin": null, "version": null, "command": "auth token",
               "use": "token", "service": null, "method": absent, "path": absent,
               "status": absent, "outcome": "ok", "reason": absent, "error": absent})
    );
}

/// A plugin that holds the token tries to write it into the trail through the one field it
/// controls, the request path (a segment, the query, the fragment; behind an escape
/// sequence; after a newline with a forged line): the token is masked, the escape and the
/// newline are gone, and every line is lmi's own.
#[test]
fn a_plugin_cannot_launder_the_token_or_a_forged_line_into_the_trail() {
    let srv = server();
    let home = home_for(&srv);
    install_granted_hostile(&home);
    home.run(["-vv", "launder-token"]).success();
    let text = std::fs::read_to_string(audit_file(&home)).unwrap();
    no_secret_in(
        &text,
        &[TOKEN_PREFIX, "\u{1b}", "\\u001b", "\u{7}", "\\u0007", "\\n"],
    );
    let got = lines(&audit_file(&home));
    assert_eq!(got.len(), 3, "{text}");
    assert_eq!(got[0]["use"], "token");
    assert!(
        got[1]["path"]
            .as_str()
            .unwrap()
            .starts_with("v1/echo/****/"),
        "{text}"
    );
    for line in &got {
        assert_ne!(line["outcome"], "forged", "{text}");
        assert!(line.get("token").is_none(), "{text}");
        assert_eq!(line["plugin"], "hostile");
    }
}

/// Eight `lmi` processes at once, each making 25 service requests: 200 whole lines, each
/// one JSON object, 25 from each process.
#[test]
fn eight_concurrent_commands_all_write_whole_lines() {
    let srv = server();
    let home = home_for(&srv);
    install_granted_hostile(&home);
    let path = format!("v1/items?page={QUERY_SECRET}");
    let jobs: Vec<Vec<&str>> = (0..8).map(|_| vec!["request-flood", "25", &path]).collect();
    for run in home.spawn_all(&jobs) {
        run.success().stdout_has("request-flood: 25 status 200");
    }
    let got = lines(&audit_file(&home));
    assert_eq!(got.len(), 200);
    let mut per_process = std::collections::BTreeMap::new();
    for line in &got {
        assert_eq!(line["use"], "service-request", "{line}");
        assert_eq!(line["path"], "v1/items", "{line}");
        assert_eq!(line["status"], 200, "{line}");
        *per_process
            .entry(line["pid"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(per_process.len(), 8, "{per_process:?}");
    assert!(per_process.values().all(|n| *n == 25), "{per_process:?}");
}

/// A trail at its size (10 MiB) is rotated before the next line: the file becomes `.1`, the
/// older ones move up, the fifth is dropped, and the new line starts a new file.
#[test]
fn a_full_trail_is_rotated_and_four_older_files_kept() {
    let srv = server();
    let home = home_for(&srv);
    install_granted_hostile(&home);
    let file = audit_file(&home);
    let old_line = format!("{{\"old\":true,\"pad\":\"{}\"}}\n", "x".repeat(1000));
    let full = old_line.repeat((10 << 20) / old_line.len() + 1);
    std::fs::write(&file, &full).unwrap();
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", file.display()));
    for n in 1..=4 {
        std::fs::write(rotated(n), format!("{{\"generation\":{n}}}\n")).unwrap();
    }
    home.run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
    let got = lines(&file);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["use"], "service-request");
    assert_eq!(std::fs::read_to_string(rotated(1)).unwrap(), full);
    for n in 2..=4 {
        assert_eq!(
            lines(&rotated(n)),
            vec![json!({"generation": n - 1})],
            "{}",
            rotated(n).display()
        );
    }
    assert!(!rotated(5).exists());
}

/// `LMI_AUDIT_LOG=off` writes nothing and `auth status` says so; a chosen absolute path is
/// written (0600, new directories 0700) and named; a relative one is a configuration error
/// that stops credential use.
#[test]
fn the_trail_can_be_turned_off_or_moved() {
    let srv = server();
    let mut off = home_for(&srv);
    install_granted_hostile(&off);
    off.env("LMI_AUDIT_LOG", "off");
    off.run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
    assert!(!audit_file(&off).exists());
    off.run(["auth", "status"])
        .success()
        .stdout_has("Audit log: off (LMI_AUDIT_LOG=off)");
    let status: Value =
        serde_json::from_str(&off.run(["auth", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(
        status["audit_log"],
        json!({"enabled": false, "path": null, "error": null})
    );

    let mut moved = home_for(&srv);
    install_granted_hostile(&moved);
    let chosen = moved.path().join("company/audit/lmi.jsonl");
    moved.env("LMI_AUDIT_LOG", chosen.to_str().unwrap());
    moved
        .run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
    assert!(!audit_file(&moved).exists());
    assert_eq!(lines(&chosen).len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&chosen), 0o600);
        assert_eq!(mode(chosen.parent().unwrap()), 0o700);
    }
    moved
        .run(["auth", "status"])
        .success()
        .stdout_has(&format!("Audit log: {}", chosen.display()));
    let status: Value =
        serde_json::from_str(&moved.run(["auth", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status["audit_log"]["path"], chosen.to_str().unwrap());

    let mut relative = home_for(&srv);
    install_granted_hostile(&relative);
    relative.env("LMI_AUDIT_LOG", "audit.jsonl");
    relative
        .run(["request", "v1/items"])
        .success()
        .stdout_has("request: denied")
        .stderr_has("LMI_AUDIT_LOG");
    relative
        .run(["auth", "token"])
        .code(2)
        .stderr_has("absolute path");
    relative
        .run(["auth", "status"])
        .success()
        .stdout_has("Audit log: unusable");
    assert_eq!(srv.count("/token"), 2, "the off and moved homes only");
}

/// Under a group umask the trail is still 0600 in a 0700 directory; a link planted in its
/// place is never written through: the token is not handed over, nothing is fetched, and
/// the link's target is untouched.
#[cfg(unix)]
#[test]
fn the_trail_is_private_and_a_planted_link_is_not_followed() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let srv = server();
    let home = home_for(&srv);
    install_granted_hostile(&home);
    let mut cmd = home.cmd(["request", "v1/items"]);
    // SAFETY: umask is async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    let run = Run::from(cmd.output().unwrap());
    run.success().stdout_has("request: status 200");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&audit_file(&home)), 0o600);
    assert_eq!(mode(&home.data()), 0o700);

    let victim = home.path().join("victim");
    std::fs::write(&victim, "untouched\n").unwrap();
    std::fs::remove_file(audit_file(&home)).unwrap();
    std::os::unix::fs::symlink(&victim, audit_file(&home)).unwrap();
    let tokens = srv.count("/token");
    home.run(["token"])
        .success()
        .stdout_has("token: denied")
        .stderr_has("cannot write the audit log")
        .stderr_has("symbolic link");
    let printed = home.run(["auth", "token"]);
    printed.code(1).stderr_has("cannot write the audit log");
    assert_eq!(printed.stdout, "");
    assert_eq!(srv.count("/token"), tokens, "no token was fetched");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
}

/// A trail that cannot be written refuses the use (fail closed). Opening fails (a directory
/// in its place): nothing is fetched or sent. Writing fails after the request went out (the
/// file may grow no further, `RLIMIT_FSIZE`): the plugin does not get the answer. Either way
/// lmi says so on stderr, naming the file.
#[cfg(unix)]
#[test]
fn an_unwritable_trail_refuses_credential_use() {
    use std::os::unix::process::CommandExt;
    let srv = server();
    let home = home_for(&srv);
    install_granted_hostile(&home);
    home.install(&plugin_dir("plugins/api"));
    let work = tempfile::tempdir().unwrap();
    let file = audit_file(&home);
    std::fs::create_dir_all(&file).unwrap();
    home.run_in(work.path(), ["api", "get", "v1/items"])
        .code(1)
        .stderr_has("cannot write the audit log")
        .stderr_has(&file.display().to_string());
    home.run(["token"]).success().stdout_has("token: denied");
    assert_eq!(srv.requests().len(), 0, "nothing fetched, nothing sent");
    std::fs::remove_dir(&file).unwrap();

    // Room for no more than what is there.
    std::fs::write(&file, "x".repeat(4096)).unwrap();
    let mut cmd = home.cmd(["request", "v1/items"]);
    cmd.env("LMI_LOG_FILE", "off");
    // SAFETY: setrlimit and signal are async-signal-safe. SIGXFSZ is ignored so the write
    // fails (EFBIG) instead of killing the process.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let run = Run::from(cmd.output().unwrap());
    run.success()
        .stdout_has("request: denied")
        .stderr_has("cannot write the audit log");
    assert!(!run.stdout.contains("status 200"), "{run:#?}");
    assert_eq!(srv.count("/api/v1/items"), 1, "the request went out");
}

/// The signed-in user's subject is in each line, read without the keychain (here from the
/// opted-in session file).
#[test]
fn the_signed_in_users_subject_is_recorded() {
    use crate::support::fake_idp::{self, FakeIdp, Fault};
    let idp = FakeIdp::start(Fault::None);
    let srv = server();
    let mut home = home_for(&srv);
    home.global_env(&format!("default_environment=dev\n{}", idp.sso_env()));
    home.env("LMI_SSO_STORAGE", "file");
    crate::hardening::fake_sso_login(&idp, &mut home);
    install_granted_hostile(&home);
    home.run(["request", "v1/items"]).success();
    home.run(["auth", "token"]).success();
    let got = lines(&audit_file(&home));
    assert_eq!(got.len(), 2);
    for line in got {
        assert_eq!(line["sso_subject"], fake_idp::SUBJECT, "{line}");
    }
}

/// A command the environment policy refuses is recorded once, as a refused `command` with
/// the policy's reason; `lmi auth token` refused the same way too.
#[test]
fn a_policy_refusal_is_recorded() {
    let mut home = Home::new();
    home.install(&crate::support::plugin_dir("plugins/hello"));
    home.global_env(
        "default_environment=prod\nOAUTH_SSO_ISSUER=https://idp.example.invalid\nOAUTH_SSO_CLIENT_ID=lmi-cli\n",
    );
    home.env_file("prod", "LMI_REQUIRE_SSO=true\n");
    home.env("LMI_SSO_STORAGE", "file")
        .env("LMI_ACCESS_TOKEN", "policy-token-8c");
    home.run(["hello"]).code(4);
    home.run(["auth", "token"])
        .code(4)
        .nowhere("policy-token-8c");
    let lines = lines(&audit_file(&home));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["by"], "plugin");
    assert_eq!(lines[0]["plugin"], "hello");
    assert_eq!(lines[0]["command"], "hello");
    assert_eq!(lines[0]["env"], "prod");
    assert_eq!(lines[0]["use"], "command");
    assert_eq!(lines[0]["outcome"], "refused");
    assert_eq!(lines[0]["reason"], "sso-required");
    assert_eq!(lines[1]["by"], "lmi");
    assert_eq!(lines[1]["command"], "auth token");
    assert_eq!(lines[1]["reason"], "sso-required");
}

/// The global file's `LMI_AUDIT_LOG` holds against the process environment: `off` there does
/// not turn a company's trail off (review finding).
#[test]
fn the_process_environment_cannot_turn_off_a_trail_the_global_file_sets() {
    let srv = server();
    let mut home = home_for(&srv);
    let trail = home.path().join("company-audit.jsonl");
    let global = std::fs::read_to_string(home.config().join(".env")).unwrap_or_default();
    home.global_env(&format!("{global}LMI_AUDIT_LOG={}\n", trail.display()));
    home.env("LMI_AUDIT_LOG", "off")
        .env("LMI_ACCESS_TOKEN", "company-token-3f");
    home.run(["auth", "token"])
        .success()
        .stderr_has("LMI_AUDIT_LOG in the process environment is ignored");
    let lines = lines(&trail);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["command"], "auth token");
}
