//! One sandboxed run of a plugin command: a fresh store with a memory cap and a wall-clock
//! deadline, WASI with the terminal's stdio and nothing else (no preopened directories, no
//! environment variables, no sockets), and `cli-context` for everything the host offers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::ComponentError;
use super::bindings::{HostError, Plugin, PluginError, PluginPre};
use crate::auth::sso::SsoUser;
use crate::exit::{Exit, ExitStatus};
use crate::plugins::manifest::Permissions;
use crate::settings::Settings;

/// Resource limits of one run, from `LMI_PLUGIN_MEMORY_MB` and `LMI_PLUGIN_TIMEOUT_SECS`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: usize,
    pub timeout: Duration,
    /// End the whole process (exit 5) if the run is still stuck in the host a moment after
    /// its deadline (see `deadline::arm_with_backstop`). For a process that runs one plugin:
    /// `from_settings` leaves it off, the `lmi` command's dispatch sets it.
    pub exit_process_after_deadline: bool,
}

impl Limits {
    pub const DEFAULT_MEMORY_MB: u64 = 256;
    pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

    pub fn from_settings(settings: &Settings) -> Result<Self, crate::settings::ConfigError> {
        let mb = settings.global_u64("LMI_PLUGIN_MEMORY_MB", Self::DEFAULT_MEMORY_MB)?;
        let secs = settings.global_u64("LMI_PLUGIN_TIMEOUT_SECS", Self::DEFAULT_TIMEOUT_SECS)?;
        Ok(Self {
            memory_bytes: usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            timeout: Duration::from_secs(secs),
            // Off for embedders (tests, `examples/soak.rs`): only the `lmi` command, which
            // runs one plugin and ends, turns it on (`commands::run`).
            exit_process_after_deadline: false,
        })
    }
}

/// What the host knows while a plugin runs.
pub struct HostState {
    pub plugin: String,
    pub permissions: Permissions,
    pub settings: Settings,
    sso: Option<Option<SsoUser>>,
    /// Whether `get-sso-user` answers: the command `requires_sso` (the install prompt
    /// promised it the identity) or the plugin was granted `sso_identity`.
    identity: bool,
    /// The active env's service session, opened by the first host call that needs it.
    pub(super) session: crate::auth::session::LazySession,
}

impl HostState {
    pub fn new(plugin: String, permissions: Permissions, settings: Settings) -> Self {
        Self {
            plugin,
            identity: permissions.sso_identity,
            permissions,
            session: crate::auth::session::LazySession::new(settings.clone()),
            settings,
            sso: None,
        }
    }

    /// The command being run `requires_sso`: it was promised the user's identity.
    pub fn requires_sso(mut self, requires: bool) -> Self {
        self.identity |= requires;
        self
    }

    /// The SSO user's identity, if this run may see it (see `identity`).
    pub async fn sso_identity(&mut self) -> Option<SsoUser> {
        if !self.identity {
            tracing::debug!(plugin = %self.plugin, "withheld the SSO identity: not requires_sso, no sso_identity grant");
            return None;
        }
        self.sso_user().await
    }

    /// Seeds the SSO lookup with a result the caller already has (the `requires_sso` gate).
    pub fn with_sso(mut self, user: Option<SsoUser>) -> Self {
        self.sso = Some(user);
        self
    }

    /// The SSO user, looked up once per run (it may involve the keychain, never the
    /// network): a host call never renews the session, see `sso::stored_user`.
    pub async fn sso_user(&mut self) -> Option<SsoUser> {
        if self.sso.is_none() {
            use crate::auth::sso;
            let found = match sso::current_user_without_keychain(&self.settings) {
                Some(found) => found,
                None => {
                    let settings = self.settings.clone();
                    match off_runtime(move || sso::stored_user(&settings)).await {
                        Ok(found) => found,
                        Err(e) => {
                            tracing::warn!("SSO session unavailable to plugin: {e:?}");
                            Ok(None)
                        }
                    }
                }
            };
            let user = match found {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!("SSO session unavailable to plugin: {e}");
                    None
                }
            };
            self.sso = Some(user);
        }
        self.sso.clone().flatten()
    }

    /// The active env, if the plugin holds `permission` for it.
    pub fn permitted_env(
        &self,
        has: impl Fn(&Permissions) -> bool,
        permission: &str,
    ) -> Result<String, HostError> {
        if !has(&self.permissions) {
            return Err(HostError::Denied(format!(
                "plugin {} did not ask for the `{permission}` permission in its manifest",
                self.plugin
            )));
        }
        let Some(env) = self.settings.active_env() else {
            return Err(HostError::NotConfigured(
                "no environment selected: pass `--env NAME` or set `default_environment`".into(),
            ));
        };
        if !self.permissions.allows_env(env) {
            return Err(HostError::Denied(format!(
                "plugin {} may not use credentials in environment `{env}` (it may use: {})",
                self.plugin,
                self.permissions.environments.join(", ")
            )));
        }
        Ok(env.to_owned())
    }
}

/// Runs blocking host work (the keychain, HTTP, the token lock) on its own thread and
/// waits for it without blocking the run: the plugin's runtime stays free, so the run's
/// deadline can drop this wait. A thread left behind by the deadline is bounded by its own
/// limits (the HTTP total deadline, the lock wait, the keychain timeout) and dies with the
/// process. So the work must be safe to abandon at any point: a read, a token fetch or a
/// service request, never a step that spends a credential before storing its successor (an
/// SSO refresh with rotation: `sso::stored_user`). (Those clients also drive their own
/// runtimes, which must not start inside the plugin's.)
pub async fn off_runtime<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, HostError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lmi-host-call".into())
        .spawn(move || {
            let _ = done.send(work());
        })
        .map_err(|e| HostError::Network(format!("cannot start the host call: {e}")))?;
    result
        .await
        .map_err(|_| HostError::Network("the host call failed unexpectedly".into()))
}

pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    pub host: HostState,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The run's resource limits. Memory is capped for the sum of every linear memory and table
/// the run creates (wasmtime enables multi-memory, so a per-memory cap would let sixteen
/// 60 MiB memories through a 64 MiB limit; tables are host memory too), and the numbers of instances, tables and memories are
/// bounded by what a plugin needs. Remembers whether it said no to memory, so an allocation
/// failure inside the guest can be reported as "hit the memory limit" rather than an
/// anonymous trap.
struct MemoryCap {
    max: usize,
    /// Bytes granted so far, over all memories and tables of the run.
    used: usize,
    hit: Arc<AtomicBool>,
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

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "plugin {plugin} was stopped after {secs} s (the limit set by LMI_PLUGIN_TIMEOUT_SECS)"
    )]
    Timeout { plugin: String, secs: u64 },
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
    Host { message: String, exit: Exit },
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Usage { .. } => Exit::Usage,
            RunError::Failed { .. } => Exit::Failure,
            RunError::Host { exit, .. } => *exit,
            _ => Exit::Plugin,
        }
    }
}

/// The linker install checks use: all of WASI p2 plus `cli-context`.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// The linker a run uses: `cli-context` plus only the WASI interfaces `component` imports.
/// Defining all of WASI p2 (about 200 functions, each name interned) took longer than
/// running a small plugin. A component that imports a WASI interface this list does not
/// know gets the full linker.
fn linker_for(engine: &Engine, component: &Component) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let interface = name
            .split_once('@')
            .map_or(name, |(interface, _version)| interface);
        if interface.starts_with("wasi:") && !add_wasi_interface(&mut linker, interface)? {
            return self::linker(engine);
        }
    }
    Plugin::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// The `HasData` of `wasi:io`: its host state is the resource table.
struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds one WASI p2 interface (name without version), exactly as
/// `wasmtime_wasi::p2::add_to_linker_async` would; `false` for a name it does not define.
fn add_wasi_interface(l: &mut Linker<State>, interface: &str) -> wasmtime::Result<bool> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sockets};
    use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
    use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

    fn table(s: &mut State) -> &mut ResourceTable {
        &mut s.table
    }
    match interface {
        "wasi:io/error" => io::error::add_to_linker::<State, HasIo>(l, table)?,
        "wasi:io/poll" => io::poll::add_to_linker::<State, HasIo>(l, table)?,
        "wasi:io/streams" => io::streams::add_to_linker::<State, HasIo>(l, table)?,
        "wasi:clocks/wall-clock" => {
            clocks::wall_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?
        }
        "wasi:clocks/monotonic-clock" => {
            clocks::monotonic_clock::add_to_linker::<State, WasiClocks>(l, State::clocks)?
        }
        "wasi:filesystem/types" => {
            filesystem::types::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?
        }
        "wasi:filesystem/preopens" => {
            filesystem::preopens::add_to_linker::<State, WasiFilesystem>(l, State::filesystem)?
        }
        "wasi:random/random" => {
            random::random::add_to_linker::<State, WasiRandom>(l, State::random)?
        }
        "wasi:random/insecure" => {
            random::insecure::add_to_linker::<State, WasiRandom>(l, State::random)?
        }
        "wasi:random/insecure-seed" => {
            random::insecure_seed::add_to_linker::<State, WasiRandom>(l, State::random)?
        }
        "wasi:cli/exit" => cli::exit::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/environment" => cli::environment::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stdin" => cli::stdin::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stdout" => cli::stdout::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/stderr" => cli::stderr::add_to_linker::<State, WasiCli>(l, State::cli)?,
        "wasi:cli/terminal-input" => {
            cli::terminal_input::add_to_linker::<State, WasiCli>(l, State::cli)?
        }
        "wasi:cli/terminal-output" => {
            cli::terminal_output::add_to_linker::<State, WasiCli>(l, State::cli)?
        }
        "wasi:cli/terminal-stdin" => {
            cli::terminal_stdin::add_to_linker::<State, WasiCli>(l, State::cli)?
        }
        "wasi:cli/terminal-stdout" => {
            cli::terminal_stdout::add_to_linker::<State, WasiCli>(l, State::cli)?
        }
        "wasi:cli/terminal-stderr" => {
            cli::terminal_stderr::add_to_linker::<State, WasiCli>(l, State::cli)?
        }
        "wasi:sockets/network" => sockets::network::add_to_linker::<State, WasiSockets>(
            l,
            &Default::default(),
            State::sockets,
        )?,
        "wasi:sockets/instance-network" => {
            sockets::instance_network::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/tcp-create-socket" => {
            sockets::tcp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/tcp" => sockets::tcp::add_to_linker::<State, WasiSockets>(l, State::sockets)?,
        "wasi:sockets/udp-create-socket" => {
            sockets::udp_create_socket::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        "wasi:sockets/udp" => sockets::udp::add_to_linker::<State, WasiSockets>(l, State::sockets)?,
        "wasi:sockets/ip-name-lookup" => {
            sockets::ip_name_lookup::add_to_linker::<State, WasiSockets>(l, State::sockets)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Install-time check: the component's imports are all satisfiable and it exports the
/// `command` interface of our world.
pub fn check_world(engine: &Engine, component: &Component) -> Result<(), ComponentError> {
    let linker = linker(engine).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| ComponentError::WrongWorld(format!("{e:#}")))?;
    PluginPre::new(pre).map_err(|e| ComponentError::WrongWorld(format!("{e:#}")))?;
    Ok(())
}

/// Runs `command` of an already-loaded component in a sandbox built for this one run.
/// Returns the exit code the process should end with, or why the run failed.
pub fn run_plugin(
    engine: &Engine,
    component: &Component,
    host: HostState,
    limits: Limits,
    command: &str,
    args: &[String],
) -> Result<u8, RunError> {
    let sandbox = Sandbox::new(engine.clone()).map_err(|e| RunError::Load {
        plugin: host.plugin.clone(),
        cause: format!("{e:#}"),
    })?;
    sandbox.run(component, host, limits, command, args)
}

/// Everything a run needs besides the component: the engine and the I/O runtime. One
/// sandbox can run many plugins, one at a time.
///
/// A run is single-threaded: the plugin runs as a future on a current-thread tokio runtime
/// (wasmtime-wasi drives stdio, clocks and polls through tokio), and the deadline is a
/// process timer. On small VMs every extra thread costs more than the plugin's whole run.
pub struct Sandbox {
    engine: Engine,
    /// `None` only while dropping.
    io: Option<tokio::runtime::Runtime>,
}

impl Sandbox {
    pub fn new(engine: Engine) -> anyhow::Result<Self> {
        let io = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the I/O runtime: {e}"))?;
        Ok(Self {
            engine,
            io: Some(io),
        })
    }

    /// Runs `command` of `component` in a fresh store with the memory cap and deadline of
    /// `limits`.
    pub fn run(
        &self,
        component: &Component,
        host: HostState,
        limits: Limits,
        command: &str,
        args: &[String],
    ) -> Result<u8, RunError> {
        let io = self
            .io
            .as_ref()
            .expect("the I/O runtime lives as long as the sandbox");
        let plugin = host.plugin.clone();
        // Load errors may quote the component's import and export names.
        let load = |e: wasmtime::Error| RunError::Load {
            plugin: plugin.clone(),
            cause: plugin_text(&format!("{e:#}")),
        };
        let timed_out = || RunError::Timeout {
            plugin: plugin.clone(),
            secs: limits.timeout.as_secs(),
        };

        let mut argv = vec![command.to_owned()];
        argv.extend(args.iter().cloned());
        // No preopened directories, no environment variables, and no network: sockets,
        // name lookups and every address are refused.
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdio()
            .args(&argv)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        // On a terminal, a plugin may colour and move the cursor but not write the
        // clipboard (docs/security.md, "Decisions").
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            wasi.stdout(terminal::ClipboardFiltered::Stdout);
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            wasi.stderr(terminal::ClipboardFiltered::Stderr);
        }
        let wasi = wasi.build();
        let hit = Arc::new(AtomicBool::new(false));
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                max: limits.memory_bytes,
                used: 0,
                hit: hit.clone(),
            },
            host,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);

        // Two halves of one deadline: the epoch stops wasm that computes, the timeout stops
        // a plugin that waits on the host (stdin, a sleep). Disarmed when the run ends, so
        // in a host that runs many plugins on one engine an old deadline never interrupts a
        // later run.
        let _deadline = if limits.exit_process_after_deadline {
            let message = format!(
                "error: {}; it was stuck in a host call (a write to a full pipe?)\n",
                timed_out()
            );
            super::deadline::arm_with_backstop(&self.engine, limits.timeout, &message)
        } else {
            super::deadline::arm(&self.engine, limits.timeout)
        };
        let run = async {
            let linker = linker_for(&self.engine, component).map_err(load)?;
            let instance = Plugin::instantiate_async(&mut store, component, &linker)
                .await
                .map_err(|e| {
                    if hit.load(Ordering::Relaxed) {
                        RunError::Memory {
                            plugin: plugin.clone(),
                            mb: limits.memory_bytes >> 20,
                        }
                    } else {
                        load(e)
                    }
                })?;
            tracing::debug!(plugin = %plugin, command, "plugin instantiated");
            Ok(instance
                .lmi_plugin_command()
                .call_run(&mut store, command, args)
                .await)
        };
        let outcome = io
            .block_on(async { tokio::time::timeout(limits.timeout, run).await })
            .map_err(|_elapsed| timed_out())??;
        match outcome {
            Ok(Ok(code)) => Ok(code),
            Ok(Err(e)) => Err(plugin_error(e)),
            // `std::process::exit(n)` inside the plugin: its code passes through.
            Err(e) if e.downcast_ref::<wasmtime_wasi::I32Exit>().is_some() => {
                let code = e
                    .downcast_ref::<wasmtime_wasi::I32Exit>()
                    .map_or(1, |x| x.0);
                Ok(u8::try_from(code).unwrap_or(1))
            }
            Err(e) => Err(classify_trap(
                e,
                &plugin,
                command,
                limits,
                hit.load(Ordering::Relaxed),
            )),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A reader thread may still wait on the terminal's stdin: do not wait for it.
        if let Some(io) = self.io.take() {
            io.shutdown_background();
        }
    }
}

/// Lines and characters of a plugin's error message lmi prints.
const MESSAGE_LINES: usize = 40;
const MESSAGE_LINE_CHARS: usize = 1000;

/// Text a plugin chose (its error messages, and through a host error it hands back,
/// whatever a service answered), safe to print as lmi's own `error:` line: no control
/// sequences (OSC 52, screen clears, colours), no bidi overrides, bounded.
fn plugin_text(text: &str) -> String {
    crate::text::block(text, MESSAGE_LINES, MESSAGE_LINE_CHARS)
}

fn plugin_error(e: PluginError) -> RunError {
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
            }
        }
    }
}

/// Turns a wasmtime error into the reason the user sees: what happened, then the guest's
/// backtrace (function names survive in plugins built with `strip = "debuginfo"`).
fn classify_trap(
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
        Some(Trap::Interrupt) => RunError::Timeout {
            plugin: plugin.to_owned(),
            secs: limits.timeout.as_secs(),
        },
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

/// Plugin stdout and stderr on a terminal, with OSC 52 (clipboard write) sequences dropped
/// and every other byte passed as is.
mod terminal {
    use std::io::Write;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
    use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

    const ESC: u8 = 0x1b;
    const BEL: u8 = 0x07;
    /// C1 OSC and ST as 8-bit bytes; as UTF-8 (U+009D, U+009C) they follow 0xC2.
    const C1_OSC: u8 = 0x9d;
    const C1_ST: u8 = 0x9c;
    const C1_LEAD: u8 = 0xc2;
    /// Bytes of an OSC head (introducer and number) held back while deciding whether it is
    /// OSC 52. A longer number (leading zeros) is not passed on but dropped like an OSC 52:
    /// holding it unbounded would let a plugin grow lmi's memory, and no real use needs it.
    const MAX_HEAD: usize = 32;

    #[derive(Debug, Clone, PartialEq)]
    enum State {
        /// Ordinary output; the number of UTF-8 continuation bytes still expected, so a
        /// 0x9D or 0x9C inside a character (U+275D is E2 9D 9D) stays text.
        Text(u8),
        /// After a 0xC2 that starts no character yet: U+009D (OSC) if 0x9D follows.
        Lead,
        Esc,
        /// After an OSC introducer: the introducer and digits so far, held back, and the
        /// number as a terminal reads it (decimal, leading zeros allowed).
        Head {
            held: Vec<u8>,
            number: u32,
        },
        /// Inside an OSC 52 that is dropped, until BEL or ST. `Esc`: after an `ESC`;
        /// `Lead`: after a 0xC2.
        Drop,
        DropEsc,
        DropLead,
    }

    /// A byte-stream filter that removes OSC 52 (clipboard writes), across writes, in every
    /// form a terminal accepts: introduced by `ESC ]`, the C1 control 0x9D or U+009D as
    /// UTF-8; numbered `52` with any leading zeros; ended by BEL, `ESC \\`, 0x9C or U+009C.
    /// Every other OSC passes, but only up to its number: after that its bytes go through
    /// this filter as text again, because a terminal ends an OSC string at an `ESC` or a
    /// C1 control and so would read an OSC 52 started inside it.
    #[derive(Debug)]
    pub struct Osc52Filter {
        state: State,
    }

    impl Default for Osc52Filter {
        fn default() -> Self {
            Self {
                state: State::Text(0),
            }
        }
    }

    impl Osc52Filter {
        pub fn filter(&mut self, input: &[u8], out: &mut Vec<u8>) {
            for &b in input {
                self.step(b, out);
            }
        }

        fn step(&mut self, b: u8, out: &mut Vec<u8>) {
            self.state = match std::mem::replace(&mut self.state, State::Text(0)) {
                State::Text(more) if more > 0 && is_continuation(b) => {
                    out.push(b);
                    State::Text(more - 1)
                }
                State::Text(_) => Self::text(b, out),
                State::Lead if b == C1_OSC => Self::head(&[C1_LEAD, C1_OSC]),
                State::Lead => {
                    out.push(C1_LEAD);
                    if is_continuation(b) {
                        out.push(b);
                        State::Text(0)
                    } else {
                        Self::text(b, out)
                    }
                }
                State::Esc if b == b']' => Self::head(&[ESC, b']']),
                State::Esc => {
                    out.push(ESC);
                    if b == ESC {
                        State::Esc
                    } else {
                        out.push(b);
                        State::Text(0)
                    }
                }
                State::Head { mut held, number } if b.is_ascii_digit() => {
                    if held.len() >= MAX_HEAD {
                        State::Drop
                    } else {
                        held.push(b);
                        let number = number
                            .saturating_mul(10)
                            .saturating_add(u32::from(b - b'0'));
                        State::Head { held, number }
                    }
                }
                State::Head { number: 52, .. } if b == b';' => State::Drop,
                State::Head { held, .. } => {
                    // Not OSC 52: pass what was held, and read on as text.
                    out.extend_from_slice(&held);
                    Self::text(b, out)
                }
                State::Drop | State::DropEsc | State::DropLead if b == BEL || b == C1_ST => {
                    State::Text(0)
                }
                State::DropEsc if b == b'\\' => State::Text(0),
                // An `ESC` not followed by `\\` starts a new sequence; nothing of the
                // dropped OSC reached the terminal, so that sequence is read as text.
                State::DropEsc => {
                    self.state = State::Esc;
                    return self.step(b, out);
                }
                State::Drop | State::DropLead if b == ESC => State::DropEsc,
                State::Drop | State::DropLead if b == C1_LEAD => State::DropLead,
                State::Drop | State::DropLead => State::Drop,
            };
        }

        /// One byte of ordinary output.
        fn text(b: u8, out: &mut Vec<u8>) -> State {
            match b {
                ESC => State::Esc,
                C1_LEAD => State::Lead,
                // A 0x9D that continues no character: the 8-bit OSC introducer.
                C1_OSC => Self::head(&[C1_OSC]),
                _ => {
                    out.push(b);
                    State::Text(match b {
                        0xc3..=0xdf => 1,
                        0xe0..=0xef => 2,
                        0xf0..=0xf4 => 3,
                        _ => 0,
                    })
                }
            }
        }

        fn head(introducer: &[u8]) -> State {
            State::Head {
                held: introducer.to_vec(),
                number: 0,
            }
        }
    }

    fn is_continuation(b: u8) -> bool {
        (0x80..=0xbf).contains(&b)
    }

    /// The `StdoutStream` for a terminal stdout or stderr.
    #[derive(Debug, Clone, Copy)]
    pub enum ClipboardFiltered {
        Stdout,
        Stderr,
    }

    impl IsTerminal for ClipboardFiltered {
        fn is_terminal(&self) -> bool {
            true
        }
    }

    impl StdoutStream for ClipboardFiltered {
        fn p2_stream(&self) -> Box<dyn OutputStream> {
            Box::new(Filtered::new(*self))
        }
        fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
            Box::new(Filtered::new(*self))
        }
    }

    struct Filtered {
        to: ClipboardFiltered,
        filter: Osc52Filter,
    }

    impl Filtered {
        fn new(to: ClipboardFiltered) -> Self {
            Self {
                to,
                filter: Osc52Filter::default(),
            }
        }

        fn write_filtered(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let mut out = Vec::with_capacity(bytes.len());
            self.filter.filter(bytes, &mut out);
            match self.to {
                ClipboardFiltered::Stdout => std::io::stdout().write_all(&out),
                ClipboardFiltered::Stderr => std::io::stderr().write_all(&out),
            }
        }

        fn flush(&self) -> std::io::Result<()> {
            match self.to {
                ClipboardFiltered::Stdout => std::io::stdout().flush(),
                ClipboardFiltered::Stderr => std::io::stderr().flush(),
            }
        }
    }

    fn stream_error(e: std::io::Error) -> StreamError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            StreamError::Closed
        } else {
            StreamError::LastOperationFailed(e.into())
        }
    }

    impl OutputStream for Filtered {
        fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
            self.write_filtered(&bytes).map_err(stream_error)
        }
        fn flush(&mut self) -> StreamResult<()> {
            Filtered::flush(self).map_err(stream_error)
        }
        fn check_write(&mut self) -> StreamResult<usize> {
            Ok(64 << 10)
        }
    }

    #[wasmtime_wasi::async_trait]
    impl Pollable for Filtered {
        async fn ready(&mut self) {}
    }

    impl tokio::io::AsyncWrite for Filtered {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(self.get_mut().write_filtered(buf).map(|()| buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Filtered::flush(&self))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn run(chunks: &[&[u8]]) -> Vec<u8> {
            let mut f = Osc52Filter::default();
            let mut out = Vec::new();
            for c in chunks {
                f.filter(c, &mut out);
            }
            out
        }

        #[test]
        fn osc_52_is_dropped_and_everything_else_passes() {
            let clip = b"a\x1b]52;c;cm0gLXJmIH4=\x07b";
            assert_eq!(run(&[clip]), b"ab");
            assert_eq!(run(&[b"a\x1b]52;c;eA==\x1b\\b"]), b"ab");
            // Split across writes at every point.
            for i in 0..clip.len() {
                assert_eq!(run(&[&clip[..i], &clip[i..]]), b"ab", "split at {i}");
            }
            let link = b"\x1b]8;;https://x/\x1b\\t\x1b]8;;\x1b\\";
            assert_eq!(run(&[link]), link.to_vec());
            let title = b"\x1b]0;title\x07\x1b[32mgreen\x1b[0m \x1b]5;x\x07";
            assert_eq!(run(&[title]), title.to_vec());
            assert_eq!(run(&[b"\x1b]5\x07"]), b"\x1b]5\x07".to_vec());
        }

        /// Every introducer a terminal takes as OSC (7-bit `ESC ]`, C1 0x9D raw or as UTF-8
        /// U+009D), every number it reads as 52 (leading zeros), every terminator (BEL,
        /// `ESC \\`, 0x9C raw or as UTF-8), split across writes at every point.
        #[test]
        fn osc_52_is_dropped_in_every_form_a_terminal_accepts() {
            let introducers: [&[u8]; 3] = [b"\x1b]", b"\xc2\x9d", b"\x9d"];
            let numbers: [&[u8]; 4] = [b"52", b"052", b"0052", b"000000000000000000052"];
            let terminators: [&[u8]; 4] = [b"\x07", b"\x1b\\", b"\x9c", b"\xc2\x9c"];
            for intro in introducers {
                for number in numbers {
                    for end in terminators {
                        let mut input = b"a".to_vec();
                        input.extend_from_slice(intro);
                        input.extend_from_slice(number);
                        input.extend_from_slice(b";c;cm0gLXJmIH4=");
                        input.extend_from_slice(end);
                        input.extend_from_slice(b"b");
                        for i in 0..input.len() {
                            assert_eq!(
                                run(&[&input[..i], &input[i..]]),
                                b"ab",
                                "{:?} split at {i}",
                                String::from_utf8_lossy(&input)
                            );
                        }
                    }
                }
            }
        }

        /// A terminal ends an OSC string at an `ESC` or a C1 control, so an OSC 52 started
        /// inside another OSC (or a C1 one inside UTF-8 text) is still an OSC 52.
        #[test]
        fn osc_52_hidden_inside_another_osc_is_dropped() {
            assert_eq!(run(&[b"\x1b]0;t\x1b]52;c;eA==\x07b"]), b"\x1b]0;tb");
            assert_eq!(run(&[b"\x1b]0;t\xc2\x9d52;c;eA==\x07b"]), b"\x1b]0;tb");
            assert_eq!(run(&[b"\x1b]\x1b]52;c;eA==\x07b"]), b"\x1b]b");
        }

        /// UTF-8 text whose continuation bytes are 0x9D or 0x9C (U+275D, U+01DD) and other
        /// C1 controls pass unchanged; OSC numbers that are not 52 pass.
        #[test]
        fn text_and_other_oscs_pass_unchanged() {
            for text in [
                "\u{275d}quoted\u{275e} \u{1dd} \u{9c}".as_bytes(),
                b"\x1b]520;x\x07\x1b]5;2\x07\x1b]25;x\x07",
                b"\xc2\x9d0;title\xc2\x9c\x9d8;;u\x9c",
                b"\x1b[31mred\x1b[0m \x1bX",
            ] {
                for i in 0..text.len() {
                    assert_eq!(
                        run(&[&text[..i], &text[i..]]),
                        text,
                        "{:?} split at {i}",
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
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
    }

    /// The run linker must define every WASI interface real plugins import itself (falling
    /// back to all of WASI is correct but slow), and must instantiate them.
    #[test]
    fn the_run_linker_defines_every_wasi_interface_the_plugins_import() {
        let engine = super::super::engine().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for rel in [
            "plugins/hello/hello.wasm",
            "plugins/api/api.wasm",
            "tests/plugins/hostile/hostile.wasm",
        ] {
            let bytes = std::fs::read(root.join(rel)).expect("built by `make plugins`");
            let component = Component::new(&engine, &bytes).unwrap();
            let mut wasi = 0;
            for (name, _) in component.component_type().imports(&engine) {
                let interface = name.split_once('@').map_or(name, |(i, _)| i);
                if interface.starts_with("wasi:") {
                    wasi += 1;
                    let mut probe = Linker::new(&engine);
                    assert!(
                        add_wasi_interface(&mut probe, interface).unwrap(),
                        "{rel}: {name}"
                    );
                }
            }
            assert!(wasi > 5, "{rel} imports {wasi} WASI interfaces");
            let linker = linker_for(&engine, &component).unwrap();
            PluginPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
        }
    }
}
