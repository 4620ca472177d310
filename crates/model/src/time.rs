//! RFC 3339 timestamps to and from microseconds since the Unix epoch (`i64`, UTC), and the text
//! form of [`Timestamp`] ([`Timestamp::parse_rfc3339`], [`Timestamp::to_rfc3339`], `Display`,
//! `FromStr`).
//!
//! Owns: the text form of timestamps (strict RFC 3339 parsing, canonical formatting) and the
//! proleptic Gregorian calendar arithmetic behind it. Everything is integer arithmetic, so the
//! results are the same on every platform and toolchain. Reads no clock. (Moved here from the
//! `idres` binary so that services embedding the engine parse and print times as it does.)

use std::fmt;
use std::str::FromStr;

use crate::record::Timestamp;

/// Microseconds in one second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Seconds in one (leap-second-free) day.
const SECONDS_PER_DAY: i64 = 86_400;

/// Days in one 400-year Gregorian era.
const DAYS_PER_ERA: i64 = 146_097;

/// Days from 0000-03-01 (the start of the shifted calendar used below) to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// Longest part of a rejected input that is quoted back in an error message, in characters.
const ERROR_INPUT_CHARS_MAX: usize = 64;

/// A timestamp that could not be parsed; the message says what is wrong and quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub String);

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1..=12, `day` 1..=31).
///
/// Works on 400-year eras shifted to start on March 1st, so the leap day is the last day of a
/// shifted year. Callers keep `year` within a few million years, far from overflow.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // 0..=399
    let shifted_month = i64::from((month + 9) % 12); // March = 0 .. February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year; // 0..=146096
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
}

/// The proleptic Gregorian date `(year, month, day)` of a day count since 1970-01-01.
///
/// The inverse of [`days_from_civil`]; exact for every `days` an `i64` of microseconds can reach.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT_DAYS;
    let era = z.div_euclid(DAYS_PER_ERA);
    let day_of_era = z - era * DAYS_PER_ERA; // 0..=146096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let shifted_month = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1; // 1..=31
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 }; // 1..=12
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are small by construction; the fallbacks are never taken.
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// Whether `year` is a leap year of the proleptic Gregorian calendar.
fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days of `month` (1..=12) in `year`.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Appends `value` in decimal, zero-padded to at least `width` digits.
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = value;
    loop {
        // `rest % 10` is below 10, so the cast cannot truncate.
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in len..width {
        out.push('0');
    }
    for &digit in digits[..len].iter().rev() {
        out.push(char::from(digit));
    }
}

/// Appends the RFC 3339 form of `micros` (see [`format_rfc3339`]) to `out`, without allocating
/// when `out` has room: the form the generator uses on its hot path.
pub fn push_rfc3339(out: &mut String, micros: i64) {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let sub_micros = micros.rem_euclid(MICROS_PER_SECOND).unsigned_abs();
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY).unsigned_abs();
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        push_padded(out, year.unsigned_abs(), 4);
    } else {
        // ISO 8601 expanded year: explicit sign, at least four digits.
        out.push(if year < 0 { '-' } else { '+' });
        push_padded(out, year.unsigned_abs(), 4);
    }
    out.push('-');
    push_padded(out, u64::from(month), 2);
    out.push('-');
    push_padded(out, u64::from(day), 2);
    out.push('T');
    push_padded(out, second_of_day / 3600, 2);
    out.push(':');
    push_padded(out, second_of_day / 60 % 60, 2);
    out.push(':');
    push_padded(out, second_of_day % 60, 2);
    if sub_micros != 0 {
        out.push('.');
        push_padded(out, sub_micros, 6);
    }
    out.push('Z');
}

/// The RFC 3339 text of `micros` microseconds since 1970-01-01T00:00:00Z, in UTC.
///
/// Always ends in `Z`. Whole seconds have no fraction (`2026-01-01T00:00:00Z`); otherwise the
/// fraction has exactly six digits (`2026-01-01T00:00:00.000123Z`). Negative values are before
/// 1970 and are floored, not truncated: `-1` is `1969-12-31T23:59:59.999999Z`.
///
/// Years 0000..=9999 give RFC 3339 text that [`parse_rfc3339`] reads back to the same value.
/// Outside that range (only reachable far from the present: `i64` microseconds span about
/// ±292 000 years) the year is written in the ISO 8601 expanded form with an explicit sign and
/// at least four digits, e.g. `-0001-12-31T00:00:00Z` or `+10000-01-01T00:00:00Z`. That text is
/// unambiguous but not RFC 3339, and [`parse_rfc3339`] rejects it. Never panics.
pub fn format_rfc3339(micros: i64) -> String {
    let mut out = String::with_capacity(32);
    push_rfc3339(&mut out, micros);
    out
}

/// Parses one strict RFC 3339 timestamp into microseconds since 1970-01-01T00:00:00Z.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|z|+HH:MM|-HH:MM)`, where
/// - the date/time separator is `T`, `t` or one space;
/// - every field has exactly the digits shown (ASCII digits only), the year is 0000..=9999;
/// - month, day (leap years included), hour 00..=23 and minute 00..=59 are validated;
/// - the fraction has 1..=9 digits; digits below microseconds are truncated (toward the past);
/// - the offset is 00:00..=23:59 and is subtracted to get UTC (`-00:00` is taken as UTC).
///
/// **Leap seconds:** second `60` is accepted in any minute (RFC 3339 allows it; this parser does
/// not check it against the leap-second table) and is read as the last microsecond of that
/// minute, `:59.999999`, whatever fraction follows. That keeps the result in the same minute
/// and never before an earlier instant of that minute.
///
/// Everything else is an error naming the problem: the empty string, missing or extra
/// characters, a missing offset, non-ASCII digits, out-of-range fields.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let mut p = Parser { s, bytes: s.as_bytes(), pos: 0 };
    if s.is_empty() {
        return Err(p.error("empty timestamp"));
    }
    let year = p.digits(4, "year")?;
    p.consume(b'-', "'-' after the year")?;
    let month = p.digits(2, "month")?;
    p.consume(b'-', "'-' after the month")?;
    let day = p.digits(2, "day")?;
    match p.peek() {
        Some(b'T' | b't' | b' ') => p.pos += 1,
        _ => return Err(p.error("expected 'T', 't' or ' ' between date and time")),
    }
    let hour = p.digits(2, "hour")?;
    p.consume(b':', "':' after the hour")?;
    let minute = p.digits(2, "minute")?;
    p.consume(b':', "':' after the minute")?;
    let second = p.digits(2, "second")?;
    let mut fraction_micros: u32 = 0;
    if p.peek() == Some(b'.') {
        p.pos += 1;
        let mut count = 0u32;
        while let Some(byte) = p.peek().filter(u8::is_ascii_digit) {
            if count < 6 {
                fraction_micros = fraction_micros * 10 + u32::from(byte - b'0');
            }
            count += 1;
            p.pos += 1;
        }
        if count == 0 {
            return Err(p.error("expected a digit after '.'"));
        }
        if count > 9 {
            return Err(p.error_plain(format!("fraction of {count} digits (at most 9)")));
        }
        for _ in count..6 {
            fraction_micros *= 10;
        }
    }
    let offset_minutes: i64 = match p.peek() {
        Some(b'Z' | b'z') => {
            p.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            p.pos += 1;
            let offset_hour = p.digits(2, "offset hour")?;
            p.consume(b':', "':' in the offset")?;
            let offset_minute = p.digits(2, "offset minute")?;
            if offset_hour > 23 {
                return Err(p.error_plain(format!("offset hour {offset_hour} out of range")));
            }
            if offset_minute > 59 {
                return Err(p.error_plain(format!("offset minute {offset_minute} out of range")));
            }
            let magnitude = i64::from(offset_hour * 60 + offset_minute);
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        None => return Err(p.error("missing UTC offset ('Z' or '+HH:MM')")),
        Some(_) => return Err(p.error("expected 'Z', 'z', '+' or '-' for the UTC offset")),
    };
    if p.pos != p.bytes.len() {
        return Err(p.error("trailing characters"));
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) {
        return Err(p.error_plain(format!("month {month} out of range")));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(p.error_plain(format!("day {day} out of range for {year:04}-{month:02}")));
    }
    if hour > 23 {
        return Err(p.error_plain(format!("hour {hour} out of range")));
    }
    if minute > 59 {
        return Err(p.error_plain(format!("minute {minute} out of range")));
    }
    if second > 60 {
        return Err(p.error_plain(format!("second {second} out of range")));
    }
    let (second, fraction_micros) = if second == 60 { (59, 999_999) } else { (second, fraction_micros) };
    let days = days_from_civil(year, month, day);
    let local_seconds = days * SECONDS_PER_DAY + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    let utc_seconds = local_seconds - offset_minutes * 60;
    Ok(utc_seconds * MICROS_PER_SECOND + i64::from(fraction_micros))
}

impl Timestamp {
    /// Parses one strict RFC 3339 timestamp ([`parse_rfc3339`] says exactly what is accepted):
    /// `Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")`. Sub-microsecond digits are truncated,
    /// offsets are applied, second 60 is the last microsecond of its minute.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        parse_rfc3339(s).map(Timestamp)
    }

    /// The RFC 3339 text of this time in UTC ([`format_rfc3339`]: `Z`, six fraction digits only
    /// when there is a fraction). [`Timestamp::parse_rfc3339`] reads it back for years
    /// 0000..=9999; the `Display` form is the same text.
    pub fn to_rfc3339(self) -> String {
        format_rfc3339(self.0)
    }

    /// Appends [`Timestamp::to_rfc3339`]'s text to `out` without allocating when it has room.
    pub fn push_rfc3339(self, out: &mut String) {
        push_rfc3339(out, self.0);
    }
}

/// The RFC 3339 text ([`Timestamp::to_rfc3339`]).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(32);
        push_rfc3339(&mut text, self.0);
        f.write_str(&text)
    }
}

/// Strict RFC 3339 ([`Timestamp::parse_rfc3339`]): `"2026-01-01T00:00:00Z".parse::<Timestamp>()`.
impl FromStr for Timestamp {
    type Err = TimeError;

    fn from_str(s: &str) -> Result<Timestamp, TimeError> {
        Timestamp::parse_rfc3339(s)
    }
}

/// A cursor over the bytes of one timestamp being parsed.
struct Parser<'a> {
    s: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    /// The byte under the cursor, if any.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// An error saying what was expected at the cursor, with the input quoted.
    fn error(&self, expected: &str) -> TimeError {
        TimeError(format!("{expected} at byte {} in {}", self.pos, self.quoted()))
    }

    /// An error with a message that needs no position, with the input quoted.
    fn error_plain(&self, message: String) -> TimeError {
        TimeError(format!("{message} in {}", self.quoted()))
    }

    /// The input, quoted and shortened to [`ERROR_INPUT_CHARS_MAX`] characters.
    fn quoted(&self) -> String {
        if self.s.chars().count() <= ERROR_INPUT_CHARS_MAX {
            format!("{:?}", self.s)
        } else {
            let head: String = self.s.chars().take(ERROR_INPUT_CHARS_MAX).collect();
            format!("{head:?}...")
        }
    }

    /// Consumes `byte` or fails naming `what`.
    fn consume(&mut self, byte: u8, what: &str) -> Result<(), TimeError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    /// Consumes exactly `count` ASCII digits (at most 4) and returns their value.
    fn digits(&mut self, count: usize, what: &str) -> Result<u32, TimeError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.peek() {
                Some(byte) if byte.is_ascii_digit() => {
                    value = value * 10 + u32::from(byte - b'0');
                    self.pos += 1;
                }
                _ => return Err(self.error(&format!("expected {count} ASCII digits of the {what}"))),
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const Y2026: i64 = 1_767_225_600_000_000;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    fn micros_of_year_start(year: i64) -> i64 {
        days_from_civil(year, 1, 1) * SECONDS_PER_DAY * MICROS_PER_SECOND
    }

    #[test]
    fn known_values() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(Y2026), "2026-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(Y2026 + 123), "2026-01-01T00:00:00.000123Z");
        assert_eq!(format_rfc3339(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(format_rfc3339(-86_400_000_000), "1969-12-31T00:00:00Z");
        assert_eq!(format_rfc3339(1_234_567_890_123_456), "2009-02-13T23:31:30.123456Z");
        assert_eq!(format_rfc3339(micros_of_year_start(0)), "0000-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(micros_of_year_start(10_000) - 1), "9999-12-31T23:59:59.999999Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Ok(951_782_400_000_000));
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Ok(micros_of_year_start(0)));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn outside_year_range_is_expanded_and_never_panics() {
        assert_eq!(format_rfc3339(micros_of_year_start(0) - 1), "-0001-12-31T23:59:59.999999Z");
        assert_eq!(format_rfc3339(micros_of_year_start(10_000)), "+10000-01-01T00:00:00Z");
        for micros in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let text = format_rfc3339(micros);
            assert!(text.ends_with('Z'), "{text}");
            assert!(parse_rfc3339(&text).is_err(), "{text}");
        }
        assert_eq!(format_rfc3339(i64::MAX), "+294247-01-10T04:00:54.775807Z");
    }

    #[test]
    fn round_trips_random_values() {
        let low = micros_of_year_start(0);
        let high = micros_of_year_start(10_000) - 1;
        let span = u64::try_from(high - low).unwrap() + 1;
        let mut state = 0x9E37_79B9_7F4A_7C15;
        for i in 0..20_000 {
            let raw = xorshift(&mut state);
            // Alternate whole seconds, whole microseconds, and values near the epoch.
            let micros = match i % 3 {
                0 => low + i64::try_from(raw % span).unwrap(),
                1 => (low + i64::try_from(raw % span).unwrap()).div_euclid(MICROS_PER_SECOND) * MICROS_PER_SECOND,
                _ => i64::try_from(raw % 4_000_000_000_000_000).unwrap() - 2_000_000_000_000_000,
            };
            let text = format_rfc3339(micros);
            assert_eq!(parse_rfc3339(&text), Ok(micros), "{text}");
        }
    }

    #[test]
    fn round_trips_every_day_across_leap_years() {
        // Every day from 1896 to 2104: includes 1900 and 2100 (not leap) and 2000 (leap).
        let mut days = days_from_civil(1896, 1, 1);
        let end = days_from_civil(2105, 1, 1);
        let mut leap_days = 0;
        while days < end {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
            assert!(day <= days_in_month(year, month));
            if month == 2 && day == 29 {
                leap_days += 1;
                assert!(is_leap_year(year));
            }
            let micros = days * SECONDS_PER_DAY * MICROS_PER_SECOND + 43_200_000_001;
            assert_eq!(parse_rfc3339(&format_rfc3339(micros)), Ok(micros));
            days += 1;
        }
        assert_eq!(leap_days, 51); // 1896..=2104 has 53 multiples of 4, minus 1900 and 2100.
    }

    #[test]
    fn accepted_variants() {
        assert_eq!(parse_rfc3339("2026-01-01t00:00:00z"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2026-01-01 00:00:00Z"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.5Z"), Ok(Y2026 + 500_000));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.000123Z"), Ok(Y2026 + 123));
        // Digits below a microsecond are truncated, also before 1970.
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.123456789Z"), Ok(Y2026 + 123_456));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.9999999Z"), Ok(-1));
        assert_eq!(parse_rfc3339("1996-02-29T12:00:00Z"), Ok(825_595_200_000_000));
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(parse_rfc3339("2026-01-01T01:00:00+01:00"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2025-12-31T19:00:00-05:00"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2026-01-01T05:30:00.25+05:30"), Ok(Y2026 + 250_000));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00-00:00"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00+00:00"), Ok(Y2026));
        assert_eq!(parse_rfc3339("2025-12-31T00:01:00-23:59"), Ok(Y2026));
        // An offset may move a year-0000 or year-9999 local time outside that range.
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00+01:00"), Ok(micros_of_year_start(0) - 3_600_000_000));
    }

    #[test]
    fn leap_second_is_clamped_to_the_end_of_its_minute() {
        let end_of_2016 = parse_rfc3339("2017-01-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Ok(end_of_2016 - 1));
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60.5Z"), Ok(end_of_2016 - 1));
        assert_eq!(parse_rfc3339("2016-12-31T23:59:59.999999Z"), Ok(end_of_2016 - 1));
        assert_eq!(parse_rfc3339("2017-01-01T00:59:60+01:00"), Ok(end_of_2016 - 1));
        assert!(parse_rfc3339("2016-12-31T23:59:61Z").unwrap_err().0.contains("second 61 out of range"));
    }

    #[test]
    fn rejections_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "empty timestamp"),
            ("2026-13-01T00:00:00Z", "month 13 out of range in \"2026-13-01T00:00:00Z\""),
            ("2026-00-01T00:00:00Z", "month 0 out of range"),
            ("2026-01-00T00:00:00Z", "day 0 out of range"),
            ("2026-01-32T00:00:00Z", "day 32 out of range"),
            ("2026-04-31T00:00:00Z", "day 31 out of range for 2026-04"),
            ("2025-02-29T00:00:00Z", "day 29 out of range for 2025-02"),
            ("1900-02-29T00:00:00Z", "day 29 out of range for 1900-02"),
            ("2026-01-01T24:00:00Z", "hour 24 out of range"),
            ("2026-01-01T00:60:00Z", "minute 60 out of range"),
            ("2026-01-01T00:00:61Z", "second 61 out of range"),
            ("2026-01-01T00:00:00", "missing UTC offset"),
            ("2026-01-01T00:00:00.5", "missing UTC offset"),
            ("2026-01-01T00:00:00ZZ", "trailing characters"),
            ("2026-01-01T00:00:00Z ", "trailing characters"),
            (" 2026-01-01T00:00:00Z", "digits of the year"),
            ("2026-01-01T00:00:00+01:00x", "trailing characters"),
            ("2026-01-01T00:00:00+0100", "':' in the offset"),
            ("2026-01-01T00:00:00+1:00", "digits of the offset hour"),
            ("2026-01-01T00:00:00+24:00", "offset hour 24 out of range"),
            ("2026-01-01T00:00:00+01:60", "offset minute 60 out of range"),
            ("2026-01-01T00:00:00UTC", "expected 'Z', 'z', '+' or '-'"),
            ("2026-01-01T00:00:00.Z", "expected a digit after '.'"),
            ("2026-01-01T00:00:00.1234567890Z", "fraction of 10 digits"),
            ("2026-01-01X00:00:00Z", "between date and time"),
            ("2026-01-01T00:00Z", "expected ':' after the minute"),
            ("2026-1-01T00:00:00Z", "digits of the month"),
            ("26-01-01T00:00:00Z", "digits of the year"),
            ("+2026-01-01T00:00:00Z", "digits of the year"),
            ("-0001-01-01T00:00:00Z", "digits of the year"),
            ("2026/01/01T00:00:00Z", "'-' after the year"),
            ("2026-01-01T0:00:00Z", "digits of the hour"),
            ("2026-01-01T00:00:0Z", "digits of the second"),
            ("2026-01-01", "between date and time"),
            ("2026-01-01T00:00:00.5e3Z", "expected 'Z', 'z', '+' or '-'"),
            // Non-ASCII digits: Arabic-Indic and fullwidth.
            ("٢٠٢٦-01-01T00:00:00Z", "digits of the year"),
            ("2026-01-０1T00:00:00Z", "digits of the day"),
            ("2026-01-01T00:00:00\u{2212}01:00", "expected 'Z', 'z', '+' or '-'"),
        ];
        for (input, expected) in cases {
            let error = parse_rfc3339(input).expect_err(input);
            assert!(error.to_string().contains(expected), "{input:?}: got {error:?}, expected {expected:?}");
            assert_eq!(error.to_string(), error.0);
        }
    }

    #[test]
    fn long_inputs_are_shortened_in_errors() {
        let input = format!("2026-01-01T00:00:00Z{}", "x".repeat(1000));
        let error = parse_rfc3339(&input).unwrap_err();
        assert!(error.0.len() < 200, "{}", error.0);
        assert!(error.0.starts_with("trailing characters at byte 20"));
        let error: Box<dyn std::error::Error> = Box::new(error);
        assert!(error.to_string().contains("..."));
    }

    #[test]
    fn timestamp_text_is_the_rfc3339_text() {
        let ts = Timestamp::parse_rfc3339("2026-01-01T01:00:00.000123+01:00").unwrap();
        assert_eq!(ts, Timestamp(Y2026 + 123));
        assert_eq!(ts.to_rfc3339(), "2026-01-01T00:00:00.000123Z");
        assert_eq!(ts.to_string(), "2026-01-01T00:00:00.000123Z");
        assert_eq!("2026-01-01T00:00:00.000123Z".parse::<Timestamp>(), Ok(ts));
        let mut out = String::from("at ");
        Timestamp(-1).push_rfc3339(&mut out);
        assert_eq!(out, "at 1969-12-31T23:59:59.999999Z");
        assert_eq!(Timestamp(i64::MIN).to_string(), format_rfc3339(i64::MIN));
        let error = "2026-01-01".parse::<Timestamp>().unwrap_err();
        assert_eq!(error, parse_rfc3339("2026-01-01").unwrap_err());
        assert!(error.to_string().contains("between date and time"), "{error}");
    }
}
