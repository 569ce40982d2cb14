-- Artifacts in an object store (`--artifacts`): see migrations/sqlite/0013_artifact_keys.sql.
ALTER TABLE runs ADD COLUMN checkpoint_key TEXT;
ALTER TABLE runs ADD COLUMN heldout_key TEXT;
ALTER TABLE run_members ADD COLUMN weights_key TEXT;
