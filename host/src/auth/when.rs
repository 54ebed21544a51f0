//! How lmi states a moment and a stretch of time to the user: `2026-12-01 18:30 UTC`, `9 h
//! 12 min`. Moments are unix seconds from [`super::lifetime::now_secs`]; any value, however
//! absurd, is formatted without a panic (a date past the year 9999 is shown as its last
//! minute).

use std::time::{Duration, UNIX_EPOCH};

/// The last second lmi writes as a date: 9999-12-31 23:59:59 UTC (RFC 3339 ends there).
pub const LAST_SECOND: u64 = 253_402_300_799;

/// `unix` as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(unix: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(unix.min(LAST_SECOND));
    // `2026-12-01T18:30:05Z`: within the bound above humantime always formats.
    let rfc = humantime::format_rfc3339_seconds(at).to_string();
    match (rfc.get(..10), rfc.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc,
    }
}

/// A stretch of time as a person plans by it: `42 s`, `17 min`, `9 h 12 min`, `3 d 4 h`.
pub fn span(secs: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    match secs {
        s if s < MIN => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MIN),
        s if s < DAY => match (s / HOUR, s % HOUR / MIN) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => match (s / DAY, s % DAY / HOUR) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

/// `2026-12-01 18:30 UTC (in 9 h 12 min)`, or `(3 min ago)` for a moment past.
pub fn moment(unix: u64, now: u64) -> String {
    if unix >= now {
        format!("{} (in {})", utc(unix), span(unix - now))
    } else {
        format!("{} ({} ago)", utc(unix), span(now - unix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_and_spans_read_as_a_person_plans() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_796_149_800), "2026-12-01 18:30 UTC");
        assert_eq!(utc(u64::MAX), "9999-12-31 23:59 UTC");
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(600), "10 min");
        assert_eq!(span(3600), "1 h");
        assert_eq!(span(9 * 3600 + 12 * 60 + 5), "9 h 12 min");
        assert_eq!(span(3 * 86400 + 4 * 3600), "3 d 4 h");
        assert_eq!(span(u64::MAX), format!("{} d 7 h", u64::MAX / 86400));
        assert_eq!(
            moment(1_796_149_800, 1_796_149_800 - 33_120),
            "2026-12-01 18:30 UTC (in 9 h 12 min)"
        );
        assert_eq!(
            moment(1_796_149_800, 1_796_149_980),
            "2026-12-01 18:30 UTC (3 min ago)"
        );
    }
}
