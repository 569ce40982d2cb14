//! `crossfold copy`: every row of one database into another, empty one (SQLite to PostgreSQL
//! when work outgrows a machine, or back), table by table in the order their references need,
//! then counted and checksummed on both sides. Ids, sequence numbers and blobs are copied as
//! they are, so every URL and page cursor stays valid.

use anyhow::{Context, bail, ensure};
use sha2::{Digest, Sha256};

use super::{Backend, Db};

/// A column's type as both backends store it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Real,
    Blob,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Blob(Option<Vec<u8>>),
}

/// A table: its name, its columns, its key (the copy's order) and how many rows one page
/// holds (few where a row can hold a large blob).
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub key: &'static str,
    pub page: i64,
}

use Kind::{Blob, Int, Real, Text};

/// Every table, parents before children.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "datasets",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("name", Text),
            ("label", Text),
            ("rows", Int),
            ("sha256", Text),
            ("bytes", Int),
            ("created_at", Text),
            ("summary_json", Text),
        ],
        key: "seq",
        page: 500,
    },
    Table {
        name: "dataset_columns",
        columns: &[
            ("dataset_id", Text),
            ("position", Int),
            ("name", Text),
            ("storage", Text),
            ("categories_json", Text),
            ("data", Blob),
            ("chunks", Int),
        ],
        key: "dataset_id, position",
        page: 16,
    },
    Table {
        name: "dataset_sequences",
        columns: &[
            ("dataset_id", Text),
            ("channels", Int),
            ("lengths", Blob),
            ("data", Blob),
            ("chunks", Int),
        ],
        key: "dataset_id",
        page: 4,
    },
    Table {
        name: "dataset_chunks",
        columns: &[
            ("dataset_id", Text),
            ("part", Int),
            ("chunk", Int),
            ("data", Blob),
        ],
        key: "dataset_id, part, chunk",
        page: 16,
    },
    Table {
        name: "idempotency_keys",
        columns: &[
            ("scope", Text),
            ("key", Text),
            ("request_hash", Text),
            ("resource_id", Text),
            ("created_at", Text),
        ],
        key: "scope, key",
        page: 500,
    },
    Table {
        name: "jobs",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("dataset_id", Text),
            ("status", Text),
            ("spec_json", Text),
            ("folds_json", Text),
            ("error", Text),
            ("summary_json", Text),
            ("created_at", Text),
            ("started_at", Text),
            ("finished_at", Text),
            ("cancel_requested_at", Text),
            ("diagnostics_json", Text),
            ("remedy_of", Text),
            ("remedy_findings_json", Text),
            ("classes_json", Text),
            ("results_json", Text),
            ("name", Text),
            ("description", Text),
            ("tags_json", Text),
            ("families", Text),
            ("outer_of", Text),
        ],
        key: "seq",
        page: 100,
    },
    Table {
        name: "job_tags",
        columns: &[("job_id", Text), ("key", Text), ("value", Text)],
        key: "job_id, key",
        page: 500,
    },
    Table {
        name: "job_scores",
        columns: &[("job_id", Text), ("metric", Text), ("mean", Real)],
        key: "job_id, metric",
        page: 500,
    },
    Table {
        name: "job_datasets",
        columns: &[("job_id", Text), ("role", Text), ("dataset_id", Text)],
        key: "job_id, role",
        page: 500,
    },
    Table {
        name: "runs",
        columns: &[
            ("seq", Int),
            ("id", Text),
            ("job_id", Text),
            ("kind", Text),
            ("fold", Int),
            ("repeat", Int),
            ("seed", Int),
            ("state", Text),
            ("attempt", Int),
            ("max_attempts", Int),
            ("run_at", Int),
            ("lease_owner", Text),
            ("lease_token", Int),
            ("lease_expires_at", Int),
            ("last_error", Text),
            ("epochs_done", Int),
            ("result_json", Text),
            ("predictions_json", Text),
            ("started_at", Text),
            ("finished_at", Text),
            ("strategy", Text),
            ("heldout", Blob),
            ("variant", Int),
            ("findings_json", Text),
            ("kernels", Text),
            ("resumed_on_kernels", Text),
            ("checkpoint_key", Text),
            ("heldout_key", Text),
            ("pause_at", Int),
            ("rung", Text),
            ("holdout_losses", Text),
        ],
        key: "seq",
        page: 2,
    },
    Table {
        name: "epoch_metrics",
        columns: &[("run_id", Text), ("epoch", Int), ("record_json", Text)],
        key: "run_id, epoch",
        page: 1000,
    },
    Table {
        name: "pretrain_epochs",
        columns: &[
            ("run_id", Text),
            ("layer", Int),
            ("epoch", Int),
            ("record_json", Text),
        ],
        key: "run_id, layer, epoch",
        page: 1000,
    },
    Table {
        name: "run_checkpoints",
        columns: &[("run_id", Text), ("checkpoint", Blob)],
        key: "run_id",
        page: 2,
    },
    Table {
        name: "run_members",
        columns: &[
            ("run_id", Text),
            ("member", Int),
            ("weights", Blob),
            ("weights_key", Text),
        ],
        key: "run_id, member",
        page: 2,
    },
];

/// What a copy moved: per table, its rows and the sha256 of their values in key order (the
/// same on both sides, checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub tables: Vec<(&'static str, u64, String)>,
    /// With an object store: the objects the copy points to, every one checked present.
    pub objects: Option<usize>,
}

/// Copies every row of `from` into `to` (migrated, and empty: anything in it is a refusal),
/// then counts and checksums both.
pub async fn copy(from: &Db, to: &Db) -> anyhow::Result<Copied> {
    ensure!(
        super::is_ready(from).await? && super::is_ready(to).await?,
        "both databases must have every migration applied (`crossfold migrate`)"
    );
    for table in TABLES {
        if rows(to, table).await? > 0 {
            bail!("the target is not empty: its {} has rows", table.name);
        }
    }
    for table in TABLES {
        let mut offset = 0;
        loop {
            let page = read_page(from, table, offset).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            write_rows(to, table, &page)
                .await
                .with_context(|| format!("copying {}", table.name))?;
        }
    }
    after_copy(to).await?;
    let copied = digest(from).await?;
    let landed = digest(to).await?;
    ensure!(
        copied == landed,
        "the copy differs from its source: {copied:?} against {landed:?}"
    );
    // Objects are not copied: both databases point to the same ones, which must all be there.
    let objects = match to.artifacts() {
        Some(_) => Some(super::gc::check_pointers(to).await?),
        None => None,
    };
    Ok(Copied { objects, ..copied })
}

/// Every table's rows and checksum.
pub async fn digest(db: &Db) -> anyhow::Result<Copied> {
    let mut tables = Vec::new();
    for table in TABLES {
        let (mut hash, mut n, mut offset) = (Sha256::new(), 0u64, 0i64);
        loop {
            let page = read_page(db, table, offset).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            for row in &page {
                n += 1;
                row.iter().for_each(|cell| hash_cell(&mut hash, cell));
            }
        }
        tables.push((table.name, n, hex::encode(hash.finalize())));
    }
    Ok(Copied {
        tables,
        objects: None,
    })
}

/// A cell's bytes with its kind and presence, so `NULL`, `""` and `0` differ.
fn hash_cell(hash: &mut Sha256, cell: &Cell) {
    let (tag, bytes): (u8, Option<Vec<u8>>) = match cell {
        Cell::Text(v) => (1, v.as_ref().map(|s| s.as_bytes().to_vec())),
        Cell::Int(v) => (2, v.map(|i| i.to_le_bytes().to_vec())),
        Cell::Real(v) => (4, v.map(|x| x.to_le_bytes().to_vec())),
        Cell::Blob(v) => (3, v.clone()),
    };
    hash.update([tag, bytes.is_some() as u8]);
    if let Some(b) = bytes {
        hash.update((b.len() as u64).to_le_bytes());
        hash.update(b);
    }
}

async fn rows(db: &Db, table: &Table) -> anyhow::Result<i64> {
    Ok(match db.pool() {
        Backend::Sqlite(p) => super::sqlite::sql::copy_rows::count(p, table).await?,
        Backend::Postgres(p) => super::postgres::sql::copy_rows::count(p, table).await?,
    })
}

async fn read_page(db: &Db, table: &Table, offset: i64) -> anyhow::Result<Vec<Vec<Cell>>> {
    Ok(match db.pool() {
        Backend::Sqlite(p) => super::sqlite::sql::copy_rows::page(p, table, offset).await?,
        Backend::Postgres(p) => super::postgres::sql::copy_rows::page(p, table, offset).await?,
    })
}

async fn write_rows(db: &Db, table: &Table, rows: &[Vec<Cell>]) -> anyhow::Result<()> {
    match db.pool() {
        Backend::Sqlite(p) => super::sqlite::sql::copy_rows::insert(p, table, rows).await,
        Backend::Postgres(p) => super::postgres::sql::copy_rows::insert(p, table, rows).await,
    }
}

/// PostgreSQL's identity sequences continue after the copied numbers (SQLite's
/// `AUTOINCREMENT` follows the largest inserted by itself).
async fn after_copy(db: &Db) -> anyhow::Result<()> {
    if let Backend::Postgres(p) = db.pool() {
        super::postgres::restart_sequences(p).await?;
    }
    Ok(())
}
