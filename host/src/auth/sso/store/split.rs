//! A session record larger than one keychain secret, kept as up to [`MAX_PARTS`] items of at
//! most [`KEYCHAIN_SECRET_LIMIT`] bytes each (Windows Credential Manager refuses a longer
//! secret: `CRED_MAX_CREDENTIAL_BLOB_SIZE`, which `keyring` enforces as `TooLong`).
//!
//! Layout: slot 1 is the primary item (account `<account>`), slot k ≥ 2 the part `<account>#k`.
//! A record that fits one secret is the primary alone, its JSON as it always was. A longer
//! one has a primary that starts with a header line naming the parts and the SHA-256 of the
//! whole record, then the first piece of the JSON; the parts hold the rest, in order. Each
//! piece ends on a UTF-8 character boundary, so every item is text.
//!
//! Invariants:
//! - The parts are written first and the primary last, so the primary never names parts that
//!   were not written. A crash or a failure midway leaves the earlier primary, whose digest
//!   the new parts do not match: the record is then unreadable ("sign in again"), never a
//!   session that mixes two logins.
//! - A reader accepts the parts only when all of them are there, each within the limit, and
//!   together they hash to the digest; anything else is [`Read::Torn`].
//! - Deleting removes the primary first (parts without a primary are inert), then every part
//!   slot up to [`MAX_PARTS`], so parts of a longer earlier record go too. A write removes the
//!   parts the record it replaces had beyond its own.

use sha2::{Digest, Sha256};

use crate::keychain::KEYCHAIN_SECRET_LIMIT;

/// The most items one record is kept in (8 × 2,560 bytes: about 20 KB of JSON).
pub const MAX_PARTS: usize = 8;

/// What a split primary starts with; a whole record starts with `{`.
const MAGIC: &str = "lmi-split/1";

/// The keychain items of one record, by slot (1: the primary, k ≥ 2: part k).
pub trait Slots {
    fn get(&mut self, slot: usize) -> keyring::Result<Option<Vec<u8>>>;
    fn set(&mut self, slot: usize, bytes: &[u8]) -> keyring::Result<()>;
    /// `true` if there was an item.
    fn delete(&mut self, slot: usize) -> keyring::Result<bool>;
}

/// The account of part `slot` (≥ 2) of the record kept under `account`.
pub fn part_account(account: &str, slot: usize) -> String {
    format!("{account}#{slot}")
}

/// Whether `account` names a part rather than a record (`…#<digits>`; an issuer has no
/// fragment, so no record's account ends that way).
pub fn is_part_account(account: &str) -> bool {
    account
        .rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The items that keep `record` (the primary first), or `None` when it needs more than
/// [`MAX_PARTS`].
pub fn layout(record: &[u8]) -> Option<Vec<Vec<u8>>> {
    if record.len() <= KEYCHAIN_SECRET_LIMIT {
        return Some(vec![record.to_vec()]);
    }
    let digest = hex::encode(Sha256::digest(record));
    // The part count is one digit (MAX_PARTS < 10), so the header's length is known before it.
    let header_len = header(0, &digest).len();
    let mut pieces = Vec::new();
    let mut rest = record;
    while !rest.is_empty() {
        if pieces.len() == MAX_PARTS {
            return None;
        }
        let room = KEYCHAIN_SECRET_LIMIT - if pieces.is_empty() { header_len } else { 0 };
        let cut = char_boundary(rest, room);
        pieces.push(rest[..cut].to_vec());
        rest = &rest[cut..];
    }
    let mut first = header(pieces.len(), &digest).into_bytes();
    first.extend_from_slice(&pieces[0]);
    pieces[0] = first;
    Some(pieces)
}

fn header(parts: usize, digest: &str) -> String {
    format!("{MAGIC} parts={parts} sha256={digest}\n")
}

/// The longest prefix of `bytes` within `room` that ends on a UTF-8 character boundary.
fn char_boundary(bytes: &[u8], room: usize) -> usize {
    if bytes.len() <= room {
        return bytes.len();
    }
    let mut cut = room;
    // A continuation byte (10xxxxxx) does not start a character; at most 3 in a row.
    while cut > room.saturating_sub(3) && cut > 0 && bytes[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    cut
}

/// A split primary's header.
struct Header {
    parts: usize,
    digest: [u8; 32],
}

/// `None`: not a split primary (a whole record). `Some(Err)`: one that cannot be read.
fn parse_header(primary: &[u8]) -> Option<Result<(Header, &[u8]), String>> {
    if !primary.starts_with(MAGIC.as_bytes()) {
        return None;
    }
    let parsed = (|| {
        let end = primary.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&primary[..end]).ok()?;
        let mut words = line.split(' ');
        let (_, parts, digest) = (words.next()?, words.next()?, words.next()?);
        if words.next().is_some() {
            return None;
        }
        let parts: usize = parts.strip_prefix("parts=")?.parse().ok()?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digest.strip_prefix("sha256=")?, &mut bytes).ok()?;
        (2..=MAX_PARTS).contains(&parts).then_some((
            Header {
                parts,
                digest: bytes,
            },
            &primary[end + 1..],
        ))
    })();
    Some(parsed.ok_or_else(|| "its first item has a header lmi cannot read".to_owned()))
}

/// What [`read`] found.
#[derive(PartialEq, Eq)]
pub enum Read {
    Absent,
    Whole(Vec<u8>),
    /// Parts missing, too long or not the ones the primary names; why, without any secret.
    Torn(String),
}

impl std::fmt::Debug for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Read::Absent => f.write_str("Absent"),
            Read::Whole(b) => write!(f, "Whole({} bytes)", b.len()),
            Read::Torn(why) => write!(f, "Torn({why:?})"),
        }
    }
}

/// Reads the record: one `get` when it is one item, one per part when it is split.
pub fn read(slots: &mut dyn Slots) -> keyring::Result<Read> {
    let Some(primary) = slots.get(1)? else {
        return Ok(Read::Absent);
    };
    // Another program of the user's may write the item: nothing longer than lmi writes is
    // read further.
    if primary.len() > MAX_PARTS * KEYCHAIN_SECRET_LIMIT {
        return Ok(Read::Torn(
            "its first item is longer than any record lmi writes".to_owned(),
        ));
    }
    let (header, first) = match parse_header(&primary) {
        None => return Ok(Read::Whole(primary)),
        Some(Err(why)) => return Ok(Read::Torn(why)),
        Some(Ok(_)) if primary.len() > KEYCHAIN_SECRET_LIMIT => {
            return Ok(Read::Torn(
                "its first item is longer than any part lmi writes".to_owned(),
            ));
        }
        Some(Ok(h)) => h,
    };
    let mut record = first.to_vec();
    for slot in 2..=header.parts {
        match slots.get(slot)? {
            None => {
                return Ok(Read::Torn(format!(
                    "part {slot} of {} is missing",
                    header.parts
                )));
            }
            Some(part) if part.len() > KEYCHAIN_SECRET_LIMIT => {
                return Ok(Read::Torn(format!(
                    "part {slot} of {} is longer than any part lmi writes",
                    header.parts
                )));
            }
            Some(part) => record.extend_from_slice(&part),
        }
    }
    if Sha256::digest(&record).as_slice() != header.digest {
        return Ok(Read::Torn(format!(
            "its {} parts are not the ones its first item names (a write that did not finish?)",
            header.parts
        )));
    }
    Ok(Read::Whole(record))
}

/// Which slots the stored record may use: `Some(n)` for a record of `n` items (1: a whole
/// one), `None` when there is no primary or its header cannot be read (any slot may then
/// hold a part: a write cut off before its primary, or a damaged record).
fn slots_in_use(slots: &mut dyn Slots) -> keyring::Result<Option<usize>> {
    Ok(match slots.get(1)? {
        None => None,
        Some(primary) => match parse_header(&primary) {
            None => Some(1),
            Some(Ok((h, _))) => Some(h.parts),
            Some(Err(_)) => None,
        },
    })
}

/// Replaces the record with `items` (from [`layout`]): the parts, then the primary, then the
/// parts of the replaced record beyond these. Each keychain operation is a connection of its
/// own (about 10 ms on the Secret Service), so only slots that can hold a part are touched:
/// a first write over no record sweeps nothing (a part left by a cut-off write is inert, and
/// `delete` sweeps every slot when it finds no readable primary).
pub fn write(slots: &mut dyn Slots, items: &[Vec<u8>]) -> keyring::Result<()> {
    let before = slots_in_use(slots)?.unwrap_or(1);
    for (i, part) in items.iter().enumerate().skip(1) {
        slots.set(i + 1, part)?;
    }
    slots.set(1, &items[0])?;
    for slot in items.len() + 1..=before {
        slots.delete(slot)?;
    }
    Ok(())
}

/// Deletes the record and its parts: the parts its primary names, or every part slot when
/// there is no readable primary (parts a cut-off write or a damaged record left, which may
/// hold pieces of a token); `true` if there was a primary.
pub fn delete(slots: &mut dyn Slots) -> keyring::Result<bool> {
    let last = slots_in_use(slots)?.unwrap_or(MAX_PARTS);
    let deleted = slots.delete(1)?;
    for slot in 2..=last {
        slots.delete(slot)?;
    }
    Ok(deleted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// An in-memory keychain that can be made to fail after a number of writes (a crash).
    #[derive(Default)]
    struct Memory {
        items: BTreeMap<usize, Vec<u8>>,
        gets: usize,
        writes_left: Option<usize>,
    }

    impl Slots for Memory {
        fn get(&mut self, slot: usize) -> keyring::Result<Option<Vec<u8>>> {
            self.gets += 1;
            Ok(self.items.get(&slot).cloned())
        }
        fn set(&mut self, slot: usize, bytes: &[u8]) -> keyring::Result<()> {
            if let Some(left) = &mut self.writes_left {
                if *left == 0 {
                    return Err(keyring::Error::PlatformFailure("crash".into()));
                }
                *left -= 1;
            }
            self.items.insert(slot, bytes.to_vec());
            Ok(())
        }
        fn delete(&mut self, slot: usize) -> keyring::Result<bool> {
            Ok(self.items.remove(&slot).is_some())
        }
    }

    fn record(len: usize, fill: char) -> Vec<u8> {
        let body: String = std::iter::repeat_n(fill, len).collect();
        format!(r#"{{"v":1,"refresh_token":"{body}"}}"#).into_bytes()
    }

    #[test]
    fn a_record_that_fits_is_one_item_exactly_as_before_and_read_in_one_get() {
        let rec = record(100, 'r');
        let items = layout(&rec).unwrap();
        assert_eq!(items, vec![rec.clone()]);
        let mut kc = Memory::default();
        write(&mut kc, &items).unwrap();
        assert_eq!(kc.items.keys().copied().collect::<Vec<_>>(), vec![1]);
        kc.gets = 0;
        assert_eq!(read(&mut kc).unwrap(), Read::Whole(rec));
        assert_eq!(kc.gets, 1, "one keychain read");
        // Exactly the limit is still one item.
        let at_limit = vec![b'x'; KEYCHAIN_SECRET_LIMIT];
        assert_eq!(layout(&at_limit).unwrap().len(), 1);
    }

    #[test]
    fn a_long_record_is_split_within_the_limit_and_read_back_whole() {
        // Multi-byte characters: every piece ends on a character boundary.
        let rec = record(3000, 'é');
        let items = layout(&rec).unwrap();
        assert_eq!(items.len(), 3, "6,000+ bytes");
        for item in &items {
            assert!(item.len() <= KEYCHAIN_SECRET_LIMIT, "{}", item.len());
        }
        assert!(items[0].starts_with(b"lmi-split/1 parts=3 sha256="));
        for item in &items[1..] {
            assert!(std::str::from_utf8(item).is_ok());
        }
        let first_body = &items[0][items[0].iter().position(|&b| b == b'\n').unwrap() + 1..];
        assert!(std::str::from_utf8(first_body).is_ok());
        let mut kc = Memory::default();
        write(&mut kc, &items).unwrap();
        assert_eq!(kc.items.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(read(&mut kc).unwrap(), Read::Whole(rec));
    }

    #[test]
    fn a_record_beyond_the_largest_split_has_no_layout() {
        assert!(layout(&record(MAX_PARTS * KEYCHAIN_SECRET_LIMIT, 'r')).is_none());
        let most = MAX_PARTS * KEYCHAIN_SECRET_LIMIT - 200;
        assert_eq!(layout(&record(most, 'r')).unwrap().len(), MAX_PARTS);
    }

    #[test]
    fn missing_long_or_stale_parts_are_torn_never_another_session() {
        let (old, new) = (record(6000, 'a'), record(6000, 'b'));
        let mut kc = Memory::default();
        write(&mut kc, &layout(&old).unwrap()).unwrap();
        let before = kc.items.clone();

        // A part missing.
        kc.items.remove(&2);
        assert!(matches!(read(&mut kc).unwrap(), Read::Torn(w) if w == "part 2 of 3 is missing"));
        // A part too long.
        kc.items = before.clone();
        kc.items.insert(3, vec![b'a'; KEYCHAIN_SECRET_LIMIT + 1]);
        assert!(matches!(read(&mut kc).unwrap(), Read::Torn(w) if w.contains("longer")));
        // A primary longer than lmi writes: a split one over one secret, any over the bound.
        kc.items = before.clone();
        let mut long = kc.items[&1].clone();
        long.extend(vec![b'x'; KEYCHAIN_SECRET_LIMIT]);
        kc.items.insert(1, long);
        assert!(
            matches!(read(&mut kc).unwrap(), Read::Torn(w) if w.contains("first item is longer"))
        );
        kc.items
            .insert(1, vec![b'{'; MAX_PARTS * KEYCHAIN_SECRET_LIMIT + 1]);
        assert!(
            matches!(read(&mut kc).unwrap(), Read::Torn(w) if w.contains("first item is longer"))
        );
        // A part of another record (the same length: only the digest tells).
        kc.items = before.clone();
        let other = layout(&new).unwrap();
        kc.items.insert(2, other[1].clone());
        assert!(matches!(read(&mut kc).unwrap(), Read::Torn(w) if w.contains("not the ones")));
        // A header lmi cannot read.
        kc.items = before;
        kc.items
            .insert(1, b"lmi-split/1 parts=99 sha256=00\n{".to_vec());
        assert!(matches!(read(&mut kc).unwrap(), Read::Torn(w) if w.contains("header")));
    }

    /// A write cut off after each possible number of item writes leaves the old record, the
    /// new one, or a torn one: never a mix that reads as a session.
    #[test]
    fn a_write_cut_off_anywhere_leaves_the_old_or_the_new_record_or_none() {
        for (old, new) in [
            (record(6000, 'a'), record(6000, 'b')),
            (record(100, 'a'), record(6000, 'b')),
            (record(6000, 'a'), record(100, 'b')),
            (record(9000, 'a'), record(3000, 'b')),
        ] {
            let new_items = layout(&new).unwrap();
            for crash_after in 0..=new_items.len() {
                let mut kc = Memory::default();
                write(&mut kc, &layout(&old).unwrap()).unwrap();
                kc.writes_left = Some(crash_after);
                let done = write(&mut kc, &new_items).is_ok();
                kc.writes_left = None;
                match read(&mut kc).unwrap() {
                    Read::Whole(r) if r == new => assert!(crash_after == new_items.len()),
                    Read::Whole(r) => {
                        assert_eq!(r, old, "crash after {crash_after}");
                        assert!(!done);
                    }
                    Read::Torn(_) => assert!(!done),
                    Read::Absent => panic!("the record vanished"),
                }
            }
        }
    }

    #[test]
    fn a_shorter_record_removes_the_longer_ones_parts_and_delete_removes_every_slot() {
        let mut kc = Memory::default();
        write(&mut kc, &layout(&record(12_000, 'a')).unwrap()).unwrap();
        assert_eq!(kc.items.len(), 5);
        write(&mut kc, &layout(&record(3000, 'b')).unwrap()).unwrap();
        assert_eq!(kc.items.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        write(&mut kc, &layout(&record(10, 'c')).unwrap()).unwrap();
        assert_eq!(kc.items.keys().copied().collect::<Vec<_>>(), vec![1]);

        // A whole record's delete touches its own item only (one read, one delete).
        let gets = kc.gets;
        assert!(delete(&mut kc).unwrap());
        assert!(kc.items.is_empty());
        assert_eq!(kc.gets, gets + 1);

        // Parts a cut-off write left, with no primary: every slot is swept.
        for slot in 2..=MAX_PARTS {
            kc.items.insert(slot, b"left over".to_vec());
        }
        assert!(!delete(&mut kc).unwrap());
        assert!(kc.items.is_empty());
    }

    #[test]
    fn part_accounts_are_told_from_record_accounts() {
        let acct = "lmi-cli@https://idp.example/tenant";
        assert_eq!(part_account(acct, 2), format!("{acct}#2"));
        assert!(is_part_account(&part_account(acct, 8)));
        assert!(!is_part_account(acct));
        assert!(!is_part_account("cli#x@https://idp.example"));
        assert!(!is_part_account(
            "dev:OAUTH_CLIENT_SECRET@/home/a/.config/lmi"
        ));
    }

    #[test]
    fn debug_shows_no_record() {
        let shown = format!("{:?}", Read::Whole(b"secret-token".to_vec()));
        assert_eq!(shown, "Whole(12 bytes)");
    }
}
