-- Held-out predictions as a compact binary blob (see src/domain/heldout.rs) instead of JSON
-- text: a run of a 1,000-class dataset stored megabytes of JSON numbers that every read had to
-- parse. Runs stored before this keep their predictions_json, which is still read.
ALTER TABLE runs ADD COLUMN heldout BLOB;
