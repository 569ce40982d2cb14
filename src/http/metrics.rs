//! `GET /metrics` (Prometheus text) and the middleware that counts requests by route and
//! status and times them.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::state::AppState;

/// The process-wide recorder (the `metrics` facade has one global recorder, so apps started
/// in one process, as tests do, share it).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0, 30.0,
                    ],
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `GET /metrics`: refreshes the queue gauges from the database, then renders.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    refresh_queue_gauges(&state.pool).await;
    text(&state.metrics)
}

/// Sets the jobs-by-state, queue-depth and running-runs gauges from the database (a failed
/// read is logged and leaves them as they were).
pub async fn refresh_queue_gauges(pool: &crate::Db) {
    match crate::health::queue_stats(pool).await {
        Ok((by_status, queued, running)) => {
            for status in crate::domain::job::JobStatus::ALL {
                let n = by_status
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("crossfold_jobs", "state" => status.as_str()).set(n as f64);
            }
            metrics::gauge!("crossfold_queue_depth").set(queued as f64);
            metrics::gauge!("crossfold_runs_running").set(running as f64);
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "reading queue statistics failed"),
    }
}

/// The Prometheus text of `handle`.
pub fn text(handle: &PrometheusHandle) -> impl IntoResponse + use<> {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// The route pattern that served a request, carried from routing out to `track_requests`.
#[derive(Clone)]
struct RoutePattern(String);

/// Route layer: copies the matched route pattern into the response.
pub async fn remember_route(req: Request, next: Next) -> Response {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut res = next.run(req).await;
    if let Some(p) = pattern {
        res.extensions_mut().insert(RoutePattern(p));
    }
    res
}

/// The method as a metric label: the standard ones by name, anything else as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Outer layer: counts and times every request, unmatched ones included.
pub async fn track_requests(req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Label values come from a fixed set: a made-up method must not mint a new time series.
    let method = method_label(req.method());
    let res = next.run(req).await;
    let route = res
        .extensions()
        .get::<RoutePattern>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.0.clone());
    let status = res.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}
