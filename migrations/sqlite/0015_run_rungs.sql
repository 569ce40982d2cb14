-- A search's rungs (asha): the epoch a run's leg pauses at (NULL: trains to its end), whether it
-- waits there for the search's decision ('waiting', not claimable) or was halted by it
-- ('halted': its next leg ends where it stands), and its held-out loss by epoch so far (JSON),
-- what the search ranks trials by.
ALTER TABLE runs ADD COLUMN pause_at INTEGER;
ALTER TABLE runs ADD COLUMN rung TEXT;
ALTER TABLE runs ADD COLUMN holdout_losses TEXT;
CREATE INDEX runs_waiting ON runs (job_id) WHERE rung = 'waiting';
