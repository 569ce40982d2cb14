use anyhow::Context;
use sqlx::Row;

use super::Pool;
use crate::store::datasets::{Deleted, IDEMPOTENCY_SCOPE, Inserted, KeyedRequest};

/// What a column or sequence row holds inline once its values are in chunks.
const EMPTY: &[u8] = &[];
use super::dataset_values::{
    LENGTHS, VALUES, column_at, decode_column, encode_column, insert_chunks, le_bytes,
};
use super::idempotency;
use crate::domain::dataset::{Column, ColumnData, DatasetSummary, ParsedDataset};

/// Stores a parsed dataset (summary, then each column) in one transaction, with its
/// idempotency key if any; a key another request already took is reported, not an error.
pub async fn insert_dataset(
    pool: &Pool,
    summary: DatasetSummary,
    parsed: &ParsedDataset,
    keyed: Option<KeyedRequest<'_>>,
) -> anyhow::Result<Inserted> {
    super::noted(pool, async move {
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
                Err(e) if crate::store::is_unique_violation(&e) => {
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
            let chunks = insert_chunks(&mut tx, &summary.id, position as i64, &data)
                .await
                .with_context(|| format!("inserting column {position} of {}", summary.id))?;
            sqlx::query(
                "INSERT INTO dataset_columns (dataset_id, position, name, storage, categories_json, data, chunks)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&summary.id)
            .bind(position as i64)
            .bind(&column.info.name)
            .bind(storage)
            .bind(categories)
            .bind(EMPTY)
            .bind(chunks)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("inserting column {position} of {}", summary.id))?;
        }
        if let Some(seq) = &parsed.sequences {
            let lengths = insert_chunks(&mut tx, &summary.id, LENGTHS, &le_bytes(&seq.lengths))
                .await
                .with_context(|| format!("inserting the sequence lengths of {}", summary.id))?;
            insert_chunks(&mut tx, &summary.id, VALUES, &le_bytes(&seq.values))
                .await
                .with_context(|| format!("inserting the sequences of {}", summary.id))?;
            sqlx::query(
                "INSERT INTO dataset_sequences (dataset_id, channels, lengths, data, chunks)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(&summary.id)
            .bind(seq.channels as i64)
            .bind(EMPTY)
            .bind(lengths)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("inserting the sequences of {}", summary.id))?;
        }
        tx.commit().await.context("committing the dataset")?;
        Ok(Inserted::Created(Box::new(summary)))
    })
    .await
}

/// One dataset's summary.
pub async fn get_dataset(pool: &Pool, id: &str) -> anyhow::Result<Option<DatasetSummary>> {
    let json: Option<String> =
        sqlx::query_scalar("SELECT summary_json FROM datasets WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    json.map(|j| serde_json::from_str(&j).context("decoding a stored dataset summary"))
        .transpose()
}

/// A page of datasets, newest first: the summaries and the cursor of the next page.
pub async fn list_datasets(
    pool: &Pool,
    limit: u32,
    before_seq: Option<i64>,
) -> anyhow::Result<(Vec<DatasetSummary>, Option<i64>)> {
    let rows = sqlx::query(
        "SELECT seq, summary_json FROM datasets WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
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

/// Deletes a dataset, its columns and the idempotency keys that created it, unless an
/// unfinished job uses it. The check and the delete share one write transaction, and job creation checks the dataset inside its own, so neither
/// can slip between the other's check and write.
pub async fn delete_dataset(pool: &Pool, id: &str) -> anyhow::Result<Deleted> {
    let mut tx = super::write_tx(pool).await?;
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT j.id) FROM jobs j JOIN job_datasets d ON d.job_id = j.id
         WHERE d.dataset_id = $1 AND j.status IN ('queued', 'running', 'cancelling')",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if active > 0 {
        tx.rollback().await?;
        return Ok(Deleted::InUse(active));
    }
    let deleted = sqlx::query("DELETE FROM datasets WHERE id = $1")
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
pub async fn load_columns(pool: &Pool, id: &str) -> anyhow::Result<Option<Vec<Column>>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT position, storage, categories_json, data, chunks FROM dataset_columns
         WHERE dataset_id = $1 ORDER BY position",
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
    let mut columns = Vec::with_capacity(rows.len());
    for (row, info) in rows.iter().zip(summary.columns) {
        columns.push(decode_column(pool, id, row, info, summary.rows).await?);
    }
    Ok(Some(columns))
}

/// Only the label column's class codes and the number of classes (what a fold assignment
/// needs), without reading the feature columns.
pub async fn load_labels(pool: &Pool, id: &str) -> anyhow::Result<Option<(Vec<u32>, usize)>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let position = summary
        .columns
        .iter()
        .position(|c| c.role == crate::domain::dataset::ColumnRole::Label)
        .context("a dataset without a label column")?;
    match column_at(pool, &summary, position).await?.data {
        ColumnData::Categorical { codes, categories } => Ok(Some((codes, categories.len()))),
        ColumnData::Numeric(_) => {
            anyhow::bail!("the label column of {id} is not stored as classes")
        }
    }
}

/// One column by name (`None`: no such dataset or column).
pub async fn load_column(pool: &Pool, id: &str, name: &str) -> anyhow::Result<Option<Column>> {
    let Some(summary) = get_dataset(pool, id).await? else {
        return Ok(None);
    };
    let Some(position) = summary.columns.iter().position(|c| c.name == name) else {
        return Ok(None);
    };
    Ok(Some(column_at(pool, &summary, position).await?))
}

/// One numeric column's values by name (`None`: no such dataset or column, or not numeric).
pub async fn load_numeric_column(
    pool: &Pool,
    id: &str,
    name: &str,
) -> anyhow::Result<Option<Vec<f32>>> {
    Ok(match load_column(pool, id, name).await?.map(|c| c.data) {
        Some(ColumnData::Numeric(v)) => Some(v),
        _ => None,
    })
}
