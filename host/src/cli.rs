//! The command line: one clap parser for lmi's own commands, where any other word is an
//! external subcommand that the installed plugins' route index sends to its plugin (no wasm is
//! read to route); and the mapping of errors to exit codes and hints.
//!
//! Only help, version, unknown commands and parse errors build the whole command with every
//! plugin's commands merged in: reading every manifest costs more than some plugins take to run.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser};

use crate::commands::{self, Builtin, CliError, Ctx};
use crate::output::{self, ColorChoice, OutputFormat};
use crate::paths::Paths;
use crate::plugins::store::{InstalledPlugin, Store, contested, route};
use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "lmi",
    about = "Run platform plugins in a sandbox, with your SSO session and per-environment service tokens",
    version,
    disable_version_flag = true,
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 4 authentication required or failed, 5 plugin crashed or hit a limit; a plugin's own code passes through."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Print the version of lmi, the plugin contracts it runs, and each installed plugin's.
    #[arg(short = 'V', long = "version", action = ArgAction::Version)]
    version: Option<bool>,

    /// lmi's own commands. Any other word is taken as an external subcommand (see [`parse`]).
    #[command(subcommand)]
    pub command: Builtin,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    Builtin(GlobalArgs, Builtin),
    /// A plugin command: its name, then every word after it, untouched.
    Plugin(GlobalArgs, Vec<OsString>),
}

/// Parses `argv` with clap's external subcommands: lmi's options, then a built-in, or any
/// other word, which with every word after it is the plugin's. Help, version and errors
/// come back as clap's error, for the caller to report with the plugins' commands in view.
pub fn parse(argv: &[OsString]) -> Result<Invocation, clap::Error> {
    // A plugin command parses against lmi's options alone: building every built-in's parser
    // would add about a third to what routing costs (measured with callgrind). Built-ins,
    // help, version and errors take the whole definition below.
    let options = GlobalArgs::augment_args(clap::Command::new("lmi"))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .allow_external_subcommands(true);
    if let Ok(matches) = options.try_get_matches_from(argv)
        && let Some((name, words)) = matches.subcommand()
    {
        if !commands::is_builtin(name) {
            return Ok(Invocation::Plugin(
                GlobalArgs::from_arg_matches(&matches)?,
                external_words(name, words),
            ));
        }
        // `lmi help <plugin-command> [words]` is the plugin's own help:
        // `lmi <plugin-command> [words] --help`.
        let words = external_words(name, words);
        if name == "help"
            && let Some(command) = words.get(1).and_then(|w| w.to_str())
            && !commands::is_builtin(command)
            && !command.starts_with('-')
        {
            let mut words = words[1..].to_vec();
            words.push("--help".into());
            return Ok(Invocation::Plugin(
                GlobalArgs::from_arg_matches(&matches)?,
                words,
            ));
        }
    }
    let matches = lmi_command()
        .allow_external_subcommands(true)
        .try_get_matches_from(argv)?;
    match matches.subcommand() {
        Some((name, words)) if !commands::is_builtin(name) => {
            let global = GlobalArgs::from_arg_matches(&matches)?;
            let words = external_words(name, words);
            Ok(Invocation::Plugin(global, words))
        }
        _ => {
            let cli = Cli::from_arg_matches(&matches)?;
            Ok(Invocation::Builtin(cli.global, cli.command))
        }
    }
}

/// The options every command takes.
#[derive(Debug, Clone, clap::Args)]
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

    /// Whether plugins may colour their output (`auto`: NO_COLOR, CLICOLOR_FORCE, TERM=dumb,
    /// else whether stdout is a terminal).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Answer yes to every confirmation: a protected environment's (also LMI_ASSUME_YES=1),
    /// `plugin install`'s, `env remove`'s and `env secure`'s.
    #[arg(short = 'y', long = "yes", global = true)]
    pub yes: bool,

    /// No banner before a plugin command in a protected environment.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
}

/// The process entry point: parse, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let argv = as_docker_helper(std::env::args_os().collect());
    if argv
        .get(1)
        .is_some_and(|a| a == crate::runtime::compile::CHILD_ARG)
    {
        return crate::runtime::compile::child_main(&argv[2..]);
    }
    if let Some(code) = commands::completions::answer_if_asked(&argv, || {
        let plugins = Paths::from_env()
            .map(|paths| Store::new(&paths).list().0)
            .unwrap_or_default();
        build_command(&plugins)
    }) {
        return code;
    }
    crate::runtime::compile::compile_in_child_processes();
    match run(argv) {
        Ok(code) => code,
        Err(err) => {
            // Messages may quote an identity provider's answer or a manifest's line: scrub
            // known secrets from them as from the log, and let no escape sequence through.
            output::note(format_args!(
                "error: {}",
                crate::text::block(&crate::logging::scrub(&err.to_string()), 40, 2000)
            ));
            if let Some(hint) = err.hint {
                output::note(format_args!("hint: {hint}"));
            }
            err.exit.into()
        }
    }
}

/// Run as `docker-credential-lmi` (a link to lmi, the name docker runs for
/// `"credHelpers": {"HOST": "lmi"}`), lmi is `lmi credential docker`.
fn as_docker_helper(mut argv: Vec<OsString>) -> Vec<OsString> {
    let called = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_stem())
        .is_some_and(|stem| stem == "docker-credential-lmi");
    if called {
        argv.splice(0..1, ["lmi", "credential", "docker"].map(OsString::from));
    }
    argv
}

/// An external subcommand's name and words, as clap hands them over.
fn external_words(name: &str, words: &clap::ArgMatches) -> Vec<OsString> {
    std::iter::once(OsString::from(name))
        .chain(
            words
                .get_many::<OsString>("")
                .into_iter()
                .flatten()
                .cloned(),
        )
        .collect()
}

fn run(argv: Vec<OsString>) -> Result<ExitCode, CliError> {
    let paths = Paths::from_env()?;
    let store = Store::new(&paths);
    let invocation = match parse(&argv) {
        Ok(invocation) => invocation,
        // Help, version and errors: the whole command, plugins included, says it.
        Err(refused) => {
            let (plugins, _) = store.list();
            match build_command(&plugins).try_get_matches_from(&argv) {
                Err(e) => e.exit(),
                Ok(_) => refused.exit(),
            }
        }
    };
    match invocation {
        Invocation::Builtin(global, command) => {
            let (plugins, problems) = if command.needs_plugins() {
                store.list()
            } else {
                Default::default()
            };
            for problem in problems {
                output::warn(problem);
            }
            let ctx = into_ctx(&global, paths, plugins)?;
            command.run(&ctx)
        }
        Invocation::Plugin(global, words) => dispatch(&argv, &global, words, paths, &store),
    }
}

/// A plugin command: the store's route index names its plugin, so only that manifest is
/// read. A word the index does not know takes the full path, which also explains errors.
fn dispatch(
    argv: &[OsString],
    global: &GlobalArgs,
    words: Vec<OsString>,
    paths: Paths,
    store: &Store,
) -> Result<ExitCode, CliError> {
    let mut words = words.into_iter();
    let name = words.next().unwrap_or_default();
    let name = name.to_str().unwrap_or_default().to_owned();
    let args: Vec<String> = words.map(|a| a.to_string_lossy().into_owned()).collect();
    if let Some(plugin) = store.route(&name) {
        let ctx = into_ctx(global, paths, vec![plugin.clone()])?;
        return commands::run::run(&ctx, &plugin, &name, args);
    }

    let (plugins, problems) = store.list();
    let Some(plugin) = route(&plugins, &name).cloned() else {
        return Err(unknown_command(argv, &name, &plugins, &problems, store));
    };
    for contested in contested(&plugins) {
        output::warn(contested);
    }
    // The route index did not know this command: make it do so next time.
    store.refresh_routes();
    let ctx = into_ctx(global, paths, plugins)?;
    commands::run::run(&ctx, &plugin, &name, args)
}

/// No loaded plugin provides `name`. A command whose owner does not load stays the owner's:
/// say so (exit 2) rather than call it unknown or let another plugin have it. Otherwise say
/// why plugins failed to load, then let clap call the word unknown (with suggestions).
fn unknown_command(
    argv: &[OsString],
    name: &str,
    plugins: &[InstalledPlugin],
    problems: &[String],
    store: &Store,
) -> CliError {
    if let Some(owner) = store
        .owners()
        .remove(name)
        .filter(|o| !plugins.iter().any(|p| &p.manifest.name == o))
    {
        let why = problems
            .iter()
            .find(|p| p.contains(&format!("plugin `{owner}`:")))
            .cloned()
            .unwrap_or_default();
        return CliError::usage(format!(
            "`{name}` belongs to plugin `{owner}`, which does not load ({why}); fix its manifest, reinstall it, or run `lmi plugin remove {owner}`"
        ));
    }
    for problem in problems {
        output::warn(problem);
    }
    match build_command(plugins).try_get_matches_from(argv) {
        // An unknown word in the command's place: say that no plugin provides it (it may have
        // been removed), with clap's suggestion of a close command if there is one.
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            use clap::error::{ContextKind, ContextValue};
            let close = match e.get(ContextKind::SuggestedSubcommand) {
                Some(ContextValue::String(s)) => vec![s.clone()],
                Some(ContextValue::Strings(s)) => s.clone(),
                _ => Vec::new(),
            };
            let suggestion = match close.as_slice() {
                [] => String::new(),
                some => format!(
                    "; did you mean {}?",
                    some.iter()
                        .map(|c| format!("`lmi {c}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            };
            let mut error = CliError::usage(format!(
                "`{}` is not an lmi command, and no installed plugin provides it{suggestion}",
                crate::text::line(name, 80)
            ));
            error.hint =
                Some("`lmi plugin list` shows the installed plugins, `lmi --help` every command");
            error
        }
        Err(e) => e.exit(),
        Ok(_) => CliError::usage(format!("no installed plugin provides `{name}`")),
    }
}

fn into_ctx(
    global: &GlobalArgs,
    paths: Paths,
    plugins: Vec<InstalledPlugin>,
) -> Result<Ctx, CliError> {
    let settings = Settings::load(paths, global.env.as_deref())?;
    crate::logging::init(&settings.log_options(global.verbose));
    Ok(Ctx {
        settings,
        output: global.output,
        color: global.color,
        verbose: global.verbose,
        yes: global.yes,
        quiet: global.quiet,
        plugins,
    })
}

/// The whole command, for help, completions and errors: built-ins from the derive, then one
/// subcommand per plugin command. It takes no external subcommand, so an unknown word is an
/// error with suggestions.
pub fn build_command(plugins: &[InstalledPlugin]) -> clap::Command {
    let mut version = format!(
        "{} ({})",
        env!("CARGO_PKG_VERSION"),
        crate::runtime::bindings::Contract::accepted()
    );
    for p in plugins {
        version.push_str(&format!(
            "\n  plugin {} {}",
            p.manifest.name, p.manifest.version
        ));
    }
    let mut cmd = with_options_on_built_ins_only(lmi_command()).version(version);
    for plugin in plugins {
        for c in &plugin.manifest.commands {
            // A command another plugin owns is listed once, under its owner; a built-in's
            // name (in a manifest linked before lmi took it) stays lmi's.
            if route(plugins, &c.name).is_some_and(|p| p.manifest.name == plugin.manifest.name)
                && !commands::is_builtin(&c.name)
            {
                cmd = cmd.subcommand(plugin_subcommand(plugin, c));
            }
        }
    }
    cmd
}

/// lmi's own command line: [`Cli`], with the global options that mean nothing to a built-in
/// hidden from its help and completions (still accepted there, as everywhere).
fn lmi_command() -> clap::Command {
    hide_unused_globals(Cli::command())
}

/// Which of lmi's global options (by id) mean nothing to which built-in. `--color` only
/// reaches plugins (`terminal.info`); `--env` means nothing where no environment is read.
/// `-v` (the log) and `--output` apply everywhere.
/// `--yes` and `--quiet` concern plugin commands (and `plugin install`, which has its own
/// `--yes`, so gets no copy: two options of one id in one command are an error).
const UNUSED_GLOBALS: &[(&[&str], &[&str])] = &[
    (&["plugin", "new"], &["env", "color", "yes", "quiet"]),
    (&["plugin", "install"], &["env", "color", "quiet"]),
    (&["plugin", "list"], &["env", "color", "yes", "quiet"]),
    (&["plugin", "info"], &["env", "color", "yes", "quiet"]),
    (&["plugin", "remove"], &["env", "color", "yes", "quiet"]),
    (&["plugin", "validate"], &["env", "color", "yes", "quiet"]),
    (&["completions"], &["env", "color", "yes", "quiet"]),
    (&["login"], &["color", "yes", "quiet"]),
    (&["logout"], &["color", "yes", "quiet"]),
    (&["auth"], &["color", "yes", "quiet"]),
    (&["plugin"], &["color", "yes", "quiet"]),
    (&["env"], &["color", "quiet"]),
    (&["env", "list"], &["yes"]),
    (&["env", "add"], &["env", "yes"]),
    (&["env", "show"], &["env", "yes"]),
    (&["env", "remove"], &["env"]),
    (&["config"], &["color", "yes", "quiet"]),
    (&["setup"], &["env", "color", "yes", "quiet"]),
    (&["doctor"], &["color", "yes", "quiet"]),
    (&["credential"], &["color", "yes", "quiet"]),
];

/// Gives each built-in of [`UNUSED_GLOBALS`] hidden copies of the global options it does
/// not use: clap propagates a global option only to subcommands without an option of that
/// id, and a value given there still reaches lmi (same id, same parser).
fn hide_unused_globals(mut cmd: clap::Command) -> clap::Command {
    let globals = GlobalArgs::augment_args(clap::Command::new("lmi"));
    for (path, ids) in UNUSED_GLOBALS {
        let hidden: Vec<clap::Arg> = globals
            .get_arguments()
            .filter(|a| ids.contains(&a.get_id().as_str()))
            .map(|a| {
                let hidden = a.clone().global(true).hide(true);
                // Still completes its values where it is typed (`lmi plugin list -e s<TAB>`).
                if a.get_id() == "env" {
                    hidden.add(commands::completions::environments())
                } else {
                    hidden
                }
            })
            .collect();
        cmd = at_path(cmd, path, &mut |sub| sub.args(hidden.clone()));
    }
    cmd
}

/// `cmd` with `f` applied to the subcommand at `path` (`cmd` itself for an empty path).
fn at_path(
    cmd: clap::Command,
    path: &[&str],
    f: &mut dyn FnMut(clap::Command) -> clap::Command,
) -> clap::Command {
    match path.split_first() {
        None => f(cmd),
        Some((first, rest)) => cmd.mut_subcommand(*first, |sub| at_path(sub, rest, f)),
    }
}

/// lmi's options are `global` so that built-ins take them anywhere (`lmi plugin list
/// --output json`); a plugin command must not, as every word after it is the plugin's. clap
/// copies a global option into every subcommand, so here each built-in carries them itself
/// (and passes them down its own subcommands) while plugin commands get none; `-e` also
/// completes environment names.
fn with_options_on_built_ins_only(cmd: clap::Command) -> clap::Command {
    let options: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| {
            if a.get_id() == "env" {
                a.clone().add(commands::completions::environments())
            } else {
                a.clone()
            }
        })
        .collect();
    let ids: Vec<String> = options.iter().map(|a| a.get_id().to_string()).collect();
    let mut cmd = cmd.mut_args(|a| {
        if ids.iter().any(|id| a.get_id() == id) {
            a.global(false)
        } else {
            a
        }
    });
    for option in &options {
        cmd = cmd.mut_arg(option.get_id(), |_| option.clone().global(false));
    }
    // A built-in that hides an option it does not use (`lmi_command`) keeps its own copy.
    cmd.mut_subcommands(|sub| {
        let missing: Vec<clap::Arg> = options
            .iter()
            .filter(|o| !sub.get_arguments().any(|a| a.get_id() == o.get_id()))
            .cloned()
            .collect();
        sub.args(missing)
    })
    .mut_subcommand("env", |env| {
        ["show", "remove"].into_iter().fold(env, |env, verb| {
            env.mut_subcommand(verb, |c| {
                c.mut_arg("name", |a| a.add(commands::completions::environments()))
            })
        })
    })
    .mut_subcommand("plugin", |plugin| {
        ["info", "config", "remove"]
            .into_iter()
            .fold(plugin, |plugin, verb| {
                plugin.mut_subcommand(verb, |c| {
                    c.mut_arg("name", |a| a.add(commands::completions::plugin_names()))
                })
            })
    })
}

/// One plugin command, as help and completion show it: its words go to the plugin, and
/// completion offers the subcommands its manifest declares.
fn plugin_subcommand(
    plugin: &InstalledPlugin,
    c: &crate::plugins::manifest::CommandSpec,
) -> clap::Command {
    let mut about = crate::text::shell_safe_line(&c.about, 200);
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
        .disable_help_subcommand(true)
        .subcommands(c.subcommands.iter().map(|sub| {
            clap::Command::new(sub.name.clone())
                .about(crate::text::shell_safe_line(&sub.about, 200))
                .disable_help_flag(true)
                .disable_version_flag(true)
        }))
        .arg(
            clap::Arg::new("args")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_parser(clap::value_parser!(OsString)),
        )
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
                registry: None,
                sha256: String::new(),
                source: PathBuf::new(),
                linked: false,
                installed_at: 0,
                signature: None,
            },
            grants: Default::default(),
        }
    }

    /// What a parse decided: the global flags, the plugin command and its words.
    fn plugin_call(argv: &[&str]) -> (Option<String>, u8, OutputFormat, Vec<String>) {
        let argv: Vec<OsString> = std::iter::once("lmi")
            .chain(argv.iter().copied())
            .map(OsString::from)
            .collect();
        let parsed = parse(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let Invocation::Plugin(global, words) = parsed else {
            panic!("{argv:?} parsed as a built-in");
        };
        let words = words
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        (global.env, global.verbose, global.output, words)
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

    /// lmi's options go before the command word; every word after it is the plugin's, even
    /// one that looks like lmi's own option.
    #[test]
    fn global_options_come_before_the_plugin_command_and_the_rest_is_the_plugins() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            plugin_call(&["hello"]),
            (None, 0, OutputFormat::Text, words(&["hello"]))
        );
        assert_eq!(
            plugin_call(&["--env", "prod", "hello", "--x"]),
            (
                Some("prod".into()),
                0,
                OutputFormat::Text,
                words(&["hello", "--x"])
            )
        );
        assert_eq!(
            plugin_call(&["-eprod", "-vv", "--output=json", "hello", "a"]),
            (
                Some("prod".into()),
                2,
                OutputFormat::Json,
                words(&["hello", "a"])
            )
        );
        assert_eq!(
            plugin_call(&["--env=prod", "--verbose", "--output", "json", "whoami"]),
            (
                Some("prod".into()),
                1,
                OutputFormat::Json,
                words(&["whoami"])
            )
        );
        // `lmi help <command> [words]` asks the plugin for its help.
        assert_eq!(
            plugin_call(&["-e", "prod", "help", "hello", "sub"]),
            (
                Some("prod".into()),
                0,
                OutputFormat::Text,
                words(&["hello", "sub", "--help"])
            )
        );
        assert_eq!(
            plugin_call(&["hello", "-e", "late", "--help", "-V", "--", "--output", "d"]),
            (
                None,
                0,
                OutputFormat::Text,
                words(&["hello", "-e", "late", "--help", "-V", "--", "--output", "d"])
            )
        );
    }

    /// Built-in names parse as built-ins; help, version and unknown options are left to the
    /// whole command (the parse fails, and `run` asks `build_command`).
    #[test]
    fn built_ins_parse_as_built_ins() {
        let parse = |argv: &[&str]| {
            let argv: Vec<OsString> = std::iter::once("lmi")
                .chain(argv.iter().copied())
                .map(OsString::from)
                .collect();
            parse(&argv)
        };
        assert!(matches!(
            parse(&["-e", "prod", "plugin", "list"]).unwrap(),
            Invocation::Builtin(_, Builtin::Plugin(_))
        ));
        for refused in [
            &["--help"][..],
            &["-V"],
            &[],
            &["-x", "hello"],
            &["help"],
            &["help", "plugin"],
            &["help", "-e"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    /// A built-in's help lists only the global options that mean something there, at every
    /// level; the others are still accepted (and reach lmi).
    #[test]
    fn built_ins_hide_the_global_options_they_do_not_use() {
        let mut cmd = build_command(&[]);
        cmd.build();
        let mut help = |path: &[&str]| {
            let mut sub = &mut cmd;
            for name in path {
                sub = sub.find_subcommand_mut(name).expect(name);
            }
            sub.render_long_help().to_string()
        };
        let new = help(&["plugin", "new"]);
        for shown in ["--output", "--verbose", "--sdk-git", "--description"] {
            assert!(new.contains(shown), "{shown}: {new}");
        }
        for hidden in ["--env", "--color"] {
            assert!(!new.contains(hidden), "{hidden}: {new}");
        }
        let token = help(&["auth", "token"]);
        assert!(
            token.contains("--env") && !token.contains("--color"),
            "{token}"
        );
        let config = help(&["plugin", "config"]);
        assert!(
            config.contains("--env") && !config.contains("--color"),
            "{config}"
        );
        let root = help(&[]);
        assert!(root.contains("--env") && root.contains("--color"), "{root}");

        let argv = |words: &[&str]| -> Vec<OsString> {
            std::iter::once("lmi")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect()
        };
        let Ok(Invocation::Builtin(global, _)) = parse(&argv(&[
            "plugin", "new", "x", "--color", "never", "-e", "dev",
        ])) else {
            panic!("hidden options are still accepted");
        };
        assert_eq!(
            (global.color, global.env.as_deref()),
            (ColorChoice::Never, Some("dev"))
        );
    }

    /// The whole command (help, completions) lists plugin commands beside the built-ins,
    /// never in place of one.
    #[test]
    fn the_whole_command_keeps_built_in_names_for_lmi() {
        let mut plugin = hello();
        plugin.manifest.commands[0].name = "login".into();
        plugin.grants.commands.push("login".into());
        let cmd = build_command(&[plugin]);
        let logins = cmd.get_subcommands().filter(|c| c.get_name() == "login");
        assert_eq!(logins.count(), 1);
        cmd.debug_assert();
    }
}
