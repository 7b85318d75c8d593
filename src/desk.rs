//! Stories the desk names by hand: taken down (`[[hidden]]`, `thau hide`),
//! leading a section (`[[pinned]]`, `thau pin`) or put in one
//! (`[[picked]]`, `thau pick`). What each names (a story page's id, an
//! entry's id in the feeds, a link) is matched against the store's keys,
//! so that every list the site makes (section feeds and pages, archive
//! pages, digests, the export) follows. Depends on `config`, `model`,
//! `normalize` and `store`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::model::Entry;
use crate::normalize::canonical_url;
use crate::publish::story_id_of_key;
use crate::store::{Store, StoreError};

/// Stories named by hand (the hidden ones, a section's picks, a pin),
/// resolved against a store.
#[derive(Debug, Default, Clone)]
pub struct Named {
    /// Store keys: of stories found by link, and the keys a link or a
    /// linked guid gives (`u:{link}`).
    keys: HashSet<String>,
    /// Story page ids (`/stories/{id}.html`).
    ids: HashSet<String>,
    /// Names as given, and canonical links: matched against an entry's
    /// guids and link (a story that arrives after it was hidden), and
    /// against the guid in keys made of a source's guid.
    names: HashSet<String>,
    /// The latest `at` of the list: what archive pages that lost a story
    /// to it are dated.
    pub since: Option<DateTime<Utc>>,
    /// Keys of stored stories seen to be named ([`Named::add_key`]).
    found: std::collections::BTreeSet<String>,
}

/// The stories taken down by hand.
pub type Hidden = Named;

impl Hidden {
    /// Resolves `config`'s `[[hidden]]` against `store`.
    pub fn hidden(config: &Config, store: &Store) -> Result<Named, StoreError> {
        Named::resolve(config.hidden.iter().map(|h| (h.story.as_str(), h.at)), store)
    }

    /// Resolves stories named by hand, with when they were, against
    /// `store` (a link leads to the key of the story stored under it).
    pub fn resolve<'a>(
        names: impl IntoIterator<Item = (&'a str, Option<DateTime<Utc>>)>,
        store: &Store,
    ) -> Result<Named, StoreError> {
        let mut hidden = Named::default();
        for (name, at) in names {
            let name = name.trim();
            hidden.since = hidden.since.max(at);
            if is_story_id(name) {
                hidden.ids.insert(name.to_ascii_lowercase());
                continue;
            }
            hidden.names.insert(name.to_string());
            if let Some(url) = canonical_url(name, None) {
                let link = url.to_string();
                hidden.keys.insert(format!("u:{link}"));
                if let Some(key) = store.key_of_link(&link)? {
                    hidden.keys.insert(key);
                }
                hidden.names.insert(link);
            }
        }
        Ok(hidden)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.ids.is_empty() && self.names.is_empty()
    }

    /// Whether the story stored under `key` is hidden.
    pub fn covers(&self, key: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.keys.contains(key) {
            return true;
        }
        // `g:{source}\n{guid}`, `h:{source}\n{hash}` (its id `urn:sha256:{hash}`).
        if let Some((kind, rest)) = key.split_once(':')
            && let Some((_, id)) = rest.split_once('\n')
        {
            let hit = match kind {
                "g" => self.names.contains(id),
                "h" => self.names.iter().any(|n| n.strip_prefix("urn:sha256:") == Some(id)),
                _ => false,
            };
            if hit {
                return true;
            }
        }
        !self.ids.is_empty() && self.ids.contains(&story_id_of_key(key))
    }

    /// Whether `entry` is hidden: by its key, its link or one of its ids.
    pub fn covers_entry(&self, entry: &Entry) -> bool {
        self.covers(&entry.key)
            || entry.link.as_ref().is_some_and(|l| self.names.contains(l.as_str()))
            || entry
                .sources
                .iter()
                .filter_map(|s| s.guid.as_deref())
                .any(|g| self.names.contains(g))
    }

    /// Whether a digest's story is hidden: by the key it was frozen with,
    /// or its link.
    pub fn covers_digest_story(&self, story: &crate::digest::Story) -> bool {
        story.key.as_deref().is_some_and(|k| self.covers(k))
            || story.link.as_ref().is_some_and(|l| self.names.contains(l.as_str()))
    }

    /// Counts `key` as named from now on (an entry matched by its text or
    /// its page's id): [`Named::found`] lists it.
    pub fn add_key(&mut self, key: &str) {
        self.keys.insert(key.to_string());
        self.found.insert(key.to_string());
    }

    /// The stored stories found named, by key.
    pub fn found(&self) -> &std::collections::BTreeSet<String> {
        &self.found
    }

    /// The page ids of the stories hidden by key or id: the pages an export
    /// must delete.
    pub fn story_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.ids
            .iter()
            .cloned()
            .chain(self.keys.iter().map(|k| story_id_of_key(k)))
    }
}

/// A story page's id: 20 hexadecimal digits.
pub fn is_story_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `thau hide` records for what an admin pasted: the id of a story
/// page's address (`…/stories/{id}.html`), else the text as given.
pub fn story_name(input: &str) -> String {
    let input = input.trim();
    if let Ok(url) = url::Url::parse(input)
        && let Some(file) = url
            .path()
            .strip_prefix("/stories/")
            .or_else(|| url.path().rsplit_once("/stories/").map(|(_, f)| f))
        && let Some(id) = file.strip_suffix(".html")
        && is_story_id(id)
    {
        return id.to_ascii_lowercase();
    }
    input.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_page_address_names_its_story_by_id() {
        assert_eq!(
            story_name(" http://127.0.0.1:8080/stories/0123456789abcdefABCD.html "),
            "0123456789abcdefabcd"
        );
        assert_eq!(
            story_name("https://desk.example/thau/stories/0123456789abcdef0123.html"),
            "0123456789abcdef0123"
        );
        // Any other address is a link; anything else, an id as the feeds give it.
        assert_eq!(story_name("https://sete.example/a/1"), "https://sete.example/a/1");
        assert_eq!(story_name("tag:courrier,2026:42"), "tag:courrier,2026:42");
    }

    #[test]
    fn keys_made_of_a_guid_or_a_hash_are_matched_by_that_id() {
        let hidden = Named {
            names: ["tag:courrier,2026:42".to_string(), "urn:sha256:abcd".to_string()].into(),
            ..Named::default()
        };
        assert!(hidden.covers("g:courrier\ntag:courrier,2026:42"));
        assert!(hidden.covers("h:mairie\nabcd"));
        assert!(!hidden.covers("g:courrier\ntag:courrier,2026:43"));
        assert!(!hidden.covers("u:https://sete.example/a/1"));
        let by_id = Named {
            ids: [story_id_of_key("u:https://sete.example/a/1")].into(),
            ..Named::default()
        };
        assert!(by_id.covers("u:https://sete.example/a/1"));
        assert!(!Named::default().covers("u:https://sete.example/a/1"));
    }
}
