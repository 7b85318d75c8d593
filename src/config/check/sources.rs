//! `[[sources]]`: names, locations, schedules, fetch options (proxy,
//! headers, auth), scraping rules, filters.

use super::*;

impl Checker {
    pub(super) fn sources(
        &mut self,
        root: &Tbl<'_>,
        sections: &[Section],
        timezone: Option<Tz>,
        websub: bool,
        proxy: Option<Url>,
    ) -> Vec<Source> {
        let slugs: Vec<&str> = sections.iter().map(|s| s.slug.as_str()).collect();
        let mut sources = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for t in self.array_of_tables(root, "sources") {
            let name = self.required_string(&t, "name");
            let label = match &name {
                Some((s, _)) => format!("source \"{s}\""),
                None => t.what.clone(),
            };
            let t = Tbl { what: label, ..t };
            self.unknown_keys(&t, SOURCE_KEYS);
            if let Some((name, line)) = &name {
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    self.problem(*line, format!("{}: name must match [A-Za-z0-9._-]+", t.what));
                } else if let Some(first) = seen.get(name) {
                    let message = format!("{}: name is used by another source (line {first})", t.what);
                    self.problem(*line, message);
                } else {
                    seen.insert(name.clone(), *line);
                }
            }
            let location = self.location(&t);
            let mut source_sections = Vec::new();
            for (slug, line) in self.string_list(&t, "sections").unwrap_or_default() {
                if slugs.contains(&slug.as_str()) {
                    source_sections.push(slug);
                } else {
                    let hint = did_you_mean(&slug, slugs.iter().copied());
                    self.problem(line, format!("{}: unknown section \"{slug}\"{hint}", t.what));
                }
            }
            let timing = self.timing(&t);
            let title = self.string(&t, "title").map(|(s, _)| s);
            let own_timezone = self.parsed_with(&t, "timezone", parse_timezone);
            let own_websub = self.boolean(&t, "websub");
            let enabled = self.boolean(&t, "enabled").unwrap_or(true);
            let filter = self.filter(&t);
            let headers = self.headers(&t);
            let encoding = self.parsed(&t, "encoding", "an encoding name such as \"windows-1252\"", |s| {
                encoding_rs::Encoding::for_label(s.trim().as_bytes())
            });
            let own_proxy = self.proxy(&t);
            let scrape = self.scrape(&t);
            let id_from = self
                .parsed(&t, "id", "\"guid\", \"link\" or \"content\"", |s| match s {
                    "guid" => Some(crate::normalize::IdFrom::Guid),
                    "link" => Some(crate::normalize::IdFrom::Link),
                    "content" => Some(crate::normalize::IdFrom::Content),
                    _ => None,
                })
                .unwrap_or_default();
            let full_text = self.boolean(&t, "full_text").unwrap_or(false);
            let rewrites = self.rewrites(&t);
            let full_text_selector = self.selector(&t, "full_text_selector");
            if let (Some((name, _)), Some(location)) = (name, location) {
                sources.push(Source {
                    name,
                    location,
                    sections: source_sections,
                    timing,
                    title,
                    timezone: own_timezone.or(timezone),
                    websub: own_websub.unwrap_or(websub),
                    enabled,
                    filter,
                    headers,
                    encoding,
                    proxy: own_proxy.or_else(|| proxy.clone()),
                    scrape: scrape.map(Box::new),
                    id_from,
                    full_text,
                    rewrites,
                    full_text_selector,
                });
            }
        }
        sources
    }

    pub(super) fn location(&mut self, t: &Tbl<'_>) -> Option<Location> {
        let url = self.string(t, "url");
        let path = self.string(t, "path");
        match (url, path) {
            (Some(_), Some((_, line))) => {
                self.problem(line, format!("{}: give either url or path, not both", t.what));
                None
            }
            (None, None) => {
                self.problem(t.line, format!("{}: missing url (or path for a local file)", t.what));
                None
            }
            (Some((url, line)), None) => match Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(Location::Url(u)),
                Ok(u) => {
                    self.problem(
                        line,
                        format!("{}: url: scheme {} is not http or https", t.what, u.scheme()),
                    );
                    None
                }
                Err(e) => {
                    let url = mask_userinfo(&url);
                    self.problem(line, format!("{}: url: invalid URL \"{url}\": {e}", t.what));
                    None
                }
            },
            (None, Some((path, line))) => {
                let full = self.base_dir.join(&path);
                if full.is_file() {
                    Some(Location::File(full))
                } else {
                    self.problem(line, format!("{}: path: no such file {}", t.what, full.display()));
                    None
                }
            }
        }
    }

    /// `schedule` (cron) or `every` (a duration), not both.
    pub(super) fn timing(&mut self, t: &Tbl<'_>) -> Option<Timing> {
        let cron = self.parsed_with(t, "schedule", Schedule::parse);
        let every = self.parsed_with(t, "every", |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(10) {
                return Err("must be at least 10s".into());
            }
            Ok(d)
        });
        match (cron, every) {
            (Some(_), Some(_)) => {
                let line = self.value(t, "every").map_or(t.line, |(_, l)| l);
                let prefix = if t.what.starts_with('[') {
                    t.what.clone()
                } else {
                    format!("{}:", t.what)
                };
                self.problem(line, format!("{prefix} give either schedule or every, not both"));
                None
            }
            (Some(cron), None) => Some(Timing::Cron(Box::new(cron))),
            (None, Some(every)) => Some(Timing::Every(every)),
            (None, None) => None,
        }
    }
}
