//! Which sign-in `lmi login sso` runs, and why: the flags of this command line (`--device`,
//! `--no-browser`, `--redirect-port`) win over `OAUTH_SSO_LOGIN_METHOD`; with `auto` (the
//! default) the machine decides. A browser on this machine is of no use when the user is not
//! at it: over SSH with no display, or (on Linux and the other X11/Wayland systems) with no
//! display at all. Then the device flow is chosen if the provider offers it, and otherwise (no
//! device-authorization endpoint, or one that refuses this client) the browser flow prints its
//! URL rather than starting a browser nobody sees.
//!
//! [`Choice`]'s `Display` is the one line that tells the user what was chosen and why.

use crate::settings::{LoginMethod, Seat, keys};

use super::LoginOptions;

/// The grant a login runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Authorization code through a browser and the loopback redirect.
    Browser,
    /// The device-authorization grant (RFC 8628).
    Device,
}

/// The user's situation, as `auto` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// A browser can be shown here.
    Display,
    /// Over SSH with no display (no X forwarding, or not an X11/Wayland system).
    SshWithoutDisplay,
    /// An X11/Wayland system with neither `DISPLAY` nor `WAYLAND_DISPLAY` (a server, a
    /// container, a console).
    NoDisplay,
}

impl Machine {
    /// The machine as `seat` shows it. Only X11/Wayland systems announce their display in the
    /// environment; on macOS and Windows only an SSH session means the user is elsewhere.
    pub fn of(seat: Seat) -> Self {
        Self::on(seat, cfg!(any(target_os = "macos", windows)))
    }

    fn on(seat: Seat, display_always: bool) -> Self {
        let display = seat.display || (display_always && !seat.ssh);
        match (display, seat.ssh) {
            (true, _) => Self::Display,
            (false, true) => Self::SshWithoutDisplay,
            (false, false) => Self::NoDisplay,
        }
    }

    fn shows_a_browser(self) -> bool {
        self == Self::Display
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Display => "a display is available",
            Self::SshWithoutDisplay => "this is an SSH session with no display",
            Self::NoDisplay => "neither DISPLAY nor WAYLAND_DISPLAY is set",
        }
    }
}

/// What decided the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A flag of this command line.
    Flag(&'static str),
    /// `OAUTH_SSO_LOGIN_METHOD=browser` or `device`.
    Key(LoginMethod),
    /// `auto`, by the machine.
    Machine(Machine),
    /// `auto` would have taken the device flow, but the provider does not offer it, or not
    /// to this client; `why` says which, as "<issuer> offers no device sign-in".
    NoDeviceGrant { machine: Machine, why: String },
}

/// The sign-in to run: the grant, why, and whether a browser is started on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub grant: Grant,
    pub reason: Reason,
    /// Start a browser (`$BROWSER` or the platform's opener) on the sign-in URL; otherwise
    /// the URL is only printed.
    pub open_browser: bool,
}

impl Choice {
    /// The choice before the provider is asked: `auto` on a machine without a browser asks
    /// for the device grant, which [`Choice::without_device_grant`] undoes when the provider
    /// offers none and [`Choice::device_grant_refused`] when it refuses it. `browser_set`:
    /// `$BROWSER` names a program, which is run even where no display is seen (the user said
    /// how to open a page here).
    pub fn make(
        opts: &LoginOptions,
        method: LoginMethod,
        machine: Machine,
        browser_set: bool,
    ) -> Self {
        let (grant, reason) = if opts.device {
            (Grant::Device, Reason::Flag("--device"))
        } else if opts.no_browser {
            (Grant::Browser, Reason::Flag("--no-browser"))
        } else if opts.redirect_port.is_some() {
            (Grant::Browser, Reason::Flag("--redirect-port"))
        } else {
            match method {
                LoginMethod::Browser => (Grant::Browser, Reason::Key(method)),
                LoginMethod::Device => (Grant::Device, Reason::Key(method)),
                LoginMethod::Auto if machine.shows_a_browser() => {
                    (Grant::Browser, Reason::Machine(machine))
                }
                LoginMethod::Auto => (Grant::Device, Reason::Machine(machine)),
            }
        };
        Self {
            grant,
            reason,
            open_browser: !opts.no_browser && (machine.shows_a_browser() || browser_set),
        }
    }

    /// Whether the grant was chosen by `auto` and so depends on the provider offering it.
    pub fn needs_the_device_grant_offered(&self) -> bool {
        self.grant == Grant::Device && matches!(self.reason, Reason::Machine(_))
    }

    /// `auto`'s fallback when the provider (`issuer`) has no device-authorization endpoint.
    pub fn without_device_grant(self, issuer: &str) -> Self {
        self.browser_instead(format!("{issuer} offers no device sign-in"))
    }

    /// `auto`'s fallback when the provider (`issuer`) advertises the device grant but refused
    /// to start it for `client` (`refusal`: its error, already made safe to show), as Okta
    /// does until an administrator adds the grant to the app.
    pub fn device_grant_refused(self, issuer: &str, client: &str, refusal: &str) -> Self {
        self.browser_instead(format!(
            "{issuer} would not start a device sign-in for the client `{client}` ({refusal})"
        ))
    }

    /// The browser, when `auto` chose the device flow and the provider will not run it.
    /// Any other choice is the user's and stays as it is.
    fn browser_instead(self, why: String) -> Self {
        match self.reason {
            Reason::Machine(machine) => Self {
                grant: Grant::Browser,
                reason: Reason::NoDeviceGrant { machine, why },
                ..self
            },
            _ => self,
        }
    }

    /// How to sign in without the device grant, for an error that refuses it.
    pub fn other_way(&self) -> String {
        match &self.reason {
            Reason::Flag(flag) => format!("sign in without {flag}"),
            _ => format!(
                "set {}=browser to sign in through the browser",
                keys::SSO_LOGIN_METHOD
            ),
        }
    }
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = keys::SSO_LOGIN_METHOD;
        let grant = match self.grant {
            Grant::Browser => "Signing in through the browser",
            Grant::Device => "Signing in with a device code",
        };
        let printed = if self.grant == Grant::Browser && !self.open_browser {
            "; the URL is printed for you to open"
        } else {
            ""
        };
        match &self.reason {
            Reason::Flag(flag) => write!(f, "{grant} ({flag}){printed}."),
            Reason::Key(method) => write!(f, "{grant} ({key}={}){printed}.", method.name()),
            Reason::Machine(machine) => {
                write!(f, "{grant}: {} ({key}=auto){printed}.", machine.describe())
            }
            Reason::NoDeviceGrant { machine, why } => write!(
                f,
                "{grant}: {}, but {why} ({key}=auto){printed}; the browser must reach this machine's 127.0.0.1 (over SSH, forward the redirect port with `ssh -L`).",
                machine.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSH: Seat = Seat {
        ssh: true,
        display: false,
    };
    const X_FORWARDED: Seat = Seat {
        ssh: true,
        display: true,
    };
    const DESKTOP: Seat = Seat {
        ssh: false,
        display: true,
    };
    const BARE: Seat = Seat {
        ssh: false,
        display: false,
    };

    #[test]
    fn the_machine_is_read_per_platform() {
        // Linux and the other X11/Wayland systems.
        assert_eq!(Machine::on(SSH, false), Machine::SshWithoutDisplay);
        assert_eq!(Machine::on(X_FORWARDED, false), Machine::Display);
        assert_eq!(Machine::on(DESKTOP, false), Machine::Display);
        assert_eq!(Machine::on(BARE, false), Machine::NoDisplay);
        // macOS and Windows: only SSH tells.
        assert_eq!(Machine::on(BARE, true), Machine::Display);
        assert_eq!(Machine::on(SSH, true), Machine::SshWithoutDisplay);
    }

    fn choose(opts: LoginOptions, method: LoginMethod, machine: Machine) -> Choice {
        Choice::make(&opts, method, machine, false)
    }

    #[test]
    fn auto_follows_the_machine_and_flags_win_over_the_key() {
        let plain = LoginOptions::default();
        let c = choose(plain.clone(), LoginMethod::Auto, Machine::SshWithoutDisplay);
        assert_eq!(c.grant, Grant::Device);
        assert!(!c.open_browser && c.needs_the_device_grant_offered());
        assert_eq!(
            c.to_string(),
            "Signing in with a device code: this is an SSH session with no display (OAUTH_SSO_LOGIN_METHOD=auto)."
        );
        let c = choose(plain.clone(), LoginMethod::Auto, Machine::Display);
        assert_eq!((c.grant, c.open_browser), (Grant::Browser, true));
        assert_eq!(
            c.to_string(),
            "Signing in through the browser: a display is available (OAUTH_SSO_LOGIN_METHOD=auto)."
        );
        let c = choose(plain.clone(), LoginMethod::Device, Machine::Display);
        assert_eq!(c.grant, Grant::Device);
        assert!(
            !c.needs_the_device_grant_offered(),
            "asked for: no fallback"
        );
        assert_eq!(
            c.to_string(),
            "Signing in with a device code (OAUTH_SSO_LOGIN_METHOD=device)."
        );
        let c = choose(plain, LoginMethod::Browser, Machine::NoDisplay);
        assert_eq!((c.grant, c.open_browser), (Grant::Browser, false));
        assert!(
            c.to_string()
                .ends_with("; the URL is printed for you to open.")
        );

        let device = LoginOptions {
            device: true,
            ..LoginOptions::default()
        };
        let c = choose(device, LoginMethod::Browser, Machine::Display);
        assert_eq!(c.grant, Grant::Device);
        assert_eq!(c.to_string(), "Signing in with a device code (--device).");
        assert_eq!(c.other_way(), "sign in without --device");
        let no_browser = LoginOptions {
            no_browser: true,
            ..LoginOptions::default()
        };
        let c = choose(no_browser, LoginMethod::Device, Machine::Display);
        assert_eq!((c.grant, c.open_browser), (Grant::Browser, false));
        let port = LoginOptions {
            redirect_port: Some(8400),
            ..LoginOptions::default()
        };
        let c = choose(port, LoginMethod::Auto, Machine::SshWithoutDisplay);
        assert_eq!(c.grant, Grant::Browser);
        assert_eq!(
            c.to_string(),
            "Signing in through the browser (--redirect-port); the URL is printed for you to open."
        );
    }

    #[test]
    fn browser_is_run_without_a_display_and_auto_falls_back_without_a_device_grant() {
        let c = Choice::make(
            &LoginOptions::default(),
            LoginMethod::Auto,
            Machine::NoDisplay,
            true,
        );
        assert!(c.open_browser, "$BROWSER is the user's word");
        let c = choose(
            LoginOptions::default(),
            LoginMethod::Auto,
            Machine::SshWithoutDisplay,
        )
        .without_device_grant("https://idp.example");
        assert_eq!(c.grant, Grant::Browser);
        let line = c.to_string();
        assert!(
            line.starts_with("Signing in through the browser: this is an SSH session with no display, but https://idp.example offers no device sign-in (OAUTH_SSO_LOGIN_METHOD=auto); the URL is printed"),
            "{line}"
        );
        // A grant the user asked for is not changed behind their back.
        let asked = choose(
            LoginOptions::default(),
            LoginMethod::Device,
            Machine::Display,
        );
        assert_eq!(asked.clone().without_device_grant("https://i"), asked);
        assert_eq!(
            asked
                .clone()
                .device_grant_refused("https://i", "cli", "unauthorized_client"),
            asked
        );
        let refused = choose(
            LoginOptions::default(),
            LoginMethod::Auto,
            Machine::NoDisplay,
        )
        .device_grant_refused("https://i", "cli", "unauthorized_client");
        assert_eq!(refused.grant, Grant::Browser);
        assert!(
            refused.to_string().contains(
                "but https://i would not start a device sign-in for the client `cli` (unauthorized_client) (OAUTH_SSO_LOGIN_METHOD=auto)"
            ),
            "{refused}"
        );
        assert!(asked.other_way().contains("OAUTH_SSO_LOGIN_METHOD=browser"));
    }
}
