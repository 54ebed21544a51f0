//! What an install recorded: where the plugin came from (`install.toml`) and what the user
//! granted it (`grants.toml`), and what a manifest asks for beyond that, item by item: one
//! comparison serves the run-time check and the consent an upgrade asks for.

use std::fmt;

use super::*;
use crate::plugins::signature::SignatureRecord;

/// How a plugin came to be installed; written by lmi, read on every dispatch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstallRecord {
    /// sha256 of the component, hex: the key of its compiled artifact.
    pub sha256: String,
    /// The directory it was installed from.
    pub source: PathBuf,
    /// Linked in place: the manifest and component are read from `source`.
    #[serde(default)]
    pub linked: bool,
    pub installed_at: u64,
    /// Where in a registry it came from (`lmi plugin install oci://…`), for `outdated` and
    /// `upgrade`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySource>,
    /// Who signed it and whether that was verified at install; none when it was not signed
    /// (and in records from before signatures, so they still read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureRecord>,
}

/// A registry install: the repository, the tag asked for, and the manifest digest installed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistrySource {
    /// `oci://HOST[:PORT]/REPOSITORY`.
    pub repository: String,
    /// The tag it was installed by; none when installed by digest alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// `sha256:…` of the manifest installed.
    pub digest: String,
    /// `--pin`: `upgrade` leaves it on this digest.
    #[serde(default)]
    pub pinned: bool,
}

impl RegistrySource {
    /// `oci://…:TAG@sha256:…` (the tag when there is one).
    pub fn reference(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}@{}", self.repository, self.digest),
            None => format!("{}@{}", self.repository, self.digest),
        }
    }
}

/// What the user granted when the plugin was installed or linked, recorded by lmi. A run
/// gets at most this, whatever the manifest says later (a linked plugin's manifest is the
/// author's to edit).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// The commands the plugin was installed with: it owns them.
    #[serde(default)]
    pub commands: Vec<String>,
    /// The commands that see the user's SSO identity (`requires_sso` at install).
    #[serde(default)]
    pub sso_commands: Vec<String>,
    #[serde(default)]
    pub permissions: Permissions,
    /// The run time each command that declares one was granted (`timeout_secs`, or
    /// `"none"`: until the user stops it). Not written when empty, so an lmi that predates
    /// it still reads the records of plugins that declare none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub run_times: BTreeMap<String, RunTime>,
}

impl Grants {
    /// Exactly what the user is shown and agrees to for `manifest`.
    pub fn of(manifest: &Manifest) -> Self {
        Self {
            commands: manifest.commands.iter().map(|c| c.name.clone()).collect(),
            sso_commands: manifest
                .commands
                .iter()
                .filter(|c| c.requires_sso)
                .map(|c| c.name.clone())
                .collect(),
            permissions: manifest.permissions.clone(),
            run_times: manifest
                .commands
                .iter()
                .filter_map(|c| c.run_time().map(|t| (c.name.clone(), t)))
                .collect(),
        }
    }

    /// Whether `run_time` for `command` is within what was granted: a command granted no
    /// run time of its own was granted none (its runs keep `LMI_PLUGIN_TIMEOUT_SECS`).
    fn allows_run_time(&self, command: &str, run_time: RunTime) -> bool {
        self.run_times
            .get(command)
            .is_some_and(|granted| run_time <= *granted)
    }

    /// What running `command` of `manifest` would need beyond these grants. New commands
    /// are not counted here: a command is routed only to the plugin that owns it (see
    /// `routes`), and what a run may do is what this checks.
    pub fn exceeded_by(&self, manifest: &Manifest, command: &str) -> Vec<Grant> {
        let mut more = permissions_beyond(&manifest.permissions, &self.permissions);
        if manifest.command(command).is_some_and(|c| c.requires_sso)
            && !self.sso_commands.iter().any(|c| c == command)
        {
            more.push(Grant::SsoCommand(command.to_owned()));
        }
        if let Some(run_time) = manifest.command(command).and_then(|c| c.run_time())
            && !self.allows_run_time(command, run_time)
        {
            more.push(Grant::RunTime {
                command: command.to_owned(),
                run_time,
            });
        }
        more
    }

    /// What installing `manifest` over these grants changes: what it asks for beyond them
    /// (the user must agree), and what they hold that it no longer asks for (given up
    /// without asking). Installing records exactly [`Grants::of`] the manifest, so both
    /// lists together are the whole difference.
    pub fn changes_for(&self, manifest: &Manifest) -> GrantChanges {
        let asked = Self::of(manifest);
        GrantChanges {
            added: asked.beyond(self),
            dropped: self.beyond(&asked),
        }
    }

    /// Every grant `self` holds that `other` does not.
    fn beyond(&self, other: &Grants) -> Vec<Grant> {
        let missing = |mine: &[String], theirs: &[String]| -> Vec<String> {
            mine.iter()
                .filter(|c| !theirs.contains(c))
                .cloned()
                .collect()
        };
        let mut more = permissions_beyond(&self.permissions, &other.permissions);
        more.extend(
            missing(&self.sso_commands, &other.sso_commands)
                .into_iter()
                .map(Grant::SsoCommand),
        );
        more.extend(
            missing(&self.commands, &other.commands)
                .into_iter()
                .map(Grant::Command),
        );
        more.extend(
            self.run_times
                .iter()
                .filter(|(command, run_time)| !other.allows_run_time(command, **run_time))
                .map(|(command, run_time)| Grant::RunTime {
                    command: command.clone(),
                    run_time: *run_time,
                }),
        );
        more
    }
}

/// One thing a plugin can be granted, as installs compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A permission switched on, by its name in the manifest (`service_token`,
    /// `service_requests`, `sso_identity`, or one added later).
    Permission(String),
    /// One entry of a list permission: an environment where the service permissions apply
    /// (`"*"`: any), or an origin of `allowed_hosts`.
    Entry { permission: String, entry: String },
    /// A level of an ordered permission (`files = "read-write"`): asked for when it is
    /// higher than the level granted.
    Level { permission: String, level: String },
    /// A command that sees the user's SSO identity (`requires_sso`).
    SsoCommand(String),
    /// A command the plugin provides (owns, once installed with it).
    Command(String),
    /// A command's declared run time: asked for when it is longer than the one granted (a
    /// command granted none has the user's `LMI_PLUGIN_TIMEOUT_SECS`).
    RunTime { command: String, run_time: RunTime },
}

impl Grant {
    /// `grants` as one list of phrases: `a; b; c`.
    pub fn list(grants: &[Grant]) -> String {
        grants
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the user agrees to, as a phrase that follows "asks to". Names come from lmi's own
/// records or a checked manifest, and are made terminal-safe all the same.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let safe = |s: &str| crate::text::line(s, 80);
        match self {
            Grant::Permission(p) => match crate::plugins::manifest::permission_phrase(p) {
                // Said whether or not the token is granted too: an upgrade lists only what is
                // new, so the caveat cannot depend on the rest.
                Some(phrase) if p == "service_requests" => write!(
                    f,
                    "{phrase} (`{p}`); {}",
                    crate::plugins::manifest::ECHO_CAVEAT
                ),
                Some(phrase) => write!(f, "{phrase} (`{p}`)"),
                None => write!(f, "use the `{}` permission", safe(p)),
            },
            Grant::Entry { permission, entry } if permission == "environments" => {
                if entry == "*" {
                    f.write_str("use its service permissions in any environment")
                } else {
                    write!(
                        f,
                        "use its service permissions in environment `{}`",
                        safe(entry)
                    )
                }
            }
            Grant::Entry { permission, entry } if permission == "services" => {
                if entry == "*" {
                    f.write_str(
                        "use its service permissions with any of the environment's named services",
                    )
                } else {
                    write!(
                        f,
                        "use its service permissions with the environment's service `{}` too",
                        safe(entry)
                    )
                }
            }
            Grant::Entry { permission, entry } if permission == "allowed_hosts" => {
                f.write_str(&crate::plugins::manifest::reach_phrase(entry))
            }
            Grant::Entry { permission, entry } => {
                write!(f, "`{}`: {}", safe(permission), safe(entry))
            }
            Grant::Level { permission, level } => {
                match crate::plugins::manifest::level_phrase(permission, level) {
                    Some(phrase) => write!(f, "{phrase} (`{permission} = \"{level}\"`)"),
                    None => write!(
                        f,
                        "use `{}` at the level `{}`",
                        safe(permission),
                        safe(level)
                    ),
                }
            }
            Grant::SsoCommand(c) => write!(
                f,
                "see your SSO identity in `{}` (subject, email, name)",
                safe(c)
            ),
            Grant::Command(c) => write!(f, "provide the command `lmi {}`", safe(c)),
            Grant::RunTime { command, run_time } => write!(
                f,
                "let `lmi {}` run {} (`{}`)",
                safe(command),
                run_time.phrase(),
                run_time.manifest_field()
            ),
        }
    }
}

/// The difference between a plugin's recorded grants and what a new manifest asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrantChanges {
    /// Asked for and not granted: installing needs the user's consent (or `--yes`).
    pub added: Vec<Grant>,
    /// Granted and no longer asked for: installing drops them without asking.
    pub dropped: Vec<Grant>,
}

/// Each permission `asked` holds that `granted` does not: a flag granted off, a list entry
/// (an environment) not granted (`"*"` grants any), or a level of an ordered permission
/// (`files`) above the one granted. Generic over the fields, so a permission added later is
/// compared too.
pub(super) fn permissions_beyond(asked: &Permissions, granted: &Permissions) -> Vec<Grant> {
    use serde_json::Value;
    let (Ok(Value::Object(asked)), Ok(Value::Object(granted))) =
        (serde_json::to_value(asked), serde_json::to_value(granted))
    else {
        return vec![Grant::Permission("permissions lmi cannot compare".into())];
    };
    let mut more = Vec::new();
    for (key, want) in &asked {
        let have = granted.get(key).unwrap_or(&Value::Null);
        if let Some(levels) = crate::plugins::manifest::permission_levels(key) {
            let rank = |v: &Value| v.as_str().and_then(|l| levels.iter().position(|x| *x == l));
            match (want, rank(want)) {
                (Value::Null, _) => {}
                (_, Some(w)) if rank(have).is_some_and(|h| h >= w) => {}
                (Value::String(level), Some(_)) => more.push(Grant::Level {
                    permission: key.clone(),
                    level: level.clone(),
                }),
                // A level lmi does not know is never taken as granted.
                _ => more.push(Grant::Permission(key.clone())),
            }
            continue;
        }
        match (want, have) {
            (Value::Bool(false) | Value::Null, _) => {}
            (Value::Array(items), Value::Array(held)) => {
                let any = held.iter().any(|h| h.as_str() == Some("*"));
                for item in items.iter().filter(|i| !any && !held.contains(i)) {
                    more.push(Grant::Entry {
                        permission: key.clone(),
                        entry: item.as_str().unwrap_or("?").to_owned(),
                    });
                }
            }
            (Value::Array(items), _) if items.is_empty() => {}
            _ if want == have => {}
            _ => more.push(Grant::Permission(key.clone())),
        }
    }
    more
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> Grant {
        Grant::Entry {
            permission: "environments".into(),
            entry: name.into(),
        }
    }

    /// A manifest with `commands` (`name` or `name!` for `requires_sso`) and the body of a
    /// `[permissions]` table.
    fn manifest(commands: &[&str], permissions: &str) -> Manifest {
        let mut text = String::from(
            "name = \"p\"\nversion = \"0.2.0\"\nlmi = \"*\"\ncomponent = \"p.wasm\"\n",
        );
        for c in commands {
            let (name, sso) = c.strip_suffix('!').map_or((*c, false), |n| (n, true));
            text.push_str(&format!(
                "[[commands]]\nname = \"{name}\"\nabout = \"x\"\nrequires_sso = {sso}\n"
            ));
        }
        text.push_str(&format!("[permissions]\n{permissions}\n"));
        Manifest::parse(&text, Path::new("lmi-plugin.toml")).unwrap()
    }

    fn granted(commands: &[&str], permissions: &str) -> Grants {
        Grants::of(&manifest(commands, permissions))
    }

    #[test]
    // `..Default::default()` keeps this compiling when Permissions gains a field.
    #[allow(clippy::needless_update)]
    fn asking_for_more_than_was_granted_is_named() {
        let granted = Permissions {
            service_requests: true,
            environments: vec!["dev".into()],
            ..Permissions::default()
        };
        let asked = Permissions {
            service_token: true,
            service_requests: true,
            environments: vec!["dev".into(), "prod".into()],
            ..Permissions::default()
        };
        assert_eq!(
            permissions_beyond(&asked, &granted),
            vec![env("prod"), Grant::Permission("service_token".into())]
        );
        assert!(permissions_beyond(&granted, &asked).is_empty());
        assert!(permissions_beyond(&Permissions::default(), &granted).is_empty());
        let any = Permissions {
            environments: vec!["*".into()],
            ..granted.clone()
        };
        assert!(permissions_beyond(&granted, &any).is_empty());
    }

    #[test]
    fn a_new_named_service_is_asked_for_unless_any_was_granted() {
        let perms = |services: &str| {
            format!("service_requests = true\nenvironments = [\"dev\"]\nservices = {services}")
        };
        let old = granted(&["a"], &perms("[\"billing\"]"));
        let changes = old.changes_for(&manifest(&["a"], &perms("[\"billing\", \"search\"]")));
        let search = Grant::Entry {
            permission: "services".into(),
            entry: "search".into(),
        };
        assert_eq!(changes.added, vec![search.clone()]);
        assert!(search.to_string().contains("service `search`"));
        let any = granted(&["a"], &perms("[\"*\"]"));
        assert!(
            any.changes_for(&manifest(&["a"], &perms("[\"search\"]")))
                .added
                .is_empty()
        );
    }

    #[test]
    fn a_longer_run_time_asks_again_and_a_shorter_one_never_does() {
        let with = |decl: &str| {
            let mut m = manifest(&["logs", "deploy"], "");
            m.commands[0].timeout_secs = None;
            m.commands[0].timeout = None;
            match decl {
                "" => {}
                "none" => m.commands[0].timeout = Some("none".into()),
                secs => m.commands[0].timeout_secs = Some(secs.parse().unwrap()),
            }
            m
        };
        let run_time = |t| Grant::RunTime {
            command: "logs".into(),
            run_time: t,
        };
        let hour = Grants::of(&with("3600"));
        assert_eq!(
            hour.changes_for(&with("7200")).added,
            vec![run_time(RunTime::Secs(7200))]
        );
        assert_eq!(
            hour.changes_for(&with("none")).added,
            vec![run_time(RunTime::UntilStopped)]
        );
        let shorter = hour.changes_for(&with("60"));
        assert_eq!(shorter.added, vec![]);
        assert_eq!(shorter.dropped, vec![run_time(RunTime::Secs(3600))]);
        assert_eq!(hour.changes_for(&with("")).added, vec![]);
        // Declaring any run time where none was granted asks: the user's default is not
        // the plugin's to replace unasked.
        assert_eq!(
            Grants::of(&with("")).changes_for(&with("10")).added,
            vec![run_time(RunTime::Secs(10))]
        );
        // At run time: within the grant runs, beyond it is named.
        assert!(hour.exceeded_by(&with("60"), "logs").is_empty());
        assert_eq!(
            hour.exceeded_by(&with("none"), "logs"),
            vec![run_time(RunTime::UntilStopped)]
        );
        assert_eq!(
            run_time(RunTime::UntilStopped).to_string(),
            "let `lmi logs` run until you stop it (`timeout = \"none\"`)"
        );
        assert_eq!(
            run_time(RunTime::Secs(5400)).to_string(),
            "let `lmi logs` run up to 90 min (`timeout_secs = 5400`)"
        );
    }

    #[test]
    fn the_same_grants_change_nothing() {
        let perms = "service_requests = true\nenvironments = [\"dev\"]";
        let old = granted(&["a", "b!"], perms);
        assert_eq!(
            old.changes_for(&manifest(&["b!", "a"], perms)),
            GrantChanges::default()
        );
    }

    #[test]
    fn asking_for_less_only_drops() {
        let old = granted(
            &["a", "b!", "c"],
            "service_token = true\nservice_requests = true\nenvironments = [\"dev\", \"prod\"]",
        );
        let changes = old.changes_for(&manifest(
            &["a", "b"],
            "service_requests = true\nenvironments = [\"dev\"]",
        ));
        assert_eq!(changes.added, vec![]);
        assert_eq!(
            changes.dropped,
            vec![
                env("prod"),
                Grant::Permission("service_token".into()),
                Grant::SsoCommand("b".into()),
                Grant::Command("c".into()),
            ]
        );
    }

    #[test]
    fn asking_for_more_names_only_what_is_new() {
        let old = granted(
            &["a", "b!"],
            "service_requests = true\nenvironments = [\"dev\"]",
        );
        let changes = old.changes_for(&manifest(
            &["a!", "b!", "n!"],
            "service_requests = true\nservice_token = true\nsso_identity = true\nenvironments = [\"dev\", \"prod\"]",
        ));
        assert_eq!(
            changes.added,
            vec![
                env("prod"),
                Grant::Permission("service_token".into()),
                Grant::Permission("sso_identity".into()),
                Grant::SsoCommand("a".into()),
                Grant::SsoCommand("n".into()),
                Grant::Command("n".into()),
            ]
        );
        assert_eq!(changes.dropped, vec![]);
    }

    #[test]
    fn files_is_ordered_and_data_is_a_switch() {
        let level = |l: &str| Grant::Level {
            permission: "files".into(),
            level: l.into(),
        };
        let read = granted(&["a"], "files = \"read\"");
        let raise = read.changes_for(&manifest(&["a"], "files = \"read-write\"\ndata = true"));
        assert_eq!(
            raise.added,
            vec![Grant::Permission("data".into()), level("read-write")]
        );
        assert_eq!(raise.dropped, vec![]);
        let write = granted(&["a"], "files = \"read-write\"\ndata = true");
        let lower = write.changes_for(&manifest(&["a"], "files = \"read\""));
        assert_eq!(lower.added, vec![]);
        assert_eq!(
            lower.dropped,
            vec![Grant::Permission("data".into()), level("read-write")]
        );
        let none = write.changes_for(&manifest(&["a"], ""));
        assert_eq!(none.added, vec![]);
        assert_eq!(none.dropped.len(), 2);
        // At run time: a manifest within the grant runs; one above it is named.
        let m = manifest(&["a"], "files = \"read\"");
        assert!(write.exceeded_by(&m, "a").is_empty());
        assert_eq!(Grants::default().exceeded_by(&m, "a"), vec![level("read")]);
        assert_eq!(
            [
                level("read"),
                level("read-write"),
                Grant::Permission("data".into())
            ]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
            [
                "read files in the directory you run it from (`files = \"read\"`)",
                "read and write files in the directory you run it from (`files = \"read-write\"`)",
                "keep its own data between runs (`data`)",
            ]
        );
    }

    #[test]
    fn any_environment_covers_each_and_each_is_less_than_any() {
        let any = granted(&["a"], "service_token = true\nenvironments = [\"*\"]");
        let dev = manifest(&["a"], "service_token = true\nenvironments = [\"dev\"]");
        let lower = any.changes_for(&dev);
        assert_eq!(lower.added, vec![]);
        assert_eq!(lower.dropped, vec![env("*")]);
        let raise = Grants::of(&dev).changes_for(&manifest(
            &["a"],
            "service_token = true\nenvironments = [\"*\"]",
        ));
        assert_eq!(raise.added, vec![env("*")]);
        assert_eq!(raise.dropped, vec![]);
    }

    #[test]
    fn a_fresh_install_asks_for_everything() {
        let m = manifest(&["a!"], "service_token = true\nenvironments = [\"dev\"]");
        let changes = Grants::default().changes_for(&m);
        assert_eq!(
            changes.added,
            vec![
                env("dev"),
                Grant::Permission("service_token".into()),
                Grant::SsoCommand("a".into()),
                Grant::Command("a".into()),
            ]
        );
    }

    fn origin(o: &str) -> Grant {
        Grant::Entry {
            permission: "allowed_hosts".into(),
            entry: o.into(),
        }
    }

    #[test]
    fn an_added_origin_asks_again_and_a_dropped_one_never_asks() {
        let old = granted(
            &["a"],
            "allowed_hosts = [\"https://api.example.com\", \"https://old.example.com\"]",
        );
        // Spelled differently, the same origin is the same grant: manifests are canonical.
        let changes = old.changes_for(&manifest(
            &["a"],
            "allowed_hosts = [\"HTTPS://API.example.com:443/\", \"http://127.0.0.1:8080\"]",
        ));
        assert_eq!(changes.added, vec![origin("http://127.0.0.1:8080")]);
        assert_eq!(changes.dropped, vec![origin("https://old.example.com")]);
        assert_eq!(
            changes.added[0].to_string(),
            "reach http://127.0.0.1:8080 without your credentials (`allowed_hosts`)"
        );
        // At run time, a manifest naming an origin that was not granted exceeds the grants.
        let more = manifest(&["a"], "allowed_hosts = [\"https://evil.example.com\"]");
        assert_eq!(
            old.exceeded_by(&more, "a"),
            vec![origin("https://evil.example.com")]
        );
        // A granted wildcard is its own entry: a name below it is asked for separately.
        let wild = granted(&["a"], "allowed_hosts = [\"https://*.example.com\"]");
        let named = manifest(&["a"], "allowed_hosts = [\"https://api.example.com\"]");
        assert_eq!(
            wild.changes_for(&named).added,
            vec![origin("https://api.example.com")]
        );
    }

    #[test]
    fn each_grant_reads_as_what_the_user_agrees_to() {
        let phrases: Vec<String> = [
            Grant::Permission("service_token".into()),
            Grant::Permission("service_requests".into()),
            Grant::Permission("sso_identity".into()),
            Grant::Permission("files".into()),
            env("*"),
            env("prod"),
            Grant::SsoCommand("whoami".into()),
            Grant::Command("deploy".into()),
            Grant::Command("x\u{1b}[2Jy".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            phrases,
            [
                "read the service access token itself (`service_token`)",
                "send authenticated requests to the service (`service_requests`); lmi attaches the token, so a service that echoes request headers would show it to the plugin",
                "see your SSO identity (subject, email, name) in every command (`sso_identity`)",
                "use the `files` permission",
                "use its service permissions in any environment",
                "use its service permissions in environment `prod`",
                "see your SSO identity in `whoami` (subject, email, name)",
                "provide the command `lmi deploy`",
                "provide the command `lmi x [2Jy`",
            ]
        );
    }
}
