//! The editorial desk's tables: `[[hidden]]` (stories taken down),
//! `[[pinned]]` and `[[picked]]` (stories leading or put in a section), a
//! source's `[[sources.rewrite]]` rules and `remove` selectors.

use super::*;

impl Checker {
    /// A source's `[[sources.rewrite]]` tables and `remove` list; a
    /// pattern or selector that does not compile is a problem on its line.
    pub(super) fn rewrites(&mut self, t: &Tbl<'_>) -> crate::rewrite::Rewrites {
        let mut rules = Vec::new();
        for r in self.array_of_tables(t, "rewrite") {
            let r = Tbl {
                what: format!("{} {}", t.what, r.what),
                ..r
            };
            self.unknown_keys(&r, REWRITE_KEYS);
            let field =
                self.required_string(&r, "field")
                    .and_then(|(f, line)| match crate::rewrite::Field::parse(&f) {
                        Some(field) => Some(field),
                        None => {
                            self.type_problem(
                                &r,
                                "field",
                                line,
                                &format!("\"title\", \"summary\", \"content\" or \"link\", not \"{f}\""),
                            );
                            None
                        }
                    });
            let pattern = self.required_string(&r, "pattern").and_then(|(p, line)| {
                match regex::RegexBuilder::new(&p).size_limit(1 << 20).build() {
                    Ok(re) => Some(re),
                    Err(e) => {
                        let why = e.to_string().lines().last().unwrap_or("").trim().to_string();
                        self.problem(
                            line,
                            format!("{}: pattern: \"{p}\": not a regular expression: {why}", r.what),
                        );
                        None
                    }
                }
            });
            let replace = self.string(&r, "replace").map(|(s, _)| s).unwrap_or_default();
            if let (Some(field), Some(pattern)) = (field, pattern) {
                rules.push(crate::rewrite::Rule {
                    field,
                    pattern,
                    replace,
                });
            }
        }
        let mut remove = Vec::new();
        for (selector, line) in self.string_list(t, "remove").unwrap_or_default() {
            match crate::rewrite::valid_selector(&selector) {
                Ok(()) => remove.push(selector),
                Err(why) => self.problem(line, format!("{}: remove: \"{selector}\": {why}", t.what)),
            }
        }
        crate::rewrite::Rewrites { rules, remove }
    }

    /// A CSS selector under `key`, checked.
    pub(super) fn selector(&mut self, t: &Tbl<'_>, key: &str) -> Option<String> {
        let (selector, line) = self.string(t, key)?;
        match crate::rewrite::valid_selector(&selector) {
            Ok(()) => Some(selector),
            Err(why) => {
                self.problem(line, format!("{}: {key}: \"{selector}\": {why}", t.what));
                None
            }
        }
    }

    /// `[[pinned]]` (`story`, `section` or "front", `until`, `at`) and
    /// `[[picked]]` (`story`, `section`, `at`): sections that exist, each
    /// story once per section.
    pub(super) fn picks(&mut self, root: &Tbl<'_>, sections: &[Section]) -> (Vec<PinnedStory>, Vec<PickedStory>) {
        let slugs: Vec<&str> = sections.iter().map(|s| s.slug.as_str()).collect();
        let date = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc))
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|d| d.and_utc())
                })
        };
        let mut pinned = Vec::new();
        let mut picked = Vec::new();
        for (key, known) in [("pinned", PINNED_KEYS), ("picked", PICKED_KEYS)] {
            let mut seen: HashMap<(String, String), usize> = HashMap::new();
            for t in self.array_of_tables(root, key) {
                self.unknown_keys(&t, known);
                let story = self.required_string(&t, "story");
                let section = self.required_string(&t, "section");
                let at = self.parsed(&t, "at", "a date such as \"2026-12-03T08:00:00Z\"", date);
                let until = self.parsed(
                    &t,
                    "until",
                    "a date such as \"2026-12-24\" or \"2026-12-24T18:00:00Z\"",
                    date,
                );
                let (Some((story, line)), Some((section, section_line))) = (story, section) else {
                    continue;
                };
                let story = story.trim().to_string();
                let front = key == "pinned" && section == FRONT;
                if !front && !slugs.contains(&section.as_str()) {
                    let hint = did_you_mean(&section, slugs.iter().copied());
                    self.problem(section_line, format!("{}: unknown section \"{section}\"{hint}", t.what));
                    continue;
                }
                if let Some(first) = seen.get(&(story.clone(), section.clone())) {
                    let message = format!(
                        "{}: story \"{story}\" is already {key} in \"{section}\" (line {first})",
                        t.what
                    );
                    self.problem(line, message);
                    continue;
                }
                seen.insert((story.clone(), section.clone()), line);
                match key {
                    "pinned" => pinned.push(PinnedStory {
                        story,
                        section,
                        until,
                        at,
                    }),
                    _ => picked.push(PickedStory { story, section, at }),
                }
            }
        }
        (pinned, picked)
    }

    /// `[[keys]]`: a subscriber's `name` (once), the private `sections` it
    /// opens, the key's `sha256`.
    pub(super) fn keys(&mut self, root: &Tbl<'_>, sections: &[Section]) -> Vec<SectionKey> {
        let mut keys = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for t in self.array_of_tables(root, "keys") {
            self.unknown_keys(&t, KEY_KEYS);
            let name = self.required_string(&t, "name");
            let sha256 = self.required_string(&t, "sha256");
            let mut opens = Vec::new();
            for (slug, line) in self.string_list(&t, "sections").unwrap_or_default() {
                match sections.iter().find(|s| s.slug == slug) {
                    Some(s) if s.private => opens.push(slug),
                    Some(_) => self.problem(line, format!("{}: section \"{slug}\" is not private = true", t.what)),
                    None => {
                        let hint = did_you_mean(&slug, sections.iter().map(|s| s.slug.as_str()));
                        self.problem(line, format!("{}: unknown section \"{slug}\"{hint}", t.what));
                    }
                }
            }
            let (Some((name, line)), Some((sha256, hash_line))) = (name, sha256) else {
                continue;
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.problem(hash_line, format!("{}: sha256: expected 64 hexadecimal digits", t.what));
                continue;
            }
            if let Some(first) = seen.get(&name) {
                self.problem(
                    line,
                    format!("{}: name \"{name}\" is used by another key (line {first})", t.what),
                );
                continue;
            }
            seen.insert(name.clone(), line);
            keys.push(SectionKey {
                name,
                sections: opens,
                sha256: sha256.to_ascii_lowercase(),
            });
        }
        keys
    }

    /// `[dedupe] similarity`: a number from 0.3 to 1.
    pub(super) fn similarity(&mut self, t: &Tbl<'_>) -> Option<f64> {
        let (v, line) = self.value(t, "similarity")?;
        let n = v.and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
        match n.filter(|n| (0.3..=1.0).contains(n)) {
            Some(n) => Some(n),
            None => {
                self.type_problem(t, "similarity", line, "a number from 0.3 to 1 (such as 0.6)");
                None
            }
        }
    }

    /// `[[hidden]]`: `story` (required, once each), `reason`, `at` (RFC 3339).
    pub(super) fn hidden(&mut self, root: &Tbl<'_>) -> Vec<HiddenStory> {
        let mut hidden = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for t in self.array_of_tables(root, "hidden") {
            self.unknown_keys(&t, HIDDEN_KEYS);
            let story = self.required_string(&t, "story");
            let reason = self.string(&t, "reason").map(|(s, _)| s);
            let at = self.parsed(&t, "at", "a date such as \"2026-12-03T08:00:00Z\"", |s| {
                DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc))
            });
            let Some((story, line)) = story else { continue };
            let story = story.trim().to_string();
            if story.is_empty() {
                self.problem(line, format!("{}: story is empty", t.what));
                continue;
            }
            if let Some(first) = seen.get(&story) {
                let message = format!("{}: story \"{story}\" is already hidden (line {first})", t.what);
                self.problem(line, message);
                continue;
            }
            seen.insert(story.clone(), line);
            hidden.push(HiddenStory { story, reason, at });
        }
        hidden
    }
}
