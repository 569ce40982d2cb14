#!/usr/bin/env bash
# Trains three fixed jobs on a fresh server and prints their metrics with volatile fields (ids,
# times) removed, one JSON document per job, so two builds can be compared to the last digit:
#   scripts/snapshot-metrics.sh target/release/crossfold > before.json   (then after.json; diff)
set -euo pipefail
BIN=${1:-target/release/crossfold}
DATA=${DATA:-../shared/data}
DIR=$(mktemp -d)
PORT=${PORT:-18187}
"$BIN" --addr 127.0.0.1:$PORT --database "sqlite://$DIR/db.sqlite" --allow-unauthenticated >"$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
URL=http://127.0.0.1:$PORT
until curl -sf $URL/readyz >/dev/null; do sleep 0.2; done

upload() { curl -sf -X POST "$URL/v1/datasets?name=$1&label=label" -H 'Content-Type: text/csv' \
  --data-binary @"$DATA/$1.csv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
submit() { curl -sf -X POST $URL/v1/jobs -H 'Content-Type: application/json' -d "$1" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
wait_for() {
  while :; do
    s=$(curl -sf $URL/v1/jobs/$1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    case $s in succeeded) return ;; failed|cancelled) echo "job $1 $s" >&2; exit 1 ;; esac
    sleep 0.5
  done
}
clean() {
  curl -sf $URL/v1/jobs/$1/metrics | python3 -c '
import json, sys
VOLATILE = {"id", "job_id", "run_id", "dataset_id", "created_at", "started_at", "finished_at",
            "updated_at", "duration_seconds", "seconds", "wall_seconds", "elapsed_seconds"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
print(json.dumps({"case": sys.argv[1], "metrics": strip(json.load(sys.stdin))}, sort_keys=True))
' "$2"
}

CARAVAN=$(upload caravan); BREAST=$(upload breast_cancer); DIGITS=$(upload digits)

J1=$(submit '{"dataset_id": "'$CARAVAN'", "imbalance": {"strategy": ["none", "class_weight", "smote", "easy_ensemble"]}, "training": {"epochs": 20}, "seed": 0}')
J2=$(submit '{"dataset_id": "'$BREAST'",
  "model": {"hidden_layers": [32, 32, 32], "activation": "relu", "batch_norm": true, "residual": true, "dropout": 0.1},
  "optimizer": {"kind": "adamw", "learning_rate": 0.003, "weight_decay": 0.01},
  "schedule": {"warmup_epochs": 2, "decay": "cosine", "min_learning_rate": 0.0001},
  "training": {"epochs": 30, "batch_size": 32, "clip_grad_norm": 1.0,
               "early_stopping": {"patience": 4, "validation_fraction": 0.15}},
  "validation": {"folds": 4, "repeats": 2, "test_fraction": 0.2}, "seed": 7}')
J3=$(submit '{"dataset_id": "'$DIGITS'", "imbalance": {"strategy": "oversample", "jitter": 0.1},
  "model": {"hidden_layers": [64]}, "training": {"epochs": 8}, "seed": 3}')
for j in $J1 $J2 $J3; do wait_for $j; done
clean $J1 caravan_four_strategies
clean $J2 breast_cancer_complex
clean $J3 digits_oversample
