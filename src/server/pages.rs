//! The reading pages: front, section and story, rendered off the serving
//! threads.

use super::*;

/// The reading pages: ages are counted from now, so they are rendered for
/// each request (a few milliseconds) and cached briefly.
pub(super) const PAGE_CACHE_CONTROL: &str = "public, max-age=60";

pub(super) fn page(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = typed(status, "text/html; charset=utf-8", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE_CONTROL));
    r
}

/// A page while the site is first rendered: 503, to come back in a moment
/// (the page reloads itself).
fn starting_page(state: &AppState, site: &Site) -> Response {
    let mut r = page(StatusCode::SERVICE_UNAVAILABLE, pages(&state.config(), site).starting());
    let headers = r.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn pages<'a>(config: &'a Config, site: &'a Site) -> publish::Pages<'a> {
    publish::Pages {
        site: &config.site,
        base_url: &site.base_url,
        sections: &config.sections,
        now: Some(Utc::now()),
    }
}

/// `/`: every section's latest stories.
pub(super) async fn front_page(State(state): State<Arc<AppState>>) -> Response {
    let site = state.site();
    if !site.ready {
        return starting_page(&state, &site);
    }
    let config = state.config();
    let listings: Vec<publish::Listing<'_>> = site
        .sections
        .iter()
        .filter(|s| !s.section.private)
        .map(|s| publish::Listing {
            section: &s.section,
            // (The front page picks its few among them, each story once.)
            entries: &s.entries[..s.entries.len().min(site.page_size)],
        })
        .collect();
    let lead = site.front_lead();
    let lead = lead.as_ref().map(|(e, s)| (e.as_ref(), *s));
    page(StatusCode::OK, pages(&config, &site).front_with_lead(&listings, lead))
}

/// `/sections/{slug}/`: the section's stories (a feed page's worth).
pub(super) fn section_page(state: &AppState, slug: &str) -> Response {
    let site = state.site();
    if !site.ready {
        return starting_page(state, &site);
    }
    let config = state.config();
    let Some(section) = site.section(slug) else {
        return page(StatusCode::NOT_FOUND, pages(&config, &site).not_found());
    };
    let listing = publish::Listing {
        section: &section.section,
        entries: &section.entries[..section.entries.len().min(site.page_size)],
    };
    let mut r = page(StatusCode::OK, pages(&config, &site).section(&listing));
    if section.section.private {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, super::feeds::PRIVATE_CACHE_CONTROL);
    }
    r
}

/// A feed opened in a browser: what it is, how to subscribe, its stories
/// (`""` is the all-sections feed). Varies on `Sec-Fetch-Dest`, so that no
/// cache hands it to a feed reader.
pub(super) fn feed_page(state: &AppState, slug: &str, format: Format) -> Response {
    let site = state.site();
    if !site.ready {
        return starting_page(state, &site);
    }
    let config = state.config();
    let base = &site.base_url;
    let (section, urls, page_url) = match slug {
        "" => match &site.all {
            Some(all) => (
                all,
                Format::ALL.map(|f| (f, format!("{base}/{}", f.all_file_name()))),
                format!("{base}/"),
            ),
            None => return plain(StatusCode::NOT_FOUND, "not found\n"),
        },
        slug => match site.section(slug) {
            Some(section) => (
                section,
                Format::ALL.map(|f| (f, publish::section_url(base, slug, f))),
                publish::section_page_url(base, slug),
            ),
            None => return page(StatusCode::NOT_FOUND, pages(&config, &site).not_found()),
        },
    };
    let listing = publish::Listing {
        section: &section.section,
        entries: &section.entries[..section.entries.len().min(site.page_size)],
    };
    let mut r = page(
        StatusCode::OK,
        pages(&config, &site).feed_page(&listing, format, &urls, &page_url),
    );
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("sec-fetch-dest"));
    if section.section.private {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, super::feeds::PRIVATE_CACHE_CONTROL);
    }
    r
}

/// `/stories/{id}.html`: one story.
/// A story shown only in private sections needs a key to one of them.
pub(super) async fn story_page(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    off_lane(state, move |state| {
        let site = state.site();
        if !site.ready {
            return starting_page(state, &site);
        }
        let config = state.config();
        let pages = pages(&config, &site);
        match file.strip_suffix(".html").and_then(|id| site.story(id)) {
            Some((entry, sections)) if !sections.is_empty() && sections.iter().all(|s| s.private) => {
                let refusals: Vec<Response> = sections
                    .iter()
                    .map_while(|s| super::status::private_refused(&config, s, uri.query(), &headers))
                    .collect();
                match refusals.len() == sections.len() {
                    true => refusals.into_iter().next().expect("a private section"),
                    false => {
                        let mut r = page(StatusCode::OK, pages.story(&entry, &sections));
                        r.headers_mut()
                            .insert(header::CACHE_CONTROL, super::feeds::PRIVATE_CACHE_CONTROL);
                        r
                    }
                }
            }
            Some((entry, sections)) => {
                // (Its private sections are not named to everyone.)
                let public: Vec<&crate::config::Section> = sections.into_iter().filter(|s| !s.private).collect();
                page(StatusCode::OK, pages.story(&entry, &public))
            }
            None => page(StatusCode::NOT_FOUND, pages.not_found()),
        }
    })
    .await
}
