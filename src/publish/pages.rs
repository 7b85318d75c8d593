//! The reading pages: the front page (every section's latest stories), a
//! page per section (its stories, newest first) and a page per story (its
//! sanitized content, its sources, a link to the original). Server-rendered
//! HTML, no JavaScript, readable on a phone, labelled in the site's
//! language, with feed discovery links on every page. Pure: "how long ago"
//! is counted from the `now` given (none in a static export, which shows
//! dates instead).

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::pictures::{image, image_alt, map_img_srcs, picture_id, unescape_attribute};
use super::{Format, safe_url, section_page_url, section_url};
use crate::config::{Language, Section, SiteConfig};
use crate::model::Entry;
use crate::normalize::{escape_html as esc, hex, html_to_text};

/// Stories a section shows on the front page.
pub const FRONT_PAGE_STORIES: usize = 4;

/// Characters of a story's summary shown in a list.
const SUMMARY_CHARS: usize = 280;

/// Characters of the lead story's intro.
const LEAD_CHARS: usize = 480;

/// What every page is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct Pages<'a> {
    pub site: &'a SiteConfig,
    /// `[server].base_url`, without a trailing `/`.
    pub base_url: &'a str,
    /// Every section, in configuration order: the navigation.
    pub sections: &'a [Section],
    /// The instant ages are counted from; None prints dates only.
    pub now: Option<DateTime<Utc>>,
}

/// A section and the stories a page lists for it, newest first.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub section: &'a Section,
    pub entries: &'a [Arc<Entry>],
}

/// A story's address on the site: `/stories/<id>.html`, where the id is a
/// hash of the store key (stable across restarts, and short).
pub fn story_id(entry: &Entry) -> String {
    story_id_of_key(&entry.key)
}

/// [`story_id`] of the entry stored under `key`.
pub fn story_id_of_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes())[..10])
}

pub fn story_url(base_url: &str, entry: &Entry) -> String {
    format!("{base_url}/stories/{}.html", story_id(entry))
}

/// The pages: the front page, a section's, a story's, and not found.
impl Pages<'_> {
    pub fn front(&self, listings: &[Listing<'_>]) -> Vec<u8> {
        self.front_with_lead(listings, None)
    }

    /// The front page, led by `lead` (a story pinned there, with a section
    /// that shows it) rather than the one thau would pick.
    pub fn front_with_lead(&self, listings: &[Listing<'_>], lead: Option<(&Entry, &Section)>) -> Vec<u8> {
        let l = self.labels();
        let mut h = self.head(&self.site.title, &self.all_feeds(), None);
        let _ = writeln!(
            h,
            "<main id=\"main\">\n<h1 class=\"front\">{}</h1>",
            esc(&self.site.title)
        );
        if let Some(d) = &self.site.description {
            let _ = writeln!(h, "<p class=\"lede\">{}</p>", esc(d));
        }
        if listings.iter().all(|s| s.entries.is_empty()) {
            let _ = writeln!(h, "<p>{}</p>", l.no_stories);
        }
        // The lead story: the newest with a picture among the sections'
        // latest (else the newest), large, with its section and its intro.
        let mut shown: std::collections::HashSet<String> = std::collections::HashSet::new();
        if let Some((lead, section)) = lead.or_else(|| lead_story(listings)) {
            self.lead(&mut h, lead, section);
            shown.insert(lead.key.clone());
        }
        // Each story once on the page: a section shows its latest stories
        // not already shown above it (a story in three sections fills one
        // slot, not three).
        for listing in listings {
            let fresh: Vec<Arc<Entry>> = listing
                .entries
                .iter()
                .filter(|e| !shown.contains(&e.key))
                .take(FRONT_PAGE_STORIES)
                .cloned()
                .collect();
            if fresh.is_empty() {
                continue;
            }
            shown.extend(fresh.iter().map(|e| e.key.clone()));
            let s = listing.section;
            let _ = writeln!(
                h,
                "<section aria-labelledby=\"s-{slug}\">\n<h2 id=\"s-{slug}\"><a href=\"{}\">{}</a></h2>",
                esc(&section_page_url(self.base_url, &s.slug)),
                esc(&s.title),
                slug = esc(&s.slug),
            );
            self.list(&mut h, &fresh, 3);
            let _ = writeln!(
                h,
                "<p class=\"more\"><a href=\"{}\">{} {}</a></p>\n</section>",
                esc(&section_page_url(self.base_url, &s.slug)),
                l.all_stories_of,
                esc(&s.title)
            );
        }
        h.push_str("</main>\n");
        self.foot(&mut h);
        h.into_bytes()
    }

    /// The front page's lead story: picture, section label and age, a
    /// large headline, and a longer intro than the teasers below.
    fn lead(&self, h: &mut String, e: &Entry, section: &Section) {
        let url = story_url(self.base_url, e);
        h.push_str("<article class=\"lead\">\n");
        if let Some(src) = image(e) {
            let _ = writeln!(
                h,
                "<img src=\"{}\" alt=\"{}\">",
                esc(&self.picture_src(src)),
                image_alt(e, src)
            );
        }
        let _ = writeln!(
            h,
            "<p class=\"meta\"><a class=\"label\" href=\"{}\">{}</a> · {}</p>",
            esc(&section_page_url(self.base_url, &section.slug)),
            esc(&section.title),
            self.when(e)
        );
        let _ = writeln!(h, "<h2><a href=\"{}\">{}</a></h2>", esc(&url), esc(&e.title));
        let intro = intro(e, LEAD_CHARS);
        if !intro.is_empty() {
            let _ = writeln!(h, "<p class=\"intro\">{}</p>", esc(&intro));
        }
        h.push_str("</article>\n");
    }

    /// `/sections/<slug>/`: the section's stories, newest first.
    pub fn section(&self, listing: &Listing<'_>) -> Vec<u8> {
        let l = self.labels();
        let s = listing.section;
        let mut feeds = section_feeds(self.base_url, s);
        if s.digest.is_some() {
            feeds.push((
                format!("{} ({})", s.title, l.digest),
                format!(
                    "{}/sections/{}/{}",
                    self.base_url,
                    s.slug,
                    Format::Rss.digest_file_name()
                ),
                Format::Rss.media_type(),
            ));
        }
        feeds.extend(self.all_feeds());
        // The section's own face: its icon, its logo by its name, its rights.
        let icon = s
            .icon
            .as_ref()
            .map(|icon| format!("<link rel=\"icon\" href=\"{}\">\n", esc(icon.as_str())));
        let title = format!("{} · {}", s.title, self.site.title);
        let mut h = self.head_with(&title, &feeds, Some(&s.slug), icon.as_deref().unwrap_or(""));
        let _ = write!(h, "<main id=\"main\">\n<h1>");
        if let Some(logo) = &s.logo {
            let _ = write!(
                h,
                "<img class=\"logo\" src=\"{}\" alt=\"\" height=\"48\"> ",
                esc(logo.as_str())
            );
        }
        let _ = writeln!(h, "{}</h1>", esc(&s.title));
        if let Some(d) = &s.description {
            let _ = writeln!(h, "<p class=\"lede\">{}</p>", esc(d));
        }
        if listing.entries.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", l.no_stories);
        }
        self.list(&mut h, listing.entries, 2);
        let _ = write!(h, "<p class=\"feeds\">{}", l.subscribe);
        for (i, format) in Format::ALL.into_iter().enumerate() {
            let _ = write!(
                h,
                "{}<a href=\"{}\">{}</a>",
                if i > 0 { " · " } else { " " },
                esc(&section_url(self.base_url, &s.slug, format)),
                esc(&feed_link_text(self.site.language, format, &s.title))
            );
        }
        if s.digest.is_some() {
            let _ = write!(
                h,
                " · <a href=\"{}\">{}</a>",
                esc(&format!(
                    "{}/sections/{}/{}",
                    self.base_url,
                    s.slug,
                    Format::Rss.digest_file_name()
                )),
                l.digest
            );
        }
        h.push_str("</p>\n");
        if let Some(rights) = &s.copyright {
            let _ = writeln!(h, "<p class=\"rights\"><small>{}</small></p>", esc(rights));
        }
        h.push_str("</main>\n");
        self.foot(&mut h);
        h.into_bytes()
    }

    /// `/stories/<id>.html`: one story, in the sections it belongs to.
    pub fn story(&self, entry: &Entry, in_sections: &[&Section]) -> Vec<u8> {
        let l = self.labels();
        let mut feeds: Vec<(String, String, &'static str)> = Vec::new();
        for s in in_sections {
            feeds.extend(section_feeds(self.base_url, s));
        }
        feeds.extend(self.all_feeds());
        let mut h = self.head(&format!("{} · {}", entry.title, self.site.title), &feeds, None);
        h.push_str("<main id=\"main\">\n<article>\n<header>\n");
        let labels: Vec<String> = in_sections
            .iter()
            .map(|s| {
                format!(
                    "<a class=\"label\" href=\"{}\">{}</a>",
                    esc(&section_page_url(self.base_url, &s.slug)),
                    esc(&s.title)
                )
            })
            .collect();
        if !labels.is_empty() {
            let _ = writeln!(h, "<p class=\"labels\">{}</p>", labels.join(" "));
        }
        let _ = writeln!(h, "<h1>{}</h1>", esc(&entry.title));
        let _ = write!(h, "<p class=\"meta\">{}", self.when(entry));
        let authors: Vec<String> = entry.authors.iter().map(|a| esc(&a.name)).collect();
        if !authors.is_empty() {
            let _ = write!(h, " · {}", authors.join(", "));
        }
        h.push_str("</p>\n</header>\n");
        let text = entry.content.as_deref().or(entry.summary.as_deref());
        // The picture, unless the text shows it already.
        if let Some(src) = image(entry).filter(|src| !text.is_some_and(|t| t.contains(&format!("src=\"{src}\"")))) {
            let _ = writeln!(
                h,
                "<img class=\"hero\" src=\"{}\" alt=\"{}\">",
                esc(&self.picture_src(src)),
                image_alt(entry, src)
            );
        }
        // Sanitized when it was stored (ammonia): safe to include as it is.
        match text {
            Some(html) => {
                let _ = writeln!(h, "<div class=\"content\">\n{}\n</div>", self.proxied(html));
            }
            None => {
                let _ = writeln!(h, "<p>{}</p>", l.no_text);
            }
        }
        let media: Vec<_> = entry
            .enclosures
            .iter()
            .filter(|x| safe_url(&x.url, false).is_some())
            .filter(|x| !x.media_type.as_deref().is_some_and(|t| t.starts_with("image/")))
            .collect();
        if !media.is_empty() {
            let _ = writeln!(h, "<h2>{}</h2>\n<ul>", l.attachments);
            for x in media {
                let name = x.url.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or(&x.url);
                let kind = x
                    .media_type
                    .as_deref()
                    .map(|t| format!(" ({})", esc(t)))
                    .unwrap_or_default();
                let _ = writeln!(h, "<li><a href=\"{}\">{}</a>{kind}</li>", esc(&x.url), esc(name));
            }
            h.push_str("</ul>\n");
        }
        h.push_str("<footer>\n");
        if let Some(link) = entry.link.as_deref().and_then(|u| safe_url(u, false)) {
            let _ = writeln!(
                h,
                "<p><a class=\"original\" href=\"{}\">{}</a></p>",
                esc(link),
                l.read_original
            );
        }
        let sources: Vec<String> = entry
            .sources
            .iter()
            .map(|s| {
                let name = esc(s
                    .feed_title
                    .as_deref()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or(&s.name));
                match s.feed_url.as_deref().and_then(|u| safe_url(u, false)) {
                    Some(url) => format!("<a href=\"{}\">{name}</a>", esc(url)),
                    None => name,
                }
            })
            .collect();
        let _ = writeln!(h, "<p class=\"sources\">{} {}</p>", l.sources, sources.join(", "));
        h.push_str("</footer>\n</article>\n</main>\n");
        self.foot(&mut h);
        h.into_bytes()
    }

    /// A page for what is not there (a story no longer on the site).
    pub fn not_found(&self) -> Vec<u8> {
        let l = self.labels();
        let mut h = self.head(
            &format!("{} · {}", l.not_found, self.site.title),
            &self.all_feeds(),
            None,
        );
        let _ = writeln!(
            h,
            "<main id=\"main\">\n<h1>{}</h1>\n<p>{} <a href=\"{}/\">{}</a></p>\n</main>",
            l.not_found,
            l.not_found_text,
            esc(self.base_url),
            esc(&self.site.title)
        );
        self.foot(&mut h);
        h.into_bytes()
    }
}

impl Pages<'_> {
    /// While thau is starting (its first polls, its first rendering): says
    /// so, and reloads itself.
    pub fn starting(&self) -> Vec<u8> {
        let l = self.labels();
        let title = format!("{} · {}", l.starting, self.site.title);
        let mut h = self.head_with(&title, &[], None, "<meta http-equiv=\"refresh\" content=\"2\">\n");
        let _ = writeln!(
            h,
            "<main id=\"main\">\n<h1>{}</h1>\n<p>{}</p>\n</main>",
            l.starting, l.starting_text
        );
        self.foot(&mut h);
        h.into_bytes()
    }
}

/// What every page shares: its head and foot, story lists, labels and
/// dates.
impl Pages<'_> {
    fn labels(&self) -> &'static Labels {
        match self.site.language {
            Language::En => &EN,
            Language::Fr => &FR,
        }
    }

    /// `/`: each section's latest stories.
    fn all_feeds(&self) -> Vec<(String, String, &'static str)> {
        Format::ALL
            .into_iter()
            .map(|format| {
                (
                    format!("{} ({})", self.site.title, format.label()),
                    format!("{}/{}", self.base_url, format.all_file_name()),
                    format.media_type(),
                )
            })
            .collect()
    }

    /// `<!DOCTYPE>` to the page's header and navigation.
    /// The page's head and the site's header; `current` is the slug of the
    /// section this page is (marked in the navigation).
    pub(super) fn head(&self, title: &str, feeds: &[(String, String, &'static str)], current: Option<&str>) -> String {
        self.head_with(title, feeds, current, "")
    }

    /// [`Pages::head`], with `extra` lines in the document's head (an
    /// icon, a refresh).
    fn head_with(
        &self,
        title: &str,
        feeds: &[(String, String, &'static str)],
        current: Option<&str>,
        extra: &str,
    ) -> String {
        let l = self.labels();
        let mut h = String::with_capacity(16 * 1024);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n",
            self.site.language.code(),
            esc(title)
        );
        for (title, href, kind) in feeds {
            let _ = writeln!(
                h,
                "<link rel=\"alternate\" type=\"{kind}\" title=\"{}\" href=\"{}\">",
                esc(title),
                esc(href)
            );
        }
        h.push_str(extra);
        h.push_str(STYLE);
        let _ = write!(
            h,
            "</head>\n<body>\n<a class=\"skip\" href=\"#main\">{}</a>\n<header class=\"site\">\n<p class=\"name\"><a href=\"{}/\">{}</a></p>\n<nav aria-label=\"{}\">\n<ul>\n",
            l.skip,
            esc(self.base_url),
            esc(&self.site.title),
            l.sections
        );
        // (A private section is not named to everyone: its subscribers
        // have its address.)
        for s in self
            .sections
            .iter()
            .filter(|s| !s.private || current == Some(s.slug.as_str()))
        {
            let here = if current == Some(s.slug.as_str()) {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<li><a href=\"{}\"{here}>{}</a></li>",
                esc(&section_page_url(self.base_url, &s.slug)),
                esc(&s.title)
            );
        }
        h.push_str("</ul>\n</nav>\n</header>\n");
        h
    }

    pub(super) fn foot(&self, h: &mut String) {
        let l = self.labels();
        let _ = writeln!(
            h,
            "<footer class=\"site\">\n<p>{} <a href=\"{}/feed.xml\">RSS</a> · <a href=\"{}/atom.xml\">Atom</a> · <a href=\"{}/feed.json\">JSON Feed</a> · <a href=\"{}/sections.opml\">OPML</a></p>\n</footer>\n</body>\n</html>",
            l.every_section,
            esc(self.base_url),
            esc(self.base_url),
            esc(self.base_url),
            esc(self.base_url)
        );
    }

    /// A list of stories; `level` is the heading level of their titles.
    pub(super) fn list(&self, h: &mut String, entries: &[Arc<Entry>], level: u8) {
        if entries.is_empty() {
            return;
        }
        h.push_str("<ul class=\"stories\">\n");
        for e in entries {
            let url = story_url(self.base_url, e);
            h.push_str("<li>\n<article>\n");
            if let Some(src) = image(e) {
                let _ = writeln!(
                    h,
                    "<img src=\"{}\" alt=\"{}\" loading=\"lazy\" width=\"160\" height=\"107\">",
                    esc(&self.picture_src(src)),
                    image_alt(e, src)
                );
            }
            // (No section label: the section's heading is just above.)
            let _ = writeln!(h, "<p class=\"meta\">{}</p>", self.when(e));
            let _ = writeln!(
                h,
                "<h{level}><a href=\"{}\">{}</a></h{level}>",
                esc(&url),
                esc(&e.title)
            );
            let text = teaser(e);
            if !text.is_empty() {
                let _ = writeln!(h, "<p>{}</p>", esc(&text));
            }
            h.push_str("</article>\n</li>\n");
        }
        h.push_str("</ul>\n");
    }

    /// Where a page loads a picture from: thau's `/img/` with `[site]
    /// image_proxy`, else the picture's own address.
    fn picture_src(&self, src: &str) -> String {
        // (The site's own pictures, `/assets/`, are loaded as they are.)
        let own = src
            .strip_prefix(self.base_url)
            .is_some_and(|rest| rest.starts_with('/'));
        match self.site.image_proxy && !own {
            true => format!("{}/img/{}", self.base_url, picture_id(src)),
            false => src.to_string(),
        }
    }

    /// A story's text with its images loaded through thau (`[site]
    /// image_proxy`).
    fn proxied<'h>(&self, html: &'h str) -> std::borrow::Cow<'h, str> {
        if !self.site.image_proxy || !html.contains("<img ") {
            return std::borrow::Cow::Borrowed(html);
        }
        std::borrow::Cow::Owned(map_img_srcs(html, |src| {
            esc(&self.picture_src(&unescape_attribute(src)))
        }))
    }

    /// `<time>` with the age ("il y a 2 semaines") or, without `now`, the date.
    fn when(&self, e: &Entry) -> String {
        let iso = e.published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let date = absolute_date(self.site.language, self.site.timezone, e.published);
        match self.now {
            Some(now) => format!(
                "<time datetime=\"{iso}\" title=\"{date}\">{}</time>",
                ago(self.site.language, now, e.published)
            ),
            None => format!("<time datetime=\"{iso}\">{date}</time>"),
        }
    }
}

/// A date as a reader of the site's language says it, in the site's time
/// zone: "24 novembre 2026 à 18 h 30", "24 November 2026, 18:30 UTC" (the
/// zone named when it is UTC, which no reader lives in).
pub fn absolute_date(language: Language, zone: Option<chrono_tz::Tz>, t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let local = t.with_timezone(&zone.unwrap_or(chrono_tz::UTC));
    let (day, hour, minute) = (language.long_date(local.date_naive()), local.hour(), local.minute());
    let utc = if zone.is_none() { " UTC" } else { "" };
    match language {
        Language::Fr => format!("{day} à {hour} h {minute:02}{utc}"),
        Language::En => format!("{day}, {hour:02}:{minute:02}{utc}"),
    }
}

fn section_feeds(base_url: &str, s: &Section) -> Vec<(String, String, &'static str)> {
    Format::ALL
        .into_iter()
        .map(|format| {
            (
                format!("{} ({})", s.title, format.label()),
                section_url(base_url, &s.slug, format),
                format.media_type(),
            )
        })
        .collect()
}

/// How long ago `t` was, in words: "2 weeks ago", "il y a 2 semaines".
pub fn ago(language: Language, now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (n, unit) = match secs {
        ..60 => {
            return match language {
                Language::En => "just now".into(),
                Language::Fr => "à l'instant".into(),
            };
        }
        60..3_600 => (secs / 60, Unit::Minute),
        3_600..86_400 => (secs / 3_600, Unit::Hour),
        86_400..604_800 => (secs / 86_400, Unit::Day),
        // Weeks until a month is a better word (30 days).
        604_800..2_592_000 => (secs / 604_800, Unit::Week),
        2_592_000..31_536_000 => ((secs / 2_592_000).min(11), Unit::Month),
        _ => (secs / 31_536_000, Unit::Year),
    };
    let plural = n > 1;
    match language {
        Language::En => {
            let word = match unit {
                Unit::Minute => "minute",
                Unit::Hour => "hour",
                Unit::Day => "day",
                Unit::Week => "week",
                Unit::Month => "month",
                Unit::Year => "year",
            };
            format!("{n} {word}{} ago", if plural { "s" } else { "" })
        }
        Language::Fr => {
            let word = match (unit, plural) {
                (Unit::Minute, false) => "minute",
                (Unit::Minute, true) => "minutes",
                (Unit::Hour, false) => "heure",
                (Unit::Hour, true) => "heures",
                (Unit::Day, false) => "jour",
                (Unit::Day, true) => "jours",
                (Unit::Week, false) => "semaine",
                (Unit::Week, true) => "semaines",
                (Unit::Month, _) => "mois",
                (Unit::Year, false) => "an",
                (Unit::Year, true) => "ans",
            };
            format!("il y a {n} {word}")
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// The start of a story's summary (or text) as plain text.
fn teaser(e: &Entry) -> String {
    intro(e, SUMMARY_CHARS)
}

/// At most `max` characters of a story's summary (or text), as plain text.
fn intro(e: &Entry, max: usize) -> String {
    let Some(html) = e.summary.as_deref().or(e.content.as_deref()) else {
        return String::new();
    };
    shorten(html_to_text(html).trim(), max)
}

/// The lead story of the front page and its section: the newest with a
/// picture among each section's latest stories, else the newest of them;
/// stories the source dated first (one dated when first seen is new to
/// thau, not news).
fn lead_story<'a>(listings: &'a [Listing<'a>]) -> Option<(&'a Entry, &'a Section)> {
    listings
        .iter()
        .flat_map(|l| {
            l.entries
                .iter()
                .take(FRONT_PAGE_STORIES)
                .map(move |e| (e.as_ref(), l.section))
        })
        .max_by_key(|(e, _)| (e.dated, image(e).is_some(), e.published))
}

/// A feed's link text that says whose feed it is: "RSS de Sète", "Atom
/// d'Agde", "Sète RSS" (link texts that differ for screen readers).
pub fn feed_link_text(language: Language, format: Format, section: &str) -> String {
    let format = format.label();
    match language {
        Language::En => format!("{section} {format}"),
        // "RSS de Sète", "RSS d'Agde", "RSS du Courrier", "RSS des Halles".
        Language::Fr => {
            if let Some(rest) = section.strip_prefix("Le ").or_else(|| section.strip_prefix("le ")) {
                return format!("{format} du {rest}");
            }
            if let Some(rest) = section.strip_prefix("Les ").or_else(|| section.strip_prefix("les ")) {
                return format!("{format} des {rest}");
            }
            let elided = section
                .chars()
                .next()
                .is_some_and(|c| "aeiouyàâäéèêëîïôöùûüœ".contains(c.to_lowercase().next().unwrap_or(c)));
            match elided {
                true => format!("{format} d'{section}"),
                false => format!("{format} de {section}"),
            }
        }
    }
}

/// At most `max` characters of `text`, cut at a word, with an ellipsis
/// when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > max / 2 => &cut[..i],
        _ => &cut,
    };
    format!(
        "{}…",
        cut.trim_end_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
    )
}

struct Labels {
    sections: &'static str,
    skip: &'static str,
    no_stories: &'static str,
    all_stories_of: &'static str,
    subscribe: &'static str,
    read_original: &'static str,
    sources: &'static str,
    attachments: &'static str,
    no_text: &'static str,
    every_section: &'static str,
    not_found: &'static str,
    not_found_text: &'static str,
    digest: &'static str,
    starting: &'static str,
    starting_text: &'static str,
}

const EN: Labels = Labels {
    sections: "Sections",
    skip: "Skip to the stories",
    no_stories: "No stories yet.",
    all_stories_of: "All stories:",
    subscribe: "Subscribe:",
    read_original: "Read the original",
    sources: "Sources:",
    attachments: "Attachments",
    no_text: "The source gave no text for this story.",
    every_section: "Every section:",
    not_found: "Not found",
    not_found_text: "This story is no longer on the site. Back to",
    digest: "digest (RSS)",
    starting: "Starting",
    starting_text: "thau is reading its sources. This page reloads by itself in a moment.",
};

const FR: Labels = Labels {
    sections: "Rubriques",
    skip: "Aller aux articles",
    no_stories: "Aucun article pour l'instant.",
    all_stories_of: "Tous les articles :",
    subscribe: "S'abonner :",
    read_original: "Lire l'article original",
    sources: "Sources :",
    attachments: "Pièces jointes",
    no_text: "La source ne donne pas de texte pour cet article.",
    every_section: "Toutes les rubriques :",
    not_found: "Introuvable",
    not_found_text: "Cet article n'est plus sur le site. Retour à",
    digest: "l'essentiel (RSS)",
    starting: "Démarrage",
    starting_text: "thau lit ses sources. Cette page se recharge d'elle-même dans un instant.",
};

/// Readable on a phone: one column, system fonts, images that shrink.
const STYLE: &str = concat!(
    "<style>\n",
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:46em;margin:0 auto;padding:0 1em;color:#222;background:#fff}\n",
    "a{color:#0645ad}header.site{border-bottom:2px solid #0b5d8c;margin-bottom:1em}\n",
    ".name{font-size:1.5em;font-weight:bold;margin:.5em 0}.name a{color:#0b5d8c;text-decoration:none}\n",
    "nav ul{list-style:none;padding:0;margin:.5em 0;display:flex;flex-wrap:wrap;gap:.3em 1em}\n",
    "ul.stories{list-style:none;padding:0}ul.stories li{border-bottom:1px solid #ddd;padding:.8em 0;overflow:hidden}\n",
    "ul.stories img{float:right;margin:0 0 .5em 1em;max-width:35%;height:auto;object-fit:cover}\n",
    ".meta{color:#555;font-size:.9em;margin:0}.label{text-transform:uppercase;font-weight:bold;color:#0b5d8c;font-size:.85em}\n",
    "h2,h3{margin:.2em 0;line-height:1.25}h1.front{position:absolute;left:-9999px}img.hero,.content img{max-width:100%;height:auto}\n",
    "h1 img.logo{vertical-align:middle;width:auto}.content{overflow-wrap:break-word}footer.site{border-top:1px solid #ddd;margin-top:2em;color:#555;font-size:.9em}\n",
    // Headlines read as headlines, underlined only under the pointer.
    "h2 a,h3 a,nav a{color:inherit;text-decoration:none}h2 a:hover,h3 a:hover,nav a:hover{text-decoration:underline}\n",
    "nav a[aria-current]{font-weight:bold;border-bottom:2px solid #0b5d8c}\n",
    ".skip{position:absolute;left:-9999px}.skip:focus{position:static;display:block;padding:.5em}\n",
    // The lead: the picture across the column, a large headline, its intro.
    "article.lead{border-bottom:2px solid #0b5d8c;padding-bottom:1em;margin-bottom:.5em}",
    "article.lead img{display:block;width:100%;max-height:24em;height:auto;object-fit:cover;margin:.5em 0}",
    "article.lead h2{font-size:2em;line-height:1.15;margin:.2em 0 .3em}.intro{font-size:1.1em;margin:0}\n",
    // Nothing wider than a phone: long words wrap, wide content scrolls in place.
    "body{overflow-wrap:break-word}.content pre,.content table{display:block;max-width:100%;overflow-x:auto}",
    ".content iframe,.content video,.content audio{max-width:100%}\n",
    "@media (prefers-color-scheme:dark){body{color:#ddd;background:#121212}a{color:#8ab4f8}",
    ".name a,.label{color:#8ab4f8}header.site{border-color:#8ab4f8}nav a[aria-current]{border-color:#8ab4f8}",
    ".meta,footer.site{color:#aaa}ul.stories li,footer.site{border-color:#333}article.lead{border-color:#8ab4f8}}\n",
    "</style>\n",
);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn ages_read_as_people_say_them_in_both_languages() {
        let now = at(2026, 11, 28, 12);
        let cases = [
            (now, "just now", "à l'instant"),
            (now - chrono::Duration::minutes(1), "1 minute ago", "il y a 1 minute"),
            (
                now - chrono::Duration::minutes(45),
                "45 minutes ago",
                "il y a 45 minutes",
            ),
            (at(2026, 11, 28, 9), "3 hours ago", "il y a 3 heures"),
            (at(2026, 11, 27, 12), "1 day ago", "il y a 1 jour"),
            (at(2026, 11, 14, 12), "2 weeks ago", "il y a 2 semaines"),
            (at(2026, 9, 28, 12), "2 months ago", "il y a 2 mois"),
            (at(2025, 12, 20, 12), "11 months ago", "il y a 11 mois"),
            (at(2025, 11, 1, 12), "1 year ago", "il y a 1 an"),
            (at(2024, 11, 1, 12), "2 years ago", "il y a 2 ans"),
            // A date ahead of the clock is "now", never "-3 minutes".
            (now + chrono::Duration::minutes(3), "just now", "à l'instant"),
        ];
        for (t, en, fr) in cases {
            assert_eq!(ago(Language::En, now, t), en);
            assert_eq!(ago(Language::Fr, now, t), fr);
        }
    }

    #[test]
    fn the_picture_is_an_image_enclosure_else_the_first_image_of_the_text() {
        let mut e = crate::model::tests_support::entry("Joutes");
        e.summary = Some("<p>Texte <img src=\"https://x.example/a.jpg\" alt=\"\"></p>".into());
        assert_eq!(image(&e), Some("https://x.example/a.jpg"));
        e.enclosures.push(crate::model::Enclosure {
            url: "https://x.example/podcast.mp3".into(),
            media_type: Some("audio/mpeg".into()),
            length: None,
        });
        e.enclosures.push(crate::model::Enclosure {
            url: "https://x.example/une.webp".into(),
            media_type: None,
            length: None,
        });
        assert_eq!(image(&e), Some("https://x.example/une.webp"));
        e.enclosures.clear();
        e.summary = Some("<img src=\"javascript:alert(1)\">".into());
        assert_eq!(image(&e), None);
    }

    #[test]
    fn absolute_dates_in_each_language_and_zone() {
        let t = at(2026, 11, 24, 17) + chrono::Duration::minutes(30);
        let paris = Some(chrono_tz::Europe::Paris);
        assert_eq!(absolute_date(Language::Fr, paris, t), "24 novembre 2026 à 18 h 30");
        assert_eq!(absolute_date(Language::Fr, None, t), "24 novembre 2026 à 17 h 30 UTC");
        assert_eq!(absolute_date(Language::En, paris, t), "24 November 2026, 18:30");
        // Past midnight in Paris, still the day before in UTC.
        let late = at(2026, 8, 14, 22) + chrono::Duration::minutes(5);
        assert_eq!(absolute_date(Language::Fr, paris, late), "15 août 2026 à 0 h 05");
        assert_eq!(absolute_date(Language::En, None, late), "14 August 2026, 22:05 UTC");
    }

    #[test]
    fn feed_links_say_whose_feed_in_each_language() {
        let fr = |t| feed_link_text(Language::Fr, Format::Rss, t);
        assert_eq!(fr("Sète"), "RSS de Sète");
        assert_eq!(fr("Agde"), "RSS d'Agde");
        assert_eq!(fr("Économie"), "RSS d'Économie");
        assert_eq!(fr("Le Courrier du Bassin de Thau"), "RSS du Courrier du Bassin de Thau");
        assert_eq!(fr("Les Halles"), "RSS des Halles");
        assert_eq!(feed_link_text(Language::En, Format::Atom, "Sète"), "Sète Atom");
    }

    #[test]
    fn teasers_stop_at_a_word_with_an_ellipsis() {
        let mut e = crate::model::tests_support::entry("x");
        e.summary = Some(format!("<p>{}</p>", "mot ".repeat(200)));
        let t = teaser(&e);
        assert!(t.ends_with("mot…"), "{t}");
        assert!(t.chars().count() <= SUMMARY_CHARS + 1);
        e.summary = Some("<p>Court &amp; <b>net</b>.</p>".into());
        assert_eq!(teaser(&e), "Court & net.");
    }
}
