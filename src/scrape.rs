//! Pages without feeds (as FreshRSS's XPath scraping and RSS-Bridge do): a
//! source with `[sources.scrape]` is a web page read with CSS selectors
//! (dom_query over html5ever, the parser readability already uses) into an RSS 2.0 document, which then goes
//! through the normal path: absolute links, sanitized HTML, stable ids from
//! the links, first-seen dates for what is undated, conditional GET. Dates
//! may be ISO 8601, RFC 2822, or French ("24 novembre 2026 à 14h30");
//! relative ages ("il y a 2 semaines") are not dates: such stories are
//! dated when first seen. Pure; depends on `dates`.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use dom_query::{Document, Matcher, NodeRef, Selection};
use url::Url;

const NOT_A_SELECTOR: &str = "not a CSS selector (such as \"article.news\" or \"h2 a\")";

/// `[sources.scrape]`: one selector per field, `selector@attribute` to read
/// an attribute, `@attribute` for the story's own element.
#[derive(Debug, Clone)]
pub struct Rules {
    pub item: Sel,
    pub title: Field,
    pub link: Field,
    pub summary: Option<Field>,
    pub date: Option<Field>,
    pub image: Option<Field>,
    pub category: Option<Field>,
}

impl PartialEq for Rules {
    fn eq(&self, other: &Rules) -> bool {
        let all = |r: &Rules| {
            [
                Some(&r.title),
                Some(&r.link),
                r.summary.as_ref(),
                r.date.as_ref(),
                r.image.as_ref(),
                r.category.as_ref(),
            ]
            .map(|f| f.map(|f| f.written.clone()))
        };
        self.item.written == other.item.written && all(self) == all(other)
    }
}

/// A CSS selector and how it was written.
#[derive(Debug, Clone)]
pub struct Sel {
    pub written: String,
    selector: Matcher,
}

impl Sel {
    pub fn parse(written: &str) -> Result<Sel, String> {
        let selector = Matcher::new(written.trim()).map_err(|_| NOT_A_SELECTOR.to_string())?;
        Ok(Sel {
            written: written.to_string(),
            selector,
        })
    }
}

/// Where a field is: an element in the story (or the story itself) and,
/// optionally, one of its attributes; else its text.
#[derive(Debug, Clone)]
pub struct Field {
    pub written: String,
    selector: Option<Matcher>,
    attribute: Option<String>,
}

impl Field {
    pub fn parse(written: &str) -> Result<Field, String> {
        if written.trim().is_empty() || written.trim().ends_with('@') {
            return Err("give a CSS selector, selector@attribute, or @attribute".into());
        }
        let (css, attribute) = match written.rsplit_once('@') {
            Some((css, attr)) if !attr.trim().is_empty() && !attr.contains(['[', ']', ' ']) => {
                (css.trim(), Some(attr.trim().to_string()))
            }
            _ => (written.trim(), None),
        };
        let selector = if css.is_empty() {
            if attribute.is_none() {
                return Err("give a CSS selector, selector@attribute, or @attribute".into());
            }
            None
        } else {
            Some(Matcher::new(css).map_err(|_| NOT_A_SELECTOR.to_string())?)
        };
        Ok(Field {
            written: written.to_string(),
            selector,
            attribute,
        })
    }

    fn read(&self, item: NodeRef<'_>) -> Option<String> {
        /// The text a reader sees: not what scripts, styles and templates hold.
        fn visible_text(element: NodeRef<'_>) -> String {
            let hidden = |n: &NodeRef<'_>| {
                n.node_name()
                    .is_some_and(|name| matches!(&*name, "script" | "style" | "template" | "noscript"))
            };
            let mut out = Vec::new();
            for node in element.descendants_it() {
                if node.is_text() && !node.ancestors_it(None).any(|a| hidden(&a)) {
                    out.push(node.text().to_string());
                }
            }
            out.join(" ")
        }
        let element = match &self.selector {
            Some(s) => *Selection::from(item).select_single_matcher(s).nodes().first()?,
            None => item,
        };
        let value = match &self.attribute {
            Some(a) => element.attr(a)?.to_string(),
            None => visible_text(element),
        };
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        (!value.is_empty()).then_some(value)
    }
}

/// One story as the selectors read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Story {
    pub title: String,
    pub link: Option<String>,
    pub summary: Option<String>,
    /// As written on the page.
    pub date_text: Option<String>,
    pub date: Option<DateTime<Utc>>,
    pub image: Option<String>,
    pub category: Option<String>,
}

/// The stories of a page (links and images made absolute against `base`).
pub fn extract(html: &str, base: Option<&Url>, rules: &Rules, zone: Option<Tz>) -> (Option<String>, Vec<Story>) {
    // Bounded as feed content is: a page nested 40,000 deep took html5ever
    // half a minute.
    let doc = Document::from(crate::normalize::nesting::bound(html).as_ref());
    let page_title = Some(doc.select_single("title").text())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    // The page's `<base href>`, against where it came from.
    let declared = doc
        .select_single("base[href]")
        .attr("href")
        .and_then(|href| match base {
            Some(b) => b.join(&href).ok(),
            None => Url::parse(&href).ok(),
        });
    let base = declared.as_ref().or(base);
    let absolute = |u: String| match base {
        Some(b) => b.join(&u).map(String::from).unwrap_or(u),
        None => u,
    };
    let stories = doc
        .select_matcher(&rules.item.selector)
        .nodes()
        .iter()
        .filter_map(|&item| {
            let title = rules.title.read(item)?;
            let date_text = rules.date.as_ref().and_then(|f| f.read(item));
            Some(Story {
                title,
                link: rules.link.read(item).map(absolute),
                summary: rules.summary.as_ref().and_then(|f| f.read(item)),
                date: date_text.as_deref().and_then(|d| parse_date(d, zone)),
                date_text,
                image: rules.image.as_ref().and_then(|f| f.read(item)).map(absolute),
                category: rules.category.as_ref().and_then(|f| f.read(item)),
            })
        })
        .collect();
    (page_title, stories)
}

/// The stories as an RSS 2.0 document, for the normal pipeline.
pub fn to_rss(page_title: Option<&str>, page: Option<&Url>, stories: &[Story]) -> Vec<u8> {
    let esc = crate::normalize::escape_html;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel>\n");
    x.push_str(&format!("<title>{}</title>\n", esc(page_title.unwrap_or("Page"))));
    if let Some(p) = page {
        x.push_str(&format!("<link>{}</link>\n", esc(p.as_str())));
    }
    for s in stories {
        x.push_str("<item>");
        x.push_str(&format!("<title>{}</title>", esc(&s.title)));
        if let Some(l) = &s.link {
            x.push_str(&format!(
                "<link>{}</link><guid isPermaLink=\"true\">{}</guid>",
                esc(l),
                esc(l)
            ));
        }
        let mut html = String::new();
        if let Some(img) = &s.image {
            html.push_str(&format!("<img src=\"{}\" alt=\"\">", esc(img)));
        }
        if let Some(summary) = &s.summary {
            html.push_str(&format!("<p>{}</p>", esc(summary)));
        }
        if !html.is_empty() {
            x.push_str(&format!("<description>{}</description>", esc(&html)));
        }
        if let Some(d) = s.date {
            x.push_str(&format!("<pubDate>{}</pubDate>", d.to_rfc2822()));
        }
        if let Some(c) = &s.category {
            x.push_str(&format!("<category>{}</category>", esc(c)));
        }
        x.push_str("</item>\n");
    }
    x.push_str("</channel></rss>\n");
    x.into_bytes()
}

/// A date as pages write them: ISO 8601 / RFC 2822 (what feeds use), or
/// French ("24 novembre 2026", "1er décembre 2026 à 14h30", "24/11/2026").
/// A relative age is no date.
pub fn parse_date(text: &str, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    if let Some(d) = crate::dates::parse_in(text, zone) {
        return Some(d);
    }
    let folded = crate::model::fold(text);
    if folded.contains("il y a") || folded.contains("aujourd") || folded.contains("hier") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    ];
    let words: Vec<&str> = folded
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut date = None;
    for w in words.windows(3) {
        let day = w[0].trim_end_matches("er").parse::<u32>().ok();
        let month = MONTHS.iter().position(|m| *m == w[1]).map(|m| m as u32 + 1);
        let year = w[2].trim_end_matches('.').parse::<i32>().ok();
        if let (Some(d), Some(m), Some(y)) = (day, month, year) {
            date = NaiveDate::from_ymd_opt(y, m, d);
            break;
        }
    }
    if date.is_none() {
        // 24/11/2026 (day first, as in France).
        date = words.iter().find_map(|w| {
            let mut parts = w.split(['/', '.']);
            let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        });
    }
    let date = date?;
    // "à 14h30", "14:30"
    let time = words
        .iter()
        .find_map(|w| {
            let (h, m) = w.split_once(['h', ':'])?;
            let m = if m.is_empty() { "0" } else { m };
            NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
        })
        .unwrap_or(NaiveTime::MIN);
    let local = date.and_time(time);
    match zone {
        Some(tz) => tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)),
        None => Some(local.and_utc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_dates_are_read_and_relative_ages_are_not_dates() {
        let paris = Some(chrono_tz::Europe::Paris);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(parse_date("24 novembre 2026", paris), Some(at("2026-11-23T23:00:00Z")));
        assert_eq!(
            parse_date("Le 1er décembre 2026 à 14h30", paris),
            Some(at("2026-12-01T13:30:00Z"))
        );
        assert_eq!(parse_date("24/11/2026", None), Some(at("2026-11-24T00:00:00Z")));
        assert_eq!(
            parse_date("2026-11-24T08:00:00+01:00", None),
            Some(at("2026-11-24T07:00:00Z"))
        );
        assert_eq!(parse_date("il y a 2 semaines", paris), None);
        assert_eq!(parse_date("Publié hier", paris), None);
    }

    #[test]
    fn fields_read_text_attributes_or_the_story_itself() {
        let rules = Rules {
            item: Sel::parse("article.news").unwrap(),
            title: Field::parse("h2").unwrap(),
            link: Field::parse("a@href").unwrap(),
            summary: Some(Field::parse("p.chapo").unwrap()),
            date: Some(Field::parse("time@datetime").unwrap()),
            image: Some(Field::parse("img@src").unwrap()),
            category: Some(Field::parse("@data-rubrique").unwrap()),
        };
        let html = r#"<html><head><title> Mairie </title></head><body>
            <article class="news" data-rubrique="Travaux"><h2> Rue   du Port </h2><a href="/actus/port">Lire</a>
              <p class="chapo">Travaux &amp; déviation.</p><time datetime="2026-11-24">24 nov.</time><img src="img/port.jpg"></article>
            <article class="news"><a href="/sans-titre">x</a></article></body></html>"#;
        let base = Url::parse("https://mairie.example/actualites").unwrap();
        let (title, stories) = extract(html, Some(&base), &rules, None);
        assert_eq!(title.as_deref(), Some("Mairie"));
        assert_eq!(stories.len(), 1, "a story without a title is skipped");
        let s = &stories[0];
        assert_eq!(s.title, "Rue du Port");
        assert_eq!(s.link.as_deref(), Some("https://mairie.example/actus/port"));
        assert_eq!(s.summary.as_deref(), Some("Travaux & déviation."));
        assert_eq!(s.image.as_deref(), Some("https://mairie.example/img/port.jpg"));
        assert_eq!(s.category.as_deref(), Some("Travaux"));
        assert!(s.date.is_some());
        assert!(Field::parse("@").is_err());
        assert!(Sel::parse("article[").is_err());
    }
}
