//! lmi's own files as an attack surface: another local user (or a group) who can write a
//! directory above them, links planted in the store, and state created under a loose umask.
//! Every test here plays the attacker first and checks lmi never trusts what it did not write.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::{Home, plugin_dir};

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
