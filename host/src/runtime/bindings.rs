//! The one place host bindings for `wit/lmi-plugin.wit` are generated.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
});

pub use self::lmi::plugin::types::{
    HostError, Method, PluginError, ServiceRequest, ServiceResponse, SsoUser,
};
