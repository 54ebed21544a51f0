//! Configuration: command-line flags > process environment > the env's `.env` file > the
//! global `.env` file > built-in defaults, merged in this one module. The only place that
//! reads process environment variables.
//!
//! OWNER: service-auth helper (issue 3). API agreed with the runtime:
//!   Settings::load(paths, env_flag) -> Result<Settings, ConfigError>
//!   settings.paths(), settings.active_env(), settings.require_env(),
//!   settings.global(key) -> Option<String>
