//! A login that fits the machine (issue 15, item 6): `OAUTH_SSO_LOGIN_METHOD=auto|browser|
//! device`, the one line that says which sign-in was chosen and why, and the device flow's QR
//! code on a terminal. The real `lmi`, the real provider (tests/idp) and the headless browser
//! as `$BROWSER`: each sign-in that should finish does.
//!
//! The test homes are desktop sessions (`DISPLAY` is set, support/mod.rs); these tests take
//! it away and set `SSH_CONNECTION` as an SSH login would.

use crate::sso::{keychain_records, require_keyring};
use crate::support::browser::{self, Browser};
use crate::support::idp::Idp;
use crate::support::pty::Terminal;
use crate::support::{Home, Run};

const SSH_CONNECTION: &str = "203.0.113.7 51022 10.0.0.5 22";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn home_for(idp: &Idp) -> Home {
    require_keyring();
    let home = Home::new();
    home.global_env(&idp.sso_env());
    home
}

/// This home as an SSH login with no X forwarding.
fn over_ssh(home: &mut Home) -> &mut Home {
    home.unset("DISPLAY")
        .unset("WAYLAND_DISPLAY")
        .env("SSH_CONNECTION", SSH_CONNECTION)
}

/// `lmi login sso` (plus `args`), signed in as `login` by the headless browser.
fn login(home: &Home, args: &[&str]) -> Run {
    let mut all = vec!["login", "sso", "--force"];
    all.extend_from_slice(args);
    home.run(all)
}

/// `lmi login sso` (plus `args`) that gives up after a second: for what is shown before the
/// user would act.
fn login_abandoned(home: &mut Home, args: &[&str]) -> Run {
    home.env("LMI_SSO_LOGIN_TIMEOUT_SECS", "1");
    let run = login(home, args);
    home.unset("LMI_SSO_LOGIN_TIMEOUT_SECS");
    run
}

#[track_caller]
fn signed_in(run: &Run, home: &Home, login: &str) {
    assert_eq!(
        run.code,
        0,
        "login failed: {run:#?}\nbrowser: {}",
        browser::log(home)
    );
    run.stdout_has(&format!("Signed in as {login}@example.test"));
}

fn device_grants(idp: &Idp) -> u64 {
    idp.counters()["device_authorization"].as_u64().unwrap_or(0)
}

// ---- auto ------------------------------------------------------------------------------------

/// Over SSH with no display, `auto` signs in with a device code and says why; the provider
/// never sees an authorization request. (The headless browser, as `$BROWSER`, approves the
/// code on the verification page, as the user would on a phone.)
#[test]
fn auto_over_ssh_without_a_display_signs_in_with_a_device_code() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    over_ssh(&mut home);
    browser::set_browser(&mut home, Browser::device("alice"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "alice");
    run.stderr_has(
        "Signing in with a device code: this is an SSH session with no display (OAUTH_SSO_LOGIN_METHOD=auto).",
    )
    .stderr_has("and enter the code")
    // stderr is a pipe here: the URL and the code as text, no QR code.
    .stderr_lacks("scan this")
    .stderr_lacks("\u{2588}");
    assert_eq!(device_grants(&idp), 1);
    assert!(idp.token_requests(DEVICE_GRANT) >= 1);
    assert!(idp.authorization_requests().is_empty());
    assert!(!keychain_records(&idp).is_empty());

    // Doctor says the same before anyone tries.
    home.run(["doctor", "--offline"]).stdout_has(
        "lmi login sso here: Signing in with a device code: this is an SSH session with no display (OAUTH_SSO_LOGIN_METHOD=auto). Through the browser if the provider offers no device code or refuses it to this client.",
    );
}

/// With a display (an X-forwarded SSH session, or a desktop) `auto` takes the browser.
#[test]
fn auto_with_a_display_signs_in_through_the_browser() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    // SSH with X forwarding: DISPLAY is set.
    home.env("SSH_CONNECTION", SSH_CONNECTION)
        .env("DISPLAY", "localhost:10.0");
    browser::set_browser(&mut home, Browser::approve("bob"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "bob");
    run.stderr_has(
        "Signing in through the browser: a display is available (OAUTH_SSO_LOGIN_METHOD=auto).",
    )
    .stderr_lacks("enter the code");
    assert_eq!(device_grants(&idp), 0);
    assert_eq!(idp.authorization_requests().len(), 1);

    // A Wayland desktop, no SSH.
    home.unset("SSH_CONNECTION")
        .unset("DISPLAY")
        .env("WAYLAND_DISPLAY", "wayland-0");
    let run = login(&home, &[]);
    signed_in(&run, &home, "bob");
    run.stderr_has("a display is available (OAUTH_SSO_LOGIN_METHOD=auto)");
    assert_eq!(device_grants(&idp), 0);
}

/// A Linux machine with no display at all (a server, a container), not over SSH: the device
/// flow too, said in its own words; with no `$BROWSER` and no display, nothing is started.
#[test]
fn auto_without_any_display_takes_the_device_flow() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    home.unset("DISPLAY");
    let run = login_abandoned(&mut home, &[]);
    run.code(4)
        .stderr_has("Signing in with a device code: neither DISPLAY nor WAYLAND_DISPLAY is set (OAUTH_SSO_LOGIN_METHOD=auto).")
        .stderr_has("and enter the code");
    assert_eq!(device_grants(&idp), 1);
    assert!(browser::log(&home).is_empty());
}

/// A provider that does not advertise device authorization: `auto` says so and signs in
/// through the browser. `$BROWSER` (the user's own word) is still run; without it, on a
/// machine with no display, the URL is printed and no opener is tried.
#[test]
fn auto_falls_back_to_the_browser_when_the_provider_offers_no_device_grant() {
    let idp = Idp::start_with(&[("IDP_HIDE_DISCOVERY", "device_authorization_endpoint")]);
    let mut home = home_for(&idp);
    over_ssh(&mut home);
    let run = login_abandoned(&mut home, &[]);
    run.code(4)
        .stderr_has(&format!(
            "Signing in through the browser: this is an SSH session with no display, but {} offers no device sign-in (OAUTH_SSO_LOGIN_METHOD=auto); the URL is printed for you to open; the browser must reach this machine's 127.0.0.1",
            idp.issuer()
        ))
        .stderr_has("Open this URL in a browser on this computer")
        .stderr_lacks("Opening your browser")
        .stderr_lacks("no browser could be opened");
    assert_eq!(device_grants(&idp), 0);
    // Doctor, which asks the provider, foresees the fallback.
    home.run(["doctor"]).stdout_has(&format!(
        "lmi login sso here: Signing in through the browser: this is an SSH session with no display, but {} offers no device sign-in",
        idp.issuer()
    ));
    // Asked for a device code by name, it fails, with the way out.
    home.env("OAUTH_SSO_LOGIN_METHOD", "device");
    let doctor = home.run(["doctor"]);
    doctor.code(1).stdout_has(&format!(
        "lmi login sso here: Signing in with a device code (OAUTH_SSO_LOGIN_METHOD=device). But {} offers no device sign-in. — fix: set OAUTH_SSO_LOGIN_METHOD=browser",
        idp.issuer()
    ));
    home.unset("OAUTH_SSO_LOGIN_METHOD");

    browser::set_browser(&mut home, Browser::approve("carol"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "carol");
    run.stderr_has("offers no device sign-in (OAUTH_SSO_LOGIN_METHOD=auto)")
        .stderr_has("Opening your browser");
    assert_eq!(device_grants(&idp), 0);
    assert_eq!(idp.authorization_requests().len(), 1);
}

/// A provider that advertises device authorization but refuses it for this client (Okta's
/// and Auth0's default until an administrator adds the grant; oidc-provider, here, answers
/// `invalid_request`): `auto` says why and signs in through the browser rather than failing;
/// asked for a device code by name, it still fails.
#[test]
fn auto_falls_back_to_the_browser_when_the_provider_refuses_the_device_grant() {
    let idp = Idp::start_with(&[("IDP_DEVICE_GRANT", "off")]);
    let mut home = home_for(&idp);
    over_ssh(&mut home);
    browser::set_browser(&mut home, Browser::approve("dave"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "dave");
    run.stderr_has(
        "Signing in with a device code: this is an SSH session with no display (OAUTH_SSO_LOGIN_METHOD=auto).",
    )
    .stderr_has(&format!(
        "Signing in through the browser: this is an SSH session with no display, but {} would not start a device sign-in for the client `{}` (invalid_request (",
        idp.issuer(),
        idp.client_id()
    ))
    .stderr_has("(OAUTH_SSO_LOGIN_METHOD=auto); the browser must reach this machine's 127.0.0.1")
    .stderr_lacks("enter the code");
    assert_eq!(device_grants(&idp), 1);
    assert_eq!(idp.authorization_requests().len(), 1);
    assert!(!keychain_records(&idp).is_empty());

    // Doctor cannot know without starting a device sign-in, and says what login would do.
    home.run(["doctor"]).code(0).stdout_has(
        "lmi login sso here: Signing in with a device code: this is an SSH session with no display (OAUTH_SSO_LOGIN_METHOD=auto). Through the browser if the provider refuses the device code to this client.",
    );

    // Named, the method is not second-guessed: the provider's refusal, and nothing more.
    home.env("OAUTH_SSO_LOGIN_METHOD", "device");
    login(&home, &[])
        .code(4)
        .stderr_has("the identity provider would not start a device sign-in: invalid_request")
        .stderr_lacks("Signing in through the browser");
    assert_eq!(device_grants(&idp), 2);
    assert_eq!(idp.authorization_requests().len(), 1);
    home.unset("OAUTH_SSO_LOGIN_METHOD");

    // Only the provider's own refusal sends auto to the browser: a device endpoint that does
    // not answer is an error, as the browser's endpoints would be.
    home.env(
        "OAUTH_SSO_DEVICE_AUTHORIZATION_URL",
        "http://127.0.0.1:9/device",
    );
    login(&home, &[])
        .code(4)
        .stderr_has("the identity provider would not start a device sign-in")
        .stderr_lacks("Signing in through the browser");
    assert_eq!(idp.authorization_requests().len(), 1);
}

/// Google refuses a device request from its Desktop client type (`invalid_client`, which a
/// mistyped client id also gets): `auto` falls back to the browser and says where to look if
/// the sign-in page refuses the client too. With no `$BROWSER` and no display, nothing is
/// started: the URL is printed.
#[test]
fn auto_falls_back_from_an_invalid_client_and_says_where_to_look() {
    let idp = Idp::start_profile("google", &[("IDP_DEVICE_GRANT", "off")]);
    let mut home = home_for(&idp);
    over_ssh(&mut home);
    let run = login_abandoned(&mut home, &[]);
    run.code(4)
        .stderr_has(&format!(
            "but {} would not start a device sign-in for the client `lmi-desktop` (invalid_client (Invalid client type.); if the sign-in page refuses the client too, check OAUTH_SSO_CLIENT_ID) (OAUTH_SSO_LOGIN_METHOD=auto); the URL is printed for you to open",
            idp.issuer()
        ))
        .stderr_has("Open this URL in a browser on this computer")
        .stderr_lacks("Opening your browser")
        .stderr_lacks("enter the code");
    assert!(browser::log(&home).is_empty());
    assert_eq!(device_grants(&idp), 1);
    assert!(keychain_records(&idp).is_empty());
}

// ---- the key and the flags -------------------------------------------------------------------

/// `OAUTH_SSO_LOGIN_METHOD=device` (any case) on a desktop, `browser` over SSH: each is
/// obeyed and named.
#[test]
fn the_key_forces_the_method() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    home.env("OAUTH_SSO_LOGIN_METHOD", "Device");
    browser::set_browser(&mut home, Browser::device("dave"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "dave");
    run.stderr_has("Signing in with a device code (OAUTH_SSO_LOGIN_METHOD=device).");
    assert_eq!(device_grants(&idp), 1);

    home.unset("OAUTH_SSO_LOGIN_METHOD");
    home.global_env(&format!(
        "{}OAUTH_SSO_LOGIN_METHOD=browser\n",
        idp.sso_env()
    ));
    over_ssh(&mut home);
    browser::set_browser(&mut home, Browser::approve("dave"));
    let run = login(&home, &[]);
    signed_in(&run, &home, "dave");
    run.stderr_has("Signing in through the browser (OAUTH_SSO_LOGIN_METHOD=browser).");
    assert_eq!(device_grants(&idp), 1, "no second device sign-in");
}

/// `--device` and `--no-browser` win over the key, and say so.
#[test]
fn the_flags_win_over_the_key() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    home.global_env(&format!(
        "{}OAUTH_SSO_LOGIN_METHOD=browser\n",
        idp.sso_env()
    ));
    login_abandoned(&mut home, &["--device", "--no-browser"])
        .code(4)
        .stderr_has("Signing in with a device code (--device).")
        .stderr_has("and enter the code");
    assert_eq!(device_grants(&idp), 1);

    home.global_env(&format!("{}OAUTH_SSO_LOGIN_METHOD=device\n", idp.sso_env()));
    login_abandoned(&mut home, &["--no-browser"])
        .code(4)
        .stderr_has(
            "Signing in through the browser (--no-browser); the URL is printed for you to open.",
        )
        .stderr_has("Open this URL in a browser");
    assert_eq!(device_grants(&idp), 1, "no device sign-in");
}

/// A value that is no method is a configuration error (exit 2) naming the key, where it is
/// set and the choices, before anything is asked of the provider; `lmi config set` refuses it.
#[test]
fn a_bad_method_is_exit_2_naming_the_key() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    home.env("OAUTH_SSO_LOGIN_METHOD", "qr-code");
    home.run(["login", "sso"])
        .code(2)
        .stderr_has("OAUTH_SSO_LOGIN_METHOD has an invalid value in the process environment: `qr-code` is not a login method: use one of auto, browser, device");
    assert_eq!(device_grants(&idp), 0);
    assert!(idp.authorization_requests().is_empty());
    home.unset("OAUTH_SSO_LOGIN_METHOD");
    home.run(["config", "set", "OAUTH_SSO_LOGIN_METHOD", "phone"])
        .code(2)
        .stderr_has("OAUTH_SSO_LOGIN_METHOD");
    home.run(["config", "set", "OAUTH_SSO_LOGIN_METHOD", "DEVICE"])
        .success();
}

// ---- the QR code -----------------------------------------------------------------------------

/// The QR code lmi drew on the terminal, read back as a grid of modules (`true` dark), from
/// the screen's text (rexpect hands UTF-8 over byte by byte as Latin-1).
fn qr_on_screen(screen: &str) -> Option<Vec<Vec<bool>>> {
    let bytes: Vec<u8> = screen.chars().map(|c| c as u32 as u8).collect();
    let text = String::from_utf8_lossy(&bytes);
    let is_qr =
        |l: &str| !l.is_empty() && l.chars().all(|c| " \u{2580}\u{2584}\u{2588}".contains(c));
    let rows: Vec<&str> = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| !(is_qr(l) && l.contains('\u{2588}')))
        .take_while(|l| is_qr(l))
        .collect();
    if rows.is_empty() {
        return None;
    }
    // Light modules are drawn (a dark terminal shows dark on light): upper and lower half.
    let mut grid = Vec::new();
    for row in rows {
        let (top, bottom): (Vec<bool>, Vec<bool>) = row
            .chars()
            .map(|c| match c {
                '\u{2588}' => (false, false),
                '\u{2580}' => (false, true),
                '\u{2584}' => (true, false),
                _ => (true, true),
            })
            .unzip();
        grid.push(top);
        grid.push(bottom);
    }
    Some(grid)
}

/// Decodes the grid with an independent QR reader.
fn decode(grid: &[Vec<bool>]) -> String {
    const SCALE: usize = 4;
    let (w, h) = (grid[0].len(), grid.len());
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * SCALE, h * SCALE, |x, y| {
        if grid[y / SCALE][x / SCALE] { 0 } else { 255 }
    });
    let found = img.detect_grids();
    assert_eq!(found.len(), 1, "one QR code");
    found[0].decode().expect("a readable QR code").1
}

/// On a terminal the device code comes with a QR code of `verification_uri_complete`, which
/// an independent reader decodes to exactly the URL printed beside it; piped, there is none,
/// and the URL and code are there as text either way.
#[test]
fn the_device_flow_shows_a_qr_code_on_a_terminal_only() {
    let idp = Idp::start();
    let mut home = home_for(&idp);
    browser::set_browser(&mut home, Browser::device("erin"));
    let mut term = Terminal::spawn(&home, &["login", "sso", "--device", "--force"]);
    term.expect("and enter the code")
        .expect("Or scan this with a phone:");
    let (code, screen) = term.finish();
    assert_eq!(code, 0, "{screen}");
    let grid = qr_on_screen(&screen).unwrap_or_else(|| panic!("no QR code:\n{screen}"));
    let url = decode(&grid);
    let complete = format!("{}/device?user_code=", idp.origin());
    assert!(url.starts_with(&complete), "{url}");
    assert!(
        screen.contains(&format!("(or open {url} to have the code filled in)")),
        "the QR code is the URL shown:\n{url}\n{screen}"
    );
    assert!(
        screen.contains("Signed in as erin@example.test"),
        "{screen}"
    );

    let run = login(&home, &["--device"]);
    signed_in(&run, &home, "erin");
    run.stderr_has("and enter the code")
        .stderr_has(&complete)
        .stderr_lacks("scan this")
        .stderr_lacks("\u{2588}")
        .stderr_lacks("\u{2580}");
}
