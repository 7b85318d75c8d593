//! Pictures served by thau. `/img/{id}` with `[site] image_proxy = true`:
//! a story's picture, fetched once through the outgoing-request policy
//! (as an address read in a document: public hosts only, or the origin of
//! a source the admin put on an internal one), checked to be an image,
//! kept in memory, so that readers' browsers never call the sources'
//! hosts. `/assets/{file}`: the files of `[site] assets` (a logo, the
//! demo's pictures), the admin's own, served as the site's.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::*;
use crate::fetch::{Fetched, Fetcher, Limits, Validators};
use crate::outbound::Reach;

/// The largest picture fetched (a larger one is refused, not cut).
const MAX_PICTURE: u64 = 5 * 1024 * 1024;
/// Bytes of pictures kept in memory; the oldest go first.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Pictures fetched at once: a page of new pictures waits its turn.
const FETCHES: usize = 4;
/// The largest asset served.
const MAX_ASSET: u64 = 10 * 1024 * 1024;

/// The pictures fetched for the pages, and the fetcher that gets them.
pub struct Images {
    fetcher: Fetcher,
    cache: Mutex<Cache>,
    fetches: tokio::sync::Semaphore,
}

#[derive(Default)]
struct Cache {
    pictures: HashMap<String, Picture>,
    order: VecDeque<String>,
    bytes: usize,
}

#[derive(Clone)]
struct Picture {
    media_type: &'static str,
    body: Bytes,
}

impl Images {
    pub fn new(fetcher: Fetcher) -> Images {
        Images {
            fetcher,
            cache: Mutex::default(),
            fetches: tokio::sync::Semaphore::new(FETCHES),
        }
    }

    fn cached(&self, id: &str) -> Option<Picture> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.pictures.get(id).cloned()
    }

    fn keep(&self, id: &str, picture: Picture) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.pictures.contains_key(id) {
            return;
        }
        cache.bytes += picture.body.len();
        cache.pictures.insert(id.to_string(), picture);
        cache.order.push_back(id.to_string());
        while cache.bytes > CACHE_BYTES {
            let Some(oldest) = cache.order.pop_front() else { break };
            if let Some(gone) = cache.pictures.remove(&oldest) {
                cache.bytes -= gone.body.len();
            }
        }
    }
}

/// `/img/{id}`: a picture of a story on the site, through thau.
pub(super) async fn image(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let config = state.config();
    if !config.site.image_proxy {
        return plain(
            StatusCode::NOT_FOUND,
            "pictures are served by thau only with [site] image_proxy = true\n",
        );
    }
    if let Some(picture) = state.images.cached(&id) {
        return serve_picture(picture);
    }
    let site = state.site();
    let Some((url, entry)) = site.picture(&id) else {
        return plain(StatusCode::NOT_FOUND, "no such picture on the site\n");
    };
    // Public hosts only, or the origin of the source the admin configured
    // (a source on an internal address may show its own pictures).
    let within = entry
        .sources
        .iter()
        .find_map(|s| config.source(&s.name).and_then(|s| s.location.url().cloned()));
    let Ok(_turn) = state.images.fetches.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    // Another request may have fetched it while this one waited.
    if let Some(picture) = state.images.cached(&id) {
        return serve_picture(picture);
    }
    let limits = Limits {
        reach: Reach::Found { within },
        ..Limits::plain(
            config.poll.timeout,
            MAX_PICTURE.min(config.poll.max_body),
            config.poll.internal_networks.clone(),
        )
    };
    let fetched = state
        .images
        .fetcher
        .fetch(
            &crate::config::Location::Url(url.clone()),
            &Validators::default(),
            limits,
        )
        .await;
    let body = match fetched.map(|out| out.fetched) {
        Ok(Fetched::Document(doc)) => doc.body,
        Ok(Fetched::NotModified) => return plain(StatusCode::BAD_GATEWAY, "the picture's host sent no picture\n"),
        Err(e) => {
            debug!(picture = %crate::redact::redacted(&url), error = %e, "a picture could not be fetched");
            return plain(StatusCode::BAD_GATEWAY, "the picture could not be fetched\n");
        }
    };
    // Served as what its bytes are, and only if they are a picture (never
    // a page or a script under the site's name).
    let Some(media_type) = picture_type(&body) else {
        return plain(
            StatusCode::BAD_GATEWAY,
            "not a picture (JPEG, PNG, GIF, WebP or AVIF)\n",
        );
    };
    let picture = Picture {
        media_type,
        body: Bytes::from(body),
    };
    state.images.keep(&id, picture.clone());
    serve_picture(picture)
}

fn serve_picture(picture: Picture) -> Response {
    let mut r = typed(StatusCode::OK, picture.media_type, picture.body);
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    r
}

/// The type of a picture, from its first bytes.
fn picture_type(body: &[u8]) -> Option<&'static str> {
    Some(match body {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => "image/png",
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f' | b's', ..] => "image/avif",
        _ => return None,
    })
}

/// `/assets/{file}`: a file of `[site] assets` (one name, no folders, no
/// hidden files, no links), as its extension says.
pub(super) async fn asset(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let config = state.config();
    let not_found = || plain(StatusCode::NOT_FOUND, "no such file\n");
    let Some(dir) = &config.site.assets else {
        return not_found();
    };
    if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\', '\0']) {
        return not_found();
    }
    let path = dir.join(&file);
    match tokio::fs::symlink_metadata(&path).await {
        Ok(m) if m.is_file() && m.len() <= MAX_ASSET => {}
        _ => return not_found(),
    }
    let Ok(body) = tokio::fs::read(&path).await else {
        return not_found();
    };
    let extension = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let media_type = match extension.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let mut r = typed(StatusCode::OK, media_type, Bytes::from(body));
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // An SVG (from a source's pictures copied there, say) opened on its
    // own runs no script under the site's name.
    if media_type == "image/svg+xml" {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        );
    }
    r
}
