//! Digest feeds for newsletters: `[[sections]] digest = "daily"` (or
//! `"weekly"`) gives a section a feed with one entry per period, listing
//! that period's stories. A period's digest is made once the period has
//! ended and every source of the section has been polled `digest_delay`
//! after that (or a day after the end, whatever the polls), stored, and
//! never changed afterwards (a story that arrives later does not rewrite
//! it), so a mail tool sends each digest exactly once.
//! Period arithmetic and rendering are pure; [`freeze_due`] wires `store`
//! and `select`.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, DigestPeriod, DigestSchedule, Language, Section};
use crate::model::Entry;
use crate::normalize::{escape_html as esc, html_to_text};
use crate::publish::{image, safe_url, section_page_url, shorten};
use crate::select::Selection;
use crate::store::{Store, StoreError};

/// Digests a digest feed lists.
pub const FEED_DIGESTS: usize = 20;
/// Stories one digest lists (the rest are counted).
const MAX_STORIES: usize = 200;
/// Periods made at most in one go: when a digest is first configured (a
/// short history, not a flood), or after the daemon was down for long.
const CATCH_UP: usize = 7;
/// Characters of a story's summary in a digest.
const SUMMARY_CHARS: usize = 300;
/// A period's digest is made this long after its end even if a source of
/// the section could not be polled since (down, deferred).
const AT_THE_LATEST: Duration = Duration::days(1);

/// One period's digest, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Newest first, at most [`MAX_STORIES`].
    pub stories: Vec<Story>,
    /// Stories of the period in all.
    pub total: usize,
}

/// A story as a digest lists it: what a newsletter shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    pub title: String,
    pub link: Option<String>,
    /// Plain text.
    pub summary: String,
    pub image: Option<String>,
    pub published: DateTime<Utc>,
    /// Display names of the sources that carried it.
    pub sources: Vec<String>,
    /// Its store key (digests frozen before thau kept it have none): what
    /// a hidden story is known by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `digest` without the stories `hide` names (taken down since it was
/// frozen); the same digest when none is.
pub fn without(digest: &Digest, hide: impl Fn(&Story) -> bool) -> std::borrow::Cow<'_, Digest> {
    if !digest.stories.iter().any(&hide) {
        return std::borrow::Cow::Borrowed(digest);
    }
    let stories: Vec<Story> = digest.stories.iter().filter(|s| !hide(s)).cloned().collect();
    std::borrow::Cow::Owned(Digest {
        total: digest.total.saturating_sub(digest.stories.len() - stories.len()),
        stories,
        ..digest.clone()
    })
}

impl Story {
    fn of(e: &Entry) -> Story {
        let text = e
            .summary
            .as_deref()
            .or(e.content.as_deref())
            .map(html_to_text)
            .unwrap_or_default();
        Story {
            title: e.title.clone(),
            link: e.link.as_deref().and_then(|l| safe_url(l, false)).map(str::to_owned),
            summary: shorten(text.trim(), SUMMARY_CHARS),
            image: image(e).map(str::to_owned),
            published: e.published,
            sources: e
                .sources
                .iter()
                .map(|s| {
                    s.feed_title
                        .clone()
                        .filter(|t| !t.trim().is_empty())
                        .unwrap_or_else(|| s.name.clone())
                })
                .collect(),
            key: Some(e.key.clone()),
        }
    }
}

/// The instant a period ends on local date `date`.
fn boundary(schedule: &DigestSchedule, date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_time(schedule.at);
    let tz = schedule.timezone;
    // A time the clocks skip (spring forward) is read an hour later; a time
    // they pass twice (fall back) is its first instant.
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

fn ends_on(schedule: &DigestSchedule, date: NaiveDate) -> bool {
    match schedule.period {
        DigestPeriod::Daily => true,
        DigestPeriod::Weekly(day) => date.weekday() == day,
    }
}

/// The end of the newest period that has ended at `now`.
pub fn last_end(schedule: &DigestSchedule, now: DateTime<Utc>) -> DateTime<Utc> {
    let mut date = now.with_timezone(&schedule.timezone).date_naive() + Duration::days(1);
    loop {
        if ends_on(schedule, date) {
            let b = boundary(schedule, date);
            if b <= now {
                return b;
            }
        }
        date -= Duration::days(1);
    }
}

/// The end of the period before the one ending at `end`: its start.
pub fn previous_end(schedule: &DigestSchedule, end: DateTime<Utc>) -> DateTime<Utc> {
    let date = end.with_timezone(&schedule.timezone).date_naive();
    let back = match schedule.period {
        DigestPeriod::Daily => 1,
        DigestPeriod::Weekly(_) => 7,
    };
    boundary(schedule, date - Duration::days(back))
}

/// The end of the period running at `now`: when its digest is due.
pub fn next_end(schedule: &DigestSchedule, now: DateTime<Utc>) -> DateTime<Utc> {
    let mut date = now.with_timezone(&schedule.timezone).date_naive();
    loop {
        if ends_on(schedule, date) {
            let b = boundary(schedule, date);
            if b > now {
                return b;
            }
        }
        date += Duration::days(1);
    }
}

/// When the next digest of any section is due.
pub fn next_due(config: &Config, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    config
        .sections
        .iter()
        .filter_map(|s| s.digest.as_ref())
        .map(|d| next_end(d, now))
        .min()
}

/// Makes and stores the digest of every period that has ended and has
/// none yet (at most the last [`CATCH_UP`]); says which sections got one.
pub fn freeze_due(
    store: &Store,
    config: &Config,
    selection: &Selection,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, StoreError> {
    let mut frozen = vec![false; config.sections.len()];
    for (i, section) in config.sections.iter().enumerate() {
        let Some(schedule) = &section.digest else { continue };
        let last = store.last_digest_end(&section.slug)?;
        let newest = last_end(schedule, now);
        if last.is_some_and(|last| newest <= last) {
            continue;
        }
        let delay = Duration::from_std(schedule.delay).unwrap_or(Duration::zero());
        // Until every source has been polled once (a fresh store, a source
        // just added), no period can be told complete.
        let Some(polled) = polled_since(store, config, section)? else {
            continue;
        };
        // Of the periods ended, the newest whose sources have all been
        // polled long enough after its end (or that ended long ago).
        let mut end = newest;
        let ready = loop {
            if polled >= end + delay || end + AT_THE_LATEST <= now {
                break true;
            }
            end = previous_end(schedule, end);
            if last.is_some_and(|last| end <= last) || newest - end > Duration::days(31) {
                break false;
            }
        };
        if !ready {
            continue;
        }
        let mut ends = Vec::new();
        while last.is_none_or(|last| end > last) && ends.len() < CATCH_UP {
            ends.push(end);
            end = previous_end(schedule, end);
        }
        for &end in ends.iter().rev() {
            let start = previous_end(schedule, end);
            let members = selection.members_between(store, i, start, end)?;
            let digest = Digest {
                start,
                end,
                total: members.len(),
                stories: members.iter().take(MAX_STORIES).map(|e| Story::of(e)).collect(),
            };
            // Empty periods are stored too (and not published), so that
            // a story arriving late never makes an old period's digest.
            store.put_digest(&section.slug, end, &digest)?;
            frozen[i] = true;
        }
    }
    Ok(frozen)
}

/// Since when every source that may feed `section` has been polled: the
/// oldest last poll among them (gone sources aside; none: forever), None
/// if one never was.
fn polled_since(store: &Store, config: &Config, section: &Section) -> Result<Option<DateTime<Utc>>, StoreError> {
    // A section that takes categories or keywords may get a story from any source.
    let any = !section.categories.is_empty() || !section.keywords.is_empty();
    let mut oldest: Option<DateTime<Utc>> = None;
    for source in config
        .sources
        .iter()
        .filter(|s| any || s.sections.contains(&section.slug))
    {
        let state = store.fetch_state(&source.name)?;
        if state.as_ref().is_some_and(|s| s.gone) {
            continue;
        }
        let Some(last) = state.and_then(|s| s.last_poll) else {
            return Ok(None);
        };
        oldest = Some(oldest.map_or(last, |o| o.min(last)));
    }
    Ok(oldest.or(Some(DateTime::<Utc>::MAX_UTC)))
}

/// A digest as a feed entry: stable id, dated by the period's end, its
/// stories listed in its content.
pub fn entry(section: &Section, digest: &Digest, language: Language, base_url: &str) -> Entry {
    let schedule = section.digest.as_ref();
    let tz = schedule.map_or(chrono_tz::Tz::UTC, |s| s.timezone);
    let weekly = schedule.is_some_and(|s| matches!(s.period, DigestPeriod::Weekly(_)));
    let first_day = digest.start.with_timezone(&tz).date_naive();
    let when = match (language, weekly) {
        (Language::En, false) => language.long_date(first_day),
        (Language::En, true) => format!("week of {}", language.long_date(first_day)),
        (Language::Fr, false) => language.long_date(first_day),
        (Language::Fr, true) => format!("semaine du {}", language.long_date(first_day)),
    };
    let title = format!("{}, {when}", section.title);
    let mut h = String::new();
    let count = match (language, digest.total) {
        (Language::En, 1) => "1 story".to_string(),
        (Language::En, n) => format!("{n} stories"),
        (Language::Fr, 1) => "1 article".to_string(),
        (Language::Fr, n) => format!("{n} articles"),
    };
    let _ = writeln!(h, "<p>{} · {}</p>", esc(&title), count);
    h.push_str("<ul>\n");
    for s in &digest.stories {
        h.push_str("<li>");
        match &s.link {
            Some(link) => {
                let _ = write!(h, "<a href=\"{}\"><strong>{}</strong></a>", esc(link), esc(&s.title));
            }
            None => {
                let _ = write!(h, "<strong>{}</strong>", esc(&s.title));
            }
        }
        let local = s.published.with_timezone(&tz);
        let mut meta = vec![local.format("%H:%M").to_string()];
        if weekly {
            meta.insert(0, language.long_date(local.date_naive()));
        }
        if !s.sources.is_empty() {
            meta.push(s.sources.join(", "));
        }
        let _ = write!(h, "<br><small>{}</small>", esc(&meta.join(" · ")));
        if let Some(img) = &s.image {
            let _ = write!(h, "<br><img src=\"{}\" alt=\"\" width=\"160\">", esc(img));
        }
        if !s.summary.is_empty() {
            let _ = write!(h, "<br>{}", esc(&s.summary));
        }
        h.push_str("</li>\n");
    }
    h.push_str("</ul>\n");
    let more = digest.total.saturating_sub(digest.stories.len());
    if more > 0 {
        let _ = writeln!(
            h,
            "<p><a href=\"{}\">{}</a></p>",
            esc(&section_page_url(base_url, &section.slug)),
            match language {
                Language::En => format!("and {more} more"),
                Language::Fr => format!("et {more} autres"),
            }
        );
    }
    let end = digest.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Entry {
        key: format!("digest:{}:{end}", section.slug),
        id: format!("tag:thau,2026:sections/{}/digest/{end}", section.slug),
        link: Some(section_page_url(base_url, &section.slug)),
        title,
        summary: None,
        content: Some(h),
        published: digest.end,
        updated: digest.end,
        first_seen: digest.end,
        dated: true,
        generic_link: false,
        image: None,
        duration: None,
        authors: Vec::new(),
        categories: Vec::new(),
        enclosures: Vec::new(),
        language: Some(language.code().to_string()),
        sources: Vec::new(),
    }
}

/// The digest feed's title.
pub fn feed_title(section: &Section, language: Language) -> String {
    let weekly = section
        .digest
        .is_some_and(|s| matches!(s.period, DigestPeriod::Weekly(_)));
    let what = match (language, weekly) {
        (Language::En, false) => "daily digest",
        (Language::En, true) => "weekly digest",
        (Language::Fr, false) => "l'essentiel du jour",
        (Language::Fr, true) => "l'essentiel de la semaine",
    };
    format!("{} · {what}", section.title)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(at_time: &str, tz: chrono_tz::Tz) -> DigestSchedule {
        DigestSchedule {
            period: DigestPeriod::Daily,
            at: NaiveTime::parse_from_str(at_time, "%H:%M").unwrap(),
            timezone: tz,
            delay: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn a_daily_period_ends_at_its_local_time_whatever_the_season() {
        let paris = daily("07:00", chrono_tz::Europe::Paris);
        // Winter: 07:00 in Paris is 06:00 UTC.
        assert_eq!(last_end(&paris, at("2026-11-28T06:30:00Z")), at("2026-11-28T06:00:00Z"));
        assert_eq!(last_end(&paris, at("2026-11-28T05:59:59Z")), at("2026-11-27T06:00:00Z"));
        assert_eq!(last_end(&paris, at("2026-11-28T06:00:00Z")), at("2026-11-28T06:00:00Z"));
        assert_eq!(next_end(&paris, at("2026-11-28T06:00:00Z")), at("2026-11-29T06:00:00Z"));
        assert_eq!(
            previous_end(&paris, at("2026-11-28T06:00:00Z")),
            at("2026-11-27T06:00:00Z")
        );
        // Summer: 05:00 UTC; the day the clocks go forward is 23 hours long.
        assert_eq!(last_end(&paris, at("2026-07-01T12:00:00Z")), at("2026-07-01T05:00:00Z"));
        assert_eq!(
            previous_end(&paris, at("2026-03-29T05:00:00Z")),
            at("2026-03-28T06:00:00Z")
        );
        // Midnight UTC by default.
        let utc = daily("00:00", chrono_tz::UTC);
        assert_eq!(last_end(&utc, at("2026-11-28T13:00:00Z")), at("2026-11-28T00:00:00Z"));
    }

    #[test]
    fn a_weekly_period_ends_on_its_day() {
        let monday = DigestSchedule {
            period: DigestPeriod::Weekly(Weekday::Mon),
            at: NaiveTime::MIN,
            timezone: chrono_tz::UTC,
            delay: std::time::Duration::ZERO,
        };
        // 2026-11-28 is a Saturday; the last Monday was the 23rd.
        assert_eq!(
            last_end(&monday, at("2026-11-28T12:00:00Z")),
            at("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            previous_end(&monday, at("2026-11-23T00:00:00Z")),
            at("2026-11-16T00:00:00Z")
        );
        assert_eq!(
            next_end(&monday, at("2026-11-28T12:00:00Z")),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            next_end(&monday, at("2026-11-30T00:00:00Z")),
            at("2026-12-07T00:00:00Z")
        );
    }

    #[test]
    fn a_digest_entry_lists_its_stories_escaped_with_a_stable_id() {
        let config = crate::config::Config::parse(
            "[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\ndigest = \"daily\"\n",
            std::path::Path::new("feeds.toml"),
        )
        .unwrap();
        let section = &config.sections[0];
        let mut e = crate::model::tests_support::entry("Joutes <b>&</b> fête");
        e.summary = Some("<p>Le <em>palmarès</em>.</p>".into());
        e.link = Some("https://x.example/joutes".into());
        let digest = Digest {
            start: at("2026-11-27T00:00:00Z"),
            end: at("2026-11-28T00:00:00Z"),
            stories: vec![Story::of(&e)],
            total: 3,
        };
        let fr = entry(section, &digest, Language::Fr, "https://thau.example");
        assert_eq!(fr.title, "Sète, 27 novembre 2026");
        assert_eq!(fr.id, "tag:thau,2026:sections/sete/digest/2026-11-28T00:00:00Z");
        assert_eq!(fr.published, digest.end);
        let html = fr.content.unwrap();
        assert!(
            html.contains("<strong>Joutes &lt;b&gt;&amp;&lt;/b&gt; fête</strong>"),
            "{html}"
        );
        assert!(html.contains("<br>Le palmarès."), "{html}");
        assert!(html.contains("3 articles"), "{html}");
        assert!(html.contains("et 2 autres"), "{html}");
        let en = entry(section, &digest, Language::En, "https://thau.example");
        assert_eq!(en.title, "Sète, 27 November 2026");
        assert_eq!(en.id, fr.id);
    }
}
