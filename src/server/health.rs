//! `/healthz` for load balancers and monitors, `/metrics` for Prometheus;
//! both say less when the status is private.

use super::*;

/// `/metrics`: name sources and their outcomes, so behind the admin token
/// when the status is private.
pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    typed(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        state.metrics.encode(),
    )
}

/// `200` while thau can do its work, `503` while the store cannot be
/// written (a full disk): what a load balancer or a monitor should watch.
pub(super) async fn healthz(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let store = state.store.health();
    let failing = state.polls.failing();
    let last_success = state.polls.last_success();
    // A private status shows no names and no reasons, unless the admin asks.
    if status_refused(&state.config(), &headers).is_some() {
        let body = serde_json::json!({
            "status": if store.writable { "ok" } else { "not-ok" },
            "ready": state.site().ready,
            "failing_sources": failing.len(),
        });
        let mut response = json(&body);
        if !store.writable {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        return response;
    }
    let body = serde_json::json!({
        "status": if store.writable { "ok" } else { "store-not-writable" },
        "ready": state.site().ready,
        "sections": state.site().sections.len(),
        "store": store,
        "backend": state.store.backend(),
        "last_successful_poll": last_success.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "seconds_since_last_successful_poll": last_success.map(|t| (Utc::now() - t).num_seconds().max(0)),
        "failing_sources": failing.len(),
        "failing": failing.keys().take(20).collect::<Vec<_>>(),
    });
    let mut response = json(&body);
    if !store.writable {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}
