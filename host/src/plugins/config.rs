//! A plugin's own settings. The manifest declares each key (`[[config]]`); the value is the
//! user's, set like every other lmi setting under one variable per plugin and key:
//!
//! `LMI_PLUGIN_<PLUGIN>__<KEY>`, the plugin and key names upper-cased with `-` as `_` and
//! two underscores between them (`deploy` / `project-id` → `LMI_PLUGIN_DEPLOY__PROJECT_ID`).
//! The pair is one-to-one, so no plugin can name another's variable: a plugin name holds no
//! `--` when it declares keys (the manifest check), so the first `__` ends the plugin's part,
//! and a key starts with a letter.
//!
//! looked up in the process environment, then the active environment's env file, then the
//! global `.env` (so a value can differ per environment). A secret key's value is registered
//! with the scrubber when it is read.

use std::collections::BTreeMap;

use crate::plugins::manifest::{ConfigKey, Manifest};
use crate::settings::{ConfigError, Settings, Source};

/// The variable holding `key` of `plugin`.
pub fn variable(plugin: &str, key: &str) -> String {
    let up = |s: &str| s.to_ascii_uppercase().replace('-', "_");
    format!("LMI_PLUGIN_{}__{}", up(plugin), up(key))
}

/// One declared key and what the settings hold for it.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub key: ConfigKey,
    pub variable: String,
    /// The value and where it came from; `None` when unset.
    pub found: Option<(String, Source)>,
}

/// Every key `manifest` declares, resolved against `settings`.
pub fn resolve(settings: &Settings, manifest: &Manifest) -> Result<Vec<Resolved>, ConfigError> {
    if manifest.config.is_empty() {
        return Ok(Vec::new());
    }
    let env = match settings.active_env() {
        Some(env) => Some(settings.env_config(env)?),
        None => None,
    };
    let global_path = settings.paths().global_env_file();
    Ok(manifest
        .config
        .iter()
        .map(|key| {
            let variable = variable(&manifest.name, &key.name);
            let found = match &env {
                Some(env) => env.lookup(&variable).map(|(v, s)| (v.to_owned(), s)),
                None => settings
                    .process_var(&variable)
                    .map(|v| (v.to_owned(), Source::Process))
                    .or_else(|| {
                        settings
                            .global_file()
                            .get(&variable)
                            .map(|v| (v.to_owned(), Source::GlobalFile(global_path.clone())))
                    }),
            }
            .filter(|(v, _)| !v.is_empty());
            if let (true, Some((value, _))) = (key.secret, &found) {
                crate::secrets::register_secret(value);
            }
            Resolved {
                key: key.clone(),
                variable,
                found,
            }
        })
        .collect())
}

/// The first required key that is unset, as the error that says where to set it.
pub fn missing_required(settings: &Settings, resolved: &[Resolved]) -> Option<String> {
    let missing = resolved
        .iter()
        .find(|r| r.key.required && r.found.is_none())?;
    let file = match settings.active_env() {
        Some(env) => settings.paths().env_file(env),
        None => settings.paths().global_env_file(),
    };
    Some(format!(
        "the plugin's setting `{}` ({}) is required and not set: add {}=... to {} or the environment",
        missing.key.name,
        crate::text::line(&missing.key.about, 120),
        missing.variable,
        file.display()
    ))
}

/// What `config.get` answers: each declared key and its value, if set.
pub fn values(resolved: &[Resolved]) -> BTreeMap<String, Option<String>> {
    resolved
        .iter()
        .map(|r| (r.key.name.clone(), r.found.as_ref().map(|(v, _)| v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_the_plugin_and_key_upper_cased() {
        assert_eq!(
            variable("deploy", "project-id"),
            "LMI_PLUGIN_DEPLOY__PROJECT_ID"
        );
        assert_eq!(variable("my-tool", "region"), "LMI_PLUGIN_MY_TOOL__REGION");
        // `acme` / `api-key` and `acme-api` / `key` must not share a variable.
        assert_ne!(variable("acme", "api-key"), variable("acme-api", "key"));
    }
}
