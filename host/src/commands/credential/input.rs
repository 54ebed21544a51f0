//! The protocol input a credential helper reads on stdin, bounded: at most 64 KiB and 100
//! lines, read within a minute (git and docker write it at once and close the pipe). A
//! line's trailing `\r` is dropped; any other control character, or text that is not UTF-8,
//! refuses the whole input: it is never passed on, logged or echoed.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use crate::commands::CliError;

/// Most bytes read.
pub const MAX_BYTES: usize = 64 << 10;
/// Most lines read.
pub const MAX_LINES: usize = 100;
/// How long the caller has to write its input.
const DEADLINE: Duration = Duration::from_secs(60);

/// Reads stdin whole, within the bounds, as lines.
pub fn read_lines(what: &str) -> Result<Vec<String>, CliError> {
    let raw = read_bounded(what)?;
    parse_lines(&raw, what)
}

/// Reads at most [`MAX_BYTES`] from stdin within [`DEADLINE`] (on its own thread: a read
/// cannot be given a deadline, and the process exits without waiting for it).
fn read_bounded(what: &str) -> Result<Vec<u8>, CliError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let read = std::io::stdin()
            .lock()
            .take(MAX_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(read);
    });
    let read = rx.recv_timeout(DEADLINE).map_err(|_| {
        CliError::usage(format!(
            "{what}: no input on stdin within {} s (it is run by another program, which writes its request there)",
            DEADLINE.as_secs()
        ))
    })?;
    let raw =
        read.map_err(|e| CliError::failure(anyhow::anyhow!("{what}: cannot read stdin: {e}")))?;
    if raw.len() > MAX_BYTES {
        return Err(CliError::usage(format!(
            "{what}: more than {} KiB on stdin; refused",
            MAX_BYTES >> 10
        )));
    }
    Ok(raw)
}

/// The lines of `raw` (see the module docs for what is refused).
pub fn parse_lines(raw: &[u8], what: &str) -> Result<Vec<String>, CliError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| CliError::usage(format!("{what}: the input is not UTF-8; refused")))?;
    let lines: Vec<String> = text
        .split_terminator('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect();
    if lines.len() > MAX_LINES {
        return Err(CliError::usage(format!(
            "{what}: more than {MAX_LINES} lines on stdin; refused"
        )));
    }
    for (n, line) in lines.iter().enumerate() {
        if let Some(c) = line.chars().find(|c| c.is_control()) {
            return Err(CliError::usage(format!(
                "{what}: line {} of the input holds the control character {}; refused",
                n + 1,
                crate::text::codepoint(c)
            )));
        }
    }
    Ok(lines)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_control_characters_refused() {
        assert_eq!(
            parse_lines(b"protocol=https\r\nhost=x\n\n", "t").unwrap(),
            vec!["protocol=https", "host=x", ""]
        );
        for bad in [&b"host=a\x1b]52;x\n"[..], b"host=a\0b\n", b"host=\xff\n"] {
            assert!(parse_lines(bad, "t").is_err(), "{bad:?}");
        }
        let many = "a=b\n".repeat(MAX_LINES + 1);
        assert!(parse_lines(many.as_bytes(), "t").is_err());
    }
}
