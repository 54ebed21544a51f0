//! `lmi login sso` and `lmi logout sso`: flags in, one call into `auth::sso`, the outcome out.
//! Instructions (the URL, the device code) go to stderr; the result line to stdout.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::auth::lifetime::now_secs;
use crate::auth::sso::SafeUrl;
use crate::auth::sso::{self, LoginOptions, LoginOutcome, LoginStep, LoginUi, Revocation, SsoUser};
use crate::commands::{CliError, Ctx};
use crate::output::{self, OutputFormat};
use crate::progress::{self, Spinner};

#[derive(Debug, clap::Subcommand)]
pub enum LoginCommand {
    /// Sign in with your organisation's identity provider: in the browser (Authorization Code
    /// + PKCE) or with a device code (OAUTH_SSO_LOGIN_METHOD, default auto).
    Sso(SsoLoginArgs),
}

#[derive(Debug, clap::Args)]
pub struct SsoLoginArgs {
    /// Print the sign-in URL instead of opening a browser (the browser flow, whatever
    /// OAUTH_SSO_LOGIN_METHOD says).
    #[arg(long)]
    pub no_browser: bool,
    /// Use the device-authorization grant (a code to enter on another device), whatever
    /// OAUTH_SSO_LOGIN_METHOD says.
    #[arg(long)]
    pub device: bool,
    /// Listen for the browser's redirect on this loopback port instead of a random one (the
    /// browser flow).
    #[arg(long, value_name = "N")]
    pub redirect_port: Option<u16>,
    /// Sign in again even if the current session is valid.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum LogoutCommand {
    /// Revoke the SSO session at the identity provider and delete it locally.
    Sso,
}

fn user_json(user: &SsoUser) -> serde_json::Value {
    json!({
        "subject": user.subject,
        "email": user.email,
        "name": user.name,
        "login_name": user.login_name,
        "named_by": user.display_claim(),
        "expires_at": user.expires_at,
        "session_ends_at": user.session_ends_at,
    })
}

/// How long the session lasts, as the provider said (`auth status` shows the same).
pub(crate) fn session_sentence(user: &SsoUser) -> String {
    match user.session_ends_at {
        Some(end) => format!(
            "the session is valid until {}",
            crate::auth::when::moment(end, now_secs())
        ),
        None => "the session lasts until the identity provider ends it".to_owned(),
    }
}

impl LoginCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let LoginCommand::Sso(args) = self;
        let opts = LoginOptions {
            no_browser: args.no_browser,
            device: args.device,
            redirect_port: args.redirect_port,
            force: args.force,
        };
        let outcome = sso::login(&ctx.settings, &opts, &mut Terminal::new(ctx))?;
        let left = |u: &SsoUser| sso::human(u.expires_at.saturating_sub(now_secs()));
        match (&outcome, ctx.output) {
            (LoginOutcome::AlreadySignedIn(user), OutputFormat::Json) => output::json(&json!({
                "signed_in": true, "already": true, "user": user_json(user),
            })),
            (LoginOutcome::AlreadySignedIn(user), OutputFormat::Text) => {
                output::line(format_args!(
                    "Already signed in as {}; the access token is valid for {} and {}. Use --force to sign in again.",
                    user.who(),
                    left(user),
                    session_sentence(user)
                ))
            }
            (
                LoginOutcome::SignedIn {
                    user,
                    refreshable,
                    location,
                },
                OutputFormat::Json,
            ) => output::json(&json!({
                "signed_in": true, "already": false, "user": user_json(user),
                "refreshable": refreshable, "storage": location,
            })),
            (
                LoginOutcome::SignedIn {
                    user,
                    refreshable,
                    location,
                },
                OutputFormat::Text,
            ) => {
                output::line(format_args!("Signed in as {}.", user.who()));
                output::note(format_args!(
                    "The session is stored in {location}; {}.",
                    session_sentence(user)
                ));
                if !refreshable {
                    output::warn(format_args!(
                        "the identity provider issued no refresh token (offline_access was not granted): sign in again when the session expires in {}",
                        left(user)
                    ));
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The login's steps on stderr: instructions and progress for the human at the terminal
/// (`lmi setup` signs in through it too). While it waits for the browser or an approval, a
/// spinner counts the time left (only where [`progress::wanted`]); the next step, or the
/// end of the login, takes it away.
pub(crate) struct Terminal {
    spinner: Option<Spinner>,
    progress: bool,
}

impl Terminal {
    pub(crate) fn new(ctx: &Ctx) -> Self {
        Self {
            spinner: None,
            progress: progress::wanted(ctx.quiet, ctx.verbose),
        }
    }

    fn spin(&mut self, waiting: &'static str, limit: Duration) {
        if self.progress {
            self.spinner = Some(Spinner::start(Duration::ZERO, move |elapsed| {
                format!("{waiting}: {}", progress::time_left(limit, elapsed))
            }));
        }
    }
}

impl LoginUi for Terminal {
    fn show(&mut self, step: LoginStep<'_>) {
        // Blank the spinner's line before anything else is printed.
        self.spinner = None;
        match step {
            LoginStep::StoredSessionUnusable(e) => output::note(format_args!(
                "The stored SSO session cannot be used ({e}); signing in again."
            )),
            LoginStep::Method(choice) => output::note(choice),
            LoginStep::SignInAt {
                issuer,
                url,
                browser: false,
            } => output::note(format_args!(
                "Open this URL in a browser on this computer to sign in to {issuer}:\n\n    {url}\n"
            )),
            LoginStep::SignInAt {
                issuer,
                url,
                browser: true,
            } => output::note(format_args!(
                "Opening your browser to sign in to {issuer}. If it does not open, visit:\n\n    {url}\n"
            )),
            LoginStep::BrowserFailed(why) => {
                output::warn(format_args!("{why}; open the URL above yourself"))
            }
            LoginStep::WaitingForBrowser(limit) => {
                output::note(format_args!(
                    "Waiting up to {} for the sign-in to finish in the browser...",
                    sso::human(limit.as_secs())
                ));
                self.spin("waiting for the browser", limit);
            }
            LoginStep::EnterCode {
                verification_uri,
                user_code,
                complete,
            } => {
                output::note(format_args!(
                    "To sign in, open {verification_uri} on any device and enter the code\n\n    {user_code}\n"
                ));
                if let Some(complete) = complete {
                    output::note(format_args!(
                        "(or open {complete} to have the code filled in)"
                    ));
                }
                // A phone can scan what is hard to type; only a terminal shows it as one.
                if std::io::stderr().is_terminal() {
                    let columns = terminal_size::terminal_size_of(std::io::stderr())
                        .map_or(80, |(w, _)| usize::from(w.0));
                    match qr_code(complete.unwrap_or(verification_uri), columns) {
                        Some(code) => {
                            output::note(format_args!("Or scan this with a phone:\n\n{code}\n"))
                        }
                        None => tracing::info!(
                            "the sign-in URL's QR code is wider than the terminal's {columns} columns; not shown"
                        ),
                    }
                }
            }
            LoginStep::WaitingForApproval(limit) => {
                output::note(format_args!(
                    "Waiting up to {} for the sign-in to be approved...",
                    sso::human(limit.as_secs())
                ));
                self.spin("waiting for the approval", limit);
            }
            LoginStep::Warning(w) => output::warn(w),
        }
    }
}

/// Longest URL drawn as a QR code (a device URL with its code is under 100 bytes; past this
/// the code is too dense to scan from a terminal).
const QR_MAX_URL: usize = 512;

/// `url` as a QR code in Unicode half blocks (two modules a character), light modules drawn:
/// on the usual dark terminal it reads dark-on-light, quiet zone included. `None` when the URL
/// is too long or the code wider than `columns`.
fn qr_code(url: &SafeUrl, columns: usize) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let text = url.as_str();
    if text.len() > QR_MAX_URL {
        return None;
    }
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::L).ok()?;
    // The symbol and a quiet zone of 4 modules each side.
    if code.width() + 8 > columns {
        return None;
    }
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

impl LogoutCommand {
    pub fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError> {
        let LogoutCommand::Sso = self;
        let out = sso::logout(&ctx.settings)?;
        if let Some(why) = &out.config_error {
            output::warn(format_args!(
                "the SSO configuration cannot be read ({why}); every stored session is ended as its own record says"
            ));
        }
        for s in &out.sessions {
            if let Revocation::Failed(why) = &s.revocation {
                output::warn(format_args!(
                    "{} did not confirm the revocation of {}'s session ({why}); the session is deleted locally anyway",
                    s.issuer,
                    s.user.who()
                ));
            }
        }
        match ctx.output {
            OutputFormat::Json => {
                let first = out.sessions.first();
                let sessions: Vec<serde_json::Value> = out
                    .sessions
                    .iter()
                    .map(|s| {
                        json!({
                            "user": user_json(&s.user),
                            "issuer": s.issuer,
                            "client_id": s.client_id,
                            "current": s.current,
                            "revocation": revocation_word(&s.revocation),
                            "not_revoked": match &s.revocation {
                                Revocation::NotOffered(remains) => Some(*remains),
                                _ => None,
                            },
                        })
                    })
                    .collect();
                output::json(&json!({
                    "signed_out": first.is_some(),
                    "user": first.map(|s| user_json(&s.user)),
                    "revocation": first.map_or("not signed in", |s| revocation_word(&s.revocation)),
                    "sessions": sessions,
                }))
            }
            OutputFormat::Text if out.sessions.is_empty() => {
                output::line("Not signed in with SSO; nothing to do.")
            }
            OutputFormat::Text => {
                for s in &out.sessions {
                    let whose = if s.current {
                        s.user.who()
                    } else {
                        format!(
                            "{} (an earlier configuration: client {} at {})",
                            s.user.who(),
                            s.client_id,
                            s.issuer
                        )
                    };
                    match &s.revocation {
                        Revocation::Revoked => output::line(format_args!(
                            "Signed out {whose}: the session was revoked at the identity provider and deleted from {}.",
                            s.location
                        )),
                        Revocation::NotOffered(remains) => {
                            output::line(format_args!(
                                "Signed out {whose}: the session was deleted from {}.",
                                s.location
                            ));
                            output::warn(format_args!("nothing was revoked: {remains}"));
                        }
                        other => output::line(format_args!(
                            "Signed out {whose}: the session was deleted from {} (revocation {}).",
                            s.location,
                            revocation_word(other)
                        )),
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn revocation_word(r: &Revocation) -> &'static str {
    match r {
        Revocation::Revoked => "revoked",
        Revocation::NotOffered(_) => "not offered by the identity provider",
        Revocation::Failed(_) => "failed",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_drawn_in_half_blocks_within_the_terminal() {
        let url = SafeUrl::parse("https://idp.example/device?user_code=WDJB-MJHT").unwrap();
        let code = qr_code(&url, 80).unwrap();
        let rows: Vec<&str> = code.lines().collect();
        let width = rows[0].chars().count();
        assert!(rows.iter().all(|r| r.chars().count() == width));
        assert!(
            width <= 80 && rows.len() * 2 >= width,
            "{width}x{}",
            rows.len()
        );
        assert!(
            code.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n')),
            "only half blocks"
        );
        // The quiet zone is drawn (light): the first row is full blocks.
        assert!(rows[0].chars().all(|c| c == '\u{2588}'));
        assert_eq!(qr_code(&url, width - 1), None, "wider than the terminal");
        let long = SafeUrl::parse(&format!("https://idp.example/{}", "a".repeat(600))).unwrap();
        assert_eq!(qr_code(&long, 1000), None, "too long to scan");
    }
}
