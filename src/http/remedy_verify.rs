//! `POST /v1/jobs/{id}/remedy` with `"verify": true`: every candidate remedy of one finding
//! (`diagnose::candidates`, best prior first) as its own job on the original's spec, seed and
//! so folds, linked by `remedy_of`; `GET …/diagnostics` then says which one resolved it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::remedy_outcomes::Remedied;
use crate::domain::finding::{Kind, RemedyCandidate};
use crate::domain::job::JobStatus;
use crate::engine::eval::summary::Stat;

use super::state::AppState;
use crate::diagnose::candidates::candidates;
use crate::domain::finding::{AppliedRemedy, Finding};
use crate::domain::job::JobSpec;
use crate::domain::job_meta::JobMeta;
use crate::error::ApiError;
use crate::jobs::submit::{self, Submission, Submitted};
use crate::jobs::views::JobView;

/// Submits one job per candidate remedy of `finding`; 202 with each candidate's job, or why
/// it was left out (its patch gives a spec this dataset or server refuses).
pub(super) async fn verify(
    state: &AppState,
    job: &JobView,
    finding: &Finding,
    key: Option<String>,
) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for c in candidates(&job.spec, finding.kind, finding.variant, &state.limits) {
        let mut spec = serde_json::to_value(&job.spec).map_err(anyhow::Error::from)?;
        json_patch::merge(&mut spec, &c.patch);
        let mut entry = json!({"rank": c.rank, "name": c.name, "patch": c.patch});
        let spec = match JobSpec::from_json(spec) {
            Ok(spec) => spec,
            Err(errors) => {
                entry["skipped"] = json!(joined(errors.iter().map(|e| (&e.field, &e.message))));
                out.push(entry);
                continue;
            }
        };
        let applied = AppliedRemedy {
            candidate: Some(c.clone()),
            remedy: c.patch.clone(),
            ..AppliedRemedy::of(finding)
        };
        let submission = Submission {
            spec,
            meta: JobMeta {
                name: Some(format!(
                    "verify finding {} of {}: {}",
                    finding.id, job.id, c.name
                )),
                description: None,
                tags: job.meta.tags.clone(),
            },
            key: key.as_ref().map(|k| format!("{k}/candidate-{}", c.rank)),
            dry_run: false,
            remedy_of: Some((job.id.clone(), vec![applied])),
        };
        match submit::submit(&state.pool, &state.limits, submission).await {
            Ok(Submitted::Created { id }) => entry["job_id"] = json!(id),
            Ok(Submitted::DryRun { .. }) => {}
            Err(submit::SubmitError::Invalid(errors)) => {
                entry["skipped"] = json!(joined(errors.iter().map(|e| (&e.field, &e.message))));
            }
            Err(e) => return Err(e.into()),
        }
        out.push(entry);
    }
    let body: Value = json!({"finding": finding.id, "kind": finding.kind, "candidates": out});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `field: message; …`.
fn joined<'a>(errors: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    errors
        .map(|(f, m)| format!("{f}: {m}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One finding's verification: its candidates' outcomes, best prior first, and the winner.
#[derive(Debug, Serialize)]
pub(super) struct Verification {
    finding: usize,
    kind: Kind,
    /// Every candidate's job has ended.
    complete: bool,
    candidates: Vec<Tried>,
    /// The candidate that resolved the finding with the best metric (ties: the better prior).
    winner: Option<Tried>,
    /// In words: which candidate won, or that none did.
    verdict: String,
}

/// A candidate as its job tried it.
#[derive(Debug, Clone, Serialize)]
struct Tried {
    #[serde(flatten)]
    candidate: RemedyCandidate,
    job_id: String,
    status: JobStatus,
    /// Once its job has ended: the kind gone and the metric no worse beyond fold noise.
    resolved: Option<bool>,
    /// Once its job has ended: the kinds it warns of that the original did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    new_warnings: Option<Vec<Kind>>,
    metric_after: Option<Stat>,
}

/// The verifications among a job's remedy jobs (those made with `"verify": true`).
pub(super) fn verifications(remedies: &[Remedied]) -> Vec<Verification> {
    let mut by_finding: Vec<(usize, Kind, Vec<Tried>, Option<bool>)> = Vec::new();
    for r in remedies {
        let Some(candidate) = r.candidate.clone() else {
            continue;
        };
        let outcome = r.comparison.as_ref().and_then(|c| c.first());
        let (finding, kind) = match r.applied.first() {
            Some(a) => (a.finding, a.kind),
            None => continue,
        };
        let tried = Tried {
            candidate,
            job_id: r.job_id.clone(),
            status: r.status,
            resolved: outcome.map(|o| o.resolved),
            new_warnings: outcome.map(|o| o.new_warnings.clone()),
            metric_after: outcome.and_then(|o| o.metric_after),
        };
        // The metric's direction, from whichever candidate has finished.
        let higher = outcome.map(|o| o.metric.higher_is_better());
        match by_finding.iter_mut().find(|(f, ..)| *f == finding) {
            Some(entry) => {
                entry.2.push(tried);
                entry.3 = entry.3.or(higher);
            }
            None => by_finding.push((finding, kind, vec![tried], higher)),
        }
    }
    (by_finding.into_iter())
        .map(|(finding, kind, mut candidates, higher)| {
            candidates.sort_by_key(|t| t.candidate.rank);
            let complete = candidates.iter().all(|t| t.resolved.is_some());
            let winner = best(&candidates, higher.unwrap_or(true));
            let verdict = verdict(&candidates, winner.as_ref(), complete);
            Verification {
                finding,
                kind,
                complete,
                candidates,
                winner,
                verdict,
            }
        })
        .collect()
}

/// The resolving candidate with the best metric after (the lower rank of equals).
fn best(candidates: &[Tried], higher: bool) -> Option<Tried> {
    let score = |t: &Tried| {
        t.metric_after
            .map(|s| if higher { s.mean } else { -s.mean })
    };
    (candidates.iter())
        .filter(|t| t.resolved == Some(true))
        .fold(None::<&Tried>, |best, t| match (best, score(t)) {
            (Some(b), Some(s)) if score(b).is_none_or(|bs| s > bs) => Some(t),
            (None, _) => Some(t),
            (b, _) => b,
        })
        .cloned()
}

fn verdict(candidates: &[Tried], winner: Option<&Tried>, complete: bool) -> String {
    let first = candidates.first().map(|t| t.candidate.name.as_str());
    match (winner, complete) {
        (Some(w), true) if Some(w.candidate.name.as_str()) == first => {
            format!(
                "verified: the first-ranked remedy, {}, resolved it best",
                w.candidate.name
            )
        }
        (Some(w), true) => format!(
            "verified: {} (ranked {}) resolved it best; the first-ranked, {}, did not do as well",
            w.candidate.name,
            w.candidate.rank + 1,
            first.unwrap_or("none")
        ),
        (None, true) => "no candidate resolved it".to_owned(),
        (_, false) => "candidates still training".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tried(rank: usize, resolved: Option<bool>, mean: f64) -> Tried {
        Tried {
            candidate: RemedyCandidate {
                rank,
                name: format!("c{rank}"),
                patch: json!({}),
            },
            job_id: format!("job{rank}"),
            status: JobStatus::Succeeded,
            resolved,
            new_warnings: None,
            metric_after: Some(Stat::of(&[mean])),
        }
    }

    #[test]
    fn the_winner_resolved_it_with_the_best_metric_in_its_direction() {
        let c = [
            tried(0, Some(true), 0.3),
            tried(1, Some(false), 0.1),
            tried(2, Some(true), 0.2),
        ];
        // A loss: the lowest that resolved it (not rank 1, which did not).
        assert_eq!(best(&c, false).unwrap().candidate.rank, 2);
        assert_eq!(best(&c, true).unwrap().candidate.rank, 0);
        // Equals: the better prior.
        let tie = [tried(0, Some(true), 0.2), tried(1, Some(true), 0.2)];
        assert_eq!(best(&tie, true).unwrap().candidate.rank, 0);
        assert!(best(&[tried(0, Some(false), 0.9), tried(1, None, 0.9)], true).is_none());
        let w = best(&c, false);
        assert!(verdict(&c, w.as_ref(), true).contains("c2 (ranked 3)"));
        assert_eq!(verdict(&c, w.as_ref(), false), "candidates still training");
    }
}
