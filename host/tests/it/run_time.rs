//! Declared run times and Ctrl-C (issue 21): a command's `timeout_secs` or `timeout = "none"`
//! instead of `LMI_PLUGIN_TIMEOUT_SECS`, `LMI_PLUGIN_MAX_TIMEOUT_SECS` over any declaration,
//! the run time shown and granted at install, and SIGINT/SIGTERM delivered to a running
//! `lmi` ending the run promptly with every cache and store whole.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::fault::{FaultServer, Reply};
use crate::support::{Home, Run, copy_plugin, plugin_dir};

fn hostile() -> PathBuf {
    plugin_dir("tests/plugins/hostile")
}

/// The hostile fixture (its `follow` runs until stopped, its `linger` declares 3 s).
fn home_with_hostile() -> Home {
    let home = Home::new();
    home.install(&hostile());
    home
}

// ---- declared run times ---------------------------------------------------------------------

#[test]
fn a_declared_run_time_outlives_the_default_deadline() {
    let mut home = home_with_hostile();
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "1");
    // 1 s is the limit of every command that declares nothing...
    let started = Instant::now();
    home.run(["sleep"])
        .code(5)
        .stderr_has("was stopped after 1 s (the limit set by LMI_PLUGIN_TIMEOUT_SECS)");
    assert!(started.elapsed() < Duration::from_secs(5));
    // ...but `linger` declares 3 s, and finishes at 2.
    home.run(["linger", "2"])
        .success()
        .stdout_has("linger: DONE after 2 s");
}

#[test]
fn a_declared_run_time_is_a_limit_too() {
    let home = home_with_hostile();
    let started = Instant::now();
    home.run(["linger", "10"])
        .code(5)
        .stderr_has("was stopped after 3 s (the limit set by the command's `timeout_secs`)")
        .stdout_lacks("DONE");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[test]
fn the_users_cap_ends_a_declared_run_at_the_cap_and_names_it() {
    let mut home = home_with_hostile();
    home.env("LMI_PLUGIN_MAX_TIMEOUT_SECS", "1");
    for (args, what) in [
        (&["linger", "2"][..], "3 s declared"),
        (&["follow"], "none"),
    ] {
        let started = Instant::now();
        home.run(args)
            .code(5)
            .stderr_has("was stopped after 1 s (the limit set by LMI_PLUGIN_MAX_TIMEOUT_SECS)");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
    }
    // A cap above the declaration changes nothing.
    home.env("LMI_PLUGIN_MAX_TIMEOUT_SECS", "60");
    home.run(["linger", "1"]).success();
}

#[test]
fn a_bad_cap_is_a_configuration_error_naming_the_key() {
    let mut home = home_with_hostile();
    home.env("LMI_PLUGIN_MAX_TIMEOUT_SECS", "soon");
    home.run(["linger", "1"])
        .code(2)
        .stderr_has("LMI_PLUGIN_MAX_TIMEOUT_SECS");
}

// ---- shown and granted at install -----------------------------------------------------------

#[test]
fn the_install_prompt_and_plugin_info_show_each_declared_run_time() {
    let home = Home::new();
    let run = home.install(&hostile());
    run.stderr_has("`lmi follow` may run until you stop it")
        .stderr_has("`lmi linger` may run up to 3 s");
    home.run(["plugin", "info", "hostile"])
        .success()
        .stdout_has("may run until you stop it")
        .stdout_has("may run up to 3 s");
}

/// A copy of the hostile fixture whose `linger` declares `declaration` instead, at `version`.
fn declare_linger(dir: &Path, declaration: &str, version: &str) {
    let text = std::fs::read_to_string(hostile().join("lmi-plugin.toml")).unwrap();
    assert!(text.contains("timeout_secs = 3\n"));
    let text = text
        .replacen("timeout_secs = 3\n", &format!("{declaration}\n"), 1)
        .replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        );
    std::fs::write(dir.join("lmi-plugin.toml"), text).unwrap();
}

#[test]
fn a_longer_run_time_asks_again_and_a_linked_manifest_cannot_take_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&hostile(), dir.path());
    let home = Home::new();
    home.install(dir.path());
    // An upgrade that lengthens `linger` is a new grant: without a terminal or --yes, refused.
    declare_linger(dir.path(), "timeout_secs = 3600", "0.2.0");
    let run = home.run([
        "plugin".as_ref(),
        "install".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert_ne!(run.code, 0, "{run:#?}");
    run.stderr_has("let `lmi linger` run up to 1 h (`timeout_secs = 3600`)");
    // One that shortens it asks nothing.
    declare_linger(dir.path(), "timeout_secs = 2", "0.2.1");
    home.run([
        "plugin".as_ref(),
        "install".as_ref(),
        dir.path().as_os_str(),
    ])
    .success()
    .stderr_has("asks for nothing new");

    // A linked plugin's author edits the manifest after the grant: the run is refused.
    let linked = tempfile::tempdir().unwrap();
    copy_plugin(&hostile(), linked.path());
    let home = Home::new();
    home.link(linked.path());
    declare_linger(linked.path(), "timeout = \"none\"", "0.1.0");
    let run = home.run(["linger", "1"]);
    assert_ne!(run.code, 0, "{run:#?}");
    run.stderr_has("let `lmi linger` run until you stop it")
        .stdout_lacks("DONE");
}

// ---- Ctrl-C ---------------------------------------------------------------------------------

/// `lmi <args>` started with its stdout piped, once it printed `ready`.
fn started_until(home: &Home, args: &[&str], ready: &str) -> (Child, String) {
    let mut child = home.spawn_piped(args);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains(ready) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!("lmi ended or hung before {ready:?}; printed {seen:?}");
        }
        seen.push_str(&line);
    }
    // Keep reading so the plugin never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, seen)
}

/// Sends `signal` to `child` and waits for it to end: its run, and how long that took.
pub(crate) fn signal_and_wait(mut child: Child, signal: &str) -> (Run, Duration) {
    let sent = Instant::now();
    // `kill(1)`: tests hold no unsafe code. The child is not reaped before this returns.
    let killed = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let took = sent.elapsed();
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            let run = Run {
                code: status.code().unwrap_or(-1),
                stdout: String::new(),
                stderr,
            };
            return (run, took);
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("lmi did not end within 20 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every file under `dir` whose name is not one lmi keeps: the temp files an interrupted
/// write would leave (`tempfile`'s `.tmp…`, lmi's `.lmi-edit-…`).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(leftovers(&path));
        } else {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp") || name.starts_with(".lmi-edit-") {
                found.push(path);
            }
        }
    }
    found
}

pub(crate) fn assert_no_leftovers(home: &Home) {
    let left: Vec<_> = [home.cache(), home.data(), home.config()]
        .iter()
        .flat_map(|d| leftovers(d))
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}");
}

/// Ctrl-C on a command that runs until stopped ends it within about a second, whether it
/// waits in the host or computes in wasm, with exit 130 (SIGTERM: 143).
#[test]
fn ctrl_c_ends_a_run_that_would_never_end_promptly_with_130() {
    let home = home_with_hostile();
    for (args, signal, code) in [
        (&["follow"][..], "INT", 130),
        (&["follow", "spin"], "INT", 130),
        (&["follow"], "TERM", 143),
    ] {
        let (child, _) = started_until(&home, args, "follow: STARTED");
        // Let it settle into its wait (or its loop).
        std::thread::sleep(Duration::from_millis(300));
        let (run, took) = signal_and_wait(child, signal);
        eprintln!("figure: {args:?} signal {signal} -> exit in {took:?}");
        run.code(code)
            .stderr_has("plugin hostile 0.1.0 was stopped by");
        assert!(
            took < Duration::from_millis(1500),
            "{args:?}: took {took:?}"
        );
    }
    assert_no_leftovers(&home);
}

/// The hostile fixture granted the service token in `dev`, against `srv`'s token endpoint.
fn home_with_token_plugin(srv: &FaultServer) -> (Home, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    copy_plugin(&hostile(), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[permissions]\nservice_token = true\nenvironments = [\"dev\"]\n"),
    )
    .unwrap();
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("s3cret-run-time"));
    home.install(dir.path());
    (home, dir)
}

pub(crate) fn token_cache(home: &Home) -> serde_json::Value {
    let text = std::fs::read(home.cache().join("tokens/dev.json")).expect("token cache");
    serde_json::from_slice(&text).expect("the token cache is whole JSON")
}

#[test]
fn ctrl_c_after_a_token_was_cached_leaves_the_cache_whole_and_the_next_run_uses_it() {
    let srv = FaultServer::token_endpoint();
    let (home, _dir) = home_with_token_plugin(&srv);
    let (child, seen) = started_until(&home, &["follow", "token"], "follow: STARTED");
    assert!(seen.contains("follow: token GOT"), "{seen}");
    let before = token_cache(&home);
    let (run, took) = signal_and_wait(child, "INT");
    eprintln!("figure: follow token, SIGINT -> exit in {took:?}");
    run.code(130);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(token_cache(&home), before);
    assert_no_leftovers(&home);
    // The lock is free and the cached token good: the next run takes it without a request.
    home.run(["token"]).success().stdout_has("token: GOT");
    assert_eq!(srv.count("/token"), 1, "the cached token was reused");
    home.run(["plugin", "list"]).success().stdout_has("hostile");
}

#[test]
fn ctrl_c_during_a_token_fetch_ends_the_run_and_writes_nothing_half() {
    // The token endpoint answers after 2 s; Ctrl-C comes while lmi waits for it.
    let srv = FaultServer::start(|req, n| {
        match req.path() {
        "/token" => Reply::json(
            200,
            serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        )
        .delayed(Duration::from_secs(2)),
        _ => Reply::status(404),
    }
    });
    let (home, _dir) = home_with_token_plugin(&srv);
    let mut child = home
        .cmd(["follow", "token"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while srv.count("/token") == 0 {
        assert!(Instant::now() < deadline, "no token request");
        assert!(child.try_wait().unwrap().is_none(), "lmi ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (run, took) = signal_and_wait(child, "INT");
    eprintln!("figure: SIGINT mid token fetch -> exit in {took:?}");
    run.code(130);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_no_leftovers(&home);
    // Whatever was on disk is whole; the next command fetches or reuses as it should.
    if home.cache().join("tokens/dev.json").exists() {
        token_cache(&home);
    }
    home.run(["token"]).success().stdout_has("token: GOT");
    home.run(["auth", "token"]).success();
    assert_no_leftovers(&home);
}
