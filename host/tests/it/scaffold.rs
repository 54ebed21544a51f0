//! `lmi plugin new`, end to end: scaffold a plugin, build it for wasm32-wasip2 and test it
//! natively with cargo exactly as its README says, validate it, install it and run it.
//!
//! The generated project is built untouched, with the commands a plugin author types, outside
//! lmi's source tree: it depends on `lmi-plugin-sdk = "0.2"`, and the SDK it gets is the one
//! a third party downloads, `cargo package` of this tree's `plugin-sdk/` unpacked (what
//! crates.io would serve), put in place by a `[patch.crates-io]` entry in the project's
//! `.cargo/config.toml` (the registry's stand-in). Everything else comes from cargo's cache,
//! offline: the test needs no network. The one concession to repeated test runs: the
//! project's `target/` is a symlink into this test binary's scratch directory, so the
//! dependencies (wit-bindgen, clap) are compiled once and reused; cargo and the manifest still
//! see `target/wasm32-wasip2/release/demo_tool.wasm` where an author's build puts it.
//! `LMI_TEST_SCAFFOLD_FRESH=1` builds into a fresh `target/` instead (what a clean machine
//! does).

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

/// Where the scaffold's build output lives across runs (see the module docs).
fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-target")
}

/// The SDK as crates.io would serve it: `cargo package` of this tree's `plugin-sdk/` (without
/// cargo's own verification build: the scaffold's builds below are that, for wasm and
/// natively), unpacked outside the source tree. Returns the unpacked package's directory.
fn packaged_sdk() -> PathBuf {
    let root = crate::support::repo_root();
    let sdk_toml: toml::Table = std::fs::read_to_string(root.join("plugin-sdk/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let version = sdk_toml["package"]["version"].as_str().unwrap().to_string();
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let package_target = scratch.join("sdk-package");
    cargo(
        &root,
        &[
            "package",
            "-p",
            "lmi-plugin-sdk",
            "--no-verify",
            "--allow-dirty",
            "--offline",
            "--target-dir",
            package_target.to_str().unwrap(),
        ],
    );
    let crate_file = package_target.join(format!("package/lmi-plugin-sdk-{version}.crate"));
    let unpacked = scratch.join("packaged-sdk");
    if unpacked.exists() {
        std::fs::remove_dir_all(&unpacked).unwrap();
    }
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .expect("run tar");
    assert!(
        tar.status.success(),
        "tar -xzf {}: {}",
        crate_file.display(),
        String::from_utf8_lossy(&tar.stderr)
    );
    unpacked.join(format!("lmi-plugin-sdk-{version}"))
}

/// The `Cargo.toml` of the `lmi-plugin-sdk` cargo resolves for `project` (offline).
fn resolved_sdk(project: &Path) -> PathBuf {
    let (out, _) = cargo(project, &["metadata", "--format-version", "1", "--offline"]);
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sdk = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lmi-plugin-sdk")
        .expect("lmi-plugin-sdk is resolved");
    Path::new(sdk["manifest_path"].as_str().unwrap())
        .canonicalize()
        .unwrap()
}

/// Every file in `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_new_plugin_builds_against_the_packaged_sdk_tests_validates_installs_and_runs_unchanged() {
    let sdk = packaged_sdk();
    // The package holds what building needs, the contract among it, and nothing else.
    let shipped = files_under(&sdk);
    for needed in [
        "Cargo.toml",
        "README.md",
        "src/lib.rs",
        "wit/lmi-plugin.wit",
    ] {
        assert!(
            shipped.iter().any(|f| f == needed),
            "{needed} is not in {shipped:?}"
        );
    }
    for file in &shipped {
        let expected = file.starts_with("src/") && file.ends_with(".rs")
            || file.starts_with("wit/") && file.ends_with(".wit")
            || [
                "Cargo.toml",
                "Cargo.toml.orig",
                "Cargo.lock",
                "README.md",
                ".cargo_vcs_info.json",
            ]
            .contains(&file.as_str());
        assert!(expected, "the SDK package ships {file}: {shipped:?}");
    }

    // No LMI_SDK_PATH: the project depends on the published SDK, as an author's does.
    let home = Home::new();
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
    // The SDK by version, and no override in force.
    let cargo_toml: toml::Table = std::fs::read_to_string(project.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cargo_toml["dependencies"]["lmi-plugin-sdk"].as_str(),
        Some("0.2")
    );
    assert!(!cargo_toml.contains_key("patch"), "{cargo_toml}");

    // Cargo's configuration stands in for crates.io: the packaged SDK, everything else from
    // cargo's cache, no network.
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(
        project.join(".cargo/config.toml"),
        format!(
            "[net]\noffline = true\n\n[patch.crates-io]\nlmi-plugin-sdk = {{ path = {} }}\n",
            toml::Value::String(sdk.to_str().unwrap().to_string())
        ),
    )
    .unwrap();

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
    // Built from the package, not from this tree.
    assert_eq!(
        resolved_sdk(&project),
        sdk.join("Cargo.toml").canonicalize().unwrap()
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
    let home = Home::new();
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
    let home = Home::new();
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

    // --sdk-path wins over LMI_SDK_PATH; a checkout's SDK, as lmi's own developers use it.
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
    assert_eq!(json["sdk"]["requirement"].as_str(), Some("0.2"));
    // The override is one cargo uses (a patch of another version would be ignored).
    assert_eq!(
        resolved_sdk(&tmp.path().join("x")),
        sdk.join("Cargo.toml").canonicalize().unwrap()
    );
}

/// R2.9: a binary built in a directory that exists on the user's machine (its source tree
/// here) must not take the SDK from there: whoever can create that path would supply the
/// SDK and its build script. Without --sdk-path or LMI_SDK_PATH, the project depends on the
/// published SDK by version and names no path at all.
#[test]
fn new_never_takes_the_sdk_from_a_path_baked_in_at_build_time() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("x");
    let run = home.run(["plugin", "new", "x", "--path", project.to_str().unwrap()]);
    run.success();
    assert!(
        !run.stderr.contains("builds against the SDK in"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let cargo_toml: toml::Table = text.parse().unwrap();
    assert_eq!(
        cargo_toml["dependencies"]["lmi-plugin-sdk"].as_str(),
        Some("0.2")
    );
    assert!(!cargo_toml.contains_key("patch"), "{text}");
    let root = crate::support::repo_root();
    for generated in ["Cargo.toml", "README.md", "lmi-plugin.toml", "src/lib.rs"] {
        let body = std::fs::read_to_string(project.join(generated)).unwrap();
        assert!(
            !body.contains(root.to_str().unwrap()),
            "{generated} names lmi's source tree:\n{body}"
        );
    }
}
