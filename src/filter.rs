//! Include/exclude filters of a source (what is stored) or a section (what
//! it shows): keywords matched as whole words, or `/regular expressions/`,
//! on an entry's title, summary, categories and authors, ignoring case and
//! accents as category routing does ("Sète" = "sete"). Pure; depends on
//! `model` and `normalize` (HTML to text).

use crate::model::{Entry, fold};
use crate::normalize::html_to_text;

/// What `include` and `exclude` say. An entry is kept when it matches one
/// `include` pattern (or there is none) and no `exclude` pattern.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub include: Vec<Pattern>,
    pub exclude: Vec<Pattern>,
}

/// One keyword (or phrase), or a `/regex/`.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As written in feeds.toml.
    pub written: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Folded words, matched as a sequence.
    Words(Vec<String>),
    Regex(regex::Regex),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.written == other.written
    }
}

impl Pattern {
    /// `"joutes nautiques"` or `"/^agenda\b/"`; a bad expression is an
    /// error that says why.
    pub fn parse(written: &str) -> Result<Pattern, String> {
        let kind = match written.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) if !re.is_empty() => Kind::Regex(
                regex::RegexBuilder::new(re)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        format!(
                            "not a regular expression: {}",
                            e.to_string().lines().last().unwrap_or("")
                        )
                    })?,
            ),
            _ => {
                let words = words(written);
                if words.is_empty() {
                    return Err("a keyword needs a letter or a digit".into());
                }
                Kind::Words(words)
            }
        };
        Ok(Pattern {
            written: written.to_string(),
            kind,
        })
    }

    fn matches(&self, text: &Text) -> bool {
        match &self.kind {
            Kind::Words(k) => text.words.windows(k.len()).any(|w| w == k.as_slice()),
            // Against the text as written and folded: "/mèze/" and "/meze/"
            // both find "Mèze".
            Kind::Regex(re) => re.is_match(&text.plain) || re.is_match(&text.folded),
        }
    }
}

/// An entry's text as filters read it.
struct Text {
    plain: String,
    folded: String,
    words: Vec<String>,
}

impl Text {
    fn of(e: &Entry) -> Text {
        let mut plain = e.title.clone();
        for html in [&e.summary, &e.content].into_iter().flatten().take(1) {
            plain.push('\n');
            plain.push_str(&html_to_text(html));
        }
        for c in &e.categories {
            plain.push('\n');
            plain.push_str(c);
        }
        for a in &e.authors {
            plain.push('\n');
            plain.push_str(&a.name);
        }
        let folded = fold(&plain);
        Text {
            words: split(&folded),
            folded,
            plain,
        }
    }
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether `entry` passes.
    pub fn keeps(&self, entry: &Entry) -> bool {
        if self.is_empty() {
            return true;
        }
        let text = Text::of(entry);
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(&text)))
            && !self.exclude.iter().any(|p| p.matches(&text))
    }
}

/// Folded words: letters and digits, accents and case dropped.
pub fn words(text: &str) -> Vec<String> {
    split(&fold(text))
}

fn split(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        Filter {
            include: include.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            exclude: exclude.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
        }
    }

    fn entry(title: &str, summary: &str, categories: &[&str], author: Option<&str>) -> Entry {
        let mut e = crate::model::tests_support::entry(title);
        e.summary = Some(summary.to_string());
        e.categories = categories.iter().map(|c| c.to_string()).collect();
        e.authors = author
            .map(|a| crate::model::Person {
                name: a.into(),
                email: None,
                uri: None,
            })
            .into_iter()
            .collect();
        e
    }

    #[test]
    fn keywords_match_whole_words_without_case_or_accents_anywhere_in_the_entry() {
        let f = filter(&["meze", "joutes nautiques"], &[]);
        assert!(f.keeps(&entry("Fête à MÈZE", "", &[], None)));
        assert!(f.keeps(&entry("x", "<p>Les <b>joutes</b> nautiques</p>", &[], None)));
        assert!(f.keeps(&entry("x", "", &["Mèze"], None)));
        assert!(!f.keeps(&entry("Mézence", "joutes", &[], None)), "whole words only");
        let f = filter(&[], &["publi-reportage", "Agence Presse"]);
        assert!(!f.keeps(&entry("x", "", &["Publi-Reportage"], None)));
        assert!(!f.keeps(&entry("x", "", &[], Some("agence presse"))));
        assert!(f.keeps(&entry("Sète", "", &[], Some("Camille Roux"))));
    }

    #[test]
    fn regular_expressions_match_the_text_as_written_or_folded() {
        // Written without accents, a pattern finds the word with or
        // without them (it is matched against the folded text too).
        let f = filter(&["/^agenda\\b/"], &["/\\bmeze\\b/"]);
        assert!(f.keeps(&entry("Agenda du week-end", "", &[], None)));
        assert!(!f.keeps(&entry("L'agenda", "", &[], None)));
        assert!(!f.keeps(&entry("Agenda à Meze", "", &[], None)));
        assert!(!f.keeps(&entry("Agenda à MÈZE", "", &[], None)), "folded text");
        // Written with them, it finds the text as written.
        let f = filter(&[], &["/mèze/"]);
        assert!(!f.keeps(&entry("Agenda à Mèze", "", &[], None)), "written text");
        assert!(f.keeps(&entry("Agenda à Meze", "", &[], None)));
        assert!(
            Pattern::parse("/(/")
                .unwrap_err()
                .starts_with("not a regular expression")
        );
        assert!(Pattern::parse("  ").is_err());
    }
}
