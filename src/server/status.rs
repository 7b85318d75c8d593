//! The status page and the admin API (`/api/sources`, a poll on demand),
//! and who may see them: the admin token, as Bearer or as the Basic password.

use super::*;

/// `/status`: public, or behind the admin token with `[server] status =
/// "private"`.
pub(super) async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    off_lane(state, index_page).await
}

/// Why a status request is refused, when the status is private and the
/// request does not carry the admin token: as a bearer token, or as the
/// password of Basic authentication (what a browser asks for).
pub(super) fn status_refused(config: &Config, headers: &HeaderMap) -> Option<Response> {
    if config.server.status == crate::config::StatusAccess::Public {
        return None;
    }
    let token = config.server.admin_token.as_deref()?;
    if bearer_matches(headers, token) || basic_password_matches(headers, token) {
        return None;
    }
    let mut r = plain(
        StatusCode::UNAUTHORIZED,
        "the status is private: give the admin token\n",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r.headers_mut().append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"thau status\", charset=\"UTF-8\""),
    );
    Some(r)
}

pub(super) fn index_page(state: &AppState) -> Response {
    let site = state.site();
    let config = state.config();
    let sources = source_statuses(&state.store, &config, &site, Some(Utc::now()), Some(&state.polls));
    let error = state.config_error.load();
    let store = state.store.health();
    let body = publish::index_html(
        &config.site,
        &site.base_url,
        &site.summaries(),
        &sources,
        &config,
        error.as_deref(),
        store.error.as_deref(),
    );
    typed(StatusCode::OK, "text/html; charset=utf-8", body)
}

/// Each source's state for the status page; with `now`, its next poll too.
/// A failure the store could not record (a full disk) is taken from
/// `polls`, what the runner saw.
pub fn source_statuses(
    store: &Store,
    config: &Config,
    site: &Site,
    now: Option<DateTime<Utc>>,
    polls: Option<&PollLog>,
) -> Vec<SourceStatus> {
    let failing = polls.map(PollLog::failing).unwrap_or_default();
    config
        .sources
        .iter()
        .map(|s| {
            let mut state = store.fetch_state(&s.name).ok().flatten();
            if let Some((at, why)) = failing.get(&s.name)
                && state
                    .as_ref()
                    .is_none_or(|st| st.last_poll.is_none_or(|last| last < *at))
            {
                let st = state.get_or_insert_with(FetchState::default);
                st.last_poll = Some(*at);
                st.last_outcome = Some(crate::model::Outcome::Error);
                st.last_error = Some(why.clone());
            }
            let next_poll = now.and_then(|now| {
                schedule::next_poll(
                    config.timing_of(s),
                    state.as_ref().unwrap_or(&FetchState::default()),
                    now,
                    config.poll.backoff_cap,
                    config.poll.respect_cache_headers,
                )
            });
            SourceStatus {
                name: s.name.clone(),
                title: s.title.clone(),
                location: s.location.to_string(),
                entries: site.per_source.get(&s.name).copied().unwrap_or(0),
                next_poll: next_poll.filter(|_| s.enabled),
                paused: !s.enabled,
                state,
            }
        })
        .collect()
}

#[derive(Serialize)]
pub(super) struct SourceJson {
    name: String,
    enabled: bool,
    location: String,
    sections: Vec<String>,
    schedule: String,
    /// Entries stored that this source carried.
    entries: usize,
    next_poll: Option<DateTime<Utc>>,
    /// Share of polls answered 304 (or an unchanged file).
    not_modified_share: f64,
    /// Our WebSub subscription to the source's hub, if any (no secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    websub: Option<serde_json::Value>,
    #[serde(flatten)]
    state: serde_json::Map<String, serde_json::Value>,
}

/// A source's fetch state as the API shows it: without its storage key
/// (`location` is shown above it) and with no credentials in a redirect.
pub(super) fn shown_state(state: &FetchState) -> serde_json::Map<String, serde_json::Value> {
    // Whole seconds: nanoseconds only make the page harder to read.
    let secs = |t: Option<DateTime<Utc>>| t.map(|t| t.trunc_subsecs(0));
    let mut shown = FetchState {
        permanent_redirect: state
            .permanent_redirect
            .as_deref()
            .map(|to| crate::redact::redacted_str(to).into_owned()),
        last_poll: secs(state.last_poll),
        last_success: secs(state.last_success),
        retry_after: secs(state.retry_after),
        fresh_until: secs(state.fresh_until),
        ..state.clone()
    };
    shown.location.clear();
    match serde_json::to_value(&shown) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("location");
            map
        }
        _ => serde_json::Map::new(),
    }
}

pub(super) async fn api_sources(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    off_lane(state, api_sources_page).await
}

pub(super) fn api_sources_page(state: &AppState) -> Response {
    let config = state.config();
    let site = state.site();
    let list: Vec<SourceJson> = source_statuses(&state.store, &config, &site, Some(Utc::now()), Some(&state.polls))
        .into_iter()
        .zip(&config.sources)
        .map(|(status, s)| {
            let fetch = status.state.unwrap_or_default();
            SourceJson {
                enabled: s.enabled,
                name: status.name,
                location: status.location,
                sections: s.sections.clone(),
                schedule: config.timing_of(s).to_string(),
                entries: status.entries,
                next_poll: status.next_poll.map(|t| t.trunc_subsecs(0)),
                not_modified_share: if fetch.polls == 0 {
                    0.0
                } else {
                    fetch.not_modified as f64 / fetch.polls as f64
                },
                websub: state.subscriber.state(&s.name).map(|p| {
                    serde_json::json!({
                        "hub": crate::redact::redacted_str(&p.hub),
                        "topic": crate::redact::redacted_str(&p.topic),
                        "verified": p.verified,
                        "expires": p.expires.map(|t| t.trunc_subsecs(0)),
                        "active": p.active(Utc::now()),
                    })
                }),
                state: shown_state(&fetch),
            }
        })
        .collect();
    let error = state.config_error.load();
    json(&serde_json::json!({ "config_error": error.as_deref(), "sources": list }))
}

/// `POST /api/sources/{name}/poll`: polls now, with `Authorization: Bearer
/// <[server].admin_token>`. Off (404) when no token is configured.
pub(super) async fn admin_poll(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admin_refused(&state.config(), &headers) {
        return refused;
    }
    let (reply, answer) = oneshot::channel();
    if state
        .admin
        .send(AdminRequest {
            source: name.clone(),
            reply,
        })
        .await
        .is_err()
    {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match answer.await {
        Ok(Ok(report)) => json(&report),
        Ok(Err(AdminError::UnknownSource)) => plain(
            StatusCode::NOT_FOUND,
            &format!("{}\n", state.config().no_such_source(&name)),
        ),
        Ok(Err(AdminError::Busy(why))) => plain(StatusCode::CONFLICT, &format!("{why}\n")),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

/// Why an admin request is refused: the admin endpoints are off (404), or
/// it does not carry the admin token as a bearer token (401).
fn admin_refused(config: &Config, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = config.server.admin_token.as_deref() else {
        return Some(plain(
            StatusCode::NOT_FOUND,
            "admin endpoints are off: set [server].admin_token\n",
        ));
    };
    if bearer_matches(headers, token) {
        return None;
    }
    let mut r = plain(StatusCode::UNAUTHORIZED, "a valid bearer token is required\n");
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(r)
}

/// `POST /api/stories/{story}/{verb}`, behind the admin token: `hide`
/// and `unhide` (JSON body `{"reason": "…"}`), `pin` and `unpin`
/// (`{"section": "…", "until": "…"}`), `pick` and `unpick`
/// (`{"section": "…"}`), as the `thau` commands of those names, editing
/// feeds.toml (which the daemon reloads within a second). `{story}` as
/// `thau hide` takes it, percent-encoded.
pub(super) async fn admin_story(
    State(state): State<Arc<AppState>>,
    Path((story, verb)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let config = state.config();
    if let Some(refused) = admin_refused(&config, &headers) {
        return refused;
    }
    if !matches!(verb.as_str(), "hide" | "unhide" | "pin" | "unpin" | "pick" | "unpick") {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let asked = match body.is_empty() {
        true => serde_json::Value::Null,
        false => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => v,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("the body is not JSON: {e}\n")),
        },
    };
    let field = |name: &str| asked[name].as_str().map(str::to_owned);
    let (reason, section, until) = (field("reason"), field("section"), field("until"));
    let story = crate::desk::story_name(&story);
    if matches!(verb.as_str(), "pin" | "pick" | "unpick") && section.is_none() {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!("{verb}: give {{\"section\": \"…\"}}\n"),
        );
    }
    let (path, name, doing) = (config.file.clone(), story.clone(), verb.clone());
    let edited = tokio::task::spawn_blocking(move || {
        use crate::edit::DeskEdit;
        let section = section.as_deref().unwrap_or_default();
        let edit = match doing.as_str() {
            "hide" => DeskEdit::Hide {
                reason: reason.as_deref(),
            },
            "unhide" => DeskEdit::Unhide,
            "pin" => DeskEdit::Pin {
                section,
                until: until.as_deref(),
            },
            "unpin" => DeskEdit::Unpin {
                section: (!section.is_empty()).then_some(section),
            },
            "pick" => DeskEdit::Pick { section },
            _ => DeskEdit::Unpick { section },
        };
        crate::edit::edit_file(&path, |text, now| {
            Ok(edit
                .apply(text, &path, now, &name, Utc::now())?
                .unwrap_or_else(|| text.to_string()))
        })
    })
    .await;
    match edited {
        Ok(Ok(())) => json(&serde_json::json!({ "story": story, "done": verb })),
        Ok(Err(e @ crate::edit::EditError::NotHidden(_))) => plain(StatusCode::NOT_FOUND, &format!("{e}\n")),
        // (An unknown section, a bad date: the edit would not pass `thau check`.)
        Ok(Err(e @ crate::edit::EditError::Invalid(_))) => plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
        Ok(Err(e)) => plain(StatusCode::CONFLICT, &format!("{e}\n")),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

/// Whether the request carries `Authorization: Bearer <token>`.
pub(super) fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    credentials(headers, "bearer").is_some_and(|given| crate::config::same_secret(given.as_bytes(), token.as_bytes()))
}

/// Whether the request carries Basic credentials whose password is `token`
/// (any user name).
pub(super) fn basic_password_matches(headers: &HeaderMap, token: &str) -> bool {
    basic_password(headers).is_some_and(|password| crate::config::same_secret(&password, token.as_bytes()))
}

/// The password of the request's Basic credentials (any user name).
fn basic_password(headers: &HeaderMap) -> Option<Vec<u8>> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials(headers, "basic")?)
        .ok()?;
    let password = decoded
        .iter()
        .position(|&b| b == b':')
        .map_or(&[][..], |i| &decoded[i + 1..]);
    Some(password.to_vec())
}

/// Why a request for a private section's feed or page is refused: it
/// carries no key that opens the section (`?key=`, a Basic password, a
/// Bearer token; the admin token opens every section). None for a public
/// section.
pub(super) fn private_refused(
    config: &Config,
    section: &crate::config::Section,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    if !section.private {
        return None;
    }
    let from_query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned());
    let given = from_query
        .into_iter()
        .chain(basic_password(headers).map(|p| String::from_utf8_lossy(&p).into_owned()))
        .chain(credentials(headers, "bearer").map(str::to_owned));
    let admin = config.server.admin_token.as_deref();
    for key in given {
        if config.key_opens(&key, &section.slug)
            || admin.is_some_and(|t| crate::config::same_secret(key.as_bytes(), t.as_bytes()))
        {
            return None;
        }
    }
    let mut r = plain(
        StatusCode::UNAUTHORIZED,
        &format!(
            "section \"{}\" is private: give your key (?key=… or as the password)\n",
            section.slug
        ),
    );
    let realm = format!(
        "Basic realm=\"{}\", charset=\"UTF-8\"",
        section.title.replace(['"', '\\'], "")
    );
    if let Ok(v) = HeaderValue::from_str(&realm) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(r)
}

/// The credentials of `Authorization: <scheme> <credentials>` (the scheme
/// in any case, RFC 9110).
pub(super) fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.trim().split_once(char::is_whitespace))
        .filter(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, given)| given.trim())
        .filter(|given| !given.is_empty())
}
