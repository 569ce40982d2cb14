-- A run's checkpoint in a table of its own, as in the SQLite schema (which needs it: SQLite
-- rewrites a whole row on any update of it). One SQL text serves both backends.
CREATE TABLE run_checkpoints (
    run_id     TEXT  NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    checkpoint BYTEA NOT NULL
);
-- Weights pglz cannot shrink: out of line without trying (see 0003).
ALTER TABLE run_checkpoints ALTER COLUMN checkpoint SET STORAGE EXTERNAL;
INSERT INTO run_checkpoints (run_id, checkpoint)
    SELECT id, checkpoint FROM runs WHERE checkpoint IS NOT NULL;
ALTER TABLE runs DROP COLUMN checkpoint;
