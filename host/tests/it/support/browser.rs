//! The headless "user": tests/idp/browser.sh, usable as `$BROWSER`. Run with one URL, it
//! drives Debian's /usr/bin/chromium through the test IdP's login and consent pages and exits
//! once the app's loopback `/callback` answered (or the device flow's end page showed).
//!
//! ```ignore
//! let idp = Idp::start();
//! let mut home = Home::new();
//! browser::set_browser(&mut home, Browser::approve("alice"));
//! home.global_env(&idp.sso_env());
//! home.run(["login", "sso"]).success();
//! assert!(browser::log(&home).contains("done:"));
//! ```
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Home;
use super::idp::{idp_dir, require_node_modules};

/// Path of the `$BROWSER` program.
pub fn browser_sh() -> PathBuf {
    idp_dir().join("browser.sh")
}

/// What the headless user does on the provider's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sign in and grant consent (code flow: ends at the app's `/callback`).
    Approve,
    /// Sign in and cancel at consent: the app's callback gets `error=access_denied`.
    Deny,
    /// Device flow: confirm the user code, sign in, grant consent.
    Device,
    /// Device flow: sign in and cancel at consent (the app's poll gets `access_denied`).
    DeviceDeny,
}

impl Action {
    pub fn as_env(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Deny => "deny",
            Action::Device => "device",
            Action::DeviceDeny => "device-deny",
        }
    }
}

/// Settings for one headless user.
#[derive(Debug, Clone)]
pub struct Browser {
    pub login: String,
    pub action: Action,
}

impl Browser {
    pub fn approve(login: &str) -> Self {
        Self {
            login: login.into(),
            action: Action::Approve,
        }
    }
    pub fn deny(login: &str) -> Self {
        Self {
            login: login.into(),
            action: Action::Deny,
        }
    }
    pub fn device(login: &str) -> Self {
        Self {
            login: login.into(),
            action: Action::Device,
        }
    }
    pub fn device_deny(login: &str) -> Self {
        Self {
            login: login.into(),
            action: Action::DeviceDeny,
        }
    }

    /// The environment browser.sh reads.
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LMI_TEST_LOGIN", self.login.clone()),
            ("LMI_TEST_BROWSER_ACTION", self.action.as_env().into()),
        ]
    }
}

/// Where browser.sh logs when run through `set_browser` on this home.
pub fn log_path(home: &Home) -> PathBuf {
    home.path().join("browser.log")
}

/// What browser.sh logged so far for this home ("" if it never ran).
pub fn log(home: &Home) -> String {
    std::fs::read_to_string(log_path(home)).unwrap_or_default()
}

/// Sets `$BROWSER` (and the script's settings) for every later `lmi` run in `home`; the
/// script logs to `log_path(home)` too.
pub fn set_browser(home: &mut Home, browser: Browser) -> &mut Home {
    require_node_modules();
    home.env("BROWSER", &browser_sh().to_string_lossy());
    for (k, v) in browser.envs() {
        home.env(k, &v);
    }
    let log = log_path(home);
    home.env("LMI_TEST_BROWSER_LOG", &log.to_string_lossy());
    home
}

/// Starts browser.sh on `url` without waiting (as an app would); `log` receives its log lines.
pub fn spawn(url: &str, browser: &Browser, log: &Path) -> std::process::Child {
    require_node_modules();
    let mut cmd = Command::new(browser_sh());
    cmd.arg(url)
        .env("LMI_TEST_BROWSER_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in browser.envs() {
        cmd.env(k, v);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser_sh().display()))
}

/// Runs browser.sh on `url` to completion (it gives up by itself within 60 s).
pub fn run(url: &str, browser: &Browser) -> Output {
    require_node_modules();
    let mut cmd = Command::new(browser_sh());
    cmd.arg(url).stdin(Stdio::null());
    for (k, v) in browser.envs() {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser_sh().display()))
}
