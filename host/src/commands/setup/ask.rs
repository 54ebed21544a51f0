//! The wizard's questions, on top of [`crate::prompt`] (the one primitive that asks): a line
//! checked as it is answered and asked again when it is refused, and an optional value that
//! `-` removes.

use crate::commands::CliError;
use crate::prompt;

/// How often one question is asked again after a refused answer before the wizard stops.
const TRIES: usize = 5;

/// What an optional answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Optional {
    /// Set to this value.
    Value(String),
    /// Not set (Enter with no current value, or `-` to remove the current one).
    Unset,
}

impl Optional {
    pub fn value(&self) -> Option<&str> {
        match self {
            Optional::Value(v) => Some(v),
            Optional::Unset => None,
        }
    }
}

/// Asks `question` (Enter keeps `default`) until `check` accepts the trimmed answer; a refusal
/// is shown and the question asked again, at most [`TRIES`] times.
pub fn checked(
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<String, String>,
) -> Result<String, CliError> {
    for _ in 0..TRIES {
        let answer = prompt::line(question, default)?;
        match check(answer.trim()) {
            Ok(value) => return Ok(value),
            Err(why) => crate::output::note(format_args!("  not accepted: {why}")),
        }
    }
    Err(too_many(question))
}

/// A value that may be left out: Enter keeps `current` (or leaves it unset), `-` removes it.
pub fn optional(
    question: &str,
    current: Option<&str>,
    check: impl Fn(&str) -> Result<String, String>,
) -> Result<Optional, CliError> {
    let question = match current {
        Some(_) => format!("{question} (Enter keeps it, - removes it)"),
        None => format!("{question} (optional, Enter skips)"),
    };
    for _ in 0..TRIES {
        let answer = prompt::line(&question, current)?;
        let answer = answer.trim();
        if answer.is_empty() || answer == "-" {
            return Ok(Optional::Unset);
        }
        match check(answer) {
            Ok(value) => return Ok(Optional::Value(value)),
            Err(why) => crate::output::note(format_args!("  not accepted: {why}")),
        }
    }
    Err(too_many(&question))
}

/// A yes/no question that must be answered: no answer (end of input, the deadline) stops the
/// wizard (exit 2) instead of counting as a no.
pub fn yes(question: &str) -> Result<bool, CliError> {
    Ok(prompt::confirm_answered(question)?)
}

/// Any text that is not empty.
pub fn not_empty(answer: &str) -> Result<String, String> {
    if answer.is_empty() {
        Err("an answer is needed".to_owned())
    } else {
        Ok(answer.to_owned())
    }
}

/// A URL lmi accepts for `key` (https, or http to loopback).
pub fn url_for(key: &'static str) -> impl Fn(&str) -> Result<String, String> {
    move |answer| {
        crate::settings::check_url_from(key, "your answer", answer)
            .map(|_| answer.to_owned())
            .map_err(|e| e.to_string())
    }
}

/// A value a `.env` file can hold so that it reads back exactly.
pub fn storable(answer: &str) -> Result<String, String> {
    crate::settings::edit::encode(answer)
        .map(|_| answer.to_owned())
        .map_err(|why| format!("the value {why}"))
}

fn too_many(question: &str) -> CliError {
    CliError::usage(format!(
        "no accepted answer to \"{}\" after {TRIES} tries",
        crate::text::line(question, 80)
    ))
}
