-- The epochs of greedy layer-wise pretraining (`pretrain`): each hidden layer's autoencoder
-- numbers its own epochs from 1, so they are keyed (run, layer, epoch) apart from the
-- classifier's `epoch_metrics`. A replayed epoch overwrites, never duplicates.
CREATE TABLE pretrain_epochs (
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    layer       INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    record_json TEXT    NOT NULL,
    PRIMARY KEY (run_id, layer, epoch)
) STRICT;
