//! What feeds `/events` streams: the job's status changes, progress, each run's new epochs
//! and its findings as they appear or change. It follows the database (so it sees work done by
//! any worker on any node): one poller per watched job broadcasts to every stream of that job,
//! so a hundred clients cost one read, not a hundred. On PostgreSQL the poller reads when the
//! process's one listening connection hears of the job (`store::follow_changes`), and every
//! poller reads after that connection reconnects; elsewhere it reads every 200 ms. Each stream
//! first reads what happened before it joined, once; `max_event_streams` bounds the streams
//! (429 beyond).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Db;
use axum::response::sse::Event;
use futures_util::Stream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast};

use crate::jobs::feed::{Change, Seen, poll};

/// The most often a job's poller reads, however many notifications come.
const TICK: Duration = Duration::from_millis(200);
/// How often a poller fed by notifications looks whether anyone still watches.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Messages a slow stream may fall behind before it re-reads the job itself.
const BACKLOG: usize = 1024;

/// One watched job: its broadcast and what wakes its poller.
struct Feed {
    tx: broadcast::Sender<Change>,
    wake: Arc<Notify>,
}

/// The pollers of watched jobs and the stream budget; one per application.
pub struct Hub {
    feeds: Mutex<HashMap<String, Feed>>,
    streams: Arc<Semaphore>,
    /// Whether pollers wait for `changed` (a listening connection calls it) rather than a tick.
    notified: bool,
}

impl Hub {
    /// With `notified`, pollers read only when `changed` or `all_changed` says to.
    pub fn new(max_streams: u64, notified: bool) -> Self {
        Self {
            feeds: Mutex::new(HashMap::new()),
            streams: Arc::new(Semaphore::new(max_streams as usize)),
            notified,
        }
    }

    /// A stream's place, if fewer than `max_streams` are open.
    pub fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.streams.clone().try_acquire_owned().ok()
    }

    /// Wakes the poller of job `id`, if someone watches it: something of it changed.
    pub fn changed(&self, id: &str) {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(feed) = feeds.get(id) {
            feed.wake.notify_one();
        }
    }

    /// Wakes every poller: anything may have changed (notifications were lost).
    pub fn all_changed(&self) {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        feeds.values().for_each(|f| f.wake.notify_one());
    }

    /// Joins the job's feed, starting its poller if no one watches it yet.
    fn subscribe(self: &Arc<Self>, pool: &Db, id: &str) -> broadcast::Receiver<Change> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(feed) = feeds.get(id) {
            return feed.tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(BACKLOG);
        let wake = Arc::new(Notify::new());
        let feed = Feed {
            tx: tx.clone(),
            wake: wake.clone(),
        };
        feeds.insert(id.to_owned(), feed);
        tokio::spawn(poller(
            self.clone(),
            pool.clone(),
            id.to_owned(),
            (tx, wake),
        ));
        rx
    }

    /// Removes the job's feed if nobody listens or the job ended; says whether it did.
    fn retire(&self, id: &str, tx: &broadcast::Sender<Change>, ended: bool) -> bool {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if ended || tx.receiver_count() == 0 {
            feeds.remove(id);
            return true;
        }
        false
    }
}

/// The one poller of a job: reads what changed and broadcasts it, then waits for the next
/// notification of the job (or a tick, without notifications).
async fn poller(
    hub: Arc<Hub>,
    pool: Db,
    id: String,
    (tx, wake): (broadcast::Sender<Change>, Arc<Notify>),
) {
    let mut seen = Seen::default();
    loop {
        let changes = poll(&pool, &id, &mut seen).await;
        let ended = changes.as_ref().is_none_or(|c| {
            c.iter()
                .any(|c| matches!(c, Change::Status { ended: true, .. }))
        });
        for change in changes.into_iter().flatten() {
            let _ = tx.send(change);
        }
        if hub.retire(&id, &tx, ended) {
            return;
        }
        // A notification heard meanwhile is kept by `wake` and ends the wait at once.
        tokio::time::sleep(TICK).await;
        while hub.notified
            && tokio::time::timeout(IDLE_CHECK, wake.notified())
                .await
                .is_err()
        {
            if hub.retire(&id, &tx, false) {
                return;
            }
        }
    }
}

fn event(change: &Change) -> Event {
    let (name, data) = match change {
        Change::Epoch { data, .. } => ("epoch", data),
        Change::Progress(data) => ("progress", data),
        Change::Diagnostic { data, .. } => ("diagnostic", data),
        Change::Status { data, .. } => ("status", data),
    };
    Event::default().event(name).data(data.to_string())
}

/// One stream's state: its permit, what it has sent, its feed and what is queued to send.
struct Follower {
    _permit: OwnedSemaphorePermit,
    pool: Db,
    id: String,
    seen: Seen,
    rx: broadcast::Receiver<Change>,
    queued: std::collections::VecDeque<Change>,
    ended: bool,
}

/// The stream of job `id`'s events for one client holding `permit`: what happened before it
/// joined (read once), then what the job's poller broadcasts, until the job ends.
pub async fn follow(
    hub: &Arc<Hub>,
    pool: Db,
    id: String,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    // Joined before the first read, so nothing between the two is missed.
    let rx = hub.subscribe(&pool, &id);
    let mut seen = Seen::default();
    let queued = poll(&pool, &id, &mut seen).await.unwrap_or_default().into();
    let follower = Follower {
        _permit: permit,
        pool,
        id,
        seen,
        rx,
        queued,
        ended: false,
    };
    futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            if let Some(change) = f.queued.pop_front() {
                if matches!(change, Change::Status { ended: true, .. }) {
                    f.ended = true;
                }
                return Some((Ok(event(&change)), f));
            }
            if f.ended {
                return None;
            }
            match f.rx.recv().await {
                Ok(change) => {
                    if f.seen.take(&change) {
                        f.queued.push_back(change);
                    }
                }
                // Fell behind the feed: catch up from the database.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let caught = poll(&f.pool, &f.id, &mut f.seen).await;
                    f.queued.extend(caught.unwrap_or_default());
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
