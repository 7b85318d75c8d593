//! The editorial desk's tables: `[[hidden]]` (stories taken down).

use super::*;

impl Checker {
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
