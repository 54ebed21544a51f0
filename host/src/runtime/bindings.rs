//! The one place host bindings for `wit/lmi-plugin.wit` are generated.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Plugins run as futures on the I/O runtime; host functions stay synchronous.
    exports: { default: async },
});

pub use self::lmi::plugin::types::{
    HostError, Method, PluginError, ServiceRequest, ServiceResponse, SsoUser,
};
