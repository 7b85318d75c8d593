//! `[server]`, `[store]`, `[export]` and `[poll]`.

use super::*;

impl Checker {
    /// `[server]`.
    pub(super) fn server(&mut self, server: Option<&Tbl<'_>>) -> ServerConfig {
        let listen = server
            .as_ref()
            .and_then(|t| self.parsed(t, "listen", "an address such as \"127.0.0.1:8080\"", |s| s.parse().ok()))
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address parses"));
        let base_url = server.as_ref().and_then(|t| {
            self.parsed(t, "base_url", "an absolute http(s) URL", |s| {
                Url::parse(s)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|_| s.trim_end_matches('/').to_string())
            })
        });

        let page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "page_size", 1, 10_000))
            .map_or(DEFAULT_PAGE_SIZE, |n| n as usize);
        let max_page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "max_page_size", 1, 10_000))
            .map_or(DEFAULT_MAX_PAGE_SIZE.max(page_size), |n| n as usize);
        if max_page_size < page_size {
            let line = server.as_ref().map_or(1, |t| t.line);
            self.problem(
                line,
                format!("[server]: max_page_size ({max_page_size}) is below page_size ({page_size})"),
            );
        }
        let cache_max_age = server
            .as_ref()
            .and_then(|t| self.parsed_with(t, "cache_max_age", parse_duration_or_zero))
            .unwrap_or(DEFAULT_CACHE_MAX_AGE);
        let admin_token = server
            .as_ref()
            .and_then(|t| self.string(t, "admin_token"))
            .and_then(|(token, line)| {
                if token.trim().is_empty() || token.chars().any(char::is_whitespace) {
                    self.problem(line, "[server] admin_token: must not be blank or hold spaces".into());
                    None
                } else if token.chars().count() < 16 {
                    self.problem(line, "[server] admin_token: use at least 16 characters".into());
                    None
                } else {
                    Some(token)
                }
            });
        let status = match server.as_ref().and_then(|t| self.string(t, "status")) {
            None => StatusAccess::Public,
            Some((s, _)) if s == "public" => StatusAccess::Public,
            Some((s, line)) if s == "private" => {
                if admin_token.is_none() && !server.as_ref().is_some_and(|t| t.table.contains_key("admin_token")) {
                    self.problem(
                        line,
                        "[server] status = \"private\" needs an admin_token: the status page is shown to whoever gives it".into(),
                    );
                }
                StatusAccess::Private
            }
            Some((s, line)) => {
                self.problem(
                    line,
                    format!("[server] status: expected \"public\" or \"private\", not \"{s}\""),
                );
                StatusAccess::Public
            }
        };
        let archive_page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "archive_page_size", 10, 1000))
            .map_or(DEFAULT_ARCHIVE_PAGE_SIZE.min(page_size), |n| n as usize);
        if archive_page_size > page_size {
            let line = server.as_ref().map_or(1, |t| t.line);
            self.problem(
                line,
                format!(
                    "[server]: archive_page_size ({archive_page_size}) is above page_size ({page_size}): stories between the feed and the archive would be in neither"
                ),
            );
        }

        ServerConfig {
            listen,
            base_url,
            page_size,
            max_page_size,
            cache_max_age,
            admin_token,
            status,
            archive_page_size,
        }
    }

    /// `[store]`.
    pub(super) fn store(&mut self, store: Option<&Tbl<'_>>) -> StoreConfig {
        let store_path = match store.as_ref().and_then(|t| self.string(t, "path")) {
            Some((p, line)) => {
                let path = self.base_dir.join(p);
                if path.exists() && !path.is_dir() {
                    self.problem(
                        line,
                        format!("[store] path: {} is a file; the store is a folder", path.display()),
                    );
                }
                path
            }
            None => self.base_dir.join("data/thau.sled"),
        };
        let store_cache = store
            .as_ref()
            .and_then(|t| self.parsed_with(t, "cache", parse_size))
            .unwrap_or(DEFAULT_STORE_CACHE);
        let backend = store.as_ref().map_or(Backend::Sled, |t| self.backend(t));

        StoreConfig {
            path: store_path,
            cache: store_cache,
            backend,
        }
    }

    /// `[export] dir`.
    pub(super) fn export_dir(&mut self, export: Option<&Tbl<'_>>) -> Option<PathBuf> {
        let export_dir = export.as_ref().and_then(|t| self.string(t, "dir")).map(|(d, line)| {
            let dir = self.base_dir.join(d);
            if dir.exists() && !dir.is_dir() {
                self.problem(line, format!("[export] dir: {} is not a folder", dir.display()));
            }
            dir
        });
        export_dir
    }

    /// `[poll]`.
    pub(super) fn poll(&mut self, poll: Option<&Tbl<'_>>) -> PollConfig {
        let timing = poll.as_ref().and_then(|t| self.timing(t)).unwrap_or_else(|| {
            Timing::Cron(Box::new(
                Schedule::parse(DEFAULT_SCHEDULE).expect("default schedule parses"),
            ))
        });
        let per_host = poll
            .as_ref()
            .and_then(|t| self.integer(t, "per_host", 1, 1024))
            .map_or(DEFAULT_PER_HOST, |n| n as usize);
        let backoff_cap = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "backoff_cap", parse_duration))
            .unwrap_or(DEFAULT_BACKOFF_CAP);
        let jitter = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "jitter", parse_duration_or_zero))
            .unwrap_or(DEFAULT_JITTER);
        let respect_cache_headers = poll
            .as_ref()
            .and_then(|t| self.boolean(t, "respect_cache_headers"))
            .unwrap_or(false);
        let timeout = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "timeout", parse_duration))
            .unwrap_or(DEFAULT_TIMEOUT);
        let concurrency = poll
            .as_ref()
            .and_then(|t| self.integer(t, "concurrency", 1, 1024))
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_CONCURRENCY);
        let max_body = poll
            .as_ref()
            .and_then(|t| match t.table.get("max_body") {
                Some(Item::Value(Value::Integer(_))) => self.integer(t, "max_body", 1024, i64::MAX).map(|n| n as u64),
                _ => self.parsed_with(t, "max_body", parse_size),
            })
            .unwrap_or(DEFAULT_MAX_BODY);

        let max_entry_size = poll
            .as_ref()
            .and_then(|t| match t.table.get("max_entry_size") {
                Some(Item::Value(Value::Integer(_))) => {
                    self.integer(t, "max_entry_size", 1024, 1 << 30).map(|n| n as u64)
                }
                _ => self.parsed_with(t, "max_entry_size", parse_size),
            })
            .map_or(crate::normalize::DEFAULT_MAX_TEXT, |n| n.clamp(1024, 1 << 30) as usize);
        let max_entries_per_poll = poll
            .as_ref()
            .and_then(|t| self.integer(t, "max_entries_per_poll", 1, 1_000_000))
            .map_or(DEFAULT_MAX_ENTRIES_PER_POLL, |n| n as usize);
        let internal_networks: Vec<Net> = match poll.as_ref().and_then(|t| self.string_list(t, "internal_networks")) {
            Some(list) => list
                .into_iter()
                .filter_map(|(s, line)| {
                    Net::parse(&s)
                        .map_err(|e| self.problem(line, format!("[poll] internal_networks: \"{s}\": {e}")))
                        .ok()
                })
                .collect(),
            None => DEFAULT_INTERNAL_NETWORKS
                .iter()
                .map(|s| Net::parse(s).expect("default networks parse"))
                .collect(),
        };
        let proxy = poll.as_ref().and_then(|t| self.proxy(t));
        PollConfig {
            timing,
            timeout,
            concurrency,
            per_host,
            max_body,
            backoff_cap,
            jitter,
            respect_cache_headers,
            max_entries_per_poll,
            max_entry_size,
            internal_networks: internal_networks.into(),
            proxy,
        }
    }
}
