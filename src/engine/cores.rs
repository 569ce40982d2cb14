//! A node's cores shared among the runs it trains: each run holds a `Share` whose width (how
//! many cores its matrix products may use) the node raises when another run ends and lowers
//! when one starts. A run starts on one core and widens; the split is fair (`cores / runs`,
//! the earliest runs taking the remainder).
//!
//! Widening never changes a result: a product is cut into tiles by its shape alone (never by
//! the width), each tile's arithmetic is the whole product's for those cells (`gemm` blocks the
//! inner dimension by `k` alone), and the tiles write disjoint cells; the width only decides
//! how many threads take tiles. `tests/engine/cores.rs` trains at widths 1, 2 and 3 and
//! compares bits.

use std::cell::{RefCell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The cores of one node and the runs sharing them.
#[derive(Clone)]
pub struct Cores {
    inner: Arc<Inner>,
}

struct Inner {
    cores: usize,
    /// Every live share's width, oldest first.
    shares: Mutex<Vec<Weak<AtomicUsize>>>,
}

/// One run's part of the node's cores, for as long as it lives: its width, and the helper
/// threads that take tiles beside the run's own thread (started as the width grows).
pub struct Share {
    cores: Cores,
    gang: Arc<Gang>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves its value whole.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Cores {
    /// `cores` cores (at least one) for the runs of this node.
    pub fn new(cores: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                cores: cores.max(1),
                shares: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn count(&self) -> usize {
        self.inner.cores
    }

    /// A share for a starting run; every share's width is rebalanced.
    pub fn share(&self) -> Share {
        let gang = Arc::new(Gang::new());
        lock(&self.inner.shares).push(Arc::downgrade(&gang.width));
        self.rebalance();
        Share {
            cores: self.clone(),
            gang,
        }
    }

    fn rebalance(&self) {
        let mut shares = lock(&self.inner.shares);
        shares.retain(|w| w.strong_count() > 0);
        let live: Vec<_> = shares.iter().filter_map(Weak::upgrade).collect();
        for (i, width) in live.iter().enumerate() {
            width.store(
                fair_width(self.inner.cores, live.len(), i),
                Ordering::Relaxed,
            );
        }
    }
}

/// The width of the `i`-th oldest of `runs` runs on `cores` cores.
fn fair_width(cores: usize, runs: usize, i: usize) -> usize {
    let base = cores / runs.max(1);
    (base + usize::from(i < cores % runs.max(1))).max(1)
}

impl Share {
    /// How many cores this run's products may use now.
    pub fn width(&self) -> usize {
        self.gang.width.load(Ordering::Relaxed)
    }

    /// Runs `work` with this share as the calling thread's: its products take tiles on up to
    /// `width()` threads.
    pub fn install<R>(&self, work: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.replace(Some(self.gang.clone())));
        let _restore = Restore(previous);
        work()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.gang.stop();
        let gone = Arc::downgrade(&self.gang.width);
        lock(&self.cores.inner.shares).retain(|w| !w.ptr_eq(&gone));
        self.cores.rebalance();
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Gang>>> = const { RefCell::new(None) };
}

/// Puts back the thread's previous share when `install` returns or unwinds.
struct Restore(Option<Arc<Gang>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Calls `work(t)` once for each tile `t` in `0..tiles`, on as many threads as the calling
/// thread's share allows now (one without a share). Tiles must write disjoint cells.
pub fn for_each_tile(tiles: usize, work: &(dyn Fn(usize) + Sync)) {
    let gang = CURRENT.with(|c| c.borrow().clone());
    match gang {
        Some(gang) if tiles > 1 && gang.width.load(Ordering::Relaxed) > 1 => gang.run(tiles, work),
        _ => (0..tiles).for_each(work),
    }
}

/// The calling thread's width now (one without a share).
pub fn current_width() -> usize {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map_or(1, |g| g.width.load(Ordering::Relaxed))
    })
}

/// How long an idle helper spins for the next product before it sleeps: between two products of
/// a step there is less than this, and waking a sleeping thread costs tens of microseconds.
const SPIN: Duration = Duration::from_micros(500);

/// `Gang::state`: the product's number (high 32 bits), closed (bit 31), helpers inside (the
/// rest). Between products it is closed with nobody inside, so the job may be rewritten.
const CLOSED: u64 = 1 << 31;
const INSIDE: u64 = CLOSED - 1;

/// A run's threads for its products: the run's own (the caller) and helpers 1, 2, … that take
/// tiles of the current product while their number is below the width.
struct Gang {
    width: Arc<AtomicUsize>,
    state: AtomicU64,
    job: UnsafeCell<Job>,
    stopped: AtomicBool,
    helper_panicked: AtomicBool,
    sleepers: AtomicUsize,
    bell: (Mutex<()>, Condvar),
    helpers: Mutex<Vec<JoinHandle<()>>>,
}

/// The product being shared: its tiles, the next tile to take, how many threads take them.
struct Job {
    work: *const (dyn Fn(usize) + Sync + 'static),
    tiles: usize,
    next: AtomicUsize,
    threads: usize,
}

// SAFETY: `job` is written only by the gang's caller while the state is closed with nobody
// inside, and read by helpers only inside (see `Gang::run`); `work` is `Sync`.
unsafe impl Sync for Gang {}
unsafe impl Send for Gang {}

impl Gang {
    fn new() -> Self {
        Self {
            width: Arc::new(AtomicUsize::new(1)),
            state: AtomicU64::new(CLOSED),
            job: UnsafeCell::new(Job {
                work: &|_| {},
                tiles: 0,
                next: AtomicUsize::new(0),
                threads: 0,
            }),
            stopped: AtomicBool::new(false),
            helper_panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            bell: (Mutex::new(()), Condvar::new()),
            helpers: Mutex::new(Vec::new()),
        }
    }

    /// Shares `tiles` tiles of `work` among the caller and up to `width − 1` helpers.
    fn run(self: &Arc<Self>, tiles: usize, work: &(dyn Fn(usize) + Sync)) {
        let wanted = self.width.load(Ordering::Relaxed).min(tiles);
        let threads = 1 + self.hire(wanted - 1);
        let product = (self.state.load(Ordering::Acquire) >> 32) + 1;
        // SAFETY: the state is closed with nobody inside (the invariant between products), so
        // no helper reads the job now. `work` outlives the product: the caller waits below for
        // every helper to leave before returning.
        unsafe {
            let job = &mut *self.job.get();
            job.work = std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(work);
            job.tiles = tiles;
            job.next.store(0, Ordering::Relaxed);
            job.threads = threads;
        }
        self.state.store(product << 32, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _bell = lock(&self.bell.0);
            self.bell.1.notify_all();
        }
        // Closed, and every helper out, before `work` goes: even if a tile panics here.
        let closing = Closing(self);
        // SAFETY: the job was written above and stays until the product is closed.
        take_tiles(unsafe { &*self.job.get() });
        drop(closing);
        if self.helper_panicked.swap(false, Ordering::Relaxed) {
            panic!("a tile of a shared product panicked on a helper thread");
        }
    }

    fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while self.state.load(Ordering::Acquire) & INSIDE != 0 {
            std::hint::spin_loop();
        }
    }

    /// Starts helpers until there are `count` (fewer if the system refuses a thread); returns
    /// how many there are, up to `count`.
    fn hire(self: &Arc<Self>, count: usize) -> usize {
        let mut helpers = lock(&self.helpers);
        while helpers.len() < count {
            let (gang, number) = (self.clone(), helpers.len() + 1);
            let spawned = std::thread::Builder::new()
                .name(format!("crossfold-help-{number}"))
                .spawn(move || gang.help(number));
            match spawned {
                Ok(helper) => helpers.push(helper),
                // Without another thread the run keeps the cores it has: results are the same.
                Err(_) => break,
            }
        }
        helpers.len().min(count)
    }

    /// Helper `number`'s loop: take tiles of each product it is counted in; spin while idle
    /// and within the width, else sleep until the next product.
    fn help(&self, number: usize) {
        let mut seen = self.state.load(Ordering::Acquire) >> 32;
        let mut idle_since = Instant::now();
        while !self.stopped.load(Ordering::Relaxed) {
            let state = self.state.load(Ordering::Acquire);
            if state >> 32 != seen {
                seen = state >> 32;
                self.join(seen, number);
                idle_since = Instant::now();
            } else if number < self.width.load(Ordering::Relaxed) && idle_since.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                self.sleep(seen);
                idle_since = Instant::now();
            }
        }
    }

    /// Enters product `product` if it is still open, takes tiles if counted in it, leaves.
    fn join(&self, product: u64, number: usize) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state >> 32 != product || state & CLOSED != 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: inside an open product, the job is the caller's current one and stays until
        // this helper leaves.
        let job = unsafe { &*self.job.get() };
        if number < job.threads {
            // The caller re-raises a helper's panic; the helper leaves the product either way.
            let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| take_tiles(job)));
            if taken.is_err() {
                self.helper_panicked.store(true, Ordering::Relaxed);
            }
        }
        self.state.fetch_sub(1, Ordering::AcqRel);
    }

    fn sleep(&self, seen: u64) {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut bell = lock(&self.bell.0);
        while self.state.load(Ordering::SeqCst) >> 32 == seen
            && !self.stopped.load(Ordering::SeqCst)
        {
            bell = match self.bell.1.wait_timeout(bell, Duration::from_millis(100)) {
                Ok((bell, _)) => bell,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(bell);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stops and joins the helpers (the run has ended).
    fn stop(&self) {
        self.width.store(0, Ordering::Relaxed);
        self.stopped.store(true, Ordering::SeqCst);
        {
            let _bell = lock(&self.bell.0);
            self.bell.1.notify_all();
        }
        for helper in lock(&self.helpers).drain(..) {
            let _ = helper.join();
        }
    }
}

/// Closes the gang's product when dropped (also when a tile unwinds).
struct Closing<'g>(&'g Gang);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Takes the job's next tile until none is left.
fn take_tiles(job: &Job) {
    loop {
        let t = job.next.fetch_add(1, Ordering::Relaxed);
        if t >= job.tiles {
            break;
        }
        // SAFETY: `work` is valid while the product is open (see `Gang::run`).
        unsafe { (*job.work)(t) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_split_the_cores_fairly_and_grow_when_a_run_ends() {
        let cores = Cores::new(3);
        let a = cores.share();
        assert_eq!(a.width(), 3);
        let b = cores.share();
        assert_eq!((a.width(), b.width()), (2, 1));
        let c = cores.share();
        let d = cores.share();
        assert_eq!(
            [a.width(), b.width(), c.width(), d.width()],
            [1, 1, 1, 1],
            "more runs than cores: each keeps one"
        );
        drop(a);
        drop(c);
        assert_eq!((b.width(), d.width()), (2, 1));
        drop(b);
        assert_eq!(d.width(), 3);
    }

    #[test]
    fn every_tile_runs_once_at_any_width() {
        let cores = Cores::new(4);
        let share = cores.share();
        let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
        share.install(|| {
            assert_eq!(current_width(), 4);
            for_each_tile(hits.len(), &|t| {
                hits[t].fetch_add(1, Ordering::Relaxed);
            });
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        assert_eq!(
            current_width(),
            1,
            "the share is the thread's only inside install"
        );
    }

    #[test]
    fn a_panicking_tile_fails_the_product_and_the_next_product_runs() {
        let cores = Cores::new(2);
        let share = cores.share();
        share.install(|| {
            for _ in 0..20 {
                let failed = std::panic::catch_unwind(|| {
                    for_each_tile(64, &|t| {
                        std::hint::black_box(t);
                        assert!(t != 40, "tile 40 fails");
                    })
                });
                assert!(failed.is_err());
                let hits = AtomicUsize::new(0);
                for_each_tile(64, &|_| {
                    hits.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(hits.into_inner(), 64);
            }
        });
    }
}
