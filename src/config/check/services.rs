//! `[websub]`, `[site]`, and `[store] backend` (sled or PostgreSQL).

use super::*;

impl Checker {
    pub(super) fn websub(&mut self, t: &Tbl<'_>) -> WebSubConfig {
        let defaults = WebSubConfig::default();
        WebSubConfig {
            hub: self.parsed(t, "hub", "an absolute http(s) URL", |s| {
                Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
            }),
            max_lease: self
                .parsed_with(t, "max_lease", parse_duration)
                .unwrap_or(defaults.max_lease),
            retry: self.parsed_with(t, "retry", parse_duration).unwrap_or(defaults.retry),
            internal_callbacks: self.boolean(t, "internal_callbacks").unwrap_or(false),
            poll_interval: self
                .parsed_with(t, "poll_interval", parse_duration)
                .unwrap_or(defaults.poll_interval),
        }
    }

    pub(super) fn site(&mut self, t: &Tbl<'_>) -> SiteConfig {
        let title = match self.string(t, "title") {
            Some((s, line)) if s.trim().is_empty() => {
                self.problem(line, "[site] title: must not be blank".into());
                DEFAULT_SITE_TITLE.to_string()
            }
            Some((s, _)) => s,
            None => DEFAULT_SITE_TITLE.to_string(),
        };
        let language = self
            .parsed(t, "language", "\"en\" or \"fr\"", |s| {
                match s.to_ascii_lowercase().as_str() {
                    "en" => Some(Language::En),
                    "fr" => Some(Language::Fr),
                    _ => None,
                }
            })
            .unwrap_or(Language::En);
        let assets = self.string(t, "assets").and_then(|(dir, line)| {
            let full = self.base_dir.join(&dir);
            match full.is_dir() {
                true => Some(full),
                false => {
                    self.problem(line, format!("[site] assets: {} is not a folder", full.display()));
                    None
                }
            }
        });
        SiteConfig {
            title,
            description: self.string(t, "description").map(|(s, _)| s),
            language,
            timezone: None,
            image_proxy: self.boolean(t, "image_proxy").unwrap_or(false),
            assets,
        }
    }

    /// `[store] backend`, and for PostgreSQL its `url` (`"$NAME"` read
    /// from the environment), `connections`, `lease` and `ca`.
    pub(super) fn backend(&mut self, t: &Tbl<'_>) -> Backend {
        let line = self.line(t.table.key("backend").and_then(|k| k.span()));
        match self.string(t, "backend").map(|(b, _)| b).as_deref() {
            None | Some("sled") => {
                for key in ["url", "connections", "lease", "ca"] {
                    if t.table.contains_key(key) {
                        let line = self.line(t.table.key(key).and_then(|k| k.span()));
                        self.problem(line, format!("[store] {key}: only for backend = \"postgres\""));
                    }
                }
                Backend::Sled
            }
            Some("postgres") => {
                let url = match self.string(t, "url") {
                    None => {
                        self.problem(
                            line,
                            "[store] backend = \"postgres\" needs url = \"postgres://…\" (or \"$THAU_DATABASE_URL\")"
                                .into(),
                        );
                        String::new()
                    }
                    Some((url, line)) => match url.strip_prefix('$') {
                        Some(var) => std::env::var(var).unwrap_or_else(|_| {
                            self.problem(line, format!("[store] url: the environment variable {var} is not set"));
                            String::new()
                        }),
                        None => url,
                    },
                };
                if !url.is_empty() && url.parse::<postgres::Config>().is_err() {
                    let line = self.line(t.table.key("url").and_then(|k| k.span()));
                    self.problem(
                        line,
                        "[store] url: not a PostgreSQL connection string (postgres://user@host/db)".into(),
                    );
                }
                Backend::Postgres {
                    url: Secret(url),
                    connections: self
                        .integer(t, "connections", 1, 256)
                        .map_or(DEFAULT_PG_CONNECTIONS, |n| n as usize),
                    lease: self.parsed_with(t, "lease", parse_duration).unwrap_or(DEFAULT_LEASE),
                    ca: self.string(t, "ca").and_then(|(ca, line)| {
                        let path = self.base_dir.join(ca);
                        if path.is_file() {
                            Some(path)
                        } else {
                            let problem = format!("[store] ca: {} is not a file (a PEM certificate)", path.display());
                            self.problem(line, problem);
                            None
                        }
                    }),
                }
            }
            Some(other) => {
                self.problem(
                    line,
                    format!("[store] backend: {other:?} is not a backend; \"sled\" or \"postgres\""),
                );
                Backend::Sled
            }
        }
    }
}
