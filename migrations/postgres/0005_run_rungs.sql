-- A search's rungs (asha): see migrations/sqlite/0015_run_rungs.sql.
ALTER TABLE runs ADD COLUMN pause_at BIGINT,
                 ADD COLUMN rung TEXT,
                 ADD COLUMN holdout_losses TEXT;
CREATE INDEX runs_waiting ON runs (job_id) WHERE rung = 'waiting';
