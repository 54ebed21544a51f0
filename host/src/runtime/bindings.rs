//! The one place host bindings for `wit/lmi-plugin.wit` are generated.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Plugins run as futures on the I/O runtime. Host functions are async too: one that waits
    // (HTTP, the keychain, the token lock) is a future the run's deadline can cancel.
    exports: { default: async },
    imports: { default: async },
});

pub use self::lmi::plugin::types::{
    HostError, Method, PluginError, ServiceRequest, ServiceResponse, SsoUser,
};
