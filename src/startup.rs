//! `Application`: binds the listener, opens and migrates the database, serves until the
//! shutdown token fires. Tests build it on port 0 with their own database file.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Db;
use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::http::state::AppState;
use crate::http::tokens::Tokens;
use crate::http::{self};
use crate::store;

/// A built, not yet running, server.
pub struct Application {
    settings: Settings,
    listener: TcpListener,
    port: u16,
    pool: Db,
    router: axum::Router,
    shutdown: CancellationToken,
    /// What wakes this process's idle workers: its one listening connection, if it listens.
    wake: Option<Arc<tokio::sync::Notify>>,
}

impl Application {
    /// Validates the settings, opens and migrates the database and binds the address.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let pool = open_store(&settings).await?;
        store::migrate(&pool).await?;
        let listener = TcpListener::bind(&settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let port = listener.local_addr()?.port();
        let shutdown = CancellationToken::new();
        let (events, wake) = listen(&pool, &settings, shutdown.clone());
        let state = AppState {
            pool: pool.clone(),
            limits: Arc::new(settings.limits.clone()),
            tokens: Arc::new(Tokens::new(&settings.api_tokens)),
            metrics: http::metrics::recorder(),
            // Half the cores: predictions never take every core from training.
            predict_pool: crate::compute::ComputePool::new(crate::config::default_workers() / 2)?,
            events,
        };
        Ok(Self {
            settings: settings.clone(),
            listener,
            port,
            pool,
            router: http::router(state),
            shutdown,
            wake,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancelling this token stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token fires, lets in-flight requests finish, then closes the
    /// database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "crossfold listening");
        let upkeep = spawn_metrics_upkeep(self.shutdown.clone());
        // A single node: whatever was running when the last process died is orphaned. An
        // API-only process (`--workers 0`) leaves runs to the reaper: other processes train them.
        // One SQLite file has one serving process; on PostgreSQL other machines' workers hold
        // leases, which only expiry (the reaper) may take back.
        let orphans = match (self.pool.pool(), self.settings.workers) {
            (store::Backend::Postgres(_), _) | (_, 0) => Vec::new(),
            _ => store::runs::requeue_orphans(&self.pool).await?,
        };
        for job in orphans {
            tracing::warn!(job_id = %job, "resuming a run interrupted by a crash");
            crate::jobs::settle::settle_if_done(&self.pool, &job).await?;
        }
        // A cancel asked for before the crash is carried out now, not left `cancelling`.
        for job in store::runs::finish_requested_cancels(&self.pool).await? {
            tracing::warn!(job_id = %job, "finishing a cancel interrupted by a crash");
            crate::jobs::settle::settle_if_done(&self.pool, &job).await?;
        }
        // A search's decision a crash cut short is made before any worker claims: the same
        // decision, in the same order, as without the crash.
        for job in store::rungs::waiting_jobs(&self.pool).await? {
            crate::jobs::halving::advance(&self.pool, &job).await?;
        }
        let workers = tokio::spawn({
            let (pool, settings, token) = (
                self.pool.clone(),
                self.settings.clone(),
                self.shutdown.clone(),
            );
            let wake = self.wake.clone();
            async move { run_workers(&pool, &settings, wake, token).await }
        });
        http::serve::serve(
            self.listener,
            self.router,
            self.settings.http,
            self.shutdown.clone(),
        )
        .await;
        // Workers stop at the next batch, checkpoint and hand their runs back.
        workers.await.context("waiting for the workers")?;
        upkeep.abort();
        self.pool.close().await;
        tracing::info!("crossfold stopped");
        Ok(())
    }
}

/// The store `settings` name: the database, the object store if any, and the dataset cache
/// if this process trains with one.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Db> {
    let pool = store::open(&settings.database_url, settings.artifacts_url.as_deref()).await?;
    Ok(match &settings.dataset_cache {
        Some(c) if settings.workers > 0 => pool.with_dataset_cache(
            store::dataset_cache::DatasetCache::open(&c.dir, c.max_bytes)?,
        ),
        _ => pool,
    })
}

/// The event streams' hub and what wakes idle workers, both fed by this process's one
/// listening connection on PostgreSQL (unless `--notify off`); without it the hub polls and
/// workers poll.
fn listen(
    pool: &Db,
    settings: &Settings,
    shutdown: CancellationToken,
) -> (Arc<http::event_hub::Hub>, Option<Arc<tokio::sync::Notify>>) {
    let max_streams = settings.limits.max_event_streams;
    let listens = pool.notifies() && settings.queue.notify;
    let hub = Arc::new(http::event_hub::Hub::new(max_streams, listens));
    if !listens {
        return (hub, None);
    }
    let wake = Arc::new(tokio::sync::Notify::new());
    let (fed, woken) = (hub.clone(), wake.clone());
    let heard = move |heard: store::Heard<'_>| match heard {
        store::Heard::Queue(id) => {
            woken.notify_waiters();
            fed.changed(id);
        }
        store::Heard::Events(id) => fed.changed(id),
        store::Heard::Reconnected => {
            woken.notify_waiters();
            fed.all_changed();
        }
    };
    store::follow_changes(pool, heard, shutdown);
    (hub, Some(wake))
}

/// Runs `settings.workers` workers and a reaper until `shutdown`, then waits for them; `wake`
/// wakes idle workers besides their poll.
pub async fn run_workers(
    pool: &Db,
    settings: &Settings,
    wake: Option<Arc<tokio::sync::Notify>>,
    shutdown: CancellationToken,
) {
    let tracker = tokio_util::task::TaskTracker::new();
    // The limit in force is the configured one (`/v1/limits` shows it).
    let timing = crate::queue::QueueTiming {
        max_checkpoint_bytes: settings.limits.max_checkpoint_bytes,
        ..settings.queue
    };
    let cores = crate::engine::cores::Cores::new(settings.cores);
    let shared = crate::queue::shared::Shared {
        cores,
        limits: Arc::new(settings.limits.clone()),
        wake,
        made_work: Arc::default(),
        refresher: Arc::default(),
    };
    for n in 0..settings.workers {
        let owner = format!(
            "{}-{}-{n}",
            std::process::id(),
            crate::domain::ids::new_id("w")
        );
        tracker.spawn(crate::queue::worker::run(
            pool.clone(),
            owner,
            (timing, shared.clone()),
            shutdown.clone(),
        ));
    }
    tracker.spawn(crate::queue::worker::reap(
        pool.clone(),
        timing,
        shutdown.clone(),
    ));
    if let (Some(_), Some(every)) = (pool.artifacts(), settings.gc_every) {
        tracker.spawn(store::gc::on_a_timer(pool.clone(), every, shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
}

/// Histograms need draining now and then, even if no one scrapes `/metrics`.
fn spawn_metrics_upkeep(shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    let handle = http::metrics::recorder();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                _ = shutdown.cancelled() => break,
            }
        }
    })
}
