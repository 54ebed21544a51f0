//! Where an environment's secrets (`OAUTH_CLIENT_SECRET`, `OAUTH_PASSWORD`) are kept: the one
//! place that decides, stores and deletes them. By default a secret goes to the OS keychain
//! (the item `auth::env_secrets::SecretItem` names), read back after every write; the env
//! file only when the user asks for it (`--store-in-file`), with a warning that it is
//! plaintext. No keychain reachable is a refusal naming `--store-in-file`, never a silent
//! fallback to plaintext.

use crate::auth::AuthError;
use crate::auth::env_secrets::{self, KEYS, SecretItem};
use crate::commands::{CliError, Ctx};
use crate::keychain::{self, KeychainError};
use crate::secrets::Secret;
use crate::settings::EnvFileEdit;

/// Where a secret goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The OS keychain, keyed by environment (the default).
    Keychain,
    /// The env file (0600), in plaintext: only when asked for (`--store-in-file`).
    File,
}

impl Placement {
    /// `--store-in-file` chooses the file; otherwise the keychain.
    pub fn from_flag(store_in_file: bool) -> Self {
        if store_in_file {
            Placement::File
        } else {
            Placement::Keychain
        }
    }
}

/// Fails now, before anything is asked, tried or written, if secrets cannot be kept as
/// `placement` says: the keychain is probed under `LMI_KEYCHAIN_TIMEOUT_SECS`, and one that
/// does not answer fails closed (exit 1, as the SSO session's store does), naming
/// `--store-in-file`.
pub fn check_placement(ctx: &Ctx, placement: Placement) -> Result<(), CliError> {
    match placement {
        Placement::File => Ok(()),
        Placement::Keychain => require_keychain(ctx, "--store-in-file"),
    }
}

/// The keychain answers, or an error (exit 1) saying what failed and `way_out`, the option
/// that does without it.
pub fn require_keychain(ctx: &Ctx, way_out: &str) -> Result<(), CliError> {
    env_secrets::keychain_writable(&ctx.settings).map_err(|why| {
        let way_out = if way_out.is_empty() {
            String::new()
        } else {
            format!(
                "; or pass {way_out} to keep the secret in the environment's file (0600, plaintext)"
            )
        };
        AuthError::Keychain(KeychainError::Unavailable(format!(
            "cannot keep environment secrets in the {} ({}): {}{way_out}",
            keychain::name(),
            crate::logging::scrub(&why),
            keychain::start_fix(),
        )))
        .into()
    })
}

/// Keeps `secret` as `key` of environment `env`. With [`Placement::File`] it goes into
/// `file` (the env file being written, so it lands in the caller's one atomic write), with a
/// warning that it is plaintext; with [`Placement::Keychain`] it is stored in the
/// environment's keychain item and read back (a different value is an error).
pub fn store_secret(
    ctx: &Ctx,
    env: &str,
    file: &mut EnvFileEdit,
    key: &str,
    secret: &Secret<String>,
    placement: Placement,
) -> Result<(), CliError> {
    match placement {
        Placement::File => {
            file.set(key, secret.expose())?;
            warn_plaintext(env, key, file.path());
            Ok(())
        }
        Placement::Keychain => {
            let item = SecretItem::new(&ctx.settings, env, key)?;
            store_verified(&item, secret)
        }
    }
}

/// The plaintext warning every write of a secret to a file gives.
pub fn warn_plaintext(env: &str, key: &str, path: &std::path::Path) {
    crate::output::warn(format_args!(
        "{key} of environment `{env}` is kept in plaintext in {} (mode 0600: readable by you and by root, and by any program you run)",
        path.display()
    ));
}

/// Stores `secret` in `item`, then reads it back: the keychain must hand back exactly what
/// was written.
pub fn store_verified(item: &SecretItem, secret: &Secret<String>) -> Result<(), CliError> {
    item.store(secret).map_err(AuthError::Keychain)?;
    match item.read().map_err(AuthError::Keychain)? {
        Some(back) if back.expose() == secret.expose() => Ok(()),
        _ => Err(AuthError::Keychain(KeychainError::Failed(format!(
            "the {} did not hand back the value just stored in {}",
            keychain::name(),
            item.location()
        )))
        .into()),
    }
}

/// The keychain items written by [`place_secrets`], with what each held before, so a write
/// that fails later (the env file) can put them back as they were.
#[derive(Debug, Default)]
pub struct Placed {
    items: Vec<(SecretItem, Option<Secret>)>,
}

impl Placed {
    /// Items about to be written, each with what it held before.
    pub fn of(items: Vec<(SecretItem, Option<Secret>)>) -> Self {
        Self { items }
    }

    /// Puts every item written back as it was (deleted, or its old value restored). Best
    /// effort: what could not be undone is returned in words, for the error.
    pub fn undo(self) -> Vec<String> {
        let mut left = Vec::new();
        for (item, before) in self.items.into_iter().rev() {
            let undone = match &before {
                None => item.delete().map(|_| ()),
                Some(old) => item.store(old),
            };
            if let Err(e) = undone {
                left.push(format!("{} ({e})", item.location()));
            }
        }
        left
    }
}

/// Places every secret of `env` as `placement` says: into `file` (saved by the caller), or
/// into the keychain now, each item read back. On a keychain failure the items already
/// written are put back as they were before the error is returned; on success the caller
/// saves the file and, if that fails, calls [`Placed::undo`].
pub fn place_secrets(
    ctx: &Ctx,
    env: &str,
    file: &mut EnvFileEdit,
    secrets: &[(&str, &Secret<String>)],
    placement: Placement,
) -> Result<Placed, CliError> {
    let mut placed = Placed::default();
    for (key, secret) in secrets {
        if placement == Placement::File {
            store_secret(ctx, env, file, key, secret, placement)?;
            continue;
        }
        let item = SecretItem::new(&ctx.settings, env, key)?;
        let written = item
            .read()
            .map_err(|e| CliError::from(AuthError::Keychain(e)))
            .and_then(|before| {
                placed.items.push((item.clone(), before));
                store_verified(&item, secret)
            });
        if let Err(e) = written {
            let left = placed.undo();
            return Err(with_left(e, &left));
        }
    }
    Ok(placed)
}

/// `e`, adding the keychain items an undo could not put back.
pub fn with_left(e: CliError, left: &[String]) -> CliError {
    if left.is_empty() {
        return e;
    }
    e.with_context(format!(
        "these keychain items could not be put back as they were: {}",
        left.join(", ")
    ))
}

/// What [`forget_secrets`] did.
#[derive(Debug, Default)]
pub struct Forgotten {
    /// The items deleted, in words.
    pub removed: Vec<String>,
    /// The items that may remain (the keychain could not be asked), and why.
    pub left: Vec<String>,
    pub error: Option<KeychainError>,
}

/// Deletes the keychain items of `env` (both keys; the env file itself is the caller's to
/// remove). A keychain that cannot be asked is not an error here: what may remain is
/// returned, for the caller to say and to exit non-zero on.
pub fn forget_secrets(ctx: &Ctx, env: &str) -> Result<Forgotten, CliError> {
    let mut done = Forgotten::default();
    for key in KEYS {
        let item = SecretItem::new(&ctx.settings, env, key)?;
        match item.delete() {
            Ok(true) => done
                .removed
                .push(format!("{key} from the {}", item.location())),
            Ok(false) => {}
            Err(e) => {
                done.left.push(item.location());
                done.error.get_or_insert(e);
            }
        }
    }
    Ok(done)
}

/// The keys of `env` that have a keychain item (asked for `env remove`'s question).
pub fn kept_in_keychain(ctx: &Ctx, env: &str) -> Result<Vec<&'static str>, CliError> {
    let mut kept = Vec::new();
    for key in KEYS {
        let item = SecretItem::new(&ctx.settings, env, key)?;
        if item.read().map_err(AuthError::Keychain)?.is_some() {
            kept.push(key);
        }
    }
    Ok(kept)
}

/// Where a new value of `key` of environment `env` goes ([`rotate_secret`]): the env file if
/// it holds the secret there (plaintext) or `store_in_file` says so, else the keychain item,
/// which is probed now, before the secret is asked for.
pub fn rotation_placement(
    ctx: &Ctx,
    env: &str,
    key: &str,
    store_in_file: bool,
) -> Result<Placement, CliError> {
    let path = ctx.settings.paths().env_file(env);
    let file = EnvFileEdit::load(&path)?;
    if store_in_file || file.get(key).is_some_and(|v| !v.is_empty()) {
        return Ok(Placement::File);
    }
    require_keychain(ctx, "--store-in-file")?;
    Ok(Placement::Keychain)
}

/// Puts a new value of `key` (one of [`KEYS`]) of environment `env` where
/// [`rotation_placement`] said: the env file, or the keychain item (read back). Returns what
/// was done, in words.
pub fn rotate_secret(
    ctx: &Ctx,
    env: &str,
    key: &str,
    secret: &Secret<String>,
    placement: Placement,
) -> Result<String, CliError> {
    let path = ctx.settings.paths().env_file(env);
    let mut file = EnvFileEdit::load(&path)?;
    let in_file = file.get(key).is_some_and(|v| !v.is_empty());
    if placement == Placement::File {
        let change = file.set(key, secret.expose())?;
        file.save()?;
        warn_plaintext(env, key, &path);
        let mut done = format!(
            "set {key} of environment `{env}` in {}{}",
            path.display(),
            was(matches!(change, crate::settings::Change::Added))
        );
        if in_file {
            done.push_str(&format!(
                " (still plaintext: `lmi env secure {env}` moves it into the OS keychain)"
            ));
            return Ok(done);
        }
        // The file's value now comes first: an item the keychain held for it would only be
        // a stale copy, which would come back if the file's line were removed.
        let item = SecretItem::new(&ctx.settings, env, key)?;
        match item.delete() {
            Ok(true) => done.push_str(&format!(
                "; removed the item it replaces from the {}",
                item.location()
            )),
            Ok(false) => {}
            Err(e) => {
                return Err(with_done(
                    CliError::from(AuthError::Keychain(e)).with_context(format!(
                        "an older {key} may remain in the {}, behind the file's: run `lmi config unset {key} -e {env}` once the keychain answers, then set it again",
                        item.location()
                    )),
                    &[done],
                ));
            }
        }
        return Ok(done);
    }
    let item = SecretItem::new(&ctx.settings, env, key)?;
    let before = item.read().map_err(AuthError::Keychain)?;
    store_verified(&item, secret)?;
    let mut done = format!(
        "set {key} of environment `{env}` in the {}{}",
        item.location(),
        was(before.is_none())
    );
    if file.get(key) == Some("") {
        // `KEY=` in the file says "none" and would hide the item.
        file.unset(key)?;
        file.save().map_err(|e| {
            CliError::from(e).with_context(format!(
                "{key} is stored in the keychain, but the line `{key}=` in {} (which says the environment has none, and comes first) could not be removed: remove it by hand",
                path.display()
            ))
        })?;
        done.push_str(&format!(
            "; removed `{key}=` (none) from {}",
            path.display()
        ));
    }
    Ok(done)
}

/// `e`, saying first what was done before it failed.
fn with_done(e: CliError, done: &[String]) -> CliError {
    if done.is_empty() {
        return e;
    }
    e.with_context(format!("done before the failure: {}", done.join("; ")))
}

fn was(new: bool) -> &'static str {
    if new {
        " (it was not set)"
    } else {
        " (replacing the one there)"
    }
}

/// Removes `key` (one of [`KEYS`]) of environment `env` from its file and its keychain item.
/// Returns what was removed, in words (empty: neither held it); a keychain that cannot be
/// asked is an error after the file was edited, naming the item that may remain.
pub fn unset_secret(ctx: &Ctx, env: &str, key: &str) -> Result<Vec<String>, CliError> {
    let path = ctx.settings.paths().env_file(env);
    let mut file = EnvFileEdit::load(&path)?;
    let mut removed = Vec::new();
    if let crate::settings::Change::Removed { .. } = file.unset(key)? {
        file.save()?;
        removed.push(format!("unset {key} in {}", path.display()));
    }
    let item = SecretItem::new(&ctx.settings, env, key)?;
    match item.delete() {
        Ok(true) => removed.push(format!(
            "removed {key} of environment `{env}` from the {}",
            item.location()
        )),
        Ok(false) => {}
        Err(e) => {
            return Err(with_done(
                CliError::from(AuthError::Keychain(e)).with_context(format!(
                    "{key} of environment `{env}` may remain in the {}: run the command again once the keychain answers",
                    item.location()
                )),
                &removed,
            ));
        }
    }
    Ok(removed)
}
