//! The status page (sections with their feeds, sources with their last
//! poll) and the OPML list of section feeds. Plain HTML, no JavaScript, and
//! `<link rel="alternate">` tags so browsers and readers discover the feeds.

use std::fmt::Write;

use super::{Format, section_url};
use crate::model::{FetchState, Outcome};
use crate::normalize::escape_html as esc;

/// A section as the index lists it.
#[derive(Debug, Clone)]
pub struct SectionSummary {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    /// Entries routed to the section (all of them, not only the published page).
    pub entries: usize,
    /// Entries its `include`/`exclude` keeps out.
    pub filtered: usize,
}

/// A source as the index lists it.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    pub name: String,
    /// Its `title` in feeds.toml, when it has one.
    pub title: Option<String>,
    pub location: String,
    pub state: Option<FetchState>,
    /// Entries stored that it carried.
    pub entries: usize,
    /// When it is next polled (None for a gone source, or in an export).
    pub next_poll: Option<chrono::DateTime<chrono::Utc>>,
    /// `enabled = false`: not polled.
    pub paused: bool,
}

/// Which formats an OPML document lists.
pub const OPML_FORMATS: [Format; 2] = [Format::Rss, Format::Atom];

/// The status page: sections and their feeds, then every source with its
/// last outcome and why it fails; the configuration's and the store's
/// errors first.
pub fn index_html(
    base_url: &str,
    sections: &[SectionSummary],
    sources: &[SourceStatus],
    config_error: Option<&str>,
    store_error: Option<&str>,
) -> Vec<u8> {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>thau status</title>\n",
    );
    for s in sections {
        for format in Format::ALL {
            let _ = writeln!(
                h,
                "<link rel=\"alternate\" type=\"{}\" title=\"{} ({})\" href=\"{}\">",
                format.media_type(),
                esc(&s.title),
                format.label(),
                esc(&section_url(base_url, &s.slug, format))
            );
        }
    }
    h.push_str(concat!(
        "<style>body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}",
        "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd}",
        ".error{color:#a00}.ok{color:#060}</style>\n</head>\n<body>\n"
    ));
    let _ = writeln!(
        h,
        "<p><a href=\"{}/\">← the site</a></p>\n<h1>thau status</h1>",
        esc(base_url)
    );
    // What needs the admin, first: the failing sources by name.
    let failing: Vec<&SourceStatus> = sources.iter().filter(|s| is_failing(s)).collect();
    match failing.len() {
        0 => {
            let _ = writeln!(
                h,
                "<p class=\"ok\">All {} sources polled without error.</p>",
                sources.len()
            );
        }
        n => {
            let names: Vec<String> = failing.iter().map(|s| esc(&s.name)).collect();
            let _ = writeln!(
                h,
                "<p class=\"error\"><strong>{n} of {} {} failing:</strong> {}.</p>",
                sources.len(),
                if sources.len() == 1 { "source" } else { "sources" },
                names.join(", ")
            );
        }
    }
    if let Some(error) = store_error {
        let _ = writeln!(
            h,
            "<div class=\"error\"><p><strong>The store cannot be written: polls fail until it can (thau retries every few seconds).</strong></p><pre>{}</pre></div>",
            esc(error)
        );
    }
    if let Some(error) = config_error {
        let _ = writeln!(
            h,
            "<div class=\"error\"><p><strong>feeds.toml has errors; the previous configuration is still running:</strong></p><pre>{}</pre></div>",
            esc(error)
        );
    }
    let _ = writeln!(
        h,
        "<p>Section feeds to subscribe to; all of them at once: <a href=\"{}\">sections.opml</a>.</p>",
        esc(&format!("{base_url}/sections.opml"))
    );
    sections_table(&mut h, base_url, sections);
    h.push_str("</table>\n<h2>Sources</h2>\n<table>\n");
    h.push_str("<tr><th scope=\"col\">Source</th><th scope=\"col\">Entries</th><th scope=\"col\">Last poll</th><th scope=\"col\">Outcome</th><th scope=\"col\">Next poll</th><th scope=\"col\">Details</th></tr>\n");
    // Failing sources first, then the others, each group in config order.
    let ordered = failing.iter().copied().chain(sources.iter().filter(|s| !is_failing(s)));
    for s in ordered {
        let state = s.state.as_ref();
        let when = state
            .and_then(|st| st.last_poll)
            .map_or("never".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        let outcome = state.and_then(|st| st.last_outcome);
        let class = if outcome == Some(Outcome::Error) { "error" } else { "ok" };
        let details = source_details(s);
        let next = s
            .next_poll
            .map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        let _ = writeln!(
            h,
            "<tr><td><strong>{}</strong><br><small>{}</small></td><td>{}</td><td>{when}</td><td class=\"{class}\">{}</td><td>{next}</td><td>{}</td></tr>",
            match &s.title {
                Some(title) => format!("{} ({})", esc(title), esc(&s.name)),
                None => esc(&s.name),
            },
            esc(&s.location),
            s.entries,
            outcome.map_or("not polled yet", Outcome::as_str),
            details.join("<br>")
        );
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h.into_bytes()
}

/// Whether a source's last poll failed.
fn is_failing(s: &SourceStatus) -> bool {
    s.state.as_ref().and_then(|st| st.last_outcome) == Some(Outcome::Error)
}

/// What the status page says of a source beyond its outcome: paused,
/// failing full texts, filtered entries, its error and warning, a move.
fn source_details(s: &SourceStatus) -> Vec<String> {
    let state = s.state.as_ref();
    let mut details = Vec::new();
    if s.paused {
        details.push("paused (enabled = false): not polled, entries kept".to_string());
    }
    if let Some(st) = state {
        if st.full_text_failures > 0 {
            details.push(format!(
                "{} full-text extractions failed (the teaser was kept); last: {}",
                st.full_text_failures,
                esc(st.last_full_text_error.as_deref().unwrap_or(""))
            ));
        }
        if st.last_filtered > 0 {
            details.push(format!(
                "{} of the last document kept out by include/exclude",
                st.last_filtered
            ));
        }
        if let Some(e) = &st.last_error {
            details.push(esc(e));
        }
        if let Some(w) = &st.warning {
            details.push(format!("warning: {}", esc(w)));
        }
        if st.consecutive_failures > 1 {
            details.push(format!("{} failures in a row", st.consecutive_failures));
        }
        if let Some(to) = &st.permanent_redirect {
            details.push(format!(
                "moved permanently to {} (update feeds.toml)",
                esc(&crate::redact::redacted_str(to))
            ));
        }
        if st.gone {
            details.push("gone (HTTP 410): no longer polled; remove it or change its url".into());
        }
        // (Said only when some were: "0%" on every new or failing source
        // is clutter.)
        if st.not_modified > 0
            && let Some(share) = (st.not_modified * 100).checked_div(st.polls)
        {
            details.push(format!("{share}% of polls not modified"));
        }
    }
    details
}

/// The status page's table of sections: entries and each feed's links.
fn sections_table(h: &mut String, base_url: &str, sections: &[SectionSummary]) {
    h.push_str("<h2>Sections</h2>\n<table>\n<tr><th scope=\"col\">Section</th><th scope=\"col\">Entries</th><th scope=\"col\">Feeds</th></tr>\n");
    for s in sections {
        let _ = write!(h, "<tr><td><strong>{}</strong>", esc(&s.title));
        if let Some(d) = &s.description {
            let _ = write!(h, "<br>{}", esc(d));
        }
        let _ = write!(h, "</td><td>{}", s.entries);
        if s.filtered > 0 {
            let _ = write!(h, "<br><small>{} kept out by include/exclude</small>", s.filtered);
        }
        h.push_str("</td><td>");
        for (i, format) in Format::ALL.into_iter().enumerate() {
            let _ = write!(
                h,
                "{}<a href=\"{}\">{}</a>",
                if i > 0 { " · " } else { "" },
                esc(&section_url(base_url, &s.slug, format)),
                format.label()
            );
        }
        h.push_str("</td></tr>\n");
    }
}

/// OPML 2.0 listing every section feed in `formats`, one folder per format.
pub fn opml(base_url: &str, sections: &[SectionSummary], formats: &[Format]) -> Vec<u8> {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n");
    o.push_str("<head><title>thau sections</title></head>\n<body>\n");
    for &format in formats {
        let folder = match format {
            Format::Rss => "RSS 2.0",
            Format::Atom => "Atom 1.0",
            Format::Json => "JSON Feed",
        };
        let _ = writeln!(o, "<outline text=\"{folder}\">");
        for s in sections {
            let _ = writeln!(
                o,
                "  <outline type=\"rss\" text=\"{t}\" title=\"{t}\" xmlUrl=\"{}\" htmlUrl=\"{}\"/>",
                esc(&section_url(base_url, &s.slug, format)),
                esc(&super::section_page_url(base_url, &s.slug)),
                t = esc(&s.title)
            );
        }
        o.push_str("</outline>\n");
    }
    o.push_str("</body>\n</opml>\n");
    o.into_bytes()
}
