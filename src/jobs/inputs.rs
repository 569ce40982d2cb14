//! What submitting a job reads from the store besides its spec and dataset: another column
//! as the label, the datasets it reads beside its own, a fine-tuning job's source run, the
//! columns its folds come from, and every row's class. A problem with what the spec names is a
//! `SubmitError::Invalid`; a store failure is `SubmitError::Store`.

use crate::store::Db;

use super::plan;
use super::rejected::SubmitError;
use crate::domain::dataset::{Column, DatasetSummary};
use crate::domain::job::{InitSpec, JobSpec, JobStatus};
use crate::domain::results::{RunKind, RunState};
use crate::domain::spec::SpecError;
use crate::engine::data::labels::Labels;
use crate::store;

/// `ds` as the job sees it: with another `label` than the upload's, that column as the label
/// (and its rows' classes), else as it is; a 422 on `label` when the column cannot be one.
pub(super) async fn relabel(
    pool: &Db,
    spec: &JobSpec,
    ds: DatasetSummary,
    max_classes: u64,
) -> Result<(DatasetSummary, Option<Labels>), SubmitError> {
    let Some(name) = spec.label.as_ref().filter(|l| **l != ds.label) else {
        return Ok((ds, None));
    };
    let Some(column) = store::datasets::load_column(pool, &ds.id, name).await? else {
        let message = format!("no column {name:?} in dataset {}", ds.id);
        return Err(SubmitError::field("label", message));
    };
    plan::relabel(&ds, &column, spec.drop_missing_label, max_classes)
        .map(|r| (r.summary, Some(r.labels)))
        .map_err(|e| SubmitError::Invalid(vec![e]))
}

/// The datasets a job reads beside its own (pretraining rows, a test set), and what does not
/// fit in them.
pub(super) async fn other_datasets(
    pool: &Db,
    spec: &JobSpec,
    ds: &DatasetSummary,
) -> Result<(plan::OtherDatasets, Vec<SpecError>), SubmitError> {
    let others = [
        (
            "pretrain.dataset_id",
            spec.pretrain.as_ref().and_then(|p| p.dataset_id.as_deref()),
            false,
        ),
        (
            "validation.test_dataset_id",
            spec.validation.test_dataset_id.as_deref(),
            true,
        ),
    ];
    let (mut found, mut errors) = (plan::OtherDatasets::default(), Vec::new());
    for (field, id, with_label) in others {
        let Some(id) = id else { continue };
        match store::datasets::get_dataset(pool, id).await? {
            None => errors.push(SpecError::new(field, format!("no dataset {id}"))),
            Some(other) => {
                errors.extend(plan::check_other_dataset(
                    field, spec, ds, &other, with_label,
                ));
                match with_label {
                    true => found.test = Some(other),
                    false => found.pretrain = Some(other),
                }
            }
        }
    }
    Ok((found, errors))
}

/// The run a fine-tuning job starts from (`init.run` resolved to its id); what does not fit is
/// `SubmitError::Invalid`.
pub(super) async fn resolve_init(
    pool: &Db,
    spec: &JobSpec,
    ds: &DatasetSummary,
    init: &InitSpec,
) -> Result<String, SubmitError> {
    let Some(source) = store::job_view::get_job(pool, &init.job_id).await? else {
        let message = format!("no job {}", init.job_id);
        return Err(SubmitError::field("init.job_id", message));
    };
    if source.status != JobStatus::Succeeded {
        return Err(SubmitError::field(
            "init.job_id",
            format!(
                "job {} is {}: fine-tune from a job once it has succeeded",
                init.job_id,
                source.status.as_str()
            ),
        ));
    }
    let runs =
        store::run_data::runs_of_job(pool, &init.job_id, store::run_data::Detail::Summary).await?;
    let run = runs.iter().find(|r| {
        r.state == RunState::Succeeded
            && match init.run.as_str() {
                "final" => r.kind == RunKind::Final,
                id => r.id == id,
            }
    });
    let Some(run) = run else {
        return Err(SubmitError::field(
            "init.run",
            format!(
                "job {} has no finished run {:?} (\"final\", or one of its run ids)",
                init.job_id, init.run
            ),
        ));
    };
    let model = super::models::load(pool, &run.id).await?;
    let errors = plan::check_init(
        spec,
        ds,
        model.predictor.model().spec(),
        &model.encoding,
        model.predictor.model().layer_count(),
    );
    match errors.is_empty() {
        true => Ok(run.id.clone()),
        false => Err(SubmitError::Invalid(errors)),
    }
}

/// Every row's class and the class count: the chosen label's (`relabel`), else the upload's.
pub(super) async fn labels(
    pool: &Db,
    ds: &DatasetSummary,
    relabeled: Option<Labels>,
) -> Result<(Vec<u32>, usize), SubmitError> {
    if let Some(l) = relabeled {
        let n = l.classes.len();
        return Ok((l.codes, n));
    }
    store::datasets::load_labels(pool, &ds.id)
        .await?
        .ok_or_else(|| SubmitError::field("dataset_id", format!("no dataset {}", ds.id)))
}

/// The columns the folds come from: `fold_column`'s values or `group_column`'s.
pub(super) struct FoldColumns {
    given: Option<Vec<f32>>,
    groups: Option<Column>,
}

impl FoldColumns {
    pub(super) async fn load(
        pool: &Db,
        spec: &JobSpec,
        ds: &DatasetSummary,
    ) -> Result<Self, SubmitError> {
        let v = &spec.validation;
        let given = match &v.fold_column {
            Some(name) => Some(
                store::datasets::load_numeric_column(pool, &ds.id, name)
                    .await?
                    .ok_or_else(|| {
                        SubmitError::field("validation.fold_column", "not a numeric column")
                    })?,
            ),
            None => None,
        };
        let groups = match &v.group_column {
            Some(name) => Some(
                store::datasets::load_column(pool, &ds.id, name)
                    .await?
                    .ok_or_else(|| SubmitError::field("validation.group_column", "no column"))?,
            ),
            None => None,
        };
        Ok(Self { given, groups })
    }

    pub(super) fn source(&self) -> plan::FoldSource<'_> {
        match (&self.given, &self.groups) {
            (Some(values), _) => plan::FoldSource::Given(values),
            (None, Some(column)) => plan::FoldSource::Groups(&column.data),
            (None, None) => plan::FoldSource::Stratified,
        }
    }
}
