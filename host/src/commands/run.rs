//! `lmi <plugin-command> [args...]`: the dispatch path. No compilation and no network here
//! unless the plugin asks for a service call: the manifest routes, the SSO gate runs before
//! anything is instantiated, and the component comes from the host-made artifact cache.

use std::process::ExitCode;

use crate::auth::AuthError;
use crate::commands::{CliError, Ctx};
use crate::plugins::store::InstalledPlugin;
use crate::runtime::{self, HostState, Limits};

pub fn run(
    ctx: &Ctx,
    plugin: &InstalledPlugin,
    command: &str,
    args: Vec<String>,
) -> Result<ExitCode, CliError> {
    let spec = plugin.manifest.command(command).ok_or_else(|| {
        CliError::usage(format!(
            "plugin {} does not provide `{command}`",
            plugin.label()
        ))
    })?;
    let limits = Limits {
        // This process runs one plugin and ends: a run stuck in a host write past its
        // deadline may end it (exit 5), and Ctrl-C ends the run (exit 130).
        exit_process_after_deadline: true,
        stop_on_signal: true,
        // The command's declared run time, which `check_grants` below holds to what was
        // granted, capped by LMI_PLUGIN_MAX_TIMEOUT_SECS.
        ..Limits::for_command(&ctx.settings, spec.run_time())?
    };
    // A run gets at most what the user granted at install: a linked plugin's author can edit
    // the manifest at any time. A manifest asking for more is refused; once it is checked to
    // be within the grants, its own (possibly narrower) permissions are what the run gets.
    plugin.check_grants(command)?;
    let granted = plugin.manifest.permissions.clone();
    // The plugin's own settings, before anything is instantiated: a required one unset is a
    // usage error naming the variable and the file it could live in.
    let config = crate::plugins::config::resolve(&ctx.settings, &plugin.manifest)?;
    if let Some(missing) = crate::plugins::config::missing_required(&ctx.settings, &config) {
        return Err(CliError::usage(missing));
    }
    // A token handed in `LMI_ACCESS_TOKEN` whose own `exp` says it has expired would only be
    // refused at the plugin's first use: a plugin that may use it is refused before anything
    // of it is loaded (exit 4), and one ending soon is warned about once (`auth::handed`).
    if (granted.service_token || granted.service_requests)
        && ctx
            .settings
            .active_env()
            .is_some_and(|env| granted.allows_env(env))
    {
        crate::auth::handed::admit(&ctx.settings)?;
    }

    // Directories (`files`, `data`) from the same checked permissions: the one gate.
    // A working directory that holds lmi's own files is withheld, with a warning.
    let preopens = runtime::Preopens::for_run(
        ctx.settings.paths(),
        &plugin.manifest.name,
        &plugin.label(),
        &granted,
    )?;
    for warning in preopens.warnings() {
        crate::output::warn(warning);
    }

    // The environment's policy (LMI_REQUIRE_SSO, LMI_SSO_ALLOWED_GROUPS, LMI_PROTECTED and
    // `confirm`): refused here, before anything is instantiated (`policy`).
    let version = plugin.manifest.version.to_string();
    let admitted = crate::policy::admit(&crate::policy::Request {
        settings: &ctx.settings,
        action: crate::policy::Action::Plugin {
            plugin: (&plugin.manifest.name, &version),
            command,
            args: &args,
            confirm: spec.confirm,
        },
        yes: ctx.yes,
        quiet: ctx.quiet,
    })?;

    let mut sso = None;
    if spec.requires_sso {
        let user = match admitted.user {
            Some(user) => Some(user),
            None => crate::auth::sso::current_user(&ctx.settings)?,
        };
        match user {
            Some(user) => sso = Some(Some(user)),
            None => {
                return Err(AuthError::SsoRequired(format!(
                    "`lmi {command}` (plugin {}) requires an SSO session, and you are not signed in",
                    plugin.label()
                ))
                .into());
            }
        }
    }

    tracing::info!(plugin = %plugin.label(), command, env = ?ctx.settings.active_env(), "dispatch");
    let engine = runtime::engine().map_err(CliError::failure)?;
    let loaded = runtime::load_installed_within(
        &engine,
        ctx.settings.paths(),
        plugin,
        runtime::compile::Bounds::from_settings(&ctx.settings)?,
    )?;
    for warning in &loaded.warnings {
        crate::output::warn(warning);
    }
    let mut host = HostState::new(plugin.label(), granted, ctx.settings.clone())
        .with_preopens(preopens)
        .requires_sso(spec.requires_sso)
        .with_config(crate::plugins::config::values(&config))
        .with_color(ctx.color)
        .with_invocation(runtime::Invocation {
            verbosity: ctx.verbose,
            output: ctx.output,
            name: plugin.manifest.name.clone(),
            version: plugin.manifest.version.to_string(),
        });
    if let Some(user) = sso {
        host = host.with_sso(user);
    }
    let ran = runtime::run_plugin(&engine, &loaded.component, host, limits, command, &args);
    if let Err(runtime::RunError::Interrupted { .. }) = &ran {
        // Work the run started off its thread (a token fetch) may be writing a cache: let
        // that write finish, and start no other, before the process ends.
        crate::fsutil::finish_writes(crate::fsutil::FINISH_WRITES_WAIT);
    }
    let code = ran?;
    tracing::info!(plugin = %plugin.label(), command, exit_code = code, "plugin finished");
    Ok(ExitCode::from(code))
}
