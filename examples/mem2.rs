fn hwm() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}
fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let pool = crossfold::store::connect(&format!("sqlite://{}/x.db", dir.path().display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER, b BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        let v: Vec<u8> = vec![7u8; 40 << 20];
        let base = hwm();
        println!("base {base}");
        sqlx::query("INSERT INTO t VALUES (1, ?)")
            .bind(&v[..])
            .execute(&pool)
            .await
            .unwrap();
        println!("borrowed insert: +{}", hwm() - base);
        sqlx::query("INSERT INTO t VALUES (2, ?)")
            .bind(v.clone())
            .execute(&pool)
            .await
            .unwrap();
        println!("owned insert: +{}", hwm() - base);
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (3, ?)")
            .bind(&v[..])
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (4, ?)")
            .bind(&v[..])
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        println!("two in a tx: +{}", hwm() - base);
    });
}
