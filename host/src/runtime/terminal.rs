//! Plugin stdout and stderr on a terminal, with OSC 52 (clipboard write) sequences dropped
//! and every other byte passed as is.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
/// C1 OSC and ST as 8-bit bytes; as UTF-8 (U+009D, U+009C) they follow 0xC2.
const C1_OSC: u8 = 0x9d;
const C1_ST: u8 = 0x9c;
const C1_LEAD: u8 = 0xc2;
/// Bytes of an OSC head (introducer and number) held back while deciding whether it is
/// OSC 52. A longer number (leading zeros) is not passed on but dropped like an OSC 52:
/// holding it unbounded would let a plugin grow lmi's memory, and no real use needs it.
const MAX_HEAD: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Ordinary output; the number of UTF-8 continuation bytes still expected, so a
    /// 0x9D or 0x9C inside a character (U+275D is E2 9D 9D) stays text.
    Text(u8),
    /// After a 0xC2 that starts no character yet: U+009D (OSC) if 0x9D follows.
    Lead,
    Esc,
    /// After an OSC introducer: the introducer and digits so far, held back, and the
    /// number as a terminal reads it (decimal, leading zeros allowed).
    Head {
        held: Vec<u8>,
        number: u32,
    },
    /// Inside an OSC 52 that is dropped, until BEL or ST. `Esc`: after an `ESC`;
    /// `Lead`: after a 0xC2.
    Drop,
    DropEsc,
    DropLead,
}

/// A byte-stream filter that removes OSC 52 (clipboard writes), across writes, in every
/// form a terminal accepts: introduced by `ESC ]`, the C1 control 0x9D or U+009D as
/// UTF-8; numbered `52` with any leading zeros; ended by BEL, `ESC \\`, 0x9C or U+009C.
/// Every other OSC passes, but only up to its number: after that its bytes go through
/// this filter as text again, because a terminal ends an OSC string at an `ESC` or a
/// C1 control and so would read an OSC 52 started inside it.
#[derive(Debug)]
pub struct Osc52Filter {
    state: State,
}

impl Default for Osc52Filter {
    fn default() -> Self {
        Self {
            state: State::Text(0),
        }
    }
}

impl Osc52Filter {
    pub fn filter(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.step(b, out);
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        self.state = match std::mem::replace(&mut self.state, State::Text(0)) {
            State::Text(more) if more > 0 && is_continuation(b) => {
                out.push(b);
                State::Text(more - 1)
            }
            State::Text(_) => Self::text(b, out),
            State::Lead if b == C1_OSC => Self::head(&[C1_LEAD, C1_OSC]),
            State::Lead => {
                out.push(C1_LEAD);
                if is_continuation(b) {
                    out.push(b);
                    State::Text(0)
                } else {
                    Self::text(b, out)
                }
            }
            State::Esc if b == b']' => Self::head(&[ESC, b']']),
            State::Esc => {
                out.push(ESC);
                if b == ESC {
                    State::Esc
                } else {
                    out.push(b);
                    State::Text(0)
                }
            }
            State::Head { mut held, number } if b.is_ascii_digit() => {
                if held.len() >= MAX_HEAD {
                    State::Drop
                } else {
                    held.push(b);
                    let number = number
                        .saturating_mul(10)
                        .saturating_add(u32::from(b - b'0'));
                    State::Head { held, number }
                }
            }
            State::Head { number: 52, .. } if b == b';' => State::Drop,
            State::Head { held, .. } => {
                // Not OSC 52: pass what was held, and read on as text.
                out.extend_from_slice(&held);
                Self::text(b, out)
            }
            State::Drop | State::DropEsc | State::DropLead if b == BEL || b == C1_ST => {
                State::Text(0)
            }
            State::DropEsc if b == b'\\' => State::Text(0),
            // An `ESC` not followed by `\\` starts a new sequence; nothing of the
            // dropped OSC reached the terminal, so that sequence is read as text.
            State::DropEsc => {
                self.state = State::Esc;
                return self.step(b, out);
            }
            State::Drop | State::DropLead if b == ESC => State::DropEsc,
            State::Drop | State::DropLead if b == C1_LEAD => State::DropLead,
            State::Drop | State::DropLead => State::Drop,
        };
    }

    /// One byte of ordinary output.
    fn text(b: u8, out: &mut Vec<u8>) -> State {
        match b {
            ESC => State::Esc,
            C1_LEAD => State::Lead,
            // A 0x9D that continues no character: the 8-bit OSC introducer.
            C1_OSC => Self::head(&[C1_OSC]),
            _ => {
                out.push(b);
                State::Text(match b {
                    0xc3..=0xdf => 1,
                    0xe0..=0xef => 2,
                    0xf0..=0xf4 => 3,
                    _ => 0,
                })
            }
        }
    }

    fn head(introducer: &[u8]) -> State {
        State::Head {
            held: introducer.to_vec(),
            number: 0,
        }
    }
}

fn is_continuation(b: u8) -> bool {
    (0x80..=0xbf).contains(&b)
}

/// The `StdoutStream` for a terminal stdout or stderr.
#[derive(Debug, Clone, Copy)]
pub enum ClipboardFiltered {
    Stdout,
    Stderr,
}

impl IsTerminal for ClipboardFiltered {
    fn is_terminal(&self) -> bool {
        true
    }
}

impl StdoutStream for ClipboardFiltered {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Filtered::new(*self))
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(Filtered::new(*self))
    }
}

struct Filtered {
    to: ClipboardFiltered,
    filter: Osc52Filter,
}

impl Filtered {
    fn new(to: ClipboardFiltered) -> Self {
        Self {
            to,
            filter: Osc52Filter::default(),
        }
    }

    fn write_filtered(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(bytes.len());
        self.filter.filter(bytes, &mut out);
        match self.to {
            ClipboardFiltered::Stdout => std::io::stdout().write_all(&out),
            ClipboardFiltered::Stderr => std::io::stderr().write_all(&out),
        }
    }

    fn flush(&self) -> std::io::Result<()> {
        match self.to {
            ClipboardFiltered::Stdout => std::io::stdout().flush(),
            ClipboardFiltered::Stderr => std::io::stderr().flush(),
        }
    }
}

fn stream_error(e: std::io::Error) -> StreamError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StreamError::Closed
    } else {
        StreamError::LastOperationFailed(e.into())
    }
}

impl OutputStream for Filtered {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_filtered(&bytes).map_err(stream_error)
    }
    fn flush(&mut self) -> StreamResult<()> {
        Filtered::flush(self).map_err(stream_error)
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Filtered {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Filtered {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().write_filtered(buf).map(|()| buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Filtered::flush(&self))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<u8> {
        let mut f = Osc52Filter::default();
        let mut out = Vec::new();
        for c in chunks {
            f.filter(c, &mut out);
        }
        out
    }

    #[test]
    fn osc_52_is_dropped_and_everything_else_passes() {
        let clip = b"a\x1b]52;c;cm0gLXJmIH4=\x07b";
        assert_eq!(run(&[clip]), b"ab");
        assert_eq!(run(&[b"a\x1b]52;c;eA==\x1b\\b"]), b"ab");
        // Split across writes at every point.
        for i in 0..clip.len() {
            assert_eq!(run(&[&clip[..i], &clip[i..]]), b"ab", "split at {i}");
        }
        let link = b"\x1b]8;;https://x/\x1b\\t\x1b]8;;\x1b\\";
        assert_eq!(run(&[link]), link.to_vec());
        let title = b"\x1b]0;title\x07\x1b[32mgreen\x1b[0m \x1b]5;x\x07";
        assert_eq!(run(&[title]), title.to_vec());
        assert_eq!(run(&[b"\x1b]5\x07"]), b"\x1b]5\x07".to_vec());
    }

    /// Every introducer a terminal takes as OSC (7-bit `ESC ]`, C1 0x9D raw or as UTF-8
    /// U+009D), every number it reads as 52 (leading zeros), every terminator (BEL,
    /// `ESC \\`, 0x9C raw or as UTF-8), split across writes at every point.
    #[test]
    fn osc_52_is_dropped_in_every_form_a_terminal_accepts() {
        let introducers: [&[u8]; 3] = [b"\x1b]", b"\xc2\x9d", b"\x9d"];
        let numbers: [&[u8]; 4] = [b"52", b"052", b"0052", b"000000000000000000052"];
        let terminators: [&[u8]; 4] = [b"\x07", b"\x1b\\", b"\x9c", b"\xc2\x9c"];
        for intro in introducers {
            for number in numbers {
                for end in terminators {
                    let mut input = b"a".to_vec();
                    input.extend_from_slice(intro);
                    input.extend_from_slice(number);
                    input.extend_from_slice(b";c;cm0gLXJmIH4=");
                    input.extend_from_slice(end);
                    input.extend_from_slice(b"b");
                    for i in 0..input.len() {
                        assert_eq!(
                            run(&[&input[..i], &input[i..]]),
                            b"ab",
                            "{:?} split at {i}",
                            String::from_utf8_lossy(&input)
                        );
                    }
                }
            }
        }
    }

    /// A terminal ends an OSC string at an `ESC` or a C1 control, so an OSC 52 started
    /// inside another OSC (or a C1 one inside UTF-8 text) is still an OSC 52.
    #[test]
    fn osc_52_hidden_inside_another_osc_is_dropped() {
        assert_eq!(run(&[b"\x1b]0;t\x1b]52;c;eA==\x07b"]), b"\x1b]0;tb");
        assert_eq!(run(&[b"\x1b]0;t\xc2\x9d52;c;eA==\x07b"]), b"\x1b]0;tb");
        assert_eq!(run(&[b"\x1b]\x1b]52;c;eA==\x07b"]), b"\x1b]b");
    }

    /// UTF-8 text whose continuation bytes are 0x9D or 0x9C (U+275D, U+01DD) and other
    /// C1 controls pass unchanged; OSC numbers that are not 52 pass.
    #[test]
    fn text_and_other_oscs_pass_unchanged() {
        for text in [
            "\u{275d}quoted\u{275e} \u{1dd} \u{9c}".as_bytes(),
            b"\x1b]520;x\x07\x1b]5;2\x07\x1b]25;x\x07",
            b"\xc2\x9d0;title\xc2\x9c\x9d8;;u\x9c",
            b"\x1b[31mred\x1b[0m \x1bX",
        ] {
            for i in 0..text.len() {
                assert_eq!(
                    run(&[&text[..i], &text[i..]]),
                    text,
                    "{:?} split at {i}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }
}
