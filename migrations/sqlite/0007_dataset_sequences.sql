-- A sequence dataset's values (a `.ts` upload): per sequence its number of steps (u32
-- little-endian), and every step's channel values one after another (f32 little-endian, NaN
-- missing). Its label is stored as a dataset column like a table's, so classes, folds and
-- class counts read the same way for both kinds.
CREATE TABLE dataset_sequences (
    dataset_id TEXT    PRIMARY KEY REFERENCES datasets (id) ON DELETE CASCADE,
    channels   INTEGER NOT NULL,
    lengths    BLOB    NOT NULL,
    data       BLOB    NOT NULL
) STRICT;
