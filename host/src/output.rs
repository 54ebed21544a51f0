//! All of lmi's own output goes through here, so stdout stays machine-readable (`print!` is
//! linted out elsewhere) and a closed pipe (`lmi plugin list | head -1`) ends quietly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// `--color`: whether coloured output is wanted. `auto` follows `NO_COLOR`, `CLICOLOR_FORCE`,
/// `TERM=dumb` and whether stdout is a terminal (what plugins are told by `terminal.info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Writes one line to stdout. A broken pipe is not an error worth reporting.
pub fn line(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Writes a JSON document to stdout.
pub fn json(value: &serde_json::Value) {
    line(serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A note for the human at the terminal (stderr): progress, warnings, hints.
pub fn note(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A warning on stderr, prefixed so it stands out from plugin output.
pub fn warn(text: impl std::fmt::Display) {
    note(format_args!("warning: {text}"));
}
