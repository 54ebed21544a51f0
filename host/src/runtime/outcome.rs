//! How a run ended, as the user sees it: the plugin's own exit code, its error, or a trap
//! (deadline, memory cap, crash) classified into a [`RunError`] with a bounded message.

use wasmtime::Trap;

use super::bindings::{HostError, PluginError};
use super::limits::Limits;
use crate::exit::{Exit, ExitStatus};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("plugin {plugin} was stopped after {secs} s (the limit set by {set_by})")]
    Timeout {
        plugin: String,
        secs: u64,
        /// The setting that made the limit (`RunLimit::described`).
        set_by: &'static str,
    },
    /// Ctrl-C or SIGTERM ended the run (`interrupt`).
    #[error("plugin {plugin} was stopped by {}", signal_name(*.signal))]
    Interrupted { plugin: String, signal: i32 },
    #[error("plugin {plugin} hit the memory limit of {mb} MiB (LMI_PLUGIN_MEMORY_MB)")]
    Memory { plugin: String, mb: usize },
    #[error("plugin {plugin} crashed running `{command}`: {cause}")]
    Crashed {
        plugin: String,
        command: String,
        cause: String,
    },
    #[error("plugin {plugin} cannot be loaded: {cause}")]
    Load { plugin: String, cause: String },
    #[error("{message}")]
    Usage { message: String },
    #[error("{message}")]
    Failed { message: String },
    #[error("{message}")]
    Host {
        message: String,
        exit: Exit,
        /// For `auth-failed`: what fits the failure the host saw (see `HostState::failed`).
        hint: Option<&'static str>,
    },
}

impl RunError {
    /// What to print under the error, if anything.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            RunError::Host { hint, .. } => *hint,
            _ => None,
        }
    }
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Usage { .. } => Exit::Usage,
            RunError::Failed { .. } => Exit::Failure,
            RunError::Host { exit, .. } => *exit,
            RunError::Interrupted { signal, .. } if *signal == SIGTERM => Exit::Terminated,
            RunError::Interrupted { .. } => Exit::Interrupted,
            _ => Exit::Plugin,
        }
    }
}

const SIGTERM: i32 = 15;

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        _ => "Ctrl-C (SIGINT)",
    }
}

impl RunError {
    /// The run's limit passed: what the user is told names the limit and what set it.
    pub(super) fn timed_out(plugin: &str, limits: &Limits) -> Self {
        RunError::Timeout {
            plugin: plugin.to_owned(),
            secs: limits.timeout.duration().map_or(0, |d| d.as_secs()),
            set_by: limits.timeout.described(),
        }
    }
}

/// Lines and characters of a plugin's error message lmi prints.
const MESSAGE_LINES: usize = 40;
const MESSAGE_LINE_CHARS: usize = 1000;

/// Text a plugin chose (its error messages, and through a host error it hands back,
/// whatever a service answered), safe to print as lmi's own `error:` line: no control
/// sequences (OSC 52, screen clears, colours), no bidi overrides, bounded.
pub(super) fn plugin_text(text: &str) -> String {
    crate::text::block(text, MESSAGE_LINES, MESSAGE_LINE_CHARS)
}

/// The plugin's error; `auth_hint` is the host's hint for an `auth-failed` it passed on.
pub(super) fn plugin_error(e: PluginError, auth_hint: Option<&'static str>) -> RunError {
    match e {
        PluginError::Usage(message) => RunError::Usage {
            message: plugin_text(&message),
        },
        PluginError::Failed(message) => RunError::Failed {
            message: plugin_text(&message),
        },
        PluginError::Host(h) => {
            let (message, exit) = match h {
                HostError::NotConfigured(m) => (m, Exit::Usage),
                HostError::Denied(m) => (format!("denied: {m}"), Exit::Failure),
                HostError::AuthFailed(m) => (m, Exit::Auth),
                HostError::Network(m) => (m, Exit::Failure),
                HostError::InvalidRequest(m) => (format!("invalid request: {m}"), Exit::Failure),
            };
            RunError::Host {
                message: plugin_text(&message),
                exit,
                hint: auth_hint.filter(|_| exit == Exit::Auth),
            }
        }
    }
}

/// Turns a wasmtime error into the reason the user sees: what happened, then the guest's
/// backtrace (function names survive in plugins built with `strip = "debuginfo"`).
pub(super) fn classify_trap(
    e: wasmtime::Error,
    plugin: &str,
    command: &str,
    limits: Limits,
    hit_memory: bool,
) -> RunError {
    let crashed = |what: &str| RunError::Crashed {
        plugin: plugin.to_owned(),
        command: command.to_owned(),
        // The backtrace names functions from the component's own name section.
        cause: plugin_text(&match e.downcast_ref::<wasmtime::WasmBacktrace>() {
            Some(bt) => format!("{what}\n{}", short_backtrace(bt)),
            None => what.to_owned(),
        }),
    };
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RunError::timed_out(plugin, &limits),
        _ if hit_memory => RunError::Memory {
            plugin: plugin.to_owned(),
            mb: limits.memory_bytes >> 20,
        },
        Some(Trap::StackOverflow) => crashed("stack overflow (unbounded recursion?)"),
        Some(Trap::UnreachableCodeReached) => {
            crashed("it panicked or aborted (its message, if any, is above)")
        }
        Some(Trap::MemoryOutOfBounds) => crashed(
            "out-of-bounds memory access (in Rust plugins usually a stack overflow from deep recursion)",
        ),
        Some(trap) => crashed(&format!("wasm trap: {trap}")),
        None => crashed(&format!("{:#}", e)),
    }
}

/// At most a dozen frames: enough to find the bug, short enough to read.
fn short_backtrace(bt: &wasmtime::WasmBacktrace) -> String {
    let text = bt.to_string();
    let mut lines: Vec<&str> = text.lines().take(13).collect();
    if text.lines().count() > 13 {
        lines.push("    …");
    }
    lines.join("\n")
}
