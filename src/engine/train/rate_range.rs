//! The learning-rate range test (Smith 2017), with the defaults of fastai's and Lightning's
//! `lr_find`: from the run's fresh model, one batch per step at a rate growing exponentially
//! from 1e-7 to 10 over 100 steps; the loss smoothed (β 0.98, debiased); stopped once the
//! smoothed loss passes 4× its best. The rate is read off the curve between fastai's two
//! suggestions (`choose`). The test's steps leave nothing behind: the run then starts from the
//! same fresh state.

use std::sync::atomic::{AtomicBool, Ordering};

use rand::seq::SliceRandom;

use super::epochs::prepare;
use super::request::TrainRequest;
use super::step::{Buffers, StepStats, step};
use crate::domain::learning_rate::{RangePoint, RateRange};
use crate::domain::spec::TrainingSpec;
use crate::engine::EngineError;

/// How `choose` reads the curve, as results name it.
pub const RULE: &str = "valley_minimum";

/// How the test ramps, smooths and stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeTest {
    pub start: f64,
    pub end: f64,
    pub steps: usize,
    /// Stop when the smoothed loss exceeds this × its best so far.
    pub stop_factor: f64,
    /// The exponential moving average's weight of the past.
    pub beta: f64,
}

impl Default for RangeTest {
    fn default() -> Self {
        Self {
            start: 1e-7,
            end: 10.0,
            steps: 100,
            stop_factor: 4.0,
            beta: 0.98,
        }
    }
}

impl RangeTest {
    /// The rate of step `i` (0-based): `start · (end/start)^(i/steps)`, as fastai's `SchedExp`.
    pub fn rate(&self, i: usize) -> f64 {
        self.start * (self.end / self.start).powf(i as f64 / self.steps as f64)
    }
}

/// The smoothed loss and the stopping rule, fed one batch loss at a time.
#[derive(Debug, Clone)]
pub struct Smoother {
    test: RangeTest,
    average: f64,
    count: i32,
    best: f64,
}

impl Smoother {
    pub fn new(test: RangeTest) -> Self {
        Self {
            test,
            average: 0.0,
            count: 0,
            best: f64::INFINITY,
        }
    }

    /// The debiased smoothed loss after `loss`, and whether the test stops here.
    pub fn push(&mut self, loss: f64) -> (f64, bool) {
        let beta = self.test.beta;
        self.count += 1;
        self.average = beta * self.average + (1.0 - beta) * loss;
        let smoothed = self.average / (1.0 - beta.powi(self.count));
        self.best = self.best.min(smoothed);
        let stop = !smoothed.is_finite() || smoothed > self.test.stop_factor * self.best;
        (smoothed, stop)
    }
}

/// The rate read off the curve: the geometric mean of fastai's two suggestions, `valley` and
/// `minimum` (the rate at the lowest smoothed loss, ÷ 10), each on the curve without its first
/// tenth of `steps` and its last 5 points (as fastai's `lr_find`). `valley` alone lands low in
/// the descent (a slow start for plain SGD), `minimum` alone near the edge (unstable for
/// Adam); between them held on every case of `benches/learning_rate.rs`. A curve too short to
/// read (the loss blew up in the first steps) gives the test's lowest rate.
pub fn choose(test: &RangeTest, points: &[RangePoint]) -> f64 {
    let from = test.steps / 10;
    let to = points.len().saturating_sub(5);
    if to <= from {
        return test.start;
    }
    let kept = &points[from..to];
    let losses: Vec<f64> = kept.iter().map(|p| p.smoothed_loss).collect();
    let valley = kept[valley(&losses)].learning_rate;
    let minimum = kept[lowest(&losses)].learning_rate / 10.0;
    (valley * minimum).sqrt()
}

/// The first index of the lowest value (as `argmin`).
fn lowest(losses: &[f64]) -> usize {
    (0..losses.len()).fold(0, |best, i| if losses[i] < losses[best] { i } else { best })
}

/// fastai's `valley`: the longest strictly decreasing run (as a longest decreasing
/// subsequence ending at each point), and the point 1/3 + 1/6 of the way along it; indices as
/// Python's, a negative one counting from the end.
pub fn valley(losses: &[f64]) -> usize {
    let n = losses.len();
    let mut lds = vec![1isize; n];
    let (mut start, mut end) = (0isize, 0usize);
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
            if lds[end] < lds[i] {
                end = i;
                start = end as isize - lds[end];
            }
        }
    }
    let sections = (end as isize - start) as f64 / 3.0;
    let idx = start + sections as isize + (sections / 2.0) as isize;
    idx.rem_euclid(n.max(1) as isize) as usize
}

/// Runs the test on the request's training rows (the inner validation split left out, as the
/// run's epochs leave it out) from the run's fresh state.
pub fn range_test(
    req: &TrainRequest<'_>,
    test: &RangeTest,
    cancel: &AtomicBool,
) -> Result<RateRange, EngineError> {
    let spec = TrainingSpec {
        optimizer: req.spec.optimizer.clone().with_learning_rate(test.start),
        ..req.spec.clone()
    };
    let fresh = TrainRequest {
        spec: &spec,
        resume: None,
        ..req.clone()
    };
    let (plan, mut st) = prepare(&fresh, None)?;
    let (mut bufs, mut smoother) = (Buffers::default(), Smoother::new(*test));
    let (mut order, mut next) = (Vec::new(), 0);
    let mut points = Vec::with_capacity(test.steps);
    for i in 0..test.steps {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        if next >= order.len() {
            order.clone_from(&plan.train);
            order.shuffle(&mut st.rng);
            next = 0;
        }
        let chunk = &order[next..(next + plan.batch_size).min(order.len())];
        next += chunk.len();
        let rate = test.rate(i);
        let mut stats = StepStats::new(plan.shape.layers);
        // A non-finite loss or gradient is where the curve ends, not a failure.
        if step(
            (&fresh, &plan.shape),
            &mut st,
            &mut bufs,
            chunk,
            (0, rate),
            &mut stats,
        )
        .is_err()
        {
            break;
        }
        let (smoothed_loss, stop) = smoother.push(stats.mean_loss());
        points.push(RangePoint {
            learning_rate: rate,
            loss: stats.mean_loss(),
            smoothed_loss,
        });
        if stop {
            break;
        }
    }
    Ok(RateRange {
        rule: RULE.into(),
        chosen: choose(test, &points),
        points,
    })
}
