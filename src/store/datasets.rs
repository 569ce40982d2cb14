//! `datasets` and `dataset_columns`: dataset summaries and their column values.

use anyhow::Context;
use sqlx::{Row, SqlitePool};

use super::idempotency;
use crate::domain::dataset::{
    Column, ColumnData, ColumnInfo, DatasetSummary, MISSING_CODE, ParsedDataset, SequenceValues,
};

/// The idempotency scope of `POST /v1/datasets`.
pub const IDEMPOTENCY_SCOPE: &str = "datasets";

/// What an insert did.
#[derive(Debug)]
pub enum Inserted {
    /// Stored as a new dataset.
    Created(Box<DatasetSummary>),
    /// The idempotency key was already used, by this request hash, for this dataset.
    KeyUsed(idempotency::UsedKey),
}

/// An idempotency key with the hash of the request it came with.
#[derive(Debug, Clone)]
pub struct KeyedRequest<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// Stores a parsed dataset (summary, then each column) in one transaction, with its
/// idempotency key if any; a key another request already took is reported, not an error.
pub async fn insert_dataset(
    pool: &SqlitePool,
    summary: DatasetSummary,
    parsed: &ParsedDataset,
    keyed: Option<KeyedRequest<'_>>,
) -> anyhow::Result<Inserted> {
    super::health::noted(pool, async move {
        let mut tx = super::write_tx(pool)
            .await
            .context("starting the dataset insert")?;
        if let Some(k) = &keyed {
            let recorded = idempotency::record_key(
                &mut tx,
                IDEMPOTENCY_SCOPE,
                k.key,
                k.request_hash,
                &summary.id,
                &summary.created_at,
            )
            .await;
            match recorded {
                Ok(()) => {}
                Err(e) if super::is_unique_violation(&e) => {
                    tx.rollback().await.ok();
                    let used = idempotency::find_key(pool, IDEMPOTENCY_SCOPE, k.key)
                        .await?
                        .context("an idempotency key vanished after a conflict")?;
                    return Ok(Inserted::KeyUsed(used));
                }
                Err(e) => return Err(e).context("recording the idempotency key"),
            }
        }
        let summary_json = serde_json::to_string(&summary)?;
        sqlx::query(
            "INSERT INTO datasets (id, name, label, rows, sha256, bytes, created_at, summary_json)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&summary.id)
        .bind(&summary.name)
        .bind(&summary.label)
        .bind(summary.rows as i64)
        .bind(&summary.sha256)
        .bind(summary.bytes as i64)
        .bind(&summary.created_at)
        .bind(summary_json)
        .execute(&mut *tx)
        .await
        .context("inserting the dataset")?;
        for (position, column) in parsed.columns.iter().enumerate() {
            let (storage, categories, data) = encode_column(&column.data);
            sqlx::query(
                "INSERT INTO dataset_columns (dataset_id, position, name, storage, categories_json, data)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&summary.id)
            .bind(position as i64)
            .bind(&column.info.name)
            .bind(storage)
            .bind(categories)
            .bind(data)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("inserting column {position} of {}", summary.id))?;
        }
        if let Some(seq) = &parsed.sequences {
            let lengths: Vec<u8> = seq.lengths.iter().flat_map(|n| n.to_le_bytes()).collect();
            let data: Vec<u8> = seq.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            sqlx::query(
                "INSERT INTO dataset_sequences (dataset_id, channels, lengths, data) VALUES (?, ?, ?, ?)",
            )
            .bind(&summary.id)
            .bind(seq.channels as i64)
            .bind(lengths)
            .bind(data)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("inserting the sequences of {}", summary.id))?;
        }
        tx.commit().await.context("committing the dataset")?;
        Ok(Inserted::Created(Box::new(summary)))
    })
    .await
}

/// A sequence dataset's values, if `id` is one.
pub async fn load_sequences(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<SequenceValues>> {
    let row: Option<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT channels, lengths, data FROM dataset_sequences WHERE dataset_id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((channels, lengths, data)) = row else {
        return Ok(None);
    };
    let word = |c: &[u8]| <[u8; 4]>::try_from(c).expect("chunks of 4");
    Ok(Some(SequenceValues {
        channels: channels as usize,
        lengths: lengths
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(word(c)))
            .collect(),
        values: data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(word(c)))
            .collect(),
    }))
}

/// One dataset's summary.
pub async fn get_dataset(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<DatasetSummary>> {
    let json: Option<String> = sqlx::query_scalar("SELECT summary_json FROM datasets WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    json.map(|j| serde_json::from_str(&j).context("decoding a stored dataset summary"))
        .transpose()
}

/// A page of datasets, newest first: the summaries and the cursor of the next page.
pub async fn list_datasets(
    pool: &SqlitePool,
    limit: u32,
    before_seq: Option<i64>,
) -> anyhow::Result<(Vec<DatasetSummary>, Option<i64>)> {
    let rows = sqlx::query(
        "SELECT seq, summary_json FROM datasets WHERE seq < ? ORDER BY seq DESC LIMIT ?",
    )
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut next = None;
    for (i, row) in rows.iter().enumerate() {
        if i == limit as usize {
            break;
        }
        let json: String = row.get("summary_json");
        items.push(serde_json::from_str(&json).context("decoding a stored dataset summary")?);
        if i + 1 == limit as usize && rows.len() > limit as usize {
            next = Some(row.get::<i64, _>("seq"));
        }
    }
    Ok((items, next))
}

/// What deleting a dataset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// Queued, running or cancelling jobs use it (how many): nothing was deleted.
    InUse(i64),
}

/// Deletes a dataset, its columns and the idempotency keys that created it, unless an
/// unfinished job uses it. The check and the delete share one write transaction, and job creation checks the dataset inside its own, so neither
/// can slip between the other's check and write.
pub async fn delete_dataset(pool: &SqlitePool, id: &str) -> anyhow::Result<Deleted> {
    let mut tx = super::write_tx(pool).await?;
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running', 'cancelling')
         AND (dataset_id = ?1 OR json_extract(spec_json, '$.pretrain.dataset_id') = ?1
              OR json_extract(spec_json, '$.validation.test_dataset_id') = ?1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if active > 0 {
        tx.rollback().await?;
        return Ok(Deleted::InUse(active));
    }
    let deleted = sqlx::query("DELETE FROM datasets WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    idempotency::forget_resource(&mut tx, id).await?;
    tx.commit().await?;
    Ok(if deleted > 0 {
        Deleted::Deleted
    } else {
        Deleted::NotFound
    })
}

/// A dataset's columns with their values, in upload order, as training loads them.
pub async fn load_columns(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<Vec<Column>>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT position, storage, categories_json, data FROM dataset_columns
         WHERE dataset_id = ? ORDER BY position",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(
        rows.len() == summary.columns.len(),
        "dataset {id} has {} stored columns but its summary lists {}",
        rows.len(),
        summary.columns.len()
    );
    rows.iter()
        .zip(summary.columns)
        .map(|(row, info)| decode_column(row, info))
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

/// Only the label column's class codes and the number of classes (what a fold assignment
/// needs), without reading the feature columns.
pub async fn load_labels(pool: &SqlitePool, id: &str) -> anyhow::Result<Option<(Vec<u32>, usize)>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let position = summary
        .columns
        .iter()
        .position(|c| c.role == crate::domain::dataset::ColumnRole::Label)
        .context("a dataset without a label column")?;
    match column_at(pool, id, position, summary.columns[position].clone())
        .await?
        .data
    {
        ColumnData::Categorical { codes, categories } => Ok(Some((codes, categories.len()))),
        ColumnData::Numeric(_) => {
            anyhow::bail!("the label column of {id} is not stored as classes")
        }
    }
}

/// One column by name (`None`: no such dataset or column).
pub async fn load_column(
    pool: &SqlitePool,
    id: &str,
    name: &str,
) -> anyhow::Result<Option<Column>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let Some(position) = summary.columns.iter().position(|c| c.name == name) else {
        return Ok(None);
    };
    let info = summary.columns[position].clone();
    Ok(Some(column_at(pool, id, position, info).await?))
}

/// One numeric column's values by name (`None`: no such dataset or column, or not numeric).
pub async fn load_numeric_column(
    pool: &SqlitePool,
    id: &str,
    name: &str,
) -> anyhow::Result<Option<Vec<f32>>> {
    Ok(match load_column(pool, id, name).await?.map(|c| c.data) {
        Some(ColumnData::Numeric(v)) => Some(v),
        _ => None,
    })
}

/// The column at `position` of dataset `id`, decoded (`info` its schema).
async fn column_at(
    pool: &SqlitePool,
    id: &str,
    position: usize,
    info: ColumnInfo,
) -> anyhow::Result<Column> {
    let row = sqlx::query(
        "SELECT position, storage, categories_json, data FROM dataset_columns
         WHERE dataset_id = ? AND position = ?",
    )
    .bind(id)
    .bind(position as i64)
    .fetch_one(pool)
    .await?;
    decode_column(&row, info)
}

fn encode_column(data: &ColumnData) -> (&'static str, Option<String>, Vec<u8>) {
    match data {
        ColumnData::Numeric(values) => {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            ("f32", None, bytes)
        }
        ColumnData::Categorical { codes, categories } => {
            let bytes = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
            let cats = serde_json::to_string(categories).expect("strings always serialize");
            ("codes", Some(cats), bytes)
        }
    }
}

fn decode_column(row: &sqlx::sqlite::SqliteRow, info: ColumnInfo) -> anyhow::Result<Column> {
    let storage: String = row.get("storage");
    let data: Vec<u8> = row.get("data");
    anyhow::ensure!(
        data.len().is_multiple_of(4),
        "column {:?} has a torn blob",
        info.name
    );
    let words = data.chunks_exact(4).map(|w| [w[0], w[1], w[2], w[3]]);
    let data = match storage.as_str() {
        "f32" => ColumnData::Numeric(words.map(f32::from_le_bytes).collect()),
        "codes" => {
            let categories: Vec<String> = serde_json::from_str(
                &row.get::<Option<String>, _>("categories_json")
                    .context("a categorical column without categories")?,
            )?;
            let codes: Vec<u32> = words.map(u32::from_le_bytes).collect();
            anyhow::ensure!(
                codes
                    .iter()
                    .all(|&c| c == MISSING_CODE || (c as usize) < categories.len()),
                "column {:?} has a code outside its categories",
                info.name
            );
            ColumnData::Categorical { codes, categories }
        }
        other => anyhow::bail!("unknown column storage {other:?}"),
    };
    Ok(Column { info, data })
}
