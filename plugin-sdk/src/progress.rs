//! A progress bar (known total) and a spinner (unknown total) on standard error.
//!
//! Both draw only when lmi says standard error is a terminal ([`Context::terminal`]); then
//! they redraw one line with a carriage return, at most ten times a second, and blank it when
//! they finish or are dropped. Otherwise they write nothing at all, so a piped or redirected
//! run's stderr is exactly what the command itself writes.
//!
//! No escape sequence is ever written: a redraw is `\r`, the line, and spaces over whatever
//! the last one left, so it works on any terminal (and `TERM=dumb`). Nothing runs in the
//! background (a plugin has no threads): the bar moves when the command calls
//! [`Progress::inc`], [`Progress::set_position`] or [`Progress::tick`].
//!
//! ```
//! use std::io::Read;
//! use lmi_plugin_sdk::progress::{Progress, Unit};
//! use lmi_plugin_sdk::{Context, MockContext, Terminal};
//!
//! fn copy(ctx: &dyn Context, mut from: impl Read, total: Option<u64>) -> std::io::Result<u64> {
//!     let mut progress = match total {
//!         Some(total) => Progress::bar(ctx, total, Unit::Bytes),
//!         None => Progress::spinner(ctx, Unit::Bytes),
//!     }
//!     .with_message("downloading");
//!     let mut buf = [0; 8192];
//!     let mut copied = 0;
//!     loop {
//!         let n = from.read(&mut buf)?;
//!         if n == 0 {
//!             break;
//!         }
//!         copied += n as u64;
//!         progress.inc(n as u64);
//!     }
//!     progress.finish();
//!     Ok(copied)
//! }
//!
//! // Not a terminal (the default): nothing is drawn.
//! let ctx = MockContext::new();
//! assert_eq!(copy(&ctx, &b"hello"[..], Some(5)).unwrap(), 5);
//! assert_eq!(ctx.stderr_text(), "");
//!
//! // On a terminal: the bar, then a blank line it returns to.
//! let ctx = MockContext::new().with_terminal(Terminal { stderr: true, width: Some(60), ..Terminal::default() });
//! copy(&ctx, &b"hello"[..], Some(5)).unwrap();
//! assert!(ctx.stderr_text().starts_with("\rdownloading ["));
//! assert!(ctx.stderr_text().ends_with('\r'));
//! ```
//!
//! [`Context::terminal`]: crate::Context::terminal

use std::io::Write;
use std::time::{Duration, Instant};

use crate::Context;

/// The shortest time between two redraws.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
/// The spinner's frames: ASCII, so every terminal and font shows them.
const FRAMES: [char; 4] = ['-', '\\', '|', '/'];
/// Columns assumed when lmi knows none.
const DEFAULT_WIDTH: usize = 80;
/// A rate (and so an ETA) is shown once this much time has passed: earlier it is noise.
const RATE_AFTER: Duration = Duration::from_millis(500);

/// What is being counted: bytes are shown as `KiB`, `MiB` …; items as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes: `12.3 MiB`, `2.1 MiB/s`.
    Bytes,
    /// Things: `1200`, `35/s`.
    Items,
}

/// A progress bar or spinner on standard error; see the [module docs](self).
pub struct Progress<'a> {
    /// `None` when standard error is not a terminal (or a write failed): draw nothing.
    out: Option<Box<dyn Write + 'a>>,
    /// Columns a line may take: the terminal's width less one, so the cursor never wraps.
    columns: usize,
    total: Option<u64>,
    unit: Unit,
    position: u64,
    message: String,
    started: Instant,
    drawn_at: Option<Instant>,
    /// Characters the last drawn line left on screen, for the next redraw to cover.
    drawn: usize,
}

impl<'a> Progress<'a> {
    /// A bar for `total` units (for example the response's `content-length`).
    pub fn bar(ctx: &'a dyn Context, total: u64, unit: Unit) -> Self {
        Self::new(ctx, Some(total), unit)
    }

    /// A spinner, for work whose size is unknown: it shows how much is done and the rate.
    pub fn spinner(ctx: &'a dyn Context, unit: Unit) -> Self {
        Self::new(ctx, None, unit)
    }

    fn new(ctx: &'a dyn Context, total: Option<u64>, unit: Unit) -> Self {
        let terminal = ctx.terminal();
        Self {
            out: terminal.stderr.then(|| ctx.stderr()),
            columns: terminal
                .width
                .map_or(DEFAULT_WIDTH, usize::from)
                .saturating_sub(1),
            total,
            unit,
            position: 0,
            message: String::new(),
            started: Instant::now(),
            drawn_at: None,
            drawn: 0,
        }
    }

    /// The text before the bar. Control characters are left out, so the line stays one line.
    #[must_use]
    pub fn with_message(mut self, message: impl AsRef<str>) -> Self {
        self.message = message
            .as_ref()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        self
    }

    /// Whether it draws at all: standard error is a terminal.
    pub fn is_visible(&self) -> bool {
        self.out.is_some()
    }

    /// Adds `n` to the position and redraws if the last redraw is old enough.
    pub fn inc(&mut self, n: u64) {
        self.set_position(self.position.saturating_add(n));
    }

    /// Sets the position and redraws if the last redraw is old enough.
    pub fn set_position(&mut self, position: u64) {
        self.position = position;
        self.tick_at(Instant::now());
    }

    /// Redraws if the last redraw is old enough (a spinner waiting on something calls this
    /// between polls).
    pub fn tick(&mut self) {
        self.tick_at(Instant::now());
    }

    /// Blanks the line now, for example before printing something else to stderr; the next
    /// [`tick`](Self::tick) draws it again.
    pub fn clear(&mut self) {
        if self.drawn > 0 {
            let blank = format!("\r{}\r", " ".repeat(self.drawn));
            self.write(&blank);
            self.drawn = 0;
        }
        self.drawn_at = None;
    }

    /// Blanks the line and ends. Dropping it does the same.
    pub fn finish(mut self) {
        self.clear();
    }

    fn tick_at(&mut self, now: Instant) {
        if self.out.is_none()
            || self
                .drawn_at
                .is_some_and(|at| now.saturating_duration_since(at) < REDRAW_INTERVAL)
        {
            return;
        }
        self.drawn_at = Some(now);
        let line = self.line(now.saturating_duration_since(self.started));
        let len = line.chars().count();
        let cover = " ".repeat(self.drawn.saturating_sub(len));
        self.write(&format!("\r{line}{cover}"));
        self.drawn = len;
    }

    fn write(&mut self, text: &str) {
        if let Some(out) = &mut self.out
            && (out.write_all(text.as_bytes()).is_err() || out.flush().is_err())
        {
            // A stderr that fails once is not drawn on again; the command goes on.
            self.out = None;
        }
    }

    /// The line as drawn `elapsed` after the start, at most `columns` characters.
    fn line(&self, elapsed: Duration) -> String {
        let rate = (elapsed >= RATE_AFTER)
            .then(|| self.position as f64 / elapsed.as_secs_f64())
            .filter(|r| r.is_finite() && *r > 0.0);
        let mut parts: Vec<String> = Vec::new();
        let mut bar = None;
        match self.total {
            Some(total) => {
                let done = self.position.min(total);
                let fraction = if total == 0 {
                    1.0
                } else {
                    done as f64 / total as f64
                };
                parts.push(format!("{:>3}%", (fraction * 100.0).floor() as u64));
                parts.push(format!(
                    "{}/{}",
                    amount(done, self.unit),
                    amount(total, self.unit)
                ));
                if let Some(rate) = rate {
                    parts.push(format!("{}/s", amount(rate as u64, self.unit)));
                    let left = total.saturating_sub(done) as f64 / rate;
                    parts.push(format!("ETA {}", duration(left)));
                }
                bar = Some(fraction);
            }
            None => {
                let frame = FRAMES
                    [(elapsed.as_millis() / REDRAW_INTERVAL.as_millis()) as usize % FRAMES.len()];
                parts.push(frame.to_string());
                parts.push(amount(self.position, self.unit));
                if let Some(rate) = rate {
                    parts.push(format!("{}/s", amount(rate as u64, self.unit)));
                }
            }
        }
        let head = match (self.total, self.message.is_empty()) {
            // The spinner's frame comes first, then the message.
            (None, false) => {
                let frame = parts.remove(0);
                format!("{frame} {}", self.message)
            }
            (None, true) => parts.remove(0),
            (Some(_), false) => self.message.clone(),
            (Some(_), true) => String::new(),
        };
        let tail = parts.join("  ");
        let fixed = head.chars().count() + tail.chars().count() + 2;
        let mut line = head;
        if let Some(fraction) = bar {
            // Between 10 and 40 cells of bar, if the line has room for them.
            let room = self.columns.saturating_sub(fixed + 3).min(40);
            if room >= 10 {
                let filled = ((fraction * room as f64) as usize).min(room);
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push('[');
                line.push_str(&"=".repeat(filled));
                if filled < room {
                    line.push('>');
                    line.push_str(&" ".repeat(room - filled - 1));
                }
                line.push(']');
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&tail);
        line.chars().take(self.columns).collect()
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `n` units: bytes in binary units with one decimal, items as they are.
fn amount(n: u64, unit: Unit) -> String {
    if unit == Unit::Items {
        return n.to_string();
    }
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Seconds as `42s`, `3m05s` or `2h10m`.
fn duration(secs: f64) -> String {
    let secs = if secs.is_finite() {
        secs.ceil().min(359_999.0) as u64
    } else {
        359_999
    };
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockContext, Terminal};

    fn terminal(width: u16) -> MockContext {
        MockContext::new().with_terminal(Terminal {
            stderr: true,
            width: Some(width),
            ..Terminal::default()
        })
    }

    /// Off unless stderr is a terminal: a stdout terminal, colour or a width are not enough,
    /// and nothing at all is written, however it is used.
    #[test]
    fn nothing_is_written_unless_stderr_is_a_terminal() {
        let ctx = MockContext::new().with_terminal(Terminal {
            stdin: true,
            stdout: true,
            stderr: false,
            width: Some(100),
            height: Some(40),
            color: true,
        });
        for mut progress in [
            Progress::bar(&ctx, 10, Unit::Bytes).with_message("x"),
            Progress::spinner(&ctx, Unit::Items),
        ] {
            assert!(!progress.is_visible());
            progress.inc(3);
            progress.tick();
            progress.clear();
            progress.set_position(10);
            progress.finish();
        }
        assert_eq!(ctx.stderr_text(), "");
        assert!(Progress::bar(&terminal(80), 1, Unit::Bytes).is_visible());
    }

    /// However often it is updated, it redraws at most once per REDRAW_INTERVAL.
    #[test]
    fn redraws_are_throttled_to_ten_a_second() {
        let ctx = terminal(80);
        let mut progress = Progress::bar(&ctx, 1000, Unit::Items);
        let start = progress.started;
        // 1000 updates over one second: one every millisecond.
        for ms in 0..1000 {
            progress.position = ms;
            progress.tick_at(start + Duration::from_millis(ms));
        }
        let redraws = ctx.stderr_text().matches('\r').count();
        assert_eq!(redraws, 10, "{:?}", ctx.stderr_text());
        drop(progress);
        // The drop blanks the line: one `\r` before the spaces and one after.
        assert_eq!(ctx.stderr_text().matches('\r').count(), 12);
    }

    /// A line is never wider than the terminal less one column, escape-free, and the last
    /// thing written leaves the cursor on a blank line.
    #[test]
    fn lines_fit_the_terminal_and_the_end_is_a_blank_line() {
        for width in [1u16, 10, 30, 80, 200] {
            let ctx = terminal(width);
            let mut progress = Progress::bar(&ctx, 3 << 30, Unit::Bytes)
                .with_message("downloading\x1b[2J big.iso");
            let start = progress.started;
            progress.position = 1 << 30;
            progress.tick_at(start + Duration::from_secs(2));
            let drawn = ctx.stderr_text();
            let line = drawn.trim_start_matches('\r');
            assert!(line.chars().count() < usize::from(width).max(1), "{line:?}");
            assert!(
                !drawn.contains('\x1b') && !drawn.contains('\n'),
                "{drawn:?}"
            );
            if width >= 80 {
                assert!(line.starts_with("downloading[2J big.iso ["), "{line:?}");
                assert!(
                    line.contains(" 33%  1.0 GiB/3.0 GiB  512.0 MiB/s  ETA 4s"),
                    "{line:?}"
                );
            }
            progress.finish();
            let all = ctx.stderr_text();
            let end = &all[drawn.len()..];
            let blank = match line.chars().count() {
                0 => String::new(),
                n => format!("\r{}\r", " ".repeat(n)),
            };
            assert_eq!(end, blank);
        }
    }

    /// A shorter line covers what the longer one before it left.
    #[test]
    fn a_shorter_redraw_covers_the_longer_one() {
        let ctx = terminal(80);
        let mut progress = Progress::spinner(&ctx, Unit::Items).with_message("a long message");
        let start = progress.started;
        progress.tick_at(start);
        let first = ctx.stderr_text().len();
        progress.message = "short".into();
        progress.tick_at(start + REDRAW_INTERVAL);
        let second = &ctx.stderr_text()[first..];
        assert_eq!(second.len(), first, "{second:?}");
        assert!(second.starts_with("\r\\ short 0 "), "{second:?}");
    }

    /// A stderr that fails once is not written to again, and the caller sees no error.
    #[test]
    fn a_failing_stderr_turns_it_off() {
        struct Broken(std::rc::Rc<std::cell::Cell<u32>>);
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                self.0.set(self.0.get() + 1);
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let ctx = terminal(80);
        let writes = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut progress = Progress::spinner(&ctx, Unit::Items);
        progress.out = Some(Box::new(Broken(writes.clone())));
        let start = progress.started;
        for ms in (0..1000).step_by(100) {
            progress.tick_at(start + Duration::from_millis(ms));
        }
        assert!(!progress.is_visible());
        progress.finish();
        assert_eq!(writes.get(), 1);
    }

    #[test]
    fn amounts_and_durations_read_naturally() {
        assert_eq!(amount(512, Unit::Bytes), "512 B");
        assert_eq!(amount(1536, Unit::Bytes), "1.5 KiB");
        assert_eq!(amount(5 << 20, Unit::Bytes), "5.0 MiB");
        assert_eq!(amount(1536, Unit::Items), "1536");
        assert_eq!(duration(0.2), "1s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(7800.0), "2h10m");
        assert_eq!(duration(f64::INFINITY), "99h59m");
    }
}
