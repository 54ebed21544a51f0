//! The wall-clock deadline of a run: when it passes, the engine's epoch is bumped and the
//! plugin traps at its next epoch check (every function entry and loop back-edge).
//!
//! On Unix a one-shot `ITIMER_REAL` does the bump from its `SIGALRM` handler, so dispatch
//! stays single-threaded: on small VMs a second thread costs more than the whole plugin run
//! (its creation, and cross-CPU TLB flushes on every later `munmap`/`mprotect`). There is one
//! such timer per process, so it serves one engine and one run at a time; any other run
//! (tests and embedders run several at once) gets a ticker thread instead.
//!
//! The command-line run also arms a backstop ([`arm_with_backstop`]): a plugin blocked inside
//! a synchronous host write (wasmtime-wasi writes the terminal's stdout and stderr inline, so
//! a pipe nobody reads blocks the thread) sees neither the epoch nor the run's timer. If the
//! run has not ended [`BACKSTOP_GRACE_SECS`] after its deadline, the signal handler writes the
//! timeout message (only if stderr can take it without blocking) and ends the process with
//! exit 5. A thread-free backstop costs nothing on the dispatch path; an async stdout stream
//! would start a writer thread on every run that prints.

use std::sync::mpsc;
use std::time::Duration;

use wasmtime::Engine;

use crate::plugins::manifest::RunTime;

/// How long one run may last, and which setting said so (the timeout message names it).
/// Streams and other waits inside a run take their bound from [`RunLimit::duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimit {
    /// `None`: the run lasts until it ends or the user stops it (`timeout = "none"`).
    duration: Option<Duration>,
    set_by: LimitSource,
}

/// Where a run's limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `LMI_PLUGIN_TIMEOUT_SECS` (or its default): the command declares no run time.
    Default,
    /// The command's own `timeout_secs` or `timeout = "none"`, as granted at install.
    Declared,
    /// `LMI_PLUGIN_MAX_TIMEOUT_SECS`, shorter than what the command declares.
    Cap,
}

impl RunLimit {
    /// The limit of a command: `default` (`LMI_PLUGIN_TIMEOUT_SECS`) unless it declares a run
    /// time; a declared one holds unless `cap` (`LMI_PLUGIN_MAX_TIMEOUT_SECS`) is shorter.
    /// The cap bounds only declarations: the user sets `default` too.
    pub fn resolve(default: Duration, declared: Option<RunTime>, cap: Option<Duration>) -> Self {
        let declared = match declared {
            None => return Self::fixed(default),
            Some(RunTime::Secs(secs)) => Some(Duration::from_secs(secs)),
            Some(RunTime::UntilStopped) => None,
        };
        match (declared, cap) {
            (Some(d), Some(c)) if c < d => Self::capped(c),
            (None, Some(c)) => Self::capped(c),
            (declared, _) => Self {
                duration: declared,
                set_by: LimitSource::Declared,
            },
        }
    }

    /// A bound set by `LMI_PLUGIN_TIMEOUT_SECS` (or an embedder's own choice).
    pub fn fixed(duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            set_by: LimitSource::Default,
        }
    }

    fn capped(duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            set_by: LimitSource::Cap,
        }
    }

    /// How long the run may last from its start; `None` until stopped.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    pub fn set_by(&self) -> LimitSource {
        self.set_by
    }

    /// What set the limit, as the timeout message says it.
    pub fn described(&self) -> &'static str {
        match self.set_by {
            LimitSource::Default => "LMI_PLUGIN_TIMEOUT_SECS",
            LimitSource::Declared => "the command's `timeout_secs`",
            LimitSource::Cap => "LMI_PLUGIN_MAX_TIMEOUT_SECS",
        }
    }
}

impl From<Duration> for RunLimit {
    fn from(duration: Duration) -> Self {
        Self::fixed(duration)
    }
}

/// An armed deadline; dropping it disarms it.
pub struct Deadline {
    #[cfg(unix)]
    _alarm: Option<alarm::Armed>,
    /// Dropping the sender wakes the ticker thread, which then exits without bumping.
    _ticker: Option<mpsc::Sender<()>>,
}

/// How long after the deadline a run that has not ended is ended with the process.
#[cfg_attr(not(unix), allow(dead_code))]
pub const BACKSTOP_GRACE_SECS: u32 = 1;
/// The exit code of a run the backstop ended (the README's "hit a limit").
#[cfg_attr(not(unix), allow(dead_code))]
pub const BACKSTOP_EXIT: i32 = 5;

pub fn arm(engine: &Engine, timeout: Duration) -> Deadline {
    arm_inner(engine, timeout, None)
}

/// [`arm`], and if the run is still going [`BACKSTOP_GRACE_SECS`] after the deadline, print
/// `message` to stderr and exit the process with [`BACKSTOP_EXIT`]. For a process that runs
/// one plugin and then ends (the `lmi` command); embedders use [`arm`]. Where the process
/// timer is unavailable (another engine holds it, not Unix) this is [`arm`].
pub fn arm_with_backstop(engine: &Engine, timeout: Duration, message: &str) -> Deadline {
    arm_inner(engine, timeout, Some(message))
}

fn arm_inner(engine: &Engine, timeout: Duration, backstop: Option<&str>) -> Deadline {
    #[cfg(not(unix))]
    let _ = backstop;
    #[cfg(unix)]
    if let Some(armed) = alarm::arm(engine, timeout, backstop) {
        return Deadline {
            _alarm: Some(armed),
            _ticker: None,
        };
    }
    let (stop, stopped) = mpsc::channel::<()>();
    let engine = engine.clone();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
            engine.increment_epoch();
        }
    });
    Deadline {
        #[cfg(unix)]
        _alarm: None,
        _ticker: Some(stop),
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod alarm {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
    use std::time::Duration;

    use wasmtime::Engine;

    use super::{BACKSTOP_EXIT, BACKSTOP_GRACE_SECS};

    /// Whether the armed run wants the backstop, and how often the timer fired for it.
    static BACKSTOP: AtomicBool = AtomicBool::new(false);
    static FIRED: AtomicUsize = AtomicUsize::new(0);
    /// The backstop's message, in atomics a signal handler may read.
    const MESSAGE_MAX: usize = 512;
    static MESSAGE: [AtomicU8; MESSAGE_MAX] = [const { AtomicU8::new(0) }; MESSAGE_MAX];
    static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);

    /// The engine the process timer bumps. Set once: a signal handler may only read it.
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    /// Whether a run holds the process timer.
    static BUSY: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<bool> = OnceLock::new();

    pub struct Armed;

    /// Takes the process timer for `engine`, or `None` when another engine or run has it.
    pub fn arm(engine: &Engine, timeout: Duration, backstop: Option<&str>) -> Option<Armed> {
        if !Engine::same(ENGINE.get_or_init(|| engine.clone()), engine) {
            return None;
        }
        if !*HANDLER.get_or_init(install_handler) {
            return None;
        }
        if BUSY
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return None;
        }
        FIRED.store(0, Ordering::Release);
        if let Some(message) = backstop {
            let bytes = message.as_bytes();
            let len = bytes.len().min(MESSAGE_MAX);
            for (slot, byte) in MESSAGE.iter().zip(&bytes[..len]) {
                slot.store(*byte, Ordering::Relaxed);
            }
            MESSAGE_LEN.store(len, Ordering::Release);
        }
        BACKSTOP.store(backstop.is_some(), Ordering::Release);
        // A parent may have blocked SIGALRM; this thread must receive it.
        if unblock_alarm() && set_timer(timeout) {
            Some(Armed)
        } else {
            // No timer runs: a stale `true` would let a later stray SIGALRM end the process.
            release();
            None
        }
    }

    impl Drop for Armed {
        fn drop(&mut self) {
            release();
        }
    }

    /// Ends the run's hold on the process timer. The backstop is cleared before the timer
    /// is disarmed: a SIGALRM already pending when the run finished must find it off, or it
    /// would `_exit` a run that ended in time.
    fn release() {
        BACKSTOP.store(false, Ordering::Release);
        set_timer(Duration::ZERO);
        BUSY.store(false, Ordering::Release);
    }

    /// Only async-signal-safe work: atomics, the engine's atomic increment, and for the
    /// backstop `alarm`, `poll`, `write` and `_exit`.
    extern "C" fn on_alarm(_signal: libc::c_int) {
        let first = FIRED.fetch_add(1, Ordering::AcqRel) == 0;
        if first {
            if let Some(engine) = ENGINE.get() {
                engine.increment_epoch();
            }
            if BACKSTOP.load(Ordering::Acquire) {
                // SAFETY: `alarm` is async-signal-safe; it re-arms the same one-shot timer.
                unsafe { libc::alarm(BACKSTOP_GRACE_SECS) };
            }
        } else if BACKSTOP.load(Ordering::Acquire) {
            end_process();
        }
    }

    /// The run outlived its deadline stuck in the host: say so if stderr can take it now,
    /// then exit without running destructors (another thread may hold any lock).
    fn end_process() -> ! {
        let mut buf = [0u8; MESSAGE_MAX];
        let len = MESSAGE_LEN.load(Ordering::Acquire).min(MESSAGE_MAX);
        for (byte, slot) in buf.iter_mut().zip(&MESSAGE[..len]) {
            *byte = slot.load(Ordering::Relaxed);
        }
        let mut stderr = libc::pollfd {
            fd: libc::STDERR_FILENO,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `poll`, `write` and `_exit` are async-signal-safe and get valid pointers. A
        // writable pipe takes up to PIPE_BUF bytes (more than the message) without blocking.
        unsafe {
            if libc::poll(&mut stderr, 1, 0) == 1 && stderr.revents & libc::POLLOUT != 0 {
                libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), len);
            }
            libc::_exit(BACKSTOP_EXIT)
        }
    }

    fn install_handler() -> bool {
        // SAFETY: a zeroed `sigaction` is a valid empty one; the handler is async-signal-safe
        // and `SA_RESTART` resumes system calls it interrupts.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) == 0
        }
    }

    fn unblock_alarm() -> bool {
        // SAFETY: plain signal-mask calls on a local, initialised set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) == 0
        }
    }

    /// Arms (or with zero, disarms) the one-shot process timer.
    fn set_timer(timeout: Duration) -> bool {
        // A zero `it_value` disarms, so a real deadline is at least a microsecond.
        let micros = if timeout.is_zero() {
            0
        } else {
            timeout.as_micros().max(1)
        };
        let value = libc::timeval {
            tv_sec: libc::time_t::try_from(micros / 1_000_000).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::try_from(micros % 1_000_000).unwrap_or(0),
        };
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: value,
        };
        // SAFETY: plain system call on valid pointers.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) == 0 }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    #[test]
    fn a_declared_run_time_holds_unless_the_cap_is_shorter() {
        let secs = Duration::from_secs;
        let default = secs(300);
        let resolve = |declared, cap| RunLimit::resolve(default, declared, cap);
        let undeclared = resolve(None, Some(secs(10)));
        assert_eq!(
            (undeclared.duration(), undeclared.set_by()),
            (Some(default), LimitSource::Default)
        );
        let long = resolve(Some(RunTime::Secs(3600)), None);
        assert_eq!(
            (long.duration(), long.set_by()),
            (Some(secs(3600)), LimitSource::Declared)
        );
        let capped = resolve(Some(RunTime::Secs(3600)), Some(secs(60)));
        assert_eq!(
            (capped.duration(), capped.set_by()),
            (Some(secs(60)), LimitSource::Cap)
        );
        let within = resolve(Some(RunTime::Secs(30)), Some(secs(60)));
        assert_eq!(
            (within.duration(), within.set_by()),
            (Some(secs(30)), LimitSource::Declared)
        );
        assert_eq!(resolve(Some(RunTime::UntilStopped), None).duration(), None);
        let stopped = resolve(Some(RunTime::UntilStopped), Some(secs(60)));
        assert_eq!(
            (stopped.duration(), stopped.described()),
            (Some(secs(60)), "LMI_PLUGIN_MAX_TIMEOUT_SECS")
        );
    }

    use wasmtime::{Instance, Module, Store, Trap};

    use super::*;

    /// Spins until interrupted; returns how long that took.
    fn spin_until_interrupted(engine: &Engine, timeout: Duration) -> Duration {
        // (module (func (export "spin") (loop br 0)))
        const SPIN: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // preamble
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
            0x03, 0x02, 0x01, 0x00, // one function of that type
            0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
            0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
        ];
        let module = Module::new(engine, SPIN).unwrap();
        let mut store = Store::new(engine, ());
        store.set_epoch_deadline(1);
        let spin = Instance::new(&mut store, &module, &[])
            .unwrap()
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let start = Instant::now();
        let deadline = arm(engine, timeout);
        let err = spin.call(&mut store, ()).unwrap_err();
        drop(deadline);
        assert_eq!(
            err.downcast_ref::<Trap>(),
            Some(&Trap::Interrupt),
            "{err:?}"
        );
        start.elapsed()
    }

    /// Both mechanisms stop a spinning guest once the deadline passes, and a disarmed
    /// deadline never fires into a later run on the same engine.
    #[test]
    fn a_deadline_interrupts_at_its_time_and_never_after_disarm() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // The first engine to arm takes the process timer; the second gets a ticker thread.
        let engines = [Engine::new(&config).unwrap(), Engine::new(&config).unwrap()];
        for (i, engine) in engines.iter().enumerate() {
            #[cfg(unix)]
            assert_eq!(
                arm(engine, Duration::from_secs(60))._alarm.is_some(),
                i == 0
            );
            drop(arm(engine, Duration::from_millis(10)));
            let took = spin_until_interrupted(engine, Duration::from_millis(300));
            assert!(
                took >= Duration::from_millis(300),
                "interrupted early: {took:?}"
            );
            assert!(took < Duration::from_secs(10), "interrupted late: {took:?}");
        }
    }
}
