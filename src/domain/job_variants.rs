//! A job's variants: its models (one, or a list compared on the same folds), or a search's
//! trials applied to its training spec; what each trains, how it is named in errors and in
//! words, and the search's own checks.

use super::job::{JobSpec, ModelChoice};
use super::search::{self, SearchMethod, SearchSpec};
use super::spec::{ModelSpec, SpecError, TrainingSpec};
use crate::config::Limits;

/// A halving search's schedule: the epochs at which its trials pause, and its η.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halving {
    pub rungs: Vec<u64>,
    pub eta: u64,
}

impl JobSpec {
    /// The engine's part of the spec for model variant `variant` (0 for a single model): a
    /// search's trial `variant` applied to the spec (validation has checked that it applies).
    pub fn training_spec(&self, variant: usize) -> TrainingSpec {
        let Some(search) = &self.search else {
            return TrainingSpec {
                model: self.model.variant(variant).clone(),
                ..self.training_spec_base()
            };
        };
        let base = self.training_spec_base();
        let trials = search.trials(self.seed);
        (trials.get(variant))
            .and_then(|t| search::apply(&base, t).ok())
            .unwrap_or(base)
    }

    /// How many model variants the job trains: a search's trials, or its models.
    pub fn variant_count(&self) -> usize {
        match &self.search {
            Some(s) => s.sampled.as_ref().map_or_else(|| s.count(), Vec::len),
            None => self.model.list().len(),
        }
    }

    /// Variant `variant`'s model (a search's trial may set its fields).
    pub fn variant_model(&self, variant: usize) -> ModelSpec {
        match &self.search {
            Some(_) => self.training_spec(variant).model,
            None => self.model.variant(variant).clone(),
        }
    }

    /// Trial `variant` of a search as a job of its own: the search gone, its values written in.
    pub fn trial_alone(&self, variant: usize) -> JobSpec {
        let t = self.training_spec(variant);
        JobSpec {
            search: None,
            model: ModelChoice::One(t.model),
            optimizer: t.optimizer,
            schedule: t.schedule,
            training: t.training,
            ..self.clone()
        }
    }

    /// The path of variant `variant`'s model field `rest` (`.kind`, or empty) in an error:
    /// `model[i].kind` in a list, `search.trials[i].model.kind` in a search, else `model.kind`.
    pub fn variant_field(&self, variant: usize, rest: &str) -> String {
        if self.search.is_some() {
            format!("search.trials[{variant}].model{rest}")
        } else if self.model.is_comparison() {
            format!("model[{variant}]{rest}")
        } else {
            format!("model{rest}")
        }
    }

    /// The epochs variant `variant` trains (a search may set them per trial).
    pub fn variant_epochs(&self, variant: usize) -> u64 {
        match &self.search {
            Some(_) => self.training_spec(variant).training.epochs,
            None => self.training.epochs,
        }
    }

    /// The most epochs any variant trains.
    pub fn most_epochs(&self) -> u64 {
        if self.search.is_none() {
            return self.training.epochs;
        }
        (0..self.variant_count())
            .map(|v| self.variant_epochs(v))
            .max()
            .unwrap_or(self.training.epochs)
    }

    /// Whether the final model needs its fold runs' results before it trains: for their epochs
    /// (`{"epochs": "cv"}`), their training loss (`{"epochs": "fold_loss"}`) or a threshold tuned
    /// on their predictions.
    pub fn final_reads_folds(&self) -> bool {
        use super::job::FinalModel;
        matches!(
            self.final_model,
            FinalModel::CvEpochs | FinalModel::FoldLoss
        ) || self.imbalance.threshold == super::job::DecisionThreshold::Tuned
    }

    /// A halving search's rungs (the last the job's epochs) and reduction factor; `None` when
    /// its runs train straight through.
    pub fn halving(&self) -> Option<Halving> {
        let search = self
            .search
            .as_ref()
            .filter(|s| s.method == SearchMethod::Asha)?;
        let rungs = search.rungs(self.training.epochs);
        (rungs.len() > 1).then(|| Halving {
            rungs,
            eta: search.eta(),
        })
    }

    /// Whether the job trains model variants: a list, or a search's trials.
    pub fn has_model_variants(&self) -> bool {
        self.search.is_some() || self.model.is_comparison()
    }

    /// Variant `variant` in words: a search's trial values, else its model's description.
    pub fn describe_variant(&self, variant: usize) -> String {
        match self.search.as_ref().map(|s| s.trials(self.seed)) {
            Some(trials) => trials
                .get(variant)
                .map(search::describe)
                .unwrap_or_default(),
            None => self.model.variant(variant).describe(),
        }
    }

    /// The search, then each trial applied: a value the field refuses is named at its path in
    /// the space, a rule a trial breaks at `search.trials[i]` with the field.
    pub(super) fn validate_search(
        &self,
        search: &SearchSpec,
        limits: &Limits,
        errors: &mut Vec<SpecError>,
    ) {
        if self.model.is_comparison() {
            errors.push(SpecError::new(
                "search",
                "a search's trials are the job's variants: give one model, not a list",
            ));
        }
        let found = search.validate();
        let searchable = found.is_empty();
        errors.extend(found);
        if !searchable {
            return;
        }
        let base = self.training_spec_base();
        errors.extend(self.validate_halving(search, &base));
        errors.extend(self.validate_trials(search, &base, limits));
    }

    /// What halving needs of the job: rungs below its epochs, trials that all train to the
    /// same last rung, and runs that can pause (an ensemble's or one-class run trains whole).
    fn validate_halving(&self, search: &SearchSpec, base: &TrainingSpec) -> Vec<SpecError> {
        let mut errors = Vec::new();
        if search.method != SearchMethod::Asha {
            return errors;
        }
        let epochs = base.training.epochs;
        if search.min_epochs.is_some_and(|m| m >= epochs) {
            errors.push(SpecError::new(
                "search.min_epochs",
                format!("fewer than training.epochs ({epochs}), the last rung"),
            ));
        }
        if search.space.contains_key("training.epochs") {
            errors.push(SpecError::new(
                "search.space.training.epochs",
                "asha's last rung is training.epochs: leave it out of the space",
            ));
        }
        if let Some(s) = (self.imbalance.strategy.list().iter()).find(|s| s.trains_members()) {
            errors.push(SpecError::new(
                "search.method",
                format!(
                    "{} trains whole, it cannot pause at rungs: use random",
                    s.as_str()
                ),
            ));
        }
        errors
    }

    fn validate_trials(
        &self,
        search: &SearchSpec,
        base: &TrainingSpec,
        limits: &Limits,
    ) -> Vec<SpecError> {
        // The base's own problems once; a trial's, beyond them, named by the trial.
        let own = base.validate(limits);
        let mut errors = own.clone();
        for (i, trial) in search.trials(self.seed).iter().enumerate() {
            match search::apply(base, trial) {
                Err(e) if !errors.contains(&e) => errors.push(e),
                Err(_) => {}
                Ok(spec) => errors.extend(
                    (spec.validate(limits).into_iter())
                        .filter(|e| !own.contains(e))
                        .map(|e| {
                            SpecError::new(format!("search.trials[{i}].{}", e.field), e.message)
                        }),
                ),
            }
        }
        errors
    }

    /// The training spec the search's trials are applied to.
    fn training_spec_base(&self) -> TrainingSpec {
        TrainingSpec {
            model: self.model.variant(0).clone(),
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            training: self.training.clone(),
        }
    }
}
