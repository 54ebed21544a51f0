//! The one way lmi asks the user something on a terminal: a yes/no question (default no), a
//! line with a shown default (Enter keeps it), and hidden input for a secret.
//!
//! Every question
//! - needs stdin and stderr to be a terminal, or it is [`PromptError::NoTerminal`]: a pipe, a
//!   file or CI never answers for the user;
//! - is written to stderr, its text (and the default it shows) stripped of control and
//!   formatting characters, so text that came from a file cannot drive the terminal;
//! - waits at most [`ANSWER_WAIT`], and treats the deadline and end of input as no answer
//!   (after a deadline passed, the run asks nothing more: the abandoned read holds stdin);
//! - reads one line of at most [`LINE_LIMIT`] bytes, and refuses an answer holding a control
//!   or formatting character (an arrow key's escape sequence, a pasted line break).
//!
//! Hidden input turns the terminal's echo off for the one line and restores it on every way
//! out: the answer, end of input, the deadline, and (on Unix) a signal that ends lmi while it
//! waits (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::exit::{Exit, ExitStatus};
use crate::secrets::Secret;

/// How long a question waits for its answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(300);
/// The longest answer read, in bytes (a terminal's line buffer holds 4 KiB).
pub const LINE_LIMIT: usize = 4096;
/// Bounds on the text shown: the question (lines, characters per line) and a default.
const QUESTION_LINES: usize = 20;
const QUESTION_LINE_CHARS: usize = 600;
const DEFAULT_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// stdin or stderr is not a terminal.
    #[error("no terminal to ask on (stdin and stderr must both be a terminal)")]
    NoTerminal,
    #[error("no answer: the input ended")]
    EndOfInput,
    #[error("no answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// An earlier question of this run went unanswered; its read still holds stdin.
    #[error("no answer: an earlier question went unanswered, so lmi asks no more")]
    Abandoned,
    #[error("the answer is longer than {LINE_LIMIT} bytes")]
    TooLong,
    /// The answer holds a control or formatting character (named as `U+001B`).
    #[error("the answer holds the control or formatting character {0}; type it again")]
    Unsafe(String),
    #[error("cannot read the answer: {0}")]
    Io(#[from] std::io::Error),
}

impl ExitStatus for PromptError {
    fn exit(&self) -> Exit {
        match self {
            PromptError::Io(_) => Exit::Failure,
            _ => Exit::Usage,
        }
    }
}

/// Asks `question` (shown with ` [y/N] `); `y` or `yes` in any case is yes. Anything else,
/// end of input and the deadline are no.
pub fn confirm(question: &str) -> Result<bool, PromptError> {
    match confirm_answered(question) {
        Err(PromptError::EndOfInput | PromptError::TimedOut(_) | PromptError::Abandoned) => {
            Ok(false)
        }
        other => other,
    }
}

/// [`confirm`] for a question that must get an answer (the wizard's): end of input, the
/// deadline and an abandoned read are the error (exit 2), not a no. An answer too long or
/// holding a control character is a no, as for [`confirm`].
pub fn confirm_answered(question: &str) -> Result<bool, PromptError> {
    require_terminal()?;
    show(&format!("{} [y/N] ", shown_question(question)));
    match read_answer(ANSWER_WAIT) {
        Ok(answer) => Ok(is_yes(&answer)),
        Err(e @ (PromptError::EndOfInput | PromptError::TimedOut(_) | PromptError::Abandoned)) => {
            // The question's line was never ended.
            show("\n");
            Err(e)
        }
        Err(PromptError::TooLong | PromptError::Unsafe(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Asks for one line, showing `default` (`question [default]: `): an empty answer keeps it.
/// The answer is trimmed.
pub fn line(question: &str, default: Option<&str>) -> Result<String, PromptError> {
    require_terminal()?;
    show(&format!("{}: ", with_default(question, default)));
    let answer = read_answer(ANSWER_WAIT).inspect_err(|_| show("\n"))?;
    Ok(answer_or_default(&answer, default))
}

/// Asks for a secret with the terminal's echo off; an empty answer is returned as it is (the
/// caller decides what it means). Only the line's ending is removed.
pub fn secret(question: &str) -> Result<Secret<String>, PromptError> {
    require_terminal()?;
    let answer = {
        // Off before the question shows, so nothing typed after it is echoed.
        let _echo = echo::Off::new()?;
        show(&format!("{}: ", shown_question(question)));
        read_answer(ANSWER_WAIT)
    };
    // Echo was off, so the user's Enter did not move to a new line.
    show("\n");
    Ok(Secret::new(answer?))
}

/// One line piped to stdin (`--secret-stdin`): bounded, within the deadline, its line ending
/// removed. `None` when the input had no more lines. Not for a terminal: the caller checks
/// [`stdin_is_terminal`] first, since typed text would be echoed.
pub fn piped_line() -> Result<Option<Secret<String>>, PromptError> {
    match read_answer(ANSWER_WAIT) {
        Ok(line) => Ok(Some(Secret::new(line))),
        Err(PromptError::EndOfInput) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether stdin is a terminal (where `--secret-stdin` would echo what is typed).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether questions can be asked: stdin and stderr are both a terminal.
pub fn terminal_available() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn require_terminal() -> Result<(), PromptError> {
    if terminal_available() {
        Ok(())
    } else {
        Err(PromptError::NoTerminal)
    }
}

fn show(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// The question as shown: its lines kept, everything unsafe in them stripped, bounded.
fn shown_question(question: &str) -> String {
    crate::text::block(question, QUESTION_LINES, QUESTION_LINE_CHARS)
}

fn with_default(question: &str, default: Option<&str>) -> String {
    match default.map(|d| crate::text::line(d, DEFAULT_CHARS)) {
        Some(d) if !d.is_empty() => format!("{} [{d}]", shown_question(question)),
        _ => shown_question(question),
    }
}

fn is_yes(answer: &str) -> bool {
    let answer = answer.trim();
    answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

fn answer_or_default(answer: &str, default: Option<&str>) -> String {
    match answer.trim() {
        "" => default.unwrap_or_default().to_owned(),
        given => given.to_owned(),
    }
}

/// One line from stdin within `wait`, checked (see [`checked_line`]). Read on a thread so the
/// wait has a deadline; stdin's shared buffer keeps whatever was typed ahead for the next
/// question. A read abandoned at the deadline ends with the process.
fn read_answer(wait: Duration) -> Result<String, PromptError> {
    // A read abandoned at its deadline still holds stdin and would take the next line typed
    // (a later question's answer, a secret among them): once one question went unanswered,
    // the process asks no more.
    if ABANDONED.load(Ordering::Relaxed) {
        return Err(PromptError::Abandoned);
    }
    let read = within(wait, || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        bounded_line(&mut lock, LINE_LIMIT)
    })
    .ok_or_else(|| {
        ABANDONED.store(true, Ordering::Relaxed);
        PromptError::TimedOut(wait)
    })??;
    checked_line(read)
}

/// Set when a question's read was abandoned at its deadline (see [`read_answer`]).
static ABANDONED: AtomicBool = AtomicBool::new(false);

/// What one bounded read found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The input ended before any byte of a line.
    End,
    /// A line (its ending removed; the last line may have none).
    Text(Vec<u8>),
    /// More than the limit before a line ending.
    TooLong,
}

/// Reads up to and including the next `\n`, at most `limit` bytes of text.
fn bounded_line(reader: &mut impl BufRead, limit: usize) -> std::io::Result<Line> {
    let mut bytes = Vec::new();
    // One byte more than the limit, plus the line ending, tells "too long" from "just fits".
    reader
        .take(limit as u64 + 2)
        .read_until(b'\n', &mut bytes)?;
    if bytes.is_empty() {
        return Ok(Line::End);
    }
    let ended = bytes.last() == Some(&b'\n');
    if ended {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() > limit {
        if !ended {
            // The rest of the line belongs to this answer, not to the next question.
            discard_line(reader)?;
        }
        return Ok(Line::TooLong);
    }
    Ok(Line::Text(bytes))
}

/// Reads and drops the input up to and including the next `\n` (or its end).
fn discard_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// The answer as text, refused if it is not UTF-8 or holds anything unsafe.
fn checked_line(read: Line) -> Result<String, PromptError> {
    let bytes = match read {
        Line::End => return Err(PromptError::EndOfInput),
        Line::TooLong => return Err(PromptError::TooLong),
        Line::Text(bytes) => bytes,
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        PromptError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the answer is not UTF-8 text",
        ))
    })?;
    if let Some(c) = crate::text::first_unsafe(&text) {
        return Err(PromptError::Unsafe(crate::text::codepoint(c)));
    }
    Ok(text)
}

/// Runs `work` on a thread and waits for it at most `wait`: `None` at the deadline.
fn within<T: Send + 'static>(
    wait: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(wait).ok()
}

/// The terminal's echo, off while an [`echo::Off`] lives.
#[cfg(unix)]
#[allow(unsafe_code)]
mod echo {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The settings to restore, readable from a signal handler: written before
    /// [`ARMED_FD`] names the terminal, read only while it does.
    struct Saved(UnsafeCell<MaybeUninit<libc::termios>>);
    // SAFETY: written by the one thread that asks, before the handler is armed (Release on
    // ARMED_FD), and only read after that (Acquire); one question is asked at a time.
    unsafe impl Sync for Saved {}
    static SAVED: Saved = Saved(UnsafeCell::new(MaybeUninit::uninit()));
    /// The terminal whose echo is off, or -1.
    static ARMED_FD: AtomicI32 = AtomicI32::new(-1);

    const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    pub struct Off {
        fd: libc::c_int,
        saved: libc::termios,
        previous: Vec<(libc::c_int, libc::sigaction)>,
    }

    /// Restores the terminal, then lets the signal do what it would have done (its default
    /// action: only signals left at their default get this handler).
    extern "C" fn on_signal(signal: libc::c_int) {
        let fd = ARMED_FD.load(Ordering::Acquire);
        // SAFETY: tcsetattr, signal and raise are async-signal-safe; SAVED holds valid
        // settings while ARMED_FD is set.
        unsafe {
            if fd >= 0 {
                libc::tcsetattr(fd, libc::TCSANOW, (*SAVED.0.get()).as_ptr());
            }
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }

    impl Off {
        pub fn new() -> std::io::Result<Self> {
            let fd = libc::STDIN_FILENO;
            let mut saved = MaybeUninit::<libc::termios>::uninit();
            // SAFETY: fd is stdin, a terminal (checked by the caller); `saved` is written by
            // tcgetattr before it is read.
            let saved = unsafe {
                if libc::tcgetattr(fd, saved.as_mut_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                saved.assume_init()
            };
            // SAFETY: nothing reads SAVED while ARMED_FD is -1 (it is, between questions).
            unsafe { (*SAVED.0.get()).write(saved) };
            ARMED_FD.store(fd, Ordering::Release);
            let mut previous = Vec::new();
            for signal in SIGNALS {
                // SAFETY: a zeroed sigaction is a valid empty one; the handler is
                // async-signal-safe.
                unsafe {
                    // Only a signal that would end lmi as things are gets the handler (which
                    // ends it, the terminal restored): one ignored (`nohup`'s SIGHUP) or
                    // handled by someone else is left as it is.
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                        || old.sa_sigaction != libc::SIG_DFL
                    {
                        continue;
                    }
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction =
                        on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                    libc::sigemptyset(&mut action.sa_mask);
                    if libc::sigaction(signal, &action, &mut old) == 0 {
                        previous.push((signal, old));
                    }
                }
            }
            let mut quiet = saved;
            // Canonical input stays (the terminal edits the line); only the echo goes.
            quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHONL);
            // SAFETY: fd is a terminal and `quiet` valid settings for it.
            if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
                let e = std::io::Error::last_os_error();
                drop(Off {
                    fd,
                    saved,
                    previous,
                });
                return Err(e);
            }
            Ok(Off {
                fd,
                saved,
                previous,
            })
        }
    }

    impl Drop for Off {
        fn drop(&mut self) {
            // SAFETY: restores the settings read in `new`, then the handlers it replaced.
            unsafe {
                libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
                ARMED_FD.store(-1, Ordering::Release);
                for (signal, old) in &self.previous {
                    libc::sigaction(*signal, old, std::ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod echo {
    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::Console::{
        CONSOLE_MODE, ENABLE_ECHO_INPUT, GetConsoleMode, GetStdHandle, STD_INPUT_HANDLE,
        SetConsoleMode,
    };

    pub struct Off {
        handle: HANDLE,
        saved: CONSOLE_MODE,
    }

    impl Off {
        pub fn new() -> std::io::Result<Self> {
            // SAFETY: plain console calls on this process's stdin handle.
            unsafe {
                let handle = GetStdHandle(STD_INPUT_HANDLE);
                let mut saved: CONSOLE_MODE = 0;
                if GetConsoleMode(handle, &mut saved) == 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if SetConsoleMode(handle, saved & !ENABLE_ECHO_INPUT) == 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(Off { handle, saved })
            }
        }
    }

    impl Drop for Off {
        fn drop(&mut self) {
            // SAFETY: restores the mode read in `new`.
            unsafe {
                SetConsoleMode(self.handle, self.saved);
            }
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod echo {
    pub struct Off;

    impl Off {
        pub fn new() -> std::io::Result<Self> {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "hidden input is not available on this platform",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read(input: &[u8], limit: usize) -> Line {
        bounded_line(&mut Cursor::new(input.to_vec()), limit).unwrap()
    }

    #[test]
    fn a_line_is_bounded_and_its_ending_removed() {
        assert_eq!(read(b"", 10), Line::End);
        assert_eq!(read(b"yes\n", 10), Line::Text(b"yes".to_vec()));
        assert_eq!(read(b"yes\r\nmore\n", 10), Line::Text(b"yes".to_vec()));
        // The last line of a pipe may have no ending.
        assert_eq!(read(b"s3cret", 10), Line::Text(b"s3cret".to_vec()));
        assert_eq!(read(b"\n", 10), Line::Text(Vec::new()));
        // Exactly the limit fits, with or without an ending; one more byte does not.
        assert_eq!(
            read(b"0123456789\n", 10),
            Line::Text(b"0123456789".to_vec())
        );
        assert_eq!(read(b"0123456789", 10), Line::Text(b"0123456789".to_vec()));
        assert_eq!(
            read(b"0123456789\r\n", 10),
            Line::Text(b"0123456789".to_vec())
        );
        assert_eq!(read(b"0123456789a\n", 10), Line::TooLong);
        assert_eq!(read(&[b'x'; 100_000], 10), Line::TooLong);
    }

    #[test]
    fn a_reader_keeps_what_follows_the_line_for_the_next_question() {
        let mut input = Cursor::new(b"first\nsecond\n".to_vec());
        assert_eq!(
            bounded_line(&mut input, 64).unwrap(),
            Line::Text(b"first".to_vec())
        );
        assert_eq!(
            bounded_line(&mut input, 64).unwrap(),
            Line::Text(b"second".to_vec())
        );
        assert_eq!(bounded_line(&mut input, 64).unwrap(), Line::End);
    }

    #[test]
    fn a_line_too_long_is_dropped_whole_and_the_next_line_is_the_next_answer() {
        let mut input = b"n".to_vec();
        input.extend([b'y'; 50]);
        input.extend(b"\nsecond\n");
        let mut input = Cursor::new(input);
        assert_eq!(bounded_line(&mut input, 10).unwrap(), Line::TooLong);
        assert_eq!(
            bounded_line(&mut input, 10).unwrap(),
            Line::Text(b"second".to_vec())
        );
        assert_eq!(bounded_line(&mut input, 10).unwrap(), Line::End);
    }

    #[test]
    fn end_of_input_length_and_unsafe_characters_are_no_answer() {
        assert!(matches!(
            checked_line(Line::End),
            Err(PromptError::EndOfInput)
        ));
        assert!(matches!(
            checked_line(Line::TooLong),
            Err(PromptError::TooLong)
        ));
        // An arrow key typed into the line, a pasted escape sequence.
        let err = checked_line(Line::Text(b"dev\x1b[A".to_vec())).unwrap_err();
        assert!(err.to_string().contains("U+001B"), "{err}");
        assert!(matches!(
            checked_line(Line::Text(vec![0xff, 0xfe])),
            Err(PromptError::Io(_))
        ));
        assert_eq!(
            checked_line(Line::Text("pa ss wörd".as_bytes().to_vec())).unwrap(),
            "pa ss wörd"
        );
    }

    #[test]
    fn yes_is_y_or_yes_in_any_case_and_nothing_else() {
        for yes in ["y", "Y", "yes", "YES", "Yes", " yes \n", "yEs"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "n", "no", "ye", "yess", "sure", "y es"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn enter_keeps_the_default_and_anything_else_replaces_it() {
        assert_eq!(answer_or_default("", Some("dev")), "dev");
        assert_eq!(answer_or_default("   ", Some("dev")), "dev");
        assert_eq!(answer_or_default(" prod ", Some("dev")), "prod");
        assert_eq!(answer_or_default("", None), "");
    }

    #[test]
    fn what_is_shown_is_stripped_and_bounded() {
        let q = with_default(
            "Service URL\u{1b}]52;c;eA==\u{7}",
            Some("https://x\u{1b}[2J\u{202e}"),
        );
        assert!(
            !q.chars().any(crate::text::is_unsafe_char),
            "nothing unsafe: {q:?}"
        );
        assert!(
            q.starts_with("Service URL") && q.contains("[https://x"),
            "{q}"
        );
        assert_eq!(with_default("Name", Some("")), "Name");
        assert_eq!(with_default("Name", None), "Name");
        let long = with_default("Q", Some(&"d".repeat(1000)));
        assert!(long.chars().count() < DEFAULT_CHARS + 10, "{}", long.len());
        // A multi-line question keeps its lines.
        assert_eq!(
            shown_question("line one\n  two\u{7}\nthree?"),
            "line one\n  two\nthree?"
        );
    }

    #[test]
    fn a_wait_ends_at_its_deadline() {
        let started = std::time::Instant::now();
        let slow = within(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
            1
        });
        assert_eq!(slow, None);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(within(Duration::from_secs(5), || 7), Some(7));
    }
}
