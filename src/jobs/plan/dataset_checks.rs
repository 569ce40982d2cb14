//! The checks of a job spec against its dataset: label, features, one-class and pr_auc class
//! counts, class weights' classes, folds against the smallest class, categories per column.

use crate::domain::dataset::{ColumnRole, ColumnType, DatasetKind, DatasetSummary};
use crate::domain::job::{ClassWeights, DecisionThreshold, JobSpec, Strategy};
use crate::domain::spec::{ModelKind, SpecError};
use crate::engine::data::split;

/// Checks the spec against its dataset: label, features, folds against the smallest class,
/// the one-hot width of categorical features.
pub(super) fn check_against_dataset(
    spec: &JobSpec,
    ds: &DatasetSummary,
    max_categories: u64,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    check_model_kind(spec, ds, &mut errors);
    if let Some(features) = &spec.features {
        errors.extend(check_features(spec, ds, features));
    }
    if ds.feature_count == 0 && ds.kind == DatasetKind::Table {
        errors.push(SpecError::new(
            "features",
            format!("dataset {} has no feature columns, only its label", ds.id),
        ));
    }
    if spec.imbalance.strategy.list().contains(&Strategy::OneClass) && ds.classes.len() != 2 {
        errors.push(SpecError::new(
            "imbalance.strategy",
            format!(
                "one_class needs exactly two classes; dataset {} has {}",
                ds.id,
                ds.classes.len()
            ),
        ));
    }
    if spec.imbalance.rank_by.needs_two_classes() && ds.classes.len() != 2 {
        errors.push(SpecError::new(
            "imbalance.rank_by",
            "pr_auc (average precision) is defined for two classes; use roc_auc (one-vs-rest)",
        ));
    }
    if spec.imbalance.threshold == DecisionThreshold::Tuned && ds.classes.len() != 2 {
        errors.push(SpecError::new(
            "imbalance.threshold",
            format!(
                "a tuned threshold decides between two classes; dataset {} has {}",
                ds.id,
                ds.classes.len()
            ),
        ));
    }
    if let ClassWeights::Map(m) = &spec.imbalance.class_weights {
        for class in m.keys() {
            if !ds.classes.iter().any(|c| c.value == *class) {
                errors.push(SpecError::new(
                    format!("imbalance.class_weights.{class}"),
                    format!("not a class of dataset {}", ds.id),
                ));
            }
        }
    }
    let counts: Vec<u64> = ds.classes.iter().map(|c| c.count).collect();
    errors.extend(super::validation_checks::check_validation(spec, ds));
    if spec.validation.fold_column.is_none()
        && let Err(e) = split::check(&counts, spec.validation.folds as usize)
    {
        errors.push(SpecError::new("validation.folds", e.0));
    }
    // Only the columns the job trains on are one-hot encoded: a group or fold column, or one
    // `features` leaves out, may have any number of values.
    for c in super::other_datasets::trained_features(spec, ds) {
        if c.column_type == ColumnType::Categorical && c.cardinality.unwrap_or(0) > max_categories {
            errors.push(SpecError::new(
                "features",
                format!(
                    "column {:?} has {} categories, more than max_categories ({max_categories})",
                    c.name,
                    c.cardinality.unwrap_or(0)
                ),
            ));
        }
    }
    errors
}

/// Sequence datasets train GRUs and tables MLPs; a sequence job's strategies must suit
/// sequences (SMOTE and NearMiss see equal-length sequences as vectors).
fn check_model_kind(spec: &JobSpec, ds: &DatasetSummary, errors: &mut Vec<SpecError>) {
    let sequence = ds.sequence.filter(|_| ds.kind == DatasetKind::Sequence);
    for i in 0..spec.variant_count() {
        let m = spec.variant_model(i);
        let field = spec.variant_field(i, ".kind");
        match (m.kind.reads_sequences(), sequence) {
            (false, Some(shape)) => errors.push(SpecError::new(
                field,
                format!(
                    "dataset {} holds sequences ({} channels, {} to {} steps): use {}",
                    ds.id,
                    shape.channels,
                    shape.length_min,
                    shape.length_max,
                    ModelKind::names_reading(true)
                ),
            )),
            (true, None) => errors.push(SpecError::new(
                field,
                format!(
                    "dataset {} is a table: a {} trains on sequence datasets (.ts, \
                     ?sequence=<field>); use {}",
                    ds.id,
                    m.kind.name(),
                    ModelKind::names_reading(false)
                ),
            )),
            _ => {}
        }
    }
    let Some(shape) = sequence else {
        return;
    };
    for s in spec.imbalance.strategy.list() {
        let why = match s {
            Strategy::OneClass => {
                Some("one_class trains an MLP autoencoder of table rows".to_owned())
            }
            Strategy::Smote | Strategy::Nearmiss if shape.length_min != shape.length_max => {
                Some(format!(
                    "{} compares sequences as vectors, so they need equal lengths; dataset {} \
                     has {} to {} steps (oversample, undersample, easy_ensemble and \
                     balance_cascade work on any lengths)",
                    s.as_str(),
                    ds.id,
                    shape.length_min,
                    shape.length_max
                ))
            }
            Strategy::Oversample
                if spec.imbalance.jitter > 0.0 && shape.length_min != shape.length_max =>
            {
                Some(format!(
                    "a smoothed bootstrap (jitter > 0) jitters sequences as vectors, so they \
                     need equal lengths; dataset {} has {} to {} steps (use jitter 0)",
                    ds.id, shape.length_min, shape.length_max
                ))
            }
            _ => None,
        };
        if let Some(why) = why {
            errors.push(SpecError::new("imbalance.strategy", why));
        }
    }
}

/// A chosen feature list: distinct feature columns of a table, at least one, not the fold
/// column.
fn check_features(spec: &JobSpec, ds: &DatasetSummary, features: &[String]) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if ds.kind == DatasetKind::Sequence {
        errors.push(SpecError::new(
            "features",
            "a sequence dataset's channels are all read: use null",
        ));
        return errors;
    }
    if features.is_empty() {
        errors.push(SpecError::new(
            "features",
            "at least one column, or null for all",
        ));
    }
    for (i, name) in features.iter().enumerate() {
        let field = format!("features[{i}]");
        match ds.columns.iter().find(|c| c.name == *name) {
            None => errors.push(SpecError::new(
                field,
                format!("no column {name:?} in dataset {}", ds.id),
            )),
            Some(c) if c.role == ColumnRole::Label => {
                errors.push(SpecError::new(field, format!("{name:?} is the label")))
            }
            Some(_) if spec.validation.fold_column.as_deref() == Some(name.as_str()) => errors
                .push(SpecError::new(
                    field,
                    format!("{name:?} is the fold column"),
                )),
            Some(_) if spec.validation.group_column.as_deref() == Some(name.as_str()) => errors
                .push(SpecError::new(
                    field,
                    format!("{name:?} is the group column"),
                )),
            Some(_) if features[..i].contains(name) => {
                errors.push(SpecError::new(field, format!("{name:?} is listed twice")))
            }
            Some(_) => {}
        }
    }
    errors
}
