//! Opening the sign-in page: `$BROWSER` when set (a `:`-separated list of commands — `;` on
//! Windows — each run
//! with the URL as its last argument or in place of `%s`), else the platform opener. The
//! browser is started, not waited for, with its output discarded; failing to start one is
//! never fatal — the caller has already printed the URL.
//!
//! The browser and whatever it starts never inherit lmi's secrets: every key of
//! `settings::SECRET_KEYS`, and every plugin setting (`LMI_PLUGIN_*`), set in lmi's own
//! environment is removed from the child's.
//!
//! Only a [`SafeUrl`] can be opened: an `https://` (or loopback `http://`) URL, whose text
//! starts with its scheme, so neither `$BROWSER` nor the platform opener can read it as an
//! option or as a file, share or other application.

use std::process::{Command, Stdio};

use super::safe_url::SafeUrl;
use crate::settings::Settings;

/// Starts a browser on `url`; the error says what was tried.
pub fn open(settings: &Settings, url: &SafeUrl) -> Result<(), String> {
    let url = url.as_str();
    if let Some(list) = settings.global(crate::settings::keys::BROWSER) {
        let mut failures = Vec::new();
        let separator = if cfg!(windows) { ';' } else { ':' };
        for entry in list
            .split(separator)
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let mut words = entry.split_whitespace();
            let Some(program) = words.next() else {
                continue;
            };
            let mut args: Vec<String> = words.map(str::to_owned).collect();
            if args.iter().any(|a| a.contains("%s")) {
                for a in &mut args {
                    *a = a.replace("%s", url);
                }
            } else {
                args.push(url.to_owned());
            }
            let mut command = Command::new(program);
            command.args(&args);
            match start(settings, command) {
                Ok(child) => {
                    tracing::debug!("started $BROWSER `{program}` (pid {})", child.id());
                    return Ok(());
                }
                Err(e) => failures.push(format!("`{program}`: {e}")),
            }
        }
        return Err(format!(
            "$BROWSER could not be started ({})",
            failures.join("; ")
        ));
    }
    // The platform's openers (xdg-open, open, start), tried in order.
    let mut failures = Vec::new();
    for command in open::commands(url) {
        let program = command.get_program().to_string_lossy().into_owned();
        match start(settings, command) {
            Ok(_) => return Ok(()),
            Err(e) => failures.push(format!("`{program}`: {e}")),
        }
    }
    Err(format!(
        "no browser could be opened ({})",
        failures.join("; ")
    ))
}

/// Starts `command` detached from lmi's terminal, without lmi's secrets in its environment.
fn start(settings: &Settings, mut command: Command) -> std::io::Result<std::process::Child> {
    for key in crate::settings::SECRET_KEYS {
        command.env_remove(key);
    }
    // Plugins' own settings, some of them secrets.
    for key in settings
        .process_keys()
        .filter(|k| k.starts_with(crate::settings::keys::PLUGIN_CONFIG_PREFIX))
    {
        command.env_remove(key);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}
