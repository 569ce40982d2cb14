-- What a job's runs add up to, computed once when the job settles: the pooled out-of-fold
-- scores, the test set's, a comparison's leaderboard and a final model's epochs (the summary
-- stays in summary_json). NULL for jobs settled before, whose metrics are computed on read.
ALTER TABLE jobs ADD COLUMN results_json TEXT;
