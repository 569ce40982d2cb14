//! What a finished run stores (its result and held-out predictions), and what a job's runs
//! add up to: the leaderboard of a comparison, the variant its final model trains, the job's
//! summary. Pure functions over typed results.

use crate::domain::final_model::CvEpochs;
use crate::domain::heldout::HeldOut;
use crate::domain::job::JobSpec;
use crate::domain::results::{RunKind, RunResult, Standing, Summary};
use crate::domain::search::asha::RungLoss;
use crate::engine::data::table::Table;
use crate::engine::eval::scores::Scores;
use crate::engine::eval::summary::summarize;
use crate::engine::fold::FoldOutcome;
use crate::engine::train::Stop;
use crate::store::run_data::RunRow;

/// The run's stored result: metrics, best epoch, class counts (the audit trail), encoding.
pub fn run_result(outcome: &FoldOutcome, variant: Variant) -> RunResult {
    RunResult {
        strategy: variant.strategy,
        variant: variant.model,
        best_epoch: outcome.trained.best_epoch,
        stop: outcome.trained.stop,
        epochs_run: outcome.trained.history.len() as u64,
        metrics: outcome.scores.clone(),
        train_class_counts: outcome.train_class_counts.clone(),
        validation_class_counts: outcome.validation_class_counts.clone(),
        resampled_class_counts: outcome.resampled_class_counts.clone(),
        member_class_counts: outcome.member_class_counts.clone(),
        class_weights: outcome
            .class_weights
            .iter()
            .map(|&w| f64::from(w))
            .collect(),
        encoding: Some(outcome.encoding.clone()),
        cv_epochs: None,
        rung_losses: Vec::new(),
        rate_range: outcome.trained.state.rate_range.clone(),
        loss_target: None,
    }
}

/// The epochs of a final model trained for the folds' (`final_model: {"epochs": "cv"}`): the
/// rounded mean of `variant`'s fold runs' best epochs, in fold order.
pub fn cv_epochs(folds: &[&RunResult], variant: Variant) -> CvEpochs {
    CvEpochs::of(
        folds
            .iter()
            .filter(|r| Variant::of(r) == variant)
            .map(|r| r.best_epoch)
            .collect(),
    )
}

/// Whether a search halted `variant`'s fold runs at a rung (its final model then trains the
/// epochs they were measured at, as a `{"epochs": "cv"}` one).
pub fn halted(folds: &[&RunResult], variant: Variant) -> bool {
    (folds.iter()).any(|r| Variant::of(r) == variant && r.stop == Stop::Halted)
}

/// The held-out rows, their labels and probabilities.
pub fn run_predictions(table: &Table<'_>, outcome: &FoldOutcome) -> Option<HeldOut> {
    if outcome.rows.is_empty() {
        return None;
    }
    Some(HeldOut {
        rows: outcome.rows.iter().map(|&r| r as u32).collect(),
        labels: outcome.rows.iter().map(|&r| table.y[r]).collect(),
        classes: table.classes,
        // Exact: the engine's probabilities are f32 values.
        proba: outcome.proba.iter().map(|&p| p as f32).collect(),
    })
}

pub use crate::domain::results::{Variant, is_comparison, variants};

/// The scores of `folds` (finished fold runs' results) trained as `variant`.
fn scores_of<'a>(
    folds: &'a [&'a RunResult],
    variant: Variant,
) -> impl Iterator<Item = &'a Scores> + 'a {
    folds
        .iter()
        .filter(move |r| Variant::of(r) == variant)
        .filter_map(|r| r.metrics.as_ref())
}

/// The leaderboard of a comparison job (`None` for a single variant): for each variant, the
/// mean and std of `rank_by` across its fold runs, best first (ties keep the spec's order), each
/// with its full summary. `folds` are the results of the finished fold runs.
pub fn leaderboard(spec: &JobSpec, folds: &[&RunResult]) -> Option<Vec<Standing>> {
    if !is_comparison(spec) {
        return None;
    }
    let im = &spec.imbalance;
    let descending = im.rank_by.higher_is_better();
    let mut rows: Vec<Standing> = variants(spec)
        .into_iter()
        .map(|v| {
            let summary = summarize(scores_of(folds, v));
            let stat = summary.get(im.rank_by.name()).copied();
            let (epochs, halted_at, rungs) = halving_of(folds, v);
            Standing {
                rank: 0,
                strategy: v.strategy,
                variant: v.model,
                model: spec
                    .has_model_variants()
                    .then(|| spec.variant_model(v.model)),
                metric: im.rank_by,
                mean: stat.map(|s| s.mean),
                std: stat.map(|s| s.std),
                folds: scores_of(folds, v).count(),
                summary,
                description: String::new(),
                epochs,
                halted_at,
                rungs,
                threshold: None,
            }
        })
        .map(|row| Standing {
            description: match spec.search {
                Some(_) => format!(
                    "{} · {}",
                    spec.describe_variant(row.variant),
                    row.strategy.as_str()
                ),
                None => row.describe(),
            },
            ..row
        })
        .collect();
    // Best first, a trial a search halted among the others by its score where it stopped (what
    // its folds measured after those epochs, as a final model of that many epochs would train);
    // one with a fold missing (a search's trial whose run failed) after those with all, and
    // one without the metric last.
    let all = (spec.validation.folds * spec.validation.repeats) as usize;
    rows.sort_by(|a, b| {
        let key = |r: &Standing| r.folds < all;
        key(a).cmp(&key(b)).then_with(|| by_mean(a, b, descending))
    });
    for (i, row) in rows.iter_mut().enumerate() {
        row.rank = i + 1;
    }
    Some(rows)
}

/// What a halving search adds to a variant's row: its epochs, the rung where the search halted
/// it, and its mean loss at each rung all its folds reached.
fn halving_of(folds: &[&RunResult], variant: Variant) -> (u64, Option<u64>, Vec<RungLoss>) {
    let mine: Vec<&&RunResult> = folds.iter().filter(|r| Variant::of(r) == variant).collect();
    let halted_at = (mine.iter())
        .find(|r| r.stop == Stop::Halted)
        .map(|r| r.epochs_run);
    let first = mine.first().map_or(&[][..], |r| r.rung_losses.as_slice());
    let rungs = (first.iter())
        .filter_map(|rung| {
            let at: Vec<f64> = (mine.iter())
                .filter_map(|r| r.rung_losses.iter().find(|l| l.epoch == rung.epoch))
                .map(|l| l.loss)
                .collect();
            (at.len() == mine.len()).then(|| RungLoss {
                epoch: rung.epoch,
                loss: at.iter().sum::<f64>() / at.len() as f64,
            })
        })
        .collect();
    let epochs = mine.iter().map(|r| r.epochs_run).sum();
    (epochs, halted_at, rungs)
}

/// Best mean first; no mean last.
fn by_mean(a: &Standing, b: &Standing, descending: bool) -> std::cmp::Ordering {
    match (a.mean, b.mean) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// A comparison's leading variant (`None` for a job of one variant).
pub fn leader(spec: &JobSpec, folds: &[&RunResult]) -> Option<Variant> {
    leaderboard(spec, folds)?.first().map(|s| Variant {
        model: s.variant,
        strategy: s.strategy,
    })
}

/// The variant a comparison's final run trains: the leaderboard's winner (or the first).
pub fn chosen_variant(spec: &JobSpec, folds: &[&RunResult]) -> Variant {
    leader(spec, folds).unwrap_or(variants(spec)[0])
}

/// A job's summary from its runs (the winning variant's folds for a comparison).
pub fn job_summary(spec: &JobSpec, runs: &[RunRow]) -> Option<Summary> {
    summary(spec, &fold_results(runs))
}

/// The results of the finished fold runs among `runs`.
pub fn fold_results(runs: &[RunRow]) -> Vec<&RunResult> {
    runs.iter()
        .filter(|r| r.kind == RunKind::Fold)
        .filter_map(|r| r.result.as_ref())
        .collect()
}

/// Per metric, its statistics over the fold runs (`folds`, their results); for a comparison,
/// the winning variant's folds.
pub fn summary(spec: &JobSpec, folds: &[&RunResult]) -> Option<Summary> {
    let winner = leader(spec, folds);
    let scores: Vec<&Scores> = folds
        .iter()
        .filter(|r| winner.is_none_or(|w| Variant::of(r) == w))
        .filter_map(|r| r.metrics.as_ref())
        .collect();
    (!scores.is_empty()).then(|| summarize(scores))
}

/// Per variant, the statistics of every metric over its fold runs, in `variants` order.
pub fn variant_summaries(spec: &JobSpec, folds: &[&RunResult]) -> Vec<(Variant, Summary)> {
    variants(spec)
        .into_iter()
        .map(|v| (v, summarize(scores_of(folds, v))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::{ImbalanceSpec, Strategy, StrategyChoice};
    use crate::domain::metric::Metric;
    use crate::engine::train::Stop;

    fn fold(strategy: Strategy, bal: f64, loss: f64) -> RunResult {
        let metrics = Scores {
            accuracy: 0.0,
            balanced_accuracy: bal,
            precision_macro: 0.0,
            recall_macro: 0.0,
            f1_macro: 0.0,
            g_mean: 0.0,
            roc_auc: None,
            pr_auc: None,
            log_loss: loss,
            brier_score: None,
            ece: None,
            confusion_matrix: Vec::new(),
        };
        RunResult {
            strategy,
            variant: 0,
            best_epoch: 1,
            stop: Stop::Completed,
            epochs_run: 1,
            metrics: Some(metrics),
            train_class_counts: vec![],
            validation_class_counts: vec![],
            resampled_class_counts: vec![],
            member_class_counts: None,
            class_weights: vec![],
            encoding: None,
            cv_epochs: None,
            rung_losses: Vec::new(),
            rate_range: None,
            loss_target: None,
        }
    }

    fn imbalance(strategies: &[Strategy], rank_by: Metric) -> JobSpec {
        let mut spec = JobSpec::from_json(serde_json::json!({"dataset_id": "d"})).unwrap();
        spec.imbalance = ImbalanceSpec {
            strategy: match strategies {
                [one] => StrategyChoice::One(*one),
                many => StrategyChoice::Many(many.to_vec()),
            },
            rank_by,
            ..ImbalanceSpec::default()
        };
        spec
    }

    fn order(board: &[Standing]) -> Vec<Strategy> {
        board.iter().map(|e| e.strategy).collect()
    }

    use Strategy::{Nearmiss, None as Plain, Smote, Undersample};

    #[test]
    fn the_leaderboard_ranks_by_mean_keeps_ties_in_spec_order_and_puts_unscored_last() {
        let im = imbalance(
            &[Plain, Smote, Undersample, Nearmiss],
            Metric::BalancedAccuracy,
        );
        let folds = [
            fold(Plain, 0.5, 0.2),
            fold(Plain, 0.75, 0.4),
            fold(Smote, 0.875, 0.9),
            fold(Smote, 0.375, 0.7),
            fold(Undersample, 0.7, 0.5),
            fold(Undersample, 0.7, 0.5),
        ];
        let refs: Vec<&RunResult> = folds.iter().collect();
        let board = leaderboard(&im, &refs).unwrap();
        // undersample 0.7; none and smote tie at 0.625 exactly (spec order); nearmiss has no
        // folds.
        assert_eq!(order(&board), [Undersample, Plain, Smote, Nearmiss]);
        assert_eq!(board[1].mean, Some(0.625));
        assert_eq!(board[1].std, Some(0.125));
        assert_eq!(board[0].rank, 1);
        assert_eq!(board[3].mean, None);
        assert_eq!(board[3].folds, 0);
        assert_eq!(chosen_variant(&im, &refs).strategy, Undersample);

        let by_loss = imbalance(&[Plain, Smote, Undersample], Metric::LogLoss);
        let board = leaderboard(&by_loss, &refs).unwrap();
        assert_eq!(order(&board), [Plain, Undersample, Smote]);
    }

    #[test]
    fn one_strategy_has_no_leaderboard_and_its_summary_covers_every_fold() {
        let im = imbalance(&[Smote], Metric::BalancedAccuracy);
        let folds = [fold(Smote, 0.875, 0.9), fold(Smote, 0.375, 0.7)];
        let refs: Vec<&RunResult> = folds.iter().collect();
        assert!(leaderboard(&im, &refs).is_none());
        assert_eq!(chosen_variant(&im, &refs).strategy, Smote);
        let s = summary(&im, &refs).unwrap();
        assert_eq!(s["balanced_accuracy"].mean, 0.625);
    }

    #[test]
    fn a_comparisons_summary_is_its_winners() {
        let im = imbalance(&[Plain, Smote], Metric::BalancedAccuracy);
        let folds = [
            fold(Plain, 0.5, 0.2),
            fold(Smote, 0.9, 0.9),
            fold(Plain, 0.5, 0.2),
            fold(Smote, 0.7, 0.9),
        ];
        let refs: Vec<&RunResult> = folds.iter().collect();
        let s = summary(&im, &refs).unwrap();
        assert!((s["balanced_accuracy"].mean - 0.8).abs() < 1e-12);
        assert_eq!(s["balanced_accuracy"].min, 0.7);
    }
}
