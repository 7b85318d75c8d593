//! Dates feed-rs gives up on, as publishers really write them: RFC 822 with
//! named zones (`EDT`, `CEST`, `ET`), a missing time or seconds, an extra
//! comma, `GMT+02:00`, asctime and JavaScript order, `YYYY/MM/DD`, W3C-DTF
//! with a space for `T` or without a zone, partial dates (`2003-12`), and
//! French month names. Pure; no dependency on the rest of thau.
//!
//! Every part of the text must be understood: a date this cannot read is no
//! date (the entry is then dated when first seen), never a wrong one. A
//! missing zone means UTC, as feedparser reads it, unless the source says
//! where its publisher is ([`parse_in`]: a town hall in Sète writing
//! `2026-11-24 10:00` means Paris time). Checked against
//! feedparser's date vectors in `tests/corpus.rs`; `dtparse` and
//! `dateparser` were tried first and read several of them wrongly (a date
//! with no zone dated at today's time, `2003` as November 25th).

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use regex::Regex;

/// The instant `text` names, or `None` when any part of it is not understood.
pub fn parse_lenient(text: &str) -> Option<DateTime<Utc>> {
    parse_in(text, None)
}

/// As [`parse_lenient`], but a date written without a zone is local time
/// in `zone` (UTC when `None`).
pub fn parse_in(text: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    let (local, offset) = read(text)?;
    let offset = match (offset, zone) {
        (Some(offset), _) => offset,
        (None, None) => utc(),
        // Ambiguous (the hour clocks go back): the first. Skipped (the hour
        // they go forward): the offset in force just before.
        (None, Some(zone)) => match zone.from_local_datetime(&local).earliest() {
            Some(t) => return Some(t.with_timezone(&Utc)),
            None => zone
                .offset_from_local_datetime(&(local - chrono::TimeDelta::hours(1)))
                .earliest()?
                .fix(),
        },
    };
    let local = offset.from_local_datetime(&local).single()?;
    Some(local.with_timezone(&Utc))
}

/// The local date and time `text` names, and its offset when it gives one.
fn read(text: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    w3c_dtf(text).or_else(|| rfc822_like(text))
}

/// `2003`, `2003-12`, `2003-12-31`, `2003-12-31T10:14[:55[.123]][zone]`,
/// with a space instead of `T` (or spaces around it), an optional space
/// before the zone, and the basic format's missing hyphens or colons
/// (`20031231T101455`). A field past its range (a 32nd day, a 25th hour, a
/// 61st second) carries into the next, as feedparser and C's `mktime`
/// read it: a reader shows that date, not none.
fn w3c_dtf(text: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    static W3C: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:\s*[T ]\s*(\d{1,2}):?(\d{2})(?::?(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}:?\d{2}|[+-]\d{1,2}:\d{1,2})?)?)?)?$",
        )
        .expect("valid regex")
    });
    // The basic format's date, `20031231`: given its hyphens.
    static BASIC: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d{4})(\d{2})(\d{2})(\s*T.*)?$").expect("valid regex"));
    let hyphenated;
    let text = match BASIC.captures(text) {
        Some(b) => {
            hyphenated = format!("{}-{}-{}{}", &b[1], &b[2], &b[3], b.get(4).map_or("", |t| t.as_str()));
            hyphenated.as_str()
        }
        None => text,
    };
    let c = W3C.captures(text)?;
    let number = |i: usize| c.get(i).map(|m| m.as_str().parse::<i64>().expect("digits"));
    let (year, month, day) = (number(1)?, number(2).unwrap_or(1), number(3).unwrap_or(1));
    if month == 0 || day == 0 {
        return None;
    }
    // Months past 12 carry into years, days into months, and so on.
    let year = year + (month - 1) / 12;
    let month = (month - 1) % 12 + 1;
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u32::try_from(month).ok()?, 1)?;
    let seconds = match number(4) {
        Some(h) => h * 3600 + number(5)? * 60 + number(6).unwrap_or(0),
        None => 0,
    };
    let local = first.and_time(NaiveTime::MIN) + chrono::TimeDelta::days(day - 1) + chrono::TimeDelta::seconds(seconds);
    let offset = match c.get(7) {
        Some(zone) => Some(numeric_offset(zone.as_str())?),
        None => None,
    };
    Some((local, offset))
}

/// RFC 822 and its relatives: the parts in any of the usual orders, told
/// apart by their shape.
fn rfc822_like(text: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    let tokens: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect();
    let mut tokens = tokens.as_slice();
    // A leading weekday is ignored (publishers get it wrong), unless it is
    // the month itself ("Mar 24 2026"; "mar." is also French for Tuesday).
    if let Some(first) = tokens.first()
        && is_weekday(first)
        && tokens[1..]
            .iter()
            .any(|t| month(t).is_some() || slashed_date(t).is_some())
    {
        tokens = &tokens[1..];
    }
    let (mut month_seen, mut date, mut time, mut offset) = (None, None, None, None);
    let (mut year, mut small_numbers, mut meridiem) = (None, Vec::new(), None);
    for token in tokens {
        if token == "am" || token == "pm" {
            set_once(&mut meridiem, token == "pm")?;
        } else if let Some(m) = month(token) {
            set_once(&mut month_seen, m)?;
        } else if let Some(d) = slashed_date(token) {
            set_once(&mut date, d)?;
        } else if let Some(t) = clock(token) {
            set_once(&mut time, t)?;
        } else if let Some(o) = zone(token) {
            set_once(&mut offset, o)?;
        } else if token.len() == 4 && token.bytes().all(|b| b.is_ascii_digit()) {
            set_once(&mut year, token.parse::<i32>().ok()?)?;
        } else if let Some(n) = day_number(token) {
            small_numbers.push(n);
        } else {
            return None;
        }
    }
    let date = match date {
        Some(d) if month_seen.is_none() && year.is_none() && small_numbers.is_empty() => d,
        Some(_) => return None,
        None => {
            // The day comes first; a second small number is a two-digit year.
            let (day, two_digit_year) = match small_numbers.as_slice() {
                [day] => (*day, None),
                [day, yy] => (*day, Some(*yy)),
                _ => return None,
            };
            let year = match (year, two_digit_year) {
                (Some(y), None) => y,
                (None, Some(yy)) if yy < 50 => 2000 + yy as i32,
                (None, Some(yy)) => 1900 + yy as i32,
                _ => return None,
            };
            NaiveDate::from_ymd_opt(year, month_seen?, day)?
        }
    };
    let (mut hour, minute, second) = time.unwrap_or((0, 0, 0));
    // `02:02:33 PM` (a real NBC feed).
    match meridiem {
        Some(_) if !(1..=12).contains(&hour) || time.is_none() => return None,
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    Some((at(date, hour, minute, second)?, offset))
}

/// A date and a time of day whose seconds may be 60 or 61 (a leap second,
/// or a publisher's off-by-one): read as the seconds after :59, into the
/// next minute, as feedparser reads them.
fn at(date: NaiveDate, hour: u32, minute: u32, second: u32) -> Option<NaiveDateTime> {
    let base = date.and_time(NaiveTime::from_hms_opt(hour, minute, second.min(59))?);
    (second <= 61).then(|| base + chrono::TimeDelta::seconds(i64::from(second.saturating_sub(59))))
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("zero offset")
}

fn is_weekday(token: &str) -> bool {
    const WEEKDAYS: [&str; 28] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "lun",
        "mar",
        "mer",
        "jeu",
        "ven",
        "sam",
        "dim",
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
    ];
    WEEKDAYS.contains(&token.trim_end_matches('.'))
}

/// English and French month names, full or abbreviated.
fn month(token: &str) -> Option<u32> {
    const MONTHS: [&[&str]; 12] = [
        &["jan", "january", "janv", "janvier"],
        &["feb", "february", "fév", "fev", "févr", "fevr", "février", "fevrier"],
        &["mar", "march", "mars"],
        &["apr", "april", "avr", "avril"],
        &["may", "mai"],
        &["jun", "june", "juin"],
        &["jul", "july", "juil", "juillet"],
        &["aug", "august", "août", "aout"],
        &["sep", "sept", "september", "septembre"],
        &["oct", "october", "octobre"],
        &["nov", "november", "novembre"],
        &["dec", "december", "déc", "décembre", "decembre"],
    ];
    let token = token.trim_end_matches('.');
    MONTHS
        .iter()
        .position(|names| names.contains(&token))
        .map(|i| i as u32 + 1)
}

/// `2006/09/15` or `2006-09-15`.
fn slashed_date(token: &str) -> Option<NaiveDate> {
    // chrono's %Y takes any number of digits: "03-12-31" is not year 3.
    let four_digit_year = token
        .get(..5)
        .is_some_and(|head| head[..4].bytes().all(|b| b.is_ascii_digit()) && matches!(head.as_bytes()[4], b'/' | b'-'));
    if !four_digit_year {
        return None;
    }
    NaiveDate::parse_from_str(token, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(token, "%Y-%m-%d"))
        .ok()
}

/// `H:MM`, `HH:MM:SS`, with optional fractional seconds.
/// Hours, minutes and seconds (up to 61: see [`at`]).
fn clock(token: &str) -> Option<(u32, u32, u32)> {
    static CLOCK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$").expect("valid regex"));
    let c = CLOCK.captures(token)?;
    let n = |i: usize| c.get(i).map_or(Some(0), |m| m.as_str().parse::<u32>().ok());
    let (h, m, s) = (n(1)?, n(2)?, n(3)?);
    (h < 24 && m < 60 && s <= 61).then_some((h, m, s))
}

/// A day of the month (`5`, `05`, French `1er`) or a two-digit year.
fn day_number(token: &str) -> Option<u32> {
    let digits = token.strip_suffix("er").unwrap_or(token);
    (!digits.is_empty() && digits.len() <= 2 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().expect("digits"))
}

/// A numeric offset, a zone name whose offset is not in doubt, or
/// `GMT`/`UTC` followed by an offset.
fn zone(token: &str) -> Option<FixedOffset> {
    const NAMED: [(&str, i32); 35] = [
        ("ut", 0),
        ("utc", 0),
        ("gmt", 0),
        ("etc/gmt", 0),
        ("etc/utc", 0),
        ("wet", 0),
        ("west", 1),
        ("bst", 1),
        ("cet", 1),
        ("cest", 2),
        ("met", 1),
        ("mest", 2),
        ("eet", 2),
        ("eest", 3),
        ("msk", 3),
        ("jst", 9),
        ("aest", 10),
        ("aedt", 11),
        ("nzst", 12),
        ("nzdt", 13),
        ("at", -4),
        ("ast", -4),
        ("adt", -3),
        ("et", -5),
        ("est", -5),
        ("edt", -4),
        ("ct", -6),
        ("cst", -6),
        ("cdt", -5),
        ("mt", -7),
        ("mst", -7),
        ("mdt", -6),
        ("pt", -8),
        ("pst", -8),
        ("pdt", -7),
    ];
    if let Some((_, hours)) = NAMED.iter().find(|(name, _)| *name == token) {
        return FixedOffset::east_opt(hours * 3600);
    }
    let numeric = ["gmt", "utc", "ut"]
        .iter()
        .find_map(|prefix| token.strip_prefix(prefix))
        .unwrap_or(token);
    numeric_offset(numeric)
}

/// `+0200`, `-05:00`, `+2`, `-01:01`, `Z`. Hours up to 23, minutes up to 59.
fn numeric_offset(text: &str) -> Option<FixedOffset> {
    if text.eq_ignore_ascii_case("z") {
        return Some(utc());
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (hours, minutes) = match (digits.len(), rest.split_once(':')) {
        // `+00:0`, `+5:30`: hours and minutes as written around the colon.
        (_, Some((h, m))) if !h.is_empty() && h.len() <= 2 && !m.is_empty() && m.len() <= 2 => {
            (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
        }
        (1 | 2, _) => (digits.parse::<i32>().ok()?, 0),
        (4, _) => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_of(text: &str) -> Option<String> {
        parse_lenient(text).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    #[test]
    fn twelve_hour_clocks_and_leap_seconds() {
        // A real NBC feed.
        assert_eq!(
            utc_of("Sat, Dec 16 2023 02:02:33 PM"),
            Some("2023-12-16T14:02:33Z".into())
        );
        assert_eq!(
            utc_of("Sat, Dec 16 2023 12:02:33 AM"),
            Some("2023-12-16T00:02:33Z".into())
        );
        assert_eq!(utc_of("Sat, Dec 16 2023 13:02:33 PM"), None);
        // Seconds 60 and 61 run into the next minute, as feedparser reads them.
        assert_eq!(
            utc_of("Sat, 31 Dec 2016 23:59:60 GMT"),
            Some("2017-01-01T00:00:00Z".into())
        );
        assert_eq!(utc_of("2016-12-31T23:59:60Z"), Some("2017-01-01T00:00:00Z".into()));
        // feedparser's W3C-DTF parser refuses 61, its ISO 8601 one carries it.
        assert_eq!(utc_of("2016-12-31T23:59:61Z"), Some("2017-01-01T00:00:01Z".into()));
        assert_eq!(utc_of("Sat, 31 Dec 2016 23:59:62 GMT"), None);
    }

    #[test]
    fn what_french_publishers_write() {
        for (text, expected) in [
            ("Mar, 24 Nov 2026 10:00:00 CEST", "2026-11-24T08:00:00Z"),
            ("mar. 24 nov. 2026 10:00:00 +0100", "2026-11-24T09:00:00Z"),
            ("24 novembre 2026 10:00", "2026-11-24T10:00:00Z"),
            ("1er août 2026 08:30:00 CEST", "2026-08-01T06:30:00Z"),
            ("Mar 24 2026 10:00:00 GMT", "2026-03-24T10:00:00Z"),
            ("2026-11-24 10:00:00 +01:00", "2026-11-24T09:00:00Z"),
        ] {
            assert_eq!(utc_of(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_date_without_a_zone_is_read_in_the_publishers_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let in_paris = |text| parse_in(text, Some(paris)).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        for (text, expected) in [
            ("2026-11-24 10:00:00", "2026-11-24T09:00:00Z"),
            ("24 nov. 2026 10:00", "2026-11-24T09:00:00Z"),
            ("2026-07-14T22:30", "2026-07-14T20:30:00Z"),
            ("2026-11-24", "2026-11-23T23:00:00Z"),
            // Clocks went back at 03:00 on 2026-10-25: 02:30 came twice.
            ("2026-10-25 02:30", "2026-10-25T00:30:00Z"),
            // And forward at 02:00 on 2026-03-29: 02:30 never came.
            ("2026-03-29 02:30", "2026-03-29T01:30:00Z"),
            // A zone written in the date wins.
            ("2026-11-24 10:00:00 +00:00", "2026-11-24T10:00:00Z"),
            ("Tue, 24 Nov 2026 10:00:00 GMT", "2026-11-24T10:00:00Z"),
        ] {
            assert_eq!(in_paris(text).as_deref(), Some(expected), "{text}");
        }
        assert_eq!(utc_of("2026-11-24 10:00:00").as_deref(), Some("2026-11-24T10:00:00Z"));
    }

    #[test]
    fn anything_not_understood_is_no_date() {
        for text in [
            "hier",
            "24 nov 2026 10:00 Europe/Paris",
            "24 25 nov 2026",
            "nov dec 2026",
            "2026-11-24 10:00:00 +25:00",
            "24 Nov 2026 10:00 IST",
            "2026/11/24 24 Nov",
            "03-12-31",
            "26/11/24",
            "Mar 2026",
        ] {
            assert_eq!(utc_of(text), None, "{text}");
        }
    }
}
