//! Plugin signatures: what is signed (the [`Statement`]), which keys are trusted
//! ([`Policy`], from `LMI_PLUGIN_TRUSTED_KEYS` and `LMI_PLUGIN_REQUIRE_SIGNATURE`), checking a
//! plugin's signature against them ([`check`]), making one ([`sign`]), and what an install
//! records ([`SignatureRecord`]).
//!
//! A plugin directory may hold `lmi-plugin.minisig`: a minisign signature (minisign's own
//! format, so the `minisign` tool makes and checks it too) of the statement
//!
//! ```text
//! lmi-plugin-signature/1
//! component sha256:<hex of the component's bytes>
//! manifest sha256:<hex of lmi-plugin.toml's bytes>
//! ```
//!
//! Both digests, because the component is what runs and the manifest is what it is granted
//! (its commands, permissions, hosts and run times): a signature over the component alone
//! would let anyone widen a signed plugin's permissions without breaking it.
//!
//! A minisign signature names its key (an 8-byte id) but can be checked only with that key's
//! public key, so a signature by a key that is not trusted is not checked at all: it proves
//! nothing, and lmi says so ([`Verdict::UntrustedKey`]). A signature by a trusted key that
//! does not verify is always refused, whatever the policy.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::Secret;
use crate::settings::{ConfigError, Settings, keys};

/// The signature's file name in a plugin directory (and in an installed copy).
pub const SIGNATURE_FILE: &str = "lmi-plugin.minisig";
/// The largest signature file lmi reads; minisign's are about 300 bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 4 << 10;
/// The largest minisign key file (`.pub`, secret key) lmi reads; real ones are under 400 bytes.
const MAX_KEY_FILE_BYTES: u64 = 4 << 10;
/// The statement's first line: which statement format this is.
const STATEMENT_VERSION: &str = "lmi-plugin-signature/1";

/// What a plugin signature signs: the component's and the manifest's sha256, exactly as the
/// module documentation shows (three lines, each ending in `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement(String);

impl Statement {
    /// The statement for a component's bytes and the manifest's bytes as they are on disk.
    pub fn of(component: &[u8], manifest: &[u8]) -> Self {
        let digest = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
        Self(format!(
            "{STATEMENT_VERSION}\ncomponent sha256:{}\nmanifest sha256:{}\n",
            digest(component),
            digest(manifest)
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A minisign key id, shown as minisign shows it (`minisign public key 3085624F6082D9B4`):
/// upper-case hex of the little-endian number, without leading zeros (minisign prints
/// `7A5F8C79779E955`, not `07A5…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id in a minisign key or signature line (base64 of algorithm, id, …), if it is one.
    fn of_line(line: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line.trim())
            .ok()?;
        Some(Self(bytes.get(2..10)?.try_into().ok()?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n = ((1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
            .ok_or_else(|| "a key id is at most 16 hex digits".to_owned())?;
        Ok(Self(n.to_le_bytes()))
    }
}

impl Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One public key of `LMI_PLUGIN_TRUSTED_KEYS`.
#[derive(Clone)]
struct TrustedKey {
    id: KeyId,
    key: minisign_verify::PublicKey,
}

/// The public keys whose signatures lmi trusts.
#[derive(Clone, Default)]
pub struct TrustedKeys(Vec<TrustedKey>);

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|k| k.id)).finish()
    }
}

impl TrustedKeys {
    /// Parses `LMI_PLUGIN_TRUSTED_KEYS`: comma-separated entries, each a minisign public key
    /// (the `RW…` line of a `minisign.pub`) or the absolute path of a `minisign.pub` file.
    /// A malformed entry is an error naming it; an empty list trusts nothing.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            keys.push(parse_key(entry)?);
        }
        Ok(Self(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: KeyId) -> bool {
        self.0.iter().any(|k| k.id == id)
    }

    fn get(&self, id: KeyId) -> Option<&minisign_verify::PublicKey> {
        self.0.iter().find(|k| k.id == id).map(|k| &k.key)
    }
}

fn parse_key(entry: &str) -> Result<TrustedKey, String> {
    // Keys are not secrets, but the entry may be anything: quote it bounded and stripped.
    let quoted = crate::text::line(entry, 80);
    if Path::new(entry).is_absolute() {
        let text = read_small_file(Path::new(entry))
            .map_err(|e| format!("cannot read the public key file {quoted}: {e}"))?;
        let line = text.lines().nth(1).unwrap_or_default();
        return key_from_line(line).ok_or_else(|| {
            format!("{quoted} is not a minisign public key file (a comment line, then the key's RW… line)")
        });
    }
    key_from_line(entry).ok_or_else(|| {
        format!(
            "`{quoted}` is not a minisign public key: give the RW… line of a minisign.pub file, or the absolute path of the file"
        )
    })
}

fn key_from_line(line: &str) -> Option<TrustedKey> {
    let key = minisign_verify::PublicKey::from_base64(line.trim()).ok()?;
    Some(TrustedKey {
        id: KeyId::of_line(line)?,
        key,
    })
}

/// A small text file of the user's (a key file): a regular file, at most
/// [`MAX_KEY_FILE_BYTES`], UTF-8.
fn read_small_file(path: &Path) -> std::io::Result<String> {
    let bytes = crate::fsutil::read_user_file(path, MAX_KEY_FILE_BYTES)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// The trust policy: the trusted keys and whether a signature by one is required.
#[derive(Clone, Default)]
pub struct Policy {
    pub trusted: TrustedKeys,
    /// `LMI_PLUGIN_REQUIRE_SIGNATURE=true`.
    pub require: bool,
}

impl Policy {
    /// `LMI_PLUGIN_TRUSTED_KEYS` and `LMI_PLUGIN_REQUIRE_SIGNATURE` (global keys). A malformed
    /// key or switch is a configuration error naming the key and where it was set.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::InvalidValue {
            key: key.to_owned(),
            source_name: settings.source_of(key),
            reason,
        };
        let trusted = match settings.global(keys::PLUGIN_TRUSTED_KEYS) {
            None => TrustedKeys::default(),
            Some(raw) => {
                TrustedKeys::parse(raw).map_err(|why| invalid(keys::PLUGIN_TRUSTED_KEYS, why))?
            }
        };
        let require = match settings.global(keys::PLUGIN_REQUIRE_SIGNATURE) {
            None => false,
            Some(raw) => crate::settings::parse_switch(raw).ok_or_else(|| {
                invalid(
                    keys::PLUGIN_REQUIRE_SIGNATURE,
                    format!(
                        "`{}` is not a switch: write true or false (or 1 or 0)",
                        crate::text::line(raw, 80)
                    ),
                )
            })?,
        };
        Ok(Self { trusted, require })
    }

    /// Whether an install may go ahead with `verdict`; the refusal says why and what to do.
    /// `allow_unsigned` (`--allow-unsigned`) sets the requirement aside for one install. A
    /// signature that does not verify never reaches here: [`check`] refuses it.
    pub fn admit(&self, verdict: &Verdict, allow_unsigned: bool) -> Result<(), String> {
        if !self.require || allow_unsigned {
            return Ok(());
        }
        match verdict {
            Verdict::Trusted(_) => Ok(()),
            Verdict::Unsigned => Err(format!(
                "it is not signed ({SIGNATURE_FILE} is missing), and {}=true requires a signature by a key in {}: ask its author for a signed copy, or, if you trust it, install it with --allow-unsigned",
                keys::PLUGIN_REQUIRE_SIGNATURE,
                keys::PLUGIN_TRUSTED_KEYS
            )),
            Verdict::UntrustedKey(id) => Err(format!(
                "it is signed by key {id}, which is not in {trusted}, and {}=true requires a signature by a trusted key: if you trust that key, add its public key (the RW… line of the author's minisign.pub) to {trusted}, or install it with --allow-unsigned",
                keys::PLUGIN_REQUIRE_SIGNATURE,
                trusted = keys::PLUGIN_TRUSTED_KEYS,
            )),
        }
    }
}

/// What a plugin's signature proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No signature file.
    Unsigned,
    /// Signed by this trusted key, and the signature verifies: the component and the
    /// manifest are the ones the key's holder signed.
    Trusted(KeyId),
    /// Signed by a key that is not trusted: the signature cannot be checked, so it proves
    /// nothing about the files.
    UntrustedKey(KeyId),
}

impl Verdict {
    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Unsigned => "not signed".to_owned(),
            Verdict::Trusted(id) => format!("signed by trusted key {id}; the signature verifies"),
            Verdict::UntrustedKey(id) => format!(
                "signed by key {id}, which is not in {} (the signature cannot be checked)",
                keys::PLUGIN_TRUSTED_KEYS
            ),
        }
    }
}

/// A signature that is always refused, whatever the policy.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{SIGNATURE_FILE} is not a minisign signature: {0}")]
    Malformed(String),
    #[error(
        "{SIGNATURE_FILE} does not verify with trusted key {0}: the component or {manifest} was changed after it was signed (or the signature is for other files); get the plugin again from its author",
        manifest = crate::plugins::manifest::MANIFEST_FILE
    )]
    Invalid(KeyId),
}

/// Checks `signature` (the bytes of a signature file, if there is one) over `statement`
/// with `keys`.
pub fn check(
    statement: &Statement,
    signature: Option<&[u8]>,
    keys: &TrustedKeys,
) -> Result<Verdict, SignatureError> {
    let Some(bytes) = signature else {
        return Ok(Verdict::Unsigned);
    };
    let malformed = |why: &str| SignatureError::Malformed(why.to_owned());
    let text = std::str::from_utf8(bytes).map_err(|_| malformed("it is not UTF-8 text"))?;
    let sig = minisign_verify::Signature::decode(text).map_err(|e| match e {
        minisign_verify::Error::UnsupportedAlgorithm => {
            malformed("it uses a signature algorithm minisign does not define")
        }
        _ => malformed("it is not in minisign's format (an untrusted comment line, the signature, a trusted comment line, the global signature)"),
    })?;
    let id = text
        .lines()
        .nth(1)
        .and_then(KeyId::of_line)
        .ok_or_else(|| malformed("it names no key"))?;
    let Some(key) = keys.get(id) else {
        return Ok(Verdict::UntrustedKey(id));
    };
    match key.verify(statement.as_str().as_bytes(), &sig, false) {
        Ok(()) => Ok(Verdict::Trusted(id)),
        Err(minisign_verify::Error::UnexpectedAlgorithm) => Err(malformed(
            "it is a legacy (minisign -l) signature, which lmi does not accept: sign again without -l",
        )),
        Err(_) => Err(SignatureError::Invalid(id)),
    }
}

/// Reads the signature file of the plugin directory `dir` under the rules for every plugin
/// file ([`crate::plugins::store::read_plugin_file`]); `None` when there is none. A link
/// named like it that leads nowhere is an error, not "unsigned".
pub fn read_signature(dir: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(dir.join(SIGNATURE_FILE)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => crate::plugins::store::read_plugin_file(
            dir,
            Path::new(SIGNATURE_FILE),
            MAX_SIGNATURE_BYTES,
        )
        .map(Some),
    }
}

/// What an install recorded about the plugin's signature (`[signature]` in `install.toml`);
/// no record means it was not signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    /// The key that signed it.
    pub key: KeyId,
    /// Whether that key was trusted at install, and so the signature was verified.
    pub verified: bool,
}

impl SignatureRecord {
    pub fn of(verdict: &Verdict) -> Option<Self> {
        match *verdict {
            Verdict::Unsigned => None,
            Verdict::Trusted(key) => Some(Self {
                key,
                verified: true,
            }),
            Verdict::UntrustedKey(key) => Some(Self {
                key,
                verified: false,
            }),
        }
    }
}

/// A signature [`sign`] made.
pub struct Signed {
    /// The signature file's text.
    pub text: String,
    pub key: KeyId,
    /// The signing key's public key, base64 (the `RW…` line): what installers trust.
    pub public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read the secret key {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is not a minisign secret key (made by `minisign -G`)")]
    NotAKey { path: String },
    #[error("cannot use the secret key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("{0}")]
    Password(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// Signs `statement` with the minisign secret key in the file `key_path`. `password` is
/// asked for only when the key is encrypted; it is never written anywhere. The trusted
/// comment (signed too, shown by `minisign -V`) says what was signed.
pub fn sign(
    statement: &Statement,
    key_path: &Path,
    password: impl FnOnce() -> Result<Secret<String>, String>,
    trusted_comment: &str,
) -> Result<Signed, SignError> {
    let path = crate::text::line(&key_path.display().to_string(), 200);
    let text = read_small_file(key_path).map_err(|e| SignError::Unreadable {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let not_a_key = || SignError::NotAKey { path: path.clone() };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.lines().nth(1).ok_or_else(not_a_key)?.trim())
        .map_err(|_| not_a_key())?;
    let unlocked = minisign::SecretKey::from_bytes(&raw).map_err(|_| not_a_key())?;
    let key = if unlocked.is_encrypted() {
        let boxed = minisign::SecretKeyBox::from_string(&text).map_err(|_| not_a_key())?;
        let password = password().map_err(SignError::Password)?;
        // Always with a password in hand: the crate would otherwise prompt on its own, and
        // write to stdout. Its checksum tells a wrong password.
        boxed
            .into_secret_key(Some(password.expose().to_owned()))
            .map_err(|e| SignError::Key {
                path: path.clone(),
                reason: e.to_string(),
            })?
    } else {
        // As it is: `minisign -W` 0.11 writes an unencrypted key with an empty checksum,
        // which the crate's reader calls corrupted. A damaged key is caught below: what it
        // signs does not verify with its own public key.
        unlocked
    };
    let public = minisign::PublicKey::from_secret_key(&key).map_err(|e| SignError::Key {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let public_key = public.to_base64();
    let key_id = KeyId::of_line(&public_key).ok_or_else(not_a_key)?;
    let signature = minisign::sign(
        Some(&public),
        &key,
        statement.as_str().as_bytes(),
        Some(trusted_comment),
        Some(&format!("lmi plugin signature by minisign key {key_id}")),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    let signed = Signed {
        text: signature.into_string(),
        key: key_id,
        public_key,
    };
    // What lmi writes, lmi must accept: check it as an install will.
    let keys = TrustedKeys::parse(&signed.public_key).map_err(SignError::Sign)?;
    match check(statement, Some(signed.text.as_bytes()), &keys) {
        Ok(Verdict::Trusted(_)) => Ok(signed),
        other => Err(SignError::Sign(format!(
            "the signature made does not verify ({other:?})"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A public key made by `minisign -G -W` 0.11 (its `minisign.pub` says
    /// `minisign public key 3085624F6082D9B4`).
    const PUBLIC: &str = "RWS02YJgT2KFMIskpRWNT8SiQFwMlXtah4Ou8IpdHjSEM0KdlTeaQmNq";

    #[test]
    fn the_statement_is_exactly_three_lines_of_digests() {
        let s = Statement::of(b"c", b"m");
        assert_eq!(
            s.as_str(),
            "lmi-plugin-signature/1\n\
             component sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6\n\
             manifest sha256:62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a\n"
        );
    }

    #[test]
    fn a_key_id_reads_as_minisign_shows_it() {
        let keys = TrustedKeys::parse(&format!(" {PUBLIC} ,")).unwrap();
        let id: KeyId = "3085624F6082D9B4".parse().unwrap();
        assert!(keys.contains(id));
        assert_eq!(id.to_string(), "3085624F6082D9B4");
        assert_eq!(format!("{id:?}"), "KeyId(3085624F6082D9B4)");
        // minisign drops leading zeros; a 16th digit more is not an id.
        assert_eq!(
            "7A5F8C79779E955".parse::<KeyId>().unwrap().to_string(),
            "7A5F8C79779E955"
        );
        assert!("3085624F6082D9B41".parse::<KeyId>().is_err());
    }

    #[test]
    fn a_malformed_trusted_key_is_named() {
        let err = TrustedKeys::parse(&format!("{PUBLIC},RWnot-a-key")).unwrap_err();
        assert!(
            err.contains("`RWnot-a-key` is not a minisign public key"),
            "{err}"
        );
        let err = TrustedKeys::parse("/nonexistent/minisign.pub").unwrap_err();
        assert!(err.contains("cannot read the public key file"), "{err}");
        assert!(TrustedKeys::parse(" , ").unwrap().is_empty());
    }

    fn keypair() -> (tempfile::TempDir, std::path::PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let pair = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, pair.sk.to_box(None).unwrap().to_string()).unwrap();
        (dir, path, pair.pk.to_base64())
    }

    #[test]
    fn what_sign_makes_verifies_and_nothing_else_does() {
        let (_dir, path, public) = keypair();
        let statement = Statement::of(b"component", b"manifest");
        let signed = sign(&statement, &path, || unreachable!(), "lmi-plugin:p 1.0.0").unwrap();
        assert_eq!(signed.public_key, public);
        let keys = TrustedKeys::parse(&public).unwrap();
        let sig = Some(signed.text.as_bytes());
        assert_eq!(
            check(&statement, sig, &keys).unwrap(),
            Verdict::Trusted(signed.key)
        );
        // Either digest changed: refused.
        for other in [
            Statement::of(b"component!", b"manifest"),
            Statement::of(b"component", b"manifest!"),
        ] {
            assert!(matches!(
                check(&other, sig, &keys),
                Err(SignatureError::Invalid(_))
            ));
        }
        // Not trusted: named, not checked.
        assert_eq!(
            check(&statement, sig, &TrustedKeys::default()).unwrap(),
            Verdict::UntrustedKey(signed.key)
        );
        assert!(matches!(
            check(
                &statement,
                Some(b"untrusted comment: x\nnot base64\n"),
                &keys
            ),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(check(&statement, None, &keys).unwrap(), Verdict::Unsigned);
    }

    /// An unencrypted key is read without its checksum (minisign -W writes none): a damaged
    /// one is caught because what it signs does not verify with its own public key.
    #[test]
    fn a_damaged_unencrypted_key_signs_nothing() {
        use base64::Engine as _;
        let (_dir, path, _) = keypair();
        let text = std::fs::read_to_string(&path).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(text.lines().nth(1).unwrap()).unwrap();
        // The last byte of the public half of the Ed25519 secret key.
        let at = raw.len() - 33;
        raw[at] ^= 1;
        let damaged = format!("{}\n{}\n", text.lines().next().unwrap(), b64.encode(&raw));
        std::fs::write(&path, damaged).unwrap();
        let statement = Statement::of(b"component", b"manifest");
        assert!(matches!(
            sign(&statement, &path, || unreachable!(), "t"),
            Err(SignError::Sign(_))
        ));
    }

    #[test]
    fn the_policy_refuses_only_what_it_requires() {
        let id: KeyId = "3085624F6082D9B4".parse().unwrap();
        let off = Policy::default();
        let on = Policy {
            require: true,
            ..Policy::default()
        };
        for v in [
            Verdict::Unsigned,
            Verdict::UntrustedKey(id),
            Verdict::Trusted(id),
        ] {
            off.admit(&v, false).unwrap();
            on.admit(&v, true).unwrap();
        }
        on.admit(&Verdict::Trusted(id), false).unwrap();
        assert!(
            on.admit(&Verdict::Unsigned, false)
                .unwrap_err()
                .contains("--allow-unsigned")
        );
        assert!(
            on.admit(&Verdict::UntrustedKey(id), false)
                .unwrap_err()
                .contains("3085624F6082D9B4")
        );
    }

    #[test]
    fn a_record_reads_back() {
        let id: KeyId = "3085624F6082D9B4".parse().unwrap();
        let record = SignatureRecord::of(&Verdict::Trusted(id)).unwrap();
        let text = toml::to_string(&record).unwrap();
        assert_eq!(text, "key = \"3085624F6082D9B4\"\nverified = true\n");
        assert_eq!(toml::from_str::<SignatureRecord>(&text).unwrap(), record);
    }
}
