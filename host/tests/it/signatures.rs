//! Plugin signatures (issue 14): `lmi plugin sign` and the real `minisign` tool (Debian's)
//! both make signatures an install verifies; `LMI_PLUGIN_REQUIRE_SIGNATURE` refuses an
//! unsigned plugin or an untrusted key before anything is compiled; a signature that does
//! not match the files is refused whatever the policy; `plugin verify` checks the installed
//! files again against the keys trusted now; an encrypted key's password is never shown.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::support::{Home, Run, copy_plugin, plugin_dir};

/// A minisign key pair made by the `minisign` tool in `dir`: (public key `RW…`, key id as
/// minisign shows it, secret key file). `password` encrypts the secret key; `None` is
/// `minisign -W` (no password).
pub(crate) fn minisign_key(
    dir: &Path,
    name: &str,
    password: Option<&str>,
) -> (String, String, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (public, secret) = (
        dir.join(format!("{name}.pub")),
        dir.join(format!("{name}.key")),
    );
    let mut cmd = Command::new("minisign");
    cmd.arg("-G").arg("-p").arg(&public).arg("-s").arg(&secret);
    if password.is_none() {
        cmd.arg("-W");
    }
    // minisign reads the password (twice) from stdin when it is not a terminal.
    let input = password
        .map(|pw| format!("{pw}\n{pw}\n"))
        .unwrap_or_default();
    let run = Run::piped(cmd, &input);
    assert_eq!(
        run.code, 0,
        "minisign -G (install Debian's minisign): {run:#?}"
    );
    let text = std::fs::read_to_string(&public).unwrap();
    let id = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("untrusted comment: minisign public key "))
        .unwrap()
        .trim()
        .to_owned();
    (text.lines().nth(1).unwrap().to_owned(), id, secret)
}

/// A copy of the hello example in `tmp/<name>`.
fn hello_copy(tmp: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(name);
    copy_plugin(&plugin_dir("plugins/hello"), &dir);
    dir
}

/// The statement, computed here from the files as the signature format defines it.
fn statement(dir: &Path) -> String {
    let hex = |p: PathBuf| hex::encode(Sha256::digest(std::fs::read(p).unwrap()));
    format!(
        "lmi-plugin-signature/1\ncomponent sha256:{}\nmanifest sha256:{}\n",
        hex(dir.join("hello.wasm")),
        hex(dir.join("lmi-plugin.toml"))
    )
}

/// Signs `dir` with the `minisign` tool over the statement computed here.
fn minisign_sign(dir: &Path, secret: &Path) {
    let stmt = dir.parent().unwrap().join(format!(
        "{}.stmt",
        dir.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&stmt, statement(dir)).unwrap();
    let out = Command::new("minisign")
        .arg("-S")
        .arg("-s")
        .arg(secret)
        .arg("-m")
        .arg(&stmt)
        .arg("-x")
        .arg(dir.join("lmi-plugin.minisig"))
        .output()
        .unwrap();
    assert!(out.status.success(), "minisign -S: {out:?}");
}

fn lmi_sign(home: &Home, dir: &Path, secret: &Path) -> Run {
    home.run([
        "plugin",
        "sign",
        dir.to_str().unwrap(),
        "--key",
        secret.to_str().unwrap(),
    ])
}

fn install(home: &Home, dir: &Path, more: &[&str]) -> Run {
    let mut args = vec!["plugin", "install", dir.to_str().unwrap(), "--yes"];
    args.extend(more);
    home.run(args)
}

/// A home that trusts `keys` and, with `require`, requires a signature.
pub(crate) fn home_trusting(keys: &[&str], require: bool) -> Home {
    let home = Home::new();
    let mut env = format!("LMI_PLUGIN_TRUSTED_KEYS={}\n", keys.join(","));
    if require {
        env.push_str("LMI_PLUGIN_REQUIRE_SIGNATURE=true\n");
    }
    home.global_env(&env);
    home
}

/// Nothing was compiled into the cache and nothing installed.
#[track_caller]
fn nothing_installed(home: &Home) {
    let compiled = std::fs::read_dir(home.cache().join("compiled"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(compiled, 0, "something was compiled");
    home.run(["plugin", "list"])
        .success()
        .stderr_has("No plugins installed");
}

/// The version directory hello was installed into.
fn installed_dir(home: &Home) -> PathBuf {
    let versions = home.data().join("plugins/.versions");
    std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hello-")
        })
        .unwrap()
}

/// A wasm custom section appended to a component: it stays a valid component, so only the
/// signature can tell it changed.
fn append_custom_section(component: &Path) {
    let mut bytes = std::fs::read(component).unwrap();
    let name = b"evil";
    let payload = b"changed after signing";
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(component, bytes).unwrap();
}

#[test]
fn a_plugin_signed_by_lmi_or_by_the_minisign_tool_installs_verified() {
    let tmp = tempfile::tempdir().unwrap();
    let (public, id, secret) = minisign_key(&tmp.path().join("keys"), "author", None);

    // lmi plugin digest prints the statement as defined, byte for byte.
    let by_tool = hello_copy(tmp.path(), "by-tool");
    let home = home_trusting(&[&public], true);
    let digest = home.run(["plugin", "digest", by_tool.to_str().unwrap()]);
    digest.success();
    assert_eq!(digest.stdout, statement(&by_tool));

    // Signed with the minisign tool over that statement.
    minisign_sign(&by_tool, &secret);
    install(&home, &by_tool, &[]).success();
    home.run(["hello"]).success();
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has(&format!("signature: signed by key {id} (trusted"));
    home.run(["plugin", "verify", "hello"])
        .success()
        .stdout_has(&format!("verified: signed by trusted key {id}"));

    // Signed by lmi plugin sign, and minisign itself accepts that signature.
    let by_lmi = hello_copy(tmp.path(), "by-lmi");
    let other = home_trusting(&[&public], true);
    lmi_sign(&other, &by_lmi, &secret)
        .success()
        .stderr_has(&format!("with minisign key {id}"))
        .stderr_has(&public);
    let stmt = tmp.path().join("by-lmi.stmt");
    std::fs::write(&stmt, statement(&by_lmi)).unwrap();
    let out = Command::new("minisign")
        .args(["-V", "-P", &public, "-m"])
        .arg(&stmt)
        .arg("-x")
        .arg(by_lmi.join("lmi-plugin.minisig"))
        .output()
        .unwrap();
    assert!(out.status.success(), "minisign -V: {out:?}");
    install(&other, &by_lmi, &[]).success();
    other.run(["plugin", "verify", "hello"]).success();
    let info = other.run(["plugin", "info", "hello", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(v["signature"]["state"], "trusted");
    assert_eq!(v["signature"]["key"], id.as_str());

    // The installed copy keeps the manifest byte for byte and the signature.
    let installed = installed_dir(&other);
    assert_eq!(
        std::fs::read(installed.join("lmi-plugin.toml")).unwrap(),
        std::fs::read(by_lmi.join("lmi-plugin.toml")).unwrap()
    );
    assert!(installed.join("lmi-plugin.minisig").is_file());
}

#[test]
fn an_unsigned_plugin_is_refused_under_the_policy_before_it_is_compiled() {
    let tmp = tempfile::tempdir().unwrap();
    let (public, _, _) = minisign_key(&tmp.path().join("keys"), "author", None);
    let dir = hello_copy(tmp.path(), "unsigned");
    let mut home = home_trusting(&[&public], true);
    // A compile would fail at once with this bound: if one ran, its error would show.
    home.env("LMI_COMPILE_MEMORY_MB", "1");

    let run = install(&home, &dir, &[]);
    run.code(2)
        .stderr_has("is refused: it is not signed")
        .stderr_has("LMI_PLUGIN_REQUIRE_SIGNATURE=true")
        .stderr_has("--allow-unsigned")
        .stderr_lacks("LMI_COMPILE_MEMORY_MB")
        .stderr_lacks("problems");
    nothing_installed(&home);
    // validate refuses it the same way, compiling nothing either.
    home.run(["plugin", "validate", dir.to_str().unwrap()])
        .code(2)
        .stderr_has("it is not signed")
        .stderr_lacks("LMI_COMPILE_MEMORY_MB");
    nothing_installed(&home);

    // --allow-unsigned lets it in (with a bound it compiles under).
    let mut home = home_trusting(&[&public], true);
    home.env("LMI_COMPILE_MEMORY_MB", "512");
    install(&home, &dir, &["--allow-unsigned"]).success();
    home.run(["hello"]).success();
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has("signature: unsigned");
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has("it is not signed");
}

#[test]
fn a_plugin_signed_by_an_untrusted_key_is_refused_under_the_policy_and_flagged_without() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let (_, stranger_id, stranger) = minisign_key(&keys, "stranger", None);
    let (trusted, _, _) = minisign_key(&keys, "trusted", None);
    let dir = hello_copy(tmp.path(), "stranger");
    minisign_sign(&dir, &stranger);

    let mut home = home_trusting(&[&trusted], true);
    home.env("LMI_COMPILE_MEMORY_MB", "1");
    install(&home, &dir, &[])
        .code(2)
        .stderr_has(&format!(
            "it is signed by key {stranger_id}, which is not in LMI_PLUGIN_TRUSTED_KEYS"
        ))
        .stderr_lacks("LMI_COMPILE_MEMORY_MB");
    nothing_installed(&home);

    // Without the policy it installs, flagged, and recorded as untrusted.
    let home = home_trusting(&[&trusted], false);
    install(&home, &dir, &[]).success().stderr_has(&format!(
        "warning: hello 0.1.0 is signed by key {stranger_id}"
    ));
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has(&format!("signed by key {stranger_id} (untrusted"));
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has(&format!("signed by key {stranger_id}, which is not in"));

    // A malformed trusted key is a configuration error naming it.
    let home = home_trusting(&[&trusted, "RWnot-a-key"], false);
    install(&home, &dir, &[])
        .code(2)
        .stderr_has("LMI_PLUGIN_TRUSTED_KEYS")
        .stderr_has("`RWnot-a-key` is not a minisign public key");
}

#[test]
fn a_component_or_manifest_changed_after_signing_is_refused_whatever_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (public, id, secret) = minisign_key(&tmp.path().join("keys"), "author", None);
    // No requirement: a signature that does not verify is refused all the same, and
    // --allow-unsigned does not let it in.
    let home = home_trusting(&[&public], false);

    let component = hello_copy(tmp.path(), "component");
    lmi_sign(&home, &component, &secret).success();
    append_custom_section(&component.join("hello.wasm"));
    for more in [&[][..], &["--allow-unsigned"]] {
        install(&home, &component, more)
            .code(2)
            .stderr_has(&format!("does not verify with trusted key {id}"));
    }
    nothing_installed(&home);

    let manifest = hello_copy(tmp.path(), "manifest");
    lmi_sign(&home, &manifest, &secret).success();
    let path = manifest.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("Greets you", "Greets you warmly")).unwrap();
    install(&home, &manifest, &[])
        .code(2)
        .stderr_has(&format!("does not verify with trusted key {id}"));
    nothing_installed(&home);

    // A signature file that is not minisign's is refused too.
    let garbage = hello_copy(tmp.path(), "garbage");
    std::fs::write(
        garbage.join("lmi-plugin.minisig"),
        "untrusted comment: x\n!!\n",
    )
    .unwrap();
    install(&home, &garbage, &["--allow-unsigned"])
        .code(2)
        .stderr_has("lmi-plugin.minisig is not a minisign signature");
    nothing_installed(&home);
}

#[test]
fn plugin_verify_fails_after_the_installed_files_change_or_the_key_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (public, id, secret) = minisign_key(&tmp.path().join("keys"), "author", None);
    let dir = hello_copy(tmp.path(), "hello");
    let home = home_trusting(&[&public], true);
    lmi_sign(&home, &dir, &secret).success();
    install(&home, &dir, &[]).success();
    home.run(["plugin", "verify", "hello"]).success();

    // The installed component changed.
    let installed = installed_dir(&home);
    append_custom_section(&installed.join("component.wasm"));
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has(&format!("does not verify with trusted key {id}"))
        .stderr_has("is not the one installed");

    // Installed again, then its manifest changed.
    install(&home, &dir, &[]).success();
    home.run(["plugin", "verify", "hello"]).success();
    let installed = installed_dir(&home);
    let path = installed.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has(&format!("does not verify with trusted key {id}"));

    // Installed again, then the key is no longer trusted.
    install(&home, &dir, &[]).success();
    home.global_env("LMI_PLUGIN_TRUSTED_KEYS=\n");
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has(&format!(
            "signed by key {id}, which is not in LMI_PLUGIN_TRUSTED_KEYS (it was when the plugin was installed)"
        ));
    home.run(["plugin", "info", "hello"])
        .success()
        .stdout_has(&format!("signed by key {id} (trusted: verified at install; it is not in LMI_PLUGIN_TRUSTED_KEYS now"));
}

#[test]
fn a_linked_plugin_is_verified_at_link_time_and_verify_reads_the_authors_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (public, id, secret) = minisign_key(&tmp.path().join("keys"), "author", None);
    let dir = hello_copy(tmp.path(), "hello");
    let home = home_trusting(&[&public], true);
    install(&home, &dir, &["--link"])
        .code(2)
        .stderr_has("it is not signed");
    lmi_sign(&home, &dir, &secret).success();
    install(&home, &dir, &["--link"]).success();
    home.run(["plugin", "verify", "hello"])
        .success()
        .stdout_has(&id);
    let path = dir.join("lmi-plugin.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
    home.run(["plugin", "verify", "hello"])
        .code(1)
        .stderr_has("does not verify");
}

#[test]
fn an_encrypted_keys_password_is_taken_from_the_environment_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let password = "pw-7c1e9a-never-shown";
    let (public, id, secret) = minisign_key(&tmp.path().join("keys"), "author", Some(password));
    let dir = hello_copy(tmp.path(), "hello");

    // No terminal, no LMI_SIGNING_KEY_PASSWORD: a clear refusal.
    let home = home_trusting(&[&public], true);
    lmi_sign(&home, &dir, &secret)
        .code(2)
        .stderr_has("LMI_SIGNING_KEY_PASSWORD");
    assert!(!dir.join("lmi-plugin.minisig").exists());

    // A wrong password: refused, and not shown either.
    let mut wrong = home_trusting(&[&public], true);
    wrong.env("LMI_SIGNING_KEY_PASSWORD", "wrong-pw-31b8d2");
    let run = wrong.run([
        "-vv",
        "plugin",
        "sign",
        dir.to_str().unwrap(),
        "--key",
        secret.to_str().unwrap(),
    ]);
    run.code(2).nowhere("wrong-pw-31b8d2");
    wrong.log_lacks("wrong-pw-31b8d2");
    assert!(!dir.join("lmi-plugin.minisig").exists());

    let mut home = home_trusting(&[&public], true);
    home.env("LMI_SIGNING_KEY_PASSWORD", password);
    let run = home.run([
        "-vv",
        "plugin",
        "sign",
        dir.to_str().unwrap(),
        "--key",
        secret.to_str().unwrap(),
    ]);
    run.success().stderr_has(&id).nowhere(password);
    home.log_lacks(password);
    install(&home, &dir, &[]).success().nowhere(password);
    home.run(["plugin", "verify", "hello"]).success();
}
