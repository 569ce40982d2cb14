//! `store::copy`'s reads and writes of whole rows, by the table descriptions in `copy::TABLES`
//! (names from that constant list, never from input).

use sqlx::Row;

use super::Pool;
use crate::store::copy::{Cell, Kind, Table};

fn columns(table: &Table) -> String {
    let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    names.join(", ")
}

/// Rows in `table`.
pub(crate) async fn count(pool: &Pool, table: &Table) -> Result<i64, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM {}", table.name);
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
}

/// At most `table.page` rows from `offset`, in key order.
pub(crate) async fn page(
    pool: &Pool,
    table: &Table,
    offset: i64,
) -> Result<Vec<Vec<Cell>>, sqlx::Error> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
        columns(table),
        table.name,
        table.key
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(table.page)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            (0..table.columns.len())
                .map(|i| {
                    Ok(match table.columns[i].1 {
                        Kind::Text => Cell::Text(row.try_get(i)?),
                        Kind::Int => Cell::Int(row.try_get(i)?),
                        Kind::Real => Cell::Real(row.try_get(i)?),
                        Kind::Blob => Cell::Blob(row.try_get(i)?),
                    })
                })
                .collect()
        })
        .collect()
}

/// Inserts `rows` into `table` in one transaction.
pub(crate) async fn insert(pool: &Pool, table: &Table, rows: &[Vec<Cell>]) -> anyhow::Result<()> {
    let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name,
        columns(table),
        marks.join(", ")
    );
    let mut tx = super::write_tx(pool).await?;
    for row in rows {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
        for cell in row {
            query = match cell {
                Cell::Text(v) => query.bind(v.clone()),
                Cell::Int(v) => query.bind(*v),
                Cell::Real(v) => query.bind(*v),
                Cell::Blob(v) => query.bind(v.clone()),
            };
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
store_test! {
/// Every column the migrations made is copied (a column added without a line here was lost
/// by every copy: a search's rungs were).
async fn the_copy_lists_every_column_of_every_table_it_copies() {
    use sqlx::{Column, Executor, SqlSafeStr};
    let (_guard, pool) = super::test_pool().await;
    for table in crate::store::copy::TABLES {
        let sql = sqlx::AssertSqlSafe(format!("SELECT * FROM {}", table.name));
        let described = pool.describe(sql.into_sql_str()).await.unwrap();
        let mut schema: Vec<&str> = described.columns().iter().map(|c| c.name()).collect();
        let mut listed: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        schema.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, schema, "the columns of {}", table.name);
    }
}
}
