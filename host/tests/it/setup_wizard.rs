//! `lmi setup` on a real pseudo-terminal (support::pty, expect-style): answers typed as a
//! person types them, against the real OpenID provider (discovery, the client_credentials
//! grant, the browser sign-in through the headless browser). The terminal echoes, so a
//! secret that is not hidden would show on the screen.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use crate::support::browser::{self, Browser};
use crate::support::idp::{CLI_CLIENT_ID, Idp, SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET};
use crate::support::pty::Terminal;
use crate::support::{Home, keychain_record};

/// A wrong secret typed first: it must show nowhere either.
const WRONG_SECRET: &str = "not-the-secret-5b0c93";

/// A global file written by hand before setup ran: its comment and unknown line stay.
const HAND_WRITTEN: &str = "# lmi, set up by hand at first\nMY_NOTE='kept as it was'\n";

fn env_path(home: &Home, name: &str) -> PathBuf {
    home.config().join("env").join(format!("{name}.env"))
}

fn global_path(home: &Home) -> PathBuf {
    home.config().join(".env")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The first run: SSO configured (discovery shown), no sign-in, an environment added after a
/// wrong secret was refused and the right one accepted, the default set; secrets never on
/// the screen; the files hold what was answered and the global file's own lines. A second
/// run shows every current value as its default, and Enter through it changes no byte; a
/// changed value is shown old -> new and a no writes nothing.
#[test]
fn the_wizard_configures_sso_and_an_environment_and_a_rerun_changes_nothing() {
    let idp = Idp::start();
    let home = Home::new();
    home.global_env(HAND_WRITTEN);
    let issuer = idp.issuer().to_owned();
    let token_url = idp.token_url();

    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("SSO issuer URL (Enter with nothing to skip SSO): ", &issuer)
        .answer("SSO client id: ", CLI_CLIENT_ID)
        .expect(&format!("token endpoint:         {token_url}"))
        .expect("device flow:            yes")
        .expect("revocation:             yes")
        .expect(&format!("OAUTH_SSO_ISSUER: (not set) -> {issuer}"))
        .expect(&format!(
            "OAUTH_SSO_CLIENT_ID: (not set) -> {CLI_CLIENT_ID}"
        ))
        .answer("Write these to ", "y")
        .answer("Sign in now? [y/N] ", "")
        .expect("none yet")
        .answer("Add an environment? [y/N] ", "y")
        .answer(
            "Name of the new environment (letters, digits, - and _): ",
            "stage",
        )
        .answer(
            "Service URL (OAUTH_SERVICE_URL): ",
            "http://127.0.0.1:9/api",
        )
        // The provider's token endpoint, found by discovery, is offered.
        .answer(&format!("Token URL (OAUTH_TOKEN_URL) [{token_url}]: "), "")
        .answer("(OAUTH_GRANT_TYPE) [client_credentials]: ", "")
        .answer("Client id (OAUTH_CLIENT_ID): ", SERVICE_CLIENT_ID)
        .answer("Scope (OAUTH_SCOPE) (optional, Enter skips): ", "api:read")
        .answer("Audience (OAUTH_AUDIENCE) (optional, Enter skips): ", "")
        .answer("Client secret of `lmi-service` (hidden): ", WRONG_SECRET)
        .expect("refused: environment `stage` was not saved")
        .expect("invalid_client")
        .answer("Type the secret again? [y/N] ", "y")
        .answer(
            "Client secret of `lmi-service` (hidden): ",
            SERVICE_CLIENT_SECRET,
        )
        .expect("ok: a token was issued")
        .expect("added environment `stage`")
        .answer("Add an environment? [y/N] ", "")
        .answer("(default_environment; one of stage) [stage]: ", "")
        .expect("default_environment: (not set) -> stage")
        .answer("Write it to ", "y")
        .expect("Setup is done. Written:");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    // The terminal echoes what is typed (the service URL shows) but never a secret.
    assert!(
        screen.contains("(OAUTH_SERVICE_URL): http://127.0.0.1:9/api"),
        "echo is on for plain answers: {screen}"
    );
    for secret in [SERVICE_CLIENT_SECRET, WRONG_SECRET] {
        assert!(!screen.contains(secret), "{secret} showed:\n{screen}");
    }
    assert!(
        screen.contains("lmi auth token"),
        "the next command: {screen}"
    );
    assert_eq!(
        idp.token_requests("client_credentials"),
        2,
        "the grant was tried with each secret"
    );
    assert_eq!(
        read(&global_path(&home)),
        format!(
            "{HAND_WRITTEN}OAUTH_SSO_ISSUER={issuer}\nOAUTH_SSO_CLIENT_ID={CLI_CLIENT_ID}\ndefault_environment=stage\n"
        )
    );
    assert_eq!(
        read(&env_path(&home, "stage")),
        format!(
            "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL={token_url}\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n\
             OAUTH_SCOPE=api:read\n"
        ),
        "no secret in the file"
    );
    // The secret went to the OS keychain, as `lmi env add` puts it.
    assert_eq!(
        crate::support::keychain::env_secret(&home, "stage", "OAUTH_CLIENT_SECRET").as_deref(),
        Some(SERVICE_CLIENT_SECRET)
    );
    // What was set up works: a token for the default environment.
    home.run(["auth", "token"]).success();

    // Again: every current value is the default; Enter through everything writes nothing.
    let global_before = std::fs::read(global_path(&home)).unwrap();
    let env_before = std::fs::read(env_path(&home, "stage")).unwrap();
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer(
        &format!("(Enter with nothing to skip SSO) [{issuer}]: "),
        "",
    )
    .answer(&format!("SSO client id [{CLI_CLIENT_ID}]: "), "")
    .expect("SSO settings unchanged.")
    .answer("Sign in now? [y/N] ", "")
    .expect("  stage")
    .answer("Change an existing environment? [y/N] ", "y")
    .answer("Which one [stage]: ", "")
    .answer("(OAUTH_SERVICE_URL) [http://127.0.0.1:9/api]: ", "")
    .answer(&format!("(OAUTH_TOKEN_URL) [{token_url}]: "), "")
    .answer("[client_credentials]: ", "")
    .answer(&format!("(OAUTH_CLIENT_ID) [{SERVICE_CLIENT_ID}]: "), "")
    .answer("(Enter keeps it, - removes it) [api:read]: ", "")
    .answer("(OAUTH_AUDIENCE) (optional, Enter skips): ", "")
    .answer("Replace OAUTH_CLIENT_SECRET? [y/N] ", "")
    .expect("environment `stage`: nothing changed.")
    // A change is shown old -> new, and a no keeps the file as it was.
    .answer("Change an existing environment? [y/N] ", "y")
    .answer("Which one [stage]: ", "")
    .answer("(OAUTH_SERVICE_URL) [http://127.0.0.1:9/api]: ", "")
    .answer("(OAUTH_TOKEN_URL)", "")
    .answer("[client_credentials]: ", "")
    .answer("(OAUTH_CLIENT_ID)", "")
    .answer("[api:read]: ", "api:write")
    .answer("(OAUTH_AUDIENCE) (optional, Enter skips): ", "")
    .answer("Replace OAUTH_CLIENT_SECRET? [y/N] ", "")
    .expect("OAUTH_SCOPE: api:read -> api:write")
    .answer("Write these to ", "n")
    .expect("not written.")
    .answer("Change an existing environment? [y/N] ", "")
    .answer("Add an environment? [y/N] ", "")
    .answer("[stage]: ", "")
    .expect("unchanged.")
    .expect("nothing was written");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(std::fs::read(global_path(&home)).unwrap(), global_before);
    assert_eq!(std::fs::read(env_path(&home, "stage")).unwrap(), env_before);
    assert_eq!(
        idp.token_requests("client_credentials"),
        3,
        "only auth token's request"
    );
}

/// Without a terminal `lmi setup` asks nothing, writes nothing, exits 2 and names the
/// commands that do the same without one.
#[test]
fn without_a_terminal_setup_is_exit_2_and_names_the_commands() {
    let home = Home::new();
    home.run(["setup"])
        .code(2)
        .stderr_has("lmi setup asks its questions on a terminal")
        .stderr_has("lmi env add NAME")
        .stderr_has("--secret-stdin")
        .stderr_has("lmi config set KEY VALUE")
        .stderr_has("lmi login sso");
    assert!(!global_path(&home).exists());
    assert!(!home.config().join("env").exists());
}

/// A provider that cannot be reached: the discovery error is shown, and declining to enter
/// the issuer again skips SSO with nothing written. The input ending mid-way stops setup
/// with exit 2, saying what was written before (nothing) and leaving no file behind.
#[test]
fn a_discovery_failure_is_shown_and_the_input_ending_stops_cleanly() {
    let home = Home::new();
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer(
        "SSO issuer URL (Enter with nothing to skip SSO): ",
        "http://127.0.0.1:9",
    )
    .answer("SSO client id: ", "cli")
    .expect("discovery failed: ")
    .answer(
        "Enter the issuer and client id again? (no skips SSO) [y/N] ",
        "",
    )
    .expect("SSO skipped: nothing was written for it.")
    .answer("Add an environment? [y/N] ", "y")
    .end_input_at("Name of the new environment");
    let (code, screen) = t.finish();
    assert_eq!(code, 2, "{screen}");
    assert!(
        screen.contains("Setup stopped. Written before it stopped"),
        "{screen}"
    );
    assert!(screen.contains("nothing was written"), "{screen}");
    assert!(screen.contains("the input ended"), "{screen}");
    assert!(!global_path(&home).exists());
    assert!(!home.config().join("env").exists());
}

/// An existing SSO configuration: Enter keeps it, and a yes to "Sign in now?" runs the
/// browser sign-in `lmi login sso` runs (the headless browser approves); the session lands
/// in the keychain and the global file is untouched.
#[test]
fn setup_signs_in_through_the_browser_when_asked() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run under scripts/with-keyring"
    );
    let idp = Idp::start();
    let mut home = Home::new();
    browser::set_browser(&mut home, Browser::approve("alice"));
    home.global_env(&idp.sso_env());
    let before = std::fs::read(global_path(&home)).unwrap();
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("(Enter with nothing to skip SSO) [", "")
        .answer("SSO client id [", "")
        .expect("SSO settings unchanged.")
        .answer("Sign in now? [y/N] ", "y")
        .expect("Opening your browser to sign in")
        .expect("Signed in as alice")
        .answer("Add an environment? [y/N] ", "")
        .expect("Setup is done.");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("lmi login sso          # sign in"),
        "signed in already: {screen}"
    );
    assert_eq!(std::fs::read(global_path(&home)).unwrap(), before);
    assert!(
        keychain_record(CLI_CLIENT_ID, idp.issuer()).is_some(),
        "the session is in the keychain"
    );
    home.run(["auth", "status"]).success().stdout_has("alice");
}

/// A password-grant environment whose client has no secret (`OAUTH_CLIENT_SECRET=''`, as
/// `env add` writes it): a secret given for it later is a new secret, so it goes to the OS
/// keychain (not into the file in plaintext without a yes) and the `''` line, which would hide
/// it, is removed.
#[test]
fn a_client_secret_replacing_none_goes_to_the_keychain_not_the_file() {
    let home = Home::new();
    std::fs::create_dir_all(home.config().join("env")).unwrap();
    let path = env_path(&home, "pw");
    std::fs::write(
        &path,
        "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL=http://127.0.0.1:9/token\n\
         OAUTH_GRANT_TYPE=password\nOAUTH_CLIENT_ID=cli\nOAUTH_USERNAME=bob\nOAUTH_CLIENT_SECRET=''\n",
    )
    .unwrap();
    let new_secret = "new-client-secret-77e1";
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("(Enter with nothing to skip SSO): ", "")
        .answer("Change an existing environment? [y/N] ", "y")
        .answer("Which one [pw]: ", "")
        .answer("(OAUTH_SERVICE_URL) [", "")
        .answer("(OAUTH_TOKEN_URL) [", "")
        .answer("[password]: ", "")
        .answer("(OAUTH_CLIENT_ID) [cli]: ", "")
        .answer("(OAUTH_SCOPE) (optional, Enter skips): ", "")
        .answer("(OAUTH_AUDIENCE) (optional, Enter skips): ", "")
        .answer("(OAUTH_USERNAME) [bob]: ", "")
        .answer("Replace OAUTH_PASSWORD? [y/N] ", "")
        .answer("Replace OAUTH_CLIENT_SECRET? [y/N] ", "y")
        .answer("Client secret of `cli` (hidden): ", new_secret)
        .expect("OAUTH_CLIENT_SECRET: replaced (not shown)")
        .answer("Write these to ", "y")
        .expect("written.")
        .answer("Change an existing environment? [y/N] ", "")
        .answer("Add an environment? [y/N] ", "")
        .answer("[pw]: ", "")
        .answer("Write it to ", "n")
        .expect("Setup is done.");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    let file = read(&path);
    assert!(!file.contains(new_secret), "plaintext secret: {file}");
    assert!(
        !file.contains("OAUTH_CLIENT_SECRET"),
        "the '' line stays: {file}"
    );
    assert_eq!(
        crate::support::keychain::env_secret(&home, "pw", "OAUTH_CLIENT_SECRET").as_deref(),
        Some(new_secret)
    );
    assert!(
        screen.contains("OAUTH_CLIENT_SECRET of `pw`: in the OS keychain"),
        "{screen}"
    );
}

/// A yes/no question left unanswered (the input ends) stops setup with exit 2 and the
/// written-so-far summary, not "Setup is done" and exit 0.
#[test]
fn an_unanswered_yes_no_question_stops_setup_with_exit_2() {
    let home = Home::new();
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("(Enter with nothing to skip SSO): ", "")
        .end_input_at("Add an environment? [y/N] ");
    let (code, screen) = t.finish();
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("Setup stopped."), "{screen}");
    assert!(!screen.contains("Setup is done"), "{screen}");
    assert!(screen.contains("the input ended"), "{screen}");
}

/// An environment written by hand with no OAUTH_GRANT_TYPE (lmi reads it as
/// client_credentials) and its token URL in the global file: Enter through its questions
/// changes nothing; the global value is shown as the one in effect and not copied.
#[test]
fn a_hand_written_environment_defaults_to_what_lmi_reads_and_enter_changes_nothing() {
    let home = Home::new();
    home.global_env("OAUTH_TOKEN_URL=http://127.0.0.1:9/global-token\n");
    std::fs::create_dir_all(home.config().join("env")).unwrap();
    let path = env_path(&home, "hand");
    let written = "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_CLIENT_ID=svc\n";
    std::fs::write(&path, written).unwrap();
    let global_before = read(&global_path(&home));
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("(Enter with nothing to skip SSO): ", "")
        .answer("Change an existing environment? [y/N] ", "y")
        .answer("Which one [hand]: ", "")
        .expect("from the global file")
        .answer("(OAUTH_SERVICE_URL) [", "")
        .answer("(OAUTH_TOKEN_URL) [http://127.0.0.1:9/global-token]: ", "")
        .answer("(OAUTH_GRANT_TYPE) [client_credentials]: ", "")
        .answer("(OAUTH_CLIENT_ID) [svc]: ", "")
        .answer("(OAUTH_SCOPE) (optional, Enter skips): ", "")
        .answer("(OAUTH_AUDIENCE) (optional, Enter skips): ", "")
        .answer("Replace OAUTH_CLIENT_SECRET? [y/N] ", "")
        .expect("environment `hand`: nothing changed.")
        .answer("Change an existing environment? [y/N] ", "")
        .answer("Add an environment? [y/N] ", "")
        .answer("[hand]: ", "")
        .answer("Write it to ", "n")
        .expect("Setup is done.");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(read(&path), written);
    assert_eq!(read(&global_path(&home)), global_before);
}

/// Changing an environment's grant (password -> client_credentials) asks the new grant's
/// secret as a required answer (no "Replace?"), tries the grant before writing (a wrong
/// secret is refused and typed again), and removes the old grant's keys: OAUTH_USERNAME, the
/// `''` client secret and the password's keychain item.
#[test]
fn switching_the_grant_asks_its_secret_tries_it_and_removes_the_old_grants_keys() {
    let idp = Idp::start();
    let home = Home::new();
    let token_url = idp.token_url();
    std::fs::create_dir_all(home.config().join("env")).unwrap();
    let path = env_path(&home, "sw");
    std::fs::write(
        &path,
        format!(
            "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL={token_url}\n\
             OAUTH_GRANT_TYPE=password\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\nOAUTH_USERNAME=bob\nOAUTH_CLIENT_SECRET=''\n"
        ),
    )
    .unwrap();
    crate::support::keychain::store_env_secret(&home, "sw", "OAUTH_PASSWORD", "old-password");
    let mut t = Terminal::spawn(&home, &["setup"]);
    t.answer("(Enter with nothing to skip SSO): ", "")
        .answer("Change an existing environment? [y/N] ", "y")
        .answer("Which one [sw]: ", "")
        .answer("(OAUTH_SERVICE_URL) [", "")
        .answer("(OAUTH_TOKEN_URL) [", "")
        .answer("[password]: ", "client_credentials")
        .answer("(OAUTH_CLIENT_ID) [", "")
        .answer("(OAUTH_SCOPE) (optional, Enter skips): ", "")
        .answer("(OAUTH_AUDIENCE) (optional, Enter skips): ", "")
        .answer("Client secret of `lmi-service` (hidden): ", WRONG_SECRET)
        .expect("OAUTH_GRANT_TYPE: password -> client_credentials")
        .expect("OAUTH_USERNAME: bob -> (not set)")
        .expect("OAUTH_PASSWORD: removed")
        .answer("Write these to ", "y")
        .expect("refused: ")
        .answer("Type the secrets again? [y/N] ", "y")
        .answer(
            "Client secret of `lmi-service` (hidden): ",
            SERVICE_CLIENT_SECRET,
        )
        .expect("ok: a token was issued")
        .expect("written.")
        .answer("Change an existing environment? [y/N] ", "")
        .answer("Add an environment? [y/N] ", "")
        .answer("[sw]: ", "")
        .answer("Write it to ", "n")
        .expect("Setup is done.");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        read(&path),
        format!(
            "OAUTH_SERVICE_URL=http://127.0.0.1:9/api\nOAUTH_TOKEN_URL={token_url}\n\
             OAUTH_GRANT_TYPE=client_credentials\nOAUTH_CLIENT_ID={SERVICE_CLIENT_ID}\n"
        )
    );
    assert_eq!(
        crate::support::keychain::env_secret(&home, "sw", "OAUTH_CLIENT_SECRET").as_deref(),
        Some(SERVICE_CLIENT_SECRET)
    );
    assert_eq!(
        crate::support::keychain::env_secret(&home, "sw", "OAUTH_PASSWORD"),
        None
    );
    assert_eq!(idp.token_requests("client_credentials"), 2);
    home.run(["--env", "sw", "auth", "token"]).success();
}
