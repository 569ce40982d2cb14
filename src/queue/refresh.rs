//! When a worker process refreshes a job's findings as its runs end. The job-level rules read
//! every run of the job, so a refresh at each end of a job of many short runs is quadratic (a
//! 120-run job of one-epoch runs spent 26 ms of CPU per run end on two cores). A process
//! refreshes a job at most once per `EVERY`: an end sooner than that leaves one refresh due when
//! the interval is over, so no end goes unseen for longer; and the job's last run refreshes at
//! once, so a settled job's findings see every run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest time between two refreshes of one job by one process.
pub const EVERY: Duration = Duration::from_secs(1);

/// What to do at a run's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Refresh now.
    Now,
    /// Refresh after this long (then call `Refresher::fired`).
    Later(Duration),
    /// A refresh is already due later: nothing to do.
    Pending,
}

/// The last refresh of each job this process refreshed within `EVERY`, and whether one is due.
#[derive(Debug, Default)]
pub struct Refresher {
    jobs: Mutex<HashMap<String, Last>>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    at: Instant,
    /// A refresh is scheduled for `at + EVERY`.
    due: bool,
}

impl Refresher {
    /// Whether a run of `job` ending at `now` refreshes its findings now, later or not at all
    /// (`last`: the job's last run, which always refreshes now).
    pub fn due(&self, job: &str, now: Instant, last: bool) -> Due {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        // Only entries within the interval matter: the map holds the jobs of the last second.
        jobs.retain(|_, l| l.due || now.duration_since(l.at) < EVERY);
        let entry = jobs.get_mut(job);
        match entry {
            Some(l) if !last && l.due => Due::Pending,
            Some(l) if !last => {
                l.due = true;
                Due::Later((l.at + EVERY).saturating_duration_since(now))
            }
            _ => {
                let due = entry.is_some_and(|l| l.due);
                jobs.insert(job.to_owned(), Last { at: now, due });
                Due::Now
            }
        }
    }

    /// The refresh that `Due::Later` scheduled is happening at `now`.
    pub fn fired(&self, job: &str, now: Instant) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.insert(
            job.to_owned(),
            Last {
                at: now,
                due: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_refreshes_at_most_once_a_second_then_once_more_and_always_at_its_end() {
        let r = Refresher::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(r.due("a", t0, false), Due::Now);
        assert_eq!(r.due("b", ms(10), false), Due::Now, "jobs are apart");
        assert_eq!(
            r.due("a", ms(300), false),
            Due::Later(Duration::from_millis(700))
        );
        assert_eq!(
            r.due("a", ms(400), false),
            Due::Pending,
            "one refresh due is enough"
        );
        assert_eq!(
            r.due("a", ms(500), true),
            Due::Now,
            "the last run refreshes at once"
        );
        r.fired("a", ms(1000));
        assert_eq!(
            r.due("a", ms(1500), false),
            Due::Later(Duration::from_millis(500))
        );
        r.fired("a", ms(2000));
        assert_eq!(
            r.due("a", ms(3100), false),
            Due::Now,
            "a second later: at once"
        );
        // Entries older than the interval with nothing due are dropped.
        assert_eq!(r.due("c", ms(5000), false), Due::Now);
        assert_eq!(r.jobs.lock().unwrap().len(), 1);
    }
}
