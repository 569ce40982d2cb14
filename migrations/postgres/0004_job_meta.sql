-- What a user calls a job and finds it by: a name, a description and key/value tags (editable,
-- kept apart from the spec, which never changes), the job's model families between commas
-- (",mlp,gru,") for `family =` filters, and each summary metric's mean for filters and sorts.
ALTER TABLE jobs ADD COLUMN name TEXT,
                 ADD COLUMN description TEXT,
                 ADD COLUMN tags_json TEXT,
                 ADD COLUMN families TEXT;
CREATE INDEX jobs_by_name ON jobs (name);

CREATE TABLE job_tags (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
CREATE INDEX job_tags_by_value ON job_tags (key, value);

CREATE TABLE job_scores (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    mean   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, metric)
);
CREATE INDEX job_scores_by_metric ON job_scores (metric, mean);

UPDATE jobs SET families = CASE jsonb_typeof(spec_json::jsonb -> 'model')
    WHEN 'array' THEN (SELECT ',' || string_agg(m ->> 'kind', ',') || ','
                       FROM jsonb_array_elements(jobs.spec_json::jsonb -> 'model') m)
    ELSE ',' || (spec_json::jsonb -> 'model' ->> 'kind') || ','
END;
INSERT INTO job_scores (job_id, metric, mean)
    SELECT j.id, s.key, (s.value ->> 'mean')::double precision
    FROM jobs j, jsonb_each(j.summary_json::jsonb) s
    WHERE j.summary_json IS NOT NULL AND jsonb_typeof(s.value -> 'mean') = 'number';
