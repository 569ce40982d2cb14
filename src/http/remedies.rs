//! A job's findings and their remedies: `GET /v1/jobs/{id}/diagnostics` (the findings, and for
//! each remedy job made from them a before/after comparison) and `POST /v1/jobs/{id}/remedy`
//! (a new job with the chosen findings' merge patches applied to the spec).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;

use super::datasets::idempotency_key;
use super::extract::JsonBody;
use super::jobs::{job_or_404, submitted};
use super::remedy_outcomes::{Outcome, Remedied};
use super::state::{AppState, Route};
use crate::domain::finding::{AppliedRemedy, Finding};
use crate::domain::job::{JobSpec, JobStatus, Strategy};
use crate::domain::job_meta::JobMeta;
use crate::domain::results::Summary;
use crate::domain::results::Variant;
use crate::error::ApiError;
use crate::jobs::submit::Submission;
use crate::jobs::views::{self, JobView};
use crate::jobs::{results, thresholds};

pub fn routes() -> Vec<Route> {
    vec![
        ("/v1/jobs/{id}/diagnostics", get(diagnostics)),
        ("/v1/jobs/{id}/remedy", post(remedy)),
    ]
}

/// The findings `{"finding": N}` or `{"finding": [N, …]}` names (by id), each one of
/// `findings` with a remedy.
fn chosen<'f>(body: &Value, findings: &'f [Finding]) -> Result<Vec<&'f Finding>, ApiError> {
    let bad = |m: String| ApiError::invalid_field("finding", m);
    if let Some(obj) = body.as_object()
        && let Some(other) = obj
            .keys()
            .find(|k| !["finding", "verify"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid_field(
            other.as_str(),
            "unknown field; only finding and verify",
        ));
    }
    let ids: Vec<&Value> = match body.get("finding") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
        Some(v @ Value::Number(_)) => vec![v],
        _ => {
            return Err(bad(
                "a finding id (a number from the job's diagnostics), or a non-empty list".into(),
            ));
        }
    };
    let mut out = Vec::new();
    for v in ids {
        // JSON Schema's integers include 3.0.
        let id = v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| bad(format!("{v} is not a finding id")))? as usize;
        // A well-formed id the job has no finding for (yet): a conflict with its state.
        let Some(f) = findings.iter().find(|f| f.id == id) else {
            let ids: Vec<String> = findings.iter().map(|f| f.id.to_string()).collect();
            return Err(ApiError::Conflict(format!(
                "no finding {id}: the job's findings so far are [{}]",
                ids.join(", ")
            )));
        };
        if f.remedy.as_object().is_some_and(|o| o.is_empty()) {
            return Err(ApiError::Conflict(format!(
                "finding {id} ({}) has no remedy",
                f.kind.as_str()
            )));
        }
        if !out.iter().any(|o: &&Finding| o.id == id) {
            out.push(f);
        }
    }
    Ok(out)
}

/// `POST /v1/jobs/{id}/remedy`: 202 with the new job, linked by `remedy_of`.
async fn remedy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let job = job_or_404(&state, &id).await?;
    let verify = match body.get("verify") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(ApiError::invalid_field("verify", "true or false")),
    };
    if verify {
        let [finding] = chosen(&body, &job.diagnostics)?[..] else {
            return Err(ApiError::invalid_field(
                "finding",
                "verify trains the candidates of one finding: give one id",
            ));
        };
        return super::remedy_verify::verify(&state, &job, finding, key).await;
    }
    let applied: Vec<AppliedRemedy> = chosen(&body, &job.diagnostics)?
        .into_iter()
        .map(AppliedRemedy::of)
        .collect();
    let mut spec = serde_json::to_value(&job.spec).map_err(anyhow::Error::from)?;
    for a in &applied {
        json_patch::merge(&mut spec, &a.remedy);
    }
    let spec = JobSpec::from_json(spec).map_err(|errors| {
        ApiError::Conflict(format!(
            "the remedies do not give a valid spec: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    // The remedy job keeps the original's tags and says what it is in its name.
    let meta = JobMeta {
        name: Some(format!(
            "remedy of {}",
            job.meta.name.as_deref().unwrap_or(&id)
        )),
        description: None,
        tags: job.meta.tags.clone(),
    };
    let submission = Submission {
        spec,
        meta,
        key,
        dry_run: false,
        remedy_of: Some((id, applied)),
    };
    submitted(&state, submission).await
}

#[derive(Debug, Serialize)]
struct Diagnostics {
    job_id: String,
    status: JobStatus,
    findings: Vec<Finding>,
    remedies: Vec<Remedied>,
    /// `"verify": true`: per finding, its candidates' outcomes and the one that won.
    verifications: Vec<super::remedy_verify::Verification>,
}

/// Per variant, the statistics of its fold scores.
async fn summaries(state: &AppState, job: &JobView) -> Result<Vec<(Variant, Summary)>, ApiError> {
    let runs = views::runs(&state.pool, &job.id).await?;
    let folds = results::fold_results(&runs);
    let all = results::variant_summaries(&job.spec, &folds);
    Ok(thresholds::decided_summaries(&state.pool, &job.id, &job.spec, all).await?)
}

/// The summary of `variant` (with `strategy`, when there is one to match).
fn summary_of(
    all: &[(Variant, Summary)],
    variant: usize,
    strategy: Option<Strategy>,
) -> Option<&Summary> {
    all.iter()
        .find(|(v, _)| v.model == variant && strategy.is_none_or(|s| s == v.strategy))
        .or_else(|| all.iter().find(|(v, _)| v.model == variant))
        .map(|x| &x.1)
}

/// `GET /v1/jobs/{id}/diagnostics`.
async fn diagnostics(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Diagnostics>, ApiError> {
    let job = job_or_404(&state, &id).await?;
    let before = summaries(&state, &job).await?;
    let rank_by = job.spec.imbalance.rank_by;
    let mut remedies = Vec::new();
    for r in views::remedies_of(&state.pool, &id).await? {
        // The findings as the remedy job applied them (their ids, kinds and variants then).
        let applied = r.applied_remedies.clone().unwrap_or_default();
        let comparison = if r.status.is_finished() {
            let after = summaries(&state, &r).await?;
            let outcome = |f: &AppliedRemedy| {
                let (b, a) = (
                    summary_of(&before, f.variant, f.strategy),
                    summary_of(&after, f.variant, f.strategy),
                );
                Outcome::of(f, (&job.diagnostics, &r.diagnostics), (b, a), rank_by)
            };
            Some(applied.iter().map(outcome).collect())
        } else {
            None
        };
        remedies.push(Remedied {
            job_id: r.id,
            status: r.status,
            candidate: applied.first().and_then(|a| a.candidate.clone()),
            findings: applied.iter().map(|a| a.finding).collect(),
            applied,
            comparison,
        });
    }
    Ok(Json(Diagnostics {
        job_id: job.id,
        status: job.status,
        findings: job.diagnostics,
        verifications: super::remedy_verify::verifications(&remedies),
        remedies,
    }))
}
