//! One sandboxed run of a plugin command: a fresh store with a memory cap and a wall-clock
//! deadline, WASI with the terminal's stdio and nothing else (no environment variables, no
//! sockets, and no directories but those `preopens` grants), and `cli-context` for
//! everything the host offers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;

use super::bindings::{Contract, v0_1, v0_2, v0_3};
use super::limits::{Limits, MemoryCap};
use super::linker::linker_for;
use super::outcome::{RunError, classify_trap, plugin_error, plugin_text};
use super::state::{HostState, State};
use super::terminal;

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
        // I/O too: a plugin's service requests are sent on this runtime (`Http::send`).
        let io = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .enable_io()
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
        let timed_out = || RunError::timed_out(&plugin, &limits);

        let contract = Contract::of(&self.engine, component).ok_or_else(|| {
            load(wasmtime::Error::msg(
                "it exports no lmi:plugin/command of 0.3, 0.2 or 0.1",
            ))
        })?;
        let mut host = host;
        host.command = command.to_owned();
        host.contract = contract;
        let mut argv = vec![command.to_owned()];
        argv.extend(args.iter().cloned());
        // No environment variables, and no network: sockets, name lookups and every address
        // are refused. Directories only as granted (`preopens`).
        let mut wasi = WasiCtx::builder();
        host.preopens
            .apply(&mut wasi, contract)
            .map_err(|e| RunError::Load {
                plugin: plugin.clone(),
                cause: format!("{e:#}"),
            })?;
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
            http: Default::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);

        // Two halves of one deadline: the epoch stops wasm that computes, the timeout stops
        // a plugin that waits on the host (stdin, a sleep). Disarmed when the run ends, so
        // in a host that runs many plugins on one engine an old deadline never interrupts a
        // later run.
        // A command that runs until stopped (`timeout = "none"`) has no deadline.
        let _deadline = limits.timeout.duration().map(|timeout| {
            if limits.exit_process_after_deadline {
                let message = format!(
                    "error: {}; it was stuck in a host call (a write to a full pipe?)\n",
                    timed_out()
                );
                super::deadline::arm_with_backstop(&self.engine, timeout, &message)
            } else {
                super::deadline::arm(&self.engine, timeout)
            }
        });
        // Armed after the store's epoch deadline is set, so a signal's bump always traps.
        let interrupt = if limits.stop_on_signal {
            super::interrupt::arm(&self.engine)
        } else {
            None
        };
        let interrupted = || {
            interrupt
                .as_ref()
                .and_then(|_| super::interrupt::received())
                .map(|signal| RunError::Interrupted {
                    plugin: plugin.clone(),
                    signal,
                })
        };
        let instantiation = |e: wasmtime::Error| {
            if hit.load(Ordering::Relaxed) {
                RunError::Memory {
                    plugin: plugin.clone(),
                    mb: limits.memory_bytes >> 20,
                }
            } else {
                load(e)
            }
        };
        let run = async {
            let linker = linker_for(&self.engine, component, contract).map_err(load)?;
            // Each contract's own bindings; a 0.1 plugin's answer is converted to 0.2's.
            let ran = match contract {
                Contract::V0_1 => {
                    let instance = v0_1::Plugin::instantiate_async(&mut store, component, &linker)
                        .await
                        .map_err(instantiation)?;
                    tracing::debug!(plugin = %plugin, command, "plugin instantiated (contract 0.1)");
                    instance
                        .lmi_plugin_command()
                        .call_run(&mut store, command, args)
                        .await
                        .map(|r| r.map_err(super::host_v01::plugin_error))
                }
                Contract::V0_2 => {
                    let instance = v0_2::Plugin::instantiate_async(&mut store, component, &linker)
                        .await
                        .map_err(instantiation)?;
                    tracing::debug!(plugin = %plugin, command, "plugin instantiated (contract 0.2)");
                    instance
                        .lmi_plugin_command()
                        .call_run(&mut store, command, args)
                        .await
                }
                Contract::V0_3 => {
                    let instance = v0_3::Plugin::instantiate_async(&mut store, component, &linker)
                        .await
                        .map_err(instantiation)?;
                    tracing::debug!(plugin = %plugin, command, "plugin instantiated");
                    instance
                        .lmi_plugin_command()
                        .call_run(&mut store, command, args)
                        .await
                }
            };
            Ok(ran)
        };
        let ended = io.block_on(async {
            let run = std::pin::pin!(async {
                match limits.timeout.duration() {
                    Some(timeout) => tokio::time::timeout(timeout, run).await.ok(),
                    None => Some(run.await),
                }
            });
            // A signal ends a run waiting in the host: dropping the run cancels its wait.
            until_signal(interrupt.is_some(), run).await
        });
        // A signal wins over whatever the run did meanwhile (the epoch trap it caused
        // included), so Ctrl-C always ends as Ctrl-C.
        if let Some(stopped) = interrupted() {
            return Err(stopped);
        }
        let outcome = ended.flatten().ok_or_else(timed_out)??;
        match outcome {
            Ok(Ok(code)) => Ok(code),
            Ok(Err(e)) => Err(plugin_error(e, store.data().host.auth_hint)),
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

/// `run`, or `None` once the armed run has received a signal (if `armed`), which is looked
/// at before the run is polled.
async fn until_signal<T>(armed: bool, run: impl Future<Output = T>) -> Option<T> {
    let mut run = std::pin::pin!(run);
    let mut signalled = std::pin::pin!(super::interrupt::signalled());
    std::future::poll_fn(|cx| {
        if armed && signalled.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        run.as_mut().poll(cx).map(Some)
    })
    .await
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // A reader thread may still wait on the terminal's stdin: do not wait for it.
        if let Some(io) = self.io.take() {
            io.shutdown_background();
        }
    }
}
