//! Which sections an entry belongs to: the union of the `sections` of every
//! configured source that carried it, the sections whose `categories` match
//! one of its categories, and the sections whose `keywords` appear in its
//! title or summary. Matching ignores case and accents ("Sète" = "SETE",
//! "Mèze" = "Meze"). Pure; depends on `config`, `model` and `store`'s
//! [`Routing`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::config::Config;
use crate::filter::words;
use crate::model::{Entry, fold};
use crate::normalize::html_to_text;
use crate::store::Routing;

/// The routing rules of one configuration.
#[derive(Debug, Clone)]
pub struct Router {
    sections: Vec<Rule>,
    /// Configured sources; entries of removed sources are routed nowhere.
    sources: HashSet<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    slug: String,
    sources: HashSet<String>,
    categories: HashSet<String>,
    /// Each keyword as its folded words (a phrase matches as a sequence).
    keywords: Vec<Vec<String>>,
    /// The section's `include`/`exclude`.
    filter: crate::filter::Filter,
}

/// Whether an entry belongs to a section, all told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    In,
    Out,
    /// It would belong, but the section's `include`/`exclude` keeps it out.
    Filtered,
}

/// Whether an entry belongs to a section, as far as its routing row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    In,
    Out,
    /// Only its keywords can tell: look at the entry's text.
    NeedsText,
}

impl Router {
    pub fn new(config: &Config) -> Router {
        let mut by_section: HashMap<&str, HashSet<String>> = HashMap::new();
        for source in &config.sources {
            for slug in &source.sections {
                by_section.entry(slug.as_str()).or_default().insert(source.name.clone());
            }
        }
        let sections = config
            .sections
            .iter()
            .map(|s| Rule {
                slug: s.slug.clone(),
                sources: by_section.remove(s.slug.as_str()).unwrap_or_default(),
                categories: s.categories.iter().map(|c| fold(c)).collect(),
                keywords: s.keywords.iter().map(|k| words(k)).filter(|w| !w.is_empty()).collect(),
                filter: s.filter.clone(),
            })
            .collect();
        Router {
            sections,
            sources: config.sources.iter().map(|s| s.name.clone()).collect(),
        }
    }

    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.slug.as_str())
    }

    /// The verdict for section number `index` (in configuration order).
    pub fn verdict(&self, index: usize, routing: &Routing) -> Verdict {
        let rule = &self.sections[index];
        if !routing.sources.iter().any(|s| self.sources.contains(s)) {
            return Verdict::Out;
        }
        if routing.sources.iter().any(|s| rule.sources.contains(s))
            || routing.categories.iter().any(|c| rule.categories.contains(c))
        {
            return Verdict::In;
        }
        if rule.keywords.is_empty() {
            Verdict::Out
        } else {
            Verdict::NeedsText
        }
    }

    /// Whether the entry behind `routing` belongs to section `index`. Its
    /// text is asked for (`entry`) only when the section's keywords decide;
    /// an entry no longer stored belongs nowhere.
    pub fn member<E>(
        &self,
        index: usize,
        routing: &Routing,
        entry: impl FnOnce() -> Result<Option<Arc<Entry>>, E>,
    ) -> Result<bool, E> {
        Ok(self.classify(index, routing, entry)? == Membership::In)
    }

    /// As [`Router::member`], telling apart an entry the section's
    /// `include`/`exclude` keeps out.
    pub fn classify<E>(
        &self,
        index: usize,
        routing: &Routing,
        entry: impl FnOnce() -> Result<Option<Arc<Entry>>, E>,
    ) -> Result<Membership, E> {
        let filter = &self.sections[index].filter;
        let verdict = self.verdict(index, routing);
        if verdict == Verdict::Out {
            return Ok(Membership::Out);
        }
        if verdict == Verdict::In && filter.is_empty() {
            return Ok(Membership::In);
        }
        // Keywords or the section's include/exclude read the entry's text.
        let Some(e) = entry()? else { return Ok(Membership::Out) };
        if verdict == Verdict::NeedsText && !self.keywords_match(index, &e) {
            return Ok(Membership::Out);
        }
        Ok(if filter.keeps(&e) {
            Membership::In
        } else {
            Membership::Filtered
        })
    }

    /// Whether section `index`'s keywords appear in the entry's title or summary.
    pub fn keywords_match(&self, index: usize, entry: &Entry) -> bool {
        let rule = &self.sections[index];
        let mut text = entry.title.clone();
        if let Some(summary) = &entry.summary {
            text.push(' ');
            text.push_str(&html_to_text(summary));
        }
        let text = words(&text);
        rule.keywords
            .iter()
            .any(|k| text.windows(k.len()).any(|w| w == k.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn router() -> Router {
        let config = Config::parse(
            r#"
[[sections]]
slug = "sete"
title = "Sète"
categories = ["Sète"]
[[sections]]
slug = "meze"
title = "Mèze"
categories = ["Mèze"]
[[sections]]
slug = "joutes"
title = "Joutes"
keywords = ["joutes nautiques", "Saint-Louis"]
[[sections]]
slug = "journal"
title = "Journal"
[[sources]]
name = "journal"
url = "https://journal.example/rss"
sections = ["journal"]
[[sources]]
name = "mairie"
url = "https://mairie.example/rss"
"#,
            Path::new("feeds.toml"),
        )
        .unwrap();
        Router::new(&config)
    }

    fn routing(sources: &[&str], categories: &[&str]) -> Routing {
        Routing {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            categories: categories.iter().map(|c| fold(c)).collect(),
        }
    }

    #[test]
    fn categories_match_without_case_or_accents() {
        let r = router();
        for c in ["Sète", "sete", "SÈTE"] {
            assert_eq!(r.verdict(0, &routing(&["mairie"], &[c])), Verdict::In, "{c}");
        }
        assert_eq!(r.verdict(1, &routing(&["mairie"], &["Meze"])), Verdict::In);
        assert_eq!(r.verdict(1, &routing(&["mairie"], &["Sète"])), Verdict::Out);
    }

    #[test]
    fn a_source_routes_all_its_entries_and_a_removed_source_none() {
        let r = router();
        assert_eq!(r.verdict(3, &routing(&["journal"], &[])), Verdict::In);
        assert_eq!(r.verdict(3, &routing(&["mairie"], &[])), Verdict::Out);
        assert_eq!(r.verdict(0, &routing(&["gone"], &["Sète"])), Verdict::Out);
        assert_eq!(r.verdict(0, &routing(&["gone", "mairie"], &["Sète"])), Verdict::In);
    }

    #[test]
    fn keywords_match_whole_words_and_phrases_in_title_or_summary() {
        let r = router();
        assert_eq!(r.verdict(2, &routing(&["mairie"], &[])), Verdict::NeedsText);
        let mut e = crate::model::tests_support::entry("Les JOUTES nautiques reprennent");
        assert!(r.keywords_match(2, &e));
        e.title = "Joutes".into();
        e.summary = Some("<p>Fête de la <b>Saint-Louis</b></p>".into());
        assert!(r.keywords_match(2, &e));
        e.summary = Some("<p>Les joutes sont nautiques</p>".into());
        assert!(!r.keywords_match(2, &e));
    }
}
