-- Which datasets a job reads: its own, and the pretraining and test datasets its spec names.
-- Submit records them in the job's transaction, checking each still exists; deleting a
-- dataset checks this table, so the two cannot both succeed.
CREATE TABLE job_datasets (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('train', 'pretrain', 'test')),
    dataset_id TEXT NOT NULL,
    PRIMARY KEY (job_id, role)
) STRICT;
CREATE INDEX job_datasets_by_dataset ON job_datasets (dataset_id);

INSERT INTO job_datasets (job_id, role, dataset_id)
    SELECT id, 'train', dataset_id FROM jobs;
INSERT INTO job_datasets (job_id, role, dataset_id)
    SELECT id, 'pretrain', json_extract(spec_json, '$.pretrain.dataset_id') FROM jobs
    WHERE json_extract(spec_json, '$.pretrain.dataset_id') IS NOT NULL;
INSERT INTO job_datasets (job_id, role, dataset_id)
    SELECT id, 'test', json_extract(spec_json, '$.validation.test_dataset_id') FROM jobs
    WHERE json_extract(spec_json, '$.validation.test_dataset_id') IS NOT NULL;

-- The job's class names in training order, resolved at submit (the label's classes), so
-- predictions and plots keep them after the dataset is deleted. NULL for jobs stored before.
ALTER TABLE jobs ADD COLUMN classes_json TEXT;
