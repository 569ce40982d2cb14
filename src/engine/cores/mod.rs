//! A node's cores shared among the runs it trains: each run holds a `Share` whose width (how
//! many cores its matrix products may use) the node raises when another run ends and lowers
//! when one starts. A run starts on one core and widens; the split is fair (`cores / runs`,
//! the earliest runs taking the remainder).
//!
//! Widening never changes a result: a product is cut into tiles by its shape alone (never by
//! the width), each tile's arithmetic is the whole product's for those cells (`gemm` blocks the
//! inner dimension by `k` alone, for the tile shapes `model::kernels` allows), and the tiles
//! write disjoint cells; the width only decides how many threads take tiles. `tests/engine/cores.rs` trains at widths 1, 2 and 3 and
//! compares bits.

mod gang;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use self::gang::{Gang, lock};

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

    #[test]
    fn one_share_on_two_threads_at_once_runs_every_tile_once() {
        let cores = Cores::new(2);
        let share = cores.share();
        let hits: Vec<AtomicUsize> = (0..2 * 64).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|s| {
            for half in [0, 64] {
                let (share, hits) = (&share, &hits);
                s.spawn(move || {
                    share.install(|| {
                        for _ in 0..200 {
                            for_each_tile(64, &|t| {
                                hits[half + t].fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    })
                });
            }
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 200));
    }
}
