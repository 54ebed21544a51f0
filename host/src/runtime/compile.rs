//! Compiling a component, bounded.
//!
//! Compilation is the one step where input an author controls costs the host unbounded
//! resources: a few megabytes of nested blocks took seconds and gigabytes. So, in order:
//! the size is capped when the file is read ([`crate::plugins::store::MAX_COMPONENT_BYTES`]);
//! the component's top-level imports and exports are checked against the `plugin` world by
//! parsing alone ([`precheck`], no code generation); and only then is it compiled, in a child
//! process of lmi itself with an address-space limit, a CPU-time limit and a wall-clock
//! deadline ([`compile_bounded`]). The child hands back wasmtime's serialized artifact, which
//! the parent deserializes. Install, validate and a recompile on the dispatch path all go
//! through here.

use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ComponentError;
use crate::plugins::store::MAX_COMPONENT_BYTES;
use crate::settings::{ConfigError, RuntimeOptions, Settings};

/// Set by the `lmi` binary: compile in a bounded child process of it. A program embedding
/// the library (tests, the soak example) has no such child to start, and compiles in-process.
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// Called once by the `lmi` binary's `main`.
pub fn compile_in_child_processes() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

pub(super) fn in_child_processes() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// The hidden first argument that makes `lmi` the compiling child.
pub const CHILD_ARG: &str = "__lmi-compile-component";

/// How much memory and time one compile may take. The defaults (`RuntimeOptions`, overridable
/// by `LMI_COMPILE_MEMORY_MB` and `LMI_COMPILE_TIMEOUT_SECS`) are generous: a real plugin
/// compiles in well under a second and a few hundred MiB.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub memory_mb: u64,
    pub timeout: Duration,
}

impl Bounds {
    /// `LMI_COMPILE_MEMORY_MB` and `LMI_COMPILE_TIMEOUT_SECS` (0 or junk is a usage error).
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let (memory_mb, timeout) = settings.compile_limits()?;
        Ok(Self { memory_mb, timeout })
    }
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            memory_mb: RuntimeOptions::DEFAULT_COMPILE_MEMORY_MB,
            timeout: Duration::from_secs(RuntimeOptions::DEFAULT_COMPILE_TIMEOUT_SECS),
        }
    }
}

/// The world check that needs no compilation: the component's own (top-level) imports are
/// all things the host offers (WASI, `lmi:plugin`), and it exports `lmi:plugin/command` of a
/// contract this host accepts (0.3, 0.2 or 0.1).
pub fn precheck(bytes: &[u8]) -> Result<(), ComponentError> {
    top_level_exports(bytes).map(drop)
}

/// The contract a component was built against, read from its exports without compiling it
/// (`lmi plugin info`); `None` for bytes that are not one of ours.
pub fn contract_of(bytes: &[u8]) -> Option<super::bindings::Contract> {
    top_level_exports(bytes)
        .ok()?
        .iter()
        .find_map(|e| super::bindings::Contract::of_export(e))
}

/// The world check's parse: refuses imports the host does not offer and a missing
/// `command` export; returns the top-level export names.
fn top_level_exports(bytes: &[u8]) -> Result<Vec<String>, ComponentError> {
    use wasmparser::{Parser, Payload};
    let invalid = |e: wasmparser::BinaryReaderError| ComponentError::Invalid(e.to_string());
    let mut depth = 0usize;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let name = import.map_err(invalid)?.name.name;
                    if !(name.starts_with("wasi:") || name.starts_with("lmi:plugin/")) {
                        return Err(ComponentError::WrongWorld(format!(
                            "it imports `{}`, which this host does not offer",
                            crate::text::line(name, 100)
                        )));
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export.map_err(invalid)?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    if exports
        .iter()
        // The version is part of the name: `lmi:plugin/command@0.2.0`.
        .any(|e| super::bindings::Contract::of_export(e).is_some())
    {
        return Ok(exports);
    }
    let found: Vec<String> = exports.iter().map(|e| crate::text::line(e, 100)).collect();
    Err(ComponentError::WrongWorld(format!(
        "it does not export lmi:plugin/command@0.3.0, @0.2.0 or @0.1.0 (it exports: {})",
        if found.is_empty() {
            "nothing".to_owned()
        } else {
            found.join(", ")
        }
    )))
}

/// Compiles `bytes` in a child process within `bounds`; returns wasmtime's serialized
/// artifact.
pub fn compile_bounded(bytes: &[u8], bounds: Bounds) -> Result<Vec<u8>, ComponentError> {
    let failed = |why: String| ComponentError::Invalid(format!("cannot compile it: {why}"));
    let exe =
        std::env::current_exe().map_err(|e| failed(format!("cannot find lmi itself: {e}")))?;
    let mut child = child_command(&exe, bounds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start the compiler process: {e}")))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err(failed("the compiler process has no pipes".into()));
    };
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let artifact_cap = max_artifact_bytes(bytes.len());
    let out = std::thread::spawn(move || read_capped(stdout, artifact_cap));
    let err = std::thread::spawn(move || read_capped(stderr, 64 * 1024));

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= bounds.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                return Err(failed(format!("lost the compiler process: {e}")));
            }
        }
    };
    let _ = writer.join();
    let artifact = out.join().ok().and_then(Result::ok);
    let message = err
        .join()
        .ok()
        .and_then(Result::ok)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let Some(status) = status else {
        return Err(ComponentError::Bound(format!(
            "compiling it took longer than {} s (LMI_COMPILE_TIMEOUT_SECS)",
            bounds.timeout.as_secs()
        )));
    };
    if status.success() {
        return artifact.ok_or_else(|| failed("its compiled code was too large".into()));
    }
    // The child reports a checked refusal as `<kind>\t<message>`; anything else (an abort
    // on a failed allocation, SIGXCPU) means it hit a bound.
    match message.split_once('\t') {
        Some(("wrong-world", m)) => Err(ComponentError::WrongWorld(m.trim().to_owned())),
        Some(("invalid", m)) => Err(ComponentError::Invalid(m.trim().to_owned())),
        _ => Err(ComponentError::Bound(format!(
            "compiling it needed more than {} MiB of memory (LMI_COMPILE_MEMORY_MB) or {} s of CPU",
            bounds.memory_mb,
            cpu_secs(bounds.timeout)
        ))),
    }
}

/// `lmi __lmi-compile-component <memory MiB> <cpu secs> <parent pid>`.
fn child_command(exe: &std::path::Path, bounds: Bounds) -> Command {
    let mut command = Command::new(exe);
    command
        // The child parses author-controlled input and needs nothing from the environment;
        // lmi's holds `LMI_ACCESS_TOKEN` and client secrets.
        .env_clear()
        .arg(CHILD_ARG)
        .arg(bounds.memory_mb.to_string())
        // CPU time adds up on every core wasmtime compiles on; the wall-clock deadline is the
        // bound that matters, this one only backs it up if the parent is gone.
        .arg(cpu_secs(bounds.timeout).to_string())
        // So the child can tell its parent died before it asked to die with it.
        .arg(std::process::id().to_string());
    command
}

/// The most artifact bytes the parent reads back for a component of `component_len` bytes.
/// Machine code and metadata come to a small multiple of the wasm (hello: 124 KB in, 383 KB
/// out, about 3x); 8x with a 16 MiB floor for wasmtime's fixed overhead leaves room, and
/// the component cap bounds the whole at 8 x 32 MiB = 256 MiB, so a compiler child (or a
/// compile bomb) cannot make the parent hold an arbitrary amount.
fn max_artifact_bytes(component_len: usize) -> u64 {
    let len = u64::try_from(component_len).unwrap_or(u64::MAX);
    len.min(MAX_COMPONENT_BYTES)
        .saturating_mul(8)
        .clamp(16 << 20, 8 * MAX_COMPONENT_BYTES)
}

fn cpu_secs(timeout: Duration) -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    timeout.as_secs().saturating_mul(cores).saturating_add(1)
}

fn read_capped(from: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    from.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other("output too large"));
    }
    Ok(bytes)
}

/// The child: `lmi __lmi-compile-component <memory MiB> <cpu secs> <parent pid>`, the
/// component on stdin,
/// the artifact on stdout.
pub fn child_main(args: &[std::ffi::OsString]) -> ExitCode {
    let arg = |i: usize| {
        args.get(i)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<u64>().ok())
    };
    let (Some(memory_mb), Some(cpu_secs), Some(parent)) = (arg(0), arg(1), arg(2)) else {
        eprintln!("invalid\tthe compiler process was started without its bounds");
        return ExitCode::from(2);
    };
    if let Err(e) = limit_self(memory_mb, cpu_secs, parent) {
        eprintln!("invalid\tcannot limit the compiler process: {e}");
        return ExitCode::from(2);
    }
    let mut bytes = Vec::new();
    match std::io::stdin()
        .take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        // The memory bound, already while reading (`read_to_end` reserves fallibly): no
        // `<kind>\t` line, so the parent reports the bound and names its key.
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => return ExitCode::from(3),
        Err(_) => {
            eprintln!("invalid\tthe component could not be read");
            return ExitCode::from(2);
        }
        Ok(_) if bytes.len() as u64 > MAX_COMPONENT_BYTES => {
            eprintln!("invalid\tthe component is too large");
            return ExitCode::from(2);
        }
        Ok(_) => {}
    }
    let compiled = super::engine()
        .map_err(|e| ComponentError::Invalid(format!("{e:#}")))
        .and_then(|engine| super::compile_in_process(&engine, &bytes));
    match compiled {
        Ok(compiled) => match std::io::stdout().lock().write_all(&compiled.artifact) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(1),
        },
        Err(ComponentError::WrongWorld(m)) => {
            eprintln!("wrong-world\t{m}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!(
                "invalid\t{}",
                e.to_string()
                    .trim_start_matches("the component is invalid: ")
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn limit_self(memory_mb: u64, cpu_secs: u64, parent: u64) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value as libc::rlim_t,
            rlim_max: value as libc::rlim_t,
        };
        // SAFETY: setrlimit reads a valid rlimit struct and changes only this process.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // A compile nobody waits for any more (lmi interrupted) stops with its parent.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and affects only this process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // A parent that died before the prctl sends no signal: the child was already reparented.
    // SAFETY: getppid cannot fail and has no effects.
    if u64::try_from(unsafe { libc::getppid() }).ok() != Some(parent) {
        return Err(std::io::Error::other("lmi, which started it, is gone"));
    }
    set(libc::RLIMIT_AS, memory_mb.saturating_mul(1 << 20))?;
    set(libc::RLIMIT_CPU, cpu_secs.saturating_add(1))?;
    // No core file for a compile that hit a bound.
    set(libc::RLIMIT_CORE, 0)
}

#[cfg(not(unix))]
fn limit_self(_memory_mb: u64, _cpu_secs: u64, _parent: u64) -> std::io::Result<()> {
    // Elsewhere the wall-clock deadline still applies.
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The compiling child gets no environment: lmi's own (`LMI_ACCESS_TOKEN`, client
    /// secrets in `LMI_*`) must not reach a process that parses author-controlled input.
    /// The test process has `CARGO_*` and `PATH`; a script run as the child prints none.
    #[cfg(unix)]
    #[test]
    #[allow(clippy::disallowed_methods)] // reads the test process's own environment
    fn the_compiling_child_inherits_no_environment() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("print-env");
        std::fs::write(&exe, "#!/bin/sh\n/usr/bin/env\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = child_command(&exe, Bounds::default())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(
            !shown.contains("CARGO_") && !shown.contains("PATH="),
            "{shown}"
        );
    }

    /// The artifact read back is bounded by the component it came from (hello: 124 KB in,
    /// 383 KB out), not a flat 512 MiB any component could claim.
    #[test]
    fn the_artifact_bound_follows_the_component_size() {
        assert!(max_artifact_bytes(124_000) <= 32 << 20);
        assert!(max_artifact_bytes(124_000) >= 8 * 124_000);
        assert!(max_artifact_bytes(MAX_COMPONENT_BYTES as usize) <= 8 * MAX_COMPONENT_BYTES);
        assert!(max_artifact_bytes(usize::MAX) <= 8 * MAX_COMPONENT_BYTES);
    }
}
