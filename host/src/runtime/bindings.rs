//! The one place host bindings for the contract are generated, from the WIT in lmi's own
//! package (`host/wit/`, so `cargo package` and `cargo install` build it on their own):
//! `v0_3` from `wit/v0.3/` (the current contract: a copy of the SDK's `plugin-sdk/wit/`, its one
//! source, which `build.rs` holds it to byte for byte), `v0_2` from `wit/v0.2/` and `v0_1`
//! from `wit/v0.1/` (frozen: plugins built against them keep working). The rest of the
//! runtime speaks the current contract's types; 0.2's `types` interface is 0.3's unchanged, so
//! its bindings share 0.3's Rust types (`with`), and `host_v02.rs` only forwards; `host_v01.rs`
//! converts at the edge of a 0.1 plugin.

/// `lmi:plugin@0.3.0`.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "wit/v0.3",
        world: "plugin",
        // Plugins run as futures on the I/O runtime. Host functions are async too: one that
        // waits (HTTP, the keychain, the token lock) is a future the run's deadline can
        // cancel.
        exports: { default: async },
        imports: { default: async },
        with: {
            // The streams are wasmtime-wasi's, in the run's resource table, so the plugin
            // reads and writes them with the standard `wasi:io` calls.
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "lmi:plugin/cli-context.upload": super::super::stream::Upload,
        },
    });
}

/// `lmi:plugin@0.2.0`, as plugins built against it import and export it.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "wit/v0.2",
        world: "plugin",
        exports: { default: async },
        imports: { default: async },
        with: {
            // Identical in 0.3: one set of Rust types for both.
            "lmi:plugin/types": super::v0_3::lmi::plugin::types,
        },
    });
}

/// `lmi:plugin@0.1.0`, as plugins built against it import and export it.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/v0.1",
        world: "plugin",
        exports: { default: async },
        imports: { default: async },
    });
}

pub use v0_3::lmi::plugin::types::{
    HostError, Method, PluginError, ServiceRequest, ServiceResponse, SsoUser,
};

/// Which contract a component was built against, from the `command` interface it exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contract {
    V0_1,
    V0_2,
    V0_3,
}

impl Contract {
    /// Every contract this host runs, oldest first (`lmi --version` names them).
    pub const ALL: [Contract; 3] = [Contract::V0_1, Contract::V0_2, Contract::V0_3];

    /// The contract of an export name (`lmi:plugin/command@0.3.0`), if it is ours.
    pub fn of_export(name: &str) -> Option<Self> {
        let version = name.strip_prefix("lmi:plugin/command@")?;
        if version.starts_with("0.1.") {
            Some(Contract::V0_1)
        } else if version.starts_with("0.2.") {
            Some(Contract::V0_2)
        } else if version.starts_with("0.3.") {
            Some(Contract::V0_3)
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
            Contract::V0_3 => "lmi:plugin@0.3.0",
        }
    }

    /// The version alone: `0.3.0`.
    pub fn version(self) -> &'static str {
        self.name()
            .strip_prefix("lmi:plugin@")
            .unwrap_or(self.name())
    }

    /// What `lmi --version` says after lmi's own version: "plugin contracts
    /// lmi:plugin@0.1.0, 0.2.0, 0.3.0".
    pub fn accepted() -> String {
        let versions: Vec<_> = Self::ALL.iter().map(|c| c.version()).collect();
        format!("plugin contracts lmi:plugin@{}", versions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::Contract;

    #[test]
    fn all_lists_every_contract_once_oldest_first_and_each_reads_back_from_its_export() {
        // A new variant fails to compile here until it has a place in `ALL`.
        let place = |c: Contract| match c {
            Contract::V0_1 => 0,
            Contract::V0_2 => 1,
            Contract::V0_3 => 2,
        };
        for (i, c) in Contract::ALL.into_iter().enumerate() {
            assert_eq!(place(c), i, "{c:?}");
            let export = format!("lmi:plugin/command@{}", c.version());
            assert_eq!(Contract::of_export(&export), Some(c));
        }
        assert_eq!(
            Contract::accepted(),
            "plugin contracts lmi:plugin@0.1.0, 0.2.0, 0.3.0"
        );
    }
}
