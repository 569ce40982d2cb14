use anyhow::Context;
use sqlx::Row;
use std::borrow::Cow;

use super::Pool;

/// The `part` of a sequence dataset's chunks that holds its lengths, and its values.
pub(super) const LENGTHS: i64 = -1;
pub(super) const VALUES: i64 = -2;
/// Bytes per stored chunk.
const CHUNK_BYTES: usize = 1 << 20;
use crate::domain::dataset::{
    Column, ColumnData, ColumnInfo, DatasetSummary, MISSING_CODE, SequenceValues,
};

/// A sequence dataset's values, if `id` is one.
pub async fn load_sequences(pool: &Pool, id: &str) -> anyhow::Result<Option<SequenceValues>> {
    let row: Option<(i64, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT channels, lengths, data, chunks FROM dataset_sequences WHERE dataset_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((channels, lengths, data, chunks)) = row else {
        return Ok(None);
    };
    let (lengths, values) = if chunks > 0 {
        let lengths: Vec<u32> = read_chunks(pool, id, LENGTHS, 0).await?;
        let steps = lengths.iter().map(|&n| n as usize).sum::<usize>() * channels as usize;
        (lengths, read_chunks(pool, id, VALUES, steps).await?)
    } else {
        (
            words(&lengths, u32::from_le_bytes),
            words(&data, f32::from_le_bytes),
        )
    };
    Ok(Some(SequenceValues {
        channels: channels as usize,
        lengths,
        values,
    }))
}

/// Stores `bytes` as `part`'s chunks; returns how many.
pub(super) async fn insert_chunks(
    tx: &mut super::WriteTx,
    dataset_id: &str,
    part: i64,
    bytes: &[u8],
) -> Result<i64, sqlx::Error> {
    let mut n = 0i64;
    for chunk in bytes.chunks(CHUNK_BYTES) {
        sqlx::query(
            "INSERT INTO dataset_chunks (dataset_id, part, chunk, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(dataset_id)
        .bind(part)
        .bind(n)
        .bind(chunk)
        .execute(&mut **tx)
        .await?;
        n += 1;
    }
    Ok(n)
}

/// `part`'s chunks decoded in order, one at a time (`expected` values pre-sizes the result).
async fn read_chunks<T: bytemuck::Pod>(
    pool: &Pool,
    dataset_id: &str,
    part: i64,
    expected: usize,
) -> anyhow::Result<Vec<T>> {
    use futures_util::TryStreamExt;
    let mut out: Vec<T> = Vec::with_capacity(expected);
    let mut rows = sqlx::query_scalar::<_, Vec<u8>>(
        "SELECT data FROM dataset_chunks WHERE dataset_id = $1 AND part = $2 ORDER BY chunk",
    )
    .bind(dataset_id)
    .bind(part)
    .fetch(pool);
    while let Some(chunk) = rows.try_next().await? {
        anyhow::ensure!(
            chunk.len().is_multiple_of(std::mem::size_of::<T>()),
            "dataset {dataset_id} has a torn chunk"
        );
        out.extend(
            chunk
                .chunks_exact(std::mem::size_of::<T>())
                .map(from_le::<T>),
        );
    }
    Ok(out)
}

/// One little-endian value.
fn from_le<T: bytemuck::Pod>(bytes: &[u8]) -> T {
    let mut b = bytes.to_vec();
    if cfg!(target_endian = "big") {
        b.reverse();
    }
    bytemuck::pod_read_unaligned(&b)
}

/// An inline blob (stored before chunks) as values.
fn words<T>(bytes: &[u8], read: fn([u8; 4]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(4)
        .map(|c| read([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The column at `position` of dataset `ds`, decoded.
pub(super) async fn column_at(
    pool: &Pool,
    ds: &DatasetSummary,
    position: usize,
) -> anyhow::Result<Column> {
    let row = sqlx::query(
        "SELECT position, storage, categories_json, data, chunks FROM dataset_columns
         WHERE dataset_id = $1 AND position = $2",
    )
    .bind(&ds.id)
    .bind(position as i64)
    .fetch_one(pool)
    .await?;
    let info = ds.columns[position].clone();
    decode_column(pool, &ds.id, &row, info, ds.rows).await
}

pub(super) fn encode_column(data: &ColumnData) -> (&'static str, Option<String>, Cow<'_, [u8]>) {
    match data {
        ColumnData::Numeric(values) => ("f32", None, le_bytes(values)),
        ColumnData::Categorical { codes, categories } => {
            let cats = serde_json::to_string(categories).expect("strings always serialize");
            ("codes", Some(cats), le_bytes(codes))
        }
    }
}

pub(super) use crate::store::le::le_bytes;

/// A column from its row of `dataset_columns` (`rows` values), and its chunks.
pub(super) async fn decode_column(
    pool: &Pool,
    dataset_id: &str,
    row: &super::Row,
    info: ColumnInfo,
    rows: u64,
) -> anyhow::Result<Column> {
    let storage: String = row.get("storage");
    let chunks: i64 = row.get("chunks");
    let position: i64 = row.get("position");
    let inline: Vec<u8> = row.get("data");
    anyhow::ensure!(
        inline.len().is_multiple_of(4),
        "column {:?} has a torn blob",
        info.name
    );
    let data = match storage.as_str() {
        "f32" if chunks > 0 => {
            ColumnData::Numeric(read_chunks(pool, dataset_id, position, rows as usize).await?)
        }
        "f32" => ColumnData::Numeric(words(&inline, f32::from_le_bytes)),
        "codes" => {
            let categories: Vec<String> = serde_json::from_str(
                &row.get::<Option<String>, _>("categories_json")
                    .context("a categorical column without categories")?,
            )?;
            let codes: Vec<u32> = if chunks > 0 {
                read_chunks(pool, dataset_id, position, rows as usize).await?
            } else {
                words(&inline, u32::from_le_bytes)
            };
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
    anyhow::ensure!(
        data.len() as u64 == rows,
        "column {:?} has {} values for {rows} rows",
        info.name,
        data.len()
    );
    Ok(Column { info, data })
}

#[cfg(test)]
mod tests {
    use crate::ingest::{IngestOptions, SequenceSource, parse_upload};

    async fn stored(
        body: &[u8],
        sequence: Option<SequenceSource>,
    ) -> (impl Sized, super::super::Pool) {
        let (guard, pool) = super::super::test_pool().await;
        let opts = IngestOptions {
            sequence,
            ..IngestOptions::csv("label")
        };
        let parsed = parse_upload(body, &opts).unwrap();
        let summary = parsed.summary("ds_v".into(), "v".into(), "2026-12-05T00:00:00Z".into());
        super::super::datasets::insert_dataset(&pool, summary, &parsed, None)
            .await
            .unwrap();
        (guard, pool)
    }

    store_test! {
    async fn columns_span_chunks_and_values_stored_inline_before_chunks_still_load() {
        // 300,000 rows: a column of 1.2 MB spans two chunks.
        let mut csv = String::from("x,c,label\n");
        for i in 0..300_000 {
            csv.push_str(&format!(
                "{},{},{}\n",
                i as f32 / 7.0,
                ["r", "g"][i % 2],
                i % 3
            ));
        }
        let (_dir, pool) = stored(csv.as_bytes(), None).await;
        let chunks: i64 =
            sqlx::query_scalar("SELECT chunks FROM dataset_columns WHERE position = 0")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(chunks, 2);
        let chunked = super::super::datasets::load_columns(&pool, "ds_v")
            .await
            .unwrap()
            .unwrap();
        // As an earlier version stored them: each column's values in one inline blob.
        for (position, column) in chunked.iter().enumerate() {
            let bytes = super::encode_column(&column.data).2.into_owned();
            sqlx::query("UPDATE dataset_columns SET data = $1, chunks = 0 WHERE position = $2")
                .bind(bytes)
                .bind(position as i64)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM dataset_chunks")
            .execute(&pool)
            .await
            .unwrap();
        let inline = super::super::datasets::load_columns(&pool, "ds_v")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inline, chunked);
        let ColumnData::Numeric(x) = &inline[0].data else {
            panic!("numeric")
        };
        assert_eq!(x[299_999], 299_999.0f32 / 7.0);
    }
    }

    store_test! {
    async fn sequences_load_from_chunks_and_from_inline_blobs() {
        let csv = "id,t,v,label\n1,1,0.5,a\n1,2,1.5,a\n2,1,2.5,b\n";
        let long = SequenceSource::Long {
            id: "id".into(),
            order: "t".into(),
        };
        let (_dir, pool) = stored(csv.as_bytes(), Some(long)).await;
        let chunked = super::load_sequences(&pool, "ds_v").await.unwrap().unwrap();
        assert_eq!(
            (chunked.lengths.as_slice(), chunked.values.as_slice()),
            (&[2, 1][..], &[0.5, 1.5, 2.5][..])
        );
        let lengths: Vec<u8> = [2u32, 1].iter().flat_map(|n| n.to_le_bytes()).collect();
        let values: Vec<u8> = [0.5f32, 1.5, 2.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        sqlx::query("UPDATE dataset_sequences SET lengths = $1, data = $2, chunks = 0")
            .bind(lengths)
            .bind(values)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM dataset_chunks WHERE part < 0")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            super::load_sequences(&pool, "ds_v").await.unwrap().unwrap(),
            chunked
        );
    }
    }

    use crate::domain::dataset::ColumnData;
}
