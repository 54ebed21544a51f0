//! The command line: clap types for the built-in commands, plugin commands merged in from
//! installed manifests (no wasm is read to route), and the mapping of results to exit codes.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, Ctx};
use crate::exit::{Exit, ExitStatus};
use crate::output::{self, OutputFormat};
use crate::paths::Paths;
use crate::plugins::manifest::BUILTIN_COMMANDS;
use crate::plugins::store::{InstalledPlugin, Store, contested, route};
use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "lmi",
    about = "Run platform plugins in a sandbox, with your SSO session and per-environment service tokens",
    disable_version_flag = true,
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 4 authentication required or failed, 5 plugin crashed or hit a limit; a plugin's own code passes through."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Print the version of lmi and of each installed plugin.
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: Option<bool>,

    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// The environment to act in (default: `default_environment` in ~/.config/lmi/.env).
    #[arg(short = 'e', long = "env", global = true, value_name = "NAME")]
    pub env: Option<String>,

    /// More detail on stderr and in the log: -v info, -vv debug.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Output format of lmi's own commands.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in (`lmi login sso`).
    #[command(subcommand)]
    Login(commands::login::LoginCommand),
    /// Sign out (`lmi logout sso`).
    #[command(subcommand)]
    Logout(commands::login::LogoutCommand),
    /// Inspect and manage credentials.
    #[command(subcommand)]
    Auth(commands::auth::AuthCommand),
    /// Install, inspect and create plugins.
    #[command(subcommand)]
    Plugin(commands::plugin::PluginCommand),
    /// Environments found in the configuration directory.
    #[command(subcommand)]
    Env(commands::env::EnvCommand),
    /// Print a shell completion script (including installed plugin commands).
    Completions(commands::completions::CompletionsArgs),
    /// Check configuration, credentials, the keychain and installed plugins; one line per check.
    Doctor(commands::doctor::DoctorArgs),
}

/// The process entry point: parse, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv
        .get(1)
        .is_some_and(|a| a == crate::runtime::compile::CHILD_ARG)
    {
        return crate::runtime::compile::child_main(&argv[2..]);
    }
    crate::runtime::compile::compile_in_child_processes();
    match run(argv) {
        Ok(code) => code,
        Err(err) => {
            let exit = exit_of(&err);
            // Messages may quote an identity provider's answer or a manifest's line: scrub
            // known secrets from them as from the log, and let no escape sequence through.
            output::note(format_args!(
                "error: {}",
                crate::text::block(&crate::logging::scrub(&format!("{err:#}")), 40, 2000)
            ));
            if let Some(hint) = hint_of(&err, exit) {
                output::note(format_args!("hint: {hint}"));
            }
            exit.into()
        }
    }
}

fn run(argv: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let paths = Paths::from_env()?;
    let store = Store::new(&paths);

    // A plugin command: the store's route index names its plugin, so only that manifest is
    // read, and it parses against just the global options and that one command (reading
    // every manifest and building every built-in's parser cost more than some plugins take
    // to run). Anything unusual takes the full path below, which also reports errors.
    let word = dispatch_word(&argv);
    let routed = word.and_then(|w| store.route(w));
    let route_missed = word.is_some() && routed.is_none();
    if let Some(plugin) = routed {
        let plugins = vec![plugin];
        if let Some(matches) = dispatch_matches(&argv, word, &plugins) {
            return dispatch(&matches, paths, plugins);
        }
    }

    let (plugins, problems) = store.list();
    let matches = match dispatch_matches(&argv, word, &plugins) {
        Some(matches) => matches,
        None => {
            // A command whose owner does not load stays the owner's: say so (exit 2) rather
            // than call it unknown or let another plugin have it.
            if let Some(w) = command_word(&argv, true).filter(|w| route(&plugins, w).is_none())
                && let Some(owner) = store
                    .owners()
                    .remove(w)
                    .filter(|o| !plugins.iter().any(|p| &p.manifest.name == o))
            {
                let why = problems
                    .iter()
                    .find(|p| p.contains(&format!("plugin `{owner}`:")))
                    .cloned()
                    .unwrap_or_default();
                return Err(crate::exit::UsageError(format!(
                    "`{w}` belongs to plugin `{owner}`, which does not load ({why}); fix its manifest, reinstall it, or run `lmi plugin remove {owner}`"
                ))
                .into());
            }
            if word.is_some_and(|w| route(&plugins, w).is_none()) {
                // The command may belong to a plugin lmi refused to load: say why before
                // the parser calls it unknown.
                for problem in &problems {
                    output::warn(problem);
                }
            }
            build_command(&plugins).get_matches_from(argv)
        }
    };
    let name = matches.subcommand_name().unwrap_or_default();
    if route(&plugins, name).is_some() {
        for contested in contested(&plugins) {
            output::warn(contested);
        }
        if route_missed {
            // The route index did not know this command: make it do so next time.
            store.refresh_routes();
        }
        return dispatch(&matches, paths, plugins);
    }

    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    for problem in problems {
        output::warn(problem);
    }
    let flags = GlobalFlags {
        env: cli.global.env.clone(),
        verbose: cli.global.verbose,
        output: cli.global.output,
    };
    let ctx = flags.into_ctx(paths, plugins)?;
    match cli.command {
        Command::Login(cmd) => cmd.run(&ctx),
        Command::Logout(cmd) => cmd.run(&ctx),
        Command::Auth(cmd) => cmd.run(&ctx),
        Command::Plugin(cmd) => cmd.run(&ctx),
        Command::Env(cmd) => cmd.run(&ctx),
        Command::Completions(args) => args.run(&ctx, build_command(&ctx.plugins)),
        Command::Doctor(args) => args.run(&ctx),
    }
}

struct GlobalFlags {
    env: Option<String>,
    verbose: u8,
    output: OutputFormat,
}

impl GlobalFlags {
    fn from_matches(m: &clap::ArgMatches) -> Self {
        Self {
            env: m.get_one::<String>("env").cloned(),
            verbose: m.get_count("verbose"),
            output: m
                .get_one::<OutputFormat>("output")
                .copied()
                .unwrap_or_default(),
        }
    }

    fn into_ctx(self, paths: Paths, plugins: Vec<InstalledPlugin>) -> anyhow::Result<Ctx> {
        let settings = Settings::load(paths, self.env.as_deref())?;
        crate::logging::init(&settings.log_options(self.verbose));
        Ok(Ctx {
            settings,
            output: self.output,
            verbose: self.verbose,
            plugins,
        })
    }
}

/// Runs the plugin command `matches` chose: route by manifest, hand over the raw words.
fn dispatch(
    matches: &clap::ArgMatches,
    paths: Paths,
    plugins: Vec<InstalledPlugin>,
) -> anyhow::Result<ExitCode> {
    let Some((name, sub)) = matches.subcommand() else {
        return Err(crate::exit::UsageError("no command given: see `lmi --help`".into()).into());
    };
    let plugin = route(&plugins, name)
        .ok_or_else(|| crate::exit::UsageError(format!("no installed plugin provides `{name}`")))?
        .clone();
    let args: Vec<String> = sub
        .get_many::<OsString>("args")
        .into_iter()
        .flatten()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let ctx = GlobalFlags::from_matches(matches).into_ctx(paths, plugins)?;
    commands::run::run(&ctx, &plugin, name, args)
}

/// `argv` parsed by [`dispatch_command`], when it applies and parses.
fn dispatch_matches(
    argv: &[OsString],
    word: Option<&str>,
    plugins: &[InstalledPlugin],
) -> Option<clap::ArgMatches> {
    dispatch_command(word?, plugins)?
        .try_get_matches_from(argv)
        .ok()
}

/// The parser for a plugin command (`word`, from [`dispatch_word`]): just the global
/// options and that command, whose words go to the plugin.
fn dispatch_command(word: &str, plugins: &[InstalledPlugin]) -> Option<clap::Command> {
    let plugin = route(plugins, word)?;
    let command = plugin.manifest.command(word)?;
    Some(
        GlobalArgs::augment_args(clap::Command::new("lmi"))
            .disable_version_flag(true)
            .disable_help_flag(true)
            .subcommand_required(true)
            .subcommand(plugin_subcommand(plugin, command)),
    )
}

/// The command word of `argv` when only global options come before it and it is not a
/// built-in: a plugin command, if any plugin provides it.
fn dispatch_word(argv: &[OsString]) -> Option<&str> {
    command_word(argv, false)
}

/// The first word after lmi's options, not a built-in; `attached` also skips `-eVALUE`.
fn command_word(argv: &[OsString], attached: bool) -> Option<&str> {
    let mut words = argv.iter().skip(1);
    let word = loop {
        let word = words.next()?.to_str()?;
        match word {
            "-e" | "--env" | "--output" => {
                words.next()?;
            }
            "--verbose" => {}
            _ if word.starts_with("--env=") || word.starts_with("--output=") => {}
            // `-eprod`: the short option with its value attached (only where asked, as
            // the fast path leaves that form to the full parser).
            _ if attached && word.starts_with("-e") && word.len() > 2 => {}
            _ if word.starts_with("-v") && word[1..].bytes().all(|b| b == b'v') => {}
            _ if word.starts_with('-') => return None,
            _ => break word,
        }
    };
    (!BUILTIN_COMMANDS.contains(&word)).then_some(word)
}

/// The full command: built-ins from the derive, then one subcommand per plugin command.
pub fn build_command(plugins: &[InstalledPlugin]) -> clap::Command {
    let mut version = env!("CARGO_PKG_VERSION").to_owned();
    for p in plugins {
        version.push_str(&format!(
            "\n  plugin {} {}",
            p.manifest.name, p.manifest.version
        ));
    }
    let mut cmd = Cli::command().version(version);
    for plugin in plugins {
        for c in &plugin.manifest.commands {
            // A command another plugin owns is listed once, under its owner.
            if route(plugins, &c.name).is_some_and(|p| p.manifest.name == plugin.manifest.name) {
                cmd = cmd.subcommand(plugin_subcommand(plugin, c));
            }
        }
    }
    cmd
}

/// One plugin command: its words go to the plugin untouched.
fn plugin_subcommand(
    plugin: &InstalledPlugin,
    c: &crate::plugins::manifest::CommandSpec,
) -> clap::Command {
    let mut about = safe_about(&c.about);
    if c.requires_sso {
        about.push_str(" [requires SSO]");
    }
    clap::Command::new(c.name.clone())
        .about(about)
        .after_help(format!(
            "Provided by plugin {} {}.",
            plugin.manifest.name, plugin.manifest.version
        ))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_parser(clap::value_parser!(OsString)),
        )
}

/// A manifest's `about` as `--help` and every completion script show it: one line of
/// terminal-safe text, its quote-like characters made plain `'`, which each completion
/// generator escapes for its shell (PowerShell also ends strings at `‘ ‚ ‛`, which
/// clap_complete does not escape). Install refuses such text; this covers manifests linked
/// or installed before that rule.
fn safe_about(about: &str) -> String {
    crate::text::line(about, 200)
        .chars()
        .map(|c| {
            if crate::text::is_quote_like(c) {
                '\''
            } else {
                c
            }
        })
        .collect()
}

/// The hint printed under an error: the auth error's own, else for any exit 4 (e.g. a
/// plugin's `auth-failed`), signing in.
fn hint_of(err: &anyhow::Error, exit: Exit) -> Option<&'static str> {
    err.chain()
        .find_map(|c| c.downcast_ref::<crate::auth::AuthError>())
        .and_then(|e| e.hint())
        .or((exit == Exit::Auth).then_some("run: lmi login sso"))
}

/// The exit code an error means: the first error in the chain that knows its code.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        macro_rules! known {
            ($($ty:ty),* $(,)?) => {
                $(if let Some(e) = cause.downcast_ref::<$ty>() { return e.exit(); })*
            };
        }
        known!(
            crate::exit::UsageError,
            crate::paths::NoHomeError,
            crate::settings::ConfigError,
            crate::plugins::manifest::ManifestError,
            crate::plugins::store::StoreError,
            crate::runtime::RunError,
        );
        if let Some(e) = cause.downcast_ref::<crate::auth::AuthError>() {
            return e.exit();
        }
    }
    Exit::Failure
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::plugins::manifest::Manifest;
    use crate::plugins::store::InstallRecord;

    fn hello() -> InstalledPlugin {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/hello/lmi-plugin.toml"),
        )
        .unwrap();
        InstalledPlugin {
            manifest: Manifest::parse(&text, Path::new("lmi-plugin.toml")).unwrap(),
            dir: PathBuf::new(),
            record: InstallRecord {
                sha256: String::new(),
                source: PathBuf::new(),
                linked: false,
                installed_at: 0,
            },
            grants: Default::default(),
        }
    }

    /// What a parse decided: the global flags, the command and the plugin's words.
    fn outcome(m: &clap::ArgMatches) -> (Option<String>, u8, OutputFormat, String, Vec<String>) {
        let flags = GlobalFlags::from_matches(m);
        let (name, sub) = m.subcommand().unwrap();
        let args = sub
            .get_many::<OsString>("args")
            .into_iter()
            .flatten()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (
            flags.env,
            flags.verbose,
            flags.output,
            name.to_owned(),
            args,
        )
    }

    /// Manifest text that got past install (linked, or installed before the rule) reaches
    /// no completion script or help page raw, in any shell clap_complete offers.
    #[test]
    fn hostile_about_text_is_neutralised_for_every_shell() {
        use clap::ValueEnum;
        let mut plugin = hello();
        plugin.manifest.commands[0].about =
            "List\u{2018} + $(calc) + \u{201A}\u{201B}\u{1b}]52;c;eA==\u{7}\u{202e}x\n- y".into();
        let plugins = vec![plugin];
        let mut help = Vec::new();
        build_command(&plugins).write_long_help(&mut help).unwrap();
        let mut outputs = vec![("help".to_owned(), String::from_utf8(help).unwrap())];
        for shell in clap_complete::Shell::value_variants() {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut build_command(&plugins), "lmi", &mut out);
            outputs.push((format!("{shell:?}"), String::from_utf8(out).unwrap()));
        }
        for (what, text) in outputs {
            let bad = text.chars().find(|&c| {
                (crate::text::is_unsafe_char(c) && c != '\n' && c != '\t')
                    || crate::text::is_quote_like(c)
            });
            assert_eq!(bad, None, "{what}");
            // bash completes names only; every other output shows the text, made plain.
            assert!(
                what == "Bash" || text.contains("calc"),
                "{what} shows the text: {text}"
            );
        }
    }

    /// A global option the dispatch scan does not know would send every dispatch that uses
    /// it down the slow path.
    #[test]
    fn the_dispatch_scan_knows_every_global_option() {
        let globals = GlobalArgs::augment_args(clap::Command::new("lmi"));
        for arg in globals.get_arguments() {
            let takes_value = arg.get_action().takes_values();
            let mut spellings: Vec<String> = Vec::new();
            if let Some(long) = arg.get_long() {
                spellings.push(format!("--{long}"));
            }
            if let Some(short) = arg.get_short() {
                spellings.push(format!("-{short}"));
            }
            for flag in spellings {
                let mut argv: Vec<OsString> = vec!["lmi".into(), flag.clone().into()];
                if takes_value {
                    argv.push("json".into());
                }
                argv.push("hello".into());
                assert_eq!(dispatch_word(&argv), Some("hello"), "{flag}");
            }
        }
    }

    /// The dispatch parser decides exactly what the full parser decides, and stands aside
    /// for anything else.
    #[test]
    fn the_dispatch_parser_agrees_with_the_full_parser() {
        let plugins = vec![hello()];
        let cases: &[&[&str]] = &[
            &["hello"],
            &["hello", "a", "-b", "--c", "--help", "-V", "--", "d"],
            &["-e", "prod", "hello", "x"],
            &["--env=prod", "-vv", "--output", "json", "hello"],
            &["--verbose", "--output=json", "whoami", "-e", "other"],
            &["hello", "-e", "late", "y"],
        ];
        for case in cases {
            let argv: Vec<OsString> = std::iter::once("lmi")
                .chain(case.iter().copied())
                .map(OsString::from)
                .collect();
            let fast = dispatch_matches(&argv, dispatch_word(&argv), &plugins)
                .unwrap_or_else(|| panic!("{case:?} should take the dispatch parser"));
            let full = build_command(&plugins).try_get_matches_from(&argv).unwrap();
            assert_eq!(outcome(&fast), outcome(&full), "{case:?}");
        }
        for case in [
            &["--help", "hello"][..],
            &["-V"],
            &["plugin", "list"],
            &["hellp"],
            &["-x", "hello"],
            &[],
        ] {
            let argv: Vec<OsString> = std::iter::once("lmi")
                .chain(case.iter().copied())
                .map(OsString::from)
                .collect();
            assert!(
                dispatch_matches(&argv, dispatch_word(&argv), &plugins).is_none(),
                "{case:?}"
            );
        }
    }
}
