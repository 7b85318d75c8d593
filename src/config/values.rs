//! Pure: the values of `feeds.toml` that are not TOML types (durations,
//! sizes, time zones, weekdays) and what messages say of them.

use super::*;

/// An unparsable URL as text, with what looks like a password masked (the
/// message may be shown on the status page).
pub(super) fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://{}{}", &url[..scheme_end], crate::redact::MASK, &rest[at..]),
        None => url.to_string(),
    }
}

/// `" (did you mean \"x\"?)"` when a known word is close to `word`.
pub fn did_you_mean<'k>(word: &str, known: impl Iterator<Item = &'k str>) -> String {
    known
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < word.len().max(1))
        .min()
        .map(|(_, k)| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `"20s"`, `"500ms"`, `"2m"`, `"1h"`, `"1d"`; more than zero.
/// An IANA time zone name such as `Europe/Paris`.
/// A day of the week, in English or French, any case.
pub(super) fn parse_weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    let days = [
        (Mon, "monday", "lundi"),
        (Tue, "tuesday", "mardi"),
        (Wed, "wednesday", "mercredi"),
        (Thu, "thursday", "jeudi"),
        (Fri, "friday", "vendredi"),
        (Sat, "saturday", "samedi"),
        (Sun, "sunday", "dimanche"),
    ];
    let s = s.trim().to_lowercase();
    days.iter().find(|(_, en, fr)| s == *en || s == *fr).map(|(d, ..)| *d)
}

pub fn parse_timezone(s: &str) -> Result<Tz, String> {
    s.parse().map_err(|_| {
        let hint = did_you_mean(s, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()));
        format!("not a time zone name such as \"Europe/Paris\"{hint}")
    })
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// A duration that may be `"0s"`.
pub(super) fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a duration such as \"20s\", \"500ms\", \"15m\", \"1h\"".to_string())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        other => return Err(format!("unknown unit \"{other}\" (use ms, s, m, h or d)")),
    };
    Ok(d)
}

/// `"10MiB"`, `"512KiB"`, `"1GB"`, `"2048"` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a size such as \"10MiB\" or \"512KiB\"".to_string())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!("unknown unit \"{other}\" (use B, KiB, MiB, GiB, KB, MB or GB)"));
        }
    };
    let size = n.checked_mul(mult).ok_or("too large")?;
    if size < 1024 {
        return Err("must be at least 1KiB".into());
    }
    Ok(size)
}
