//! In-process soak: runs one installed plugin command N times in a single process through the
//! same library calls as `lmi <command>` (one engine, a fresh store per run) and reports the
//! resident set size after the first run and at intervals, so a leak per run shows as growth.
//!
//! ```sh
//! lmi plugin install plugins/hello --yes
//! cargo run --release -p lmi --example soak -- hello hello 1000 >/dev/null
//! ```
//! Arguments: plugin name, command, runs (default 1000). The plugin's stdout is inherited:
//! send it to /dev/null. Figures go to stderr, the last line as `soak: rss_kib after 1 = A,
//! after N = B`.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use lmi::paths::Paths;
use lmi::plugins::store::Store;
use lmi::runtime::{self, HostState, Limits};
use lmi::settings::Settings;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(name), Some(command)) = (args.first(), args.get(1)) else {
        eprintln!("usage: soak <plugin> <command> [runs]");
        return ExitCode::from(2);
    };
    let runs: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
    match soak(name, command, runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn soak(name: &str, command: &str, runs: usize) -> anyhow::Result<()> {
    let paths = Paths::from_env()?;
    let plugin = Store::new(&paths).get(name)?;
    let settings = Settings::load(paths.clone(), None)?;
    let limits = Limits::from_settings(&settings)?;
    let engine = runtime::engine()?;
    let mut first = 0;
    let start = std::time::Instant::now();
    for i in 1..=runs {
        let component = runtime::load_installed(&engine, &paths, &plugin)?;
        let host = HostState::new(
            plugin.label(),
            plugin.manifest.permissions.clone(),
            settings.clone(),
        );
        let code = runtime::run_plugin(&engine, &component, host, limits, command, &[])?;
        anyhow::ensure!(code == 0, "run {i} exited {code}");
        if i == 1 {
            first = rss_kib();
        }
        if i == 1 || i == 10 || i % 100 == 0 || i == runs {
            eprintln!(
                "soak: run {i:>5}: rss {:>7} KiB, threads {:>5}",
                rss_kib(),
                threads()
            );
        }
    }
    eprintln!(
        "soak: {runs} runs in {:.1} s; rss_kib after 1 = {first}, after {runs} = {}",
        start.elapsed().as_secs_f64(),
        rss_kib()
    );
    Ok(())
}
