//! A bounded pool for CPU-heavy request work (scoring rows for predict): threads of its own, so
//! that work never runs on the async runtime's threads or on the training runs' cores
//! unboundedly. Waiting requests wait on a semaphore, holding no thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::Semaphore;

/// The pool; cloned handles share it.
#[derive(Clone)]
pub struct ComputePool {
    pool: Arc<rayon::ThreadPool>,
    permits: Arc<Semaphore>,
}

impl ComputePool {
    /// A pool of `threads` threads (at least one), taking as many tasks at once.
    pub fn new(threads: usize) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("crossfold-predict-{i}"))
            .build()?;
        Ok(Self {
            pool: Arc::new(pool),
            permits: Arc::new(Semaphore::new(threads)),
        })
    }

    /// Runs `work` on the pool inside `span` and waits for it; a panic is an error, not a crash.
    pub async fn run<T: Send + 'static>(
        &self,
        span: tracing::Span,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("the predict pool is closed: {e}"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _entered = span.enter();
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(work)));
        });
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(anyhow::anyhow!("scoring rows panicked")),
            Err(_) => Err(anyhow::anyhow!("the predict pool dropped a task")),
        }
    }
}
