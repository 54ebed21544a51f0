//! lmi's own spinner on stderr, for the waits a person watches: a compile at install and the
//! browser or device sign-in.
//!
//! It is drawn only when stderr is a terminal and the user asked for neither `--quiet` nor
//! `-v` (whose log lines share stderr), so piped and logged output is exactly what it was
//! without it. It runs on a thread of its own, because the waits it covers block the main
//! one, redraws ten times a second with `\r` and spaces (no escape sequence), and blanks its
//! line before [`Spinner`]'s drop returns, so what lmi prints next starts on a clean line.
//! Nothing is started unless a command asks for it: dispatch never does.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the spinner redraws.
const INTERVAL: Duration = Duration::from_millis(100);
/// ASCII frames: every terminal and font shows them.
const FRAMES: [char; 4] = ['-', '\\', '|', '/'];
/// A compile shorter than this shows nothing: a spinner that flashes is noise.
pub const COMPILE_DELAY: Duration = Duration::from_millis(300);

/// Whether lmi's own progress may be drawn: stderr is a terminal, no `--quiet`, no `-v`.
pub fn wanted(quiet: bool, verbose: u8) -> bool {
    !quiet && verbose == 0 && std::io::stderr().is_terminal()
}

/// A spinner on stderr until it is dropped; see the [module docs](self).
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Shows `label(elapsed)` after `delay`, redrawn until the spinner is dropped. Only call
    /// it when [`wanted`] says so.
    pub fn start(delay: Duration, label: impl Fn(Duration) -> String + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("lmi-spinner".into())
            .spawn(move || {
                let columns = terminal_size::terminal_size_of(std::io::stderr())
                    .map_or(80, |(w, _)| usize::from(w.0));
                spin(&stopped, delay, columns, &label, &mut std::io::stderr());
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The spinner's thread: waits `delay`, then draws until `stop`, then blanks what it drew.
fn spin(
    stop: &AtomicBool,
    delay: Duration,
    columns: usize,
    label: &dyn Fn(Duration) -> String,
    out: &mut dyn Write,
) {
    let started = Instant::now();
    let stopped = || stop.load(Ordering::Acquire);
    // `park_timeout` may wake early (or on the drop's unpark): the clock decides.
    while !stopped() && started.elapsed() < delay {
        std::thread::park_timeout(delay.saturating_sub(started.elapsed()));
    }
    let mut drawn: usize = 0;
    let mut frame = 0;
    while !stopped() {
        let line = format!(
            "{} {}",
            FRAMES[frame % FRAMES.len()],
            label(started.elapsed())
        );
        let line: String = line.chars().take(columns.saturating_sub(1)).collect();
        let len = line.chars().count();
        let cover = " ".repeat(drawn.saturating_sub(len));
        if write!(out, "\r{line}{cover}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
        drawn = len;
        frame += 1;
        let next = Instant::now() + INTERVAL;
        while !stopped() && Instant::now() < next {
            std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
        }
    }
    if drawn > 0 {
        let _ = write!(out, "\r{}\r", " ".repeat(drawn)).and_then(|()| out.flush());
    }
}

/// Seconds left of `limit` after `elapsed`, for a label ("4m 59s left").
pub fn time_left(limit: Duration, elapsed: Duration) -> String {
    let left = limit.saturating_sub(elapsed);
    // Whole seconds, rounded up: "0s left" only when it is over.
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    format!(
        "{} left",
        humantime::format_duration(Duration::from_secs(secs))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `spin` into a buffer for `run`, then stops it.
    fn spun(delay: Duration, run: Duration, columns: usize) -> String {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            spin(
                &stopped,
                delay,
                columns,
                &|_| "compiling hello...".to_owned(),
                &mut out,
            );
            out
        });
        std::thread::sleep(run);
        stop.store(true, Ordering::Release);
        thread.thread().unpark();
        String::from_utf8(thread.join().unwrap()).unwrap()
    }

    #[test]
    fn a_wait_shorter_than_the_delay_draws_nothing() {
        assert_eq!(
            spun(Duration::from_secs(5), Duration::from_millis(50), 80),
            ""
        );
    }

    /// About ten frames a second, each `\r` and the line, ended by a blank line; no escape.
    #[test]
    fn the_spinner_redraws_ten_times_a_second_and_blanks_its_line() {
        let shown = spun(Duration::ZERO, Duration::from_millis(550), 80);
        let frames = shown.matches("compiling hello...").count();
        assert!((3..=7).contains(&frames), "{frames} frames: {shown:?}");
        assert!(shown.starts_with("\r- compiling hello..."), "{shown:?}");
        assert!(shown.contains("\r\\ compiling hello..."), "{shown:?}");
        assert!(
            shown.ends_with(&format!("\r{}\r", " ".repeat(20))),
            "{shown:?}"
        );
        assert!(
            !shown.contains('\x1b') && !shown.contains('\n'),
            "{shown:?}"
        );
        let narrow = spun(Duration::ZERO, Duration::from_millis(50), 8);
        assert!(narrow.starts_with("\r- compi\r"), "{narrow:?}");
    }

    #[test]
    fn time_left_counts_down_in_whole_seconds() {
        let limit = Duration::from_secs(300);
        assert_eq!(time_left(limit, Duration::ZERO), "5m left");
        assert_eq!(time_left(limit, Duration::from_millis(1500)), "4m 59s left");
        assert_eq!(time_left(limit, Duration::from_secs(400)), "0s left");
    }
}
