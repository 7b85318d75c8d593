//! Section feeds, their `?limit`/`?since` variants and archive pages, and
//! the OPML: the bytes the site rendered, negotiated (ETags, 304s, gzip and
//! brotli, HEAD).

use super::*;

/// Whether `path` names a feed (served from memory without the router):
/// `/sections/{slug}/{file}` or an "all sections" feed, not a page.
pub(super) fn is_feed_path(path: &str) -> bool {
    match path.strip_prefix("/sections/") {
        Some(rest) => rest.split_once('/').is_some_and(|(_, file)| !file.is_empty()),
        None => matches!(path, "/feed.xml" | "/atom.xml" | "/feed.json"),
    }
}

/// `/sections/{slug}/{file}`, and the "all sections" feed (`/feed.xml`,
/// `/atom.xml`, `/feed.json`). `/sections/{slug}/` is the section's page.
/// Takes the request whole: feed requests are the hot path, and extractors
/// would copy the path and the headers.
pub(super) async fn section_feed(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path();
    if let Some(slug) = path.strip_prefix("/sections/").and_then(|r| r.strip_suffix('/'))
        && !slug.contains('/')
    {
        if let Some(refused) = section_refused(&state, slug, request.uri().query(), request.headers()) {
            return refused;
        }
        let slug = slug.to_string();
        return off_lane(state, move |state| section_page(state, &slug)).await;
    }
    if let Some(slug) = path
        .strip_prefix("/sections/")
        .filter(|r| !r.is_empty() && !r.contains('/'))
    {
        // `/sections/sete`: the page is `/sections/sete/`.
        let mut r = plain(StatusCode::MOVED_PERMANENTLY, "moved\n");
        if let Ok(to) = HeaderValue::from_str(&format!("/sections/{slug}/")) {
            r.headers_mut().insert(header::LOCATION, to);
        }
        return r;
    }
    if opened_in_browser(request.headers())
        && let Some((slug, format)) = plain_feed(path)
    {
        if let Some(refused) = section_refused(&state, &slug, request.uri().query(), request.headers()) {
            return refused;
        }
        return off_lane(state, move |state| super::pages::feed_page(state, &slug, format)).await;
    }
    match feed_response(&state, request.uri(), request.headers()) {
        FeedAnswer::Now(response) => response,
        FeedAnswer::Render(render) => render_variant(state.clone(), render, request.headers().clone()).await,
        FeedAnswer::Archive(page) => archive_page(state.clone(), page, request.headers().clone()).await,
    }
}

/// Why a request for section `slug`'s page is refused (a private section
/// and no key that opens it).
fn section_refused(state: &AppState, slug: &str, query: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    let site = state.site();
    let section = site.section(slug)?;
    private_refused(&state.config(), &section.section, query, headers)
}

/// Whether a browser's reader opened this address itself (a top-level
/// navigation: `Sec-Fetch-Dest: document`, which every current browser
/// sends and no feed reader does). Such a request gets a page, not XML.
pub(super) fn opened_in_browser(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-dest")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"document"))
}

/// The section (`""` for all sections) and format of a feed's own address
/// (not a digest or an archive page).
fn plain_feed(path: &str) -> Option<(String, Format)> {
    if let Some(format) = Format::ALL
        .into_iter()
        .find(|f| path.strip_prefix('/') == Some(f.all_file_name()))
    {
        return Some((String::new(), format));
    }
    let (slug, file) = path.strip_prefix("/sections/")?.split_once('/')?;
    let format = Format::ALL.into_iter().find(|f| f.file_name() == file)?;
    Some((slug.to_string(), format))
}

/// A feed request answered from memory, or a variant or an archive page
/// to render first.
pub(super) enum FeedAnswer {
    Now(Response),
    Render(VariantKey),
    Archive(ArchiveRequest),
}

/// `/sections/{slug}/archive/{n}.{xml,atom,json}`.
pub(super) struct ArchiveRequest {
    slug: String,
    n: u32,
    format: Format,
}

/// A private section's documents: kept by no shared cache, revalidated.
pub(super) const PRIVATE_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");

/// How a document of section `slug` (`""`: all sections) may be cached.
fn cache_control(site: &Site, slug: &str) -> HeaderValue {
    match site.section(slug).is_some_and(|s| s.section.private) {
        true => PRIVATE_CACHE_CONTROL,
        false => site.cache_control.clone(),
    }
}

/// Archive pages change only when a story is pruned: cached for a week.
pub(super) const ARCHIVE_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=604800");

/// Serves an archive page, reading and rendering it off the serving
/// threads the first time.
pub(super) async fn archive_page(state: Arc<AppState>, page: ArchiveRequest, headers: HeaderMap) -> Response {
    let site = state.site.load_full();
    let store = state.store.clone();
    let cache = match site.section(&page.slug).is_some_and(|s| s.section.private) {
        true => PRIVATE_CACHE_CONTROL,
        false => ARCHIVE_CACHE_CONTROL,
    };
    let rendered = {
        let site = site.clone();
        tokio::task::spawn_blocking(move || site.archive_page(&store, &page.slug, page.n, page.format)).await
    };
    match rendered {
        Ok(Ok(Some(doc))) => serve_doc(&doc, &headers, &cache),
        Ok(Ok(None)) => plain(StatusCode::NOT_FOUND, "no such archive page\n"),
        Ok(Err(e)) => {
            warn!(error = %e, "reading an archive page failed");
            plain(StatusCode::SERVICE_UNAVAILABLE, "the store cannot be read\n")
        }
        Err(e) => {
            warn!(error = %e, "rendering an archive page failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
        }
    }
}

pub(super) fn feed_response(state: &AppState, uri: &Uri, headers: &HeaderMap) -> FeedAnswer {
    let site = state.site.load();
    let (path, query) = (uri.path(), uri.query());
    let not_found = |message: &str| FeedAnswer::Now(plain(StatusCode::NOT_FOUND, message));
    if !site.ready {
        return FeedAnswer::Now(starting());
    }
    let (slug, section, format) = match Format::ALL
        .into_iter()
        .find(|f| path.strip_prefix('/') == Some(f.all_file_name()))
    {
        Some(format) => match &site.all {
            Some(all) => ("", all, format),
            None => return not_found("not found\n"),
        },
        None => {
            let Some((slug, file)) = path.strip_prefix("/sections/").and_then(|r| r.split_once('/')) else {
                return not_found("not found\n");
            };
            let Some(section) = site.section(slug) else {
                return not_found(&format!("no section \"{slug}\"\n"));
            };
            if let Some(refused) = private_refused(&state.config(), &section.section, query, headers) {
                return FeedAnswer::Now(refused);
            }
            if let Some(page) = file.strip_prefix("archive/") {
                let parsed = page.split_once('.').and_then(|(n, ext)| {
                    // One spelling per page: digits only (no sign), no leading zero.
                    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
                    let n = n.parse::<u32>().ok().filter(|_| digits)?;
                    let format = Format::ALL.into_iter().find(|f| f.archive_extension() == ext)?;
                    Some((n, format))
                });
                return match parsed {
                    Some((n, format)) => FeedAnswer::Archive(ArchiveRequest {
                        slug: slug.to_string(),
                        n,
                        format,
                    }),
                    None => not_found("archive pages are archive/{n}.xml (RSS), .atom and .json\n"),
                };
            }
            if let Some(format) = Format::ALL.into_iter().find(|f| f.digest_file_name() == file) {
                // One document per section: ?limit and ?since do not apply.
                return match section.digest.get(&format) {
                    Some(doc) => FeedAnswer::Now(serve_doc(doc, headers, &cache_control(&site, slug))),
                    None => not_found(&format!("section \"{slug}\" has no digest (set digest = \"daily\")\n")),
                };
            }
            let Some(format) = Format::ALL.into_iter().find(|f| f.file_name() == file) else {
                return not_found("section feeds are rss.xml, atom.xml and feed.json\n");
            };
            (slug, section, format)
        }
    };
    let params = match FeedParams::parse(query, site.max_page_size) {
        Ok(p) => p,
        Err(message) => return FeedAnswer::Now(plain(StatusCode::BAD_REQUEST, &format!("{message}\n"))),
    };
    if params.is_default(site.page_size) {
        return FeedAnswer::Now(serve_doc(&section.feeds[&format], headers, &cache_control(&site, slug)));
    }
    let key = VariantKey {
        slug: slug.to_string(),
        format,
        limit: params.limit.unwrap_or(site.page_size),
        since: params.since,
    };
    match site.variants.get(&key) {
        Some(doc) => FeedAnswer::Now(serve_doc(&doc, headers, &cache_control(&site, slug))),
        None => FeedAnswer::Render(key),
    }
}

/// Renders a `?limit`/`?since` variant away from the serving threads (on
/// the blocking pool, [`VARIANT_RENDERS`] at a time), keeps it with the
/// site until the next republish, and serves it.
pub(super) async fn render_variant(state: Arc<AppState>, key: VariantKey, headers: HeaderMap) -> Response {
    let Ok(_turn) = state.renders.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    let site = state.site.load_full();
    // Another request may have rendered it while this one waited.
    if let Some(doc) = site.variants.get(&key) {
        return serve_doc(&doc, &headers, &cache_control(&site, &key.slug));
    }
    let rendered = {
        let (site, key) = (site.clone(), key.clone());
        tokio::task::spawn_blocking(move || site.render_variant(&key)).await
    };
    match rendered {
        Ok(Some(doc)) => {
            let cache = cache_control(&site, &key.slug);
            let doc = site.variants.insert(key, doc);
            serve_doc(&doc, &headers, &cache)
        }
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such section\n"),
        Err(e) => {
            warn!(error = %e, "rendering a feed variant failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct FeedParams {
    limit: Option<usize>,
    since: Option<DateTime<Utc>>,
}

impl FeedParams {
    fn parse(query: Option<&str>, max: usize) -> Result<FeedParams, String> {
        let mut params = FeedParams::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "limit" => {
                    let n = v.parse::<usize>().ok().filter(|n| (1..=max).contains(n));
                    params.limit = Some(n.ok_or(format!("limit must be an integer from 1 to {max}, not \"{v}\""))?);
                }
                "since" => {
                    // An unencoded `+01:00` arrives as a space.
                    let t = DateTime::parse_from_rfc3339(&v)
                        .or_else(|e| DateTime::parse_from_rfc3339(&v.replace(' ', "+")).map_err(|_| e))
                        .map_err(|_| {
                            format!("since must be an RFC 3339 date such as 2026-11-25T08:00:00Z, not \"{v}\"")
                        })?;
                    params.since = Some(t.with_timezone(&Utc));
                }
                _ => {}
            }
        }
        Ok(params)
    }

    fn is_default(&self, page_size: usize) -> bool {
        self.since.is_none() && self.limit.is_none_or(|l| l == page_size)
    }
}

/// One concrete response body.
pub(super) struct Variant<'a> {
    content_type: &'static str,
    body: Bytes,
    encoding: Option<&'static str>,
    etag: &'a HeaderValue,
    last_modified: (DateTime<Utc>, &'a HeaderValue),
    link: Option<&'a HeaderValue>,
}

pub(super) fn serve_doc(doc: &Doc, headers: &HeaderMap, cache_control: &HeaderValue) -> Response {
    // Each encoding is its own representation, with its own strong ETag.
    // The best encoding the client accepts of those this document has (a
    // `?limit` variant has no brotli: a client that takes br but refuses
    // gzip gets the identity).
    let accepted = accepted_encodings(headers);
    let (body, encoding, etag) = if accepted.br && !doc.brotli.is_empty() {
        (doc.brotli.clone(), Some("br"), &doc.etags[2])
    } else if accepted.gzip && !doc.gzip.is_empty() {
        (doc.gzip.clone(), Some("gzip"), &doc.etags[1])
    } else {
        (doc.identity.clone(), None, &doc.etags[0])
    };
    respond(
        headers,
        Variant {
            content_type: doc.content_type,
            body,
            encoding,
            etag,
            last_modified: (doc.last_modified, &doc.last_modified_header),
            link: doc.link.as_ref(),
        },
        cache_control,
    )
}

pub(super) fn respond(request: &HeaderMap, v: Variant<'_>, cache_control: &HeaderValue) -> Response {
    let not_modified = match request.get(header::IF_NONE_MATCH) {
        Some(tags) => etag_matches(tags.as_bytes(), v.etag.as_bytes()),
        None => request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|h| h.to_str().ok())
            .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
            .is_some_and(|since| v.last_modified.0 <= since),
    };
    let mut response = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::empty()).into_response()
    } else {
        let mut r = (StatusCode::OK, Body::from(v.body)).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v.content_type));
        if let Some(enc) = v.encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        // Feeds are public: browser readers and JSON Feed clients may fetch
        // them. (Not on a 304: the browser keeps the headers of the 200.)
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        if let Some(link) = v.link {
            h.insert(header::LINK, link.clone());
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, v.etag.clone());
    h.insert(header::LAST_MODIFIED, v.last_modified.1.clone());
    h.insert(header::CACHE_CONTROL, cache_control.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// `If-None-Match` uses the weak comparison; a tag of another encoding of
/// the same bytes matches too (the client already has this content).
pub(super) fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    fn opaque(t: &[u8]) -> &[u8] {
        let t = t.trim_ascii();
        let t = t.strip_prefix(b"W/").unwrap_or(t);
        let t = t.strip_prefix(b"\"").unwrap_or(t);
        let t = t.strip_suffix(b"\"").unwrap_or(t);
        t.strip_suffix(b"-gz").or_else(|| t.strip_suffix(b"-br")).unwrap_or(t)
    }
    let ours = opaque(etag);
    header
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii() == b"*" || opaque(t) == ours)
}

/// Which compressed encodings a request's `Accept-Encoding` takes (a
/// q-value of 0 refuses one; `*` stands for those not named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Accepted {
    pub br: bool,
    pub gzip: bool,
}

pub(super) fn accepted_encodings(headers: &HeaderMap) -> Accepted {
    let Some(accept) = headers.get(header::ACCEPT_ENCODING).and_then(|h| h.to_str().ok()) else {
        return Accepted { br: false, gzip: false };
    };
    // The weight of each coding named (`*` stands for the others).
    let (mut br, mut gzip, mut any) = (None, None, None);
    for part in accept.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let weight = it
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("br") {
            br = Some(weight);
        } else if name.eq_ignore_ascii_case("gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    let accepts = |w: Option<f32>| w.or(any).is_some_and(|w| w > 0.0);
    Accepted {
        br: accepts(br),
        gzip: accepts(gzip),
    }
}

/// While the site is first rendered (seconds, on a large store).
pub(super) fn starting() -> Response {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "thau is starting: the feeds are being rendered\n",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

pub(super) async fn opml(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    serve_doc(&site.opml, &headers, &site.cache_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_parameters_are_checked() {
        assert_eq!(FeedParams::parse(Some("limit=10"), 500).unwrap().limit, Some(10));
        assert!(FeedParams::parse(Some("limit=0"), 500).is_err());
        assert!(FeedParams::parse(Some("limit=501"), 500).is_err());
        assert!(FeedParams::parse(Some("since=yesterday"), 500).is_err());
        let p = FeedParams::parse(Some("since=2026-11-25T08:00:00%2B01:00"), 500).unwrap();
        assert_eq!(p.since.unwrap().to_rfc3339(), "2026-11-25T07:00:00+00:00");
        let p = FeedParams::parse(Some("since=2026-11-25T08:00:00+01:00"), 500).unwrap();
        assert_eq!(
            p.since.unwrap().to_rfc3339(),
            "2026-11-25T07:00:00+00:00",
            "an unencoded +"
        );
    }
}
