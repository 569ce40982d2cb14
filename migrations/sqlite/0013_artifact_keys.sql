-- Artifacts in an object store (`--artifacts`): where a blob lives there, its column is NULL
-- (for run_members, empty: the column is NOT NULL) and the key column names the object. Both
-- NULL: no blob. Without --artifacts the keys stay NULL and the blobs stay here, as before.
ALTER TABLE runs ADD COLUMN checkpoint_key TEXT;
ALTER TABLE runs ADD COLUMN heldout_key TEXT;
ALTER TABLE run_members ADD COLUMN weights_key TEXT;
