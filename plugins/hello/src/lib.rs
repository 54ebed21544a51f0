//! `hello`: the smallest useful lmi plugin, and the dispatch benchmark.
//!
//! * `lmi hello [NAME...]` greets the names (or the world) and shows what lmi tells a
//!   plugin: its arguments, the active environment and the SSO state; with `lmi -v`, also
//!   its own name and version and the `-v` count; with `lmi --output json`, all of it as one
//!   JSON object (the pattern for a plugin that honours lmi's `--output`).
//! * `lmi whoami` shows the signed-in SSO user (`requires_sso = true` in the manifest, so
//!   the host refuses it before loading the plugin when nobody is signed in).
//!
//! Both parse their arguments with the SDK's `clap` feature: `--help`, and `--version`
//! from the installed manifest.

use std::io::Write;

use lmi_plugin_sdk::clap::{self, Parser};
use lmi_plugin_sdk::{Context, OutputFormat, Plugin, PluginError};

/// The plugin; see the crate docs for its commands.
pub struct Hello;

impl Plugin for Hello {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        match command {
            "hello" => hello(ctx, command, args),
            "whoami" => whoami(ctx, command, args),
            other => Err(PluginError::unknown_command(other)),
        }
    }
}

lmi_plugin_sdk::export!(Hello);

/// Greet the names given (or the world) and show what lmi tells a plugin.
#[derive(Parser)]
struct HelloArgs {
    /// Who to greet. Every word is a name, `-x` too (but `--help` and `--version` first).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    names: Vec<String>,
}

/// Show the signed-in SSO user's subject, email and name.
#[derive(Parser)]
struct WhoamiArgs {}

fn hello(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
    let Some(cli) = clap::parse::<HelloArgs>(ctx, command, args)? else {
        return Ok(0); // --help or --version, printed
    };
    let who = if cli.names.is_empty() {
        "world".to_string()
    } else {
        cli.names.join(" ")
    };
    let greeting = format!("Hello, {who}!");
    let env = ctx.environment();
    // `hello` is not `requires_sso`, so lmi tells it whether a session exists but not who
    // holds it (that is `whoami`'s); a host that does share the identity gets it shown.
    let sso = match ctx.sso_user() {
        Some(user) => format!("signed in as {}", user.email.unwrap_or(user.subject)),
        None if ctx.is_sso_authenticated() => "signed in (see lmi whoami)".to_string(),
        None => "not signed in".to_string(),
    };
    let plugin = ctx.plugin();
    let mut out = ctx.stdout();
    if ctx.output_format() == OutputFormat::Json {
        let args: Vec<String> = args.iter().map(|a| json_string(a)).collect();
        writeln!(
            out,
            r#"{{"greeting":{},"args":[{}],"env":{},"sso":{},"plugin":{{"name":{},"version":{}}},"verbosity":{}}}"#,
            json_string(&greeting),
            args.join(","),
            env.as_deref().map_or("null".to_string(), json_string),
            json_string(&sso),
            json_string(&plugin.name),
            json_string(&plugin.version),
            ctx.verbosity(),
        )?;
        return Ok(0);
    }
    writeln!(out, "{greeting}")?;
    writeln!(out, "args: {args:?}")?;
    writeln!(out, "env: {}", env.as_deref().unwrap_or("(none)"))?;
    writeln!(out, "sso: {sso}")?;
    if ctx.verbosity() > 0 {
        writeln!(
            out,
            "plugin: {} {} (lmi -v: {})",
            plugin.name,
            plugin.version,
            ctx.verbosity()
        )?;
    }
    Ok(0)
}

/// `s` as a JSON string (hello has no JSON library: it is the dispatch benchmark, kept
/// small).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn whoami(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
    let Some(WhoamiArgs {}) = clap::parse(ctx, command, args)? else {
        return Ok(0);
    };
    // The manifest's `requires_sso` makes the host check first; this covers a session that
    // ended in between.
    let Some(user) = ctx.sso_user() else {
        return Err(PluginError::failed("not signed in; run: lmi login sso"));
    };
    let mut out = ctx.stdout();
    writeln!(out, "subject: {}", user.subject)?;
    writeln!(
        out,
        "email: {}",
        user.email.as_deref().unwrap_or("(not shared)")
    )?;
    writeln!(
        out,
        "name: {}",
        user.name.as_deref().unwrap_or("(not shared)")
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmi_plugin_sdk::{MockContext, SsoUser};

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn hello_without_names_greets_the_world_and_reports_no_env_or_session() {
        let ctx = MockContext::new();
        assert_eq!(Hello::run(&ctx, "hello", &[]), Ok(0));
        assert_eq!(
            ctx.stdout_text(),
            "Hello, world!\nargs: []\nenv: (none)\nsso: not signed in\n"
        );
    }

    #[test]
    fn hello_greets_every_name_and_shows_env_and_email() {
        let ctx = MockContext::new()
            .with_env("staging")
            .with_sso_user(SsoUser::new("00u1").with_email("ada@example.com"));
        assert_eq!(Hello::run(&ctx, "hello", &args(&["Ada", "Grace"])), Ok(0));
        assert_eq!(
            ctx.stdout_text(),
            "Hello, Ada Grace!\nargs: [\"Ada\", \"Grace\"]\nenv: staging\n\
             sso: signed in as ada@example.com\n"
        );
    }

    #[test]
    fn hello_falls_back_to_the_subject_without_an_email() {
        let ctx = MockContext::new().with_sso_user(SsoUser::new("00u1"));
        assert_eq!(Hello::run(&ctx, "hello", &[]), Ok(0));
        assert!(ctx.stdout_text().ends_with("sso: signed in as 00u1\n"));
    }

    #[test]
    fn whoami_prints_subject_email_and_name() {
        let user = SsoUser::new("00u1")
            .with_email("ada@example.com")
            .with_name("Ada");
        let ctx = MockContext::new().with_sso_user(user);
        assert_eq!(Hello::run(&ctx, "whoami", &[]), Ok(0));
        assert_eq!(
            ctx.stdout_text(),
            "subject: 00u1\nemail: ada@example.com\nname: Ada\n"
        );
    }

    #[test]
    fn whoami_without_a_session_fails_with_the_login_hint() {
        let ctx = MockContext::new();
        let error = Hello::run(&ctx, "whoami", &[]).expect_err("not signed in");
        assert!(error.to_string().contains("lmi login sso"), "{error}");
    }

    #[test]
    fn whoami_rejects_arguments_as_usage() {
        let ctx = MockContext::new().with_sso_user(SsoUser::new("00u1"));
        let result = Hello::run(&ctx, "whoami", &args(&["x"]));
        assert!(matches!(result, Err(PluginError::Usage(_))));
    }

    /// `lmi --output json hello`: one JSON object with everything the text shows, the
    /// plugin's identity and lmi's `-v` count; strings escaped.
    #[test]
    fn hello_answers_lmis_output_json_with_one_object() {
        let ctx = MockContext::new()
            .with_output_format(OutputFormat::Json)
            .with_verbosity(2)
            .with_plugin("hello", "0.1.0");
        assert_eq!(Hello::run(&ctx, "hello", &args(&["A\"d\\a", "-x"])), Ok(0));
        assert_eq!(
            ctx.stdout_text(),
            r#"{"greeting":"Hello, A\"d\\a -x!","args":["A\"d\\a","-x"],"env":null,"sso":"not signed in","plugin":{"name":"hello","version":"0.1.0"},"verbosity":2}"#
                .to_owned()
                + "\n"
        );
        assert_eq!(json_string("\u{1b}[2J\n"), r#""\u001b[2J\u000a""#);
    }

    #[test]
    fn hello_at_verbosity_names_the_plugin() {
        let ctx = MockContext::new()
            .with_verbosity(1)
            .with_plugin("hello", "0.1.0");
        assert_eq!(Hello::run(&ctx, "hello", &[]), Ok(0));
        assert!(
            ctx.stdout_text()
                .ends_with("sso: not signed in\nplugin: hello 0.1.0 (lmi -v: 1)\n"),
            "{}",
            ctx.stdout_text()
        );
    }

    /// `--help` and `--version` come first; after a name every word is a name.
    #[test]
    fn help_and_version_are_the_plugins_and_later_words_are_names() {
        let ctx = MockContext::new().with_plugin("hello", "0.3.0");
        assert_eq!(Hello::run(&ctx, "hello", &args(&["--version"])), Ok(0));
        assert_eq!(Hello::run(&ctx, "whoami", &args(&["--version"])), Ok(0));
        assert_eq!(ctx.stdout_text(), "hello 0.3.0\nhello 0.3.0\n");
        let ctx = MockContext::new();
        assert_eq!(Hello::run(&ctx, "hello", &args(&["--help"])), Ok(0));
        assert!(
            ctx.stdout_text().contains("Usage: lmi hello [NAMES]..."),
            "{}",
            ctx.stdout_text()
        );
        let ctx = MockContext::new();
        assert_eq!(Hello::run(&ctx, "hello", &args(&["Ada", "--help"])), Ok(0));
        assert!(ctx.stdout_text().starts_with("Hello, Ada --help!\n"));
    }

    #[test]
    fn unknown_command_is_a_failure_not_a_panic() {
        let ctx = MockContext::new();
        assert!(matches!(
            Hello::run(&ctx, "nope", &[]),
            Err(PluginError::Failed(_))
        ));
    }
}
