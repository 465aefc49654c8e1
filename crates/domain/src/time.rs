//! Timestamps in Unix milliseconds, rendered as X renders them
//! (`2025-06-05T12:00:00.000Z`). A hand-written civil calendar keeps the domain
//! free of a date crate: only UTC instants are ever stored or shown; a time
//! read with another offset is converted to UTC.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn now() -> Self {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The calendar year (UTC) this instant falls in.
    pub fn year(self) -> i32 {
        civil_from_days(self.0.div_euclid(86_400_000)).0
    }

    /// Parses an RFC 3339 date-time, `YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)`,
    /// into the UTC instant it names (`2026-01-01T01:00:00+01:00` is
    /// `2026-01-01T00:00:00Z`). Fractional seconds beyond milliseconds are
    /// truncated; a leap second (`:60`) is read as `:59`.
    pub fn parse(s: &str) -> Result<Timestamp, ParseError> {
        let bad = || {
            ParseError::new(
                "timestamp",
                s,
                "an RFC 3339 time such as `2025-06-05T12:00:00Z` or `2025-06-05T14:00:00.5+02:00`",
            )
        };
        let b = s.as_bytes();
        // INVARIANT (ascii-slices): the fields are cut out by byte offsets, so
        // a character of more than one byte must be refused before slicing.
        if !s.is_ascii()
            || b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, ParseError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<i64>().map_err(|_| bad())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = &s[19..];
        let mut millis = 0i64;
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            for (i, c) in frac[..digits].bytes().take(3).enumerate() {
                millis += i64::from(c - b'0') * [100, 10, 1][i];
            }
            rest = &frac[digits..];
        }
        let offset_minutes = match rest.as_bytes() {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(bad());
                }
                let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
                let (hours, minutes) = (h1 * 10 + h2, m1 * 10 + m2);
                if hours > 23 || minutes > 59 {
                    return Err(bad());
                }
                let minutes = hours * 60 + minutes;
                if *sign == b'-' { -minutes } else { minutes }
            }
            _ => return Err(bad()),
        };
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad());
        }
        let days = days_from_civil(year, month, day);
        let local = ((days * 24 + hour) * 60 + minute) * 60_000 + second.min(59) * 1000 + millis;
        // The offset is local time minus UTC.
        let utc = local - offset_minutes * 60_000;
        // INVARIANT (prints-parsable): the instant's UTC form has a four-digit
        // year, so that what is printed parses again (an offset could carry
        // 0000-01-01 or 9999-12-31 across a year's end).
        if !(FIRST_MILLIS..=LAST_MILLIS).contains(&utc) {
            return Err(bad());
        }
        Ok(Timestamp(utc))
    }
}

impl Timestamp {
    /// Year, month, day, hour, minute, second and millisecond, in UTC.
    fn utc_parts(self) -> (i32, u32, u32, i64, i64, i64, i64) {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        (y, m, d, h, min, rest / 1000, rest % 1000)
    }

    /// The UTC form of an instant with a four-digit year, written without
    /// the formatting machinery (responses carry one per post).
    fn utc_bytes(self, buf: &mut [u8; 24]) -> Option<&str> {
        if !(FIRST_MILLIS..=LAST_MILLIS).contains(&self.0) {
            return None;
        }
        let (y, m, d, h, min, s, ms) = self.utc_parts();
        *buf = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, digits: usize, mut v: i64| {
            for i in (at..at + digits).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, i64::from(y));
        put(5, 2, i64::from(m));
        put(8, 2, i64::from(d));
        put(11, 2, h);
        put(14, 2, min);
        put(17, 2, s);
        put(20, 3, ms);
        std::str::from_utf8(buf).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.utc_bytes(&mut [0; 24]) {
            return f.write_str(s);
        }
        let (y, m, d, h, min, s, ms) = self.utc_parts();
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.utc_bytes(&mut [0; 24]) {
            Some(utc) => s.serialize_str(utc),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants whose
/// UTC form has a four-digit year.
const FIRST_MILLIS: i64 = -62_167_219_200_000;
const LAST_MILLIS: i64 = 253_402_300_799_999;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's `days_from_civil` and `civil_from_days`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_x() {
        assert_eq!(Timestamp::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::from_millis(1_717_243_200_123).to_string(), "2024-06-01T12:00:00.123Z");
    }

    /// The direct form is the formatted one, at the ends of the four-digit
    /// years, inside them, and past them (where the formatted one is used).
    #[test]
    fn direct_utc_form_matches_the_formatted_one() {
        let formatted = |t: Timestamp| {
            let (y, m, d, h, min, s, ms) = t.utc_parts();
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut all = vec![FIRST_MILLIS, LAST_MILLIS, FIRST_MILLIS - 1, LAST_MILLIS + 1, 0, -1, 86_399_999];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            all.push(FIRST_MILLIS + (x % (LAST_MILLIS - FIRST_MILLIS + 1) as u64) as i64);
        }
        for ms in all {
            let t = Timestamp::from_millis(ms);
            assert_eq!(t.to_string(), formatted(t), "{ms}");
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", formatted(t)), "{ms}");
        }
    }

    #[test]
    fn parses_what_it_prints_and_x_forms() {
        for ms in [0, 951_782_400_000, 1_717_243_200_123, 4_102_444_800_000] {
            let t = Timestamp::from_millis(ms);
            assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        }
        assert_eq!(Timestamp::parse("2024-06-01T12:00:00Z").unwrap().millis(), 1_717_243_200_000);
        assert_eq!(Timestamp::parse("2024-06-01T12:00:00+00:00").unwrap().millis(), 1_717_243_200_000);
    }

    #[test]
    fn parses_any_rfc_3339_offset_into_utc() {
        let utc = |s: &str| Timestamp::parse(s).unwrap().to_string();
        assert_eq!(utc("2026-01-01T01:00:00+01:00"), "2026-01-01T00:00:00.000Z");
        assert_eq!(utc("2026-01-01T00:00:00-00:00"), "2026-01-01T00:00:00.000Z");
        // Across a day, a month and a year, both ways.
        assert_eq!(utc("2026-01-01T00:30:00+05:45"), "2025-12-31T18:45:00.000Z");
        assert_eq!(utc("2025-12-31T22:00:00-03:30"), "2026-01-01T01:30:00.000Z");
        assert_eq!(utc("2024-02-29T23:59:59.999-23:59"), "2024-03-01T23:58:59.999Z");
        assert_eq!(utc("2026-06-05T14:00:00.123456789+02:00"), "2026-06-05T12:00:00.123Z");
        assert_eq!(utc("2026-06-05t14:00:00.5+02:00"), "2026-06-05T12:00:00.500Z");
        // The first and last instants of four-digit years, and their edges.
        assert_eq!(utc("0000-01-01T01:00:00+01:00"), "0000-01-01T00:00:00.000Z");
        assert_eq!(utc("9999-12-31T22:59:59.999-01:00"), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::parse("0000-01-01T00:00:00Z").unwrap().millis(), FIRST_MILLIS);
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59.999Z").unwrap().millis(), LAST_MILLIS);
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "2024-13-01T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-06-01 12:00:00Z",
            "2024-06-01T12:00:00",
            "yesterday",
            // Offsets RFC 3339 does not allow.
            "2024-06-01T12:00:00+24:00",
            "2024-06-01T12:00:00+02:60",
            "2024-06-01T12:00:00+0200",
            "2024-06-01T12:00:00+02",
            "2024-06-01T12:00:00+2:00",
            "2024-06-01T12:00:00 02:00",
            "2024-06-01T12:00:00+02:00Z",
            "2024-06-01T12:00:00+a2:00",
            "2024-06-01T12:00:00.Z",
            // An instant whose UTC year has not four digits.
            "0000-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-01:00",
            // A character of two bytes across a field's end, at any position.
            "2024-06-01T12:00:0\u{e9}Z",
            "2024-06-01T12:00:00\u{e9}Z",
            "2024-06-01T12:0\u{e9}:00Z",
            "\u{e9}024-06-01T12:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_ascii_inside_the_fixed_fields_is_an_error_not_a_panic() {
        // Found by the ledger-entry fuzz target: a two-byte character
        // across a field's end split a slice inside it.
        let good = "2026-11-01T00:00:00Z";
        for i in 0..good.len() {
            let bad = format!("{}\u{e9}{}", &good[..i], &good[i + 1..]);
            assert!(Timestamp::parse(&bad).is_err(), "{bad}");
        }
        assert!(Timestamp::parse("2026-11-01T00:00:`\u{6db}00Z").is_err());
    }
}
