//! Progress on a terminal: lmi's own spinner while `plugin install` compiles, the SDK's bar
//! drawn by a plugin (`api get -o FILE`), and what a plugin may write around it. Each on a
//! real pseudo-terminal, and piped, where nothing of it may show.

use crate::support::pty::Terminal;
use crate::support::{Home, plugin_dir};

/// The api plugin compiles for seconds in a debug build (well past the 300 ms before the
/// spinner shows): on a terminal the spinner names it and its line is blanked before the
/// next line; piped, stderr has nothing of it (no `\r`, no "compiling").
#[test]
fn plugin_install_shows_a_spinner_on_a_terminal_and_nothing_when_piped() {
    let home = Home::new();
    let api = plugin_dir("plugins/api");
    let api = api.to_str().unwrap();
    let mut tty = Terminal::spawn(&home, &["plugin", "install", "--yes", api]);
    tty.expect("compiling api...");
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\r- compiling api..."), "{screen:?}");
    // Blanked (spaces over the line, back to its start) before "Installing api" is printed.
    let blank = format!("\r{}\r", " ".repeat("- compiling api...".len()));
    let blanked = screen.find(&blank).expect("the spinner's line is blanked");
    let installing = screen.find("Installing api").unwrap();
    assert!(blanked < installing, "{screen:?}");

    let piped = Home::new();
    let run = piped.install(&plugin_dir("plugins/api"));
    assert!(
        !run.stderr.contains("compiling") && !run.stderr.contains('\r'),
        "{:?}",
        run.stderr
    );
    // `--quiet` turns it off on a terminal too.
    let quiet = Home::new();
    let tty = Terminal::spawn(&quiet, &["--quiet", "plugin", "install", "--yes", api]);
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("compiling"), "{screen:?}");
}

/// `api get -o FILE` on a terminal draws the SDK's bar over the content-length on stderr
/// and blanks it; piped, stderr is empty. The file is whole either way.
#[test]
fn the_api_plugins_download_bar_reaches_a_terminal_and_not_a_pipe() {
    use crate::support::fault::{FaultServer, Reply};
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let served = body.clone();
    let srv = FaultServer::start(move |req, n| match req.path() {
        "/token" => Reply::json(
            200,
            serde_json::json!({"access_token": format!("tok-{n}"), "token_type": "Bearer", "expires_in": 3600}),
        ),
        "/api/v1/big" => Reply::raw(200, "application/octet-stream", served.clone()),
        _ => Reply::status(404),
    });
    let home = Home::new();
    home.global_env("default_environment=dev\n");
    home.env_file("dev", &srv.client_credentials_env("progress-secret-9"));
    home.install(&plugin_dir("plugins/api"));
    let work = tempfile::tempdir().unwrap();

    let tty = Terminal::spawn_in(
        &home,
        Some(work.path()),
        &["api", "get", "-o", "big.bin", "v1/big"],
    );
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\rbig.bin ["), "{screen:?}");
    assert!(screen.contains("/4.0 MiB"), "{screen:?}");
    assert!(
        screen.ends_with('\r'),
        "the line is blanked at the end: {screen:?}"
    );
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert_eq!(std::fs::read(work.path().join("big.bin")).unwrap(), body);

    std::fs::remove_file(work.path().join("big.bin")).unwrap();
    let piped = home.run_in(work.path(), ["api", "get", "-o", "big.bin", "v1/big"]);
    piped.success();
    assert_eq!(piped.stderr, "", "nothing on a pipe");
    assert_eq!(std::fs::read(work.path().join("big.bin")).unwrap(), body);
}

/// A plugin's progress redraws (`\r` and spaces) reach the terminal through lmi's stderr
/// filter; an OSC 52 written between them is still dropped (docs/security.md R2.6). Piped,
/// the SDK draws nothing.
#[test]
fn a_plugins_progress_passes_and_its_clipboard_write_does_not() {
    let home = Home::new();
    home.install(&plugin_dir("tests/plugins/hostile"));
    let tty = Terminal::spawn(&home, &["progress-escapes"]);
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("\rhostile progress ["), "{screen:?}");
    assert!(screen.contains("100%  3/3"), "{screen:?}");
    assert!(screen.contains("progress-escapes: done"), "{screen:?}");
    assert!(
        !screen.contains("52;c;") && !screen.contains("cm0gLXJmIH4="),
        "the clipboard write reached the terminal: {screen:?}"
    );

    let piped = home.run(["progress-escapes"]);
    piped.success();
    assert!(
        !piped.stderr.contains('\r') && !piped.stderr.contains("hostile progress"),
        "{:?}",
        piped.stderr
    );
}

/// The browser sign-in's wait shows a spinner counting the time left on a terminal, blanked
/// before the timeout's error; piped, stderr is what it was (the existing
/// `sso::a_sign_in_that_never_comes_back_times_out`), with no spinner.
#[test]
fn the_browser_sign_in_wait_counts_down_on_a_terminal_only() {
    use crate::support::fake_idp::{FakeIdp, Fault};
    let idp = FakeIdp::start(Fault::None);
    let mut home = Home::new();
    home.global_env(&idp.sso_env());
    home.env("LMI_SSO_LOGIN_TIMEOUT_SECS", "2");
    let mut tty = Terminal::spawn(&home, &["login", "sso", "--no-browser"]);
    tty.expect("waiting for the browser: ");
    tty.expect(" left");
    let (code, screen) = tty.finish();
    assert_eq!(code, 4, "{screen}");
    assert!(
        screen.contains("\r- waiting for the browser: 2s left"),
        "{screen:?}"
    );
    let blanked = screen.rfind("\r ").expect("the spinner's line is blanked");
    let error = screen.find("timed out after 2s").unwrap();
    assert!(blanked < error, "{screen:?}");

    let piped = home.run(["login", "sso", "--no-browser"]);
    piped
        .code(4)
        .stderr_has("timed out after 2s")
        .stderr_lacks("waiting for the browser:");
    assert!(!piped.stderr.contains('\r'), "{:?}", piped.stderr);
}
