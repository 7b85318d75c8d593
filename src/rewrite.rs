//! A source's rewrite rules (`[[sources.rewrite]]`, `remove`): small,
//! durable fixes to what it publishes (a title prefix to drop, a newsletter
//! box to cut, a tracking redirect to undo), applied to each new or changed
//! entry before it is filtered, deduplicated and stored: summary and
//! content rules and `remove` selectors on the HTML as the source wrote it
//! (so a selector can name its classes), before it is sanitized; title and
//! link rules on the entry made of it. A rewritten link is made canonical
//! again and stays the entry's key when it was. Depends on `model` and
//! `normalize`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::model::Entry;
use crate::normalize::canonical_url;

/// What a rule rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Title,
    Summary,
    Content,
    Link,
}

impl Field {
    pub fn parse(s: &str) -> Option<Field> {
        Some(match s {
            "title" => Field::Title,
            "summary" => Field::Summary,
            "content" => Field::Content,
            "link" => Field::Link,
            _ => return None,
        })
    }
}

/// One `[[sources.rewrite]]`: `pattern` (a regular expression) replaced by
/// `replace` (`$1`, `${name}` name its groups) in `field`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub field: Field,
    pub pattern: regex::Regex,
    pub replace: String,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.field == other.field && self.pattern.as_str() == other.pattern.as_str() && self.replace == other.replace
    }
}

/// A source's rules, in the order written, and its `remove` selectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rewrites {
    pub rules: Vec<Rule>,
    /// CSS selectors of elements cut from content and summary.
    pub remove: Vec<String>,
}

impl Rewrites {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.remove.is_empty()
    }

    /// A short stamp of the rules: mixed into the fingerprint of each
    /// entry, so that entries are rewritten again when the rules change.
    pub fn stamp(&self) -> String {
        let mut h = DefaultHasher::new();
        for r in &self.rules {
            (r.field, r.pattern.as_str(), &r.replace).hash(&mut h);
        }
        self.remove.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// A summary's or content's HTML as the source wrote it, rewritten
    /// (`remove` selectors cut, then the field's rules), before it is
    /// sanitized; None when nothing changed.
    pub fn raw_html(&self, field: Field, html: &str) -> Option<String> {
        let cut = remove_elements(html, &self.remove);
        let mut text = cut.clone().unwrap_or_else(|| html.to_string());
        let mut changed = cut.is_some();
        for rule in self.rules.iter().filter(|r| r.field == field) {
            if let std::borrow::Cow::Owned(new) = rule.pattern.replace_all(&text, rule.replace.as_str())
                && new != text
            {
                text = new;
                changed = true;
            }
        }
        changed.then_some(text)
    }

    /// Applies the title and link rules to `entry` (made of the rewritten
    /// HTML); whether anything changed. A rule that would leave a title
    /// empty, or a link that is no http(s) URL, is not applied: a rule
    /// never loses what readers see.
    pub fn apply(&self, entry: &mut Entry) -> bool {
        let mut changed = false;
        for rule in &self.rules {
            let replaced = |text: &str| match rule.pattern.replace_all(text, rule.replace.as_str()) {
                std::borrow::Cow::Owned(new) if new != text => Some(new),
                _ => None,
            };
            match rule.field {
                Field::Title => {
                    if let Some(new) = replaced(&entry.title).map(|t| t.trim().to_string())
                        && !new.is_empty()
                    {
                        entry.title = new;
                        changed = true;
                    }
                }
                Field::Link => {
                    let Some(old) = entry.link.clone() else { continue };
                    if let Some(new) = replaced(&old).and_then(|l| canonical_url(l.trim(), None))
                        && new.as_str() != old
                    {
                        relink(entry, &old, new.to_string());
                        changed = true;
                    }
                }
                Field::Summary | Field::Content => {}
            }
        }
        changed
    }
}

/// `entry` linked to `new`: its key and id follow when they were its link.
fn relink(entry: &mut Entry, old: &str, new: String) {
    if entry.key == format!("u:{old}") {
        entry.key = format!("u:{new}");
    }
    if entry.id == old {
        entry.id = new.clone();
    }
    entry.link = Some(new);
}

/// `html` without the elements `selectors` match; None when none matched.
pub fn remove_elements(html: &str, selectors: &[String]) -> Option<String> {
    if selectors.is_empty() {
        return None;
    }
    let doc = dom_query::Document::fragment(html);
    let mut cut = false;
    for selector in selectors {
        let found = doc.select(selector);
        if found.exists() {
            found.remove();
            cut = true;
        }
    }
    cut.then(|| doc.html_root().inner_html().to_string())
}

/// Whether `selector` is a CSS selector thau can match.
pub fn valid_selector(selector: &str) -> Result<(), String> {
    dom_query::Matcher::new(selector)
        .map(|_| ())
        .map_err(|_| "not a CSS selector".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests_support::entry;

    fn rule(field: Field, pattern: &str, replace: &str) -> Rule {
        Rule {
            field,
            pattern: regex::Regex::new(pattern).unwrap(),
            replace: replace.into(),
        }
    }

    #[test]
    fn html_rules_and_removals_work_on_the_html_as_written() {
        let rewrites = Rewrites {
            rules: vec![
                rule(Field::Summary, r"\s*Lire la suite.*$", ""),
                rule(Field::Content, "Texte", "Le texte"),
            ],
            remove: vec![".newsletter".into()],
        };
        assert_eq!(
            rewrites
                .raw_html(Field::Summary, "Les travaux commencent. Lire la suite sur notre site")
                .as_deref(),
            Some("Les travaux commencent.")
        );
        assert_eq!(
            rewrites
                .raw_html(
                    Field::Content,
                    "<p>Texte.</p><div class=\"newsletter\"><p>Inscrivez-vous</p></div><p>Fin.</p>"
                )
                .as_deref(),
            Some("<p>Le texte.</p><p>Fin.</p>")
        );
        assert_eq!(rewrites.raw_html(Field::Content, "<p>Rien.</p>"), None);
    }

    #[test]
    fn title_rules_never_empty_a_title() {
        let rewrites = Rewrites {
            rules: vec![
                rule(Field::Title, r"^\[Abonnés\]\s*", ""),
                rule(Field::Title, r"^.*$", ""),
            ],
            remove: Vec::new(),
        };
        let mut e = entry("[Abonnés] Le port de Sète s'agrandit");
        assert!(rewrites.apply(&mut e));
        assert_eq!(e.title, "Le port de Sète s'agrandit");
        assert!(!rewrites.apply(&mut e));
    }

    #[test]
    fn a_rewritten_link_is_canonical_and_keeps_keying_the_entry() {
        let rewrites = Rewrites {
            rules: vec![rule(
                Field::Link,
                r"^https://track\.example/r\?u=(.*)$",
                "https://courrier.example/$1",
            )],
            remove: Vec::new(),
        };
        let mut e = entry("T");
        let old = "https://track.example/r?u=a/1";
        e.link = Some(old.into());
        e.key = format!("u:{old}");
        e.id = old.into();
        assert!(rewrites.apply(&mut e));
        assert_eq!(e.link.as_deref(), Some("https://courrier.example/a/1"));
        assert_eq!(e.key, "u:https://courrier.example/a/1");
        assert_eq!(e.id, "https://courrier.example/a/1");
        // A replacement that is no URL is not applied.
        let bad = Rewrites {
            rules: vec![rule(Field::Link, ".*", "nowhere")],
            remove: Vec::new(),
        };
        assert!(!bad.apply(&mut e));
        assert_eq!(e.link.as_deref(), Some("https://courrier.example/a/1"));
    }
}
