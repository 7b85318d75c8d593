//! The status page (sections with their feeds, sources with their last
//! poll) and the OPML list of section feeds. Plain HTML, no JavaScript, and
//! `<link rel="alternate">` tags so browsers and readers discover the feeds.

use std::fmt::Write;

use super::{Format, section_url};
use crate::config::{Language, SiteConfig};
use crate::model::{FetchState, Outcome};
use crate::normalize::escape_html as esc;
use chrono::{DateTime, Utc};

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
    /// Its feeds need a key: not linked.
    pub private: bool,
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
/// errors first. In the site's language and time zone; readable on a phone
/// (each row a block under 40em).
pub fn index_html(
    site: &SiteConfig,
    base_url: &str,
    sections: &[SectionSummary],
    sources: &[SourceStatus],
    desk: &crate::config::Config,
    config_error: Option<&str>,
    store_error: Option<&str>,
) -> Vec<u8> {
    let l = match site.language {
        Language::En => &EN,
        Language::Fr => &FR,
    };
    let date = |t| super::pages::absolute_date(site.language, site.timezone, t);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} · {}</title>\n",
        site.language.code(),
        l.title,
        esc(&site.title)
    );
    for s in sections.iter().filter(|s| !s.private) {
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
    h.push_str(STATUS_STYLE);
    let _ = writeln!(
        h,
        "</head>\n<body>\n<p><a href=\"{}/\">← {}</a></p>\n<main>\n<h1>{}</h1>",
        esc(base_url),
        esc(&site.title),
        l.title
    );
    // What needs the admin, first: the failing sources by name.
    let failing: Vec<&SourceStatus> = sources.iter().filter(|s| is_failing(s)).collect();
    match failing.len() {
        0 => {
            let _ = writeln!(h, "<p class=\"ok\">{}</p>", (l.all_ok)(sources.len()));
        }
        n => {
            let names: Vec<String> = failing.iter().map(|s| esc(&s.name)).collect();
            let _ = writeln!(
                h,
                "<p class=\"error\"><strong>{}</strong> {}.</p>",
                (l.failing)(n, sources.len()),
                names.join(", ")
            );
        }
    }
    if let Some(error) = store_error {
        let _ = writeln!(
            h,
            "<div class=\"error\"><p><strong>{}</strong></p><pre>{}</pre></div>",
            l.store_error,
            esc(error)
        );
    }
    if let Some(error) = config_error {
        let _ = writeln!(
            h,
            "<div class=\"error\"><p><strong>{}</strong></p><pre>{}</pre></div>",
            l.config_error,
            esc(error)
        );
    }
    let _ = writeln!(
        h,
        "<p>{} <a href=\"{}\">sections.opml</a>.</p>",
        l.subscribe,
        esc(&format!("{base_url}/sections.opml"))
    );
    sections_table(&mut h, l, base_url, sections);
    desk_table(&mut h, l, desk, &date);
    let _ = writeln!(h, "<h2>{}</h2>\n<table>", l.sources);
    h.push_str("<tr>");
    for column in l.source_columns {
        let _ = write!(h, "<th scope=\"col\">{column}</th>");
    }
    h.push_str("</tr>\n");
    // Failing sources first, then the others, each group in config order.
    let ordered = failing.iter().copied().chain(sources.iter().filter(|s| !is_failing(s)));
    let [_, c_entries, c_last, c_outcome, c_next, c_details] = l.source_columns.map(|c| format!("{c}{}", l.colon));
    for s in ordered {
        let state = s.state.as_ref();
        let when = state.and_then(|st| st.last_poll).map_or(l.never.to_string(), date);
        let outcome = state.and_then(|st| st.last_outcome);
        let class = if outcome == Some(Outcome::Error) { "error" } else { "ok" };
        let details = source_details(l, s);
        let next = s.next_poll.map_or(String::new(), date);
        let _ = writeln!(
            h,
            "<tr><td><strong>{}</strong><br><small>{}</small></td><td data-label=\"{c_entries}\">{}</td>\
             <td data-label=\"{c_last}\">{when}</td><td data-label=\"{c_outcome}\" class=\"{class}\">{}</td>\
             <td data-label=\"{c_next}\">{next}</td><td data-label=\"{c_details}\">{}</td></tr>",
            match &s.title {
                Some(title) => format!("{} ({})", esc(title), esc(&s.name)),
                None => esc(&s.name),
            },
            esc(&s.location),
            s.entries,
            outcome.map_or(l.not_polled, |o| (l.outcome)(o)),
            details.join("<br>")
        );
    }
    h.push_str("</table>\n</main>\n</body>\n</html>\n");
    h.into_bytes()
}

/// Whether a source's last poll failed.
fn is_failing(s: &SourceStatus) -> bool {
    s.state.as_ref().and_then(|st| st.last_outcome) == Some(Outcome::Error)
}

/// What the status page says of a source beyond its outcome: paused,
/// failing full texts, filtered entries, its error and warning, a move.
fn source_details(l: &Labels, s: &SourceStatus) -> Vec<String> {
    let state = s.state.as_ref();
    let mut details = Vec::new();
    if s.paused {
        details.push(l.paused.to_string());
    }
    if let Some(st) = state {
        if st.full_text_failures > 0 {
            details.push(format!(
                "{} {}",
                (l.full_text_failed)(st.full_text_failures),
                esc(st.last_full_text_error.as_deref().unwrap_or(""))
            ));
        }
        if st.last_filtered > 0 {
            details.push((l.filtered)(st.last_filtered as u64));
        }
        if let Some(e) = &st.last_error {
            details.push(esc(e));
        }
        if let Some(w) = &st.warning {
            details.push(format!("{} {}", l.warning, esc(w)));
        }
        if st.consecutive_failures > 1 {
            details.push((l.in_a_row)(st.consecutive_failures as u64));
        }
        if let Some(to) = &st.permanent_redirect {
            details.push(format!(
                "{} {} {}",
                l.moved,
                esc(&crate::redact::redacted_str(to)),
                l.update_config
            ));
        }
        if st.gone {
            details.push(l.gone.into());
        }
        // (Said only when some were: "0%" on every new or failing source
        // is clutter.)
        if st.not_modified > 0
            && let Some(share) = (st.not_modified * 100).checked_div(st.polls)
        {
            details.push((l.not_modified_share)(share as u64));
        }
    }
    details
}

/// The status page's table of sections: entries and each feed's links.
fn sections_table(h: &mut String, l: &Labels, base_url: &str, sections: &[SectionSummary]) {
    let [c_section, c_entries, c_feeds] = l.section_columns;
    let [c_entries_label, c_feeds_label] = [c_entries, c_feeds].map(|c| format!("{c}{}", l.colon));
    let _ = writeln!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th scope=\"col\">{c_section}</th><th scope=\"col\">{c_entries}</th><th scope=\"col\">{c_feeds}</th></tr>",
        l.sections
    );
    for s in sections {
        let _ = write!(h, "<tr><td><strong>{}</strong>", esc(&s.title));
        if let Some(d) = &s.description {
            let _ = write!(h, "<br>{}", esc(d));
        }
        let _ = write!(h, "</td><td data-label=\"{c_entries_label}\">{}", s.entries);
        if s.filtered > 0 {
            let _ = write!(h, "<br><small>{}</small>", (l.kept_out)(s.filtered as u64));
        }
        let _ = write!(h, "</td><td data-label=\"{c_feeds_label}\">");
        if s.private {
            let _ = write!(h, "{}</td></tr>", l.private);
            continue;
        }
        for (i, format) in Format::ALL.into_iter().enumerate() {
            let _ = write!(
                h,
                "{}<a href=\"{}\">{}</a>",
                if i > 0 { " · " } else { "" },
                esc(&section_url(base_url, &s.slug, format)),
                esc(&super::pages::feed_link_text(l.lang, format, &s.title))
            );
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</table>\n");
}

/// The stories the desk handled by hand (`thau hide`, `pin`, `pick`),
/// when there are any: what was done, when, and why.
fn desk_table(h: &mut String, l: &Labels, desk: &crate::config::Config, date: &dyn Fn(DateTime<Utc>) -> String) {
    let mut rows: Vec<(&str, String, Option<DateTime<Utc>>, &str)> = Vec::new();
    for s in &desk.hidden {
        rows.push((
            &s.story,
            l.hidden_action.to_string(),
            s.at,
            s.reason.as_deref().unwrap_or(""),
        ));
    }
    let title = |slug: &str| match desk.sections.iter().find(|s| s.slug == slug) {
        Some(s) => s.title.clone(),
        None => l.front.to_string(),
    };
    for s in &desk.pinned {
        let mut action = (l.pinned_action)(&title(&s.section));
        if let Some(until) = s.until {
            action = format!("{action} {} {}", l.until, date(until));
        }
        rows.push((&s.story, action, s.at, ""));
    }
    for s in &desk.picked {
        rows.push((&s.story, (l.picked_action)(&title(&s.section)), s.at, ""));
    }
    if rows.is_empty() {
        return;
    }
    let [c_story, c_action, c_at, c_reason] = l.hidden_columns;
    let [c_action_label, c_at_label, c_reason_label] = [c_action, c_at, c_reason].map(|c| format!("{c}{}", l.colon));
    let _ = writeln!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th scope=\"col\">{c_story}</th><th scope=\"col\">{c_action}</th><th scope=\"col\">{c_at}</th><th scope=\"col\">{c_reason}</th></tr>",
        l.hidden
    );
    for (story, action, at, reason) in rows {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td data-label=\"{c_action_label}\">{}</td><td data-label=\"{c_at_label}\">{}</td><td data-label=\"{c_reason_label}\">{}</td></tr>",
            esc(story),
            esc(&action),
            at.map(date).unwrap_or_default(),
            esc(reason)
        );
    }
    h.push_str("</table>\n");
}

/// One column on a wide screen; on a phone each row is a block whose cells
/// say what they are (`data-label`), so nothing scrolls sideways.
const STATUS_STYLE: &str = concat!(
    "<style>body{font-family:system-ui,sans-serif;max-width:70em;margin:1em auto;padding:0 1em;line-height:1.4}",
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}",
    "td{overflow-wrap:anywhere}.error{color:#a00}.ok{color:#060}pre{white-space:pre-wrap;overflow-wrap:anywhere}",
    "@media (max-width:40em){table,tbody,tr,td{display:block}tr:first-child{display:none}",
    "tr{border-bottom:2px solid #ccc;padding:.4em 0}td{border:0;padding:.1em 0}",
    "td[data-label]::before{content:attr(data-label);color:#555}}",
    "@media (prefers-color-scheme:dark){body{color:#ddd;background:#121212}a{color:#8ab4f8}",
    ".error{color:#f88}.ok{color:#8c8}th,td{border-color:#333}}</style>\n"
);

/// The status page's words, in each language the site is written in.
struct Labels {
    lang: Language,
    /// What follows a label: ": " in English, " : " in French.
    colon: &'static str,
    title: &'static str,
    all_ok: fn(usize) -> String,
    failing: fn(usize, usize) -> String,
    store_error: &'static str,
    config_error: &'static str,
    subscribe: &'static str,
    sections: &'static str,
    sources: &'static str,
    section_columns: [&'static str; 3],
    private: &'static str,
    hidden: &'static str,
    hidden_columns: [&'static str; 4],
    hidden_action: &'static str,
    pinned_action: fn(&str) -> String,
    picked_action: fn(&str) -> String,
    until: &'static str,
    front: &'static str,
    source_columns: [&'static str; 6],
    never: &'static str,
    not_polled: &'static str,
    outcome: fn(Outcome) -> &'static str,
    paused: &'static str,
    full_text_failed: fn(u64) -> String,
    filtered: fn(u64) -> String,
    kept_out: fn(u64) -> String,
    warning: &'static str,
    in_a_row: fn(u64) -> String,
    moved: &'static str,
    update_config: &'static str,
    gone: &'static str,
    not_modified_share: fn(u64) -> String,
}

const EN: Labels = Labels {
    lang: Language::En,
    colon: ": ",
    title: "Status",
    all_ok: |n| format!("All {n} sources polled without error."),
    failing: |n, of| format!("{n} of {of} {} failing:", if of == 1 { "source" } else { "sources" }),
    store_error: "The store cannot be written: polls fail until it can (thau retries every few seconds).",
    config_error: "feeds.toml has errors; the previous configuration is still running:",
    subscribe: "Section feeds to subscribe to; all of them at once:",
    sections: "Sections",
    sources: "Sources",
    section_columns: ["Section", "Entries", "Feeds"],
    private: "private: for subscribers with a key",
    hidden: "Stories handled by hand",
    hidden_columns: ["Story", "Done", "On", "Reason"],
    hidden_action: "hidden",
    pinned_action: |s| format!("leads {s}"),
    picked_action: |s| format!("put in {s}"),
    until: "until",
    front: "the front page",
    source_columns: ["Source", "Entries", "Last poll", "Outcome", "Next poll", "Details"],
    never: "never",
    not_polled: "not polled yet",
    outcome: Outcome::as_str,
    paused: "paused (enabled = false): not polled, entries kept",
    full_text_failed: |n| format!("{n} full-text extractions failed (the teaser was kept); last:"),
    filtered: |n| format!("{n} of the last document kept out by include/exclude"),
    kept_out: |n| format!("{n} kept out by include/exclude"),
    warning: "warning:",
    in_a_row: |n| format!("{n} failures in a row"),
    moved: "moved permanently to",
    update_config: "(update feeds.toml)",
    gone: "gone (HTTP 410): no longer polled; remove it or change its url",
    not_modified_share: |n| format!("{n}% of polls not modified"),
};

const FR: Labels = Labels {
    lang: Language::Fr,
    colon: "\u{a0}: ",
    title: "État des sources",
    all_ok: |n| format!("Les {n} sources ont été relevées sans erreur."),
    failing: |n, of| format!("{n} {} sur {of} en échec :", if n == 1 { "source" } else { "sources" }),
    store_error: "Le stockage ne peut pas être écrit : les relevés échouent jusqu'à ce qu'il le puisse (thau réessaie toutes les quelques secondes).",
    config_error: "feeds.toml contient des erreurs ; la configuration précédente reste en service :",
    subscribe: "Les fils des rubriques, pour s'abonner ; tous à la fois :",
    sections: "Rubriques",
    sources: "Sources",
    section_columns: ["Rubrique", "Articles", "Fils"],
    private: "privée : pour les abonnés munis d'une clé",
    hidden: "Articles traités à la main",
    hidden_columns: ["Article", "Action", "Le", "Motif"],
    hidden_action: "retiré",
    pinned_action: |s| format!("en tête de {s}"),
    picked_action: |s| format!("ajouté à {s}"),
    until: "jusqu'au",
    front: "la une",
    source_columns: [
        "Source",
        "Articles",
        "Dernier relevé",
        "Résultat",
        "Prochain relevé",
        "Détails",
    ],
    never: "jamais",
    not_polled: "pas encore relevée",
    outcome: |o| match o {
        Outcome::New => "nouveaux articles",
        Outcome::Updated => "articles mis à jour",
        Outcome::Unchanged => "inchangée",
        Outcome::NotModified => "non modifiée (304)",
        Outcome::Deferred => "reportée",
        Outcome::Error => "erreur",
    },
    paused: "en pause (enabled = false) : non relevée, articles conservés",
    full_text_failed: |n| format!("{n} extractions du texte intégral ont échoué (le résumé a été gardé) ; dernière :"),
    filtered: |n| format!("{n} du dernier document écartés par include/exclude"),
    kept_out: |n| format!("{n} écartés par include/exclude"),
    warning: "avertissement :",
    in_a_row: |n| format!("{n} échecs d'affilée"),
    moved: "déplacée définitivement vers",
    update_config: "(mettez feeds.toml à jour)",
    gone: "disparue (HTTP 410) : plus relevée ; retirez-la ou changez son url",
    not_modified_share: |n| format!("{n} % des relevés non modifiés"),
};

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
