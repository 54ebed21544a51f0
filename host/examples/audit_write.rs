//! The audit trail's write path alone, in one process: what `send-request` adds per request
//! once the file is open (the line built from its fields, an `fstat` for the size, one
//! `write`), timed over N records; and the first record of a run, which also opens the
//! existing file (the directory's trust check, the SSO subject).
//!
//! ```sh
//! cargo run --release -p lmi --example audit_write -- 20000
//! ```
//! Prints `audit_write: first record X us; per record Y us (N records)` on stderr.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Instant;

use lmi::audit::{Actor, Outcome, Trail, Use};
use lmi::paths::Paths;
use lmi::settings::Settings;

fn main() -> ExitCode {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000)
        .max(1);
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("audit_write: cannot make a temporary directory");
        return ExitCode::FAILURE;
    };
    let settings = match Settings::load(Paths::under(dir.path()), Some("bench")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("audit_write: {e}");
            return ExitCode::FAILURE;
        }
    };
    let actor = Actor::plugin("hostile", "0.1.0", "request-flood");
    let request = Use::ServiceRequest {
        service: None,
        method: "GET",
        path: "v1/items?page=2",
        status: Some(200),
    };
    // A run meets an existing file: make it, then time a new trail's first record (it
    // opens the file, checks the directory and looks up the SSO subject).
    if let Err(e) = Trail::new().record(&settings, &actor, request, Outcome::Ok) {
        eprintln!("audit_write: {e}");
        return ExitCode::FAILURE;
    }
    let mut trail = Trail::new();
    let first = Instant::now();
    if let Err(e) = trail.record(&settings, &actor, request, Outcome::Ok) {
        eprintln!("audit_write: {e}");
        return ExitCode::FAILURE;
    }
    let first = first.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        if let Err(e) = trail.record(&settings, &actor, request, Outcome::Ok) {
            eprintln!("audit_write: {e}");
            return ExitCode::FAILURE;
        }
    }
    let per = started.elapsed().as_secs_f64() / f64::from(n);
    eprintln!(
        "audit_write: first record {:.1} us; per record {:.2} us ({n} records)",
        first.as_secs_f64() * 1e6,
        per * 1e6
    );
    ExitCode::SUCCESS
}
