//! A protected environment's banner and its question, on stderr. Everything shown is
//! escape-free and bounded: the user's name was stripped when the ID token was checked, the
//! environment name is validated, and the command line is the user's words made plain here.

use super::Refusal;
use crate::auth::sso::SsoUser;
use crate::prompt::{self, PromptError};

/// Bounds on the command line shown: per word, and in all.
const WORD_CHARS: usize = 200;
const LINE_CHARS: usize = 600;

fn who(user: Option<&SsoUser>) -> String {
    match user {
        Some(u) => format!("signed in as {}", u.display_name()),
        None => "not signed in".to_owned(),
    }
}

/// One line before a plugin command in a protected environment.
pub(super) fn banner(target: &str, user: Option<&SsoUser>) {
    crate::output::note(format_args!("lmi: {target} is protected; {}", who(user)));
}

/// Asks whether to run `command_line` ([`prompt::confirm`]: only a terminal on stdin and
/// stderr can answer). No terminal, "no", end of input or no answer within
/// [`prompt::ANSWER_WAIT`] is a refusal.
pub(super) fn ask(target: &str, user: Option<&SsoUser>, command_line: &str) -> Result<(), Refusal> {
    let question = format!(
        "lmi: {target} is protected; this command asks before it runs:\n  {command_line}\n  {}\nRun it in {target}?",
        who(user)
    );
    match prompt::confirm(&question) {
        Ok(true) => Ok(()),
        Err(PromptError::NoTerminal) => Err(Refusal::NoTerminal {
            target: target.to_owned(),
            command_line: command_line.to_owned(),
        }),
        Ok(false) | Err(_) => Err(Refusal::Declined {
            target: target.to_owned(),
            command_line: command_line.to_owned(),
        }),
    }
}

/// The command line as the question shows it: `lmi -e prod deploy 'two words'`. Each word
/// is bounded and any control or formatting character in it shown as `?`; words that a shell
/// would split or expand are single-quoted.
pub fn command_line(env: Option<&str>, command: &str, args: &[String]) -> String {
    let mut words = vec!["lmi".to_owned()];
    if let Some(env) = env {
        words.push("-e".to_owned());
        words.push(shell_word(env));
    }
    words.push(shell_word(command));
    words.extend(args.iter().map(|a| shell_word(a)));
    crate::text::line(&words.join(" "), LINE_CHARS)
}

fn shell_word(word: &str) -> String {
    let mut plain: String = word
        .chars()
        .map(|c| {
            if crate::text::is_unsafe_char(c) {
                '?'
            } else {
                c
            }
        })
        .take(WORD_CHARS)
        .collect();
    if word.chars().count() > WORD_CHARS {
        plain.push('…');
    }
    let bare = !plain.is_empty()
        && plain
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./=:,@%+".contains(c));
    if bare {
        plain
    } else {
        format!("'{}'", plain.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_plain_quoted_and_bounded() {
        let args = vec![
            "svc".to_owned(),
            "two words".to_owned(),
            "it's".to_owned(),
            "\u{1b}]52;c;eA==\u{7}".to_owned(),
            String::new(),
            "x".repeat(500),
        ];
        let line = command_line(Some("prod"), "deploy", &args);
        assert!(
            line.starts_with("lmi -e prod deploy svc 'two words' 'it'\\''s' '?]52;c;eA==?' ''"),
            "{line}"
        );
        assert!(
            !line.contains('\u{1b}') && !line.contains('\u{7}'),
            "{line}"
        );
        assert!(line.chars().count() <= LINE_CHARS + 1, "{}", line.len());
        assert_eq!(command_line(None, "hello", &[]), "lmi hello");
    }
}
