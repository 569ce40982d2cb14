use super::*;

/// A fold paused at `at` whose held-out loss is `loss` at every epoch.
fn paused(at: u64, loss: f64) -> FoldProgress {
    FoldProgress {
        paused_at: Some(at),
        losses: vec![loss; at as usize],
        ..Default::default()
    }
}

fn trial(at: u64, loss: f64) -> Vec<FoldProgress> {
    vec![paused(at, loss), paused(at, loss)]
}

#[test]
fn a_rung_score_is_the_mean_over_folds_and_waits_for_every_fold() {
    let mut running = paused(5, 0.0);
    running.paused_at = None;
    running.losses.truncate(3);
    assert_eq!(
        rung_score(&[paused(5, 0.2), paused(5, 0.4)], 5),
        Some(0.30000000000000004)
    );
    assert_eq!(rung_score(&[paused(5, 0.2), running.clone()], 5), None);
    assert_eq!(waiting_at(&[paused(5, 0.2), running]), None);
    // A fold that early-stopped at epoch 2 counts its last loss at any later rung.
    let ended = FoldProgress {
        ended: true,
        losses: vec![0.9, 0.1],
        ..Default::default()
    };
    assert_eq!(rung_score(&[ended.clone(), paused(5, 0.3)], 5), Some(0.2));
    assert_eq!(waiting_at(&[ended, paused(5, 0.3)]), Some(5));
}

#[test]
fn the_best_third_at_a_rung_is_promoted_as_soon_as_it_is_known() {
    let rungs = [1, 3, 9];
    // Three trials at rung 1: one promotion, the best, to rung 3; nothing halts while the
    // fourth still trains.
    let mut trials = vec![trial(1, 0.5), trial(1, 0.2), trial(1, 0.4), vec![]];
    trials[3] = vec![FoldProgress::default(); 2];
    assert_eq!(
        decide(&trials, &rungs, 3, Work::Training),
        vec![Decision::Promote { trial: 1, to: 3 }]
    );
    // Asynchronous: a later trial better than all is promoted too, without waiting.
    trials[3] = trial(1, 0.1);
    trials[1] = vec![paused(3, 0.2), paused(3, 0.2)];
    let promoted = decide(&trials, &rungs, 3, Work::Training);
    assert_eq!(promoted, vec![Decision::Promote { trial: 3, to: 3 }]);
    // While trials not yet started are queued, they go first: no promotion.
    assert_eq!(decide(&trials, &rungs, 3, Work::Queued), vec![]);
}

/// A trial whose folds paused at `at` with the loss curve `f(epoch)`.
fn curve(at: u64, f: impl Fn(f64) -> f64) -> Vec<FoldProgress> {
    let losses: Vec<f64> = (1..=at).map(|e| f(e as f64)).collect();
    let fold = FoldProgress {
        paused_at: Some(at),
        losses,
        ..Default::default()
    };
    vec![fold.clone(), fold]
}

#[test]
fn a_slow_learner_still_falling_is_promoted_over_one_that_has_flattened() {
    let rungs = [5, 15, 45];
    // At epoch 5 the fast trial stands lower (0.10 against 0.20), but the slow one is falling
    // as 1/t toward 0.02: it is the one promoted.
    let trials = vec![
        curve(5, |t| 0.10 + 0.001 / t),
        curve(5, |t| 0.02 + 0.9 / t),
        curve(5, |_| 0.6),
    ];
    assert!(rung_score(&trials[1], 5) > rung_score(&trials[0], 5));
    assert_eq!(
        decide(&trials, &rungs, 3, Work::Training),
        vec![Decision::Promote { trial: 1, to: 15 }]
    );
}

#[test]
fn idle_with_nothing_promotable_the_waiting_are_halted_once_the_best_reached_the_end() {
    let rungs = [1, 3, 9];
    let mut done = trial(9, 0.05);
    for f in &mut done {
        f.paused_at = None;
        f.ended = true;
    }
    let trials = vec![trial(1, 0.5), done, trial(1, 0.4), trial(3, 0.3)];
    // Not idle: nothing to do (trial 3 was promoted from rung 1 already; 0 and 2 lost there).
    assert_eq!(decide(&trials, &rungs, 3, Work::Training), vec![]);
    let halted = decide(&trials, &rungs, 3, Work::Idle);
    assert_eq!(
        halted,
        vec![
            Decision::Halt { trial: 0 },
            Decision::Halt { trial: 2 },
            Decision::Halt { trial: 3 }
        ]
    );
}

#[test]
fn with_too_few_trials_for_a_rung_the_best_still_trains_to_the_end() {
    let rungs = [1, 3, 9];
    // Two trials at rung 3: ⌊2/3⌋ promotes none; idle, the better goes on to the end (9).
    let trials = vec![trial(3, 0.4), trial(3, 0.3), trial(1, 0.9)];
    assert_eq!(
        decide(&trials, &rungs, 3, Work::Idle),
        vec![Decision::Promote { trial: 1, to: 9 }]
    );
}

#[test]
fn a_trial_with_a_failed_fold_is_never_promoted_and_halts_when_idle() {
    let rungs = [1, 3];
    let failed = FoldProgress {
        failed: true,
        ..Default::default()
    };
    let trials = vec![vec![paused(1, 0.0), failed], trial(1, 0.5), trial(1, 0.6)];
    assert_eq!(rung_score(&trials[0], 1), None);
    assert_eq!(waiting_at(&trials[0]), Some(1));
    // ⌊2/3⌋ = 0 at rung 1; idle, the best scored (trial 1) trains on, not the failed one.
    assert_eq!(
        decide(&trials, &rungs, 3, Work::Idle),
        vec![Decision::Promote { trial: 1, to: 3 }]
    );
}

#[test]
fn planned_epochs_count_synchronous_halving_with_one_at_least() {
    // 24 trials, η 3, rungs 5, 15, 45, 100: 24·5 + 8·10 + 2·30 + 1·55.
    assert_eq!(planned_epochs(24, &[5, 15, 45, 100], 3), 120 + 80 + 60 + 55);
    assert_eq!(planned_epochs(4, &[20], 3), 80);
}
