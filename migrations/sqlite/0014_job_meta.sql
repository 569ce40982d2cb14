-- What a user calls a job and finds it by: a name, a description and key/value tags (editable,
-- kept apart from the spec, which never changes), the job's model families between commas
-- (",mlp,gru,") for `family =` filters, and each summary metric's mean for filters and sorts.
ALTER TABLE jobs ADD COLUMN name TEXT;
ALTER TABLE jobs ADD COLUMN description TEXT;
ALTER TABLE jobs ADD COLUMN tags_json TEXT; -- the tags as the API shows them; job_tags indexes them
ALTER TABLE jobs ADD COLUMN families TEXT;
CREATE INDEX jobs_by_name ON jobs (name);

CREATE TABLE job_tags (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
) STRICT;
CREATE INDEX job_tags_by_value ON job_tags (key, value);

CREATE TABLE job_scores (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    mean   REAL NOT NULL,
    PRIMARY KEY (job_id, metric)
) STRICT;
CREATE INDEX job_scores_by_metric ON job_scores (metric, mean);

UPDATE jobs SET families = CASE json_type(spec_json, '$.model')
    WHEN 'array' THEN (SELECT ',' || group_concat(json_extract(m.value, '$.kind'), ',') || ','
                       FROM json_each(jobs.spec_json, '$.model') m)
    ELSE ',' || json_extract(spec_json, '$.model.kind') || ','
END;
INSERT INTO job_scores (job_id, metric, mean)
    SELECT j.id, s.key, json_extract(s.value, '$.mean')
    FROM jobs j, json_each(j.summary_json) s
    WHERE j.summary_json IS NOT NULL AND json_type(s.value, '$.mean') IN ('real', 'integer');
