//! An environment's policy: who may use it (`LMI_REQUIRE_SSO`, `LMI_SSO_ALLOWED_GROUPS` with
//! `LMI_SSO_GROUPS_CLAIM`) and how carefully (`LMI_PROTECTED`, `LMI_CONFIRM`), read in this
//! one place. The gate that enforces it lives above settings, in the `policy` module.
//!
//! Layers. A company's policy lives in the files it hands out: the env file, else the global
//! file (which so sets it for every environment, and for a command run with none). The
//! process environment may only tighten that policy, never loosen it: `LMI_REQUIRE_SSO=true`
//! there turns SSO on, `LMI_REQUIRE_SSO=false` cannot turn off what a file requires (it is
//! ignored, with a warning); its `LMI_SSO_ALLOWED_GROUPS` narrows the files' list to the
//! groups on both; its `LMI_SSO_GROUPS_CLAIM` counts only when no file names allowed groups
//! (another claim could admit someone the files' claim does not). `LMI_ASSUME_YES` is the
//! user's answer, not policy: the usual order (process, env file, global file).
//!
//! A malformed value is a configuration error naming the key and where it was set, wherever
//! it was set: a security setting is never read as "off" because it could not be read.

use std::collections::BTreeSet;

use super::{ConfigError, EnvConfig, Settings, Source, keys};

/// The claim `LMI_SSO_GROUPS_CLAIM` names when unset.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";
/// Bounds on `LMI_SSO_ALLOWED_GROUPS`: entries, and bytes per group (a captured group longer
/// than this could never match one, see `auth::sso::groups`).
pub const MAX_ALLOWED_GROUPS: usize = 64;
pub const MAX_GROUP_BYTES: usize = 256;
const MAX_CLAIM_CHARS: usize = 128;

/// Which commands of a protected environment ask before they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Confirm {
    /// Those whose manifest entry says `confirm = true`.
    #[default]
    Marked,
    /// Every plugin command.
    All,
}

impl Confirm {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirm::Marked => "marked",
            Confirm::All => "all",
        }
    }
}

/// `LMI_SSO_ALLOWED_GROUPS` with the claim it is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    /// The user must carry one of these (exact, case-sensitive). Empty when the process
    /// environment's list shares no group with the files' list: nobody is admitted.
    pub allowed: Vec<String>,
    pub claim: String,
    /// Where the allowed groups were set (the files' layer when both set them).
    pub source: Source,
}

/// One environment's policy, or with `env: None` the policy of a command run with no
/// environment (the global file's and the process environment's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub env: Option<String>,
    /// Where `LMI_REQUIRE_SSO=true` came from, when SSO is required.
    pub require_sso: Option<Source>,
    pub groups: Option<GroupRule>,
    /// Where `LMI_PROTECTED=true` came from, when the environment is protected.
    pub protected: Option<Source>,
    pub confirm: Confirm,
    /// `LMI_ASSUME_YES`: confirmations are answered yes.
    pub assume_yes: bool,
    /// Process-environment values that would have loosened the files' policy and were
    /// ignored, in words for a warning.
    pub ignored: Vec<String>,
}

impl Policy {
    /// A valid SSO session is needed (`LMI_REQUIRE_SSO`, or groups to check).
    pub fn needs_sso(&self) -> bool {
        self.require_sso.is_some() || self.groups.is_some()
    }

    /// A banner before each plugin command, and confirmations. `LMI_CONFIRM=all` implies it.
    pub fn is_protected(&self) -> bool {
        self.protected.is_some() || self.confirm == Confirm::All
    }

    /// Nothing to enforce.
    pub fn is_empty(&self) -> bool {
        !self.needs_sso() && !self.is_protected()
    }

    /// Whether a command whose manifest entry says `confirm` asks before it runs.
    pub fn asks_before(&self, marked_confirm: bool) -> bool {
        self.is_protected() && (marked_confirm || self.confirm == Confirm::All)
    }

    /// The policy in a few words (`lmi env list`, `lmi auth status`): "none", or e.g.
    /// "SSO required; groups ops or admins (claim `groups`); protected, every command asks".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.needs_sso() {
            parts.push("SSO required".to_owned());
        }
        if let Some(g) = &self.groups {
            parts.push(match g.allowed.as_slice() {
                [] => format!("no group admitted (claim `{}`)", g.claim),
                some => format!("groups {} (claim `{}`)", some.join(" or "), g.claim),
            });
        }
        if self.is_protected() {
            parts.push(match self.confirm {
                Confirm::All => "protected, every command asks first".to_owned(),
                Confirm::Marked => "protected, commands marked confirm ask first".to_owned(),
            });
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join("; ")
        }
    }

    /// The policy as JSON (`lmi env list`, `lmi auth status`).
    pub fn to_json(&self) -> serde_json::Value {
        let from = |s: &Option<Source>| s.as_ref().map(|s| s.to_string());
        serde_json::json!({
            "require_sso": self.needs_sso(),
            "require_sso_from": from(&self.require_sso),
            "allowed_groups": self.groups.as_ref().map(|g| g.allowed.clone()),
            "groups_claim": self.groups.as_ref().map(|g| g.claim.clone()),
            "allowed_groups_from": self.groups.as_ref().map(|g| g.source.to_string()),
            "protected": self.is_protected(),
            "protected_from": from(&self.protected),
            "confirm": self.confirm.as_str(),
            "assume_yes": self.assume_yes,
        })
    }
}

/// A policy key's value in the files' layer (the env file, else the global file) and in the
/// process environment; empty values count as unset, as everywhere.
struct Layers<'a> {
    file: Option<(&'a str, Source)>,
    process: Option<&'a str>,
}

impl Settings {
    /// The policy of `env` (its configuration as read by [`Settings::env_config`]), or with
    /// `None` of a command run without an environment.
    pub fn policy(&self, env: Option<&EnvConfig>) -> Result<Policy, ConfigError> {
        let mut ignored = Vec::new();
        let require_sso = self.tightened_switch(env, keys::REQUIRE_SSO, &mut ignored)?;
        let protected = self.tightened_switch(env, keys::PROTECTED, &mut ignored)?;
        let confirm = self.tightened_confirm(env, &mut ignored)?;
        let groups = self.group_rule(env, &mut ignored)?;
        let assume_yes = match self.layers(env, keys::ASSUME_YES) {
            Layers {
                process: Some(v), ..
            } => switch(keys::ASSUME_YES, v, &Source::Process)?,
            Layers {
                file: Some((v, source)),
                ..
            } => switch(keys::ASSUME_YES, v, &source)?,
            _ => false,
        };
        Ok(Policy {
            env: env.map(|e| e.name().to_owned()),
            require_sso,
            groups,
            protected,
            confirm,
            assume_yes,
            ignored,
        })
    }

    /// The claims a sign-in or refresh keeps from the ID token: the one every environment's
    /// `LMI_SSO_ALLOWED_GROUPS` is checked against (and a command run with none), so the gate
    /// never needs the token. Files that cannot be read are skipped here (the command that
    /// uses one reports it); at most 8 claims.
    pub fn group_claims_to_capture(&self) -> Vec<String> {
        let mut claims = BTreeSet::new();
        let mut add = |policy: Result<Policy, ConfigError>| {
            if let Ok(Policy {
                groups: Some(rule), ..
            }) = policy
            {
                claims.insert(rule.claim);
            }
        };
        add(self.policy(None));
        for env in self.environments().names {
            add(self
                .env_config_quietly(&env)
                .and_then(|config| self.policy(Some(&config))));
        }
        if let Some(env) = self.active_env() {
            add(self
                .env_config_quietly(env)
                .and_then(|config| self.policy(Some(&config))));
        }
        claims.into_iter().take(8).collect()
    }

    fn layers<'a>(&'a self, env: Option<&'a EnvConfig>, key: &str) -> Layers<'a> {
        let set = |v: &&str| !v.is_empty();
        let file = match env {
            Some(env) => env
                .file
                .get(key)
                .filter(set)
                .map(|v| (v, Source::EnvFile(env.file_path.clone())))
                .or_else(|| {
                    env.global
                        .get(key)
                        .filter(set)
                        .map(|v| (v, Source::GlobalFile(env.global_path.clone())))
                }),
            None => self
                .global
                .get(key)
                .filter(set)
                .map(|v| (v, Source::GlobalFile(self.paths.global_env_file()))),
        };
        let process = self.process.get(key).map(String::as_str).filter(set);
        Layers { file, process }
    }

    /// `LMI_REQUIRE_SSO` / `LMI_PROTECTED`: on if either layer says so.
    fn tightened_switch(
        &self,
        env: Option<&EnvConfig>,
        key: &str,
        ignored: &mut Vec<String>,
    ) -> Result<Option<Source>, ConfigError> {
        let Layers { file, process } = self.layers(env, key);
        let file = match file {
            Some((v, source)) => Some((switch(key, v, &source)?, source)),
            None => None,
        };
        let process = match process {
            Some(v) => Some((switch(key, v, &Source::Process)?, v)),
            None => None,
        };
        Ok(match (file, process) {
            (Some((true, source)), process) => {
                if let Some((false, raw)) = process {
                    ignored.push(loosening(key, raw, &source));
                }
                Some(source)
            }
            (_, Some((true, _))) => Some(Source::Process),
            _ => None,
        })
    }

    /// `LMI_CONFIRM`: the stricter of the two layers.
    fn tightened_confirm(
        &self,
        env: Option<&EnvConfig>,
        ignored: &mut Vec<String>,
    ) -> Result<Confirm, ConfigError> {
        let Layers { file, process } = self.layers(env, keys::CONFIRM);
        let file = match file {
            Some((v, source)) => Some((confirm(v, &source)?, source)),
            None => None,
        };
        let process = match process {
            Some(v) => Some((confirm(v, &Source::Process)?, v)),
            None => None,
        };
        if let (Some((f, source)), Some((p, raw))) = (&file, &process)
            && p < f
        {
            ignored.push(loosening(keys::CONFIRM, raw, source));
        }
        let file = file.map(|(c, _)| c).unwrap_or_default();
        let process = process.map(|(c, _)| c).unwrap_or_default();
        Ok(file.max(process))
    }

    /// `LMI_SSO_ALLOWED_GROUPS` and its claim (see the module documentation for the layers).
    fn group_rule(
        &self,
        env: Option<&EnvConfig>,
        ignored: &mut Vec<String>,
    ) -> Result<Option<GroupRule>, ConfigError> {
        let groups = self.layers(env, keys::SSO_ALLOWED_GROUPS);
        let file_groups = match groups.file {
            Some((v, source)) => Some((group_list(v, &source)?, source)),
            None => None,
        };
        let process_groups = match groups.process {
            Some(v) => Some(group_list(v, &Source::Process)?),
            None => None,
        };
        let claims = self.layers(env, keys::SSO_GROUPS_CLAIM);
        let file_claim = match claims.file {
            Some((v, source)) => Some(claim(v, &source)?),
            None => None,
        };
        let process_claim = match claims.process {
            Some(v) => Some(claim(v, &Source::Process)?),
            None => None,
        };
        Ok(match (file_groups, process_groups) {
            (None, None) => None,
            (None, Some(allowed)) => Some(GroupRule {
                allowed,
                claim: process_claim
                    .or(file_claim)
                    .unwrap_or_else(|| DEFAULT_GROUPS_CLAIM.to_owned()),
                source: Source::Process,
            }),
            (Some((file, source)), process) => {
                let claim = file_claim.unwrap_or_else(|| DEFAULT_GROUPS_CLAIM.to_owned());
                if let Some(other) = process_claim.filter(|c| *c != claim) {
                    ignored.push(format!(
                        "{}={other} in the process environment is ignored: {} sets {} (checked against the claim `{claim}`), and the process environment may only tighten a policy",
                        keys::SSO_GROUPS_CLAIM,
                        source,
                        keys::SSO_ALLOWED_GROUPS
                    ));
                }
                let allowed = match process {
                    None => file,
                    Some(narrower) => {
                        let (kept, extra): (Vec<String>, Vec<String>) =
                            narrower.into_iter().partition(|g| file.contains(g));
                        if !extra.is_empty() {
                            ignored.push(format!(
                                "{} in the process environment names {} beyond what {} allows; only groups on both lists are admitted",
                                keys::SSO_ALLOWED_GROUPS,
                                extra.join(", "),
                                source
                            ));
                        }
                        file.into_iter().filter(|g| kept.contains(g)).collect()
                    }
                };
                Some(GroupRule {
                    allowed,
                    claim,
                    source,
                })
            }
        })
    }
}

/// Checks one policy key's value as [`Settings::policy`] reads it, `source` naming where it
/// is to be written; `None` for a key that is not a policy key.
pub(super) fn check_value(
    key: &str,
    raw: &str,
    source: &Source,
) -> Option<Result<(), ConfigError>> {
    Some(match key {
        keys::REQUIRE_SSO | keys::PROTECTED | keys::ASSUME_YES => {
            switch(key, raw, source).map(drop)
        }
        keys::CONFIRM => confirm(raw, source).map(drop),
        keys::SSO_ALLOWED_GROUPS => group_list(raw, source).map(drop),
        keys::SSO_GROUPS_CLAIM => claim(raw, source).map(drop),
        _ => return None,
    })
}

fn invalid(key: &str, source: &Source, reason: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        source_name: source.to_string(),
        reason,
    }
}

/// A value as an error may quote it: policy values are not secrets, but they may hold
/// anything.
fn quoted(raw: &str) -> String {
    crate::text::line(raw, 80)
}

/// `true`/`1` or `false`/`0` (any case); anything else is an error, never "off".
fn switch(key: &str, raw: &str, source: &Source) -> Result<bool, ConfigError> {
    match super::parse_switch(raw) {
        Some(on) => Ok(on),
        None => Err(invalid(
            key,
            source,
            format!(
                "`{}` is not a switch: write true or false (or 1 or 0)",
                quoted(raw)
            ),
        )),
    }
}

fn confirm(raw: &str, source: &Source) -> Result<Confirm, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "marked" => Ok(Confirm::Marked),
        "all" => Ok(Confirm::All),
        _ => Err(invalid(
            keys::CONFIRM,
            source,
            format!(
                "`{}` is not a choice: write all (every plugin command of a protected environment asks first) or marked (the default: only commands whose manifest says confirm = true); there is no setting that skips a confirmation, answer it with --yes or {}=1",
                quoted(raw),
                keys::ASSUME_YES
            ),
        )),
    }
}

/// Comma-separated group names: trimmed, empty entries skipped, at least one; each printable
/// text of at most [`MAX_GROUP_BYTES`] bytes; at most [`MAX_ALLOWED_GROUPS`].
fn group_list(raw: &str, source: &Source) -> Result<Vec<String>, ConfigError> {
    let key = keys::SSO_ALLOWED_GROUPS;
    let mut groups: Vec<String> = Vec::new();
    for group in raw.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        if group.len() > MAX_GROUP_BYTES {
            return Err(invalid(
                key,
                source,
                format!("a group name is longer than {MAX_GROUP_BYTES} bytes"),
            ));
        }
        if let Some(c) = crate::text::first_unsafe(group) {
            return Err(invalid(
                key,
                source,
                format!(
                    "a group name holds the control or formatting character {}",
                    crate::text::codepoint(c)
                ),
            ));
        }
        if !groups.iter().any(|g| g == group) {
            groups.push(group.to_owned());
        }
    }
    if groups.is_empty() {
        return Err(invalid(
            key,
            source,
            "it names no group: list them separated by commas (ops,admins)".to_owned(),
        ));
    }
    if groups.len() > MAX_ALLOWED_GROUPS {
        return Err(invalid(
            key,
            source,
            format!("it names more than {MAX_ALLOWED_GROUPS} groups"),
        ));
    }
    Ok(groups)
}

/// A claim name: printable ASCII without spaces (`groups`, `roles`,
/// `https://example.com/groups`), at most 128 characters.
fn claim(raw: &str, source: &Source) -> Result<String, ConfigError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_CLAIM_CHARS
        || !name.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(
            keys::SSO_GROUPS_CLAIM,
            source,
            format!(
                "`{}` is not a claim name: printable ASCII without spaces, at most {MAX_CLAIM_CHARS} characters",
                quoted(raw)
            ),
        ));
    }
    Ok(name.to_owned())
}

fn loosening(key: &str, raw: &str, source: &Source) -> String {
    format!(
        "{key}={} in the process environment is ignored: it would loosen what {source} sets, and the process environment may only tighten a policy",
        quoted(raw)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    /// Settings with a global file, a `prod` env file and process variables.
    fn policy(global: &str, prod: &str, process: &[(&str, &str)]) -> Result<Policy, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.env_dir()).unwrap();
        std::fs::write(paths.global_env_file(), global).unwrap();
        std::fs::write(paths.env_file("prod"), prod).unwrap();
        let mut settings = Settings::load(paths, Some("prod")).unwrap();
        settings.process = process
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let config = settings.env_config("prod").unwrap();
        settings.policy(Some(&config))
    }

    #[test]
    fn nothing_set_is_no_policy() {
        let p = policy("", "", &[]).unwrap();
        assert!(p.is_empty() && !p.assume_yes, "{p:?}");
        assert_eq!(p.describe(), "none");
    }

    #[test]
    fn the_env_file_wins_over_the_global_file() {
        let p = policy("LMI_REQUIRE_SSO=true\nLMI_PROTECTED=true\n", "", &[]).unwrap();
        assert!(matches!(p.require_sso, Some(Source::GlobalFile(_))));
        assert!(p.is_protected());
        let p = policy("LMI_REQUIRE_SSO=true\n", "LMI_REQUIRE_SSO=false\n", &[]).unwrap();
        assert_eq!(p.require_sso, None);
    }

    #[test]
    fn the_process_environment_tightens_and_never_loosens() {
        let p = policy(
            "",
            "LMI_REQUIRE_SSO=true\nLMI_CONFIRM=all\nLMI_SSO_ALLOWED_GROUPS=ops,admins\n",
            &[
                ("LMI_REQUIRE_SSO", "false"),
                ("LMI_CONFIRM", "marked"),
                ("LMI_SSO_GROUPS_CLAIM", "email"),
                ("LMI_SSO_ALLOWED_GROUPS", "admins,everyone"),
            ],
        )
        .unwrap();
        assert!(matches!(p.require_sso, Some(Source::EnvFile(_))));
        assert_eq!(p.confirm, Confirm::All);
        let g = p.groups.unwrap();
        assert_eq!(
            (g.allowed, g.claim.as_str()),
            (vec!["admins".to_owned()], "groups")
        );
        assert_eq!(p.ignored.len(), 4, "{:?}", p.ignored);
        // Tightening from the process environment applies.
        let p = policy(
            "",
            "",
            &[
                ("LMI_REQUIRE_SSO", "1"),
                ("LMI_PROTECTED", "TRUE"),
                ("LMI_SSO_ALLOWED_GROUPS", "ops"),
                ("LMI_SSO_GROUPS_CLAIM", "roles"),
            ],
        )
        .unwrap();
        assert_eq!(p.require_sso, Some(Source::Process));
        assert!(p.is_protected() && p.ignored.is_empty());
        assert_eq!(p.groups.unwrap().claim, "roles");
    }

    #[test]
    fn malformed_values_name_the_key_and_the_file() {
        for (file, key) in [
            ("LMI_REQUIRE_SSO=\"yes please\"\n", "LMI_REQUIRE_SSO"),
            ("LMI_PROTECTED=on\n", "LMI_PROTECTED"),
            ("LMI_CONFIRM=none\n", "LMI_CONFIRM"),
            ("LMI_ASSUME_YES=sure\n", "LMI_ASSUME_YES"),
            ("LMI_SSO_ALLOWED_GROUPS=,\n", "LMI_SSO_ALLOWED_GROUPS"),
            (
                "LMI_SSO_GROUPS_CLAIM=\"my groups\"\n",
                "LMI_SSO_GROUPS_CLAIM",
            ),
        ] {
            let err = policy("", file, &[]).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("prod.env"), "{err}");
        }
        let err = policy("", "", &[("LMI_REQUIRE_SSO", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("the process environment"), "{err}");
        let err = policy("LMI_SSO_ALLOWED_GROUPS=a\u{1b}[2Jb\n", "", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("U+001B") && !err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn confirm_all_implies_protected_and_marked_commands_ask_only_there() {
        let p = policy("", "LMI_CONFIRM=all\n", &[]).unwrap();
        assert!(p.is_protected() && p.asks_before(false));
        let p = policy("", "LMI_PROTECTED=true\n", &[]).unwrap();
        assert!(p.asks_before(true) && !p.asks_before(false));
        let p = policy("", "", &[]).unwrap();
        assert!(!p.asks_before(true));
    }
}
