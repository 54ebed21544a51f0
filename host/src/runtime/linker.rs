//! The linkers: all of WASI p2 plus the component's contract for the install-time world
//! check, and for a run only the WASI interfaces the component imports. `wasi:http`
//! (outbound requests to `allowed_hosts`) belongs to contracts 0.2 and 0.3: a 0.1 component
//! that imports it is refused at install and cannot link at run time.

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};

use super::ComponentError;
use super::bindings::{Contract, v0_1, v0_2, v0_3};
use super::state::State;

/// The linker install checks use: all of WASI p2 plus the contract's imports.
fn linker(engine: &Engine, contract: Contract) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    add_contract(&mut linker, contract)?;
    if contract >= Contract::V0_2 {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    }
    Ok(linker)
}

/// What the host offers a plugin of `contract`: exactly that version's interfaces.
fn add_contract(linker: &mut Linker<State>, contract: Contract) -> wasmtime::Result<()> {
    match contract {
        Contract::V0_1 => v0_1::Plugin::add_to_linker::<State, HasSelf<State>>(linker, |s| s),
        Contract::V0_2 => {
            v0_2::Plugin::add_to_linker::<State, HasSelf<State>>(linker, |s| s)?;
            // 0.2's `types` are 0.3's Rust types (`bindings.rs`), linked above under 0.3's
            // name; 0.2's own name has no functions to define.
            linker.instance("lmi:plugin/types@0.2.0").map(drop)
        }
        // The world's own `add_to_linker` would add `wasi:io` again, which WASI p2 defines.
        Contract::V0_3 => {
            for interface in [
                "lmi:plugin/types",
                "lmi:plugin/cli-context",
                "lmi:plugin/terminal",
                "lmi:plugin/log",
                "lmi:plugin/config",
                "lmi:plugin/invocation",
            ] {
                add_lmi_interface(linker, contract, interface)?;
            }
            Ok(())
        }
    }
}

/// The linker a run uses: only the WASI and contract interfaces `component` imports.
/// Defining all of WASI p2 (about 200 functions, each name interned) took longer than
/// running a small plugin. A component that imports an interface these lists do not know
/// gets the full linker of its contract (and fails to instantiate if the interface is not
/// its contract's: a 0.1 plugin cannot reach a 0.2 interface).
pub(super) fn linker_for(
    engine: &Engine,
    component: &Component,
    contract: Contract,
) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let interface = name
            .split_once('@')
            .map_or(name, |(interface, _version)| interface);
        let known = if interface.starts_with("wasi:http/") {
            add_wasi_http_interface(&mut linker, contract, interface)?
        } else if interface.starts_with("wasi:") {
            add_wasi_interface(&mut linker, interface)?
        } else {
            add_lmi_interface(&mut linker, contract, interface)?
        };
        if !known {
            return self::linker(engine, contract);
        }
    }
    Ok(linker)
}

/// Adds one interface (name without version) of `contract`; `false` for a name it does not
/// have.
fn add_lmi_interface(
    l: &mut Linker<State>,
    contract: Contract,
    interface: &str,
) -> wasmtime::Result<bool> {
    use v0_1::lmi::plugin as p1;
    use v0_2::lmi::plugin as p2;
    use v0_3::lmi::plugin as p3;
    type Me = HasSelf<State>;
    match (contract, interface) {
        (Contract::V0_1, "lmi:plugin/types") => p1::types::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_1, "lmi:plugin/cli-context") => {
            p1::cli_context::add_to_linker::<State, Me>(l, |s| s)?
        }
        // 0.2's `types` are 0.3's Rust types (`bindings.rs`); the interface has no functions,
        // so its instance is all there is to define.
        (Contract::V0_2, "lmi:plugin/types") => {
            l.instance("lmi:plugin/types@0.2.0")?;
        }
        (Contract::V0_2, "lmi:plugin/cli-context") => {
            p2::cli_context::add_to_linker::<State, Me>(l, |s| s)?
        }
        (Contract::V0_2, "lmi:plugin/terminal") => {
            p2::terminal::add_to_linker::<State, Me>(l, |s| s)?
        }
        (Contract::V0_2, "lmi:plugin/log") => p2::log::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_2, "lmi:plugin/config") => p2::config::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_2, "lmi:plugin/invocation") => {
            p2::invocation::add_to_linker::<State, Me>(l, |s| s)?
        }
        (Contract::V0_3, "lmi:plugin/types") => p3::types::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_3, "lmi:plugin/cli-context") => {
            p3::cli_context::add_to_linker::<State, Me>(l, |s| s)?
        }
        (Contract::V0_3, "lmi:plugin/terminal") => {
            p3::terminal::add_to_linker::<State, Me>(l, |s| s)?
        }
        (Contract::V0_3, "lmi:plugin/log") => p3::log::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_3, "lmi:plugin/config") => p3::config::add_to_linker::<State, Me>(l, |s| s)?,
        (Contract::V0_3, "lmi:plugin/invocation") => {
            p3::invocation::add_to_linker::<State, Me>(l, |s| s)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Adds one `wasi:http` interface (name without version) for a contract that has it (0.2 and
/// later); `false` otherwise. Only plugins that import it get it, so the others pay nothing.
fn add_wasi_http_interface(
    l: &mut Linker<State>,
    contract: Contract,
    interface: &str,
) -> wasmtime::Result<bool> {
    use wasmtime_wasi_http::WasiHttp;
    use wasmtime_wasi_http::p2::bindings::http;
    if contract < Contract::V0_2 {
        return Ok(false);
    }
    fn view(s: &mut State) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpView::http(s)
    }
    match interface {
        "wasi:http/types" => http::types::add_to_linker::<State, WasiHttp>(
            l,
            &wasmtime_wasi_http::p2::bindings::LinkOptions::default().into(),
            view,
        )?,
        "wasi:http/outgoing-handler" => {
            http::outgoing_handler::add_to_linker::<State, WasiHttp>(l, view)?
        }
        _ => return Ok(false),
    }
    Ok(true)
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
pub fn check_world(engine: &Engine, component: &Component) -> Result<Contract, ComponentError> {
    let contract = Contract::of(engine, component).ok_or_else(|| {
        ComponentError::WrongWorld("it exports no lmi:plugin/command of 0.3, 0.2 or 0.1".to_owned())
    })?;
    let wrong = |e: wasmtime::Error| ComponentError::WrongWorld(format!("{e:#}"));
    let linker = linker(engine, contract).map_err(|e| ComponentError::Invalid(format!("{e:#}")))?;
    let pre = linker.instantiate_pre(component).map_err(wrong)?;
    match contract {
        Contract::V0_1 => drop(v0_1::PluginPre::new(pre).map_err(wrong)?),
        Contract::V0_2 => drop(v0_2::PluginPre::new(pre).map_err(wrong)?),
        Contract::V0_3 => drop(v0_3::PluginPre::new(pre).map_err(wrong)?),
    }
    Ok(contract)
}
#[cfg(test)]
mod tests {
    use super::*;

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
            "tests/fixtures/contract-0.1/hostile-0.1.wasm",
            "tests/fixtures/contract-0.2.0/hello-0.2.0.wasm",
            "tests/fixtures/contract-0.2/hostile-0.2.wasm",
        ] {
            let bytes = std::fs::read(root.join(rel)).expect("built by `make plugins`");
            let component = Component::new(&engine, &bytes).unwrap();
            let contract = Contract::of(&engine, &component).unwrap();
            let mut wasi = 0;
            for (name, _) in component.component_type().imports(&engine) {
                let interface = name.split_once('@').map_or(name, |(i, _)| i);
                if interface.starts_with("lmi:") {
                    let mut probe = Linker::new(&engine);
                    assert!(
                        add_lmi_interface(&mut probe, contract, interface).unwrap(),
                        "{rel}: {name}"
                    );
                }
                if interface.starts_with("wasi:http/") {
                    let mut probe = Linker::new(&engine);
                    assert!(
                        add_wasi_http_interface(&mut probe, contract, interface).unwrap(),
                        "{rel}: {name}"
                    );
                } else if interface.starts_with("wasi:") {
                    wasi += 1;
                    let mut probe = Linker::new(&engine);
                    assert!(
                        add_wasi_interface(&mut probe, interface).unwrap(),
                        "{rel}: {name}"
                    );
                }
            }
            assert!(wasi > 5, "{rel} imports {wasi} WASI interfaces");
            let linker = linker_for(&engine, &component, contract).unwrap();
            let pre = linker.instantiate_pre(&component).unwrap();
            match contract {
                Contract::V0_1 => drop(v0_1::PluginPre::new(pre).unwrap()),
                Contract::V0_2 => drop(v0_2::PluginPre::new(pre).unwrap()),
                Contract::V0_3 => drop(v0_3::PluginPre::new(pre).unwrap()),
            }
        }
    }

    /// A 0.1 plugin is offered 0.1's interfaces only: 0.2's are unknown to its linker,
    /// `wasi:http` included, at run time and in the install check.
    #[test]
    fn a_contract_0_1_linker_has_none_of_0_2s_interfaces() {
        let engine = super::super::engine().unwrap();
        for interface in [
            "lmi:plugin/terminal",
            "lmi:plugin/log",
            "lmi:plugin/config",
            "lmi:plugin/invocation",
        ] {
            let mut probe = Linker::new(&engine);
            assert!(!add_lmi_interface(&mut probe, Contract::V0_1, interface).unwrap());
            assert!(add_lmi_interface(&mut probe, Contract::V0_2, interface).unwrap());
        }
        for interface in ["wasi:http/types", "wasi:http/outgoing-handler"] {
            let mut probe = Linker::new(&engine);
            assert!(!add_wasi_http_interface(&mut probe, Contract::V0_1, interface).unwrap());
            assert!(add_wasi_http_interface(&mut probe, Contract::V0_2, interface).unwrap());
        }
        // The install linker: defining `handle` again fails exactly when it is defined.
        let has_http = |contract| {
            let mut linker = linker(&engine, contract).unwrap();
            linker
                .instance("wasi:http/outgoing-handler@0.2.12")
                .unwrap()
                .func_new("handle", |_, _, _, _| Ok(()))
                .is_err()
        };
        assert!(!has_http(Contract::V0_1));
        assert!(has_http(Contract::V0_2));
    }

    /// Only a plugin that imports `wasi:http` gets it: hello's run linker defines nothing of
    /// it (and the fixture that uses it, the hostile plugin, does import it).
    #[test]
    fn a_plugin_that_does_not_import_wasi_http_is_not_linked_to_it() {
        let engine = super::super::engine().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let imports_http = |rel: &str| {
            let bytes = std::fs::read(root.join(rel)).expect("built by `make plugins`");
            let component = Component::new(&engine, &bytes).unwrap();
            component
                .component_type()
                .imports(&engine)
                .any(|(name, _)| name.starts_with("wasi:http/"))
        };
        assert!(!imports_http("plugins/hello/hello.wasm"));
        assert!(!imports_http("plugins/api/api.wasm"));
        assert!(imports_http("tests/plugins/hostile/hostile.wasm"));
    }

    /// The figure issue 12 asks for: the run linker of a component that imports only 0.1
    /// interfaces defines those interfaces and nothing else (the full linker: all of WASI p2
    /// plus the contract).
    #[test]
    fn a_0_1_components_run_linker_holds_only_its_imports() {
        use wasmtime::component::types::ComponentItem;
        let engine = super::super::engine().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bytes = std::fs::read(root.join("tests/fixtures/contract-0.1/hostile-0.1.wasm"))
            .expect("committed fixture");
        let component = Component::new(&engine, &bytes).unwrap();
        let (mut interfaces, mut functions) = (0, 0);
        for (name, item) in component.component_type().imports(&engine) {
            interfaces += 1;
            if let ComponentItem::ComponentInstance(instance) = item.ty {
                functions += instance.exports(&engine).count();
            }
            assert!(
                name.starts_with("wasi:")
                    || name.starts_with("lmi:plugin/") && name.contains("@0.1."),
                "{name}"
            );
        }
        // Every interface is one the run linker knows, so it never falls back to the full one.
        let mut probe = Linker::new(&engine);
        for (name, _) in component.component_type().imports(&engine) {
            let interface = name.split_once('@').map_or(name, |(i, _)| i);
            let known = if interface.starts_with("wasi:") {
                add_wasi_interface(&mut probe, interface).unwrap()
            } else {
                add_lmi_interface(&mut probe, Contract::V0_1, interface).unwrap()
            };
            assert!(known, "{name}");
        }
        // The fixture is the hostile plugin, which imports sockets and files to attack them:
        // 26 interfaces (24 of WASI, 2 of the contract), where the full linker has 27 of
        // WASI p2 and 0.1's 2 (and none of 0.2's).
        assert_eq!((interfaces, functions), (26, 164));
    }
}
