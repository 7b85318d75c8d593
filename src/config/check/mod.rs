//! Checking `feeds.toml`: a [`Checker`] walks the document and collects
//! every problem with its line. The walk and the generic value readers are
//! here; each family of tables has its own file: `tables` (`[server]`,
//! `[store]`, `[export]`, `[poll]`), `services` (`[websub]`, `[site]`, the
//! store's backend), `sections`, `sources` and `fetching` (a source's
//! fetch options, scraping rules and filters).

mod desk;
mod fetching;
mod sections;
mod services;
mod sources;
mod tables;

use super::values::*;
use super::*;

pub(super) const TOP_KEYS: &[&str] = &[
    "server",
    "site",
    "websub",
    "store",
    "poll",
    "retention",
    "export",
    "sections",
    "sources",
    "hidden",
    "pinned",
    "picked",
    "keys",
    "dedupe",
];
pub(super) const DEDUPE_KEYS: &[&str] = &["similarity"];
pub(super) const KEY_KEYS: &[&str] = &["name", "sections", "sha256"];
pub(super) const HIDDEN_KEYS: &[&str] = &["story", "reason", "at"];
pub(super) const PINNED_KEYS: &[&str] = &["story", "section", "until", "at"];
pub(super) const PICKED_KEYS: &[&str] = &["story", "section", "at"];
pub(super) const EXPORT_KEYS: &[&str] = &["dir"];
pub(super) const SITE_KEYS: &[&str] = &["title", "description", "language", "image_proxy", "assets"];
pub(super) const WEBSUB_KEYS: &[&str] = &["hub", "max_lease", "retry", "internal_callbacks", "poll_interval"];
pub(super) const RETENTION_KEYS: &[&str] = &["max_entries", "max_age"];
pub(super) const SERVER_KEYS: &[&str] = &[
    "listen",
    "base_url",
    "page_size",
    "max_page_size",
    "cache_max_age",
    "admin_token",
    "status",
    "archive_page_size",
];
pub(super) const STORE_KEYS: &[&str] = &["path", "cache", "backend", "url", "connections", "lease", "ca"];
pub(super) const POLL_KEYS: &[&str] = &[
    "schedule",
    "every",
    "timeout",
    "concurrency",
    "per_host",
    "max_body",
    "backoff_cap",
    "jitter",
    "respect_cache_headers",
    "timezone",
    "max_entries_per_poll",
    "max_entry_size",
    "internal_networks",
    "websub",
    "proxy",
];
pub(super) const SECTION_KEYS: &[&str] = &[
    "slug",
    "title",
    "description",
    "logo",
    "icon",
    "copyright",
    "max_per_source",
    "language",
    "categories",
    "keywords",
    "max_entries",
    "max_age",
    "digest",
    "digest_time",
    "digest_day",
    "digest_delay",
    "include",
    "exclude",
    "picks",
    "private",
];
pub(super) const SOURCE_KEYS: &[&str] = &[
    "name",
    "url",
    "path",
    "sections",
    "schedule",
    "every",
    "title",
    "timezone",
    "websub",
    "enabled",
    "include",
    "exclude",
    "headers",
    "auth",
    "encoding",
    "proxy",
    "scrape",
    "id",
    "full_text",
    "full_text_selector",
    "rewrite",
    "remove",
];
pub(super) const REWRITE_KEYS: &[&str] = &["field", "pattern", "replace"];
pub(super) const SCRAPE_KEYS: &[&str] = &["item", "title", "link", "summary", "date", "image", "category"];

/// Where each line starts, to turn byte offsets into line numbers in
/// O(log lines) (counting newlines from the start for every value made
/// checking 50,000 sources take minutes).
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn of(text: &str) -> Lines {
        Lines(memchr::memchr_iter(b'\n', text.as_bytes()).collect())
    }

    /// The 1-based line of byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

/// Walks the document, collecting problems instead of stopping at the first.
pub(super) struct Checker {
    pub(super) lines: Lines,
    pub(super) file: String,
    pub(super) base_dir: PathBuf,
    pub(super) problems: Vec<Problem>,
}

/// A table being read, with the words that name it in messages.
pub(super) struct Tbl<'t> {
    pub(super) table: &'t dyn TableLike,
    pub(super) what: String,
    pub(super) line: usize,
}

impl Checker {
    pub(super) fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map(|s| self.lines.line(s.start)).unwrap_or(1)
    }

    pub(super) fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            message,
        });
    }

    pub(super) fn config(&mut self, root: &toml_edit::Table, path: &Path) -> Config {
        let root = Tbl {
            table: root,
            what: String::new(),
            line: 1,
        };
        self.unknown_keys(&root, TOP_KEYS);

        let server = self.table(&root, "server");
        let store = self.table(&root, "store");
        let poll = self.table(&root, "poll");
        let retention_table = self.table(&root, "retention");
        let export = self.table(&root, "export");
        let site = self.table(&root, "site");
        let websub = self.table(&root, "websub");
        for (table, known) in [
            (&websub, WEBSUB_KEYS),
            (&export, EXPORT_KEYS),
            (&site, SITE_KEYS),
            (&server, SERVER_KEYS),
            (&store, STORE_KEYS),
            (&poll, POLL_KEYS),
            (&retention_table, RETENTION_KEYS),
        ] {
            if let Some(t) = table {
                self.unknown_keys(t, known);
            }
        }

        let site = site.as_ref().map(|t| self.site(t)).unwrap_or_default();
        let websub = websub.as_ref().map(|t| self.websub(t)).unwrap_or_default();
        let server = self.server(server.as_ref());
        let store = self.store(store.as_ref());
        let export_dir = self.export_dir(export.as_ref());
        let poll_config = self.poll(poll.as_ref());
        let retention = retention_table.as_ref().map(|t| self.retention(t)).unwrap_or_default();
        let timezone = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "timezone", parse_timezone));
        let site = SiteConfig { timezone, ..site };
        let sections = self.sections(&root, timezone);
        let websub_default = poll.as_ref().and_then(|t| self.boolean(t, "websub")).unwrap_or(false);
        let sources = self.sources(&root, &sections, timezone, websub_default, poll_config.proxy.clone());
        let hidden = self.hidden(&root);
        let (pinned, picked) = self.picks(&root, &sections);
        let keys = self.keys(&root, &sections);
        let near_duplicates = self.table(&root, "dedupe").and_then(|t| {
            self.unknown_keys(&t, DEDUPE_KEYS);
            self.similarity(&t)
        });

        Config {
            file: path.to_owned(),
            server,
            site,
            websub,
            store,
            poll: poll_config,
            retention,
            export_dir,
            sections,
            hidden,
            pinned,
            picked,
            keys,
            near_duplicates,
            by_name: sources.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect(),
            sources,
        }
    }

    pub(super) fn boolean(&mut self, t: &Tbl<'_>, key: &str) -> Option<bool> {
        let (v, line) = self.value(t, key)?;
        let b = v.and_then(Value::as_bool);
        if b.is_none() {
            self.type_problem(t, key, line, "true or false");
        }
        b
    }

    pub(super) fn unknown_keys(&mut self, t: &Tbl<'_>, known: &[&str]) {
        for (key, _) in t.table.iter() {
            if known.contains(&key) {
                continue;
            }
            let line = self.line(t.table.key(key).and_then(|k| k.span()));
            let hint = did_you_mean(key, known.iter().copied());
            let prefix = if t.what.is_empty() {
                String::new()
            } else {
                format!("{}: ", t.what)
            };
            self.problem(line, format!("{prefix}unknown key \"{key}\"{hint}"));
        }
    }

    pub(super) fn table<'t>(&mut self, parent: &Tbl<'t>, key: &str) -> Option<Tbl<'t>> {
        let item = parent.table.get(key)?;
        match item.as_table_like() {
            Some(table) => Some(Tbl {
                table,
                what: format!("[{key}]"),
                line: self.line(item.span().or_else(|| parent.table.key(key).and_then(|k| k.span()))),
            }),
            None => {
                let line = self.line(item.span());
                self.problem(line, format!("{key}: expected a table [{key}]"));
                None
            }
        }
    }

    pub(super) fn array_of_tables<'t>(&mut self, parent: &Tbl<'t>, key: &str) -> Vec<Tbl<'t>> {
        let Some(item) = parent.table.get(key) else {
            return Vec::new();
        };
        let singular = key.trim_end_matches('s');
        match item {
            Item::ArrayOfTables(array) => array
                .iter()
                .enumerate()
                .map(|(i, table)| Tbl {
                    table,
                    what: format!("{singular} #{}", i + 1),
                    line: self.line(table.span()),
                })
                .collect(),
            Item::Value(Value::Array(array)) => array
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v.as_inline_table() {
                    Some(table) => Some(Tbl {
                        table,
                        what: format!("{singular} #{}", i + 1),
                        line: self.line(v.span()),
                    }),
                    None => {
                        let line = self.line(v.span());
                        self.problem(line, format!("{key}: expected tables ([[{key}]])"));
                        None
                    }
                })
                .collect(),
            other => {
                let line = self.line(other.span());
                self.problem(line, format!("{key}: expected [[{key}]] tables"));
                Vec::new()
            }
        }
    }

    /// The value under `key` (None inside when it is a table) and its line.
    pub(super) fn value<'t>(&self, t: &Tbl<'t>, key: &str) -> Option<(Option<&'t Value>, usize)> {
        let item = t.table.get(key)?;
        let line = self.line(item.span().or_else(|| t.table.key(key).and_then(|k| k.span())));
        Some((item.as_value(), line))
    }

    pub(super) fn type_problem(&mut self, t: &Tbl<'_>, key: &str, line: usize, expected: &str) {
        let prefix = if t.what.starts_with('[') {
            format!("{} {key}", t.what)
        } else {
            format!("{}: {key}", t.what)
        };
        self.problem(line, format!("{prefix}: expected {expected}"));
    }

    pub(super) fn string(&mut self, t: &Tbl<'_>, key: &str) -> Option<(String, usize)> {
        let (v, line) = self.value(t, key)?;
        match v.and_then(Value::as_str) {
            Some(s) => Some((s.to_string(), line)),
            None => {
                self.type_problem(t, key, line, "a string");
                None
            }
        }
    }

    pub(super) fn required_string(&mut self, t: &Tbl<'_>, key: &str) -> Option<(String, usize)> {
        if t.table.get(key).is_none() {
            self.problem(t.line, format!("{}: missing {key}", t.what));
            return None;
        }
        self.string(t, key)
    }

    pub(super) fn string_list(&mut self, t: &Tbl<'_>, key: &str) -> Option<Vec<(String, usize)>> {
        let (v, line) = self.value(t, key)?;
        let list = v.and_then(Value::as_array).and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(|s| (s.to_string(), self.line(v.span()).max(line))))
                .collect::<Option<Vec<_>>>()
        });
        if list.is_none() {
            self.type_problem(t, key, line, "a list of strings");
        }
        list
    }

    pub(super) fn integer(&mut self, t: &Tbl<'_>, key: &str, min: i64, max: i64) -> Option<i64> {
        let (v, line) = self.value(t, key)?;
        match v.and_then(Value::as_integer) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let expected = if max == i64::MAX {
                    format!("an integer of at least {min}")
                } else {
                    format!("an integer from {min} to {max}")
                };
                self.type_problem(t, key, line, &expected);
                None
            }
        }
    }

    pub(super) fn parsed<T>(
        &mut self,
        t: &Tbl<'_>,
        key: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let (s, line) = self.string(t, key)?;
        let parsed = parse(&s);
        if parsed.is_none() {
            self.type_problem(t, key, line, &format!("{expected}, not \"{s}\""));
        }
        parsed
    }

    pub(super) fn parsed_with<T>(
        &mut self,
        t: &Tbl<'_>,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (s, line) = self.string(t, key)?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                let prefix = if t.what.starts_with('[') {
                    format!("{} {key}", t.what)
                } else {
                    format!("{}: {key}", t.what)
                };
                self.problem(line, format!("{prefix}: \"{s}\": {e}"));
                None
            }
        }
    }
}
