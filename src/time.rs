//! Wall-clock time and calendar dates. The scanner itself only needs UTC
//! hours and days; time zones (for `report`) come from `jiff`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, now.
pub fn now_unix_nano() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days algorithm, for dates from 1970 on).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// Formats Unix nanoseconds as an RFC 3339 UTC timestamp (second
/// precision), for messages and `status`.
pub fn rfc3339(unix_nano: u64) -> String {
    let secs = unix_nano / 1_000_000_000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The UTC hour ([`crate::metrics::Hour`]) of a Unix time in seconds,
/// milliseconds, microseconds or nanoseconds, told apart by size (any of
/// them for a date between 1973 and 5138). `0` (unknown) for 0.
pub fn hour_of_unix(t: u64) -> crate::metrics::Hour {
    let secs = match t {
        0..=99_999_999_999 => t,
        100_000_000_000..=99_999_999_999_999 => t / 1_000,
        100_000_000_000_000..=99_999_999_999_999_999 => t / 1_000_000,
        _ => t / 1_000_000_000,
    };
    u32::try_from(secs / 3_600).unwrap_or(0)
}

/// The UTC hour of an RFC 3339 / ISO 8601 timestamp with an offset or `Z`
/// (`2026-01-02T03:04:05.678Z`, `2026-01-02T04:04:05+01:00`); `None` when
/// it is not one.
pub fn hour_of_rfc3339(stamp: &str) -> Option<crate::metrics::Hour> {
    // The common form (`2026-01-02T03:04:05.678Z`, as every agent writes
    // it) is read directly: this runs once per record.
    let b = stamp.as_bytes();
    if b.len() >= 20 && b[10] == b'T' && b[b.len() - 1] == b'Z' && b[4] == b'-' && b[7] == b'-' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter()
                .try_fold(0u32, |a, c| c.is_ascii_digit().then(|| a * 10 + u32::from(c - b'0')))
        };
        if let (Some(y), Some(m), Some(d), Some(h)) =
            (num(0..4), num(5..7), num(8..10), num(11..13))
        {
            if (1..=12).contains(&m) && (1..=31).contains(&d) && h < 24 && y >= 1970 {
                let days = days_from_civil(i64::from(y), m, d);
                return u32::try_from(days * 24 + i64::from(h)).ok().filter(|h| *h > 0);
            }
        }
    }
    let ts: jiff::Timestamp = stamp.trim().parse().ok()?;
    u32::try_from(ts.as_second().max(0) / 3_600).ok().filter(|h| *h > 0)
}

/// The UTC hour of an RFC 3339 timestamp, or of a date and time without
/// an offset (`2026-01-02 03:04:05`, as SQLite's `CURRENT_TIMESTAMP`
/// writes it), read as UTC.
pub fn hour_of_stamp(stamp: &str) -> Option<crate::metrics::Hour> {
    hour_of_rfc3339(stamp).or_else(|| {
        let dt: jiff::civil::DateTime = stamp.trim().parse().ok()?;
        let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        u32::try_from(ts.as_second().max(0) / 3_600).ok().filter(|h| *h > 0)
    })
}

/// Days since 1970-01-01 of a civil date (the inverse of
/// [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_of_unix_times_in_any_unit() {
        let h = 1_767_225_600 / 3600; // 2026-01-01T00:00:00Z
        assert_eq!(hour_of_unix(1_767_225_600), h);
        assert_eq!(hour_of_unix(1_767_225_600_123), h);
        assert_eq!(hour_of_unix(1_767_225_600_123_456), h);
        assert_eq!(hour_of_unix(1_767_225_600_123_456_789), h);
        assert_eq!(hour_of_unix(0), 0);
    }

    #[test]
    fn hours_of_timestamps_honour_offsets() {
        let h = 1_767_225_600 / 3600;
        assert_eq!(hour_of_rfc3339("2026-01-01T00:59:59.999Z"), Some(h));
        // The fast path and jiff agree.
        for s in ["2026-03-01T23:00:00Z", "2024-02-29T12:34:56.789Z", "1999-12-31T23:59:59Z"] {
            let slow: jiff::Timestamp = s.parse().unwrap();
            assert_eq!(hour_of_rfc3339(s), u32::try_from(slow.as_second() / 3600).ok(), "{s}");
        }
        assert_eq!(hour_of_rfc3339("2026-01-01T01:30:00+01:00"), Some(h));
        assert_eq!(hour_of_rfc3339("2025-12-31T19:00:00-05:00"), Some(h));
        assert_eq!(hour_of_rfc3339("yesterday"), None);
        assert_eq!(hour_of_rfc3339("2026-01-01"), None);
        assert_eq!(hour_of_stamp("2026-01-01 00:30:00"), Some(h));
        assert_eq!(hour_of_stamp("2026-01-01T00:30:00Z"), Some(h));
    }

    #[test]
    fn civil_days_round_trip() {
        for days in [0u64, 59, 365, 11_016, 20_454, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y as i64, m as u32, d as u32), days as i64);
        }
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600_000_000_000), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000_000_000), "2000-02-29T00:00:00Z");
    }
}
