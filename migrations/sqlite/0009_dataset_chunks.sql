-- A dataset's values in chunks of at most 1 MiB, so storing or loading a column costs a chunk
-- of transient memory, not three copies of the whole column (the driver and SQLite each copy a
-- bound blob). `part` is the column's position, or -1 for a sequence dataset's lengths and -2
-- for its values. Rows stored before this migration keep their values inline (`chunks` 0).
CREATE TABLE dataset_chunks (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    part       INTEGER NOT NULL,
    chunk      INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (dataset_id, part, chunk)
) STRICT;

ALTER TABLE dataset_columns ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dataset_sequences ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
