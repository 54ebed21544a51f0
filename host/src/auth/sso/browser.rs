//! Opening the sign-in page: `$BROWSER` when set (a `:`-separated list of commands — `;` on
//! Windows — each run
//! with the URL as its last argument or in place of `%s`), else the platform opener. The
//! browser is started, not waited for, with its output discarded; failing to start one is
//! never fatal — the caller has already printed the URL.
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
            match Command::new(program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
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
    open::that_detached(url).map_err(|e| format!("no browser could be opened ({e})"))
}
