//! A run's threads for its products: the run's own and helpers that take tiles beside it,
//! spinning between the products of a step and sleeping when the run has no use for them.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next product before it sleeps: between two products of
/// a step there is less than this, and waking a sleeping thread costs tens of microseconds.
const SPIN: Duration = Duration::from_micros(500);

/// `Gang::state`: the product's number (high 32 bits), closed (bit 31), helpers inside (the
/// rest). Between products it is closed with nobody inside, so the job may be rewritten.
const CLOSED: u64 = 1 << 31;
const INSIDE: u64 = CLOSED - 1;

/// A run's threads for its products: the run's own (the caller) and helpers 1, 2, … that take
/// tiles of the current product while their number is below the width.
pub(super) struct Gang {
    pub(super) width: Arc<AtomicUsize>,
    state: AtomicU64,
    job: UnsafeCell<Job>,
    /// A caller is sharing a product.
    running: AtomicBool,
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

// SAFETY: `job` is written only by the one caller `running` admits, while the state is closed
// with nobody inside, and read by helpers only inside (see `Gang::run`); `work` is `Sync`.
unsafe impl Sync for Gang {}
unsafe impl Send for Gang {}

impl Gang {
    pub(super) fn new() -> Self {
        Self {
            width: Arc::new(AtomicUsize::new(1)),
            state: AtomicU64::new(CLOSED),
            job: UnsafeCell::new(Job {
                work: &|_| {},
                tiles: 0,
                next: AtomicUsize::new(0),
                threads: 0,
            }),
            running: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            helper_panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            bell: (Mutex::new(()), Condvar::new()),
            helpers: Mutex::new(Vec::new()),
        }
    }

    /// Shares `tiles` tiles of `work` among the caller and up to `width − 1` helpers. One caller
    /// at a time: another (the share installed on two threads, or a tile sharing a product of
    /// its own) takes its tiles alone.
    pub(super) fn run(self: &Arc<Self>, tiles: usize, work: &(dyn Fn(usize) + Sync)) {
        if self.running.swap(true, Ordering::Acquire) {
            (0..tiles).for_each(work);
            return;
        }
        let _running = Running(&self.running);
        let wanted = self.width.load(Ordering::Relaxed).min(tiles);
        let threads = 1 + self.hire(wanted - 1);
        // Numbers wrap within their 32 bits; a helper only compares them.
        let product = ((self.state.load(Ordering::Acquire) >> 32) + 1) & u64::from(u32::MAX);
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
    pub(super) fn stop(&self) {
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

/// Lets the next caller share a product when dropped (also when a tile unwinds).
struct Running<'g>(&'g AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
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

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves its value whole.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
