//! `GET /v1/jobs/{id}/events`: a `text/event-stream` of the job's status changes, progress and
//! each run's new epochs, until the job ends. Follows the database (so it sees work done by any
//! worker on any node), checking every 200 ms.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde_json::json;

use super::jobs::job_or_404;
use super::{AppState, Route};
use crate::error::ApiError;
use crate::store;

pub fn routes() -> Vec<Route> {
    vec![("/v1/jobs/{id}/events", get(events))]
}

const TICK: Duration = Duration::from_millis(200);

struct Follow {
    state: AppState,
    id: String,
    status: Option<String>,
    progress: Option<serde_json::Value>,
    epochs: HashMap<String, usize>,
    pending: Vec<Event>,
    ended: bool,
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    job_or_404(&state, &id).await?;
    let follow = Follow {
        state,
        id,
        status: None,
        progress: None,
        epochs: HashMap::new(),
        pending: Vec::new(),
        ended: false,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(event) = f.pending.pop() {
                return Some((Ok(event), f));
            }
            if f.ended {
                return None;
            }
            if f.status.is_some() {
                tokio::time::sleep(TICK).await;
            }
            poll(&mut f).await;
            f.pending.reverse(); // popped from the back: keep chronological order
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Queues the events that happened since the last look.
async fn poll(f: &mut Follow) {
    let Ok(Some(job)) = store::jobs::get_job(&f.state.pool, &f.id).await else {
        f.ended = true;
        return;
    };
    if let Ok(runs) =
        store::runs::runs_of_job(&f.state.pool, &f.id, store::runs::Detail::Results).await
    {
        for (run, _, _) in runs {
            let seen = f.epochs.get(&run.id).copied().unwrap_or(0);
            if (run.epochs_done as usize) <= seen {
                continue;
            }
            if let Ok(Some(history)) = store::runs::epoch_history(&f.state.pool, &run.id).await {
                for record in history.iter().skip(seen) {
                    let data = json!({"run_id": run.id, "fold": run.fold, "repeat": run.repeat, "kind": run.kind, "record": record});
                    f.pending
                        .push(Event::default().event("epoch").data(data.to_string()));
                }
                f.epochs.insert(run.id.clone(), history.len());
            }
        }
    }
    let progress = serde_json::to_value(&job.progress).unwrap_or_default();
    if f.progress.as_ref() != Some(&progress) {
        f.pending.push(
            Event::default()
                .event("progress")
                .data(progress.to_string()),
        );
        f.progress = Some(progress);
    }
    let status = job.status.as_str().to_owned();
    if f.status.as_deref() != Some(status.as_str()) {
        let data = json!({"status": status, "error": job.error, "summary": job.summary});
        f.pending
            .push(Event::default().event("status").data(data.to_string()));
        f.status = Some(status);
    }
    f.ended = job.status.is_finished();
}
