//! `lmi plugin new`, end to end: scaffold a plugin, build it for wasm32-wasip2 and test it
//! natively with cargo exactly as its README says, validate it, install it and run it.
//!
//! The generated project is built untouched, with the commands a plugin author types, outside
//! lmi's source tree, against the SDK a third party gets: `cargo package` of this tree's
//! `plugin-sdk/`, unpacked, named with `--sdk-path` (so the project's Cargo.toml names it by a
//! relative path). Everything else comes from cargo's cache, offline: the test needs no
//! network. The one concession to repeated test runs: the project's `target/` is a symlink
//! into this test binary's scratch directory, so the dependencies (wit-bindgen, clap) are
//! compiled once and reused; cargo and the manifest still see
//! `target/wasm32-wasip2/release/demo_tool.wasm` where an author's build puts it.
//! `LMI_TEST_SCAFFOLD_FRESH=1` builds into a fresh `target/` instead (what a clean machine
//! does).
//!
//! The git source is resolved by cargo against a real git repository made from the packaged
//! SDK and served over loopback HTTP (git's "dumb" protocol, fetched with the git CLI),
//! with every other crate from a directory `cargo vendor` made offline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{Home, Run};

/// `cargo <args>` in `dir`, as an author would run it: without the variables the outer
/// `cargo test` sets, so the project's own rust-toolchain.toml and target/ apply.
fn cargo(dir: &Path, args: &[&str]) -> (Output, Duration) {
    cargo_with(dir, args, &[])
}

/// [`cargo`] with `env` set as well.
fn cargo_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
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
    for (key, value) in env {
        cmd.env(key, value);
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
    // Once per test binary: the tests that need it share it.
    static SDK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SDK.get_or_init(package_sdk).clone()
}

fn package_sdk() -> PathBuf {
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

    // The SDK as a third party has it, named by directory; no settings.
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo-tool");

    let new = home.run([
        "plugin",
        "new",
        "demo-tool",
        "--path",
        project.to_str().unwrap(),
        "--sdk-path",
        sdk.to_str().unwrap(),
        "--description",
        "Greet someone and name the active environment",
    ]);
    new.success()
        .stderr_has("Created plugin demo-tool")
        .stderr_has("It takes lmi-plugin-sdk 0.3 from the directory")
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
    // The SDK by a relative path (never an absolute one), at the contract's version, with
    // its clap; no version of the plugin's own in Cargo.toml.
    let text = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let cargo_toml: toml::Table = text.parse().unwrap();
    let dep = &cargo_toml["dependencies"]["lmi-plugin-sdk"];
    assert_eq!(dep["version"].as_str(), Some("0.3"), "{text}");
    let rel = dep["path"].as_str().unwrap();
    assert!(Path::new(rel).is_relative(), "{text}");
    assert_eq!(
        project.join(rel).canonicalize().unwrap(),
        sdk.canonicalize().unwrap()
    );
    assert!(!cargo_toml.contains_key("patch"), "{text}");
    assert!(
        !cargo_toml["package"]
            .as_table()
            .unwrap()
            .contains_key("version"),
        "{text}"
    );
    for generated in ["Cargo.toml", "README.md", "lmi-plugin.toml", "src/lib.rs"] {
        let body = std::fs::read_to_string(project.join(generated)).unwrap();
        for absolute in [sdk.to_str().unwrap(), tmp.path().to_str().unwrap()] {
            assert!(
                !body.contains(&format!("\"{absolute}")) && !body.contains(&format!("`{absolute}")),
                "{generated} names an absolute path:\n{body}"
            );
        }
    }

    // Cargo's configuration: everything from cargo's cache, no network.
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(
        project.join(".cargo/config.toml"),
        "[net]\noffline = true\n",
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
            && test_out.contains("test tests::version_is_the_manifests ... ok")
            && test_out.contains("test result: ok. 7 passed"),
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
        .stdout_has("implements contract lmi:plugin@0.3.0");
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
    let bogus = home.run(["demo-tool", "--bogus"]);
    bogus
        .code(2)
        .stderr_has("error: unexpected argument '--bogus' found");
    assert_eq!(bogus.stderr.matches("error:").count(), 1, "{bogus:#?}");
    // The version is the manifest's: Cargo.toml has none.
    let version = home.run(["demo-tool", "--version"]);
    version.success();
    assert_eq!(version.stdout, "demo-tool 0.1.0\n");
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
    home.run([
        "plugin",
        "new",
        "demo",
        "--path",
        path,
        "--sdk-registry",
        "acme",
    ])
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
    let run = lmi_in(
        &home,
        tmp.path(),
        &["plugin", "new", "my-tool", "--sdk-registry", "acme"],
    );
    run.success();
    let manifest = std::fs::read_to_string(tmp.path().join("my-tool/lmi-plugin.toml")).unwrap();
    assert!(
        manifest.contains("component = \"target/wasm32-wasip2/release/my_tool.wasm\""),
        "{manifest}"
    );
}

/// No source for the SDK: not crates.io (whose `lmi-plugin-sdk` nobody here controls), but
/// exit 2 naming the three ways, and nothing created.
#[test]
fn new_without_an_sdk_source_refuses_and_creates_nothing() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("x");
    let run = home.run(["plugin", "new", "x", "--path", project.to_str().unwrap()]);
    run.code(2)
        .stderr_has("error: say where the lmi plugin SDK comes from: --sdk-git URL")
        .stderr_has("--sdk-registry NAME")
        .stderr_has("--sdk-path DIR")
        .stderr_has("LMI_SDK_GIT, LMI_SDK_REGISTRY or LMI_SDK_PATH");
    assert!(!project.exists(), "nothing is created");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // Nor a registry that is crates.io under its cargo name.
    home.run([
        "plugin",
        "new",
        "x",
        "--path",
        project.to_str().unwrap(),
        "--sdk-registry",
        "crates-io",
    ])
    .code(2)
    .stderr_has("is not lmi's");
    assert!(!project.exists(), "nothing is created");
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

    // A flag wins over LMI_SDK_PATH; a checkout's SDK, as lmi's own developers use it.
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
    assert_eq!(json["sdk"]["source"], "path");
    assert_eq!(
        json["sdk"]["path"].as_str(),
        Some(sdk.canonicalize().unwrap().to_str().unwrap())
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 6);
    assert_eq!(json["sdk"]["requirement"].as_str(), Some("0.3"));
    // The dependency is one cargo resolves to that directory.
    assert_eq!(
        resolved_sdk(&tmp.path().join("x")),
        sdk.join("Cargo.toml").canonicalize().unwrap()
    );

    // Several sources at once, or a rev without git: refused before anything is written.
    let y = tmp.path().join("y");
    home.run([
        "plugin",
        "new",
        "y",
        "--path",
        y.to_str().unwrap(),
        "--sdk-registry",
        "acme",
        "--sdk-git",
        "https://git.example.com/lmi.git",
    ])
    .code(2)
    .stderr_has("cannot be used with");
    home.run([
        "plugin",
        "new",
        "y",
        "--path",
        y.to_str().unwrap(),
        "--sdk-registry",
        "acme",
        "--sdk-rev",
        "v1",
    ])
    .code(2)
    .stderr_has("--sdk-rev pins a git source");
    assert!(!y.exists());
}

/// `--description` fills the manifest and Cargo.toml, held to the manifest's rules for
/// `about`; a refused one creates nothing.
#[test]
fn new_takes_a_description_the_manifest_accepts() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("tickets");
    home.run([
        "plugin",
        "new",
        "tickets",
        "--path",
        project.to_str().unwrap(),
        "--sdk-registry",
        "acme",
        "--description",
        "List and \"triage\" support tickets",
    ])
    .success();
    let cargo_toml: toml::Table = std::fs::read_to_string(project.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cargo_toml["package"]["description"].as_str(),
        Some("List and \"triage\" support tickets")
    );
    assert_eq!(
        cargo_toml["dependencies"]["lmi-plugin-sdk"]["registry"].as_str(),
        Some("acme")
    );
    let home2 = Home::new();
    home2
        .run(["plugin", "validate", project.to_str().unwrap()])
        .stdout_has("ok: manifest tickets 0.1.0 declares `lmi tickets`");
    let manifest: toml::Table = std::fs::read_to_string(project.join("lmi-plugin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        manifest["commands"][0]["about"].as_str(),
        Some("List and \"triage\" support tickets")
    );

    let bad = tmp.path().join("bad");
    home.run([
        "plugin",
        "new",
        "bad",
        "--path",
        bad.to_str().unwrap(),
        "--sdk-registry",
        "acme",
        "--description",
        "two\nlines",
    ])
    .code(2)
    .stderr_has("error: --description: ");
    assert!(!bad.exists());
}

/// A git source resolves with cargo: a real repository holding the packaged SDK in
/// `plugin-sdk/` (as lmi's own repository does), served over loopback HTTP, pinned to a tag.
/// A `file://` URL is refused: it would write a path of this machine into Cargo.toml.
#[test]
fn new_with_a_git_source_resolves_with_cargo() {
    let sdk = packaged_sdk();
    let tmp = tempfile::tempdir().unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=lmi test",
                "-c",
                "user.email=test@example.com",
            ])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The repository: the SDK under plugin-sdk/, one commit, tagged.
    let work = tmp.path().join("lmi");
    copy_dir(&sdk, &work.join("plugin-sdk"));
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "the SDK"]);
    git(&work, &["tag", "v0.3.0"]);
    let bare = tmp.path().join("lmi.git");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&bare, &["update-server-info"]);
    // Served as static files: git's dumb HTTP protocol.
    let served = bare.clone();
    let srv = crate::support::fault::FaultServer::start(move |req, _| {
        let rel = req.path().trim_start_matches("/lmi.git/");
        match std::fs::read(served.join(rel)) {
            Ok(bytes) if !rel.contains("..") => {
                crate::support::fault::Reply::raw(200, "application/octet-stream", bytes)
            }
            _ => crate::support::fault::Reply::status(404),
        }
    });
    let url = srv.url("/lmi.git");

    let home = Home::new();
    let refused = tmp.path().join("refused");
    let file_url = format!("file://{}", bare.display());
    home.run([
        "plugin",
        "new",
        "refused",
        "--path",
        refused.to_str().unwrap(),
        "--sdk-git",
        &file_url,
    ])
    .code(2)
    .stderr_has("a file:// URL names a directory on this machine");
    assert!(!refused.exists());

    let project = tmp.path().join("demo");
    home.run([
        "plugin",
        "new",
        "demo",
        "--path",
        project.to_str().unwrap(),
        "--sdk-git",
        &url,
        "--sdk-rev",
        "v0.3.0",
    ])
    .success()
    .stderr_has(&format!(
        "It takes lmi-plugin-sdk 0.3 from git {url} at v0.3.0"
    ));
    let cargo_toml: toml::Table = std::fs::read_to_string(project.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let dep = &cargo_toml["dependencies"]["lmi-plugin-sdk"];
    assert_eq!(dep["git"].as_str(), Some(url.as_str()));
    assert_eq!(dep["rev"].as_str(), Some("v0.3.0"));
    assert_eq!(dep["version"].as_str(), Some("0.3"));

    // Every other crate from a vendored directory (made offline from cargo's cache), the
    // SDK fetched from the server by the git CLI (libgit2 speaks only smart HTTP).
    let vendor = vendored_crates(&sdk);
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(
        project.join(".cargo/config.toml"),
        format!(
            "[net]\ngit-fetch-with-cli = true\n\n[source.crates-io]\nreplace-with = \"vendored\"\n\n[source.vendored]\ndirectory = {}\n",
            toml::Value::String(vendor.to_str().unwrap().to_owned())
        ),
    )
    .unwrap();
    let (out, _) = cargo_with(
        &project,
        &["metadata", "--format-version", "1"],
        &[
            ("CARGO_NET_OFFLINE", "false"),
            ("NO_PROXY", "127.0.0.1,localhost"),
            ("no_proxy", "127.0.0.1,localhost"),
        ],
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resolved = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lmi-plugin-sdk")
        .expect("lmi-plugin-sdk is resolved")
        .clone();
    assert_eq!(resolved["version"], "0.3.0");
    let source = resolved["source"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("git+{url}?rev=v0.3.0#")),
        "{source}"
    );
    assert!(
        srv.count("/lmi.git/info/refs") >= 1,
        "fetched from the server"
    );
}

/// A directory source of every crate the scaffold needs besides the SDK, made by `cargo
/// vendor --offline` from cargo's cache for a probe crate that depends on the packaged SDK.
fn vendored_crates(sdk: &Path) -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-vendor");
    let probe = scratch.join("probe");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).unwrap();
    }
    std::fs::create_dir_all(probe.join("src")).unwrap();
    std::fs::write(probe.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        probe.join("Cargo.toml"),
        format!(
            "[package]\nname = \"probe\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nlmi-plugin-sdk = {{ path = {}, features = [\"clap\"] }}\n\n[workspace]\n",
            toml::Value::String(sdk.to_str().unwrap().to_owned())
        ),
    )
    .unwrap();
    let vendor = scratch.join("vendor");
    cargo(
        &probe,
        &["vendor", "--offline", "--quiet", vendor.to_str().unwrap()],
    );
    vendor
}

/// Copies the directory tree `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
