"""The whole flow through a client generated from openapi.yaml by openapi-python-client:
JSON upload, a named and tagged job, job metrics, runs, epoch history, checkpoint, predict
(with what it imputed), renaming, the filtered list, a comparison and out-of-fold predictions.

Usage: generated_client_flow.py <dir holding the crossfold_client package> <base url> <token>
Exits non-zero (with the reason) if any step fails or answers something the schema does not say.
"""

import sys
import time

sys.path.insert(0, sys.argv[1])
base_url, token = sys.argv[2], sys.argv[3]

from crossfold_client import AuthenticatedClient  # noqa: E402
from crossfold_client.api.datasets import create_dataset  # noqa: E402
from crossfold_client.api.jobs import (  # noqa: E402
    compare_jobs,
    create_job,
    get_job,
    get_job_metrics,
    get_out_of_fold_predictions,
    list_jobs,
    list_runs,
    predict,
    update_job,
)
from crossfold_client.api.runs import get_run_checkpoint, get_run_history  # noqa: E402
from crossfold_client.models import (  # noqa: E402
    Comparison,
    CreateDatasetJsonBodyType1,
    Dataset,
    Job,
    JobMetaPatch,
    JobMetrics,
    JobPage,
    JobSpec,
    ListRunsResponse200,
    PredictRows,
    PredictResponse200,
)


def check(cond, what):
    if not cond:
        sys.exit(f"generated client flow failed: {what}")


client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

rows = [[float(i % 7), "red" if i % 3 else "blue", str(i % 2)] for i in range(60)]
body = CreateDatasetJsonBodyType1.from_dict({"columns": ["x", "color", "y"], "rows": rows})
ds = create_dataset.sync(client=client, body=body, label="y", name="generated")
check(isinstance(ds, Dataset), f"upload answered {ds!r}")
check(ds.rows == 60, f"{ds.rows} rows")

spec = JobSpec.from_dict({
    "dataset_id": ds.id,
    "name": "generated baseline",
    "tags": {"team": "clients"},
    "model": {"hidden_layers": [8]},
    "optimizer": {"kind": "adam", "learning_rate": 0.01},
    "training": {"epochs": 3},
    "validation": {"folds": 2},
    "seed": 1,
})
job = create_job.sync(client=client, body=spec)
check(isinstance(job, Job), f"job answered {job!r}")

deadline = time.time() + 60
while True:
    job = get_job.sync(job.id, client=client)
    check(isinstance(job, Job), f"get job answered {job!r}")
    if job.status.value in ("succeeded", "failed", "cancelled"):
        break
    check(time.time() < deadline, "the job did not finish in a minute")
    time.sleep(0.05)
check(job.status.value == "succeeded", f"job ended {job.status.value}: {job.error}")

metrics = get_job_metrics.sync(job.id, client=client)
check(isinstance(metrics, JobMetrics), f"metrics answered {metrics!r}")
check(len(metrics.folds) == 2, f"{len(metrics.folds)} folds")

runs = list_runs.sync(job.id, client=client)
check(isinstance(runs, ListRunsResponse200), f"runs answered {runs!r}")
check(len(runs.items) == 3, f"{len(runs.items)} runs")
fold_run = next(r for r in runs.items if r.kind.value == "fold")

history = get_run_history.sync(fold_run.id, client=client)
check(isinstance(history, list) and len(history) >= 1, f"history answered {history!r}")
check(history[0].epoch == 1, "the first epoch is 1")

ck = get_run_checkpoint.sync_detailed(fold_run.id, client=client)
check(ck.status_code == 200 and len(ck.content) > 100, f"checkpoint answered {ck.status_code}")

body = PredictRows.from_dict({"rows": [{"x": 3.0, "color": "red"}, {"x": 1.0}]})
out = predict.sync(job.id, client=client, body=body)
check(isinstance(out, PredictResponse200), f"predict answered {out!r}")
check(len(out.predictions) == 2, f"{len(out.predictions)} predictions")
total = sum(out.predictions[0].probabilities.additional_properties.values())
check(abs(total - 1.0) < 1e-6, f"probabilities sum to {total}")
check(out.imputed.additional_properties == {"color": 1}, f"imputed {out.imputed!r}")

renamed = update_job.sync(job.id, client=client, body=JobMetaPatch.from_dict({"name": "generated v2"}))
check(isinstance(renamed, Job) and renamed.name == "generated v2", f"rename answered {renamed!r}")
check(renamed.tags.additional_properties == {"team": "clients"}, f"tags {renamed.tags!r}")
page = list_jobs.sync(client=client, filter_="tags.team = 'clients' and name ilike 'generated%'",
                      order_by="metrics.balanced_accuracy")
check(isinstance(page, JobPage) and [j.id for j in page.items] == [job.id], f"list answered {page!r}")
other = create_job.sync(client=client, body=JobSpec.from_dict({**spec.to_dict(), "seed": 2}))
check(isinstance(other, Job), f"second job answered {other!r}")
compared = compare_jobs.sync(client=client, jobs=f"{job.id},{other.id}")
check(isinstance(compared, Comparison), f"compare answered {compared!r}")
check([d.field for d in compared.differences] == ["seed"], f"differences {compared.differences!r}")
oof = get_out_of_fold_predictions.sync(job.id, client=client)
check(len(oof.items) == 60 and all(i.variant == 0 for i in oof.items), f"{len(oof.items)} predictions")
print("generated client flow: ok")
