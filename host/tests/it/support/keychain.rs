//! An environment's secrets in the test Secret Service, through `secret-tool` (Debian
//! `libsecret-tools`): written with exactly the attributes `keyring` gives the items lmi
//! stores (service `lmi`, username the account, target `default`, application
//! `rust-keyring`), so lmi finds them as it would find its own; read back the same way.
//! Each test's `Home` has its own configuration directory, which is part of the account, so
//! tests sharing the one Secret Service never see each other's items.

use std::io::Write;
use std::process::{Command, Stdio};

use super::Home;

/// The account lmi keeps `home`'s `env`'s `key` under: `<env>:<KEY>@<config dir>`.
pub fn env_secret_account(home: &Home, env: &str, key: &str) -> String {
    format!("{env}:{key}@{}", home.config().display())
}

/// Stores `value` as `home`'s `env`'s `key` in the test Secret Service.
pub fn store_env_secret(home: &Home, env: &str, key: &str, value: &str) {
    let account = env_secret_account(home, env, key);
    let mut child = Command::new("secret-tool")
        .args(["store", "--label"])
        .arg(format!("lmi test: {key} of {env}"))
        .args(["service", "lmi", "username", &account])
        .args(["target", "default", "application", "rust-keyring"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("secret-tool (Debian libsecret-tools) is installed");
    // No newline: secret-tool stores stdin as it is.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "secret-tool store failed (is the test Secret Service running? use scripts/with-keyring)"
    );
}

/// `home`'s `env`'s `key` as the test Secret Service holds it.
pub fn env_secret(home: &Home, env: &str, key: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "lmi", "username"])
        .arg(env_secret_account(home, env, key))
        .stdin(Stdio::null())
        .output()
        .expect("secret-tool (Debian libsecret-tools) is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}
