//! How a source is fetched and read: scraping rules, proxy, request
//! headers and credentials, include/exclude filters.

use super::*;

impl Checker {
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
