//! `GET /v1/events`: the jobs list as a `text/event-stream`, for a dashboard that keeps the
//! list open instead of polling it. It takes the list's `filter`, `order_by`, `status` and
//! `limit`; reads that first page every second and sends `page` (the whole page, first and
//! whenever which jobs it holds or their order changed) and `job` (one job whose view changed:
//! status, progress, scores, name, tags). It runs until the client leaves, or with
//! `until=settled` until no job of the page is queued, running or cancelling (what a script
//! waiting for its jobs wants); `max_event_streams` bounds it with the job streams (429 beyond).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use tokio::sync::OwnedSemaphorePermit;

use super::extract::QueryParams;
use super::jobs::list_query;
use super::state::{AppState, Route};
use crate::domain::job_filter::JobQuery;
use crate::error::ApiError;
use crate::jobs::list_feed::{ListChange, ListFeed};
use crate::jobs::views;

/// How often the page is read again.
const TICK: Duration = Duration::from_secs(1);

pub fn routes() -> Vec<Route> {
    vec![("/v1/events", get(list_events))]
}

async fn list_events(
    State(state): State<AppState>,
    mut query: QueryParams,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let until_settled = query.take_choice("until", &["settled"])?.is_some();
    let (query, limit, _) = list_query(query, false)?;
    let permit = state.events.permit().ok_or_else(|| {
        ApiError::TooManyRequests(format!(
            "{} event streams are open (max_event_streams); poll GET /v1/jobs or retry later",
            state.limits.max_event_streams
        ))
    })?;
    let first = views::jobs(&state.pool, &query, limit, None).await?;
    let watch = Watch {
        _permit: permit,
        state,
        query,
        limit,
        feed: ListFeed::default(),
        queued: Default::default(),
        first: Some(first),
        until_settled,
        settled: false,
    };
    Ok(Sse::new(futures_util::stream::unfold(watch, next_event)).keep_alive(KeepAlive::default()))
}

/// One stream: what it reads, what it last sent, and what is queued to send.
struct Watch {
    _permit: OwnedSemaphorePermit,
    state: AppState,
    query: JobQuery,
    limit: u32,
    feed: ListFeed,
    queued: std::collections::VecDeque<ListChange>,
    /// The page read when the stream opened (so a bad query is a 422, not a broken stream).
    first: Option<(Vec<views::JobView>, Option<i64>)>,
    /// End once every job of the page has ended (`until=settled`), and whether they have.
    until_settled: bool,
    settled: bool,
}

/// The next message: a queued one, else the page read again (after a tick) until it changed.
/// A failed read is logged and tried again at the next tick, not the end of the stream.
async fn next_event(mut w: Watch) -> Option<(Result<Event, Infallible>, Watch)> {
    loop {
        if let Some(change) = w.queued.pop_front() {
            let (name, data) = match change {
                ListChange::Page(v) => ("page", v),
                ListChange::Job(v) => ("job", v),
            };
            return Some((Ok(Event::default().event(name).data(data.to_string())), w));
        }
        if w.settled {
            return None;
        }
        let read = match w.first.take() {
            Some(first) => Ok(first),
            None => {
                tokio::time::sleep(TICK).await;
                views::jobs(&w.state.pool, &w.query, w.limit, None).await
            }
        };
        match read {
            Ok((items, next)) => {
                w.settled = w.until_settled && items.iter().all(|j| j.status.is_finished());
                let items = items
                    .into_iter()
                    .filter_map(|j| serde_json::to_value(j).ok());
                let changes = w.feed.next(items.collect(), next);
                w.queued.extend(changes);
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "reading the jobs list for its stream")
            }
        }
    }
}
