//! PostgreSQL values in their binary wire format, to the same JSON [`convert`] gives for
//! their text form.
//!
//! The one-round-trip read path (the extended protocol, which tokio-postgres always asks
//! to answer in binary) decodes here. Every decoder reproduces what PostgreSQL itself
//! would print, so a result looks the same whichever path produced it; a type without a
//! decoder here — or a session whose output settings we do not reproduce (a time zone
//! other than UTC, a `DateStyle` other than ISO) — sends the read down the text path.
//!
//! [`convert`]: crate::convert

use base64::Engine;
use serde_json::Value;

use crate::{RowSet, ValueRef};
use tokio_postgres::types::{Kind, Type};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;
/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const EPOCH_SHIFT_DAYS: i64 = 10_957;

/// The session settings that decide how PostgreSQL prints values, read once from a fresh
/// connection of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OutputSettings {
    /// `TimeZone` is UTC, so `timestamptz` prints with `+00`.
    pub(crate) utc: bool,
    /// `DateStyle` is ISO (`2024-02-29`).
    pub(crate) iso_dates: bool,
    /// `IntervalStyle` is `postgres` (`1 day 02:03:04`).
    pub(crate) postgres_intervals: bool,
    /// `extra_float_digits` ≥ 1: floats print exactly (shortest round trip).
    pub(crate) exact_floats: bool,
}

impl OutputSettings {
    /// From `TimeZone`, `DateStyle`, `IntervalStyle` and `extra_float_digits`.
    pub(crate) fn from_settings(
        time_zone: &str,
        date_style: &str,
        interval_style: &str,
        extra_float_digits: &str,
    ) -> Self {
        let utc = matches!(
            time_zone.to_ascii_lowercase().as_str(),
            "utc"
                | "etc/utc"
                | "gmt"
                | "etc/gmt"
                | "universal"
                | "etc/universal"
                | "zulu"
                | "etc/zulu"
                | "uct"
                | "etc/uct"
                | "gmt0"
                | "etc/gmt0"
                | "greenwich"
        );
        OutputSettings {
            utc,
            iso_dates: date_style
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("iso"),
            postgres_intervals: interval_style.eq_ignore_ascii_case("postgres"),
            exact_floats: extra_float_digits
                .trim()
                .parse::<i32>()
                .is_ok_and(|d| d >= 1),
        }
    }
}

/// True when [`decode`] handles values of `ty` under `settings`.
pub(crate) fn supports(ty: &Type, settings: OutputSettings) -> bool {
    match ty.kind() {
        Kind::Enum(_) => true,
        Kind::Domain(base) => supports(base, settings),
        Kind::Array(element) => {
            !matches!(element.kind(), Kind::Array(_)) && supports(element, settings)
        }
        Kind::Simple => match *ty {
            Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
            | Type::BYTEA
            | Type::UUID
            | Type::TIME
            | Type::INET
            | Type::CIDR => true,
            Type::FLOAT4 | Type::FLOAT8 => settings.exact_floats,
            Type::DATE | Type::TIMESTAMP => settings.iso_dates,
            Type::TIMESTAMPTZ => settings.iso_dates && settings.utc,
            Type::INTERVAL => settings.postgres_intervals,
            _ => false,
        },
        _ => false,
    }
}

/// The JSON for one binary value (`None` bytes: SQL `NULL`). `None` when the bytes are
/// not what the type's binary format allows, or a value our decoders do not reproduce
/// exactly; the caller then reads the result in text instead.
pub(crate) fn decode(ty: &Type, raw: Option<&[u8]>) -> Option<Value> {
    let mut one = RowSet::new();
    if !push(ty, raw, &mut one) {
        return None;
    }
    one.end_row();
    one.get(0)?.get(0).map(ValueRef::to_value)
}

/// Appends one binary value to the open row of `out`, as [`decode`] reads it; false
/// (and nothing appended) when [`decode`] gives `None`.
pub(crate) fn push(ty: &Type, raw: Option<&[u8]>, out: &mut RowSet) -> bool {
    let Some(raw) = raw else {
        out.push_null();
        return true;
    };
    match ty.kind() {
        Kind::Enum(_) => push_text(raw, out),
        Kind::Domain(base) => push(base, Some(raw), out),
        Kind::Array(element) => match array(element, raw) {
            Some(value) => {
                out.push_value(value);
                true
            }
            None => false,
        },
        _ => push_scalar(ty, raw, out).is_some(),
    }
}

fn push_text(raw: &[u8], out: &mut RowSet) -> bool {
    match std::str::from_utf8(raw) {
        Ok(s) => {
            out.push_str(s);
            true
        }
        Err(_) => false,
    }
}

fn push_scalar(ty: &Type, raw: &[u8], out: &mut RowSet) -> Option<()> {
    match *ty {
        Type::BOOL => out.push_bool(*raw.first()? != 0),
        Type::INT2 => out.push_int(i16::from_be_bytes(raw.try_into().ok()?).into()),
        Type::INT4 => out.push_int(i32::from_be_bytes(raw.try_into().ok()?).into()),
        Type::INT8 => out.push_int(i64::from_be_bytes(raw.try_into().ok()?)),
        Type::OID => out.push_int(u32::from_be_bytes(raw.try_into().ok()?).into()),
        Type::FLOAT4 => {
            let value = f32::from_be_bytes(raw.try_into().ok()?);
            // PostgreSQL prints the shortest text that reads back as this float4; the
            // text path parses that text as a double. Do the same.
            if value.is_finite() {
                out.push_float(value.to_string().parse::<f64>().ok()?);
            } else {
                out.push_float(f64::from(value));
            }
        }
        Type::FLOAT8 => out.push_float(f64::from_be_bytes(raw.try_into().ok()?)),
        Type::NUMERIC => out.push_text_with(|text| numeric(raw, text))?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            push_text(raw, out).then_some(())?;
        }
        Type::JSON => out.push_value(json_text(std::str::from_utf8(raw).ok()?)),
        Type::JSONB => {
            // A version byte (1), then the JSON text.
            let (&1, rest) = raw.split_first()? else {
                return None;
            };
            out.push_value(json_text(std::str::from_utf8(rest).ok()?));
        }
        Type::BYTEA => out.push_text_with(|text| {
            base64::engine::general_purpose::STANDARD.encode_string(raw, text);
            Some(())
        })?,
        Type::UUID => out.push_text_with(|text| uuid(raw, text))?,
        Type::DATE => {
            let days = i32::from_be_bytes(raw.try_into().ok()?);
            out.push_text_with(|text| {
                date(days, text);
                Some(())
            })?;
        }
        Type::TIME => {
            let micros = i64::from_be_bytes(raw.try_into().ok()?);
            out.push_text_with(|text| time_of_day(micros, text))?;
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(raw.try_into().ok()?);
            let zone = *ty == Type::TIMESTAMPTZ;
            out.push_text_with(|text| timestamp(micros, zone, text))?;
        }
        Type::INTERVAL => out.push_str(&interval(raw)?),
        Type::INET | Type::CIDR => out.push_str(&inet(raw)?),
        _ => return None,
    }
    Some(())
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A big-endian reader over a value's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n)?;
        self.bytes = tail;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u8(&mut self) -> Option<u8> {
        Some(*self.take(1)?.first()?)
    }
}

/// `numeric` as PostgreSQL prints it: base-10000 digits, a weight, a sign and a display
/// scale (the digits after the point, always all printed).
fn numeric(raw: &[u8], out: &mut String) -> Option<()> {
    let mut r = Reader { bytes: raw };
    let ndigits = usize::try_from(r.i16()?).ok()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let digit = r.i16()?;
        if !(0..10_000).contains(&digit) {
            return None;
        }
        digits.push(digit);
    }
    match sign {
        0xC000 => {
            out.push_str("NaN");
            return Some(());
        }
        0xD000 => {
            out.push_str("Infinity");
            return Some(());
        }
        0xF000 => {
            out.push_str("-Infinity");
            return Some(());
        }
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    // Digit group i stands for 10000^(weight - i).
    let group = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            push_padded(out, i64::from(group(i)), if i == 0 { 1 } else { 4 });
        }
    }
    if dscale > 0 {
        out.push('.');
        let fraction_start = out.len();
        let mut i = weight + 1;
        while out.len() - fraction_start < dscale {
            push_padded(out, i64::from(group(i)), 4);
            i += 1;
        }
        out.truncate(fraction_start + dscale);
    }
    Some(())
}

fn uuid(raw: &[u8], out: &mut String) -> Option<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if raw.len() != 16 {
        return None;
    }
    for (i, b) in raw.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Some(())
}

/// Year (astronomical: 0 is 1 BC), month and day of a day count from 1970-01-01, in the
/// proleptic Gregorian calendar PostgreSQL uses.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Appends `value` in decimal with at least `width` digits (zero-padded); `value` is
/// never negative here.
fn push_padded(out: &mut String, value: i64, width: usize) {
    let mut text = Small::default();
    text.padded(value.unsigned_abs(), width);
    out.push_str(text.as_str());
}

/// A short ASCII text built on the stack (a date, a time, a number) and appended to the
/// answer in one piece. What does not fit in its 48 bytes is left out; nothing written
/// here comes near that (a date's year has at most seven digits).
struct Small {
    bytes: [u8; 48],
    len: usize,
}

impl Default for Small {
    fn default() -> Self {
        Small {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl Small {
    fn push(&mut self, b: u8) {
        if let Some(at) = self.bytes.get_mut(self.len) {
            *at = b;
            self.len += 1;
        }
    }

    fn push_str(&mut self, s: &str) {
        for b in s.bytes() {
            self.push(b);
        }
    }

    /// `value` in decimal with at least `width` digits (zero-padded).
    fn padded(&mut self, value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut n = value;
        let mut start = digits.len();
        while start > 0 {
            start -= 1;
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let start = start.min(digits.len().saturating_sub(width));
        for &d in digits.get(start..).unwrap_or(&[]) {
            self.push(d);
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever pushed.
        std::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

/// Writes `YYYY-MM-DD`; true when it is BC.
fn put_ymd(out: &mut Small, days_since_2000: i64) -> bool {
    let (year, month, day) = civil_from_days(days_since_2000 + EPOCH_SHIFT_DAYS);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    out.padded(shown.unsigned_abs(), 4);
    out.push(b'-');
    out.padded(u64::from(month), 2);
    out.push(b'-');
    out.padded(u64::from(day), 2);
    bc
}

fn date(days: i32, out: &mut String) {
    match days {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        _ => {
            let mut text = Small::default();
            if put_ymd(&mut text, i64::from(days)) {
                text.push_str(" BC");
            }
            out.push_str(text.as_str());
        }
    }
}

/// Writes `HH:MM:SS` with the fraction of a second when there is one, trailing zeros
/// trimmed; `None` for a negative time.
fn put_clock(out: &mut Small, micros: i64) -> Option<()> {
    let micros = u64::try_from(micros).ok()?;
    let seconds = micros / 1_000_000;
    let mut fraction = micros % 1_000_000;
    out.padded(seconds / 3600, 2);
    out.push(b':');
    out.padded((seconds / 60) % 60, 2);
    out.push(b':');
    out.padded(seconds % 60, 2);
    if fraction != 0 {
        let mut width = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        out.push(b'.');
        out.padded(fraction, width);
    }
    Some(())
}

fn time_of_day(micros: i64, out: &mut String) -> Option<()> {
    if micros > DAY_MICROS {
        return None;
    }
    let mut text = Small::default();
    put_clock(&mut text, micros)?;
    out.push_str(text.as_str());
    Some(())
}

fn timestamp(micros: i64, with_zone: bool, out: &mut String) -> Option<()> {
    match micros {
        i64::MAX => {
            out.push_str("infinity");
            return Some(());
        }
        i64::MIN => {
            out.push_str("-infinity");
            return Some(());
        }
        _ => {}
    }
    let mut text = Small::default();
    let bc = put_ymd(&mut text, micros.div_euclid(DAY_MICROS));
    text.push(b' ');
    put_clock(&mut text, micros.rem_euclid(DAY_MICROS))?;
    if with_zone {
        text.push_str("+00");
    }
    if bc {
        text.push_str(" BC");
    }
    out.push_str(text.as_str());
    Some(())
}

/// `interval` as PostgreSQL prints it with `IntervalStyle = postgres`:
/// `1 year 2 mons -3 days +04:05:06.5`.
fn interval(raw: &[u8]) -> Option<String> {
    let mut r = Reader { bytes: raw };
    let micros = r.i64()?;
    let days = r.i32()?;
    let months = r.i32()?;
    if micros == i64::MAX || micros == i64::MIN {
        // PostgreSQL 17's infinite intervals: leave them to the text path.
        return None;
    }
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let mut part = |value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!(
            "{value} {unit}{}",
            if value == 1 { "" } else { "s" }
        ));
        is_before = value < 0;
        is_zero = false;
    };
    part(i64::from(months / 12), "year");
    part(i64::from(months % 12), "mon");
    part(i64::from(days), "day");
    if is_zero || micros != 0 {
        let negative = micros < 0;
        let magnitude = micros.checked_abs()?;
        let sign = if negative {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let seconds = magnitude / 1_000_000;
        let fraction = magnitude % 1_000_000;
        if !is_zero {
            out.push(' ');
        }
        out.push_str(&format!(
            "{sign}{:02}:{:02}:{:02}",
            seconds / 3600,
            (seconds / 60) % 60,
            seconds % 60
        ));
        if fraction != 0 {
            out.push('.');
            out.push_str(format!("{fraction:06}").trim_end_matches('0'));
        }
    }
    Some(out)
}

/// `inet` and `cidr` as PostgreSQL prints them. IPv6 addresses whose first 80 bits are
/// zero (IPv4-compatible and -mapped forms, where the printing rules differ between
/// implementations) are left to the text path.
fn inet(raw: &[u8]) -> Option<String> {
    let mut r = Reader { bytes: raw };
    let family = r.u8()?;
    let bits = r.u8()?;
    let is_cidr = r.u8()? != 0;
    let length = usize::from(r.u8()?);
    let address = r.take(length)?;
    let (text, full) = match (family, address.len()) {
        (2, 4) => (
            std::net::Ipv4Addr::new(
                *address.first()?,
                *address.get(1)?,
                *address.get(2)?,
                *address.get(3)?,
            )
            .to_string(),
            32,
        ),
        (3, 16) => {
            if address.get(..10)?.iter().all(|b| *b == 0) {
                return None;
            }
            let octets: [u8; 16] = address.try_into().ok()?;
            (std::net::Ipv6Addr::from(octets).to_string(), 128)
        }
        _ => return None,
    };
    Some(if is_cidr || bits != full {
        format!("{text}/{bits}")
    } else {
        text
    })
}

/// A one-dimensional or nested array of `element` values.
fn array(element: &Type, raw: &[u8]) -> Option<Value> {
    let mut r = Reader { bytes: raw };
    let dimensions = usize::try_from(r.i32()?).ok()?;
    let _has_nulls = r.i32()?;
    let _element_oid = r.i32()?;
    if dimensions == 0 {
        return Some(Value::Array(Vec::new()));
    }
    // PostgreSQL allows at most 6 dimensions.
    if dimensions > 6 {
        return None;
    }
    let mut lengths = Vec::with_capacity(dimensions);
    for _ in 0..dimensions {
        lengths.push(usize::try_from(r.i32()?).ok()?);
        let _lower_bound = r.i32()?;
    }
    let mut values = Vec::new();
    let total: usize = lengths
        .iter()
        .try_fold(1usize, |acc, n| acc.checked_mul(*n))?;
    for _ in 0..total {
        let length = r.i32()?;
        let bytes = if length < 0 {
            None
        } else {
            Some(r.take(usize::try_from(length).ok()?)?)
        };
        values.push(decode(element, bytes)?);
    }
    Some(nest(&mut values.into_iter(), &lengths))
}

fn nest(values: &mut impl Iterator<Item = Value>, lengths: &[usize]) -> Value {
    match lengths.split_first() {
        None => values.next().unwrap_or(Value::Null),
        Some((&n, inner)) => Value::Array((0..n).map(|_| nest(values, inner)).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a writer into a string gives, as a string.
    fn written(write: impl FnOnce(&mut String) -> Option<()>) -> Option<String> {
        let mut out = String::new();
        write(&mut out).map(|()| out)
    }

    fn numeric_text(raw: &[u8]) -> Option<String> {
        written(|out| numeric(raw, out))
    }

    fn date_text(days: i32) -> String {
        let mut out = String::new();
        date(days, &mut out);
        out
    }

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&i16::try_from(digits.len()).unwrap().to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_print_exactly() {
        // 12345678901234.56 = 12|3456|7890|1234 . 5600, weight 3, scale 2.
        let bytes = numeric_bytes(3, 0, 2, &[12, 3456, 7890, 1234, 5600]);
        assert_eq!(numeric_text(&bytes).unwrap(), "12345678901234.56");
        assert_eq!(numeric_text(&numeric_bytes(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric_text(&numeric_bytes(0, 0, 3, &[])).unwrap(), "0.000");
        assert_eq!(
            numeric_text(&numeric_bytes(-1, 0x4000, 5, &[10])).unwrap(),
            "-0.00100"
        );
        assert_eq!(
            numeric_text(&numeric_bytes(1, 0, 0, &[1])).unwrap(),
            "10000"
        );
        assert_eq!(
            numeric_text(&numeric_bytes(0, 0xC000, 0, &[])).unwrap(),
            "NaN"
        );
        assert!(numeric_text(&numeric_bytes(0, 0, 0, &[10_000])).is_none());
        assert!(numeric_text(&[0, 1]).is_none());
    }

    #[test]
    fn dates_and_times_print_as_postgres_does() {
        assert_eq!(date_text(0), "2000-01-01");
        assert_eq!(date_text(-1), "1999-12-31");
        assert_eq!(date_text(1520), "2004-02-29");
        assert_eq!(date_text(i32::MAX), "infinity");
        // 44 BC is astronomical year -43.
        let days_to_44bc = -(2000 + 43) * 365 - 510;
        assert!(
            date_text(days_to_44bc).ends_with(" BC"),
            "{}",
            date_text(days_to_44bc)
        );
        assert_eq!(written(|out| time_of_day(0, out)).unwrap(), "00:00:00");
        assert_eq!(
            written(|out| time_of_day(45_296_500_000, out)).unwrap(),
            "12:34:56.5"
        );
        assert_eq!(
            written(|out| time_of_day(DAY_MICROS, out)).unwrap(),
            "24:00:00"
        );
        assert_eq!(
            written(|out| timestamp(762_523_200_000_000, true, out)).unwrap(),
            "2024-02-29 12:00:00+00"
        );
        assert_eq!(
            written(|out| timestamp(-1, false, out)).unwrap(),
            "1999-12-31 23:59:59.999999"
        );
    }

    #[test]
    fn intervals_follow_the_postgres_style() {
        let bytes = |micros: i64, days: i32, months: i32| {
            let mut out = micros.to_be_bytes().to_vec();
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
            out
        };
        assert_eq!(
            interval(&bytes(7_384_000_000, 1, 0)).unwrap(),
            "1 day 02:03:04"
        );
        assert_eq!(interval(&bytes(0, 0, 0)).unwrap(), "00:00:00");
        assert_eq!(interval(&bytes(0, 3, 14)).unwrap(), "1 year 2 mons 3 days");
        assert_eq!(interval(&bytes(-1_500_000, 0, 0)).unwrap(), "-00:00:01.5");
        assert_eq!(
            interval(&bytes(3_600_000_000, -1, 0)).unwrap(),
            "-1 days +01:00:00"
        );
    }

    #[test]
    fn arrays_nest_and_keep_nulls() {
        // [[1, NULL], [3, 4]]: dims 2x2 (lengths 2 and 2, bounds 1 and 1).
        let mut raw = Vec::new();
        for v in [2i32, 1, 23, 2, 1, 2, 1] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        for value in [Some(1i32), None, Some(3), Some(4)] {
            match value {
                Some(v) => {
                    raw.extend_from_slice(&4i32.to_be_bytes());
                    raw.extend_from_slice(&v.to_be_bytes());
                }
                None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        assert_eq!(
            decode(&Type::INT4_ARRAY, Some(&raw)).unwrap(),
            json!([[1, null], [3, 4]])
        );
        assert!(decode(&Type::INT4_ARRAY, Some(&raw[..raw.len() - 1])).is_none());
    }

    #[test]
    fn malformed_bytes_are_refused_not_misread() {
        assert!(decode(&Type::INT4, Some(&[0, 1])).is_none());
        assert!(decode(&Type::UUID, Some(&[1, 2, 3])).is_none());
        assert!(decode(&Type::JSONB, Some(b"\x02{}")).is_none());
        assert_eq!(decode(&Type::TEXT, None).unwrap(), Value::Null);
    }
}
