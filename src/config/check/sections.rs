//! `[[sections]]`: slugs, titles, routing, retention, digests.

use super::*;

impl Checker {
    pub(super) fn sections(&mut self, root: &Tbl<'_>, timezone: Option<Tz>) -> Vec<Section> {
        let mut sections = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for t in self.array_of_tables(root, "sections") {
            let slug = self.required_string(&t, "slug");
            let label = match &slug {
                Some((s, _)) => format!("section \"{s}\""),
                None => t.what.clone(),
            };
            let t = Tbl { what: label, ..t };
            self.unknown_keys(&t, SECTION_KEYS);
            if let Some((slug, line)) = &slug {
                if slug.is_empty()
                    || !slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    self.problem(*line, format!("{}: slug must match [a-z0-9-]+", t.what));
                } else if let Some(first) = seen.get(slug) {
                    let message = format!("{}: slug is used by another section (line {first})", t.what);
                    self.problem(*line, message);
                } else {
                    seen.insert(slug.clone(), *line);
                }
            }
            let title = self.required_string(&t, "title");
            let description = self.string(&t, "description").map(|(s, _)| s);
            let language = self.string(&t, "language").map(|(s, _)| s);
            let logo = self.parsed(&t, "logo", "an http(s) URL of a picture", |s| {
                Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
            });
            let icon = self.parsed(&t, "icon", "an http(s) URL of a picture", |s| {
                Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
            });
            let copyright = self.string(&t, "copyright").map(|(s, _)| s);
            let max_per_source = self
                .integer(&t, "max_per_source", 1, i64::from(u32::MAX))
                .map(|n| n as usize);
            let categories = self.string_list(&t, "categories").unwrap_or_default();
            let keywords = self.string_list(&t, "keywords").unwrap_or_default();
            let retention = self.retention(&t);
            let digest = self.digest(&t, timezone);
            let filter = self.filter(&t);
            let picks = self.boolean(&t, "picks").unwrap_or(false);
            let private = self.boolean(&t, "private").unwrap_or(false);
            if let (Some((slug, _)), Some((title, _))) = (slug, title) {
                sections.push(Section {
                    slug,
                    title,
                    description,
                    language,
                    logo,
                    icon,
                    copyright,
                    max_per_source,
                    categories: categories.into_iter().map(|(s, _)| s).collect(),
                    keywords: keywords.into_iter().map(|(s, _)| s).collect(),
                    retention,
                    digest,
                    filter,
                    picks,
                    private,
                });
            }
        }
        sections
    }

    /// `digest = "daily"|"weekly"`, `digest_time = "07:00"`, `digest_day = "monday"`.
    pub(super) fn digest(&mut self, t: &Tbl<'_>, timezone: Option<Tz>) -> Option<DigestSchedule> {
        let period = self.parsed(t, "digest", "\"daily\" or \"weekly\"", |s| match s {
            "daily" => Some(false),
            "weekly" => Some(true),
            _ => None,
        });
        let at = self
            .parsed(t, "digest_time", "a time of day such as \"07:00\"", |s| {
                chrono::NaiveTime::parse_from_str(s, "%H:%M").ok()
            })
            .unwrap_or(chrono::NaiveTime::MIN);
        let day = self.parsed(t, "digest_day", "a day of the week such as \"monday\"", parse_weekday);
        let delay = self
            .parsed_with(t, "digest_delay", parse_duration_or_zero)
            .unwrap_or(DEFAULT_DIGEST_DELAY);
        let Some(weekly) = period else {
            for key in ["digest_time", "digest_day", "digest_delay"] {
                if !t.table.contains_key("digest")
                    && let Some((_, line)) = self.value(t, key)
                {
                    self.problem(
                        line,
                        format!("{}: {key} needs digest = \"daily\" or \"weekly\"", t.what),
                    );
                }
            }
            return None;
        };
        if !weekly && let Some((_, line)) = self.value(t, "digest_day") {
            self.problem(line, format!("{}: digest_day is for weekly digests", t.what));
        }
        Some(DigestSchedule {
            period: if weekly {
                DigestPeriod::Weekly(day.unwrap_or(chrono::Weekday::Mon))
            } else {
                DigestPeriod::Daily
            },
            at,
            timezone: timezone.unwrap_or(Tz::UTC),
            delay,
        })
    }

    pub(super) fn retention(&mut self, t: &Tbl<'_>) -> Retention {
        Retention {
            max_entries: self.integer(t, "max_entries", 1, i64::MAX).map(|n| n as usize),
            max_age: self.parsed_with(t, "max_age", parse_duration),
        }
    }
}
