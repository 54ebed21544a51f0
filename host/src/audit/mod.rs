//! The audit trail of credential use: one JSON line each time a plugin uses lmi's credentials
//! (a token read, a service request), each time lmi hands a token out itself (`lmi auth
//! token`), and each time lmi refuses such a use (a permission the plugin lacks, an
//! environment policy). A company's security team can then see which plugin used which
//! credential, where, for whom, and how it ended.
//!
//! Where (`LMI_AUDIT_LOG`, `settings::AuditTarget`): `~/.local/share/lmi/audit.jsonl` by
//! default, an absolute path, or `off`. The file is 0600 in a 0700 directory, opened without
//! following a link, and rotated at 10 MiB keeping four older files (`sink`).
//!
//! Invariants:
//! - A line is built from typed fields ([`record`]), never from a message: it holds no
//!   token, secret, header, body or query string. Paths are cut at `?` and `#`; every text
//!   from outside lmi is stripped of control characters, bounded and masked of registered
//!   secrets. A line is a few hundred bytes; the bounds keep every one under 4 KiB.
//! - Each line is one `write` on an `O_APPEND` descriptor, so concurrent lmi processes each
//!   add whole lines.
//! - Fail closed: a credential use that cannot be recorded does not happen. [`Trail::ready`]
//!   opens the file before a token is fetched or a request sent; if the line cannot be
//!   written afterwards, the token is not handed over or the answer is withheld, and the
//!   error names the file. A refusal that cannot be recorded is only a warning: nothing was
//!   used.
//! - Nothing is opened until a credential is used: dispatching a plugin that uses none
//!   touches no audit file.
//!
//! An environment policy gate calls [`refused`] when it refuses a command.

mod record;
mod sink;

use std::path::PathBuf;

pub use record::{Actor, ErrorKind, Outcome, Refusal, Use, path as record_path};
pub use sink::{KEEP, ROTATE_AT};

use crate::settings::{ConfigError, Settings};

/// Why a use could not be recorded (and so did not happen).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// `LMI_AUDIT_LOG` has a value lmi cannot use.
    #[error("{0}; lmi uses no credential it cannot record in its audit log")]
    Config(ConfigError),
    /// The file could not be opened or written.
    #[error(
        "cannot write the audit log {}: {source}; lmi uses no credential it cannot record (fix the file, or set LMI_AUDIT_LOG to another absolute path or to off)",
        path.display()
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::exit::ExitStatus for AuditError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            AuditError::Config(_) => crate::exit::Exit::Usage,
            AuditError::Write { .. } => crate::exit::Exit::Failure,
        }
    }
}

/// The trail as one command or plugin run writes it: the file, opened on first use, and the
/// signed-in user, looked up at the first line. Making one costs nothing.
#[derive(Default)]
pub struct Trail {
    /// `None` until [`Trail::ready`]; then `Some(None)` when the trail is off.
    sink: Option<Option<sink::Sink>>,
    /// The SSO subject: `None` until looked up, `Some(None)` when nobody is signed in.
    subject: Option<Option<String>>,
}

impl Trail {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signed-in user's subject as the caller found it (`Some(None)`: nobody), unless the
    /// trail looked it up already.
    pub fn know_subject(&mut self, subject: Option<String>) {
        self.subject.get_or_insert(subject);
    }

    /// Resolves `LMI_AUDIT_LOG` and opens the file if the trail is on and the file not open
    /// yet: call it before a credential is used, so a trail that cannot be written stops the
    /// use before it happens.
    pub fn ready(&mut self, settings: &Settings) -> Result<(), AuditError> {
        if self.sink.is_some() {
            return Ok(());
        }
        let target = settings.audit_target().map_err(AuditError::Config)?;
        let sink = sink::Sink::open(&target).map_err(|source| AuditError::Write {
            path: target.path().map(PathBuf::from).unwrap_or_default(),
            source,
        })?;
        self.sink = Some(sink);
        Ok(())
    }

    /// Writes one line: `actor` used (or was refused) `used`, which ended in `outcome`, in
    /// the active environment of `settings`.
    pub fn record(
        &mut self,
        settings: &Settings,
        actor: &Actor<'_>,
        used: Use<'_>,
        outcome: Outcome,
    ) -> Result<(), AuditError> {
        self.ready(settings)?;
        let Some(Some(sink)) = self.sink.as_mut() else {
            return Ok(()); // off
        };
        let subject = self
            .subject
            .get_or_insert_with(|| crate::auth::sso::subject_without_keychain(settings));
        let line = record::line(
            actor,
            settings.active_env(),
            subject.as_deref(),
            used,
            outcome,
        );
        sink.append(&line).map_err(|source| AuditError::Write {
            path: sink.path().to_owned(),
            source,
        })
    }
}

/// Records that lmi refused `actor`'s command in the active environment before it could use
/// a credential: for an environment policy gate (`LMI_REQUIRE_SSO`, allowed groups, a
/// protected environment's confirmation), called just before it returns its error. Writing
/// the line is best effort: the command is refused anyway, so a trail that cannot be written
/// is a warning here, never a second error.
///
/// ```ignore
/// audit::refused(&ctx.settings, &audit::Actor::plugin(name, version, command), audit::Refusal::SsoRequired);
/// audit::refused(&ctx.settings, &audit::Actor::lmi("auth token"), audit::Refusal::Group);
/// ```
pub fn refused(settings: &Settings, actor: &Actor<'_>, refusal: Refusal) {
    let refused = Outcome::Refused(refusal);
    if let Err(e) = Trail::new().record(settings, actor, Use::Command, refused) {
        tracing::warn!("{e}");
    }
}

/// What `lmi auth status` says about the trail: the file, `off`, or why it cannot be used.
pub fn describe(settings: &Settings) -> Result<Option<PathBuf>, ConfigError> {
    Ok(settings.audit_target()?.path().map(PathBuf::from))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    /// What an environment policy gate writes: one `command` line naming who was refused,
    /// where and why; with the trail off, nothing.
    #[test]
    fn a_policy_refusal_is_one_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        std::fs::create_dir_all(paths.config_dir()).unwrap();
        let settings = Settings::load(paths.clone(), Some("prod")).unwrap();
        refused(
            &settings,
            &Actor::plugin("deploy", "1.2.0", "release"),
            Refusal::NotConfirmed,
        );
        refused(&settings, &Actor::lmi("auth token"), Refusal::Group);
        let text = std::fs::read_to_string(paths.audit_file()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["plugin"], "deploy");
        assert_eq!(lines[0]["command"], "release");
        assert_eq!(lines[0]["env"], "prod");
        assert_eq!(lines[0]["use"], "command");
        assert_eq!(lines[0]["outcome"], "refused");
        assert_eq!(lines[0]["reason"], "not-confirmed");
        assert_eq!(lines[1]["by"], "lmi");
        assert_eq!(lines[1]["reason"], "group");

        std::fs::write(paths.global_env_file(), "LMI_AUDIT_LOG=off\n").unwrap();
        let off = Settings::load(paths.clone(), Some("prod")).unwrap();
        refused(&off, &Actor::lmi("auth token"), Refusal::SsoRequired);
        assert_eq!(std::fs::read_to_string(paths.audit_file()).unwrap(), text);
    }
}
