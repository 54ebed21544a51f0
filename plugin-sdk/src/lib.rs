//! Build plugins for `lmi`, a command-line host that runs plugins as sandboxed
//! WebAssembly components (`wasm32-wasip2`).
//!
//! A plugin is a library crate (`crate-type = ["cdylib", "rlib"]`) that implements
//! [`Plugin`] and hands it to [`export!`]. The host calls [`Plugin::run`] once per
//! invocation with a [`Context`]: everything the plugin may learn or do beyond its own
//! arguments and the terminal (the active environment, the SSO user, the environment's
//! service token, authenticated service requests) goes through it. The sandbox has no
//! environment variables and no sockets, and files only where the user granted them: the
//! directory lmi runs in (`files`) and a data directory of the plugin's own at [`DATA_DIR`]
//! (`data`); see [`files`].
//!
//! ```
//! use std::io::Write;
//! use lmi_plugin_sdk::{Context, Plugin, PluginError};
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
//!         match command {
//!             "greet" => {
//!                 let who = args.first().map_or("world", String::as_str);
//!                 writeln!(ctx.stdout(), "Hello, {who}!")?;
//!                 Ok(0)
//!             }
//!             other => Err(PluginError::unknown_command(other)),
//!         }
//!     }
//! }
//!
//! lmi_plugin_sdk::export!(Greeter);
//!
//! // Natively, test the command logic against a MockContext:
//! # fn main() -> Result<(), PluginError> {
//! let ctx = lmi_plugin_sdk::MockContext::new();
//! assert_eq!(Greeter::run(&ctx, "greet", &["Ada".to_string()])?, 0);
//! assert_eq!(ctx.stdout_text(), "Hello, Ada!\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Start a plugin
//!
//! `lmi plugin new NAME` creates a crate that takes this SDK from where you say (a git
//! repository, your cargo registry or an lmi checkout; never crates.io), with a manifest, a
//! command that parses its flags with the `clap` feature, unit tests against
//! [`MockContext`] and a README:
//!
//! ```console
//! $ lmi plugin new my-tool --sdk-git https://git.example.com/platform/lmi.git && cd my-tool
//! $ cargo build --release --target wasm32-wasip2   # the component lmi loads
//! $ cargo test                                     # natively, against MockContext
//! $ lmi plugin install .
//! $ lmi my-tool --help
//! ```
//!
//! The smallest plugin is one function: `export!(fn run)` (see [`export!`]).
//!
//! The manifest (`lmi-plugin.toml`) names the plugin, its version (the only place it is
//! stated: [`Context::plugin`] reads it), the lmi versions it works with, its commands and
//! the permissions it asks for; the lmi repository's `docs/plugin-authoring.md` describes
//! every field, the permission prompt users see, the exit codes, and which contract versions
//! a host accepts.
//!
//! # Arguments
//!
//! [`Plugin::run`] receives the words after the command name, unparsed; lmi's own options
//! (`-v`, `--output`, `--color`) come before the command and reach the plugin through
//! [`Context::verbosity`], [`Context::output_format`] and [`Context::terminal`]. With the
//! `clap` feature, `lmi_plugin_sdk::clap::parse` parses them in one call: help and version
//! (the manifest's) printed with exit code 0, anything else clap refuses a
//! [`PluginError::usage`] (exit code 2). Without it, use any parser that needs neither a
//! terminal nor environment variables.
//!
//! # Testing
//!
//! Command logic takes `&dyn Context`, so a unit test runs it natively (`cargo test`, no
//! wasm, no lmi, no identity provider) against a [`MockContext`] set up with the
//! environment, SSO user, token and service responses the test needs, then reads what the
//! command wrote and which requests it sent:
//!
//! ```
//! use std::io::Write;
//! use lmi_plugin_sdk::{Context, HostError, Method, MockContext, PluginError, Request, Response, SsoUser};
//!
//! fn count(ctx: &dyn Context) -> Result<u8, PluginError> {
//!     let user = ctx.sso_user().ok_or_else(|| PluginError::failed("sign in first"))?;
//!     let response = ctx.send_request(Request::get("v1/items"))?;
//!     writeln!(ctx.stdout(), "{}: {} bytes", user.subject, response.body.len())?;
//!     Ok(if response.is_success() { 0 } else { 1 })
//! }
//!
//! let ctx = MockContext::new()
//!     .with_env("staging")
//!     .with_sso_user(SsoUser::new("00u1"))
//!     .with_response(Method::Get, "v1/items", Response::json(200, "[1,2]"));
//! assert_eq!(count(&ctx), Ok(0));
//! assert_eq!(ctx.stdout_text(), "00u1: 5 bytes\n");
//!
//! // Failures are typed: a host error passes through `?` unchanged.
//! let ctx = MockContext::new()
//!     .with_sso_user(SsoUser::new("00u1"))
//!     .with_request_error(Method::Get, "v1/items", HostError::AuthFailed("second 401".into()));
//! assert!(matches!(count(&ctx), Err(PluginError::Host(HostError::AuthFailed(_)))));
//! assert!(matches!(count(&MockContext::new()), Err(PluginError::Failed(_))));
//! ```
//!
//! # Calling the service without glue
//!
//! [`Request::with_query`] percent-encodes query parameters; with the `json` feature,
//! [`Request::json`] sends any `Serialize` value and [`Response::parse_json`] reads any
//! `Deserialize` type. [`Response::error_for_status`] turns a 4xx or 5xx into a
//! [`PluginError`] that names the request, the status and the service's message, safe to
//! print. [`Context::stdin`] is the command's input ([`MockContext::with_stdin`] in a test).
//! Every request carries `User-Agent: <plugin>/<version> lmi/<version>`, set by lmi.
//!
//! ```
//! use std::io::{Read, Write};
//! use lmi_plugin_sdk::{Context, Method, MockContext, PluginError, Request, Response};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct Ticket {
//!     title: String,
//! }
//!
//! /// `tickets new` reads a title from stdin; `tickets find WORDS` lists matching titles.
//! fn tickets(ctx: &dyn Context, args: &[&str]) -> Result<u8, PluginError> {
//!     match args {
//!         ["new"] => {
//!             let mut title = String::new();
//!             ctx.stdin().read_to_string(&mut title)?;
//!             let ticket = Ticket { title: title.trim().to_owned() };
//!             ctx.send_request(Request::post("v1/tickets").json(&ticket)?)?.error_for_status()?;
//!         }
//!         ["find", words] => {
//!             let request = Request::get("v1/tickets").with_query("q", words);
//!             let found: Vec<Ticket> = ctx.send_request(request)?.error_for_status()?.parse_json()?;
//!             for ticket in found {
//!                 writeln!(ctx.stdout(), "{}", ticket.title)?;
//!             }
//!         }
//!         _ => return Err(PluginError::usage("usage: lmi tickets new | find WORDS")),
//!     }
//!     Ok(0)
//! }
//!
//! let ctx = MockContext::new()
//!     .with_stdin("Disk full\n")
//!     .with_response(Method::Post, "v1/tickets", Response::new(201, ""))
//!     .with_response(Method::Get, "v1/tickets?q=disk%20full", Response::json(200, r#"[{"title":"Disk full"}]"#))
//!     .with_response(Method::Get, "v1/tickets?q=nothing", Response::json(400, r#"{"message":"too vague"}"#));
//! assert_eq!(tickets(&ctx, &["new"]), Ok(0));
//! assert_eq!(ctx.requests()[0].body.as_deref(), Some(&br#"{"title":"Disk full"}"#[..]));
//! assert_eq!(tickets(&ctx, &["find", "disk full"]), Ok(0));
//! assert_eq!(ctx.stdout_text(), "Disk full\n");
//! assert_eq!(
//!     tickets(&ctx, &["find", "nothing"]),
//!     Err(PluginError::failed("GET v1/tickets returned HTTP 400 Bad Request: too vague"))
//! );
//! ```
//!
//! # Public HTTP without credentials
//!
//! A plugin whose manifest lists `allowed_hosts` may call those origins with the standard
//! `wasi:http` (contract 0.2 and later): [`http::get`] and [`http::send`], tested natively with
//! [`http::MockClient`]. lmi attaches none of its credentials to these requests.
//!
//! # Streams: following a log, uploading a large file
//!
//! [`Context::send_streaming`] returns a [`StreamedResponse`] whose body is read as it
//! arrives ([`std::io::Read`]), without a size limit; [`Context::upload`] sends a body from any
//! [`std::io::Read`] a chunk at a time (contract 0.3). See the [`stream`] module.
//!
//! # Errors and exit codes
//!
//! | the command returns | lmi prints | exit code |
//! | --- | --- | --- |
//! | `Ok(n)` | nothing | `n` |
//! | [`PluginError::Usage`] | the message | 2 |
//! | [`PluginError::Failed`] | the message | 1 |
//! | [`PluginError::Host`] with [`HostError::AuthFailed`] | the message, then `hint: run: lmi login sso` | 4 |
//! | [`PluginError::Host`] with [`HostError::NotConfigured`] | the message | 2 |
//! | [`PluginError::Host`], any other case | the message | 1 |
//! | a panic, a trap, or a memory or time limit | plugin name, version and cause | 5 |
//!
//! # Building
//!
//! Build the component with `cargo build --target wasm32-wasip2 --release` and describe it
//! in an `lmi-plugin.toml` manifest whose `component` points at it (see the example plugins
//! in the `lmi` repository).
//!
//! The raw bindings generated from the WIT contract (`lmi:plugin@0.3.0`, world `plugin`,
//! in this crate's `wit/lmi-plugin.wit`) are in [`bindings`]; plugin authors should not
//! need them.

#![warn(missing_docs)]

#[cfg(feature = "clap")]
pub mod clap;
mod context;
pub mod files;
pub mod http;
mod invocation;
#[cfg(feature = "json")]
mod json;
mod mock;
pub mod progress;
mod query;
mod status;
pub mod stream;
mod types;

pub use context::{Context, HostContext};
pub use files::DATA_DIR;
pub use invocation::{OutputFormat, PluginIdentity};
pub use mock::MockContext;
pub use stream::StreamedResponse;
pub use types::{
    AccessToken, HostError, LogLevel, Method, PluginError, Request, Response, SsoUser, Terminal,
};

/// Raw bindings generated by `wit-bindgen` from the contract this crate ships
/// (`wit/lmi-plugin.wit`, package `lmi:plugin@0.3.0`, world `plugin`): lmi builds its host
/// bindings from the same text.
///
/// Generated once, here, so every plugin shares them. Prefer the friendly types at the
/// crate root; these are for code that needs the exact WIT shapes.
///
/// ```
/// use lmi_plugin_sdk::bindings::lmi::plugin::types::Method;
/// assert_eq!(Method::Get, lmi_plugin_sdk::Method::Get.into());
/// ```
#[allow(unsafe_code, missing_docs, clippy::all, clippy::unwrap_used)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "lmi:plugin/plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "lmi_plugin_sdk::bindings",
        // `wasi:io` streams carry 0.3's streamed bodies (`stream.rs`).
        generate_all,
    });
}

/// A plugin: the command logic behind the commands its manifest declares.
///
/// The host calls [`run`](Plugin::run) once per invocation, in a fresh sandbox, with the
/// command name the user typed (one of the manifest's `[[commands]]`) and the words that
/// followed it. Wire the implementation to the component's export with [`export!`].
///
/// * `Ok(code)` becomes the process exit code (`0` for success).
/// * [`PluginError::usage`] makes the host print the message and exit 2.
/// * [`PluginError::failed`] makes the host print the message and exit 1.
/// * A [`HostError`] returned with `?` is reported by the host with the exit code that
///   belongs to it (for example 4 for [`HostError::AuthFailed`]).
///
/// Standard output and standard error are the user's terminal; write through
/// [`Context::stdout`] and [`Context::stderr`] so unit tests can capture them.
///
/// ```
/// use std::io::Write;
/// use lmi_plugin_sdk::{Context, MockContext, Plugin, PluginError};
///
/// struct Env;
///
/// impl Plugin for Env {
///     fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
///         if !args.is_empty() {
///             return Err(PluginError::usage("usage: lmi env-name"));
///         }
///         let name = ctx.environment().unwrap_or_else(|| "(none)".into());
///         writeln!(ctx.stdout(), "{command}: {name}")?;
///         Ok(0)
///     }
/// }
///
/// let ctx = MockContext::new().with_env("staging");
/// assert_eq!(Env::run(&ctx, "env-name", &[]), Ok(0));
/// assert_eq!(ctx.stdout_text(), "env-name: staging\n");
/// assert!(Env::run(&ctx, "env-name", &["x".into()]).is_err());
/// ```
pub trait Plugin {
    /// Runs `command` with `args` (the words after the command name, without it).
    ///
    /// `command` is always one of the manifest's `[[commands]]`; a plugin with several
    /// commands matches on it. `lmi tool -v list` calls `run(ctx, "tool", ["-v", "list"])`.
    ///
    /// ```
    /// use lmi_plugin_sdk::{Context, MockContext, Plugin, PluginError};
    ///
    /// struct Tool;
    ///
    /// impl Plugin for Tool {
    ///     fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
    ///         match (command, args) {
    ///             ("tool", [flag, sub]) if flag == "-v" && sub == "list" => Ok(0),
    ///             ("tool", _) => Err(PluginError::usage("usage: lmi tool [-v] list")),
    ///             (other, _) => Err(PluginError::unknown_command(other)),
    ///         }
    ///     }
    /// }
    ///
    /// let ctx = MockContext::new();
    /// assert_eq!(Tool::run(&ctx, "tool", &["-v".into(), "list".into()]), Ok(0));
    /// assert!(matches!(Tool::run(&ctx, "tool", &[]), Err(PluginError::Usage(_))));
    /// ```
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError>;
}

/// Exports a plugin as the component's `lmi:plugin/command` export, calling it with a
/// [`HostContext`].
///
/// Invoke it once, at the root of the plugin crate, with the type that implements
/// [`Plugin`], or with `fn` and a function of [`Plugin::run`]'s signature: a plugin can be
/// one function. After the command returns, buffered standard output is flushed.
///
/// The export exists only when compiling for `wasm32`; on a native target (unit tests) the
/// macro only checks that the type implements [`Plugin`] (or the function's signature).
///
/// A whole plugin:
///
/// ```
/// use std::io::Write;
/// use lmi_plugin_sdk::{Context, PluginError};
///
/// fn run(ctx: &dyn Context, _command: &str, args: &[String]) -> Result<u8, PluginError> {
///     writeln!(ctx.stdout(), "Hello, {}!", args.first().map_or("world", String::as_str))?;
///     Ok(0)
/// }
///
/// lmi_plugin_sdk::export!(fn run);
/// # fn main() {
/// # let ctx = lmi_plugin_sdk::MockContext::new();
/// # assert_eq!(run(&ctx, "hi", &[]), Ok(0));
/// # assert_eq!(ctx.stdout_text(), "Hello, world!\n");
/// # }
/// ```
///
/// With a type:
///
/// ```
/// use lmi_plugin_sdk::{Context, Plugin, PluginError};
///
/// struct Noop;
///
/// impl Plugin for Noop {
///     fn run(_ctx: &dyn Context, _command: &str, _args: &[String]) -> Result<u8, PluginError> {
///         Ok(0)
///     }
/// }
///
/// lmi_plugin_sdk::export!(Noop);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    // First: `fn` cannot start a type here, so `export!(MyType)` never reaches this arm.
    (fn $run:path) => {
        const _: () = {
            /// The function, as a [`Plugin`]($crate::Plugin).
            struct LmiPluginFn;

            impl $crate::Plugin for LmiPluginFn {
                fn run(
                    ctx: &dyn $crate::Context,
                    command: &::core::primitive::str,
                    args: &[::std::string::String],
                ) -> ::core::result::Result<u8, $crate::PluginError> {
                    $run(ctx, command, args)
                }
            }

            $crate::export!(LmiPluginFn);
        };
    };
    ($plugin:ty) => {
        // Only a wasm component has the export. Natively (unit tests, `cargo check`) the
        // symbol names, which contain `:` and `/`, would break a cdylib's linker script, and
        // nothing could call them anyway; just check that the type implements `Plugin`.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct LmiPluginExport;

            impl $crate::bindings::exports::lmi::plugin::command::Guest for LmiPluginExport {
                fn run(
                    name: ::std::string::String,
                    args: ::std::vec::Vec<::std::string::String>,
                ) -> ::core::result::Result<
                    u8,
                    $crate::bindings::exports::lmi::plugin::command::PluginError,
                > {
                    $crate::__private::run::<$plugin>(&name, &args)
                }
            }

            $crate::bindings::__export_plugin_world!(
                LmiPluginExport with_types_in $crate::bindings
            );
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn assert_plugin<P: $crate::Plugin>() {}
            assert_plugin::<$plugin>();
        };
    };
}

/// Support for [`export!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::lmi::plugin::types as wit;
    use crate::{HostContext, Plugin};

    /// Runs `P` against the real host and converts its result to the WIT shape.
    pub fn run<P: Plugin>(name: &str, args: &[String]) -> Result<u8, wit::PluginError> {
        // std's panic message ends by suggesting `RUST_BACKTRACE=1`, which cannot reach the
        // sandbox (it has no environment): print the message and where, nothing more. lmi
        // adds the backtrace itself.
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                eprintln!("plugin {info}");
            }))
        });
        let result = P::run(&HostContext, name, args);
        // `std::io::stdout()` is line-buffered and a component does not exit after a call,
        // so flush whatever the command left in the buffer.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        result.map_err(wit::PluginError::from)
    }
}

#[cfg(test)]
mod tests {
    /// The SDK's version names the contract it builds: 0.3.x builds `lmi:plugin@0.3.*`, so
    /// `lmi-plugin-sdk = "0.3"` in a plugin means "the 0.3 contract". (Runs in the packaged
    /// crate too: the WIT is inside it.)
    #[test]
    fn the_version_follows_the_contract() {
        let wit = include_str!("../wit/lmi-plugin.wit");
        let package = wit
            .lines()
            .find_map(|line| line.trim().strip_prefix("package lmi:plugin@"))
            .expect("the WIT names its package");
        let contract = package.trim_end_matches(';');
        let track = |version: &str| version.split('.').take(2).collect::<Vec<_>>().join(".");
        assert_eq!(
            track(env!("CARGO_PKG_VERSION")),
            track(contract),
            "lmi-plugin-sdk {} builds lmi:plugin@{contract}: give the SDK the contract's major.minor",
            env!("CARGO_PKG_VERSION"),
        );
    }
}
