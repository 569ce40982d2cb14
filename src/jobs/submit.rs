//! Submitting a job: the spec validated, resolved against its datasets (label, features, the
//! datasets it reads beside its own, a fine-tuning source, folds, memory) and planned once, then
//! stored with its runs in one transaction. Every field error comes back at once.

use crate::store::Db;
use sha2::{Digest, Sha256};

use super::inputs::{self, FoldColumns};
use super::nested;
use super::plan::{self, Estimate};
pub use super::rejected::SubmitError;
use crate::config::Limits;
use crate::domain::dataset::DatasetSummary;
use crate::domain::finding::AppliedRemedy;
use crate::domain::job::{InitSpec, JobSpec};
use crate::domain::job_meta::JobMeta;
use crate::domain::spec::SpecError;
use crate::engine::data::labels::Labels;
use crate::store;
use crate::store::jobs::{Created, NewJob};

/// What a submit did.
#[derive(Debug)]
pub enum Submitted {
    /// A dry run: the resolved spec and the work, nothing stored.
    DryRun {
        spec: Box<JobSpec>,
        estimate: Box<Estimate>,
    },
    /// Stored (or, with an idempotency key used before for the same request, found): the id.
    Created { id: String },
}

/// What a submit is: the spec, its idempotency key, whether it is a dry run, and for a remedy
/// job the original job and the findings it applies.
#[derive(Debug)]
pub struct Submission {
    pub spec: JobSpec,
    /// Its name, description and tags.
    pub meta: JobMeta,
    pub key: Option<String>,
    pub dry_run: bool,
    pub remedy_of: Option<(String, Vec<AppliedRemedy>)>,
}

/// Checks, resolves, plans and (unless a dry run) stores a job.
pub async fn submit(pool: &Db, limits: &Limits, s: Submission) -> Result<Submitted, SubmitError> {
    let Resolved {
        accepted,
        ds,
        relabeled,
    } = resolve(pool, limits, s.spec).await?;
    // A dry run plans the folds too, so a column that cannot make them is its 422 as well.
    let estimate = s.dry_run.then(|| nested::estimate(&accepted, &ds));
    let (labels, n_classes) = inputs::labels(pool, &ds, relabeled).await?;
    let classes: Vec<String> = ds.classes.iter().map(|c| c.value.clone()).collect();
    if classes.len() != n_classes {
        let (id, n) = (&ds.id, classes.len());
        return Err(anyhow::anyhow!("dataset {id} lists {n} classes for {n_classes}").into());
    }
    let max_attempts = u32::try_from(limits.max_attempts).unwrap_or(u32::MAX);
    let columns = FoldColumns::load(pool, &accepted.spec, &ds).await?;
    // A nested job's outer folds are planned with it, so one that cannot be is its 422.
    let outer: Vec<NewJob> = (nested::outer_specs(&accepted).into_iter())
        .map(|o| {
            plan::job(
                o,
                (&labels, classes.clone()),
                max_attempts,
                columns.source(),
            )
        })
        .collect::<Result<_, _>>()
        .map_err(|e| SubmitError::Invalid(vec![e]))?;
    let mut job = plan::job(accepted, (&labels, classes), max_attempts, columns.source())
        .map_err(|e| SubmitError::Invalid(vec![e]))?;
    if let Some(estimate) = estimate {
        return Ok(Submitted::DryRun {
            spec: Box::new(job.spec),
            estimate: Box::new(estimate),
        });
    }
    job.remedy_of = s.remedy_of;
    job.meta = s.meta;
    for (fold, mut o) in outer.into_iter().enumerate() {
        o.outer_of = Some(job.id.clone());
        o.meta = nested::outer_meta(&job.meta, fold as u64);
        job.outer_jobs.push(o);
    }
    // A request is its spec, what it is called and, for a remedy job, what it remedies (an
    // unnamed job's identity is its spec, as before names were).
    let identity = match (&job.remedy_of, job.meta == JobMeta::default()) {
        (None, true) => serde_json::to_string(&job.spec),
        (None, false) => serde_json::to_string(&(&job.spec, &job.meta)),
        (Some(of), true) => serde_json::to_string(&(&job.spec, of)),
        (Some(of), false) => serde_json::to_string(&(&job.spec, of, &job.meta)),
    };
    let hash = hex::encode(Sha256::digest(identity.map_err(anyhow::Error::from)?));
    let keyed = s.key.as_deref().map(|k| (k, hash.as_str()));
    match store::jobs::insert_job(pool, &job, keyed).await? {
        Created::Created => Ok(Submitted::Created { id: job.id }),
        Created::KeyUsed(used) if used.request_hash == hash => Ok(Submitted::Created {
            id: used.resource_id,
        }),
        Created::KeyUsed(_) => Err(SubmitError::KeyReused),
        Created::DatasetGone(field) => Err(SubmitError::field(
            field,
            "no such dataset (it was just deleted)",
        )),
    }
}

/// An accepted spec, its dataset as the job sees it, and the chosen label's classes.
struct Resolved {
    accepted: plan::Accepted,
    ds: DatasetSummary,
    relabeled: Option<Labels>,
}

/// The spec checked against its dataset (as the job sees it), the other datasets it reads, a
/// fine-tuning source and the limits, and accepted: every problem at once.
async fn resolve(pool: &Db, limits: &Limits, mut spec: JobSpec) -> Result<Resolved, SubmitError> {
    let mut errors = spec.validate(limits);
    let Some(ds) = store::datasets::get_dataset(pool, &spec.dataset_id).await? else {
        let missing = SpecError::new("dataset_id", format!("no dataset {}", spec.dataset_id));
        errors.insert(0, missing);
        return Err(SubmitError::Invalid(errors));
    };
    // Another label: the dataset as the job sees it, and its rows' classes.
    let (ds, relabeled) = match inputs::relabel(pool, &spec, ds, limits.max_classes).await {
        Ok(found) => found,
        Err(SubmitError::Invalid(e)) => {
            errors.extend(e);
            return Err(SubmitError::Invalid(errors));
        }
        Err(e) => return Err(e),
    };
    errors.extend(plan::check(&spec, &ds, limits));
    let (others, other_errors) = inputs::other_datasets(pool, &spec, &ds).await?;
    errors.extend(other_errors);
    if errors.is_empty()
        && let Some(init) = spec.init.clone()
    {
        match inputs::resolve_init(pool, &spec, &ds, &init).await {
            Ok(run) => spec.init = Some(InitSpec { run, ..init }),
            Err(SubmitError::Invalid(e)) => errors.extend(e),
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        return Err(SubmitError::Invalid(errors));
    }
    let accepted =
        plan::accept(spec, &ds, &others, limits).map_err(|e| SubmitError::Invalid(vec![e]))?;
    Ok(Resolved {
        accepted,
        ds,
        relabeled,
    })
}
