-- Datasets: the summary as the API returns it, and each column's values as one blob
-- (f32 little-endian with NaN for missing, or u32 dictionary codes with 0xFFFFFFFF for missing),
-- so a worker loads a dataset for training without re-parsing the upload.
CREATE TABLE datasets (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- list order and pagination cursor
    id           TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    rows         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    bytes        INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    summary_json TEXT    NOT NULL
) STRICT;

CREATE TABLE dataset_columns (
    dataset_id      TEXT    NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    storage         TEXT    NOT NULL CHECK (storage IN ('f32', 'codes')),
    categories_json TEXT,
    data            BLOB    NOT NULL,
    PRIMARY KEY (dataset_id, position)
) STRICT;

-- Idempotency-Key of POSTs that create things: the same key and request return the same object.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL, -- the route, e.g. 'datasets'
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL, -- sha256 of what identifies the request (body and parameters)
    resource_id  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;
