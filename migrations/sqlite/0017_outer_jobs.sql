-- Nested cross-validation: the job that made an outer fold's job (its outer_folds), so the
-- nested job finds its outer jobs and an outer job names its nested job.
ALTER TABLE jobs ADD COLUMN outer_of TEXT;
CREATE INDEX jobs_by_outer_of ON jobs (outer_of) WHERE outer_of IS NOT NULL;
