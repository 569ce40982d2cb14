//! What a finished run stores (its result and held-out predictions) and the job summary built
//! from its runs' results. Pure functions over engine output and JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::domain::heldout::HeldOut;
use crate::domain::job::{ImbalanceSpec, Strategy};
use crate::engine::cv::{self, FoldOutcome, Table};
use crate::store::runs::RunView;

/// The run's stored result: metrics, best epoch, class counts (the audit trail), encoding.
pub fn run_result(outcome: &FoldOutcome, strategy: Strategy) -> Value {
    let metrics = outcome.scores.as_ref().map(|s| {
        let mut m: serde_json::Map<String, Value> = cv::scalars(s)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        m.insert("confusion_matrix".into(), json!(s.confusion_matrix));
        Value::Object(m)
    });
    json!({
        "strategy": strategy.as_str(),
        "best_epoch": outcome.trained.best_epoch,
        "stop": outcome.trained.stop,
        "epochs_run": outcome.trained.history.len(),
        "metrics": metrics,
        "train_class_counts": outcome.train_class_counts,
        "validation_class_counts": outcome.validation_class_counts,
        "resampled_class_counts": outcome.resampled_class_counts,
        "member_class_counts": outcome.member_class_counts,
        "class_weights": outcome.class_weights,
        "encoding": outcome.encoding,
    })
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

/// The scalar metrics of a stored run result.
fn scalar_metrics(result: &Value) -> Option<BTreeMap<String, f64>> {
    result["metrics"].as_object().map(|m| {
        m.iter()
            .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
            .collect()
    })
}

/// The job's imbalance settings (defaults filled in), from its stored spec.
fn imbalance(spec: &Value) -> ImbalanceSpec {
    serde_json::from_value(spec["imbalance"].clone()).unwrap_or_default()
}

/// The leaderboard of a comparison job (`None` for a single strategy): for each strategy, the
/// mean and std of `rank_by` across its fold runs, best first (ties keep the spec's order), each
/// with its full summary. `fold_results` are the stored results of the finished fold runs.
pub fn leaderboard(spec: &Value, fold_results: &[&Value]) -> Option<Vec<Value>> {
    let im = imbalance(spec);
    if !im.strategy.is_comparison() {
        return None;
    }
    let descending = im.rank_by != "log_loss";
    let mut rows: Vec<(String, Option<f64>, Value)> = im
        .strategy
        .list()
        .into_iter()
        .map(|s| {
            let maps: Vec<BTreeMap<String, f64>> = fold_results
                .iter()
                .filter(|r| r["strategy"].as_str() == Some(s.as_str()))
                .filter_map(|r| scalar_metrics(r))
                .collect();
            let summary = cv::summarize_maps(&maps);
            let stat = summary.get(&im.rank_by).copied();
            let entry = json!({
                "strategy": s.as_str(),
                "metric": im.rank_by,
                "mean": stat.map(|s| s.mean),
                "std": stat.map(|s| s.std),
                "folds": maps.len(),
                "summary": summary,
            });
            (s.as_str().to_owned(), stat.map(|s| s.mean), entry)
        })
        .collect();
    // Best first; a strategy without the metric (no finished folds) goes last.
    rows.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Some(
        rows.into_iter()
            .enumerate()
            .map(|(i, (_, _, mut entry))| {
                entry["rank"] = json!(i + 1);
                entry
            })
            .collect(),
    )
}

/// The strategy ranked first on a leaderboard.
pub fn top(board: &[Value]) -> Option<Strategy> {
    board.first()?["strategy"]
        .as_str()
        .and_then(Strategy::parse)
}

/// A comparison's leading strategy (`None` for a job of one strategy).
pub fn leader(spec: &Value, fold_results: &[&Value]) -> Option<Strategy> {
    leaderboard(spec, fold_results).as_deref().and_then(top)
}

/// The strategy a run of the job trains with: its own, or, for a comparison's final run, the
/// leaderboard's winner.
pub fn chosen_strategy(spec: &Value, fold_results: &[&Value]) -> Option<Strategy> {
    leader(spec, fold_results).or_else(|| imbalance(spec).strategy.list().first().copied())
}

/// The stored results of a job's finished fold runs, from `store::runs::runs_of_job`.
pub fn fold_results(runs: &[(RunView, Option<Value>)]) -> Vec<&Value> {
    runs.iter()
        .filter(|(r, _)| r.kind == "fold")
        .filter_map(|(_, result)| result.as_ref())
        .collect()
}

/// `{"<metric>": {"mean", "std", "min", "max"}}` over the fold runs' scalar metrics; for a
/// comparison, the winning strategy's folds.
pub fn summary(spec: &Value, runs: &[(String, Option<String>)]) -> Option<Value> {
    // Trimmed as each is parsed: only the scalars are summarized.
    let results: Vec<Value> = runs
        .iter()
        .filter(|(kind, _)| kind == "fold")
        .filter_map(|(_, result)| result.as_deref())
        .filter_map(|r| serde_json::from_str::<Value>(r).ok())
        .map(|mut r| {
            crate::store::runs::summarize_result(&mut r);
            r
        })
        .collect();
    let refs: Vec<&Value> = results.iter().collect();
    let winner = leader(spec, &refs);
    let maps: Vec<BTreeMap<String, f64>> = results
        .iter()
        .filter(|r| winner.is_none_or(|w| r["strategy"].as_str() == Some(w.as_str())))
        .filter_map(scalar_metrics)
        .collect();
    (!maps.is_empty()).then(|| json!(cv::summarize_maps(&maps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(strategy: &str, bal: f64, loss: f64) -> Value {
        json!({"strategy": strategy, "metrics": {"balanced_accuracy": bal, "log_loss": loss}})
    }

    fn order(board: &[Value]) -> Vec<&str> {
        board
            .iter()
            .map(|e| e["strategy"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn the_leaderboard_ranks_by_mean_keeps_ties_in_spec_order_and_puts_unscored_last() {
        let spec = json!({"imbalance": {"strategy": ["none", "smote", "undersample", "nearmiss"]}});
        let folds = [
            fold("none", 0.5, 0.2),
            fold("none", 0.75, 0.4),
            fold("smote", 0.875, 0.9),
            fold("smote", 0.375, 0.7),
            fold("undersample", 0.7, 0.5),
            fold("undersample", 0.7, 0.5),
        ];
        let refs: Vec<&Value> = folds.iter().collect();
        let board = leaderboard(&spec, &refs).unwrap();
        // undersample 0.7; none and smote tie at 0.625 exactly (spec order); nearmiss has no
        // folds.
        assert_eq!(order(&board), ["undersample", "none", "smote", "nearmiss"]);
        assert_eq!(board[1]["mean"], 0.625);
        assert_eq!(board[1]["std"], 0.125);
        assert_eq!(board[0]["rank"], 1);
        assert!(board[3]["mean"].is_null());
        assert_eq!(chosen_strategy(&spec, &refs), Some(Strategy::Undersample));

        let by_loss = json!({"imbalance": {"strategy": ["none", "smote", "undersample"], "rank_by": "log_loss"}});
        let board = leaderboard(&by_loss, &refs).unwrap();
        assert_eq!(order(&board), ["none", "undersample", "smote"]);
    }

    #[test]
    fn one_strategy_has_no_leaderboard_and_its_summary_covers_every_fold() {
        let spec = json!({"imbalance": {"strategy": "smote"}});
        let folds = [fold("smote", 0.875, 0.9), fold("smote", 0.375, 0.7)];
        let refs: Vec<&Value> = folds.iter().collect();
        assert!(leaderboard(&spec, &refs).is_none());
        assert_eq!(chosen_strategy(&spec, &refs), Some(Strategy::Smote));
        let runs: Vec<(String, Option<String>)> = folds
            .iter()
            .map(|f| ("fold".to_owned(), Some(f.to_string())))
            .collect();
        let s = summary(&spec, &runs).unwrap();
        assert_eq!(s["balanced_accuracy"]["mean"], 0.625);
    }

    #[test]
    fn a_comparisons_summary_is_its_winners() {
        let spec = json!({"imbalance": {"strategy": ["none", "smote"]}});
        let runs: Vec<(String, Option<String>)> = [
            fold("none", 0.5, 0.2),
            fold("smote", 0.9, 0.9),
            fold("none", 0.5, 0.2),
            fold("smote", 0.7, 0.9),
        ]
        .iter()
        .map(|f| ("fold".to_owned(), Some(f.to_string())))
        .chain(std::iter::once(("final".to_owned(), None)))
        .collect();
        let s = summary(&spec, &runs).unwrap();
        assert!((s["balanced_accuracy"]["mean"].as_f64().unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(s["balanced_accuracy"]["min"], 0.7);
    }
}
