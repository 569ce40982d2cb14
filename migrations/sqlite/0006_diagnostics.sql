-- Model comparisons and diagnostics. A run trains one model variant (index into the spec's
-- `model` list; 0 for a single model). Each run keeps its own findings (rewritten as its
-- epochs change them); the job keeps the merged list the API shows, so reading a job never
-- re-reads epoch histories. A job made by `POST /v1/jobs/{id}/remedy` names its original.
ALTER TABLE runs ADD COLUMN variant INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN findings_json TEXT;
ALTER TABLE jobs ADD COLUMN diagnostics_json TEXT;
ALTER TABLE jobs ADD COLUMN remedy_of TEXT;
ALTER TABLE jobs ADD COLUMN remedy_findings_json TEXT;
CREATE INDEX jobs_by_remedy_of ON jobs (remedy_of);
