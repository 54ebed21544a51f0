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
//!   secrets. Lines stay well under 1 KiB.
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

use crate::settings::{AuditTarget, ConfigError, Settings};

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

/// The trail as one command or plugin run writes it: where it goes, the environment, and
/// (looked up at the first line) the signed-in user.
pub struct Trail {
    target: Result<AuditTarget, ConfigError>,
    sink: Option<sink::Sink>,
    settings: Settings,
    /// The SSO subject: `None` until looked up, `Some(None)` when nobody is signed in.
    subject: Option<Option<String>>,
}

impl Trail {
    /// Resolves `LMI_AUDIT_LOG`; opens nothing.
    pub fn new(settings: &Settings) -> Self {
        Self {
            target: settings.audit_target(),
            sink: None,
            settings: settings.clone(),
            subject: None,
        }
    }

    /// The signed-in user's subject, when the caller knows it already (the `requires_sso`
    /// gate): spares the summary read.
    pub fn with_subject(mut self, subject: Option<String>) -> Self {
        self.subject = Some(subject);
        self
    }

    /// The signed-in user's subject as the caller found it (`Some(None)`: nobody), unless the
    /// trail looked it up already.
    pub fn know_subject(&mut self, subject: Option<String>) {
        self.subject.get_or_insert(subject);
    }

    /// Opens the file if the trail is on and it is not open yet: call it before a credential
    /// is used, so a file that cannot be written stops the use before it happens.
    pub fn ready(&mut self) -> Result<(), AuditError> {
        if self.sink.is_some() {
            return Ok(());
        }
        let target = self
            .target
            .as_ref()
            .map_err(|e| AuditError::Config(e.clone()))?;
        self.sink = sink::Sink::open(target).map_err(|source| AuditError::Write {
            path: target.path().map(PathBuf::from).unwrap_or_default(),
            source,
        })?;
        Ok(())
    }

    /// Writes one line: `actor` used (or was refused) `used`, which ended in `outcome`.
    pub fn record(
        &mut self,
        actor: &Actor<'_>,
        used: Use<'_>,
        outcome: Outcome,
    ) -> Result<(), AuditError> {
        self.ready()?;
        let Some(sink) = self.sink.as_mut() else {
            return Ok(()); // off
        };
        let subject = self
            .subject
            .get_or_insert_with(|| crate::auth::sso::subject_without_keychain(&self.settings));
        let line = record::line(
            actor,
            self.settings.active_env(),
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
    if let Err(e) = Trail::new(settings).record(actor, Use::Command, Outcome::Refused(refusal)) {
        tracing::warn!("{e}");
    }
}

/// What `lmi auth status` says about the trail: the file, `off`, or why it cannot be used.
pub fn describe(settings: &Settings) -> Result<Option<PathBuf>, ConfigError> {
    Ok(settings.audit_target()?.path().map(PathBuf::from))
}
