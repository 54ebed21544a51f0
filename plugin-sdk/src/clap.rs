//! Argument parsing with [clap](https://docs.rs/clap/4) (feature `clap`): clap 4 itself,
//! re-exported with the features that work in lmi's sandbox, and [`parse`], which does
//! everything lmi expects of a plugin's parser in one call.
//!
//! ```toml
//! [dependencies]
//! lmi-plugin-sdk = { version = "0.3", features = ["clap"] }   # no clap line of your own
//! ```
//!
//! ```
//! use lmi_plugin_sdk::clap::{self, Parser};
//! use lmi_plugin_sdk::{Context, MockContext, PluginError};
//!
//! /// List the items of a project.
//! #[derive(Parser)]
//! struct Cli {
//!     /// The project.
//!     project: String,
//!     /// At most this many.
//!     #[arg(long, default_value_t = 10)]
//!     limit: u32,
//! }
//!
//! fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
//!     let Some(cli) = clap::parse::<Cli>(ctx, command, args)? else {
//!         return Ok(0); // --help or --version was printed
//!     };
//!     writeln!(ctx.stdout(), "{} (up to {})", cli.project, cli.limit)?;
//!     Ok(0)
//! }
//! # use std::io::Write;
//!
//! let ctx = MockContext::new();
//! assert_eq!(run(&ctx, "items", &["p-1".into()]), Ok(0));
//! assert_eq!(ctx.stdout_text(), "p-1 (up to 10)\n");
//! ```
//!
//! `use lmi_plugin_sdk::clap;` puts this module where clap's derive macros look for the
//! `clap` crate, so a plugin needs no `clap` dependency of its own, and gets clap without
//! `wrap_help` (it wants the terminal's size) and `env` (environment variables): the
//! sandbox has neither.

pub use ::clap::*;

use std::io::Write;

use ::clap::error::ErrorKind;

use crate::{Context, PluginError};

/// Parses the words lmi handed to `command` into `T`, as lmi expects of a plugin:
///
/// * `Ok(Some(args))`: parsed.
/// * `Ok(None)`: `--help` or `--version` was asked for and has been written to
///   [`Context::stdout`]; the command is done, with exit code 0.
/// * `Err(`[`PluginError::Usage`]`)`: anything else clap refuses (a missing argument, an
///   unknown flag, a bad value), with clap's message and usage but without its `error: `
///   prefix (lmi adds its own); lmi prints it and exits 2.
///
/// Help and errors name the command as the user types it, `lmi <command>` (and `lmi
/// <command> <subcommand>`). `--version` prints the plugin's name and the version of its
/// installed manifest ([`Context::plugin`]), the version `lmi --version` and `lmi plugin
/// list` show, whatever `Cargo.toml` says, so the plugin's version lives in one place.
/// A command without its required arguments or subcommand gets clap's short usage error
/// rather than its whole help (`arg_required_else_help` is turned off).
///
/// ```
/// use lmi_plugin_sdk::clap::{self, Parser, Subcommand};
/// use lmi_plugin_sdk::{MockContext, PluginError};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(subcommand)]
///     command: Command,
/// }
///
/// #[derive(Subcommand)]
/// enum Command {
///     /// Show one item.
///     Show { id: u32 },
/// }
///
/// let ctx = MockContext::new().with_plugin("items", "1.2.0");
/// let parse = |words: &[&str]| {
///     let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
///     clap::parse::<Cli>(&ctx, "items", &args)
/// };
/// assert!(matches!(parse(&["show", "7"]), Ok(Some(Cli { command: Command::Show { id: 7 } }))));
/// assert!(matches!(parse(&["--version"]), Ok(None)));
/// assert_eq!(ctx.stdout_text(), "items 1.2.0\n");
/// let Err(PluginError::Usage(message)) = parse(&["show"]) else { panic!() };
/// assert!(message.starts_with("the following required arguments were not provided"));
/// assert!(message.contains("Usage: lmi items show <ID>"));
/// ```
pub fn parse<T: Parser>(
    ctx: &dyn Context,
    command: &str,
    args: &[String],
) -> Result<Option<T>, PluginError> {
    let mut cmd = for_lmi(T::command(), command, &ctx.plugin());
    let argv = std::iter::once(command).chain(args.iter().map(String::as_str));
    let parsed = cmd.try_get_matches_from_mut(argv).and_then(|mut matches| {
        T::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
    });
    match parsed {
        Ok(parsed) => Ok(Some(parsed)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            write!(ctx.stdout(), "{e}")?;
            Ok(None)
        }
        Err(e) => Err(PluginError::usage(usage_message(&e))),
    }
}

/// `cmd` as lmi runs it: named `lmi <command>`, the manifest's version, and a short usage
/// error (not the help, printed as an error) when required arguments are missing.
fn for_lmi(cmd: Command, command: &str, plugin: &crate::PluginIdentity) -> Command {
    fn no_help_for_missing(cmd: Command) -> Command {
        cmd.arg_required_else_help(false)
            .mut_subcommands(no_help_for_missing)
    }
    no_help_for_missing(cmd)
        .name(command.to_owned())
        .bin_name(format!("lmi {command}"))
        .display_name(plugin.name.clone())
        .version(plugin.version.clone())
        .long_version(None::<&str>)
}

/// clap's message without the `error: ` lmi puts in front of every usage error.
fn usage_message(e: &Error) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockContext;

    /// Sends requests to a service.
    #[derive(Debug, Parser)]
    #[command(version)]
    struct Api {
        #[arg(short, long, global = true)]
        service: Option<String>,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, Subcommand)]
    enum Sub {
        /// Send a GET request.
        Get { path: String },
        Nested {
            #[command(subcommand)]
            inner: Inner,
        },
    }

    #[derive(Debug, Subcommand)]
    enum Inner {
        Leaf,
    }

    fn parse(ctx: &MockContext, words: &[&str]) -> Result<Option<Api>, PluginError> {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        super::parse::<Api>(ctx, "api", &args)
    }

    fn usage(ctx: &MockContext, words: &[&str]) -> String {
        match parse(ctx, words) {
            Err(PluginError::Usage(message)) => message,
            other => panic!("{words:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn parsed_arguments_come_back() {
        let ctx = MockContext::new();
        let cli = parse(&ctx, &["-s", "billing", "get", "v1/x"])
            .expect("parses")
            .expect("not help");
        assert_eq!(cli.service.as_deref(), Some("billing"));
        assert!(matches!(cli.command, Sub::Get { path } if path == "v1/x"));
        assert_eq!(ctx.stdout_text(), "");
    }

    /// `--help` is normal output naming the command as typed, exit 0 (`Ok(None)`), at
    /// every level.
    #[test]
    fn help_is_output_naming_lmi_and_the_command() {
        let ctx = MockContext::new();
        assert!(matches!(parse(&ctx, &["--help"]), Ok(None)));
        let help = ctx.stdout_text();
        assert!(help.starts_with("Sends requests to a service\n"), "{help}");
        assert!(
            help.contains("Usage: lmi api [OPTIONS] <COMMAND>"),
            "{help}"
        );
        let ctx = MockContext::new();
        assert!(matches!(parse(&ctx, &["get", "--help"]), Ok(None)));
        assert!(
            ctx.stdout_text()
                .contains("Usage: lmi api get [OPTIONS] <PATH>")
        );
        assert_eq!(ctx.stderr_text(), "");
    }

    /// The version is the installed manifest's, under the plugin's name, whatever the
    /// crate's own version (`#[command(version)]` would say this SDK's 0.3.x here).
    #[test]
    fn version_is_the_manifests() {
        let ctx = MockContext::new().with_plugin("api-tools", "3.1.4");
        assert!(matches!(parse(&ctx, &["--version"]), Ok(None)));
        assert!(matches!(parse(&ctx, &["-V"]), Ok(None)));
        assert_eq!(ctx.stdout_text(), "api-tools 3.1.4\napi-tools 3.1.4\n");
    }

    /// One `error: ` in the end: lmi's. The message is clap's, with its usage line.
    #[test]
    fn errors_are_usage_errors_without_claps_prefix() {
        let ctx = MockContext::new();
        let missing = usage(&ctx, &["get"]);
        assert!(
            missing.starts_with("the following required arguments were not provided:\n  <PATH>"),
            "{missing}"
        );
        assert!(missing.contains("Usage: lmi api get <PATH>"), "{missing}");
        assert!(!missing.contains("error:"), "{missing}");
        assert_eq!(missing, missing.trim_end());
        let unknown = usage(&ctx, &["--bogus"]);
        assert!(
            unknown.starts_with("unexpected argument '--bogus' found"),
            "{unknown}"
        );
        assert_eq!(ctx.stdout_text(), "");
    }

    /// With no arguments, clap's derive would print the whole help as an error; lmi's
    /// plugins get the short usage error instead, at every level.
    #[test]
    fn no_arguments_is_a_short_usage_error_not_the_help() {
        let ctx = MockContext::new();
        let none = usage(&ctx, &[]);
        assert!(
            none.starts_with("'lmi api' requires a subcommand but one was not provided"),
            "{none}"
        );
        assert!(
            none.contains("Usage: lmi api [OPTIONS] <COMMAND>"),
            "{none}"
        );
        assert!(!none.contains("Send a GET request"), "not the help: {none}");
        let nested = usage(&ctx, &["nested"]);
        assert!(
            nested.starts_with("'lmi api nested' requires a subcommand"),
            "{nested}"
        );
    }
}
