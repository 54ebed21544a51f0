//! `lmi-plugin.toml`: what a plugin is, which commands it adds and what it may do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::{Exit, ExitStatus};

pub const MANIFEST_FILE: &str = "lmi-plugin.toml";
/// The largest manifest lmi reads; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The manifest text of the plugin directory `dir`, read as every plugin file is.
pub fn read_text(dir: &Path) -> std::io::Result<String> {
    let bytes =
        crate::plugins::store::read_plugin_file(dir, Path::new(MANIFEST_FILE), MAX_MANIFEST_BYTES)?;
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text (save it as UTF-8)",
        )
    })
}

/// A TOML error as `line L, column C: <problem>`, without the excerpt of the file the
/// parser adds, and with any quoted string value (`invalid type: string "…"`) left out.
pub fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let mut problem = String::new();
    let mut in_quote = false;
    for c in e.message().trim_end().chars() {
        if c == '"' {
            if in_quote {
                problem.push_str("…\"");
            } else {
                problem.push('"');
            }
            in_quote = !in_quote;
        } else if !in_quote {
            problem.push(c);
        }
    }
    let problem = crate::text::line(&problem.replace('\n', " "), 500);
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {problem}")
        }
        None => problem,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    /// Which host versions the plugin works with.
    pub lmi: semver::VersionReq,
    /// The component file, relative to the manifest.
    pub component: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub commands: Vec<CommandSpec>,
    #[serde(default)]
    pub permissions: Permissions,
    /// The plugin's own settings (`[[config]]`), read by `config.get` (contract 0.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigKey>,
}

/// One setting a plugin declares; its value is the user's (`plugins::config`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    /// Lowercase letters, digits and `-`, starting with a letter (`region`, `project-id`).
    pub name: String,
    pub about: String,
    /// A command refuses to start while the key is unset.
    #[serde(default)]
    pub required: bool,
    /// The value is masked wherever lmi writes and never printed by `lmi plugin config`.
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub name: String,
    pub about: String,
    #[serde(default)]
    pub requires_sso: bool,
    /// In a protected environment (`LMI_PROTECTED`), the command asks on the terminal
    /// before it runs (destructive commands). Not written when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
    /// The command's own subcommands (`tickets list`), for shell completion only: the words
    /// after the command are the plugin's to parse. Not written when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcommands: Vec<SubcommandSpec>,
    /// How long the command may run, in whole seconds, instead of `LMI_PLUGIN_TIMEOUT_SECS`
    /// (at most [`MAX_TIMEOUT_SECS`]). Not written when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_secs"
    )]
    pub timeout_secs: Option<u64>,
    /// `"none"`: the command runs until the user stops it (`logs --follow`). Not written
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The longest `timeout_secs` a command may declare: a week.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// How long a command declares it may run, in increasing order: `timeout_secs`, then
/// `timeout = "none"`. Recorded in the grants as the manifest writes it (a number, or
/// `"none"`), so a later manifest asking for longer asks the user again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunTime {
    Secs(u64),
    UntilStopped,
}

impl RunTime {
    /// What the user is told, after "may run": `up to 1 h`, `until you stop it`.
    pub fn phrase(self) -> String {
        match self {
            RunTime::Secs(secs) => format!("up to {}", duration_phrase(secs)),
            RunTime::UntilStopped => "until you stop it".to_owned(),
        }
    }

    /// As the manifest spells it.
    pub fn manifest_field(self) -> String {
        match self {
            RunTime::Secs(secs) => format!("timeout_secs = {secs}"),
            RunTime::UntilStopped => "timeout = \"none\"".to_owned(),
        }
    }
}

/// `45 s`, `90 min`, `1 h`, `7 d`: the largest unit that divides the time exactly.
pub fn duration_phrase(secs: u64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

impl Serialize for RunTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RunTime::Secs(secs) => s.serialize_u64(*secs),
            RunTime::UntilStopped => s.serialize_str("none"),
        }
    }
}

/// A whole number of seconds or `"none"`, as [`Serialize`] writes it.
impl<'de> Deserialize<'de> for RunTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RunTime;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number of seconds or `none`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RunTime, E> {
                Ok(RunTime::Secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RunTime, E> {
                u64::try_from(v)
                    .map(RunTime::Secs)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RunTime, E> {
                match v {
                    "none" => Ok(RunTime::UntilStopped),
                    other => Err(E::unknown_variant(other, &["none"])),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `timeout_secs`: a parse error says what is wanted in the author's words, not `u64`.
fn whole_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Secs;
    impl serde::de::Visitor<'_> for Secs {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of seconds")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
    }
    d.deserialize_u64(Secs).map(Some)
}

impl CommandSpec {
    /// The run time the command declares, if any (a validated manifest declares at most one).
    pub fn run_time(&self) -> Option<RunTime> {
        match (&self.timeout_secs, self.timeout.as_deref()) {
            (Some(secs), _) => Some(RunTime::Secs(*secs)),
            (None, Some("none")) => Some(RunTime::UntilStopped),
            _ => None,
        }
    }
}

/// A subcommand a plugin command takes, as completion offers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubcommandSpec {
    pub name: String,
    pub about: String,
}

/// Subcommands one command may declare: completion lists them all at once.
pub const MAX_SUBCOMMANDS: usize = 64;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// May read the active environment's raw service access token (`get-token`).
    #[serde(default)]
    pub service_token: bool,
    /// May send authenticated requests to the environment's service (`service-request`).
    #[serde(default)]
    pub service_requests: bool,
    /// Environments in which the two above apply; `"*"` means any.
    #[serde(default)]
    pub environments: Vec<String>,
    /// The environment's named services (`OAUTH_SERVICE_<NAME>_URL`) the two above also
    /// reach, besides its default service (`OAUTH_SERVICE_URL`), which needs no entry;
    /// `"*"` means any (a generic client such as the `api` example). Not written when
    /// empty, so an lmi that predates it still reads other plugins' grant records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// May read the signed-in user's SSO identity (`get-sso-user`: subject, email, name) in
    /// every command. Without it only `requires_sso` commands see the identity; any plugin
    /// may ask whether someone is signed in.
    #[serde(default)]
    pub sso_identity: bool,
    /// The directory lmi runs in, as the plugin's working directory (contract 0.2).
    /// Written only when asked for (here and below), so the records of plugins that do not
    /// ask stay readable by an lmi without these permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FileAccess>,
    /// A directory of the plugin's own that persists between runs, at `/data` (contract
    /// 0.2; `plugins::data`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data: bool,
    /// Origins the plugin may reach with `wasi:http` (contract 0.2), without lmi's
    /// credentials: `scheme://host[:port]`, `*.` for the subdomains of a name (see
    /// [`crate::plugins::origin`]). Written in canonical form once the manifest is parsed.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// What `files` grants in the directory lmi runs in, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileAccess {
    /// Open, read and list; change nothing.
    Read,
    /// Also create, write, truncate, rename, delete and set times.
    ReadWrite,
}

/// Only the two strings: TOML would otherwise also offer a table, and say so for `true`.
impl<'de> Deserialize<'de> for FileAccess {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Level;
        impl serde::de::Visitor<'_> for Level {
            type Value = FileAccess;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`read` or `read-write`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FileAccess, E> {
                match v {
                    "read" => Ok(FileAccess::Read),
                    "read-write" => Ok(FileAccess::ReadWrite),
                    other => Err(E::unknown_variant(other, &["read", "read-write"])),
                }
            }
        }
        d.deserialize_str(Level)
    }
}

impl FileAccess {
    /// As the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileAccess::Read => "read",
            FileAccess::ReadWrite => "read-write",
        }
    }
}

/// What a user grants with each switch, as the install and upgrade prompts say it: the one
/// wording of each permission.
pub fn permission_phrase(key: &str) -> Option<&'static str> {
    match key {
        "service_requests" => Some("send authenticated requests to the service"),
        "service_token" => Some("read the service access token itself"),
        "sso_identity" => Some("see your SSO identity (subject, email, name) in every command"),
        "data" => Some("keep its own data between runs"),
        _ => None,
    }
}

/// The levels of a permission whose value is ordered (`files`), lowest first: asking for a
/// higher one than was granted asks again, a lower one never does.
pub fn permission_levels(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "files" => Some(&["read", "read-write"]),
        _ => None,
    }
}

/// What a user grants with one level of an ordered permission.
pub fn level_phrase(key: &str, level: &str) -> Option<&'static str> {
    match (key, level) {
        ("files", "read") => Some("read files in the directory you run it from"),
        ("files", "read-write") => Some("read and write files in the directory you run it from"),
        _ => None,
    }
}

/// What granting one `allowed_hosts` origin means, as prompts say it. The origin comes from a
/// checked manifest or lmi's own record, and is made terminal-safe all the same.
pub fn reach_phrase(origin: &str) -> String {
    format!(
        "reach {} without your credentials (`allowed_hosts`)",
        crate::text::line(origin, 300)
    )
}

/// Said beside `service_requests` without `service_token`: lmi attaches the token itself, but
/// a service that echoes request headers back would hand it to the plugin, so lmi does not
/// promise more than it can.
pub const ECHO_CAVEAT: &str =
    "lmi attaches the token, so a service that echoes request headers would show it to the plugin";

impl Permissions {
    pub fn allows_env(&self, env: &str) -> bool {
        self.environments.iter().any(|e| e == "*" || e == env)
    }

    pub fn is_empty(&self) -> bool {
        !self.service_token
            && !self.service_requests
            && !self.sso_identity
            && self.files.is_none()
            && !self.data
            && self.allowed_hosts.is_empty()
    }

    /// One line per permission, as shown before install; `data_dir` is where the plugin's
    /// own data would live.
    pub fn describe(&self, data_dir: &Path) -> Vec<String> {
        let envs = if self.environments.iter().any(|e| e == "*") {
            "any environment".to_owned()
        } else {
            format!("environments: {}", self.environments.join(", "))
        };
        let phrase = |key| permission_phrase(key).unwrap_or(key);
        let mut lines = Vec::new();
        if self.service_requests {
            let echo = if self.service_token {
                String::new()
            } else {
                format!("; {ECHO_CAVEAT}")
            };
            lines.push(format!("{} ({envs}){echo}", phrase("service_requests")));
        }
        if self.service_token {
            lines.push(format!("{} ({envs})", phrase("service_token")));
        }
        if (self.service_requests || self.service_token) && !self.services.is_empty() {
            let which = if self.services.iter().any(|s| s == "*") {
                "any of them".to_owned()
            } else {
                let named: Vec<String> = self.services.iter().map(|s| format!("`{s}`")).collect();
                named.join(", ")
            };
            lines.push(format!(
                "do the same with the environment's named services, not only its default one: {which}"
            ));
        }
        if self.sso_identity {
            lines.push(phrase("sso_identity").to_owned());
        }
        if let Some(access) = self.files {
            lines.push(
                level_phrase("files", access.as_str())
                    .unwrap_or("files")
                    .to_owned(),
            );
        }
        if self.data {
            lines.push(format!("{} (in {})", phrase("data"), data_dir.display()));
        }
        lines.extend(self.allowed_hosts.iter().map(|o| reach_phrase(o)));
        lines
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read the manifest: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// Every problem found, in manifest order.
    #[error("{path}: {}", list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// One problem as it is; several as a count and one line each.
fn list(problems: &[String]) -> String {
    match problems {
        [one] => one.clone(),
        many => format!("{} problems:\n  - {}", many.len(), many.join("\n  - ")),
    }
}

impl ExitStatus for ManifestError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
}

impl Manifest {
    /// Reads and validates `<dir>/lmi-plugin.toml`: a regular file inside `dir`, at most
    /// [`MAX_MANIFEST_BYTES`] (see [`crate::plugins::store::read_plugin_file`]).
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = read_text(dir).map_err(|e| ManifestError::Unreadable {
            path: path.clone(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!("no {MANIFEST_FILE} in {}", dir.display())
            } else {
                e.to_string()
            },
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates manifest text; `path` is only used in messages. A syntax error
    /// names the line, column and problem but never quotes the text: the file may not be
    /// what it claims to be, and the error reaches CI logs.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        Self::parse_reserving(text, path, &|_| false)
    }

    /// [`Manifest::parse`], also refusing command names `reserved` claims: lmi's own commands,
    /// which this layer does not know (the command line passes them in at install).
    pub fn parse_reserving(
        text: &str,
        path: &Path,
        reserved: &dyn Fn(&str) -> bool,
    ) -> Result<Self, ManifestError> {
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_owned(),
            message: describe_toml_error(&e, text),
        })?;
        manifest
            .validate(reserved)
            .map_err(|problems| ManifestError::Invalid {
                path: path.to_owned(),
                problems,
            })?;
        manifest.permissions.allowed_hosts = canonical_hosts(&manifest.permissions.allowed_hosts);
        Ok(manifest)
    }

    /// Every rule the manifest breaks, not just the first, so one `validate` shows them all.
    fn validate(&self, reserved: &dyn Fn(&str) -> bool) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !is_name(&self.name) {
            problems.push(format!(
                "plugin name `{}` is invalid: use lowercase letters, digits and `-`, starting with a letter (at most 64)",
                self.name
            ));
        }
        if self.commands.is_empty() {
            problems.push(
                "the plugin declares no commands: add at least one [[commands]] table".into(),
            );
        }
        let mut seen = BTreeSet::new();
        for c in &self.commands {
            if !is_name(&c.name) {
                problems.push(format!(
                    "command name `{}` is invalid: use lowercase letters, digits and `-`, starting with a letter",
                    c.name
                ));
            }
            if reserved(&c.name) {
                problems.push(format!(
                    "command `{}` clashes with the built-in `lmi {}`: rename it",
                    c.name, c.name
                ));
            }
            if !seen.insert(c.name.as_str()) {
                problems.push(format!("command `{}` is declared twice", c.name));
            }
            if c.about.trim().is_empty() {
                problems.push(format!(
                    "command `{}` has an empty `about`: say in a few words what it does",
                    c.name
                ));
            }
            problems.extend(check_text(&format!("command `{}`: `about`", c.name), &c.about).err());
            problems.extend(check_subcommands(c));
            problems.extend(check_run_time(c));
        }
        if !self.config.is_empty() && self.name.contains("--") {
            problems.push(format!(
                "plugin `{}` declares [[config]] keys, which a name holding `--` cannot: its variables (LMI_PLUGIN_<PLUGIN>__<KEY>) could be another plugin's; rename it",
                self.name
            ));
        }
        let mut keys = BTreeSet::new();
        for k in &self.config {
            if !is_name(&k.name) {
                problems.push(format!(
                    "config key `{}` is invalid: use lowercase letters, digits and `-`, starting with a letter",
                    crate::text::line(&k.name, 80)
                ));
            }
            if !keys.insert(k.name.as_str()) {
                problems.push(format!("config key `{}` is declared twice", k.name));
            }
            if k.about.trim().is_empty() {
                problems.push(format!(
                    "config key `{}` has an empty `about`: say what the setting is for",
                    k.name
                ));
            }
            problems
                .extend(check_text(&format!("config key `{}`: `about`", k.name), &k.about).err());
        }
        if let Some(description) = &self.description {
            problems.extend(check_text("`description`", description).err());
        }
        if self.component.is_absolute()
            || self
                .component
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            problems.push(format!(
                "component `{}` must be a path inside the plugin directory (relative, no `..`)",
                self.component.display()
            ));
        }
        let p = &self.permissions;
        if (p.service_token || p.service_requests) && p.environments.is_empty() {
            problems.push("permissions: `environments` must list the environments the plugin may use (or [\"*\"] for any) when it asks for service_token or service_requests".into());
        }
        let asks_service = p.service_token || p.service_requests;
        if !asks_service && !p.services.is_empty() {
            problems.push("permissions: `services` names services, but the plugin asks for neither service_requests nor service_token, which they are used with".into());
        }
        let mut services = BTreeSet::new();
        for service in &p.services {
            if service != "*" && !is_name(service) {
                problems.push(format!(
                    "permissions: service `{}` is invalid: use lowercase letters, digits and `-`, starting with a letter (the env file names it OAUTH_SERVICE_<NAME>_URL), or \"*\" for any",
                    crate::text::line(service, 80)
                ));
            } else if !services.insert(service.as_str()) {
                problems.push(format!("permissions: service `{service}` is listed twice"));
            }
        }
        for env in &p.environments {
            if env != "*" && crate::settings::validate_env_name(env).is_err() {
                problems.push(format!(
                    "permissions: `{env}` is not a valid environment name"
                ));
            }
        }
        let mut origins = BTreeSet::new();
        for entry in &p.allowed_hosts {
            match crate::plugins::origin::AllowedHost::parse(entry) {
                Ok(origin) => {
                    if !origins.insert(origin.to_string()) {
                        problems.push(format!("permissions: `allowed_hosts` lists {origin} twice"));
                    }
                }
                Err(why) => problems.push(format!("permissions: `allowed_hosts`: {why}")),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// What installing the plugin grants, one line each, as shown before install and by
    /// `validate`: its permissions, and which commands see the SSO identity.
    pub fn grants(&self, paths: &crate::paths::Paths) -> Vec<String> {
        let mut lines = self
            .permissions
            .describe(&crate::plugins::data::dir(paths, &self.name));
        let sso: Vec<_> = self
            .commands
            .iter()
            .filter(|c| c.requires_sso)
            .map(|c| c.name.as_str())
            .collect();
        if !sso.is_empty() {
            lines.push(format!(
                "see your SSO identity (subject, email, name) in: {}",
                sso.join(", ")
            ));
        }
        lines.extend(self.commands.iter().filter_map(|c| {
            c.run_time()
                .map(|t| format!("`lmi {}` may run {}", c.name, t.phrase()))
        }));
        lines
    }

    pub fn command(&self, name: &str) -> Option<&CommandSpec> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Whether this host satisfies the plugin's `lmi` requirement.
    pub fn host_compatible(&self) -> Result<(), String> {
        let host = host_version();
        if self.lmi.matches(&host) {
            Ok(())
        } else {
            Err(format!(
                "plugin {} {} requires lmi {}, but this is lmi {host}: install a plugin version built for this lmi or upgrade lmi",
                self.name, self.version, self.lmi
            ))
        }
    }
}

/// `allowed_hosts` in canonical form (every entry parses: the manifest was validated).
fn canonical_hosts(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            crate::plugins::origin::AllowedHost::parse(e)
                .map_or_else(|_| e.clone(), |o| o.to_string())
        })
        .collect()
}

pub fn host_version() -> semver::Version {
    semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver")
}

/// What is wrong with a command's `subcommands`: names as command names, each once, a
/// bounded number, an `about` like a command's.
fn check_subcommands(c: &CommandSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if c.subcommands.len() > MAX_SUBCOMMANDS {
        problems.push(format!(
            "command `{}` declares {} subcommands: at most {MAX_SUBCOMMANDS}",
            c.name,
            c.subcommands.len()
        ));
        return problems;
    }
    let mut seen = BTreeSet::new();
    for sub in &c.subcommands {
        let what = format!(
            "command `{}`: subcommand `{}`",
            c.name,
            crate::text::line(&sub.name, 80)
        );
        if !is_name(&sub.name) {
            problems.push(format!(
                "{what} is invalid: use lowercase letters, digits and `-`, starting with a letter"
            ));
        } else if !seen.insert(sub.name.as_str()) {
            problems.push(format!("{what} is declared twice"));
        }
        if sub.about.trim().is_empty() {
            problems.push(format!(
                "{what} has an empty `about`: say in a few words what it does"
            ));
        }
        problems.extend(check_text(&format!("{what}: `about`"), &sub.about).err());
    }
    problems
}

/// What is wrong with a command's declared run time: one of `timeout_secs` (1 to
/// [`MAX_TIMEOUT_SECS`]) and `timeout = "none"`, never both.
fn check_run_time(c: &CommandSpec) -> Option<String> {
    let name = &c.name;
    match (c.timeout_secs, c.timeout.as_deref()) {
        (Some(_), Some(_)) => Some(format!(
            "command `{name}` declares both `timeout_secs` and `timeout`: keep one (`timeout_secs = N` for a bound, `timeout = \"none\"` to run until stopped)"
        )),
        (Some(0), None) => Some(format!(
            "command `{name}`: `timeout_secs` must be at least 1 (to run until stopped, write `timeout = \"none\"`)"
        )),
        (Some(secs), None) if secs > MAX_TIMEOUT_SECS => Some(format!(
            "command `{name}`: `timeout_secs` is {secs}, more than the {MAX_TIMEOUT_SECS} (7 days) a command may declare; use `timeout = \"none\"` for a command that runs until stopped"
        )),
        (None, Some(other)) if other != "none" => Some(format!(
            "command `{name}`: `timeout` is `{}`, but its only value is \"none\" (runs until you stop it); for a bound use `timeout_secs = N`",
            crate::text::line(other, 40)
        )),
        _ => None,
    }
}

/// Manifest text reaches terminals (`--help`, `plugin info`) and shell completion scripts,
/// so it is plain printable text: no control characters (C0, C1: escape sequences), no
/// bidirectional or invisible formatting, and no typographic quotes, which PowerShell reads
/// as string delimiters.
fn check_text(field: &str, text: &str) -> Result<(), String> {
    let bad = text
        .chars()
        .find(|&c| crate::text::is_unsafe_char(c) || crate::text::is_quote_like(c));
    match bad {
        None => Ok(()),
        Some(c) => Err(format!(
            "{field} contains {}, which manifest text may not hold (control, invisible, bidirectional or typographic-quote characters): use plain text, and ASCII quotes",
            crate::text::codepoint(c)
        )),
    }
}

/// A plugin or command name: lowercase letters, digits and `-`, starting with a letter, at
/// most 64 bytes (so also safe as a file name and in any shell).
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
