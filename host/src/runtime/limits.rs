//! The limits of one run: the settings that bound it ([`Limits`]) and the store's resource
//! limiter that enforces its memory cap and instance, table and memory counts ([`MemoryCap`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::ResourceLimiter;

use super::deadline::RunLimit;
use crate::plugins::manifest::RunTime;
use crate::settings::Settings;

/// Resource limits of one run, from `LMI_PLUGIN_MEMORY_MB` and `LMI_PLUGIN_TIMEOUT_SECS`,
/// or the command's declared run time (capped by `LMI_PLUGIN_MAX_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    /// How long the run may last (`RunLimit::duration`), and what set that.
    pub timeout: RunLimit,
    /// End the whole process (exit 5) if the run is still stuck in the host a moment after
    /// its deadline (see `deadline::arm_with_backstop`). For a process that runs one plugin:
    /// `from_settings` leaves it off, the `lmi` command's dispatch sets it.
    pub exit_process_after_deadline: bool,
    /// Ctrl-C (SIGINT) and SIGTERM end the run, which then fails as
    /// [`super::RunError::Interrupted`] (see `interrupt`). Like the backstop, only for the
    /// `lmi` command: it takes the process's signals for the run.
    pub stop_on_signal: bool,
}

impl Limits {
    /// `LMI_PLUGIN_MEMORY_MB` and `LMI_PLUGIN_TIMEOUT_SECS` (settings' runtime section).
    pub fn from_settings(settings: &Settings) -> Result<Self, crate::settings::ConfigError> {
        let (memory_mb, timeout) = settings.plugin_limits()?;
        Ok(Self {
            memory_bytes: usize::try_from(memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            timeout: RunLimit::fixed(timeout),
            // Off for embedders (tests, `examples/soak.rs`): only the `lmi` command, which
            // runs one plugin and ends, turns them on (`commands::run`).
            exit_process_after_deadline: false,
            stop_on_signal: false,
        })
    }

    /// [`Limits::from_settings`] for a command that declares `declared` (as granted): its
    /// own run time, capped by `LMI_PLUGIN_MAX_TIMEOUT_SECS`.
    pub fn for_command(
        settings: &Settings,
        declared: Option<RunTime>,
    ) -> Result<Self, crate::settings::ConfigError> {
        let (_, default) = settings.plugin_limits()?;
        Ok(Self {
            timeout: RunLimit::resolve(default, declared, settings.plugin_max_timeout()?),
            ..Self::from_settings(settings)?
        })
    }
}

/// The run's resource limits. Memory is capped for the sum of every linear memory and table
/// the run creates (wasmtime enables multi-memory, so a per-memory cap would let sixteen
/// 60 MiB memories through a 64 MiB limit; tables are host memory too), and the numbers of instances, tables and memories are
/// bounded by what a plugin needs. Remembers whether it said no to memory, so an allocation
/// failure inside the guest can be reported as "hit the memory limit" rather than an
/// anonymous trap.
pub(super) struct MemoryCap {
    pub(super) max: usize,
    /// Bytes granted so far, over all memories and tables of the run.
    pub(super) used: usize,
    pub(super) hit: Arc<AtomicBool>,
}

/// Core instances, memories and tables a run may create. A Rust plugin built for
/// `wasm32-wasip2` has a handful of core instances (its module, the WASI adapter and shims),
/// one or two memories and a few tables; these leave room for other toolchains.
pub const MAX_INSTANCES: usize = 64;
pub const MAX_MEMORIES: usize = 8;
pub const MAX_TABLES: usize = 32;
/// Entries one table may grow to.
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Bytes the host spends per table entry (a function or GC reference: one pointer).
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

impl MemoryCap {
    /// Takes `bytes` more from the run's budget, or says no (and remembers it did).
    fn grow(&mut self, bytes: usize) -> bool {
        match self
            .used
            .checked_add(bytes)
            .filter(|total| *total <= self.max)
        {
            Some(total) => {
                self.used = total;
                true
            }
            None => {
                self.hit.store(true, Ordering::Relaxed);
                false
            }
        }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(desired.saturating_sub(current)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Host memory too: 32 tables of a million entries would be 256 MiB beyond the cap.
        let added = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        Ok(desired <= MAX_TABLE_ELEMENTS && self.grow(added))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `_exit(5)` backstop ends the whole process: only the `lmi` command, which runs
    /// one plugin and ends, may ask for it. An embedder's limits must never carry it.
    #[test]
    fn limits_from_settings_never_end_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths::under(dir.path());
        std::fs::create_dir_all(paths.config_dir()).unwrap();
        let settings = Settings::load(paths, None).unwrap();
        let limits = Limits::from_settings(&settings).unwrap();
        assert!(!limits.exit_process_after_deadline);
        assert!(!limits.stop_on_signal);
    }
}
