"""Every operation of openapi.yaml through a client generated from it by openapi-python-client.

Uploads in every format (CSV, JSON columns and records, NDJSON, .ts), a named and tagged job,
its metrics, runs, history, checkpoint, events (the job's and the list's), diagnostics and a remedy, predict with JSON,
CSV, sequences and .ts bodies, renaming, the filtered list, a comparison, out-of-fold
predictions, every plot drawn and as typed data, cancelling, deleting, and the service
endpoints. Each answer must be the type the schema gives. At the end, every operation the
generator wrote must have been called: a new operation without a step here fails.

Usage: generated_client_flow.py <dir holding crossfold_client> <base url> <token> <fixtures dir>
Exits non-zero (with the reason) if any step fails or answers something the schema does not say.
"""

import importlib
import io
import json
import pkgutil
import sys
import time
from pathlib import Path

sys.path.insert(0, sys.argv[1])
base_url, token, fixtures = sys.argv[2], sys.argv[3], Path(sys.argv[4])

import crossfold_client.api as api_package  # noqa: E402
from crossfold_client import AuthenticatedClient, Client  # noqa: E402
from crossfold_client.api.datasets import (  # noqa: E402
    create_dataset, delete_dataset, get_dataset, list_datasets)
from crossfold_client.api.jobs import (  # noqa: E402
    cancel_job, compare_jobs, create_job, follow_job, follow_jobs, get_diagnostics, get_job,
    get_job_metrics, get_job_model_onnx, get_out_of_fold_predictions, list_jobs, list_runs, predict, remedy_job,
    update_job)
from crossfold_client.api.plots import (  # noqa: E402
    get_attention, get_attention_data, get_calibration, get_calibration_data, get_confusion,
    get_confusion_data, get_gradients, get_gradients_data, get_leaderboard_plot,
    get_leaderboard_plot_data, get_learning_curves, get_learning_curves_data,
    get_learning_rate_range, get_learning_rate_range_data, get_precision_recall,
    get_precision_recall_data, get_roc, get_roc_data)
from crossfold_client.api.runs import (  # noqa: E402
    get_run_checkpoint, get_run_history, get_run_model_onnx)
from crossfold_client.api.service import get_limits, healthz, metrics, readyz  # noqa: E402
from crossfold_client.api.ui import dashboard, dashboard_script, dashboard_style  # noqa: E402
from crossfold_client.models import (  # noqa: E402
    Comparison, CreateDatasetFormat, FollowJobsUntil, CreateDatasetJsonBodyType0, CreateDatasetJsonBodyType1,
    Dataset, DatasetPage, Diagnostics, DryRun, Figure, Job, JobMetaPatch, JobMetrics, JobPage, JobSpec,
    Limits, ListRunsResponse200, ModelSpec, PredictFormat, PredictRows, PredictSequences,
    PredictResponse200, RemedyJobBody, Status)
from crossfold_client.types import File  # noqa: E402

called = set()


def check(cond, what):
    if not cond:
        sys.exit(f"generated client flow failed: {what[:2000]}")


def call(module, *args, **kwargs):
    """`module.sync`, remembered as called; the client is the authenticated one."""
    called.add(module.__name__)
    kwargs.setdefault("client", client)
    return module.sync(*args, **kwargs)


def raw(data):
    return File(payload=io.BytesIO(data))


client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
open_client = Client(base_url=base_url, raise_on_unexpected_status=True)


def upload(body, what, **params):
    ds = call(create_dataset, body=body, **params)
    check(isinstance(ds, Dataset), f"{what} upload answered {ds!r}")
    return ds


def finished(job_id, seconds=120):
    deadline = time.time() + seconds
    while True:
        job = call(get_job, job_id)
        check(isinstance(job, Job), f"get job answered {job!r}")
        if job.status.value in ("succeeded", "failed", "cancelled"):
            return job
        check(time.time() < deadline, f"job {job_id} did not finish in {seconds} s")
        time.sleep(0.05)


def submit(spec):
    job = call(create_job, body=JobSpec.from_dict(spec))
    check(isinstance(job, Job), f"job answered {job!r}")
    return job


# The service.
check(isinstance(call(healthz, client=open_client), Status), "healthz")
check(isinstance(call(readyz, client=open_client), Status), "readyz")
check("crossfold_" in call(metrics), "metrics without crossfold_ series")
check(isinstance(call(get_limits), Limits), "limits")
check("<html" in call(dashboard, client=open_client).lower(), "dashboard page")
check("function" in call(dashboard_script, client=open_client), "dashboard script")
check("{" in call(dashboard_style, client=open_client), "dashboard style")

# Uploads in every format: the same 60 rows as JSON columns, JSON records and NDJSON.
rows = [[float(i % 7), "red" if i % 3 else "blue", str(i % 2)] for i in range(60)]
records = [dict(zip(["x", "color", "y"], r)) for r in rows]
as_columns = upload(CreateDatasetJsonBodyType0.from_dict({"columns": ["x", "color", "y"],
                                                          "rows": rows}),
                    "JSON columns", label="y", name="generated")
as_records = upload(CreateDatasetJsonBodyType1.from_dict({"records": records}),
                    "JSON records", label="y", name="records")
ndjson = "\n".join(json.dumps(r) for r in records).encode()
as_lines = upload(raw(ndjson), "NDJSON", label="y", format_=CreateDatasetFormat.NDJSON)
check(as_columns.rows == as_records.rows == as_lines.rows == 60, "the uploads differ in rows")
check([c.to_dict() for c in as_records.columns] == [c.to_dict() for c in as_columns.columns],
      f"records read as {as_records.columns!r}")
cancer = upload(raw((fixtures / "breast_cancer.csv").read_bytes()), "CSV",
                format_=CreateDatasetFormat.CSV, name="breast cancer")
check(cancer.rows == 569, f"{cancer.rows} rows of breast cancer")
ts_lines = ["@problemName wave", "@univariate true", "@classLabel true up down", "@data"]
for i in range(40):
    up = i % 2 == 0
    steps = [((s if up else 11 - s) + (i % 5) * 0.1) / 10 for s in range(12)]
    ts_lines.append(",".join(f"{v:.2f}" for v in steps) + (":up" if up else ":down"))
ts = "\n".join(ts_lines).encode()
waves = upload(raw(ts), ".ts", format_=CreateDatasetFormat.TS, name="waves")
check(waves.kind.value == "sequence", f"the .ts upload is {waves.kind}")

page = call(list_datasets, limit=100)
check(isinstance(page, DatasetPage) and len(page.items) == 5, f"datasets {page!r}")
check(call(get_dataset, cancer.id).name == "breast cancer", "get dataset")
called.add(delete_dataset.__name__)
deleted = delete_dataset.sync_detailed(as_lines.id, client=client)
check(deleted.status_code == 204, f"delete answered {deleted.status_code}")
check(len(call(list_datasets).items) == 4, "the NDJSON dataset was not deleted")

# A named, tagged table job with a final model.
spec = {
    "dataset_id": as_columns.id,
    "name": "generated baseline",
    "tags": {"team": "clients"},
    "model": {"hidden_layers": [8]},
    "optimizer": {"kind": "adam", "learning_rate": 0.01},
    "training": {"epochs": 3},
    "validation": {"folds": 2},
    "seed": 1,
}
job = finished(submit(spec).id)
check(job.status.value == "succeeded", f"job ended {job.status.value}: {job.error}")
stream = call(follow_job, job.id)
check("event: status" in stream and "succeeded" in stream, f"events: {stream[:300]!r}")

job_metrics = call(get_job_metrics, job.id)
check(isinstance(job_metrics, JobMetrics) and len(job_metrics.folds) == 2, f"{job_metrics!r}")
runs = call(list_runs, job.id)
check(isinstance(runs, ListRunsResponse200) and len(runs.items) == 3, f"runs {runs!r}")
fold_run = next(r for r in runs.items if r.kind.value == "fold")
history = call(get_run_history, fold_run.id)
check(isinstance(history, list) and history[0].epoch == 1, f"history {history!r}")
called.add(get_run_checkpoint.__name__)
ck = get_run_checkpoint.sync_detailed(fold_run.id, client=client)
check(ck.status_code == 200 and len(ck.content) > 100, f"checkpoint answered {ck.status_code}")
for op, of in [(get_run_model_onnx, fold_run.id), (get_job_model_onnx, job.id)]:
    called.add(op.__name__)
    exported = op.sync_detailed(of, client=client)
    check(exported.status_code == 200 and len(exported.content) > 100,
          f"{op.__name__} answered {exported.status_code}")
diagnostics = call(get_diagnostics, job.id)
check(isinstance(diagnostics, Diagnostics), f"diagnostics {diagnostics!r}")

out = call(predict, job.id, body=PredictRows.from_dict({"rows": [{"x": 3.0, "color": "red"},
                                                                 {"x": 1.0}]}))
check(isinstance(out, PredictResponse200) and len(out.predictions) == 2, f"predict {out!r}")
total = sum(out.predictions[0].probabilities.additional_properties.values())
check(abs(total - 1.0) < 1e-6, f"probabilities sum to {total}")
check(out.imputed.additional_properties == {"color": 1}, f"imputed {out.imputed!r}")
csv_out = call(predict, job.id, body=raw(b"x,color\n3,red\n1,blue\n"), format_=PredictFormat.CSV)
check(isinstance(csv_out, PredictResponse200) and len(csv_out.predictions) == 2,
      f"CSV predict {csv_out!r}")
check(csv_out.predictions[0].to_dict() == out.predictions[0].to_dict(),
      "the same row predicts differently as CSV and as JSON")

renamed = call(update_job, job.id, body=JobMetaPatch.from_dict({"name": "generated v2"}))
check(isinstance(renamed, Job) and renamed.name == "generated v2", f"rename {renamed!r}")
check(renamed.tags.additional_properties == {"team": "clients"}, f"tags {renamed.tags!r}")
found = call(list_jobs, filter_="tags.team = 'clients' and name ilike 'generated%'",
             order_by="metrics.balanced_accuracy")
check(isinstance(found, JobPage) and [j.id for j in found.items] == [job.id], f"list {found!r}")
other = finished(submit({**spec, "seed": 2}).id)
compared = call(compare_jobs, jobs=f"{job.id},{other.id}")
check(isinstance(compared, Comparison), f"compare answered {compared!r}")
check([d.field for d in compared.differences] == ["seed"], f"differences {compared.differences!r}")
listed = call(follow_jobs, filter_="tags.team = 'clients'", until=FollowJobsUntil.SETTLED)
check(listed.startswith("event: page") and job.id in listed and other.id in listed,
      f"the list's events: {listed[:300]!r}")
oof = call(get_out_of_fold_predictions, job.id)
check(len(oof.items) == 60 and all(i.variant == 0 for i in oof.items), f"{len(oof.items)} oof")

# A model comparison: the leaderboard names each variant's model, typed.
board = finished(submit({**spec, "model": [{"hidden_layers": [8]}, {"hidden_layers": [4, 4]}],
                         "final_model": False}).id)
standings = call(get_job_metrics, board.id).leaderboard
check(len(standings) == 2 and all(isinstance(s.model, ModelSpec) for s in standings),
      f"leaderboard {standings!r}")
check(sorted(s.model.hidden_layers for s in standings) == [[4, 4], [8]], f"{standings!r}")

# A search, dry run: its trials drawn, typed.
dry = call(create_job, body=JobSpec.from_dict({**spec, "search": {
    "method": "grid", "space": {"model.hidden_layers": {"choice": [[4], [8, 4]]}}}}), dry_run=True)
check(isinstance(dry, DryRun) and len(dry.spec.search.sampled) == 2, f"search dry run {dry!r}")

# Every table plot, drawn and as typed data.
table_plots = [(get_learning_curves, get_learning_curves_data), (get_gradients, get_gradients_data),
               (get_confusion, get_confusion_data), (get_roc, get_roc_data),
               (get_precision_recall, get_precision_recall_data),
               (get_leaderboard_plot, get_leaderboard_plot_data),
               (get_calibration, get_calibration_data)]
for drawn, data in table_plots:
    svg = call(drawn, board.id)
    check(isinstance(svg, File) and b"<svg" in svg.payload.read(), f"{drawn.__name__} drew no SVG")
    figure = call(data, board.id)
    check(isinstance(figure, Figure) and figure.title, f"{data.__name__} answered {figure!r}")

# learning_rate "auto": each run's range test, drawn and as typed data, its rate on each run.
auto_job = finished(submit({**spec, "name": "auto rate", "final_model": False,
                            "optimizer": {"kind": "sgd", "learning_rate": "auto"}}).id)
check(auto_job.status.value == "succeeded", f"auto-rate job {auto_job.status.value}: {auto_job.error}")
check(b"<svg" in call(get_learning_rate_range, auto_job.id).payload.read(), "lr_range drew no SVG")
check(isinstance(call(get_learning_rate_range_data, auto_job.id), Figure), "lr_range data")
check(all(r.learning_rate > 0 for r in call(list_runs, auto_job.id).items), "each run's chosen rate")

# A sequence job (a GRU with attention) on the .ts upload: predict JSON and .ts, attention.
waves_job = finished(submit({"dataset_id": waves.id, "seed": 3,
                             "model": {"kind": "gru", "hidden_size": 8, "attention": "additive"},
                             "training": {"epochs": 3}, "validation": {"folds": 2}}).id)
check(waves_job.status.value == "succeeded", f"GRU job {waves_job.status.value}: {waves_job.error}")
seqs = call(predict, waves_job.id, body=PredictSequences.from_dict(
    {"sequences": [[s / 10 for s in range(12)], [(11 - s) / 10 for s in range(12)]]}))
check(len(seqs.predictions) == 2, f"sequence predict {seqs!r}")
by_ts = call(predict, waves_job.id, body=raw(ts), format_=PredictFormat.TS)
check(len(by_ts.predictions) == 40 and by_ts.accuracy is not None, f".ts predict {by_ts!r}")
check(b"<svg" in call(get_attention, waves_job.id).payload.read(), "attention drew no SVG")
check(isinstance(call(get_attention_data, waves_job.id), Figure), "attention data")

# Vanishing gradients on breast cancer, remedied by a linked job.
deep = finished(submit({"dataset_id": cancer.id, "seed": 1, "final_model": False,
                        "model": {"hidden_layers": [32] * 10, "activation": "sigmoid",
                                  "init": "xavier"},
                        "optimizer": {"kind": "sgd", "learning_rate": 0.01},
                        "training": {"epochs": 4, "early_stopping": None},
                        "validation": {"folds": 2}}).id)
vanishing = [f.id for f in deep.diagnostics if f.kind.value == "vanishing_gradients"]
check(len(vanishing) == 1, f"findings {deep.diagnostics!r}")
remedied = call(remedy_job, deep.id, body=RemedyJobBody.from_dict({"finding": vanishing[0]}))
check(isinstance(remedied, Job) and remedied.remedy_of == deep.id, f"remedy answered {remedied!r}")

# Cancelling a long job.
long = submit({**spec, "training": {"epochs": 500, "early_stopping": None}})
cancelled = call(cancel_job, long.id)
check(isinstance(cancelled, Job), f"cancel answered {cancelled!r}")
check(finished(long.id).status.value == "cancelled", "the long job was not cancelled")

generated = {f"{api_package.__name__}.{group.name}.{op.name}"
             for group in pkgutil.iter_modules(api_package.__path__)
             for op in pkgutil.iter_modules(
                 importlib.import_module(f"{api_package.__name__}.{group.name}").__path__)}
missing = sorted(generated - called)
check(not missing, f"operations the flow never called: {missing}")
print(f"generated client flow: ok, {len(called)} operations")
