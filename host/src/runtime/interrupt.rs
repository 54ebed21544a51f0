//! Ctrl-C (SIGINT) and SIGTERM while a plugin runs: the run ends promptly and lmi exits
//! through its ordinary path, so every cache and store is left whole.
//!
//! The signal's handler does only what is safe there: it records the signal and bumps the
//! engine's epoch, so a plugin computing in wasm traps at its next epoch check, as at its
//! deadline. A plugin waiting in an async host call (a sleep, a service request) is dropped
//! by the run's own loop, which looks at the record every [`POLL`]. A second signal ends
//! the process at once (exit 128 + the signal: 130 for SIGINT), for a run stuck in a
//! synchronous host call.
//!
//! Handlers are registered through `signal-hook-registry` (which chains to any handler
//! installed before) the first time a run is armed, and stay; outside a run they do what the
//! signal would have done anyway (end the process). Only the `lmi` command arms it
//! (`Limits::stop_on_signal`): an embedder keeps its own signals. No thread is started: on
//! small VMs a thread costs more than a whole plugin run (see `deadline`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use wasmtime::Engine;

/// How often a run waiting in the host looks for a signal.
pub const POLL: Duration = Duration::from_millis(50);

/// The signals that stop a run. (Windows delivers SIGINT for Ctrl-C and Ctrl-Break.)
#[cfg(unix)]
const SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];
/// The C runtime's `SIGINT`.
#[cfg(not(unix))]
const SIGNALS: [i32; 1] = [2];

/// Whether a run is armed, and the first signal it received (0: none).
static ARMED: AtomicBool = AtomicBool::new(false);
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The engine whose epoch a signal bumps. Set once: a handler may only read it.
static ENGINE: OnceLock<Engine> = OnceLock::new();
static REGISTERED: OnceLock<bool> = OnceLock::new();

/// An armed run; dropping it disarms.
pub struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.store(false, Ordering::Release);
    }
}

/// Takes SIGINT and SIGTERM for a run on `engine`, or `None` when they cannot be (another
/// engine has them, or registering failed): the run then ends on them as any process does.
pub fn arm(engine: &Engine) -> Option<Armed> {
    if !Engine::same(ENGINE.get_or_init(|| engine.clone()), engine) {
        return None;
    }
    if !*REGISTERED.get_or_init(register) {
        return None;
    }
    RECEIVED.store(0, Ordering::Release);
    ARMED.store(true, Ordering::Release);
    Some(Armed)
}

/// The signal that stopped the armed run, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Acquire) {
        0 => None,
        signal => Some(signal),
    }
}

/// Resolves once the armed run has received a signal.
pub async fn signalled() {
    while received().is_none() {
        tokio::time::sleep(POLL).await;
    }
}

/// The exit code of a process a signal ended (the shell's convention: 128 + the signal).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(130)
}

#[allow(unsafe_code)]
fn register() -> bool {
    SIGNALS.iter().all(|&signal| {
        // SAFETY: the action is async-signal-safe: atomics, the engine's atomic epoch
        // increment, and for a signal outside a run or a second one, `signal`, `raise` and
        // `_exit` (see `on_signal`).
        unsafe { signal_hook_registry::register(signal, move || on_signal(signal)) }.is_ok()
    })
}

fn on_signal(signal: i32) {
    if !ARMED.load(Ordering::Acquire) {
        end_as_default(signal);
        return;
    }
    if RECEIVED
        .compare_exchange(0, signal, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // The second: the user insists.
        exit_now(signal);
    }
    if let Some(engine) = ENGINE.get() {
        engine.increment_epoch();
    }
}

/// Outside a run, the signal does what it did before lmi took it: ends the process.
#[cfg(unix)]
#[allow(unsafe_code)]
fn end_as_default(signal: i32) {
    // SAFETY: `signal` and `raise` are async-signal-safe; the raised signal is delivered
    // with its default action once this handler returns.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

#[cfg(not(unix))]
fn end_as_default(signal: i32) {
    exit_now(signal);
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn exit_now(signal: i32) -> ! {
    // SAFETY: `_exit` is async-signal-safe and runs no destructors (another thread may hold
    // any lock).
    unsafe { libc::_exit(i32::from(exit_code(signal))) }
}

/// Windows runs the handler on a thread of its own: an ordinary exit is allowed there.
#[cfg(not(unix))]
fn exit_now(signal: i32) -> ! {
    std::process::exit(i32::from(exit_code(signal)))
}
