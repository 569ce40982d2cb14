//! What submitting a job reads from the store besides its spec and dataset: another column
//! as the label, the datasets it reads beside its own, a fine-tuning job's source run, the
//! columns its folds come from, and every row's class.

use super::state::AppState;
use crate::domain::dataset::{Column, DatasetSummary};
use crate::domain::job::{InitSpec, JobSpec, JobStatus};
use crate::domain::results::{RunKind, RunState};
use crate::domain::spec::SpecError;
use crate::engine::checkpoint;
use crate::engine::data::encode::Encoding;
use crate::engine::data::labels::Labels;
use crate::error::ApiError;
use crate::queue::plan;
use crate::store;

/// `ds` as the job sees it: with another `label` than the upload's, that column as the label
/// (and its rows' classes), else as it is; a 422 on `label` when the column cannot be one.
pub(super) async fn relabel(
    state: &AppState,
    spec: &JobSpec,
    ds: DatasetSummary,
) -> Result<Result<(DatasetSummary, Option<Labels>), SpecError>, ApiError> {
    let Some(name) = spec.label.as_ref().filter(|l| **l != ds.label) else {
        return Ok(Ok((ds, None)));
    };
    let Some(column) = store::datasets::load_column(&state.pool, &ds.id, name).await? else {
        let message = format!("no column {name:?} in dataset {}", ds.id);
        return Ok(Err(SpecError::new("label", message)));
    };
    let limit = state.limits.max_classes;
    Ok(plan::relabel(&ds, &column, spec.drop_missing_label, limit)
        .map(|r| (r.summary, Some(r.labels))))
}

/// The datasets a job reads beside its own (pretraining rows, a test set), and what does not
/// fit in them.
pub(super) async fn other_datasets(
    state: &AppState,
    spec: &JobSpec,
    ds: &DatasetSummary,
) -> Result<(plan::OtherDatasets, Vec<SpecError>), ApiError> {
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
        match store::datasets::get_dataset(&state.pool, id).await? {
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

/// The run a fine-tuning job starts from (`init.run` resolved to its id), or what does not fit.
pub(super) async fn resolve_init(
    state: &AppState,
    spec: &JobSpec,
    ds: &DatasetSummary,
    init: &InitSpec,
) -> Result<Result<String, Vec<SpecError>>, ApiError> {
    let fail = |field: &str, m: String| Ok(Err(vec![SpecError::new(field, m)]));
    let Some(source) = store::job_view::get_job(&state.pool, &init.job_id).await? else {
        return fail("init.job_id", format!("no job {}", init.job_id));
    };
    if source.status != JobStatus::Succeeded {
        return fail(
            "init.job_id",
            format!(
                "job {} is {}: fine-tune from a job once it has succeeded",
                init.job_id,
                source.status.as_str()
            ),
        );
    }
    let runs =
        store::run_data::runs_of_job(&state.pool, &init.job_id, store::run_data::Detail::Summary)
            .await?;
    let run = runs.iter().find(|r| {
        r.state == RunState::Succeeded
            && if init.run == "final" {
                r.kind == RunKind::Final
            } else {
                r.id == init.run
            }
    });
    let Some(run) = run else {
        return fail(
            "init.run",
            format!(
                "job {} has no finished run {:?} (\"final\", or one of its run ids)",
                init.job_id, init.run
            ),
        );
    };
    let bytes = store::run_data::checkpoint(&state.pool, &run.id)
        .await?
        .and_then(|c| c.1)
        .ok_or_else(|| anyhow::anyhow!("run {} has no checkpoint", run.id))?;
    let stored =
        checkpoint::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("run {}: {e}", run.id))?;
    let encoding: Encoding = serde_json::from_str(stored.encoding.as_deref().unwrap_or("null"))
        .map_err(|e| anyhow::anyhow!("run {}: encoding: {e}", run.id))?;
    let model = &stored.state.model;
    let errors = plan::check_init(spec, ds, model.spec(), &encoding, model.layer_count());
    Ok(if errors.is_empty() {
        Ok(run.id.clone())
    } else {
        Err(errors)
    })
}

/// Every row's class and the class count: the chosen label's (`relabel`), else the upload's.
pub(super) async fn labels(
    state: &AppState,
    ds: &DatasetSummary,
    relabeled: Option<Labels>,
) -> Result<(Vec<u32>, usize), ApiError> {
    if let Some(l) = relabeled {
        let n = l.classes.len();
        return Ok((l.codes, n));
    }
    store::datasets::load_labels(&state.pool, &ds.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dataset {}", ds.id)))
}

/// The columns the folds come from: `fold_column`'s values or `group_column`'s.
pub(super) struct FoldColumns {
    given: Option<Vec<f32>>,
    groups: Option<Column>,
}

impl FoldColumns {
    pub(super) async fn load(
        state: &AppState,
        spec: &JobSpec,
        ds: &DatasetSummary,
    ) -> Result<Self, ApiError> {
        let v = &spec.validation;
        let given = match &v.fold_column {
            Some(name) => Some(
                store::datasets::load_numeric_column(&state.pool, &ds.id, name)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid_field("validation.fold_column", "not a numeric column")
                    })?,
            ),
            None => None,
        };
        let groups = match &v.group_column {
            Some(name) => Some(
                store::datasets::load_column(&state.pool, &ds.id, name)
                    .await?
                    .ok_or_else(|| {
                        ApiError::invalid_field("validation.group_column", "no column")
                    })?,
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
