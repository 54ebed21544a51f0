//! Blocking work (the keychain, a token fetch under the token lock) awaited from an async
//! runtime (a plugin's) without blocking it: [`off_runtime`] runs it on a worker thread kept
//! for reuse. (A plugin making 200 service requests once started 200 threads, each costing
//! its creation and, on these small VMs, a cross-CPU TLB flush on every later `munmap`.)
//!
//! A job goes to an idle worker if there is one, else to a new thread. A worker that finished
//! waits a few seconds for the next job, then ends. A job the run's deadline abandoned keeps
//! its thread busy until its own limits end it; it never blocks other jobs, which get other
//! threads. These are plain threads, outside any tokio runtime: the work drives its own
//! clients' runtimes, which must not start inside another.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs `work` on a worker thread and waits for it without blocking the caller's runtime, so
/// the runtime stays free and a deadline can drop this wait. A thread left behind by such a
/// deadline is bounded by the work's own limits (the HTTP total deadline, the lock wait, the
/// keychain timeout) and dies with the process. So the work must be safe to abandon at any
/// point: a read, a token fetch or a service request, never a step that spends a credential
/// before storing its successor. (Clients that drive their own runtimes may be used there:
/// the worker is outside any runtime.) Fails only if no thread could be started or `work`
/// panicked.
pub async fn off_runtime<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    let (done, result) = tokio::sync::oneshot::channel();
    execute(move || {
        let _ = done.send(work());
    })?;
    result
        .await
        .map_err(|_| std::io::Error::other("the blocking work panicked"))
}

/// How long an idle worker waits for its next job before ending.
const IDLE: Duration = Duration::from_secs(5);

/// Workers waiting for a job: an id (to leave the list) and where to send it.
static IDLE_WORKERS: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Runs `job` on an idle worker, or on a new one.
fn execute(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut job: Job = Box::new(job);
    loop {
        let idle = IDLE_WORKERS.lock().ok().and_then(|mut idle| idle.pop());
        let Some((_, worker)) = idle else { break };
        // A worker that ended has dropped its receiver: the job comes back and the next one is
        // tried. (One that timed out but was taken first still runs it: `leave_or_take`.)
        match worker.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(returned)) => job = returned,
        }
    }
    let (tx, rx) = mpsc::channel();
    let _ = tx.send(job);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::thread::Builder::new()
        .name("lmi-host-call".into())
        .spawn(move || work(id, tx, rx))
        .map(drop)
}

fn work(id: u64, tx: Sender<Job>, rx: Receiver<Job>) {
    let mut next = rx.recv_timeout(IDLE).ok();
    while let Some(job) = next {
        job();
        match IDLE_WORKERS.lock() {
            Ok(mut idle) => idle.push((id, tx.clone())),
            Err(_) => return,
        }
        next = match rx.recv_timeout(IDLE) {
            Ok(job) => Some(job),
            Err(_) => leave_or_take(id, &rx),
        };
    }
}

/// After an idle timeout: leave the idle list, unless a caller already took this worker from
/// it, in which case its job is on the way (or here) and must run, not be dropped.
fn leave_or_take(id: u64, rx: &Receiver<Job>) -> Option<Job> {
    let Ok(mut idle) = IDLE_WORKERS.lock() else {
        return None;
    };
    let listed = idle.len();
    idle.retain(|(worker, _)| *worker != id);
    if idle.len() < listed {
        return None; // nobody can send to this worker any more
    }
    drop(idle);
    // Taken: `execute` sends exactly once, and this worker holds a sender, so `recv` returns.
    rx.recv().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_workers() -> usize {
        IDLE_WORKERS.lock().unwrap().len()
    }

    /// Runs `job` and waits for its answer and for its worker to be idle again.
    fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = mpsc::channel();
        execute(move || done.send(job()).unwrap()).unwrap();
        let value = result.recv_timeout(Duration::from_secs(5)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while idle_workers() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        value
    }

    #[test]
    fn sequential_jobs_reuse_one_thread_and_a_stuck_job_blocks_nothing() {
        let first = run(|| std::thread::current().id());
        for _ in 0..20 {
            assert_eq!(run(|| std::thread::current().id()), first);
        }
        // A job that never returns keeps its worker; the next job gets another thread.
        let (release, stuck) = mpsc::channel::<()>();
        let (started, on) = mpsc::channel();
        execute(move || {
            started.send(std::thread::current().id()).unwrap();
            let _ = stuck.recv();
        })
        .unwrap();
        let stuck_on = on.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(stuck_on, first, "the idle worker took the job");
        let (done, result) = mpsc::channel();
        execute(move || done.send(std::thread::current().id()).unwrap()).unwrap();
        let other = result
            .recv_timeout(Duration::from_secs(5))
            .expect("a stuck job must not block the next one");
        assert_ne!(other, stuck_on);
        release.send(()).unwrap();
    }
}
