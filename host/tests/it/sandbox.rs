//! What a plugin may not do, and what happens when it tries: the hostile fixture plugin
//! (tests/plugins/hostile) run through the real binary.

use std::io::Read;
use std::process::Stdio;

use crate::support::{Home, Run, plugin_dir};

fn hostile() -> Home {
    let mut home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "2")
        .env("LMI_PLUGIN_MEMORY_MB", "64");
    home
}

fn timed(home: &Home, args: &[&str]) -> (Run, std::time::Duration) {
    let start = std::time::Instant::now();
    let run = home.run(args);
    (run, start.elapsed())
}

#[test]
fn an_endless_loop_is_stopped_at_the_deadline() {
    let home = hostile();
    let (run, took) = timed(&home, &["spin"]);
    run.code(5)
        .stderr_has("plugin hostile 0.1.0 was stopped after 2 s");
    assert!(took.as_secs() < 15, "took {took:?}");
}

#[test]
fn stdin_reaches_the_plugin() {
    use std::io::Write;
    let home = hostile();
    let mut child = home
        .cmd(["echo-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped into lmi\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo-stdin: piped into lmi\n"
    );
}

#[test]
fn a_plugin_waiting_on_stdin_is_stopped_at_the_deadline() {
    let home = hostile();
    let mut child = home
        .cmd(["echo-stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Hold stdin open and silent: the plugin waits for input that never comes.
    let _stdin = child.stdin.take();
    assert_stopped_at_the_deadline(child);
}

#[test]
fn a_plugin_waiting_in_the_host_is_stopped_at_the_deadline() {
    let home = hostile();
    let (run, took) = timed(&home, &["sleep"]);
    run.code(5)
        .stderr_has("plugin hostile 0.1.0 was stopped after 2 s");
    assert!(!run.stdout.contains("WOKE"), "{run:#?}");
    assert!(took.as_secs() < 15, "took {took:?}");
}

/// The deadline of a computing plugin is a SIGALRM timer: a parent that blocked the signal
/// must not switch it off.
#[cfg(unix)]
#[test]
fn the_deadline_holds_when_the_parent_blocked_sigalrm() {
    use std::os::unix::process::CommandExt;
    let home = hostile();
    let mut cmd = home.cmd(["spin"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_stopped_at_the_deadline(child);
}

/// Waits at most 15 s for a run (with piped stderr) that must end at the 2 s deadline;
/// kills it and fails if it does not.
fn assert_stopped_at_the_deadline(mut child: std::process::Child) {
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed().as_secs() >= 15 {
            child.kill().unwrap();
            panic!("the plugin was not stopped: the deadline never fired");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("was stopped after 2 s"), "{stderr}");
}

/// A zero limit would mean no deadline at all (or no memory): it is refused, naming the key.
#[test]
fn zero_limits_are_refused() {
    let mut home = hostile();
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "0");
    home.run(["exit3"])
        .code(2)
        .stderr_has("LMI_PLUGIN_TIMEOUT_SECS")
        .stderr_has("at least 1");
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "2")
        .env("LMI_PLUGIN_MEMORY_MB", "0");
    home.run(["exit3"])
        .code(2)
        .stderr_has("LMI_PLUGIN_MEMORY_MB");
}

#[test]
fn unbounded_memory_is_stopped_at_the_cap() {
    let home = hostile();
    home.run(["grow"])
        .code(5)
        .stderr_has("plugin hostile 0.1.0 hit the memory limit of 64 MiB");
}

#[test]
fn deep_recursion_is_a_crash_not_a_host_failure() {
    let home = hostile();
    home.run(["recurse"])
        .code(5)
        .stderr_has("plugin hostile 0.1.0 crashed running `recurse`")
        .stderr_has("hostile::recurse");
}

#[test]
fn a_panic_exits_5_with_its_message() {
    let home = hostile();
    home.run(["panic"])
        .code(5)
        .stderr_has("hostile plugin panicked on purpose")
        .stderr_has("plugin hostile 0.1.0 crashed running `panic`");
}

#[test]
fn the_plugins_exit_code_passes_through() {
    let home = hostile();
    home.run(["exit3"]).code(3);
    // WASI 0.2's exit carries success or failure only: `process::exit(7)` arrives as 1.
    home.run(["exit-process"]).code(1);
}

#[test]
fn typed_plugin_errors_map_to_exit_codes() {
    let home = hostile();
    home.run(["usage"])
        .code(2)
        .stderr_has("usage: lmi usage <x>");
    home.run(["fail"]).code(1).stderr_has("it failed");
}

#[test]
fn host_files_are_out_of_reach() {
    let home = hostile();
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    for path in [secret.to_str().unwrap(), "/etc/passwd", "."] {
        let run = home.run(["read-file", path]);
        run.success().stdout_has("read-file: denied");
        assert!(!run.stdout.contains("READ"), "{run:#?}");
    }
}

#[test]
fn environment_variables_are_not_inherited() {
    let mut home = hostile();
    home.env("LMI_TEST_PLANTED", "planted-value");
    home.run(["read-env", "LMI_TEST_PLANTED"])
        .success()
        .stdout_has("read-env: unset");
    home.run(["read-env", "HOME"])
        .success()
        .stdout_has("read-env: unset");
}

#[test]
fn sockets_are_denied() {
    let home = hostile();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    home.run(["connect", &addr])
        .success()
        .stdout_has("connect: denied");
}

#[test]
fn credentials_need_the_permission() {
    let home = hostile();
    home.run(["-e", "prod", "token"])
        .success()
        .stdout_has("token: denied")
        .stdout_has("service_token");
    home.run(["-e", "prod", "request", "v1/x"])
        .success()
        .stdout_has("request: denied")
        .stdout_has("service_requests");
}

#[test]
fn a_closed_stdout_ends_a_flood_cleanly() {
    let home = hostile();
    let mut child = home
        .cmd(["flood"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    stdout.read_exact(&mut buf).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
}

#[test]
fn args_reach_the_plugin_verbatim() {
    let home = hostile();
    home.run(["args", "--flag", "-x", "two words", "--"])
        .success()
        .stdout_has("--flag\n-x\ntwo words\n--\n");
}

/// In a host that runs many plugins on one engine, the deadline of a finished run must not
/// fire into a later one.
#[test]
fn a_finished_runs_deadline_does_not_interrupt_the_next_run_on_the_same_engine() {
    use lmi::paths::Paths;
    use lmi::plugins::store::Store;
    use lmi::runtime::{self, HostState, Limits};
    use std::time::{Duration, Instant};

    let home = hostile();
    // The harness's XDG layout: config/lmi, cache/lmi, data/lmi.
    let paths = Paths::from_dirs(home.config(), home.cache(), home.data());
    let settings = lmi::settings::Settings::load(paths.clone(), None).unwrap();
    let plugin = Store::new(&paths).get("hostile").unwrap();
    let engine = runtime::engine().unwrap();
    let component = runtime::load_installed(&engine, &paths, &plugin).unwrap();
    let run = |command: &str, secs: u64| {
        let host = HostState::new(
            plugin.label(),
            plugin.manifest.permissions.clone(),
            settings.clone(),
        );
        let limits = Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(secs),
        };
        runtime::run_plugin(&engine, &component, host, limits, command, &[])
    };

    assert_eq!(run("exit3", 1).unwrap(), 3);
    let started = Instant::now();
    let err = run("spin", 4).unwrap_err();
    let took = started.elapsed();
    assert!(err.to_string().contains("stopped after 4 s"), "{err}");
    assert!(
        took >= Duration::from_secs(3),
        "interrupted early, after {took:?}"
    );
}
