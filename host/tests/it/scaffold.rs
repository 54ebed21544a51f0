//! `lmi plugin new`, end to end: scaffold a plugin, build it for wasm32-wasip2 and test it
//! natively with cargo exactly as its README says, validate it, install it and run it.
//!
//! The generated project is built untouched, with the commands a plugin author types. The one
//! concession to repeated test runs: the project's `target/` is a symlink into this test
//! binary's scratch directory, so the dependencies (wit-bindgen, clap) are compiled once and
//! reused; cargo and the manifest still see `target/wasm32-wasip2/release/demo_tool.wasm`
//! where an author's build puts it. `LMI_TEST_SCAFFOLD_FRESH=1` builds into a fresh
//! `target/` instead (what a clean machine does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{Home, Run};

/// `cargo <args>` in `dir`, as an author would run it: without the variables the outer
/// `cargo test` sets, so the project's own rust-toolchain.toml and target/ apply.
fn cargo(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let mut cmd = Command::new("cargo");
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let keep = key == "CARGO_HOME" || key == "CARGO_NET_OFFLINE";
        if (key.starts_with("CARGO_") && !keep)
            || key.starts_with("RUSTUP_TOOLCHAIN")
            || key == "RUSTFLAGS"
            || key == "RUSTDOCFLAGS"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let started = Instant::now();
    let out = cmd.output().expect("run cargo (is it on PATH?)");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "`cargo {}` failed in {}:\n{}\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, took)
}

/// `lmi <args>` run from `dir` (so `.` means the project).
fn lmi_in(home: &Home, dir: &Path, args: &[&str]) -> Run {
    let out = home.cmd(args).current_dir(dir).output().expect("spawn lmi");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A home whose settings point `plugin new` at this repository's SDK, as an author's would.
fn home_with_sdk() -> Home {
    let mut home = Home::new();
    let sdk = crate::support::repo_root().join("plugin-sdk");
    home.env("LMI_SDK_PATH", sdk.to_str().unwrap());
    home
}

/// Where the scaffold's build output lives across runs (see the module docs).
fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target")
}

#[test]
fn a_new_plugin_builds_tests_validates_installs_and_runs_unchanged() {
    let home = home_with_sdk();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo-tool");

    let new = home.run([
        "plugin",
        "new",
        "demo-tool",
        "--path",
        project.to_str().unwrap(),
    ]);
    new.success()
        .stderr_has("Created plugin demo-tool")
        .stderr_has("cargo build --release --target wasm32-wasip2");
    for file in [
        "Cargo.toml",
        "lmi-plugin.toml",
        "src/lib.rs",
        "rust-toolchain.toml",
        "README.md",
        ".gitignore",
    ] {
        assert!(project.join(file).is_file(), "{file} was not generated");
    }
    // The SDK it was pointed at, by a path relative to the project: never an absolute one.
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains("lmi-plugin-sdk = { path = \"../"),
        "{cargo_toml}"
    );

    if std::env::var_os("LMI_TEST_SCAFFOLD_FRESH").is_none() {
        std::fs::create_dir_all(shared_target()).unwrap();
        std::os::unix::fs::symlink(shared_target(), project.join("target")).unwrap();
    }

    // The README's first command, verbatim.
    let (_, build_time) = cargo(
        &project,
        &["build", "--release", "--target", "wasm32-wasip2"],
    );
    assert!(
        project
            .join("target/wasm32-wasip2/release/demo_tool.wasm")
            .is_file()
    );

    // The unit tests against MockContext, natively.
    let (test, test_time) = cargo(&project, &["test"]);
    let test_out = String::from_utf8_lossy(&test.stdout);
    assert!(
        test_out.contains("test tests::greets_the_signed_in_user_in_the_active_environment ... ok")
            && test_out.contains("test tests::help_is_printed_by_the_plugin ... ok")
            && test_out.contains("test result: ok. 6 passed"),
        "{test_out}"
    );

    // The generated code is formatted as `cargo fmt` would have it.
    cargo(&project, &["fmt", "--check"]);

    // lmi reads plugin files only inside the plugin directory (R2.11): swap the shared
    // target link (a test speed-up, not the README's layout) for the real file.
    let wasm = project.join("target/wasm32-wasip2/release/demo_tool.wasm");
    if std::fs::symlink_metadata(project.join("target"))
        .unwrap()
        .file_type()
        .is_symlink()
    {
        let bytes = std::fs::read(&wasm).unwrap();
        std::fs::remove_file(project.join("target")).unwrap();
        std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
        std::fs::write(&wasm, bytes).unwrap();
    }

    let validate = lmi_in(&home, &project, &["plugin", "validate", "."]);
    validate
        .success()
        .stdout_has("ok: manifest demo-tool 0.1.0 declares `lmi demo-tool`")
        .stdout_has("implements contract lmi:plugin@0.2.0");
    assert_eq!(
        validate.stderr, "",
        "validate of a fresh scaffold has nothing to say on stderr"
    );

    // The README's second command (with --yes: no terminal here to confirm on).
    let started = Instant::now();
    let install = lmi_in(&home, &project, &["plugin", "install", ".", "--yes"]);
    let install_time = started.elapsed();
    install.success().stderr_has("Installed demo-tool 0.1.0");

    // The third, and what the plugin does with its flags and the context.
    let run = home.run(["demo-tool", "--name", "Ada"]);
    run.success();
    assert_eq!(run.stdout, "Hello, Ada!\nenv: (none)\n");
    let run = home.run(["-e", "staging", "demo-tool", "--shout"]);
    run.success();
    assert_eq!(run.stdout, "HELLO, WORLD!\nenv: staging\n");
    home.run(["demo-tool", "--help"])
        .success()
        .stdout_has("Usage: lmi demo-tool [OPTIONS]")
        .stdout_has("--shout");
    home.run(["demo-tool", "--bogus"])
        .code(2)
        .stderr_has("--bogus");
    home.run(["--help"]).success().stdout_has("demo-tool");

    eprintln!(
        "scaffold timings: cargo build --release --target wasm32-wasip2 {build_time:.1?}, cargo test {test_time:.1?}, lmi plugin install {install_time:.1?}"
    );
}

#[test]
fn new_refuses_a_bad_name_or_a_non_empty_directory() {
    let home = home_with_sdk();
    home.run(["plugin", "new", "Demo"])
        .code(2)
        .stderr_has("plugin name `Demo` is invalid");
    home.run(["plugin", "new", "auth"])
        .code(2)
        .stderr_has("clashes with the built-in `lmi auth`");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let path = tmp.path().to_str().unwrap();
    home.run(["plugin", "new", "demo", "--path", path])
        .code(2)
        .stderr_has("already exists and is not empty");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn new_defaults_to_a_directory_named_after_the_plugin() {
    let home = home_with_sdk();
    let tmp = tempfile::tempdir().unwrap();
    let run = lmi_in(&home, tmp.path(), &["plugin", "new", "my-tool"]);
    run.success();
    let manifest = std::fs::read_to_string(tmp.path().join("my-tool/lmi-plugin.toml")).unwrap();
    assert!(
        manifest.contains("component = \"target/wasm32-wasip2/release/my_tool.wasm\""),
        "{manifest}"
    );
}

#[test]
fn new_uses_the_sdk_it_is_pointed_at_or_says_why_not() {
    let sdk = crate::support::repo_root().join("plugin-sdk");
    let tmp = tempfile::tempdir().unwrap();

    let mut home = Home::new();
    home.env("LMI_SDK_PATH", tmp.path().join("nowhere").to_str().unwrap());
    home.run([
        "plugin",
        "new",
        "x",
        "--path",
        tmp.path().join("x").to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("LMI_SDK_PATH:")
    .stderr_has("is not the lmi plugin SDK");
    assert!(
        !tmp.path().join("x").exists(),
        "nothing is created when the SDK is wrong"
    );

    // --sdk-path wins over LMI_SDK_PATH.
    let run = home.run([
        "plugin",
        "new",
        "x",
        "--path",
        tmp.path().join("x").to_str().unwrap(),
        "--sdk-path",
        sdk.to_str().unwrap(),
        "--output",
        "json",
    ]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["sdk"]["path"].as_str(),
        Some(sdk.canonicalize().unwrap().to_str().unwrap())
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 6);
}

/// R2.9: a binary built in a directory that exists on the user's machine (its source tree
/// here) must not take the SDK from there: whoever can create that path would supply the
/// SDK and its build script. Without --sdk-path or LMI_SDK_PATH, nothing is created.
#[test]
fn new_never_takes_the_sdk_from_a_path_baked_in_at_build_time() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("x");
    home.run(["plugin", "new", "x", "--path", project.to_str().unwrap()])
        .code(2)
        .stderr_has("does not know where the lmi plugin SDK is")
        .stderr_has("--sdk-path DIR")
        .stderr_has("LMI_SDK_PATH");
    assert!(!project.exists(), "nothing is created without an SDK");
}
