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
        let mut seen = HashSet::new();
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
                } else if !seen.insert(name.clone()) {
                    self.problem(*line, format!("{}: name is used by another source", t.what));
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
                    scrape,
                    id_from,
                    full_text,
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
            (Some(cron), None) => Some(Timing::Cron(cron)),
            (None, Some(every)) => Some(Timing::Every(every)),
            (None, None) => None,
        }
    }

    /// `[sources.scrape]`: every selector checked.
    pub(super) fn scrape(&mut self, source: &Tbl<'_>) -> Option<crate::scrape::Rules> {
        let item = source.table.get("scrape")?;
        let line = self.line(
            item.span()
                .or_else(|| source.table.key("scrape").and_then(|k| k.span())),
        );
        let Some(table) = item.as_table_like() else {
            self.problem(
                line,
                format!("{}: scrape: expected a table [sources.scrape]", source.what),
            );
            return None;
        };
        let t = Tbl {
            table,
            what: format!("{} scrape", source.what),
            line,
        };
        self.unknown_keys(&t, SCRAPE_KEYS);
        let field = |cx: &mut Self, key: &str, required: bool| -> Option<crate::scrape::Field> {
            let found = if required {
                cx.required_string(&t, key)
            } else {
                cx.string(&t, key)
            };
            let (written, line) = found?;
            crate::scrape::Field::parse(&written)
                .map_err(|e| cx.problem(line, format!("{}: {key}: \"{written}\": {e}", t.what)))
                .ok()
        };
        let item_sel = self.required_string(&t, "item").and_then(|(written, line)| {
            crate::scrape::Sel::parse(&written)
                .map_err(|e| self.problem(line, format!("{}: item: \"{written}\": {e}", t.what)))
                .ok()
        });
        let title = field(self, "title", true);
        let link = field(self, "link", true);
        let summary = field(self, "summary", false);
        let date = field(self, "date", false);
        let image = field(self, "image", false);
        let category = field(self, "category", false);
        Some(crate::scrape::Rules {
            item: item_sel?,
            title: title?,
            link: link?,
            summary,
            date,
            image,
            category,
        })
    }

    /// `proxy`: an http(s) proxy URL, or `"$NAME"` read from the
    /// environment (a proxy URL may carry credentials). SOCKS is refused
    /// here rather than by every poll: thau's HTTP client speaks HTTP
    /// proxies only.
    pub(super) fn proxy(&mut self, t: &Tbl<'_>) -> Option<Url> {
        let (written, line) = self.string(t, "proxy")?;
        let prefix = if t.what.starts_with('[') {
            format!("{} proxy", t.what)
        } else {
            format!("{}: proxy", t.what)
        };
        let value = match written.strip_prefix('$') {
            Some(var) => match std::env::var(var) {
                Ok(v) => v,
                Err(_) => {
                    self.problem(line, format!("{prefix}: the environment variable {var} is not set"));
                    return None;
                }
            },
            None => written.clone(),
        };
        let shown = match written.starts_with('$') {
            true => written.clone(),
            false => mask_userinfo(&value),
        };
        match Url::parse(&value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) if u.scheme().starts_with("socks") => {
                self.problem(
                    line,
                    format!(
                        "{prefix}: \"{shown}\": SOCKS proxies are not supported; use an HTTP proxy (http://host:port)"
                    ),
                );
                None
            }
            _ => {
                self.problem(
                    line,
                    format!("{prefix}: expected a proxy URL such as \"http://proxy.example:3128\", not \"{shown}\""),
                );
                None
            }
        }
    }

    /// `headers = { … }` and `auth = { bearer = … }` or `{ user, password }`,
    /// as request headers; `"$NAME"` is read from the environment.
    pub(super) fn headers(&mut self, t: &Tbl<'_>) -> Vec<(String, Secret)> {
        let mut out = Vec::new();
        let what = t.what.clone();
        let secret = |cx: &mut Self, key: &str, v: &Value, line: usize| -> Option<String> {
            let Some(s) = v.as_str() else {
                cx.problem(line, format!("{what}: {key}: expected a string"));
                return None;
            };
            match s.strip_prefix('$') {
                Some(var) => match std::env::var(var) {
                    Ok(value) => Some(value),
                    Err(_) => {
                        cx.problem(
                            line,
                            format!("{what}: {key}: the environment variable {var} is not set"),
                        );
                        None
                    }
                },
                None => Some(s.to_string()),
            }
        };
        if let Some(item) = t.table.get("headers") {
            let line = self.line(item.span().or_else(|| t.table.key("headers").and_then(|k| k.span())));
            match item.as_table_like() {
                Some(table) => {
                    for (name, v) in table.iter() {
                        let Some(v) = v.as_value() else { continue };
                        let Some(value) = secret(self, &format!("headers.{name}"), v, line) else {
                            continue;
                        };
                        let valid = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                            && axum::http::HeaderValue::from_str(&value).is_ok();
                        if valid {
                            out.push((name.to_string(), Secret(value)));
                        } else {
                            self.problem(line, format!("{what}: headers.{name}: not a valid HTTP header"));
                        }
                    }
                }
                None => self.problem(
                    line,
                    format!("{what}: headers: expected a table such as {{ \"User-Agent\" = \"…\" }}"),
                ),
            }
        }
        if let Some(item) = t.table.get("auth") {
            let line = self.line(item.span().or_else(|| t.table.key("auth").and_then(|k| k.span())));
            let table = item.as_table_like();
            let get = |k: &str| table.and_then(|t| t.get(k)).and_then(Item::as_value).cloned();
            match (get("bearer"), get("user"), get("password")) {
                (Some(b), None, None) => {
                    if let Some(token) = secret(self, "auth.bearer", &b, line) {
                        out.push(("Authorization".into(), Secret(format!("Bearer {token}"))));
                    }
                }
                (None, Some(u), Some(p)) => {
                    let user = secret(self, "auth.user", &u, line);
                    let password = secret(self, "auth.password", &p, line);
                    if let (Some(u), Some(p)) = (user, password) {
                        use base64::Engine;
                        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                        out.push(("Authorization".into(), Secret(format!("Basic {basic}"))));
                    }
                }
                _ => self.problem(
                    line,
                    format!("{what}: auth: expected {{ bearer = \"…\" }} or {{ user = \"…\", password = \"…\" }}"),
                ),
            }
        }
        out
    }

    /// `include = [...]`, `exclude = [...]`: keywords or `/regex/`.
    pub(super) fn filter(&mut self, t: &Tbl<'_>) -> crate::filter::Filter {
        let mut patterns = |key: &str| -> Vec<crate::filter::Pattern> {
            self.string_list(t, key)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(written, line)| match crate::filter::Pattern::parse(&written) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.problem(line, format!("{}: {key}: \"{written}\": {e}", t.what));
                        None
                    }
                })
                .collect()
        };
        let include = patterns("include");
        let exclude = patterns("exclude");
        crate::filter::Filter { include, exclude }
    }
}
