//! WebSub over HTTP: the hub's `POST /websub` (thau's own feeds) and the
//! callbacks where hubs verify and push to thau as a subscriber.

use super::*;

/// `POST /websub`: a subscription request (WebSub §5.1). 202 once it is
/// checked; its intent is verified with the callback in the background.
pub(super) async fn websub(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    let config = state.config();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/x-www-form-urlencoded\n",
        );
    }
    let request = match crate::websub::Request::parse(&body, &site, &config) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    };
    if !state.hub.callback_allowed(&config, &request.callback).await {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!("{}\n", crate::websub::RequestError::InternalCallback),
        );
    }
    let Some(turn) = state.hub.verification_turn() else {
        let mut r = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} verifications are under way: try again later\n",
                crate::websub::VERIFICATIONS
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return r;
    };
    let hub = state.hub.clone();
    tokio::spawn(async move {
        hub.verify(&config, request).await;
        drop(turn);
    });
    plain(
        StatusCode::ACCEPTED,
        "accepted: the callback will be asked to confirm\n",
    )
}

/// `GET /websub/callback/{source}/{token}`: a hub verifying a request of
/// ours.
pub(super) async fn websub_verify_token(
    State(state): State<Arc<AppState>>,
    Path((source, token)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    verify_subscription(state, source, Some(token), uri).await
}

/// `GET /websub/callback/{source}`: the callback of subscriptions made
/// before tokens, where only an unsubscription we did not ask for is
/// confirmed.
pub(super) async fn websub_verify(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    uri: Uri,
) -> Response {
    verify_subscription(state, source, None, uri).await
}

pub(super) async fn verify_subscription(
    state: Arc<AppState>,
    source: String,
    token: Option<String>,
    uri: Uri,
) -> Response {
    let subscriber = state.subscriber.clone();
    let query = uri.query().unwrap_or("").to_string();
    let max_lease = state.config().websub.max_lease;
    let verified =
        tokio::task::spawn_blocking(move || subscriber.verify(&source, token.as_deref(), &query, max_lease)).await;
    let mut response = match verified {
        Ok(Ok(challenge)) => typed(StatusCode::OK, "text/plain; charset=utf-8", challenge),
        Ok(Err(refusal)) => plain(refusal.status(), "no such subscription request\n"),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "failed\n"),
    };
    // The challenge is the hub's text: never to be read as anything else.
    response
        .headers_mut()
        .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `POST /websub/callback/{source}/{token}`: content a hub pushes, stored
/// when signed for an active subscription.
pub(super) async fn websub_push_token(
    State(state): State<Arc<AppState>>,
    Path((source, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take_push(state, source, Some(token), headers, body).await
}

/// `POST /websub/callback/{source}`: a push on the callback of a
/// subscription made before tokens.
pub(super) async fn websub_push(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take_push(state, source, None, headers, body).await
}

pub(super) async fn take_push(
    state: Arc<AppState>,
    source: String,
    token: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = state.config();
    let subscriber = state.subscriber.clone();
    let signature = headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let taken = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            subscriber.take(
                &config,
                &source,
                token.as_deref(),
                signature.as_deref(),
                content_type.as_deref(),
                &body,
            )
        })
        .await
    };
    match taken {
        Ok(Ok(counts)) => {
            if let Err(e) = state.store.flush_async().await {
                return plain(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"));
            }
            tracing::info!(source = %source, new = counts.new, updated = counts.updated, "websub: push stored");
            state.changed.notify_one();
            plain(StatusCode::OK, "stored\n")
        }
        Ok(Err((status, why))) => plain(status, &why),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "failed\n"),
    }
}
