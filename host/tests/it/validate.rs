//! `lmi plugin validate <DIR>`: every install check, without installing, each problem on its
//! own line with what to do about it, exit 2 if there is any. The broken plugins are copies
//! of `plugins/hello` with one thing changed.

use std::path::{Path, PathBuf};

use crate::support::{Home, Run, copy_plugin, plugin_dir};

/// A copy of hello in `tmp/<name>` whose manifest is `edit`ed.
fn broken(tmp: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dir = tmp.join(name);
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    let manifest = dir.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "{name}: the edit changed nothing");
    std::fs::write(manifest, edited).unwrap();
    dir
}

fn validate(home: &Home, dir: &Path) -> Run {
    home.run(["plugin", "validate", dir.to_str().unwrap()])
}

/// The `error:` lines validate printed.
fn problems(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

#[test]
fn a_good_plugin_passes_every_check_and_is_not_installed() {
    let home = Home::new();
    let run = validate(&home, &plugin_dir("plugins/hello"));
    run.success();
    let oks: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(oks.len(), 6, "one line per check: {run:#?}");
    assert!(oks.iter().all(|l| l.starts_with("ok: ")), "{run:#?}");
    run.stdout_has("ok: manifest hello 0.1.0 declares `lmi hello`, `lmi whoami`")
        .stdout_has("ok: works with this lmi")
        .stdout_has("ok: not signed")
        .stdout_has("implements contract lmi:plugin@0.3.0")
        .stdout_has("ok: no clash with installed plugins' commands")
        .stdout_has("see your SSO identity (subject, email, name) in: whoami");
    home.run(["plugin", "list"])
        .success()
        .stderr_has("No plugins installed");
}

#[test]
fn each_broken_plugin_is_reported_with_its_own_message() {
    let tmp = tempfile::tempdir().unwrap();
    let core_module = {
        let dir = broken(tmp.path(), "core", |m| m.replace("hello.wasm", "core.wasm"));
        std::fs::write(dir.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
        dir
    };
    let not_wasm = {
        let dir = broken(tmp.path(), "text", |m| m.replace("hello.wasm", "notes.txt"));
        std::fs::write(dir.join("notes.txt"), "just text").unwrap();
        dir
    };
    let wrong_world = {
        let dir = tmp.path().join("wrong-world");
        copy_plugin(&plugin_dir("tests/plugins/wrong-world"), &dir);
        dir
    };
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "missing directory",
            tmp.path().join("nowhere"),
            "cannot open plugin directory",
        ),
        (
            "no manifest",
            {
                let d = tmp.path().join("empty");
                std::fs::create_dir(&d).unwrap();
                d
            },
            "no lmi-plugin.toml in",
        ),
        (
            "unknown field",
            broken(tmp.path(), "unknown", |m| {
                m.replace("description =", "colour = \"blue\"\ndescription =")
            }),
            "unknown field `colour`, expected one of",
        ),
        (
            "bad name",
            broken(tmp.path(), "name", |m| {
                m.replacen("name = \"hello\"", "name = \"Hello\"", 1)
            }),
            "plugin name `Hello` is invalid",
        ),
        (
            "unmet lmi requirement",
            broken(tmp.path(), "req", |m| {
                m.replace("lmi = \"^0.1\"", "lmi = \">=9\"")
            }),
            "requires lmi >=9, but this is lmi 0.1.0",
        ),
        (
            "missing component",
            broken(tmp.path(), "missing", |m| {
                m.replace("hello.wasm", "gone.wasm")
            }),
            "cannot read the component",
        ),
        (
            "core module",
            core_module,
            "is a core WebAssembly module, not a component: build the plugin for the `wasm32-wasip2` target",
        ),
        ("not wasm", not_wasm, "the file is not WebAssembly"),
        (
            "wrong world",
            wrong_world,
            "does not implement the lmi:plugin world this host offers",
        ),
        (
            "permissions without environments",
            broken(tmp.path(), "perms", |m| {
                m + "\n[permissions]\nservice_token = true\n"
            }),
            "`environments` must list the environments",
        ),
    ];
    let home = Home::new();
    for (case, dir, message) in &cases {
        let run = validate(&home, dir);
        run.code(2);
        let found = problems(&run);
        assert_eq!(
            found.len(),
            1,
            "{case}: expected exactly one problem: {run:#?}"
        );
        assert!(
            found[0].contains(message),
            "{case}: expected {message:?} in {run:#?}"
        );
        run.stderr_has("cannot be installed: 1 problem (nothing was installed)");

        // Validate and install agree: install refuses the same directory for the same reason.
        let install = home.run(["plugin", "install", dir.to_str().unwrap(), "--yes"]);
        install.code(2);
        assert!(
            install.stderr.contains(message),
            "{case}: install said something else: {install:#?}"
        );
    }
    home.run(["plugin", "list"])
        .success()
        .stderr_has("No plugins installed");
}

/// Every rule a manifest breaks is named, by `validate` one line each, and by `install`,
/// which refuses the directory.
#[test]
fn every_manifest_problem_is_named_by_validate_and_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = broken(tmp.path(), "three", |m| {
        m.replacen("name = \"hello\"", "name = \"Hello\"", 1)
            .replace("name = \"whoami\"", "name = \"login\"")
            .replace(
                "about = \"Greet someone and show the active environment and SSO state\"",
                "about = \" \"",
            )
    });
    let want = [
        "plugin name `Hello` is invalid",
        "command `hello` has an empty `about`",
        "command `login` clashes with the built-in `lmi login`",
    ];
    let home = Home::new();
    let run = validate(&home, &dir);
    run.code(2);
    let found = problems(&run);
    assert_eq!(found.len(), 3, "{run:#?}");
    for (found, want) in found.iter().zip(want) {
        assert!(found.contains(want), "{want:?} in {run:#?}");
    }
    run.stderr_has("cannot be installed: 3 problems");

    let install = home.run(["plugin", "install", dir.to_str().unwrap(), "--yes"]);
    install
        .code(2)
        .stderr_has("cannot be installed: 3 problems");
    for want in want {
        install.stderr_has(want);
    }
    home.run(["plugin", "list"])
        .success()
        .stderr_has("No plugins installed");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = broken(tmp.path(), "many", |m| {
        m.replace("description =", "colour = \"blue\"\ndescription =")
            .replace("lmi = \"^0.1\"", "lmi = \">=9\"")
            .replace("hello.wasm", "gone.wasm")
    });
    let home = Home::new();
    let run = validate(&home, &dir);
    run.code(2);
    let found = problems(&run);
    assert_eq!(found.len(), 3, "{run:#?}");
    // The TOML problem, on one line with its location and without the file's text.
    assert!(
        found[0].contains("lmi-plugin.toml: line 5, column 1: unknown field `colour`"),
        "{run:#?}"
    );
    assert!(found[1].contains("requires lmi >=9"), "{run:#?}");
    assert!(found[2].contains("gone.wasm"), "{run:#?}");
    run.stderr_has("cannot be installed: 3 problems");

    let json = home.run([
        "plugin",
        "validate",
        dir.to_str().unwrap(),
        "--output",
        "json",
    ]);
    json.code(2);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["manifest", "lmi", "component"]);
}

#[test]
fn a_clash_with_an_installed_plugin_is_a_problem_but_an_upgrade_is_not() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let tmp = tempfile::tempdir().unwrap();

    // Another plugin with both of hello's commands: two clashes, two lines.
    let rival = broken(tmp.path(), "rival", |m| {
        m.replacen("name = \"hello\"", "name = \"rival\"", 1)
    });
    let run = validate(&home, &rival);
    run.code(2);
    assert_eq!(problems(&run).len(), 2, "{run:#?}");
    run.stderr_has("error: command `hello` of plugin rival is already provided by the installed plugin hello 0.1.0")
        .stderr_has("error: command `whoami` of plugin rival is already provided by the installed plugin hello 0.1.0");

    let upgrade = broken(tmp.path(), "upgrade", |m| {
        m.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
    });
    validate(&home, &upgrade)
        .success()
        .stdout_has("installing would replace hello 0.1.0");
}

// ---- resource bounds (R2.7) ----------------------------------------------------------------

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb128(content.len()));
    out.extend_from_slice(content);
    out
}

/// A core module whose one function is `depth` nested blocks: cheap to parse, costly to
/// compile (3 MB took seconds and hundreds of MB).
fn nested_blocks_module(depth: usize) -> Vec<u8> {
    let mut body = vec![0x00];
    for _ in 0..depth {
        body.extend_from_slice(&[0x02, 0x40]);
    }
    body.extend(std::iter::repeat_n(0x0b, depth + 1));
    let mut code = vec![0x01];
    code.extend(leb128(body.len()));
    code.extend(body);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend(section(1, &[0x01, 0x60, 0x00, 0x00]));
    module.extend(section(3, &[0x01, 0x00]));
    module.extend(section(10, &code));
    module
}

/// hello, with a compile bomb riding along as an extra core module of the component: the
/// world is right, so only the compile bounds stop it.
fn hello_with_bomb(tmp: &Path) -> PathBuf {
    let dir = tmp.join("bomb");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    let wasm = dir.join("hello.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend(section(1, &nested_blocks_module(1_000_000)));
    std::fs::write(&wasm, bytes).unwrap();
    dir
}

#[test]
fn a_component_over_the_size_cap_is_refused_with_the_limit() {
    let mut home = Home::new();
    home.env("LMI_COMPILE_TIMEOUT_SECS", "5");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    let wasm = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("hello.wasm"))
        .unwrap();
    wasm.set_len(33 << 20).unwrap();
    let run = validate(&home, &dir);
    run.code(2).stderr_has("larger than lmi's limit of 32 MiB");
    home.run(["plugin", "install", dir.to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("larger than lmi's limit of 32 MiB");
}

#[test]
fn a_compile_bomb_hits_the_deadline_and_the_memory_bound_with_a_clear_error() {
    let mut home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let bomb = hello_with_bomb(tmp.path());
    home.env("LMI_COMPILE_TIMEOUT_SECS", "1");
    let started = std::time::Instant::now();
    validate(&home, &bomb)
        .code(2)
        .stderr_has("compiling it took longer than 1 s (LMI_COMPILE_TIMEOUT_SECS)");
    home.run(["plugin", "install", bomb.to_str().unwrap(), "--yes"])
        .code(2)
        .stderr_has("took longer than 1 s");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(!home.data().join("plugins/hello").exists());

    let mut home = Home::new();
    home.env("LMI_COMPILE_MEMORY_MB", "64");
    validate(&home, &plugin_dir("plugins/hello"))
        .code(2)
        .stderr_has("needed more than 64 MiB of memory (LMI_COMPILE_MEMORY_MB)");
}

/// A component that is nothing but a compile bomb is refused for its world, at once: the
/// world is checked by parsing, before any compile.
#[test]
fn the_world_is_checked_before_compiling() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bare");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    component.extend(section(1, &nested_blocks_module(1_000_000)));
    std::fs::write(dir.join("hello.wasm"), component).unwrap();
    let started = std::time::Instant::now();
    validate(&home, &dir)
        .code(2)
        .stderr_has("does not export lmi:plugin/command@0.3.0, @0.2.0 or @0.1.0");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

// Files lmi reads from a submitted plugin directory: only regular files inside it, capped,
// and never quoted back (a CI runner validating a submission must not print its secrets).

/// Runs lmi, failing the test if it has not finished within `secs` (a FIFO would block it).
fn run_within(home: &Home, args: &[&std::ffi::OsStr], secs: u64) -> Run {
    let mut child = home
        .cmd(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lmi {args:?} still running after {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn validate_and_install(home: &Home, dir: &Path) -> [Run; 2] {
    let d = dir.as_os_str();
    [
        run_within(home, &["plugin".as_ref(), "validate".as_ref(), d], 20),
        run_within(
            home,
            &["plugin".as_ref(), "install".as_ref(), d, "--yes".as_ref()],
            20,
        ),
    ]
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}

#[test]
fn a_manifest_linked_to_a_secret_outside_the_plugin_is_refused_and_never_printed() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-ci-token-4711";
    let env = tmp.path().join(".env");
    std::fs::write(&env, format!("CI_TOKEN={secret}\n")).unwrap();
    let dir = tmp.path().join("sub");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    std::fs::remove_file(dir.join("lmi-plugin.toml")).unwrap();
    std::os::unix::fs::symlink("../.env", dir.join("lmi-plugin.toml")).unwrap();
    for run in validate_and_install(&home, &dir) {
        run.code(2)
            .stderr_has("outside the plugin directory")
            .nowhere(secret);
    }
    home.run(["plugin", "list"])
        .success()
        .stderr_has("No plugins installed");
}

#[test]
fn a_component_linked_outside_the_plugin_is_refused_but_a_link_inside_it_is_allowed() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("inside");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    std::fs::create_dir(dir.join("target")).unwrap();
    std::fs::rename(dir.join("hello.wasm"), dir.join("target/hello.wasm")).unwrap();
    std::os::unix::fs::symlink("target/hello.wasm", dir.join("hello.wasm")).unwrap();
    validate(&home, &dir).success();

    let outside = tmp.path().join("outside");
    copy_plugin(&plugin_dir("plugins/hello"), &outside);
    std::fs::remove_file(outside.join("hello.wasm")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", outside.join("hello.wasm")).unwrap();
    for run in validate_and_install(&home, &outside) {
        run.code(2).stderr_has("outside the plugin directory");
    }
}

#[test]
fn a_fifo_manifest_or_component_is_refused_without_hanging() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("manifest");
    copy_plugin(&plugin_dir("plugins/hello"), &manifest);
    mkfifo(&manifest.join("lmi-plugin.toml"));
    for run in validate_and_install(&home, &manifest) {
        run.code(2).stderr_has("not a regular file");
    }
    let component = tmp.path().join("component");
    copy_plugin(&plugin_dir("plugins/hello"), &component);
    mkfifo(&component.join("hello.wasm"));
    for run in validate_and_install(&home, &component) {
        run.code(2).stderr_has("not a regular file");
    }
}

#[test]
fn a_linked_plugin_whose_manifest_becomes_a_fifo_does_not_hang_lmi_and_can_be_removed() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello");
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    home.link(&dir);
    mkfifo(&dir.join("lmi-plugin.toml"));
    run_within(&home, &["plugin".as_ref(), "list".as_ref()], 20)
        .success()
        .stderr_has("not a regular file");
    run_within(&home, &["hello".as_ref()], 20).code(2);
    run_within(
        &home,
        &["plugin".as_ref(), "remove".as_ref(), "hello".as_ref()],
        20,
    )
    .success();
}

#[test]
fn a_manifest_over_one_mib_is_refused_with_the_limit() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = broken(tmp.path(), "big", |t| {
        format!("{t}\n{}", "# padding padding padding\n".repeat(50_000))
    });
    for run in validate_and_install(&home, &dir) {
        run.code(2).stderr_has("larger than lmi's limit of 1 MiB");
    }
}
