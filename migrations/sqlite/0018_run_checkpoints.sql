-- A run's checkpoint in a table of its own. SQLite rewrites a whole row, its overflow pages
-- included, on any update of it: with the resume checkpoint (hundreds of kB to MBs) in the
-- runs row, every claim, finding and pause of a run rewrote its checkpoint too, and a halving
-- search, whose trials pause and resume hundreds of times, spent more time writing than
-- training on small sets. (The held-out predictions stay: they are written with the run's end,
-- after which its row hardly changes.)
CREATE TABLE run_checkpoints (
    run_id     TEXT NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    checkpoint BLOB NOT NULL
) STRICT;
INSERT INTO run_checkpoints (run_id, checkpoint)
    SELECT id, checkpoint FROM runs WHERE checkpoint IS NOT NULL;
ALTER TABLE runs DROP COLUMN checkpoint;
