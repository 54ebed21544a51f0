//! The environment policy gate: the one place a company's rules for an environment
//! (`settings::policy`) are enforced, in the host, before anything of a plugin is
//! instantiated and before a service token leaves lmi, so no plugin can skip them.
//!
//! [`admit`] answers one [`Request`]:
//! - SSO required (`LMI_REQUIRE_SSO`, or allowed groups): a valid session, renewed silently
//!   if its access token expired; else refused, exit 4 with the login hint.
//! - Allowed groups (`LMI_SSO_ALLOWED_GROUPS`): the claim kept from the last verified ID
//!   token (no keychain read, no token) must name one of them; a session that kept no such
//!   claim (signed in by an older lmi, or before the claim was configured) is renewed once to
//!   capture it, and refused if that does not bring it. Refused, exit 4, naming the user, the
//!   environment and the groups.
//! - Protected (`LMI_PROTECTED`, `LMI_CONFIRM=all`), plugin commands only: a one-line banner
//!   on stderr naming the environment and the user (not with `--quiet`); for a command marked
//!   `confirm = true` (every command with `LMI_CONFIRM=all`) a question on the terminal
//!   instead, naming the environment, the user and the command line. `--yes` or `LMI_ASSUME_YES=1` answers it; without a terminal
//!   it is refused (exit 2: the command line lacks `--yes`), as a "no" is.
//!
//! Every refusal is a [`Refusal`] and leaves through [`admit`], the one place to record it.

mod confirm;

use crate::auth::AuthError;
use crate::auth::sso::groups::Captured;
use crate::auth::sso::{self, SsoUser};
use crate::exit::{Exit, ExitStatus};
use crate::settings::{ConfigError, Policy, Settings, Source, keys};

pub use confirm::command_line;

/// What is about to happen, for the gate to admit or refuse.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub settings: &'a Settings,
    pub action: Action<'a>,
    /// `--yes`.
    pub yes: bool,
    /// `--quiet`.
    pub quiet: bool,
}

/// The two ways into an environment's credentials.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// A plugin command: its name, its words, and whether its manifest entry says
    /// `confirm = true`.
    Plugin {
        /// The plugin's name and version, as the audit trail records them.
        plugin: (&'a str, &'a str),
        command: &'a str,
        args: &'a [String],
        confirm: bool,
    },
    /// A service token printed for a script (`lmi auth token`).
    ServiceToken,
    /// A credential handed to another program by `lmi credential <command>` (`command`:
    /// `credential git`, …): held to the same rules as `lmi auth token`.
    Helper { command: &'a str },
}

/// What the gate found when it let the request through.
#[derive(Debug, Clone)]
pub struct Admission {
    pub policy: Policy,
    /// The valid session's user (renewed if it was due), when the policy required one. A
    /// protected environment's banner names the stored user without renewing it; that one is
    /// not returned, so a `requires_sso` command still gets its own check.
    pub user: Option<SsoUser>,
}

/// Why a request was not admitted. Each says what to do; [`ExitStatus`] gives its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{target} requires an SSO session ({from}), and you are not signed in")]
    NotSignedIn {
        target: String,
        /// The key that asks for it and where it is set.
        from: String,
    },
    #[error(
        "{target} requires an SSO session ({from}), but SSO is not configured: set OAUTH_SSO_ISSUER and OAUTH_SSO_CLIENT_ID in {global}"
    )]
    SsoNotConfigured {
        target: String,
        from: String,
        global: String,
    },
    #[error(
        "{user} may not use {target} yet: it admits members of {needed}, and your SSO session holds no `{claim}` claim to check (it was signed in before lmi kept groups, or before {target} checked this claim){renewal}"
    )]
    GroupsUnknown {
        user: String,
        target: String,
        claim: String,
        needed: String,
        /// "; renewing it did not bring one: …", or nothing.
        renewal: String,
    },
    #[error(
        "{user} may not use {target}: it admits members of {needed}, and the `{claim}` claim of your ID token cannot be read as groups: {why}"
    )]
    GroupsUnusable {
        user: String,
        target: String,
        claim: String,
        needed: String,
        why: String,
    },
    #[error(
        "{user} may not use {target}: it admits members of {needed} ({key} in {from}), and the `{claim}` claim of your ID token names none of them",
        key = keys::SSO_ALLOWED_GROUPS
    )]
    OutsideGroups {
        user: String,
        target: String,
        claim: String,
        needed: String,
        from: String,
    },
    #[error(
        "`{command_line}` asks for confirmation in {target}, which is protected, and there is no terminal to ask on (stdin and stderr must both be one): pass --yes before the command (lmi --yes …) or set {key}=1",
        key = keys::ASSUME_YES
    )]
    NoTerminal {
        target: String,
        command_line: String,
    },
    #[error("not confirmed: `{command_line}` did not run in {target}")]
    Declined {
        target: String,
        command_line: String,
    },
}

impl ExitStatus for Refusal {
    fn exit(&self) -> Exit {
        match self {
            Refusal::NotSignedIn { .. }
            | Refusal::GroupsUnknown { .. }
            | Refusal::GroupsUnusable { .. }
            | Refusal::OutsideGroups { .. } => Exit::Auth,
            Refusal::SsoNotConfigured { .. }
            | Refusal::NoTerminal { .. }
            | Refusal::Declined { .. } => Exit::Usage,
        }
    }
}

impl Refusal {
    /// The reason in a few words, for a listing (`lmi auth status`).
    pub fn short(&self) -> String {
        match self {
            Refusal::NotSignedIn { .. } => "you are not signed in".to_owned(),
            Refusal::SsoNotConfigured { .. } => "SSO is not configured".to_owned(),
            Refusal::GroupsUnknown { claim, .. } => {
                format!("your session holds no `{claim}` claim yet (the next command renews it)")
            }
            Refusal::GroupsUnusable { claim, .. } => {
                format!("the `{claim}` claim of your ID token cannot be read as groups")
            }
            Refusal::OutsideGroups { needed, .. } => format!("you are in none of {needed}"),
            Refusal::NoTerminal { .. } => "no terminal to confirm on".to_owned(),
            Refusal::Declined { .. } => "not confirmed".to_owned(),
        }
    }

    /// What to run next, printed under the error.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Refusal::NotSignedIn { .. } => Some("run: lmi login sso"),
            Refusal::GroupsUnknown { .. } => Some("run: lmi login sso --force"),
            Refusal::OutsideGroups { .. } => {
                Some("if you were added to one of them since you signed in, run: lmi auth refresh")
            }
            Refusal::GroupsUnusable { .. }
            | Refusal::SsoNotConfigured { .. }
            | Refusal::NoTerminal { .. }
            | Refusal::Declined { .. } => None,
        }
    }
}

/// Why the gate stopped a request: the configuration could not be read, the session could
/// not be (keychain, provider), or the policy refused it.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Refused(Box<Refusal>),
}

impl Refusal {
    /// The refusal as the audit trail names it.
    fn audit_reason(&self) -> crate::audit::Refusal {
        match self {
            Refusal::NotSignedIn { .. } | Refusal::SsoNotConfigured { .. } => {
                crate::audit::Refusal::SsoRequired
            }
            Refusal::GroupsUnknown { .. }
            | Refusal::GroupsUnusable { .. }
            | Refusal::OutsideGroups { .. } => crate::audit::Refusal::Group,
            Refusal::NoTerminal { .. } | Refusal::Declined { .. } => {
                crate::audit::Refusal::NotConfirmed
            }
        }
    }
}

impl From<Refusal> for GateError {
    fn from(refusal: Refusal) -> Self {
        GateError::Refused(Box::new(refusal))
    }
}

/// Admits or refuses `request` (see the module documentation).
pub fn admit(request: &Request<'_>) -> Result<Admission, GateError> {
    let outcome = check(request);
    if let Err(GateError::Refused(refusal)) = &outcome {
        // Every refusal passes here: the one place to record it, in the log and the trail.
        tracing::info!(
            env = ?request.settings.active_env(),
            refusal = %refusal,
            "refused by the environment policy"
        );
        let actor = match request.action {
            Action::Plugin {
                plugin: (name, version),
                command,
                ..
            } => crate::audit::Actor::plugin(name, version, command),
            Action::ServiceToken => crate::audit::Actor::lmi("auth token"),
            Action::Helper { command } => crate::audit::Actor::lmi(command),
        };
        crate::audit::refused(request.settings, &actor, refusal.audit_reason());
    }
    outcome
}

fn check(request: &Request<'_>) -> Result<Admission, GateError> {
    let settings = request.settings;
    // Read once for the whole run: the plugin's settings and service session reuse it.
    let config = match settings.active_env() {
        Some(env) => Some(settings.env_config_for_run(env)?),
        None => None,
    };
    let policy = settings.policy(config.as_ref())?;
    for ignored in &policy.ignored {
        crate::output::warn(ignored);
    }
    let plugin = match request.action {
        Action::Plugin {
            command,
            args,
            confirm,
            ..
        } => Some((command, args, confirm)),
        Action::ServiceToken | Action::Helper { .. } => None,
    };
    let user = if policy.needs_sso() {
        Some(signed_in_user(settings, &policy)?)
    } else {
        None
    };
    decide(&policy, user.as_ref())?;
    if let Some((command, args, marked)) = plugin
        && policy.is_protected()
    {
        let target = target(&policy);
        // Only to name the user: what is stored, never renewed (no network for a banner).
        let shown = match &user {
            Some(user) => Some(user.clone()),
            None => sso::stored_user(settings).ok().flatten(),
        };
        // The question names the environment and the user too: it stands in for the banner.
        if policy.asks_before(marked) && !(request.yes || policy.assume_yes) {
            let line = command_line(policy.env.as_deref(), command, args);
            confirm::ask(&target, shown.as_ref(), &line)?;
        } else if !request.quiet {
            confirm::banner(&target, shown.as_ref());
        }
    }
    Ok(Admission { policy, user })
}

/// The valid session's user for a policy that needs one, renewed once more when the groups
/// it checks were never captured.
fn signed_in_user(settings: &Settings, policy: &Policy) -> Result<SsoUser, GateError> {
    let target = target(policy);
    let from = requirement(policy);
    identity_provider_from_files(settings, policy)?;
    if sso::config::SsoConfig::load_optional(settings)?.is_none() {
        return Err(Refusal::SsoNotConfigured {
            target,
            from,
            global: settings.paths().global_env_file().display().to_string(),
        }
        .into());
    }
    let Some(user) = sso::current_user(settings)? else {
        return Err(Refusal::NotSignedIn { target, from }.into());
    };
    let Some(rule) = &policy.groups else {
        return Ok(user);
    };
    if user.groups.get(&rule.claim).is_some() {
        return Ok(user);
    }
    tracing::info!(
        "the SSO session holds no `{}` claim; renewing it to capture the claim",
        rule.claim
    );
    let unknown = |renewal: String| Refusal::GroupsUnknown {
        user: user.display_name().to_owned(),
        target: target.clone(),
        claim: rule.claim.clone(),
        needed: needed(&rule.allowed),
        renewal,
    };
    match sso::refresh(settings) {
        Ok(renewal) => {
            for w in &renewal.warnings {
                tracing::warn!("{w}");
            }
            if renewal.user.groups.get(&rule.claim).is_some() {
                Ok(renewal.user)
            } else {
                Err(unknown(
                    "; renewing the session brought none (the identity provider sent no ID token lmi could check)"
                        .to_owned(),
                )
                .into())
            }
        }
        Err(e) => Err(unknown(format!("; renewing the session did not bring one: {e}")).into()),
    }
}

/// The policy's verdict on `user` (no I/O): SSO and groups. `lmi auth status` asks it too.
pub fn decide(policy: &Policy, user: Option<&SsoUser>) -> Result<(), Refusal> {
    if !policy.needs_sso() {
        return Ok(());
    }
    let target = target(policy);
    let Some(user) = user else {
        return Err(Refusal::NotSignedIn {
            target,
            from: requirement(policy),
        });
    };
    let Some(rule) = &policy.groups else {
        return Ok(());
    };
    let who = user.display_name().to_owned();
    match user.groups.get(&rule.claim) {
        None => Err(Refusal::GroupsUnknown {
            user: who,
            target,
            claim: rule.claim.clone(),
            needed: needed(&rule.allowed),
            renewal: String::new(),
        }),
        Some(Captured::Unusable { unusable }) => Err(Refusal::GroupsUnusable {
            user: who,
            target,
            claim: rule.claim.clone(),
            needed: needed(&rule.allowed),
            why: unusable.clone(),
        }),
        Some(Captured::Groups(held)) if rule.allowed.iter().any(|g| held.contains(g)) => Ok(()),
        Some(Captured::Groups(_)) => Err(Refusal::OutsideGroups {
            user: who,
            target,
            claim: rule.claim.clone(),
            needed: needed(&rule.allowed),
            from: rule.source.to_string(),
        }),
    }
}

/// Which key asks for a session, and where it is set: "LMI_REQUIRE_SSO in …/prod.env".
fn requirement(policy: &Policy) -> String {
    match (&policy.require_sso, &policy.groups) {
        (Some(source), _) => format!("{} in {source}", keys::REQUIRE_SSO),
        (None, Some(rule)) => format!("{} in {}", keys::SSO_ALLOWED_GROUPS, rule.source),
        (None, None) => String::new(),
    }
}

/// A policy a file sets trusts the identity provider the global file names: the process
/// environment may not choose another (whose tokens, and groups, its owner would control).
/// A differing `OAUTH_SSO_*` value there is a configuration error naming the key.
fn identity_provider_from_files(settings: &Settings, policy: &Policy) -> Result<(), ConfigError> {
    let from_a_file = |source: &Source| !matches!(source, Source::Process);
    let file_policy = policy.require_sso.as_ref().is_some_and(from_a_file)
        || policy
            .groups
            .as_ref()
            .is_some_and(|g| from_a_file(&g.source));
    if !file_policy {
        return Ok(());
    }
    for key in keys::SSO_KEYS {
        let process = settings.process_value(key).filter(|v| !v.is_empty());
        if process.is_some() && process != settings.global_file().get(key) {
            return Err(ConfigError::InvalidValue {
                key: (*key).to_owned(),
                source_name: Source::Process.to_string(),
                reason: format!(
                    "{} sets the environment's policy, which trusts the identity provider named in {}: unset {key} in the process environment",
                    requirement(policy),
                    settings.paths().global_env_file().display()
                ),
            });
        }
    }
    Ok(())
}

/// "environment `prod`", or what a command run with no environment is under.
fn target(policy: &Policy) -> String {
    match &policy.env {
        Some(env) => format!("environment `{env}`"),
        None => "lmi without an environment".to_owned(),
    }
}

/// "ops or admins"; "no group" when the process environment narrowed the list to nothing.
fn needed(allowed: &[String]) -> String {
    match allowed {
        [] => "no group (the process environment's list shares none with the files')".to_owned(),
        some => some.join(" or "),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::sso::groups;
    use crate::settings::{GroupRule, Source};

    fn user(groups: serde_json::Value) -> SsoUser {
        SsoUser {
            subject: "alice".into(),
            email: Some("alice@example.test".into()),
            name: None,
            login_name: None,
            expires_at: 0,
            groups: if groups.is_null() {
                groups::GroupClaims::default()
            } else {
                groups::capture(&serde_json::json!({ "groups": groups }), &["groups".into()])
            },
            session_ends_at: None,
        }
    }

    fn prod(allowed: &[&str]) -> Policy {
        Policy {
            env: Some("prod".into()),
            groups: Some(GroupRule {
                allowed: allowed.iter().map(|g| (*g).to_owned()).collect(),
                claim: "groups".into(),
                source: Source::Process,
            }),
            ..Policy::default()
        }
    }

    #[test]
    fn groups_admit_members_and_refuse_everyone_else_by_name() {
        let policy = prod(&["ops", "admins"]);
        assert_eq!(
            decide(&policy, Some(&user(serde_json::json!(["admins"])))),
            Ok(())
        );
        let refused = decide(&policy, Some(&user(serde_json::json!(["dev"])))).unwrap_err();
        let text = refused.to_string();
        assert!(
            text.contains("alice@example.test")
                && text.contains("environment `prod`")
                && text.contains("ops or admins"),
            "{text}"
        );
        assert_eq!(refused.exit(), Exit::Auth);
        assert!(matches!(
            decide(&policy, Some(&user(serde_json::Value::Null))),
            Err(Refusal::GroupsUnknown { .. })
        ));
        assert!(matches!(
            decide(&policy, Some(&user(serde_json::json!(7)))),
            Err(Refusal::GroupsUnusable { .. })
        ));
        let signed_out = decide(&policy, None).unwrap_err().to_string();
        assert!(
            signed_out.contains("(LMI_SSO_ALLOWED_GROUPS in the process environment)"),
            "{signed_out}"
        );
        // A list narrowed to nothing admits nobody.
        assert!(decide(&prod(&[]), Some(&user(serde_json::json!(["ops"])))).is_err());
    }

    #[test]
    fn no_policy_admits_everyone() {
        assert_eq!(decide(&Policy::default(), None), Ok(()));
    }
}
