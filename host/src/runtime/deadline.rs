//! The wall-clock deadline of a run: when it passes, the engine's epoch is bumped and the
//! plugin traps at its next epoch check (every function entry and loop back-edge).
//!
//! On Unix a one-shot `ITIMER_REAL` does the bump from its `SIGALRM` handler, so dispatch
//! stays single-threaded: on small VMs a second thread costs more than the whole plugin run
//! (its creation, and cross-CPU TLB flushes on every later `munmap`/`mprotect`). There is one
//! such timer per process, so it serves one engine and one run at a time; any other run
//! (tests and embedders run several at once) gets a ticker thread instead.

use std::sync::mpsc;
use std::time::Duration;

use wasmtime::Engine;

/// An armed deadline; dropping it disarms it.
pub struct Deadline {
    #[cfg(unix)]
    _alarm: Option<alarm::Armed>,
    /// Dropping the sender wakes the ticker thread, which then exits without bumping.
    _ticker: Option<mpsc::Sender<()>>,
}

pub fn arm(engine: &Engine, timeout: Duration) -> Deadline {
    #[cfg(unix)]
    if let Some(armed) = alarm::arm(engine, timeout) {
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
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use wasmtime::Engine;

    /// The engine the process timer bumps. Set once: a signal handler may only read it.
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    /// Whether a run holds the process timer.
    static BUSY: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<bool> = OnceLock::new();

    pub struct Armed;

    /// Takes the process timer for `engine`, or `None` when another engine or run has it.
    pub fn arm(engine: &Engine, timeout: Duration) -> Option<Armed> {
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
        // A parent may have blocked SIGALRM; this thread must receive it.
        if unblock_alarm() && set_timer(timeout) {
            Some(Armed)
        } else {
            BUSY.store(false, Ordering::Release);
            None
        }
    }

    impl Drop for Armed {
        fn drop(&mut self) {
            set_timer(Duration::ZERO);
            BUSY.store(false, Ordering::Release);
        }
    }

    /// Only async-signal-safe work: an atomic load and the engine's atomic increment.
    extern "C" fn on_alarm(_signal: libc::c_int) {
        if let Some(engine) = ENGINE.get() {
            engine.increment_epoch();
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
