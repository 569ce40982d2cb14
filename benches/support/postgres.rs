//! A fresh database on the PostgreSQL server the `PG*` variables name (as `pg_virtualenv` sets
//! them), for benchmarks and tests.

/// A new, empty database: its URL (the rest of the connection comes from `PG*`).
pub async fn fresh_database() -> String {
    let admin = crossfold::store::connect("postgres://")
        .await
        .expect("a PostgreSQL server: run under pg_virtualenv (CI does), or set the PG* variables");
    let crossfold::store::Backend::Postgres(pool) = admin.pool() else {
        unreachable!("a postgres:// URL opens PostgreSQL")
    };
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    // The name is ours (a uuid), not input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(pool)
        .await
        .unwrap();
    admin.close().await;
    format!("postgres:///{name}")
}
