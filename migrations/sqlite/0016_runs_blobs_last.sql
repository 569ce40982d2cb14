-- no-transaction
-- The runs table rebuilt with its large values last. SQLite keeps a row's values in column
-- order and a long row's tail in a chain of overflow pages, so reading any column stored after
-- a checkpoint walks the checkpoint's whole chain: with columns added at the end over time
-- (strategy, variant, findings, the search's rungs), listing a job's 120 runs read every
-- checkpoint (12 ms for 58 MB of checkpoints, at every run's end). Small columns first, then
-- the JSON texts, then the two blobs. A column added later goes before none of them: add it
-- with a rebuild like this one, or in its own table. (PostgreSQL keeps long values out of line:
-- its schema needs no rebuild.)
-- Foreign keys are off for the rebuild (dropping the old table would otherwise cascade to the
-- epochs, members and pretraining epochs that reference runs by id); one transaction inside.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE runs_rebuilt (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT, -- claim order: oldest first
    id                 TEXT    NOT NULL UNIQUE,
    job_id             TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind               TEXT    NOT NULL CHECK (kind IN ('fold', 'final')),
    fold               INTEGER,
    repeat             INTEGER,
    seed               INTEGER NOT NULL,
    state              TEXT    NOT NULL CHECK (state IN
                         ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt            INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL DEFAULT 3,
    run_at             INTEGER NOT NULL, -- unix ms; not claimable before (retry backoff)
    lease_owner        TEXT,
    lease_token        INTEGER NOT NULL DEFAULT 0,
    lease_expires_at   INTEGER, -- unix ms
    epochs_done        INTEGER NOT NULL DEFAULT 0,
    started_at         TEXT,
    finished_at        TEXT,
    strategy           TEXT,
    variant            INTEGER NOT NULL DEFAULT 0,
    kernels            TEXT,
    resumed_on_kernels TEXT,
    checkpoint_key     TEXT,
    heldout_key        TEXT,
    pause_at           INTEGER,
    rung               TEXT,
    last_error         TEXT,
    holdout_losses     TEXT,
    result_json        TEXT,    -- scores, class counts, best epoch, encoding
    findings_json      TEXT,
    predictions_json   TEXT,    -- held-out predictions of runs stored before 0004
    heldout            BLOB,
    checkpoint         BLOB     -- the last epoch's state (resume), then the final weights
) STRICT;
INSERT INTO runs_rebuilt (seq, id, job_id, kind, fold, repeat, seed, state, attempt,
    max_attempts, run_at, lease_owner, lease_token, lease_expires_at, epochs_done, started_at,
    finished_at, strategy, variant, kernels, resumed_on_kernels, checkpoint_key, heldout_key,
    pause_at, rung, last_error, holdout_losses, result_json, findings_json, predictions_json,
    heldout, checkpoint)
SELECT seq, id, job_id, kind, fold, repeat, seed, state, attempt,
    max_attempts, run_at, lease_owner, lease_token, lease_expires_at, epochs_done, started_at,
    finished_at, strategy, variant, kernels, resumed_on_kernels, checkpoint_key, heldout_key,
    pause_at, rung, last_error, holdout_losses, result_json, findings_json, predictions_json,
    heldout, checkpoint
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_rebuilt RENAME TO runs;
CREATE INDEX runs_claimable ON runs (state, run_at, seq);
CREATE INDEX runs_by_job ON runs (job_id, seq);
CREATE INDEX runs_waiting ON runs (job_id) WHERE rung = 'waiting';
COMMIT;
PRAGMA foreign_keys = ON;
