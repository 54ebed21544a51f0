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
        .stderr_has("plugin hostile 0.1.0 crashed running `panic`")
        // std's advice to set RUST_BACKTRACE cannot reach the sandbox: the SDK leaves it out.
        .nowhere("RUST_BACKTRACE");
}

#[test]
fn the_plugins_exit_code_passes_through() {
    let home = hostile();
    home.run(["exit3"]).code(3);
    // The log line says so at -v: an exit code is not an authorization code to mask.
    home.run(["-v", "exit3"])
        .code(3)
        .stderr_has("exit_code=3")
        .stderr_has("plugin finished");
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
            timeout: Duration::from_secs(secs).into(),
            exit_process_after_deadline: false,
            stop_on_signal: false,
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

// ---- R1.4: the deadline covers waiting ---------------------------------------------------

/// The hostile fixture with `service_requests` and `service_token` granted in `dev`, whose
/// service and token endpoint are `srv` (`/api`, `/token`).
pub(crate) fn hostile_granted(srv: &crate::support::fault::FaultServer) -> Home {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_plugin(&plugin_dir("tests/plugins/hostile"), dir.path());
    let manifest = dir.path().join("lmi-plugin.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(
        "\n[permissions]\nservice_token = true\nservice_requests = true\nenvironments = [\"dev\"]\n",
    );
    std::fs::write(&manifest, text).unwrap();
    let mut home = Home::new();
    home.install(dir.path());
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("sandbox-secret-77c1"));
    home.env("LMI_PLUGIN_TIMEOUT_SECS", "2")
        .env("LMI_PLUGIN_MEMORY_MB", "64");
    home
}

fn granted_token(n: usize) -> crate::support::fault::Reply {
    crate::support::fault::Reply::json(
        200,
        serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// A plugin blocked in `send-request` on a service that takes 30 s is stopped at its 2 s
/// deadline, not at the HTTP timeout.
#[test]
fn a_plugin_waiting_on_a_slow_service_is_stopped_at_the_deadline() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => granted_token(n),
        _ => Reply::status(200).delayed(std::time::Duration::from_secs(30)),
    });
    let mut home = hostile_granted(&srv);
    home.env("LMI_HTTP_TIMEOUT_SECS", "30");
    let (run, took) = timed(&home, &["request", "v1/slow"]);
    run.code(5)
        .stderr_has("plugin hostile 0.1.0 was stopped after 2 s");
    assert!(took.as_secs() < 6, "took {took:?}");
}

/// A plugin writing into a stdout pipe that nobody reads blocks in the write; the deadline
/// still ends the run with exit 5.
#[test]
fn a_plugin_writing_to_a_stdout_nobody_reads_is_stopped_at_the_deadline() {
    let home = hostile();
    let mut child = home
        .cmd(["flood"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Hold stdout open and never read it: the pipe fills and the plugin's write blocks.
    let _stdout = child.stdout.take();
    assert_stopped_at_the_deadline(child);
}

// ---- R1.2: the memory cap counts every memory of the run ---------------------------------

/// A component of the `plugin` world whose core module declares `count` memories of
/// `pages` 64 KiB pages each (multi-memory), and whose `run` returns `ok(0)`. The SDK cannot
/// express this, so it is encoded here.
fn many_memories_component(count: u32, pages: u64) -> Vec<u8> {
    memories_and_tables_component(count, pages, 0, 0)
}

/// [`many_memories_component`], plus `tables` funcref tables of `elements` entries each.
fn memories_and_tables_component(count: u32, pages: u64, tables: u32, elements: u64) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ConstExpr, ExportKind, ExportSection, Function, FunctionSection,
        GlobalSection, GlobalType, MemorySection, MemoryType, Module, RefType, TableSection,
        TableType, TypeSection, ValType,
    };
    let i32s = |n| vec![ValType::I32; n];
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function(i32s(4), i32s(1));
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0).function(0);
    module.section(&funcs);
    let mut table_section = TableSection::new();
    for _ in 0..tables {
        table_section.table(TableType {
            element_type: RefType::FUNCREF,
            minimum: elements,
            maximum: None,
            table64: false,
            shared: false,
        });
    }
    if tables > 0 {
        module.section(&table_section);
    }
    let mut memories = MemorySection::new();
    for _ in 0..count {
        memories.memory(MemoryType {
            minimum: pages,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
    }
    module.section(&memories);
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(1024),
    );
    module.section(&globals);
    let mut exports = ExportSection::new();
    exports
        .export("memory", ExportKind::Memory, 0)
        .export("cabi_realloc", ExportKind::Func, 0)
        .export("lmi:plugin/command@0.1.0#run", ExportKind::Func, 1);
    module.section(&exports);
    let mut code = CodeSection::new();
    // cabi_realloc(old, old_size, align, size): a bump allocator, 8-aligned.
    let mut realloc = Function::new([]);
    realloc
        .instructions()
        .global_get(0)
        .global_get(0)
        .local_get(3)
        .i32_add()
        .i32_const(7)
        .i32_add()
        .i32_const(-8)
        .i32_and()
        .global_set(0)
        .end();
    code.function(&realloc);
    // run(...) -> pointer to a zeroed return area: `ok(0)`.
    let mut run = Function::new([]);
    run.instructions().i32_const(8).end();
    code.function(&run);
    module.section(&code);
    let core = module.finish();

    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        // A contract-0.1 component (its export name above): the limits hold for every
        // contract.
        .push_dir(crate::support::repo_root().join("host/wit/v0.1"))
        .unwrap();
    let world = resolve.select_world(&[package], Some("plugin")).unwrap();
    crate::support::component_of(core, &resolve, world)
}

fn install_many_memories(home: &Home, count: u32, pages: u64) {
    install_component(home, many_memories_component(count, pages));
}

fn install_component(home: &Home, component: Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("memories.wasm"), component).unwrap();
    std::fs::write(
        dir.path().join("lmi-plugin.toml"),
        "name = \"memories\"\nversion = \"0.1.0\"\nlmi = \"^0.1\"\ncomponent = \"memories.wasm\"\n\
         description = \"Test fixture: many linear memories\"\n\n\
         [[commands]]\nname = \"memories\"\nabout = \"Declare many memories and return 0\"\n",
    )
    .unwrap();
    home.install(dir.path());
}

/// Eight memories of 60 MiB each, under a 64 MiB cap: each one fits, their sum does not.
#[test]
fn the_memory_cap_covers_the_sum_of_all_memories() {
    let home = hostile();
    install_many_memories(&home, 8, 960);
    home.run(["memories"])
        .code(5)
        .stderr_has("plugin memories 0.1.0 hit the memory limit of 64 MiB");
}

/// Tables count against the same cap as memories: twenty tables of 1,000,000 entries
/// (8 bytes each, 160 MB) beside one small memory, under a 64 MiB cap. Each table is within
/// the per-table entry bound and the count bound; only their bytes are over.
#[test]
fn the_memory_cap_covers_tables_too() {
    let home = hostile();
    install_component(&home, memories_and_tables_component(1, 1, 20, 1_000_000));
    home.run(["memories"])
        .code(5)
        .stderr_has("plugin memories 0.1.0 hit the memory limit of 64 MiB");
    // A few small tables run.
    let home = hostile();
    install_component(&home, memories_and_tables_component(1, 1, 4, 1000));
    home.run(["memories"]).success();
}

/// The same component with small memories runs: the fixture itself is sound, and a
/// component with a few memories is not refused for their number alone.
#[test]
fn a_component_with_a_few_small_memories_runs() {
    let home = hostile();
    install_many_memories(&home, 2, 1);
    home.run(["memories"]).success();
}

/// The red team's component (sixteen memories of 60 MiB) and fifty tiny ones (under the
/// byte cap) both exceed the number of memories a plugin needs.
#[test]
fn a_component_with_many_memories_is_refused_at_the_count_limit() {
    let home = hostile();
    install_many_memories(&home, 16, 960);
    home.run(["memories"])
        .code(5)
        .stderr_has("plugin memories 0.1.0")
        .stderr_has("memory count too high");
    let home = hostile();
    install_many_memories(&home, 50, 1);
    home.run(["memories"])
        .code(5)
        .stderr_has("memory count too high");
}

// ---- R1.12: encoded traversal and routing headers never reach the service ----------------

#[test]
fn encoded_traversal_and_routing_headers_from_a_plugin_never_reach_the_service() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => granted_token(n),
        _ => Reply::status(200),
    });
    let home = hostile_granted(&srv);
    for path in ["..%2f..%2fadmin", "x/..;/..;/admin", "..%252f..%252fadmin"] {
        home.run(["request", path])
            .success()
            .stdout_has("request: invalid-request");
    }
    for header in [
        "X-Original-URL",
        "X-Forwarded-For",
        "Forwarded",
        "X-HTTP-Method-Override",
    ] {
        home.run(["request-header", "v1/items", header, "/admin"])
            .success()
            .stdout_has("request: invalid-request");
    }
    let reached: Vec<String> = srv
        .requests()
        .iter()
        .filter(|r| r.path() != "/token")
        .map(|r| r.target.clone())
        .collect();
    assert!(reached.is_empty(), "reached the service: {reached:?}");
    // An ordinary request still goes through.
    home.run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
}

// ---- C0.2-10: a plugin's service requests name it; it cannot pose as another -------------

/// Every request a plugin sends to a service through lmi carries `User-Agent:
/// <plugin>/<version> lmi/<version>`, so the service can tell plugins apart; the header is
/// lmi's to set, so a plugin naming itself otherwise (posing as another plugin) is refused
/// before anything is sent. lmi's own token request names lmi alone.
#[test]
fn a_plugins_service_requests_name_it_and_it_cannot_pose_as_another() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => granted_token(n),
        _ => Reply::status(200),
    });
    let home = hostile_granted(&srv);
    home.run(["request", "v1/items"])
        .success()
        .stdout_has("request: status 200");
    for name in ["User-Agent", "user-agent"] {
        home.run(["request-header", "v1/items", name, "api/0.1.0 lmi/0.1.0"])
            .success()
            .stdout_has("request: invalid-request")
            .stdout_has("is set by lmi");
    }
    let requests = srv.requests();
    let reached: Vec<_> = requests.iter().filter(|r| r.path() != "/token").collect();
    assert_eq!(reached.len(), 1, "{reached:#?}");
    assert_eq!(
        reached[0].header("user-agent"),
        Some(concat!("hostile/0.1.0 lmi/", env!("CARGO_PKG_VERSION")))
    );
    let token = requests.iter().find(|r| r.path() == "/token").unwrap();
    assert_eq!(
        token.header("user-agent"),
        Some(concat!("lmi/", env!("CARGO_PKG_VERSION")))
    );
}

// ---- R1.13: a plugin's query string stays out of the log -------------------------------

#[test]
fn a_plugins_query_string_is_not_logged_and_at_vv_only_redacted() {
    use crate::support::fault::{FaultServer, Reply};
    let srv = FaultServer::start(|req, n| match req.path() {
        "/token" => granted_token(n),
        _ => Reply::status(200),
    });
    let home = hostile_granted(&srv);
    let secret = "k-5ec2e7-api-key";
    let path = format!("v1/items?api_key={secret}&page=2");
    home.run(["request", &path])
        .success()
        .stdout_has("request: status 200");
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(
        log.contains("/api/v1/items"),
        "the request is logged:\n{log}"
    );
    assert!(
        !log.contains("api_key"),
        "the query is not logged at INFO:\n{log}"
    );
    home.log_lacks(secret);

    let run = home.run(["-vv", "request", &path]);
    run.success().nowhere(secret);
    let log = std::fs::read_to_string(home.log_file()).unwrap();
    assert!(
        log.contains("api_key=****"),
        "-vv shows the query, redacted:\n{log}"
    );
    home.log_lacks(secret);
}

// ---- R2.6: plugin error text is stripped before lmi prints it ---------------------------

#[test]
fn a_plugins_error_text_reaches_the_terminal_without_control_sequences() {
    let home = hostile();
    let run = home.run(["fail-escapes"]);
    run.code(1).stderr_has("it failed").stderr_has("red");
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(
            !run.stderr.contains(bad),
            "{bad:?} reached stderr: {run:#?}"
        );
    }
    let log = std::fs::read_to_string(home.log_file()).unwrap_or_default();
    assert!(!log.contains('\u{1b}'), "escape in the log:\n{log}");
}

/// On a terminal (a pty from `script`), OSC 52 clipboard writes from a plugin are dropped,
/// in every introducer form terminals accept (`ESC ]`, C1 0x9D raw or as UTF-8, leading
/// zeros in the number); OSC 8 hyperlinks and colours pass. Piped, plugin stdout stays byte for byte.
#[cfg(target_os = "linux")]
#[test]
fn a_plugin_cannot_write_the_clipboard_through_a_terminal() {
    let home = hostile();
    let lmi = home.cmd(["print-escapes"]);
    let mut script = std::process::Command::new("script");
    script
        .args([
            "-qec",
            &format!("{} print-escapes", env!("CARGO_BIN_EXE_lmi")),
            "/dev/null",
        ])
        .env_clear()
        .stdin(Stdio::null());
    for (k, v) in lmi.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    let out = script.output().expect("script(1) from util-linux");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("print-escapes:"), "{shown:?}");
    assert!(shown.contains("\u{1b}[32mgreen"), "colours pass: {shown:?}");
    assert!(
        shown.contains("\u{1b}]8;;https://example.invalid/"),
        "hyperlinks pass: {shown:?}"
    );
    // The fixture also writes `ESC ] 052 ;` and the C1 introducer (U+009D as UTF-8 and raw
    // 0x9D): none of them may reach the terminal.
    assert!(
        !shown.contains("52;c;") && !shown.contains("cm0gLXJmIH4="),
        "the clipboard write reached the terminal: {shown:?}"
    );
    assert!(
        !out.stdout.contains(&0x9d),
        "a C1 OSC introducer reached the terminal: {shown:?}"
    );

    let piped = home.run(["print-escapes"]);
    piped.success().stdout_has("\u{1b}]52;c;cm0gLXJmIH4=\u{7}");
}
