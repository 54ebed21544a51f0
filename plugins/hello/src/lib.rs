//! `hello`: the smallest useful lmi plugin, and the dispatch benchmark.
//!
//! * `lmi hello [NAME...]` greets the names (or the world) and shows what lmi tells a
//!   plugin: its arguments, the active environment and the SSO state.
//! * `lmi whoami` shows the signed-in SSO user (`requires_sso = true` in the manifest, so
//!   the host refuses it before loading the plugin when nobody is signed in).

use std::io::Write;

use lmi_plugin_sdk::{Context, Plugin, PluginError};

/// The plugin; see the crate docs for its commands.
pub struct Hello;

impl Plugin for Hello {
    fn run(ctx: &dyn Context, command: &str, args: &[String]) -> Result<u8, PluginError> {
        match command {
            "hello" => hello(ctx, args),
            "whoami" => whoami(ctx, args),
            other => Err(PluginError::unknown_command(other)),
        }
    }
}

lmi_plugin_sdk::export!(Hello);

fn hello(ctx: &dyn Context, args: &[String]) -> Result<u8, PluginError> {
    let who = if args.is_empty() {
        "world".to_string()
    } else {
        args.join(" ")
    };
    let env = ctx.environment();
    // `hello` is not `requires_sso`, so lmi tells it whether a session exists but not who
    // holds it (that is `whoami`'s); a host that does share the identity gets it shown.
    let sso = match ctx.sso_user() {
        Some(user) => format!("signed in as {}", user.email.unwrap_or(user.subject)),
        None if ctx.is_sso_authenticated() => "signed in (see lmi whoami)".to_string(),
        None => "not signed in".to_string(),
    };
    let mut out = ctx.stdout();
    writeln!(out, "Hello, {who}!")?;
    writeln!(out, "args: {args:?}")?;
    writeln!(out, "env: {}", env.as_deref().unwrap_or("(none)"))?;
    writeln!(out, "sso: {sso}")?;
    Ok(0)
}

fn whoami(ctx: &dyn Context, args: &[String]) -> Result<u8, PluginError> {
    if !args.is_empty() {
        return Err(PluginError::usage("usage: lmi whoami (takes no arguments)"));
    }
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

    #[test]
    fn unknown_command_is_a_failure_not_a_panic() {
        let ctx = MockContext::new();
        assert!(matches!(
            Hello::run(&ctx, "nope", &[]),
            Err(PluginError::Failed(_))
        ));
    }
}
