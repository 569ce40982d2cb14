//! `GET /v1/jobs/{id}/events`: a `text/event-stream` of the job's status changes, progress and
//! each run's new epochs, until the job ends (fed by `event_hub`); `max_event_streams` bounds
//! the streams (429 beyond).

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;

use super::event_hub;
use super::jobs::job_or_404;
use super::state::{AppState, Route};
use crate::error::ApiError;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/events", get(events))]
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    job_or_404(&state, &id).await?;
    let permit = state.events.permit().ok_or_else(|| {
        ApiError::TooManyRequests(format!(
            "{} event streams are open (max_event_streams); poll GET /v1/jobs/{id} or retry later",
            state.limits.max_event_streams
        ))
    })?;
    let stream = event_hub::follow(&state.events, state.pool.clone(), id, permit).await;
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
