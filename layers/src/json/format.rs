//! The hand-written JSON writing primitives: string escaping, numbers and
//! timestamps, appended to a byte buffer that always holds valid UTF-8.

use std::time::{SystemTime, UNIX_EPOCH};

/// For each byte: 0 when it is copied as is, otherwise the character that
/// follows the backslash (`u` for a `\u00XX` escape).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the eight bytes of `word` needs an escape: a control
/// character, `"` or `\\`.
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    control | quote | backslash != 0
}

/// Appends `text` escaped as the inside of a JSON string.
pub(crate) fn escape_into(buf: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Skip eight bytes at a time while none needs an escape.
    let mut clean = 0;
    while let Some(chunk) = bytes.get(clean..clean + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if word_needs_escape(word) {
            break;
        }
        clean += 8;
    }
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate().skip(clean) {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        buf.extend_from_slice(&bytes[start..index]);
        if escape == b'u' {
            buf.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        } else {
            buf.extend_from_slice(&[b'\\', escape]);
        }
        start = index + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Appends `text` as a quoted JSON string.
pub(crate) fn string_into(buf: &mut Vec<u8>, text: &str) {
    buf.push(b'"');
    escape_into(buf, text);
    buf.push(b'"');
}

/// Appends bytes that may not be UTF-8 as the inside of a JSON string,
/// replacing invalid sequences with U+FFFD.
pub(crate) fn escape_lossy_into(buf: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        escape_into(buf, chunk.valid());
        if !chunk.invalid().is_empty() {
            buf.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

/// Appends an integer.
pub(crate) fn int_into(buf: &mut Vec<u8>, value: impl itoa::Integer) {
    buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a 128-bit integer: a JSON number when it fits in 64 bits (which
/// JSON parsers read exactly), otherwise its decimal digits as a string.
pub(crate) fn wide_int_into<T>(buf: &mut Vec<u8>, value: T)
where
    T: itoa::Integer + TryInto<i64> + TryInto<u64> + Copy,
{
    let fits = TryInto::<i64>::try_into(value).is_ok() || TryInto::<u64>::try_into(value).is_ok();
    if fits {
        int_into(buf, value);
    } else {
        buf.push(b'"');
        int_into(buf, value);
        buf.push(b'"');
    }
}

/// Appends a float: the shortest representation that reads back to the same
/// value, or the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, which JSON
/// numbers cannot express.
pub(crate) fn f64_into(buf: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        if !short_decimal_into(buf, value) {
            buf.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
        }
    } else if value.is_nan() {
        buf.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        buf.extend_from_slice(b"\"Infinity\"");
    } else {
        buf.extend_from_slice(b"\"-Infinity\"");
    }
}

/// Writes `value` as `int.frac` when it is exactly the nearest double to a
/// decimal with at most six digits after the point (most measured values),
/// without the general shortest-representation search; returns `false`,
/// writing nothing, for any other value.
///
/// The check is exact: `n / 10^6` in floating point is the correctly rounded
/// value of that decimal, so a JSON parser reads the written text back to
/// `value`.
fn short_decimal_into(buf: &mut Vec<u8>, value: f64) -> bool {
    const SCALE: f64 = 1e6;
    // |n| stays below 2^53, where every integer is exact; zeros keep their
    // sign through ryu.
    if value == 0.0 || value.abs() >= 9.0e9 {
        return false;
    }
    let scaled = (value * SCALE).round();
    if scaled / SCALE != value {
        return false;
    }
    let scaled = scaled as i64;
    if scaled < 0 {
        buf.push(b'-');
    }
    let magnitude = scaled.unsigned_abs();
    int_into(buf, magnitude / 1_000_000);
    buf.push(b'.');
    let mut fraction = magnitude % 1_000_000;
    if fraction == 0 {
        buf.push(b'0');
        return true;
    }
    let mut digits = 6;
    while fraction.is_multiple_of(10) {
        fraction /= 10;
        digits -= 1;
    }
    let mut text = [b'0'; 6];
    put_digits(&mut text[..digits], fraction);
    buf.extend_from_slice(&text[..digits]);
    true
}

/// The latest time the timestamp format can show: 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: u64 = 253_402_300_799_999;

/// The date and time to the second of the last timestamp written, so that
/// lines within one second only format their milliseconds.
#[derive(Debug, Default)]
pub(crate) struct TimestampCache {
    second: Option<u64>,
    text: [u8; 20],
}

/// Appends `time` as RFC 3339 in UTC with milliseconds and `Z`, for example
/// `2026-06-15T14:32:45.123Z`. Times before 1970 show as the epoch; times
/// after 9999 as the last millisecond of 9999.
pub(crate) fn timestamp_into(buf: &mut Vec<u8>, time: SystemTime, cache: &mut TimestampCache) {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
        .min(MAX_MILLIS);
    let second = millis / 1000;
    if cache.second != Some(second) {
        let (days, second_of_day) = (second / 86_400, second % 86_400);
        let (year, month, day) = civil_from_days(days);
        let mut text = *b"0000-00-00T00:00:00.";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        put_digits(&mut text[11..13], second_of_day / 3600);
        put_digits(&mut text[14..16], second_of_day / 60 % 60);
        put_digits(&mut text[17..19], second_of_day % 60);
        *cache = TimestampCache {
            second: Some(second),
            text,
        };
    }
    let mut fraction = *b"000Z";
    put_digits(&mut fraction[0..3], millis % 1000);
    buf.extend_from_slice(&cache.text);
    buf.extend_from_slice(&fraction);
}

fn put_digits(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Year, month and day of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn escaped(text: &str) -> String {
        let mut buf = Vec::new();
        string_into(&mut buf, text);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn escapes_every_byte_at_every_position() {
        for position in 0..20 {
            for byte in 0u8..0x80 {
                let mut text = "abcdefghijklmnopqrst".to_owned().into_bytes();
                text[position] = byte;
                let text = String::from_utf8(text).unwrap();
                let mut buf = Vec::new();
                string_into(&mut buf, &text);
                let back: String = serde_json::from_slice(&buf).unwrap();
                assert_eq!(back, text);
                let needs = byte < 0x20 || byte == b'"' || byte == b'\\';
                assert_eq!(buf.len() > text.len() + 2, needs, "{byte:#x} at {position}");
            }
        }
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(escaped("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(escaped("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(escaped("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(escaped("héllo ✓ 𝄞"), "\"héllo ✓ 𝄞\"");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let mut buf = Vec::new();
        escape_lossy_into(&mut buf, b"ok\xed\xa0\x80\"\xff");
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "ok\u{fffd}\u{fffd}\u{fffd}\\\"\u{fffd}"
        );
    }

    #[test]
    fn floats_round_trip_and_non_finite_are_strings() {
        for value in [0.1, -2.5e-300, 1e300, f64::MAX, f64::MIN_POSITIVE, 3.0] {
            let mut buf = Vec::new();
            f64_into(&mut buf, value);
            let text = String::from_utf8(buf).unwrap();
            assert_eq!(text.parse::<f64>().unwrap(), value, "{text}");
        }
        let mut buf = Vec::new();
        f64_into(&mut buf, f64::NAN);
        f64_into(&mut buf, f64::INFINITY);
        f64_into(&mut buf, f64::NEG_INFINITY);
        assert_eq!(buf, br#""NaN""Infinity""-Infinity""#);
    }

    #[test]
    fn short_decimals_take_the_fast_path_and_read_back() {
        for (value, text) in [
            (0.25, "0.25"),
            (-0.078, "-0.078"),
            (342.0, "342.0"),
            (1.000001, "1.000001"),
            (-8_999_999_999.5, "-8999999999.5"),
        ] {
            let mut buf = Vec::new();
            assert!(short_decimal_into(&mut buf, value), "{value}");
            assert_eq!(String::from_utf8(buf).unwrap(), text);
        }
        for value in [0.0, -0.0, 1e-7, 0.1 + 0.2, 1e10, f64::MIN_POSITIVE] {
            assert!(!short_decimal_into(&mut Vec::new(), value), "{value}");
        }
        for n in (-2_000_000i64..2_000_000).step_by(997) {
            for k in 0..=6 {
                let value = n as f64 / 10f64.powi(k);
                let mut buf = Vec::new();
                f64_into(&mut buf, value);
                let back: f64 = std::str::from_utf8(&buf).unwrap().parse().unwrap();
                assert_eq!(back.to_bits(), value.to_bits(), "{value}");
            }
        }
    }

    #[test]
    fn big_integers_outside_64_bits_are_strings() {
        let mut buf = Vec::new();
        wide_int_into(&mut buf, -5i128);
        buf.push(b' ');
        wide_int_into(&mut buf, u128::from(u64::MAX));
        buf.push(b' ');
        wide_int_into(&mut buf, u128::MAX);
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "-5 18446744073709551615 \"340282366920938463463374607431768211455\""
        );
    }

    fn stamp(millis: u64) -> String {
        let mut buf = Vec::new();
        timestamp_into(
            &mut buf,
            UNIX_EPOCH + Duration::from_millis(millis),
            &mut TimestampCache::default(),
        );
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(stamp(1_781_533_965_123), "2026-06-15T14:32:45.123Z");
        assert_eq!(stamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(stamp(u64::MAX), "9999-12-31T23:59:59.999Z");
        let mut cache = TimestampCache::default();
        let mut buf = Vec::new();
        for millis in [1_781_533_965_123, 1_781_533_965_999, 1_781_533_966_000, 5] {
            timestamp_into(
                &mut buf,
                UNIX_EPOCH + Duration::from_millis(millis),
                &mut cache,
            );
            buf.push(b' ');
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "2026-06-15T14:32:45.123Z 2026-06-15T14:32:45.999Z 2026-06-15T14:32:46.000Z \
             1970-01-01T00:00:00.005Z "
        );
        let mut buf = Vec::new();
        timestamp_into(
            &mut buf,
            UNIX_EPOCH - Duration::from_secs(1),
            &mut TimestampCache::default(),
        );
        assert_eq!(buf, b"1970-01-01T00:00:00.000Z");
    }
}
