//! RFC 3339 timestamps in UTC, without a date-time dependency.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// The second this thread last formatted, as `YYYY-MM-DDTHH:MM:SS.`:
    /// the calls made within one second share the work of the date.
    static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
    /// A reading of the monotonic clock and of the wall clock taken together.
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// How long a wall-clock reading is reused, by adding the monotonic time
/// elapsed since. The two clocks run at the same rate (NTP slews both); a
/// step of the wall clock shows in the calls that start after this long.
const REANCHOR: Duration = Duration::from_secs(1);

/// The wall-clock time at `now`: the same as `SystemTime::now()` read then,
/// without a second read of a clock per call (each costs ~25 ns on a VM).
pub(crate) fn wall_clock(now: Instant) -> SystemTime {
    ANCHOR
        .try_with(|a| {
            if let Some((at, wall)) = a.get() {
                if let Some(since) = now.checked_duration_since(at) {
                    if since < REANCHOR {
                        return wall + since;
                    }
                }
            }
            let wall = SystemTime::now();
            a.set(Some((now, wall)));
            wall
        })
        .unwrap_or_else(|_| SystemTime::now())
}

/// Days since 1970-01-01 to a civil (year, month, day), proleptic Gregorian.
/// Howard Hinnant's `civil_from_days`, valid for any `i64` day count we meet.
#[allow(clippy::many_single_char_names)] // the algorithm's own names
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (if m <= 2 { y + 1 } else { y }, m as u32, d as u32)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Appends `t` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, UTC).
pub(crate) fn write_rfc3339(t: SystemTime, out: &mut String) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let cached = SECOND
        .try_with(|c| {
            let (at, text) = c.get();
            if at == secs {
                return Some(text);
            }
            let text = second_text(secs)?;
            c.set((secs, text));
            Some(text)
        })
        .ok()
        .flatten();
    match cached {
        // SAFETY: `second_text` writes only ASCII.
        Some(text) => out.push_str(unsafe { std::str::from_utf8_unchecked(&text) }),
        None => write_second(secs, out),
    }
    crate::format::push_padded(out, u64::from(since.subsec_micros()), 6);
    out.push('Z');
}

/// `YYYY-MM-DDTHH:MM:SS.` of second `secs` after the epoch, when its year
/// has four digits.
fn second_text(secs: u64) -> Option<[u8; 20]> {
    let mut s = String::with_capacity(20);
    write_second(secs, &mut s);
    s.as_bytes().try_into().ok()
}

fn write_second(secs: u64, out: &mut String) {
    use crate::format::push_padded;
    #[allow(clippy::cast_possible_wrap)]
    let secs = secs as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400).unsigned_abs();
    // By hand rather than `write!`: this runs for every recorded call.
    push_padded(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_padded(out, u64::from(mo), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    out.push('T');
    push_padded(out, rem / 3600, 2);
    out.push(':');
    push_padded(out, rem % 3600 / 60, 2);
    out.push(':');
    push_padded(out, rem % 60, 2);
    out.push('.');
}

/// `t` as an RFC 3339 string (tests).
#[cfg(test)]
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339(t, &mut s);
    s
}

/// Parses the RFC 3339 timestamps backstep writes, and any other with a `Z` or
/// `±HH:MM` offset and up to nine fraction digits.
#[allow(clippy::many_single_char_names)]
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    // Digits by hand: `str::parse` is most of the time of reading a log's
    // timestamps, one per call.
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0, |v: i64, &c| {
            c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return None;
        }
        // The first nine digits, scaled to nanoseconds (ASCII digits only:
        // checked above).
        let mut scale = 1_000_000_000;
        for &d in frac.as_bytes().iter().take(9) {
            scale /= 10;
            nanos += u32::from(d - b'0') * scale;
        }
    }
    let offset_secs: i64 = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let oh: i64 = tz.get(1..3)?.parse().ok()?;
            let om: i64 = tz.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::new(1_796_324_531, 123_456_789);
        assert_eq!(rfc3339(t), "2026-12-03T19:02:11.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn the_cached_second_is_only_used_for_its_second() {
        let t = UNIX_EPOCH + Duration::new(1_796_324_531, 999_999_000);
        assert_eq!(rfc3339(t), "2026-12-03T19:02:11.999999Z");
        assert_eq!(
            rfc3339(t + Duration::from_micros(1)),
            "2026-12-03T19:02:12.000000Z"
        );
        assert_eq!(rfc3339(t), "2026-12-03T19:02:11.999999Z");
        // Past year 9999 the date has five digits and is not cached.
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800); // 10000-01-01
        assert_eq!(rfc3339(far), "10000-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(far), "10000-01-01T00:00:00.000000Z");
    }

    #[test]
    fn wall_clock_follows_the_wall_clock() {
        let before = SystemTime::now();
        let now = Instant::now();
        let first = wall_clock(now);
        let later = wall_clock(now + Duration::from_millis(300));
        assert!(first >= before && first <= SystemTime::now(), "{first:?}");
        assert_eq!(
            later.duration_since(first).unwrap(),
            Duration::from_millis(300)
        );
        // Past REANCHOR, and before the anchor, the wall clock is read again.
        let reread = wall_clock(Instant::now() + REANCHOR + Duration::from_secs(5));
        assert!(reread <= SystemTime::now(), "{reread:?}");
        assert!(wall_clock(now) <= SystemTime::now());
    }

    #[test]
    fn parses_what_it_writes_and_offsets() {
        let t = UNIX_EPOCH + Duration::new(1_796_324_531, 123_456_000);
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(
            parse_rfc3339("2026-12-03T20:02:11+01:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_324_531))
        );
        assert_eq!(parse_rfc3339("2026-13-03T20:02:11Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
