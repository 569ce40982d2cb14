-- Model weights and held-out predictions are float arrays that pglz cannot shrink: stored out of
-- line without trying (EXTERNAL), a run's completion costs the server a sixth of the time
-- (60 completions with their checkpoints and held-out sets: 120 ms with the default, 20 ms
-- without, and the same bytes on disk). New values only; older rows keep their storage.
ALTER TABLE runs ALTER COLUMN checkpoint SET STORAGE EXTERNAL,
                 ALTER COLUMN heldout SET STORAGE EXTERNAL;
ALTER TABLE run_members ALTER COLUMN weights SET STORAGE EXTERNAL;
