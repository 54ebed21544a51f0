//! An SSO session longer than one Windows Credential Manager secret (2,560 bytes): kept whole
//! as a primary keychain item and parts `<account>#2`…, each within the limit, read back,
//! refreshed and logged out of — against the real provider (tests/idp, 200 Entra-style GUID
//! groups for the user) and the real Secret Service (`scripts/with-keyring`), looked into with
//! `secret-tool` as other tools would.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::sso::{device_login, require_keyring};
use crate::support::idp::{self, Idp};
use crate::support::{Home, keychain_item, plugin_dir};

/// Windows Credential Manager's `CRED_MAX_CREDENTIAL_BLOB_SIZE`.
const LIMIT: usize = 2560;
/// The most items lmi keeps one record in.
const MAX_PARTS: usize = 8;

fn clear(account: &str) {
    let status = std::process::Command::new("secret-tool")
        .args(["clear", "service", "lmi", "username", account])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every item of the record at `account` (the primary, then `#2`…`#8`), absent ones as `None`.
fn items(account: &str) -> Vec<Option<String>> {
    (1..=MAX_PARTS)
        .map(|slot| match slot {
            1 => keychain_item(account),
            k => keychain_item(&format!("{account}#{k}")),
        })
        .collect()
}

/// The record split over its items, checked the way a reader must: a header naming the parts,
/// every part present, none beyond, every item within the limit. Returns the whole JSON.
#[track_caller]
fn split_record(account: &str) -> (usize, serde_json::Value) {
    let found = items(account);
    let primary = found[0].as_deref().expect("a primary item");
    let (header, first) = primary.split_once('\n').expect("a header line");
    let parts: usize = header
        .strip_prefix("lmi-split/1 parts=")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a split record: {header}"));
    assert!(header.contains(" sha256="), "{header}");
    let mut whole = first.to_owned();
    for (i, it) in found.iter().enumerate() {
        let slot = i + 1;
        match it {
            Some(text) => {
                assert!(slot <= parts, "a part beyond the record: #{slot}");
                assert!(text.len() <= LIMIT, "item {slot} is {} bytes", text.len());
                if slot > 1 {
                    whole.push_str(text);
                }
            }
            None => assert!(slot > parts, "part {slot} of {parts} is missing"),
        }
    }
    let sizes: Vec<usize> = found.iter().flatten().map(String::len).collect();
    eprintln!(
        "FIGURE sso-split-e2e: {} bytes of JSON in {parts} items of {sizes:?} bytes",
        whole.len()
    );
    (
        parts,
        serde_json::from_str(&whole).expect("the parts join into the JSON record"),
    )
}

/// 200 group object ids, as Entra ID emits them (GUIDs): about 8 KB of claim.
fn guid_groups() -> Vec<String> {
    (0..200)
        .map(|i| format!("{i:08x}-aaaa-4bbb-8ccc-dddddddddddd"))
        .collect()
}

/// A home signed in as `login` with 200 groups captured (an environment checks them), whose
/// keychain record is therefore longer than one Windows secret.
fn signed_in_with_many_groups(idp: &Idp, login: &str) -> Home {
    require_keyring();
    let home = Home::new();
    home.global_env(&idp.sso_env());
    home.install(&plugin_dir("plugins/hello"));
    let groups = guid_groups();
    home.env_file("prod", &format!("LMI_SSO_ALLOWED_GROUPS={}\n", groups[137]));
    idp.set_groups(login, json!(groups));
    device_login(idp, &home, login).success();
    home
}

/// The keychain account of `idp`'s session (its primary item).
fn account(idp: &Idp) -> String {
    format!("{}@{}", idp::CLI_CLIENT_ID, idp.issuer())
}

#[test]
fn an_sso_session_longer_than_a_windows_secret_is_split_read_refreshed_and_logged_out() {
    let idp = Idp::start_with(&[("IDP_ACCESS_TOKEN_TTL", "2")]);
    let home = signed_in_with_many_groups(&idp, "alice");
    let account = account(&idp);

    // Kept whole: both tokens and every group, over items that each fit Windows.
    let (parts, rec) = split_record(&account);
    assert!(parts >= 4, "200 GUIDs are about 8 KB: {parts} parts");
    assert_eq!(rec["sub"], "alice");
    assert_eq!(rec["groups"]["groups"].as_array().unwrap().len(), 200);
    let refresh_token = rec["refresh_token"].as_str().unwrap().to_owned();
    let access_token = rec["access_token"]
        .as_str()
        .expect("the access token is kept");
    assert!(!refresh_token.is_empty() && !access_token.is_empty());
    home.log_lacks(&refresh_token).log_lacks(access_token);

    // Read from the keychain (no summary to answer instead): status and the gate, which
    // checks the groups.
    let summary = home.cache().join("sso-summary.json");
    std::fs::remove_file(&summary).unwrap();
    home.run(["auth", "status"])
        .success()
        .stdout_has("alice@example.test")
        .nowhere(&refresh_token);
    assert!(!summary.exists(), "status read the keychain");
    home.run(["-e", "prod", "whoami"])
        .success()
        .stdout_has("subject: alice")
        .nowhere(&refresh_token);

    // A silent refresh at the gate reads the parts, spends the refresh token and stores the
    // rotated one, split again.
    std::thread::sleep(Duration::from_millis(2500));
    home.run(["-e", "prod", "hello"])
        .success()
        .stdout_has("Hello")
        .nowhere(&refresh_token);
    assert_eq!(idp.token_requests("refresh_token"), 1, "one silent refresh");
    let (_, after) = split_record(&account);
    assert_ne!(
        after["refresh_token"].as_str().unwrap(),
        refresh_token,
        "rotated"
    );
    assert_eq!(after["groups"]["groups"].as_array().unwrap().len(), 200);
    home.run(["auth", "refresh"]).success();
    assert_eq!(idp.token_requests("refresh_token"), 2);
    split_record(&account);

    // Logout revokes at the provider and leaves no item at all.
    home.run(["logout", "sso"])
        .success()
        .stdout_has("revoked at the identity provider");
    assert_eq!(idp.revocations(), 1);
    assert_eq!(items(&account), vec![None; MAX_PARTS]);
    home.run(["whoami"])
        .code(4)
        .stderr_has("run: lmi login sso");
}

/// A record missing a part (a write cut off, a part removed by hand) is no session — sign in
/// again — never another one; logout then removes what is left of it.
#[test]
fn an_sso_session_missing_a_part_reads_as_signed_out_and_logout_clears_the_rest() {
    let idp = Idp::start();
    let home = signed_in_with_many_groups(&idp, "bob");
    let account = account(&idp);
    let (parts, _) = split_record(&account);
    clear(&format!("{account}#2"));
    std::fs::remove_file(home.cache().join("sso-summary.json")).unwrap();

    home.run(["whoami"])
        .code(4)
        .stderr_has(&format!("cannot be read: part 2 of {parts} is missing"))
        .stderr_has("run: lmi login sso");
    home.run(["logout", "sso"]).success();
    assert_eq!(items(&account), vec![None; MAX_PARTS]);
    assert!(
        std::fs::read_to_string(home.data().join("sso-accounts.json"))
            .map(|index| !index.contains(&account))
            .unwrap_or(true),
        "the index no longer names it"
    );
}
