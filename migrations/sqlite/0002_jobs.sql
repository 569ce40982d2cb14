-- Training jobs and their runs (the claimable unit: one fold of one repeat, or the final
-- model), per-epoch metrics and checkpoints. Every write a running run makes is guarded by its
-- lease_token (fencing), so a worker that lost its lease writes nothing.
CREATE TABLE jobs (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT    NOT NULL UNIQUE,
    dataset_id          TEXT    NOT NULL, -- no FK: a finished job outlives its dataset
    status              TEXT    NOT NULL CHECK (status IN
                          ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
    spec_json           TEXT    NOT NULL, -- the resolved spec, every default filled in
    folds_json          TEXT    NOT NULL, -- the fold of each row, per repeat: the recorded assignment
    error               TEXT,
    summary_json        TEXT,
    created_at          TEXT    NOT NULL,
    started_at          TEXT,
    finished_at         TEXT,
    cancel_requested_at TEXT
) STRICT;
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_dataset ON jobs (dataset_id, status);

CREATE TABLE runs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT, -- claim order: oldest first
    id               TEXT    NOT NULL UNIQUE,
    job_id           TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind             TEXT    NOT NULL CHECK (kind IN ('fold', 'final')),
    fold             INTEGER,
    repeat           INTEGER,
    seed             INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN
                       ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    run_at           INTEGER NOT NULL, -- unix ms; not claimable before (retry backoff)
    lease_owner      TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER, -- unix ms
    last_error       TEXT,
    epochs_done      INTEGER NOT NULL DEFAULT 0,
    checkpoint       BLOB,    -- the last epoch's state (resume), then the final weights
    result_json      TEXT,    -- scores, class counts, best epoch, encoding
    predictions_json TEXT,    -- held-out rows and their probabilities
    started_at       TEXT,
    finished_at      TEXT
) STRICT;
CREATE INDEX runs_claimable ON runs (state, run_at, seq);
CREATE INDEX runs_by_job ON runs (job_id, seq);

-- Keyed (run, epoch): a replayed epoch overwrites, never duplicates.
CREATE TABLE epoch_metrics (
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    record_json TEXT    NOT NULL,
    PRIMARY KEY (run_id, epoch)
) STRICT;
