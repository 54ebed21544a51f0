//! The one place host bindings for the contract are generated: `v0_2` from `plugin-sdk/wit/`
//! (the current contract, the one copy: the SDK crate ships it, so plugins and lmi build from
//! the same file) and `v0_1` from `wit/v0.1/` (frozen: plugins built against it keep
//! working). The rest of the runtime speaks the current contract's types; `host_v01.rs`
//! converts at the edge of a 0.1 plugin.

/// `lmi:plugin@0.2.0`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "plugin",
        // Plugins run as futures on the I/O runtime. Host functions are async too: one that
        // waits (HTTP, the keychain, the token lock) is a future the run's deadline can
        // cancel.
        exports: { default: async },
        imports: { default: async },
    });
}

/// `lmi:plugin@0.1.0`, as plugins built against it import and export it.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "plugin",
        exports: { default: async },
        imports: { default: async },
    });
}

pub use v0_2::lmi::plugin::types::{
    HostError, Method, PluginError, ServiceRequest, ServiceResponse, SsoUser,
};

/// Which contract a component was built against, from the `command` interface it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
    V0_2,
}

impl Contract {
    /// The contract of an export name (`lmi:plugin/command@0.2.0`), if it is ours.
    pub fn of_export(name: &str) -> Option<Self> {
        let version = name.strip_prefix("lmi:plugin/command@")?;
        if version.starts_with("0.1.") {
            Some(Contract::V0_1)
        } else if version.starts_with("0.2.") {
            Some(Contract::V0_2)
        } else {
            None
        }
    }

    /// The contract `component` implements, if any.
    pub fn of(
        engine: &wasmtime::Engine,
        component: &wasmtime::component::Component,
    ) -> Option<Self> {
        component
            .component_type()
            .exports(engine)
            .find_map(|(name, _)| Self::of_export(name))
    }

    /// As `lmi plugin info` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Contract::V0_1 => "lmi:plugin@0.1.0",
            Contract::V0_2 => "lmi:plugin@0.2.0",
        }
    }
}
