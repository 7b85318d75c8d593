//! Pruning, so the store does not grow forever: entries beyond the global
//! limits (`[retention]`), or beyond the limits of every section they belong
//! to (by source, category or keyword), are removed — except those a source
//! still lists in its last document. Wires `store` and `route`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Retention};
use crate::model::Entry;
use crate::route::Router;
use crate::store::{IndexRow, Store, StoreError};

/// Judges index rows one by one, newest first, keeping the running rank
/// of each section: pruning a store of a million entries holds no more
/// than one row at a time.
pub struct Pruner<'a> {
    config: &'a Config,
    router: Router,
    listed: &'a HashSet<String>,
    now: DateTime<Utc>,
    section_ranks: Vec<usize>,
    rank: usize,
}

impl<'a> Pruner<'a> {
    pub fn new(config: &'a Config, listed: &'a HashSet<String>, now: DateTime<Utc>) -> Pruner<'a> {
        Pruner {
            config,
            router: Router::new(config),
            listed,
            now,
            section_ranks: vec![0; config.sections.len()],
            rank: 0,
        }
    }

    /// Whether `row` (the next, newest first) goes. `entry` reads its entry
    /// when only a keyword section's words can tell whether it belongs
    /// there (at most once).
    pub fn doomed<E>(&mut self, row: &IndexRow, entry: impl FnOnce() -> Result<Option<Arc<Entry>>, E>) -> bool {
        let now = self.now;
        let beyond = |limits: &Retention, rank: usize, published: DateTime<Utc>| {
            limits.max_entries.is_some_and(|max| rank > max)
                || limits
                    .max_age
                    .and_then(|age| chrono::Duration::from_std(age).ok())
                    .is_some_and(|age| published < now - age)
        };
        self.rank += 1;
        let mut in_any = false;
        let mut wanted = false;
        let mut entry = Some(entry);
        let mut text: Option<Result<Option<Arc<Entry>>, ()>> = None;
        for (s, section) in self.config.sections.iter().enumerate() {
            let member = self.router.member(s, &row.routing, || {
                text.get_or_insert_with(|| entry.take().map_or(Err(()), |read| read().map_err(drop)))
                    .clone()
            });
            // An entry that cannot be read is kept rather than judged.
            if !member.unwrap_or(true) {
                continue;
            }
            in_any = true;
            self.section_ranks[s] += 1;
            wanted |= !beyond(&section.retention, self.section_ranks[s], row.published);
        }
        let prune = beyond(&self.config.retention, self.rank, row.published) || (in_any && !wanted);
        prune && !self.listed.contains(&row.key)
    }
}

/// Which of `rows` (newest first) to prune. Pure but for `entry`, which
/// reads a row's entry when only a keyword section's words can tell whether
/// it belongs there (at most once a row).
pub fn doomed<E>(
    rows: &[IndexRow],
    config: &Config,
    listed: &HashSet<String>,
    now: DateTime<Utc>,
    mut entry: impl FnMut(&IndexRow) -> Result<Option<Arc<Entry>>, E>,
) -> Vec<String> {
    let mut pruner = Pruner::new(config, listed, now);
    rows.iter()
        .filter(|row| pruner.doomed(row, || entry(row)))
        .map(|row| row.key.clone())
        .collect()
}

/// Prunes the store, streaming its index and removing in batches; returns
/// how many entries went.
pub fn prune(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let listed = store.listed_keys()?;
    let mut pruner = Pruner::new(config, &listed, now);
    let mut batch = Vec::new();
    let mut removed = 0;
    for row in store.recent() {
        let row = row?;
        if pruner.doomed(&row, || store.entry(&row.key).map(|e| e.map(Arc::new))) {
            batch.push(row.key);
        }
        if batch.len() >= 1000 {
            removed += store.remove_entries(&std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        removed += store.remove_entries(&batch)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fold;
    use crate::publish::tests::sample_entries;
    use crate::store::Routing;
    use std::collections::HashSet;
    use std::path::Path;

    fn row(key: &str, days_ago: i64, source: &str, categories: &[&str], now: DateTime<Utc>) -> IndexRow {
        IndexRow {
            key: key.into(),
            published: now - chrono::Duration::days(days_ago),
            routing: Routing {
                sources: vec![source.into()],
                categories: categories.iter().map(|c| fold(c)).collect(),
            },
        }
    }

    /// For configurations without keyword sections: never asked.
    fn no_text(row: &IndexRow) -> Result<Option<Arc<Entry>>, ()> {
        panic!("{} read though no keyword section asked", row.key)
    }

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("feeds.toml")).unwrap()
    }

    const BASE: &str = r#"
[[sections]]
slug = "sete"
title = "Sète"
categories = ["Sète"]
max_entries = 2
[[sections]]
slug = "culture"
title = "Culture"
categories = ["Culture"]
[[sources]]
name = "journal"
url = "https://journal.example/rss"
"#;

    #[test]
    fn a_section_limit_prunes_only_what_no_other_section_keeps() {
        let now = Utc::now();
        let rows = vec![
            row("a", 1, "journal", &["Sète"], now),
            row("b", 2, "journal", &["Sète"], now),
            row("c", 3, "journal", &["Sète", "Culture"], now),
            row("d", 4, "journal", &["Sète"], now),
            row("e", 5, "journal", &[], now),
        ];
        let doomed = doomed(&rows, &config(BASE), &HashSet::new(), now, no_text);
        // c is third in Sète but Culture (no limit) keeps it; e is in no section.
        assert_eq!(doomed, ["d"]);
    }

    #[test]
    fn a_keyword_section_keeps_what_it_shows() {
        let now = Utc::now();
        let text = format!("{BASE}\n[[sections]]\nslug = \"joutes\"\ntitle = \"Joutes\"\nkeywords = [\"joutes\"]\n");
        let rows = vec![
            row("a", 1, "journal", &["Sète"], now),
            row("b", 2, "journal", &["Sète"], now),
            row("c", 3, "journal", &["Sète"], now),
            row("d", 4, "journal", &["Sète"], now),
        ];
        // Beyond Sète's limit of 2, but d's title is about the joutes.
        let samples = sample_entries();
        let (joutes, budget) = (&samples[0], &samples[1]);
        assert!(joutes.title.contains("joutes") && !budget.title.contains("joutes"));
        let mut asked = Vec::new();
        let doomed = doomed(&rows, &config(&text), &HashSet::new(), now, |row| {
            asked.push(row.key.clone());
            Ok::<_, ()>(Some(if row.key == "d" { joutes.clone() } else { budget.clone() }))
        });
        assert_eq!(doomed, ["c"]);
        assert_eq!(
            asked.len(),
            4,
            "asked once per row, for the keyword section only: {asked:?}"
        );
    }

    #[test]
    fn global_limits_and_still_listed_entries() {
        let now = Utc::now();
        let text = format!("[retention]\nmax_entries = 3\nmax_age = \"30d\"\n{BASE}");
        let rows = vec![
            row("a", 1, "journal", &["Culture"], now),
            row("b", 40, "journal", &["Culture"], now),
            row("c", 41, "journal", &["Culture"], now),
            row("d", 42, "journal", &["Culture"], now),
        ];
        let listed: HashSet<String> = ["c".to_string()].into();
        assert_eq!(doomed(&rows, &config(&text), &listed, now, no_text), ["b", "d"]);
    }
}
