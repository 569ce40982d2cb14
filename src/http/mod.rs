//! The HTTP API: one file per resource, each with its own `routes()`, assembled here with the
//! cross-cutting layers (auth, metrics, request ids, tracing) and the problem+json fallbacks.

pub mod attention_plot;
pub mod auth;
mod body_format;
pub mod calibration;
pub mod class_plots;
pub mod compare;

pub mod curves;
pub mod datasets;
pub mod event_hub;
pub mod events;
pub mod extract;
pub mod gradients;
pub mod job_metrics;
pub mod jobs;
pub mod leaderboard_plot;
mod list_events;
pub mod metrics;
mod model_export;
mod plot_inputs;
pub mod plot_response;
pub mod predict;
mod predict_sequences;
pub mod predictions;
pub mod probes;
pub mod problems;
pub mod rate_range_plot;
pub mod remedies;
mod remedy_outcomes;
mod remedy_verify;
pub mod runs;
pub mod serve;
pub mod service;
pub mod state;
pub mod tokens;
pub mod upload;
pub mod web_ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use self::state::{AppState, Route};
use crate::error::ApiError;

/// Routes open without a token.
fn open_routes() -> Vec<Route> {
    service::open_routes()
}

/// Routes behind the token check (when tokens are configured).
fn protected_routes() -> Vec<Route> {
    let mut routes = service::protected_routes();
    routes.extend(datasets::routes());
    routes.extend(jobs::routes());
    routes.extend(job_metrics::routes());
    routes.extend(remedies::routes());
    routes.extend(events::routes());
    routes.extend(list_events::routes());
    routes.extend(curves::routes());
    routes.extend(calibration::routes());
    routes.extend(rate_range_plot::routes());
    routes.extend(gradients::routes());
    routes.extend(class_plots::routes());
    routes.extend(leaderboard_plot::routes());
    routes.extend(attention_plot::routes());
    routes.extend(runs::routes());
    routes.extend(predict::routes());
    routes.extend(model_export::routes());
    routes.extend(predictions::routes());
    routes.extend(compare::routes());
    routes
}

/// Every path the router serves, for the OpenAPI consistency test.
pub fn paths() -> Vec<&'static str> {
    open_routes()
        .into_iter()
        .chain(protected_routes())
        .map(|(p, _)| p)
        .collect()
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let routes = open_routes()
        .into_iter()
        .chain(protected_routes())
        .fold(Router::new(), |r, (path, m)| r.route(path, m))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let json_limit = usize::try_from(state.limits.max_json_body_bytes).unwrap_or(usize::MAX);
    routes
        .route_layer(middleware::from_fn(metrics::remember_route))
        .layer(DefaultBodyLimit::max(json_limit))
        // Before routing: with tokens set, an unknown path or method is a 401 too.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(metrics::track_requests))
        .layer(middleware::from_fn(problems::problem_json))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
        .with_state(state)
}
