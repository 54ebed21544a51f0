//! What `terminal.info` tells a plugin: which standard streams are terminals, the terminal's
//! size, and whether colour is wanted: `--color always|never`, else the conventions
//! command-line tools share.

use std::io::IsTerminal;

use crate::output::ColorChoice;
use crate::settings::{Settings, keys};

/// The terminal as lmi sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalInfo {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Columns and rows, when a standard stream is a terminal.
    pub size: Option<(u16, u16)>,
    pub color: bool,
}

pub fn info(settings: &Settings, choice: ColorChoice) -> TerminalInfo {
    let stdout = std::io::stdout().is_terminal();
    let size = terminal_size::terminal_size_of(std::io::stdout())
        .or_else(|| terminal_size::terminal_size_of(std::io::stderr()))
        .or_else(|| terminal_size::terminal_size_of(std::io::stdin()))
        .map(|(w, h)| (w.0, h.0));
    TerminalInfo {
        stdin: std::io::stdin().is_terminal(),
        stdout,
        stderr: std::io::stderr().is_terminal(),
        size,
        color: match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => color_wanted(|k| settings.global(k).map(str::to_owned), stdout),
        },
    }
}

/// `NO_COLOR` (any value) turns colour off, `CLICOLOR_FORCE` (not `0`) on, `TERM=dumb` off;
/// otherwise colour follows whether stdout is a terminal (no-color.org, bixense.com/clicolors).
fn color_wanted(var: impl Fn(&str) -> Option<String>, stdout_is_terminal: bool) -> bool {
    if var(keys::NO_COLOR).is_some() {
        return false;
    }
    if var(keys::CLICOLOR_FORCE).is_some_and(|v| v != "0") {
        return true;
    }
    if var(keys::TERM).is_some_and(|t| t == "dumb") {
        return false;
    }
    stdout_is_terminal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn colour_follows_the_shared_conventions() {
        assert!(color_wanted(with(&[]), true));
        assert!(!color_wanted(with(&[]), false));
        assert!(!color_wanted(with(&[("NO_COLOR", "1")]), true));
        assert!(!color_wanted(
            with(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
            true
        ));
        assert!(color_wanted(with(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!color_wanted(with(&[("CLICOLOR_FORCE", "0")]), false));
        assert!(!color_wanted(with(&[("TERM", "dumb")]), true));
        assert!(color_wanted(
            with(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]),
            false
        ));
    }
}
