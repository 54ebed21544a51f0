//! Hostile inputs the other suites do not already cover, each with the real binary: a plugin
//! reaching for another environment's token, identity providers that answer huge, redirect,
//! omit `expires_in` or issue the wrong token type, a service that answers 401 forever,
//! sixteen concurrent processes, and state on disk that was truncated, replaced or damaged.
//! docs/reliability.md lists every fault with the test that proves it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fault::{FaultServer, Reply};
use crate::support::{Home, copy_plugin, plugin_dir};

const SECRET: &str = "hardening-client-secret-4b1d";

fn env_for(srv: &FaultServer) -> String {
    srv.client_credentials_env(SECRET)
}

/// A home whose `dev` env uses `srv`, with a 3 s HTTP budget.
fn home_for(srv: &FaultServer) -> Home {
    let mut home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &env_for(srv));
    home.env("LMI_HTTP_TIMEOUT_SECS", "3");
    home
}

fn good_token(n: usize) -> Reply {
    Reply::json(
        200,
        json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
    )
}

fn cache_file(home: &Home, env: &str) -> PathBuf {
    home.cache().join("tokens").join(format!("{env}.json"))
}

fn read_cache(home: &Home, env: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(cache_file(home, env)).unwrap()).unwrap()
}

fn set_line(file: &Path, prefix: &str, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !found && l.trim_start().starts_with(prefix) {
                found = true;
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(
        found,
        "{} has no line starting with {prefix}",
        file.display()
    );
    std::fs::write(file, out.join("\n") + "\n").unwrap();
}

// ---- hostile plugins -------------------------------------------------------------------

#[test]
fn a_plugin_granted_dev_only_cannot_get_the_prod_token() {
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => good_token(n),
        _ => Reply::status(404),
    });
    let home = home_for(&srv);
    home.env_file("prod", &env_for(&srv));
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("plugins/api"), dir.path());
    set_line(
        &dir.path().join("lmi-plugin.toml"),
        "environments",
        r#"environments = ["dev"]"#,
    );
    home.install(dir.path())
        .stderr_has("read the service access token itself (environments: dev)");

    let denied = home.run(["-e", "prod", "api", "token"]);
    denied
        .code(1)
        .stderr_has("denied")
        .stderr_has("may not use credentials in environment `prod`");
    assert!(!denied.stdout.contains("tok-"), "{denied:#?}");
    assert_eq!(
        srv.count("/token"),
        0,
        "no token was fetched for a denied env"
    );
    assert!(!cache_file(&home, "prod").exists());

    // The grant it does hold still works, and the host is fine after the refusal.
    home.run(["-e", "dev", "api", "token"])
        .success()
        .stdout_has("tok-1");
}

// ---- hostile token endpoints -----------------------------------------------------------

#[test]
fn a_multi_megabyte_token_answer_is_refused_and_nothing_is_cached() {
    let srv = FaultServer::start(|_, _| {
        let padding = "x".repeat(4 << 20);
        Reply::json(
            200,
            json!({"access_token": "huge", "token_type": "Bearer", "expires_in": 60, "pad": padding}),
        )
    });
    let home = home_for(&srv);
    let start = Instant::now();
    let run = home.run(["auth", "token"]);
    run.code(1)
        .stderr_has("larger than")
        .stderr_has("environment `dev`");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(!cache_file(&home, "dev").exists());
}

#[test]
fn a_redirecting_token_endpoint_is_not_followed() {
    let elsewhere = FaultServer::start(|_, n| good_token(n));
    let target = elsewhere.url("/token");
    let srv = FaultServer::start(move |_, _| {
        let mut r = Reply::status(302);
        r.headers.push(("Location".into(), target.clone()));
        r
    });
    let home = home_for(&srv);
    let run = home.run(["auth", "token"]);
    assert_ne!(run.code, 0, "{run:#?}");
    run.stderr_has("environment `dev`").nowhere(SECRET);
    assert_eq!(srv.count("/token"), 1);
    assert_eq!(
        elsewhere.count("/token"),
        0,
        "the client secret was replayed to the redirect target"
    );
    assert!(!cache_file(&home, "dev").exists());
}

#[test]
fn a_token_without_expires_in_is_kept_for_the_default_lifetime() {
    let srv = FaultServer::start(|_, n| {
        Reply::json(
            200,
            json!({"access_token": format!("tok-{n}"), "token_type": "bearer"}),
        )
    });
    let home = home_for(&srv);
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    let cached = read_cache(&home, "dev");
    let lifetime = cached["expires_at"].as_u64().unwrap() - cached["obtained_at"].as_u64().unwrap();
    assert_eq!(lifetime, 300, "{cached}");
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    assert_eq!(srv.count("/token"), 1, "the token was reused");
}

#[test]
fn a_token_of_the_wrong_type_is_refused_and_not_cached() {
    let srv = FaultServer::start(|_, _| {
        Reply::json(
            200,
            json!({"access_token": "mac-token-value", "token_type": "mac", "expires_in": 60}),
        )
    });
    let home = home_for(&srv);
    home.run(["auth", "token"])
        .code(4)
        .stderr_has("issued a `mac` token; lmi can only use Bearer tokens")
        .nowhere("mac-token-value");
    assert!(!cache_file(&home, "dev").exists());
}

#[test]
fn a_service_that_answers_401_forever_gets_two_tries_and_a_clear_error() {
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => good_token(n),
        _ => Reply::status(401),
    });
    let home = home_for(&srv);
    home.install(&plugin_dir("plugins/api"));
    let start = Instant::now();
    let run = home.run(["api", "get", "v1/items"]);
    run.code(4)
        .stderr_has("401")
        .stderr_has("environment `dev`")
        .nowhere(SECRET);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(
        srv.count("/api/v1/items"),
        2,
        "one try and one retry, no loop"
    );
    assert_eq!(srv.count("/token"), 2, "one token, one renewal");
}

// ---- concurrency -------------------------------------------------------------------------

/// Sixteen `lmi` processes at once against one home: token fetches with an empty cache,
/// plugin runs, installs of two versions of the same plugin, removals of another, status
/// reads and SSO logouts. Afterwards: one token request (single flight), every token
/// printed is that one, the cache parses, the plugin store holds exactly one complete
/// version of each plugin and no staging leftovers.
#[test]
fn sixteen_processes_leave_cache_and_plugin_store_whole() {
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => good_token(n).delayed(Duration::from_millis(300)),
        _ => Reply::status(404),
    });
    let mut home = home_for(&srv);
    home.env("LMI_SSO_STORAGE", "file")
        .env("LMI_LOG_FILE", "off");
    home.install(&plugin_dir("plugins/hello"));
    let v1 = plugin_dir("plugins/hello");
    let v2 = tempfile::tempdir().unwrap();
    copy_plugin(&v1, v2.path());
    set_line(
        &v2.path().join("lmi-plugin.toml"),
        "version",
        r#"version = "0.2.0""#,
    );

    let mut jobs: Vec<(&str, Vec<String>)> = Vec::new();
    for _ in 0..6 {
        jobs.push(("token", vec!["auth".into(), "token".into()]));
    }
    for i in 0..4 {
        let dir = if i % 2 == 0 {
            v1.clone()
        } else {
            v2.path().to_owned()
        };
        jobs.push((
            "install",
            vec![
                "plugin".into(),
                "install".into(),
                dir.display().to_string(),
                "--yes".into(),
            ],
        ));
    }
    for _ in 0..3 {
        jobs.push(("run", vec!["hello".into(), "x".into()]));
    }
    jobs.push(("status", vec!["auth".into(), "status".into()]));
    jobs.push(("logout", vec!["logout".into(), "sso".into()]));
    jobs.push(("logout", vec!["logout".into(), "sso".into()]));
    assert_eq!(jobs.len(), 16);

    let args: Vec<_> = jobs.iter().map(|(_, args)| args.clone()).collect();
    for ((kind, _), run) in jobs.iter().zip(home.spawn_all(&args)) {
        let (code, stdout, stderr) = (Some(run.code), run.stdout, run.stderr);
        assert!(!stderr.contains("panicked"), "{kind} panicked: {stderr}");
        assert_ne!(code, Some(101), "{kind}: {stderr}");
        match *kind {
            "token" => {
                assert_eq!(code, Some(0), "{kind}: {stderr}");
                assert_eq!(stdout.trim(), "tok-1");
            }
            "install" | "run" | "status" => assert_eq!(code, Some(0), "{kind}: {stderr}"),
            // Signed out already: whatever logout says, it must not disturb the rest.
            _ => {}
        }
    }
    assert_eq!(
        srv.count("/token"),
        1,
        "single flight: one token request for six processes"
    );
    assert_eq!(read_cache(&home, "dev")["access_token"], "tok-1");

    let plugins = home.data().join("plugins");
    let versions: Vec<String> = std::fs::read_dir(plugins.join(".versions"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "exactly one complete version is left: {versions:?}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&plugins)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".link-") || n.starts_with(".staging"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    home.run(["hello"]).success().stdout_has("Hello, world!");
    home.run(["plugin", "list"]).success().stdout_has("hello");
    let tokens = home.cache().join("tokens");
    for entry in std::fs::read_dir(&tokens).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            name == "dev.json" || name == "dev.lock",
            "stray file {name} in the cache"
        );
    }
}

// ---- corrupted state -----------------------------------------------------------------------

#[test]
fn truncated_and_empty_cache_files_are_replaced() {
    let srv = FaultServer::start(|_, n| good_token(n));
    let home = home_for(&srv);
    home.run(["auth", "token"]).success().stdout_has("tok-1");
    let full = std::fs::read(cache_file(&home, "dev")).unwrap();
    for (i, bad) in [full[..full.len() / 2].to_vec(), Vec::new(), vec![0u8; 64]]
        .into_iter()
        .enumerate()
    {
        std::fs::write(cache_file(&home, "dev"), &bad).unwrap();
        home.run(["auth", "status"])
            .success()
            .stdout_has("unusable");
        let run = home.run(["auth", "token"]);
        run.success().stdout_has(&format!("tok-{}", i + 2));
        assert_eq!(
            read_cache(&home, "dev")["access_token"],
            format!("tok-{}", i + 2)
        );
    }
}

#[test]
fn a_directory_in_place_of_the_cache_file_does_not_stop_lmi() {
    let srv = FaultServer::start(|_, n| good_token(n));
    let home = home_for(&srv);
    std::fs::create_dir_all(cache_file(&home, "dev").join("junk")).unwrap();
    // The token is fetched and used; it cannot be kept, which is said, not fatal.
    home.run(["-v", "auth", "token"])
        .success()
        .stdout_has("tok-1");
    home.run(["auth", "token"]).success().stdout_has("tok-2");
}

#[test]
fn an_unreadable_env_file_is_a_usage_error_naming_it() {
    let srv = FaultServer::start(|_, n| good_token(n));
    let home = home_for(&srv);
    // Root reads any file whatever its mode; a directory cannot be read by anyone.
    let path = home.config().join("env/dev.env");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    home.run(["auth", "token"])
        .code(2)
        .stderr_has("cannot read")
        .stderr_has("dev.env");
    assert_eq!(srv.count("/token"), 0);
}

#[test]
fn a_malformed_global_config_is_named_without_quoting_it() {
    let home = Home::new();
    home.global_env(&format!(
        "default_environment=dev\nOAUTH_CLIENT_SECRET \"{SECRET}\n"
    ));
    home.run(["env", "list"])
        .code(2)
        .stderr_has(".env")
        .stderr_has("syntax error")
        .nowhere(SECRET);
}

#[test]
fn a_plugin_missing_its_component_and_artifact_says_reinstall() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    // With the artifact in place the plugin still runs: lmi never reads the component then.
    std::fs::remove_file(home.data().join("plugins/hello/component.wasm")).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");
    std::fs::remove_dir_all(home.cache().join("compiled")).unwrap();
    home.run(["hello"])
        .code(5)
        .stderr_has("cannot read its component")
        .stderr_has("reinstall it");
    // Other plugins are unaffected.
    home.run(["args", "ok"]).success().stdout_has("ok");
}

#[test]
fn a_plugin_missing_its_manifest_is_skipped_with_a_warning() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    home.install(&plugin_dir("tests/plugins/hostile"));
    std::fs::remove_file(home.data().join("plugins/hello/lmi-plugin.toml")).unwrap();
    home.run(["plugin", "list"])
        .success()
        .stdout_has("hostile")
        .stderr_has("ignoring installed plugin `hello`");
    home.run(["args", "ok"]).success().stdout_has("ok");
    home.run(["hello"]).code(2);
}

#[test]
fn an_artifact_from_another_wasmtime_is_rebuilt_not_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let artifact = std::fs::read_dir(home.cache().join("compiled"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    // wasmtime's serialized component records the wasmtime version that made it. Claim
    // another version and re-seal lmi's checksum beside it, so only wasmtime's own check
    // stands between the artifact and execution.
    let mut payload = std::fs::read(&artifact).unwrap();
    // wasmtime writes its major version into the `.wasmtime.engine` section, length-prefixed.
    let major = wasmtime_version().split('.').next().unwrap().to_owned();
    let mut needle = vec![u8::try_from(major.len()).unwrap()];
    needle.extend_from_slice(major.as_bytes());
    let at = payload
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the artifact names its wasmtime version")
        + 1;
    payload[at] = if payload[at] == b'9' { b'1' } else { b'9' };
    std::fs::write(&artifact, &payload).unwrap();
    let mut checksum = artifact.as_os_str().to_owned();
    checksum.push(".crc32");
    std::fs::write(checksum, format!("{:08x}", crc32fast::hash(&payload))).unwrap();

    home.run(["hello"])
        .success()
        .stdout_has("Hello, world!")
        .stderr_has("recompiling plugin hello 0.1.0");
    let again = home.run(["hello"]);
    again.success();
    assert!(!again.stderr.contains("recompiling"), "{again:#?}");
}

/// The wasmtime version from the lockfile (the one the host was built with).
fn wasmtime_version() -> String {
    let lock = std::fs::read_to_string(crate::support::repo_root().join("Cargo.lock")).unwrap();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"wasmtime\"" {
            let v = lines.next().unwrap();
            return v
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_owned();
        }
    }
    panic!("wasmtime is not in Cargo.lock");
}

#[test]
fn failed_token_answers_leave_nothing_cached() {
    let faults: Vec<(&str, Reply)> = vec![
        ("HTTP 500", Reply::status(500)),
        (
            "malformed JSON",
            Reply::raw(200, "application/json", "{\"access_token\": "),
        ),
        ("an empty body", Reply::raw(200, "application/json", "")),
        ("HTML", Reply::raw(200, "text/html", "<html>login</html>")),
        (
            "invalid_client",
            Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "bad secret"}),
            ),
        ),
        (
            "no access_token",
            Reply::json(200, json!({"token_type": "Bearer", "expires_in": 60})),
        ),
        ("a hang", good_token(1).delayed(Duration::from_secs(8))),
    ];
    for (what, reply) in faults {
        let srv = FaultServer::start(move |_, _| reply.clone());
        let home = home_for(&srv);
        let start = Instant::now();
        let run = home.run(["auth", "token"]);
        assert!(
            run.code == 1 || run.code == 4,
            "{what}: expected failure, got {run:#?}"
        );
        run.stderr_has("environment `dev`").nowhere(SECRET);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{what}: took {:?}",
            start.elapsed()
        );
        assert!(
            !cache_file(&home, "dev").exists(),
            "{what}: something was cached"
        );
    }
}

/// A long-lived host (the library, as `lmi` uses it) runs each hostile command in turn in one
/// process: every one is stopped with its own cause, and a well-behaved command still runs
/// afterwards.
#[test]
fn one_host_process_survives_every_hostile_plugin_in_turn() {
    use lmi::paths::Paths;
    use lmi::plugins::store::Store;
    use lmi::runtime::{self, HostState, Limits, RunError};
    use lmi::settings::Settings;

    let home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    // Paths::under(root) wants root/{config,cache,data}: point them at the home's lmi dirs.
    let root = tempfile::tempdir().unwrap();
    for (name, target) in [
        ("config", home.config()),
        ("cache", home.cache()),
        ("data", home.data()),
    ] {
        std::fs::create_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&target, root.path().join(name)).unwrap();
    }
    let paths = Paths::under(root.path());
    let plugin = Store::new(&paths).get("hostile").unwrap();
    let settings = Settings::load(paths.clone(), Some("dev")).unwrap();
    let limits = Limits {
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(1).into(),
        exit_process_after_deadline: false,
        stop_on_signal: false,
    };
    // One engine for every run, as a long-lived host would keep: an earlier run's deadline
    // must not fire into a later run (it did before 85ae91a: each run's ticker bumped the
    // shared epoch a second after the run started, interrupting whatever ran then).
    let engine = runtime::engine().unwrap();
    let run = |command: &str, args: &[&str]| {
        let component = runtime::load_installed(&engine, &paths, &plugin).unwrap();
        let host = HostState::new(
            plugin.label(),
            plugin.manifest.permissions.clone(),
            settings.clone(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        runtime::run_plugin(&engine, &component, host, limits, command, &args)
    };
    for _ in 0..3 {
        assert!(matches!(run("spin", &[]), Err(RunError::Timeout { .. })));
        assert!(matches!(run("grow", &[]), Err(RunError::Memory { .. })));
        assert!(matches!(run("recurse", &[]), Err(RunError::Crashed { .. })));
        assert!(matches!(run("panic", &[]), Err(RunError::Crashed { .. })));
        assert!(matches!(run("fail", &[]), Err(RunError::Failed { .. })));
        assert_eq!(run("exit3", &[]).unwrap(), 3);
        assert_eq!(run("read-file", &["/etc/passwd"]).unwrap(), 0);
        assert_eq!(run("token", &[]).unwrap(), 0);
    }
    assert_eq!(run("args", &["still", "alive"]).unwrap(), 0);
}

/// Signs in against the fake provider with file storage: `$BROWSER` is a script that hands
/// the authorization URL to this test, which plays the provider and the browser.
pub(crate) fn fake_sso_login(idp: &crate::support::fake_idp::FakeIdp, home: &mut Home) {
    let url_file = home.path().join("auth-url");
    let script = home.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {}.tmp && mv {0}.tmp {0}\n",
            url_file.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    home.env("BROWSER", script.to_str().unwrap());
    let login = home
        .cmd(["login", "sso"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Ok(url) = std::fs::read_to_string(&url_file) {
            break url;
        }
        assert!(
            Instant::now() < deadline,
            "lmi login sso never opened the browser"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let callback = idp.authorize(&url);
    let page = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(callback.as_str())
        .send()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let out = login.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sixteen processes around an SSO session kept in a file: forced refreshes, session reads
/// (`whoami`, `auth status`), logouts, service-token fetches and installs, all at once. The
/// session file is never left half-written: afterwards it is absent or a whole record.
#[test]
fn sixteen_processes_around_an_sso_session_leave_it_whole_or_gone() {
    use crate::support::fake_idp::{self, FakeIdp, Fault};
    let idp = FakeIdp::start(Fault::None);
    let srv = FaultServer::start(|_, n| good_token(n).delayed(Duration::from_millis(200)));
    let mut home = home_for(&srv);
    home.global_env(&format!("default_environment=dev\n{}", idp.sso_env()));
    home.env("LMI_SSO_STORAGE", "file")
        .env("LMI_LOG_FILE", "off");
    fake_sso_login(&idp, &mut home);
    let session = home.data().join("sso-session.json");
    assert!(session.exists());
    home.install(&plugin_dir("plugins/hello"));
    home.run(["whoami"]).success().stdout_has(fake_idp::EMAIL);

    let mut jobs: Vec<(&str, Vec<&str>)> = Vec::new();
    jobs.extend(std::iter::repeat_n(("refresh", vec!["auth", "refresh"]), 4));
    jobs.extend(std::iter::repeat_n(("read", vec!["whoami"]), 3));
    jobs.extend(std::iter::repeat_n(("status", vec!["auth", "status"]), 2));
    jobs.extend(std::iter::repeat_n(("logout", vec!["logout", "sso"]), 2));
    jobs.extend(std::iter::repeat_n(("token", vec!["auth", "token"]), 3));
    let hello = plugin_dir("plugins/hello");
    let hello = hello.to_str().unwrap();
    jobs.extend(std::iter::repeat_n(
        ("install", vec!["plugin", "install", hello, "--yes"]),
        2,
    ));
    assert_eq!(jobs.len(), 16);
    let args: Vec<_> = jobs.iter().map(|(_, args)| args.clone()).collect();
    for ((kind, _), out) in jobs.iter().zip(home.spawn_all(&args)) {
        let stderr = out.stderr.clone();
        assert!(!stderr.contains("panicked"), "{kind} panicked: {stderr}");
        assert_ne!(out.code, 101, "{kind}: {stderr}");
        match *kind {
            "token" => {
                assert_eq!(out.code, 0, "{kind}: {stderr}");
                assert_eq!(out.stdout.trim(), "tok-1");
            }
            "install" | "status" | "logout" => assert_eq!(out.code, 0, "{kind}: {stderr}"),
            // Signed in or already signed out by a concurrent logout: either is an answer.
            _ => assert_ne!(out.code, -1, "{kind} was killed"),
        }
    }
    assert_eq!(
        srv.count("/token"),
        1,
        "single flight for the service token"
    );
    if session.exists() {
        let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&session).unwrap())
            .expect("the session file is a whole record");
        assert_eq!(rec["sub"], fake_idp::SUBJECT);
    }
    let leftovers: Vec<String> = std::fs::read_dir(home.data())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Whatever the interleaving, lmi is usable: signed out now, and status says so.
    home.run(["logout", "sso"]).success();
    home.run(["auth", "status"]).success();
    home.run(["whoami"])
        .code(4)
        .stderr_has("run: lmi login sso");
    home.run(["hello"]).success();
}

// ---- R1.7: one renewal per run -----------------------------------------------------------

/// A plugin that sends 25 requests to a service answering 401 forever: one token, one
/// renewal, then every further 401 is `auth-failed` without another token request.
#[test]
fn a_run_renews_a_rejected_token_once_however_many_requests_it_makes() {
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => good_token(n),
        _ => Reply::status(401),
    });
    let mut home = crate::sandbox::hostile_granted(&srv);
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "60");
    let run = home.run(["request-flood", "25", "v1/items"]);
    run.success()
        .stdout_has("request-flood: 1 auth-failed")
        .stdout_has("request-flood: 25 auth-failed");
    assert_eq!(srv.count("/token"), 2, "one token and one renewal in all");
    assert_eq!(
        srv.count("/api/v1/items"),
        26,
        "the first request is retried once, the rest are not"
    );
}

// ---- R1.6: identity only where promised --------------------------------------------------

/// `get-sso-user` answers a plugin's command only when it `requires_sso` or the plugin was
/// granted `sso_identity`; `is-sso-authenticated` answers every plugin.
#[test]
fn sso_identity_reaches_only_requires_sso_commands_and_granted_plugins() {
    use crate::support::fake_idp::{self, FakeIdp, Fault};
    let idp = FakeIdp::start(Fault::None);
    let mut home = Home::new();
    home.global_env(&idp.sso_env());
    home.env("LMI_SSO_STORAGE", "file");
    fake_sso_login(&idp, &mut home);
    home.install(&plugin_dir("tests/plugins/hostile"));

    let run = home.run(["identity"]);
    run.success()
        .stdout_has("identity: authenticated true")
        .stdout_has("identity: no identity");
    assert!(!run.stdout.contains(fake_idp::SUBJECT), "{run:#?}");

    // A plugin granted `sso_identity` gets it in every command; the grant is shown at install.
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str("\n[permissions]\nsso_identity = true\n");
    std::fs::write(&manifest, text).unwrap();
    home.run(["plugin", "remove", "hostile"]).success();
    home.install(dir.path())
        .stderr_has("your SSO identity (subject, email, name)");
    home.run(["identity"])
        .success()
        .stdout_has(&format!("identity: subject {}", fake_idp::SUBJECT));

    // A `requires_sso` command was promised the identity.
    home.run(["plugin", "remove", "hostile"]).success();
    home.install(&plugin_dir("plugins/hello"));
    home.run(["whoami"]).success().stdout_has(fake_idp::EMAIL);
}
