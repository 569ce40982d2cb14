//! A run's epoch rows as one write puts them: the classifier's epochs and pretraining's, in
//! statements of many rows.

use crate::engine::train::{EpochRecord, Phase};

/// The last of `records`' training epochs: pretraining epochs are numbered per layer, so they
/// never count as the run's epochs.
pub(super) fn last_train_epoch(records: &[EpochRecord]) -> Option<i64> {
    records
        .iter()
        .filter(|r| r.phase == Phase::Train)
        .map(|r| r.epoch as i64)
        .max()
}

/// The most rows one INSERT carries (3 or 4 parameters each, well within both backends' limits).
const ROWS_PER_INSERT: usize = 500;

/// Writes `records` (a replayed epoch overwrites) in one statement per table and 500 rows: a
/// statement per epoch made a run's write a round trip per epoch. A key that appears twice keeps
/// its last record, as one upsert after another would (PostgreSQL refuses a row twice in one).
pub(super) async fn insert_epochs(
    tx: &mut super::WriteTx,
    run_id: &str,
    records: &[EpochRecord],
) -> anyhow::Result<()> {
    let mut train = std::collections::BTreeMap::new();
    let mut pretrain = std::collections::BTreeMap::new();
    for record in records {
        let json = serde_json::to_string(record)?;
        match (record.phase, record.layer) {
            (Phase::Pretrain, Some(layer)) => {
                pretrain.insert((layer as i64, record.epoch as i64), json)
            }
            _ => train.insert(record.epoch as i64, json),
        };
    }
    let train: Vec<_> = train.into_iter().collect();
    for chunk in train.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<super::Db>::new(
            "INSERT INTO epoch_metrics (run_id, epoch, record_json) ",
        );
        insert.push_values(chunk, |mut row, (epoch, json)| {
            row.push_bind(run_id)
                .push_bind(*epoch)
                .push_bind(json.as_str());
        });
        insert
            .push(" ON CONFLICT (run_id, epoch) DO UPDATE SET record_json = excluded.record_json");
        insert.build().execute(&mut **tx).await?;
    }
    let pretrain: Vec<_> = pretrain.into_iter().collect();
    for chunk in pretrain.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<super::Db>::new(
            "INSERT INTO pretrain_epochs (run_id, layer, epoch, record_json) ",
        );
        insert.push_values(chunk, |mut row, ((layer, epoch), json)| {
            row.push_bind(run_id)
                .push_bind(*layer)
                .push_bind(*epoch)
                .push_bind(json.as_str());
        });
        insert.push(
            " ON CONFLICT (run_id, layer, epoch) DO UPDATE SET record_json = excluded.record_json",
        );
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}
