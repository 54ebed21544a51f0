//! lmi's own files as an attack surface: another local user (or a group) who can write a
//! directory above them, links planted in the store, and state created under a loose umask.
//! Every test here plays the attacker first and checks lmi never trusts what it did not write.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::{Home, copy_plugin, plugin_dir};

/// The uid of `nobody`: an owner that is neither the test user nor root.
const OTHER_UID: u32 = 65534;

fn artifact_of(home: &Home) -> PathBuf {
    std::fs::read_dir(home.cache().join("compiled"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact")
}

fn sidecar(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".crc32");
    PathBuf::from(name)
}

/// Machine code lmi did not compile for this plugin: the hostile fixture's artifact, sealed
/// with a matching checksum under hello's predictable artifact name.
fn plant_foreign_artifact(victim: &Home) -> PathBuf {
    let attacker = Home::new();
    attacker.install(&plugin_dir("tests/plugins/hostile"));
    let evil = std::fs::read(artifact_of(&attacker)).unwrap();
    let target = artifact_of(victim);
    std::fs::write(&target, &evil).unwrap();
    std::fs::write(sidecar(&target), format!("{:08x}", crc32fast::hash(&evil))).unwrap();
    target
}

#[test]
fn an_artifact_under_a_directory_another_user_owns_is_never_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    plant_foreign_artifact(&home);
    // The victim's XDG_CACHE_HOME is a directory someone else controls.
    std::os::unix::fs::chown(home.path().join("cache"), Some(OTHER_UID), None).unwrap();
    let run = home.run(["hello"]);
    run.code(2)
        .stderr_has(&home.path().join("cache").display().to_string())
        .stderr_has(&format!("owned by uid {OTHER_UID}"));
    // The hostile component answers an unknown command; it never got to.
    assert!(!run.stderr.contains("unknown command"), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[test]
fn an_artifact_under_a_directory_others_can_write_is_never_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    plant_foreign_artifact(&home);
    std::fs::set_permissions(
        home.path().join("cache"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let run = home.run(["hello"]);
    run.code(2).stderr_has("writable by others");
    assert!(!run.stderr.contains("unknown command"), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[test]
fn a_symlinked_or_foreign_artifact_is_recompiled_not_run() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let attacker = Home::new();
    attacker.install(&plugin_dir("tests/plugins/hostile"));
    let evil = artifact_of(&attacker);
    let target = artifact_of(&home);
    std::fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink(&evil, &target).unwrap();
    let bytes = std::fs::read(&evil).unwrap();
    std::fs::write(sidecar(&target), format!("{:08x}", crc32fast::hash(&bytes))).unwrap();
    home.run(["hello"])
        .success()
        .stdout_has("Hello, world!")
        .stderr_has("symbolic link")
        .stderr_has("recompiling plugin hello 0.1.0");
    assert!(
        !std::fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink(),
        "replaced by lmi's own artifact"
    );

    // A file in the right place but owned by someone else is not trusted either.
    plant_foreign_artifact(&home);
    std::os::unix::fs::chown(&target, Some(OTHER_UID), None).unwrap();
    home.run(["hello"])
        .success()
        .stdout_has("Hello, world!")
        .stderr_has("recompiling plugin hello 0.1.0");
    assert_eq!(std::fs::metadata(&target).unwrap().uid(), my_uid());
}

/// The uid files the tests create get: ours.
fn my_uid() -> u32 {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().metadata().unwrap().uid()
}

// ---- private creation (R2.2) -------------------------------------------------------------

/// `lmi` as a shared-group user runs it: `umask 002`.
fn run_with_umask(home: &Home, umask: u32, args: &[&str]) -> crate::support::Run {
    let lmi = home.cmd(args);
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
        .arg(lmi.get_program())
        .args(lmi.get_args())
        .env_clear()
        .stdin(std::process::Stdio::null());
    for (key, value) in lmi.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let out = cmd.output().unwrap();
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file and directory under `root` (links themselves, not followed) that group or
/// others may read or write.
fn loose_paths(root: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.mode() & 0o077 != 0 {
            loose.push(format!("{} {:o}", path.display(), meta.mode() & 0o7777));
        }
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    loose
}

#[test]
fn under_a_group_umask_everything_lmi_creates_is_private() {
    let mut home = Home::new();
    home.env("LMI_LOG_FILE", "off");
    let hello = plugin_dir("plugins/hello");
    let dev = tempfile::tempdir().unwrap();
    copy_plugin(&plugin_dir("tests/plugins/hostile"), dev.path());
    let hello = hello.to_str().unwrap();
    let dev = dev.path().to_str().unwrap();
    for args in [
        &["plugin", "install", hello, "--yes"][..],
        &["plugin", "install", hello, "--yes"],
        &["plugin", "install", dev, "--link", "--yes"],
        &["hello"],
        &["exit3"],
    ] {
        let run = run_with_umask(&home, 0o002, args);
        assert!(run.code == 0 || run.code == 3, "{args:?}: {run:#?}");
    }
    std::fs::remove_dir_all(home.cache().join("compiled")).unwrap();
    run_with_umask(&home, 0o002, &["hello"]).success();
    let mut loose = loose_paths(&home.data());
    loose.extend(loose_paths(&home.cache()));
    assert!(loose.is_empty(), "created open to the group: {loose:#?}");

    // With the log on: its directory and file too, an existing loose log is tightened, and
    // a log somewhere the user chose gets private new directories.
    let mut home = Home::new();
    run_with_umask(&home, 0o002, &["plugin", "list"]).success();
    let log = home.log_file();
    assert!(log.exists());
    assert!(
        loose_paths(&home.data()).is_empty(),
        "{:#?}",
        loose_paths(&home.data())
    );
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    run_with_umask(&home, 0o002, &["plugin", "list"]).success();
    assert_eq!(std::fs::metadata(&log).unwrap().mode() & 0o777, 0o600);
    let custom = home.path().join("logs/deep/lmi.log");
    home.env("LMI_LOG_FILE", custom.to_str().unwrap());
    run_with_umask(&home, 0o002, &["plugin", "list"]).success();
    assert!(
        loose_paths(&home.path().join("logs")).is_empty(),
        "{:#?}",
        loose_paths(&home.path().join("logs"))
    );
}

#[test]
fn a_store_others_could_write_is_refused() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let plugins = home.data().join("plugins");
    // The group can write the store: someone could have swapped `plugins/hello`.
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o770)).unwrap();
    let run = home.run(["hello"]);
    run.code(2)
        .stderr_has(&plugins.display().to_string())
        .stderr_has("writable by others");
    assert!(!run.stdout.contains("Hello"), "{run:#?}");
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o700)).unwrap();
    home.run(["hello"]).success().stdout_has("Hello, world!");

    // A version directory someone else owns (a group member replaced it with their own).
    let version = std::fs::read_dir(plugins.join(".versions"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    std::os::unix::fs::chown(&version, Some(OTHER_UID), None).unwrap();
    let run = home.run(["hello"]);
    run.code(2).stderr_has(&format!("owned by uid {OTHER_UID}"));
    assert!(!run.stdout.contains("Hello"), "{run:#?}");
}

// ---- links and removal (R2.3) -----------------------------------------------------------

#[test]
fn remove_and_info_refuse_what_is_not_a_plugin_name() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("file");
    std::fs::write(&file, "keep me").unwrap();
    for name in [file.to_str().unwrap(), "../../x", ".versions", "Hello"] {
        home.run(["plugin", "remove", name])
            .code(2)
            .stderr_has("is not a plugin name");
        home.run(["plugin", "info", name])
            .code(2)
            .stderr_has("is not a plugin name");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    home.run(["hello"]).success();
}

/// A directory full of someone's files, and a link to it planted in the store.
fn plant_link(home: &Home, name: &str) -> tempfile::TempDir {
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("precious"), "keep me").unwrap();
    std::fs::create_dir_all(home.data().join("plugins/.versions")).unwrap();
    std::os::unix::fs::symlink(victim.path(), home.data().join("plugins").join(name)).unwrap();
    victim
}

#[test]
fn remove_deletes_only_the_link_not_what_it_points_to() {
    let home = Home::new();
    home.install(&plugin_dir("plugins/hello"));
    let victim = plant_link(&home, "evil");
    home.run(["plugin", "remove", "evil"]).success();
    assert_eq!(
        std::fs::read_to_string(victim.path().join("precious")).unwrap(),
        "keep me"
    );
    assert!(std::fs::symlink_metadata(home.data().join("plugins/evil")).is_err());
    // A link of lmi's form but pointing through `..` is not followed either.
    let relative = plant_link(&home, "sneaky");
    std::fs::remove_file(home.data().join("plugins/sneaky")).unwrap();
    let up = pathdiff(relative.path(), &home.data().join("plugins"));
    std::os::unix::fs::symlink(&up, home.data().join("plugins/sneaky")).unwrap();
    home.run(["plugin", "remove", "sneaky"]).success();
    assert!(relative.path().join("precious").exists());
    home.run(["hello"]).success();
}

/// `to` relative to `from`, through `..` (both absolute).
fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    let mut up = PathBuf::new();
    for _ in from.components().skip(1) {
        up.push("..");
    }
    up.join(to.strip_prefix("/").unwrap())
}

#[test]
fn an_install_over_a_planted_link_does_not_wipe_its_target() {
    let home = Home::new();
    let victim = plant_link(&home, "hello");
    home.install(&plugin_dir("plugins/hello"));
    assert_eq!(
        std::fs::read_to_string(victim.path().join("precious")).unwrap(),
        "keep me"
    );
    home.run(["hello"]).success().stdout_has("Hello, world!");
}
