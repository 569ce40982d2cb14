//! Reading a job spec (from a request or the store) and the rules it must keep beyond its
//! training spec's.

use super::job::{ClassWeights, FinalModel, JobSpec, Strategy};
use super::learning_rate::LearningRate;
use super::spec::{OptimizerSpec, SpecError};
use crate::config::Limits;

/// Models a `model` list may hold (like strategies).
pub const MAX_VARIANTS: usize = 9;
/// Models × strategies when both are lists.
pub const MAX_VARIANT_PRODUCT: usize = 16;

/// `field: message; …`
fn describe(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl JobSpec {
    /// Parses JSON; a type error or unknown field is reported with its path.
    pub fn from_json(value: serde_json::Value) -> Result<Self, Vec<SpecError>> {
        super::parses::spec();
        serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = match e.path().to_string() {
                p if p == "optimizer" => tagged_field(&value, "optimizer").unwrap_or(p),
                p if p == "." => String::new(),
                p => p,
            };
            vec![SpecError {
                field: path,
                message: e.inner().to_string(),
            }]
        })
    }

    /// A spec as the store holds it (resolved when it was accepted), checked again before a
    /// run trains on it: against no size limits (those applied when it was accepted, and may
    /// have changed since), but every rule of what is trainable.
    pub fn from_stored(json: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let spec = Self::from_json(value).map_err(|e| describe(&e))?;
        let errors = spec.validate(&Limits::unbounded());
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(describe(&errors))
        }
    }

    /// Every problem that does not need the dataset, each with its JSON path.
    pub fn validate(&self, limits: &Limits) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let models = self.model.list().len();
        if models == 0 || models > MAX_VARIANTS {
            errors.push(SpecError::new(
                "model",
                format!("one model, or a list of 1 to {MAX_VARIANTS}"),
            ));
        }
        match &self.search {
            Some(search) => self.validate_search(search, limits, &mut errors),
            None => self.validate_models(limits, &mut errors),
        }
        self.validate_validation(limits, &mut errors);
        self.validate_imbalance(&mut errors);
        if !(0.0..=0.5).contains(&self.validation.test_fraction) {
            errors.push(SpecError {
                field: "validation.test_fraction".into(),
                message: "from 0 (no test set) to 0.5".into(),
            });
        }
        errors.extend(validate_pretrain(self, limits));
        errors.extend(validate_auto_rate(self));
        errors
    }

    /// Each model's training spec; only the model's fields differ between variants, so the
    /// rest is reported once.
    fn validate_models(&self, limits: &Limits, errors: &mut Vec<SpecError>) {
        for i in 0..self.model.list().len() {
            let found = self.training_spec(i).validate(limits);
            errors.extend(found.into_iter().filter_map(|mut e| {
                if let Some(rest) = e.field.strip_prefix("model")
                    && self.model.is_comparison()
                {
                    e.field = format!("model[{i}]{rest}");
                    Some(e)
                } else {
                    (i == 0).then_some(e)
                }
            }));
        }
    }

    fn validate_validation(&self, limits: &Limits, errors: &mut Vec<SpecError>) {
        let v = &self.validation;
        if v.folds < 2 || v.folds > limits.max_folds {
            errors.push(SpecError {
                field: "validation.folds".into(),
                message: format!("from 2 to {} (max_folds)", limits.max_folds),
            });
        }
        if !v.stratified {
            errors.push(SpecError {
                field: "validation.stratified".into(),
                message: "only stratified folds are offered".into(),
            });
        }
        if v.repeats == 0 || v.repeats > 10 {
            errors.push(SpecError {
                field: "validation.repeats".into(),
                message: "from 1 to 10".into(),
            });
        }
        errors.extend(self.validation.validate_outer(limits));
        if self.final_model == FinalModel::CvEpochs && self.training.early_stopping.is_none() {
            errors.push(SpecError::new(
                "final_model",
                "{\"epochs\": \"cv\"} trains for the mean of the folds' best epochs, which \
                 early stopping finds: set training.early_stopping",
            ));
        }
    }

    fn validate_imbalance(&self, errors: &mut Vec<SpecError>) {
        let models = self.variant_count();
        let most = match self.search {
            Some(_) => super::search::MAX_TRIALS,
            None => MAX_VARIANT_PRODUCT,
        };
        let im = &self.imbalance;
        if !(im.sampling_ratio > 0.0 && im.sampling_ratio <= 1.0) {
            errors.push(SpecError {
                field: "imbalance.sampling_ratio".into(),
                message: "in (0, 1]: minority/majority after resampling".into(),
            });
        }
        if !(im.jitter >= 0.0 && im.jitter.is_finite()) {
            errors.push(SpecError {
                field: "imbalance.jitter".into(),
                message: "must be ≥ 0".into(),
            });
        }
        if im.k_neighbors == 0 || im.n_neighbors == 0 || im.n_neighbors_ver3 == 0 {
            errors.push(SpecError {
                field: "imbalance.k_neighbors".into(),
                message: "neighbour counts must be at least 1".into(),
            });
        }
        if !(1..=3).contains(&im.version) {
            errors.push(SpecError {
                field: "imbalance.version".into(),
                message: "NearMiss version 1, 2 or 3".into(),
            });
        }
        let strategies = im.strategy.list();
        if strategies.is_empty() || strategies.len() > 9 {
            errors.push(SpecError {
                field: "imbalance.strategy".into(),
                message: "one strategy, or a list of 1 to 9 different ones".into(),
            });
        }
        if models * strategies.len() > most {
            let field = if self.search.is_some() {
                "search"
            } else {
                "model"
            };
            errors.push(SpecError::new(
                field,
                format!(
                    "{models} models × {} strategies is {} variants, more than {most}",
                    strategies.len(),
                    models * strategies.len()
                ),
            ));
        }
        if let Some(dup) = strategies
            .iter()
            .enumerate()
            .find(|(i, s)| strategies[..*i].contains(s))
        {
            errors.push(SpecError {
                field: "imbalance.strategy".into(),
                message: format!("{} is listed twice", dup.1.as_str()),
            });
        }
        if let ClassWeights::Map(m) = &im.class_weights
            && let Some((class, w)) = m
                .iter()
                .find(|(_, w)| !(**w > 0.0 && **w <= super::spec::MAX_PENALTY))
        {
            errors.push(SpecError {
                field: format!("imbalance.class_weights.{class}"),
                message: format!(
                    "{w} is not a weight: > 0 and at most {:e}",
                    super::spec::MAX_PENALTY
                ),
            });
        }
        if im.n_subsets == 0 || im.n_subsets > 100 {
            errors.push(SpecError {
                field: "imbalance.n_subsets".into(),
                message: "from 1 to 100".into(),
            });
        }
    }
}

/// Strategies whose runs train something other than one classifier from its first weights.
const NOT_PRETRAINABLE: [Strategy; 3] = [
    Strategy::EasyEnsemble,
    Strategy::BalanceCascade,
    Strategy::OneClass,
];

/// What `spec.pretrain` must keep, without the dataset.
/// The field of an internally tagged block (`optimizer`, tagged by `kind`) that does not read:
/// serde reports the block, so each field is tried alone with the block's kind.
fn tagged_field(value: &serde_json::Value, block: &str) -> Option<String> {
    let fields = value.get(block)?.as_object()?;
    let kind = fields.get("kind")?;
    (fields.iter().filter(|(k, _)| *k != "kind")).find_map(|(k, v)| {
        let alone = serde_json::json!({"kind": kind, k: v});
        let bad = serde_json::from_value::<OptimizerSpec>(alone).is_err();
        bad.then(|| format!("{block}.{k}"))
    })
}

/// `optimizer.learning_rate: "auto"` chooses one network's rate on its run's rows: not for
/// strategies that train members of their own, nor before pretraining (whose autoencoders
/// train at the spec's rate).
fn validate_auto_rate(spec: &JobSpec) -> Vec<SpecError> {
    if spec.optimizer.learning_rate() != LearningRate::Auto {
        return Vec::new();
    }
    let mut errors = Vec::new();
    if let Some(s) = (spec.imbalance.strategy.list().iter()).find(|s| s.trains_members()) {
        errors.push(SpecError::new(
            "optimizer.learning_rate",
            format!(
                "\"auto\" is not offered with {}: its members train on other rows than the run's",
                s.as_str()
            ),
        ));
    }
    if spec.pretrain.is_some() {
        errors.push(SpecError::new(
            "optimizer.learning_rate",
            "\"auto\" is not offered with pretrain: its autoencoders need a fixed rate",
        ));
    }
    errors
}

fn validate_pretrain(spec: &JobSpec, limits: &Limits) -> Vec<SpecError> {
    let Some(p) = &spec.pretrain else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    if p.epochs == 0 || p.epochs > limits.max_epochs {
        errors.push(SpecError::new(
            "pretrain.epochs",
            format!("from 1 to {} (max_epochs) per layer", limits.max_epochs),
        ));
    }
    for (i, m) in spec.model.list().iter().enumerate() {
        let field = if spec.model.is_comparison() {
            format!("model[{i}]")
        } else {
            "model".to_owned()
        };
        let why = if !m.kind.pretrainable() {
            Some("is not an MLP: autoencoder pretraining is for an MLP's hidden layers")
        } else if m.hidden_layers.is_empty() {
            Some("has no hidden layers to pretrain")
        } else if m.batch_norm || m.residual {
            Some("has batch_norm or residual: pretraining trains plain layers one by one")
        } else {
            None
        };
        if let Some(why) = why {
            errors.push(SpecError::new(
                field,
                format!("with pretrain, the model {why}"),
            ));
        }
    }
    if let Some(s) = spec
        .imbalance
        .strategy
        .list()
        .into_iter()
        .find(|s| NOT_PRETRAINABLE.contains(s))
    {
        errors.push(SpecError::new(
            "pretrain",
            format!(
                "{} trains several models or an autoencoder of its own; pretrain works with \
                 one classifier per run",
                s.as_str()
            ),
        ));
    }
    if spec.init.is_some() {
        errors.push(SpecError::new(
            "pretrain",
            "init and pretrain both set the first weights: choose one",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_spec_is_checked_again_before_a_run_trains_on_it() {
        let ok = JobSpec::from_stored(r#"{"dataset_id": "ds_1", "validation": {"folds": 3}}"#);
        assert_eq!(ok.unwrap().validation.folds, 3);
        // Parsed, but not trainable: a worker must fail it, not train on it.
        let one_fold =
            JobSpec::from_stored(r#"{"dataset_id": "ds_1", "validation": {"folds": 1}}"#);
        assert!(one_fold.unwrap_err().contains("validation.folds"));
        let bad_lr = r#"{"dataset_id": "d", "optimizer": {"kind": "sgd", "learning_rate": -1}}"#;
        assert!(
            JobSpec::from_stored(bad_lr)
                .unwrap_err()
                .contains("optimizer.learning_rate")
        );
        assert!(JobSpec::from_stored("{").is_err());
        // Size limits are the ones in force when it was accepted, not now.
        let wide = r#"{"dataset_id": "d", "model": {"hidden_layers": [100000]}}"#;
        assert!(JobSpec::from_stored(wide).is_ok());
    }

    #[test]
    fn a_bad_field_of_the_tagged_optimizer_is_named_not_the_block() {
        let field = |optimizer: serde_json::Value| {
            let spec = serde_json::json!({"dataset_id": "d", "optimizer": optimizer});
            JobSpec::from_json(spec).unwrap_err()[0].field.clone()
        };
        let named = |o| field(serde_json::json!(o));
        assert_eq!(named(r#"x"#), "optimizer");
        let lr = serde_json::json!({"kind": "adam", "learning_rate": "fast", "amsgrad": false});
        assert_eq!(field(lr), "optimizer.learning_rate");
        let unknown = serde_json::json!({"kind": "sgd", "betas": [0.9, 0.99]});
        assert_eq!(field(unknown), "optimizer.betas");
        assert_eq!(field(serde_json::json!({"kind": "lion"})), "optimizer.kind");
    }
}
