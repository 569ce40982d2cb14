use crossfold::domain::dataset::UploadFormat;
use crossfold::ingest::{IngestOptions, parse_upload};
fn hwm() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}
fn main() {
    let mut ts = String::from("@data\n");
    for i in 0..10_000_000usize {
        ts.push_str(if i % 2 == 0 { "1:a\n" } else { "2:b\n" });
    }
    let body = ts.into_bytes();
    println!("body built: {} MiB", hwm());
    let opts = IngestOptions {
        format: UploadFormat::Ts,
        label: "label".into(),
        delimiter: b',',
        max_rows: 100_000_000,
        max_columns: 10000,
        max_cells: 1_000_000_000,
        max_classes: 100,
        max_sequence_steps: 10000,
        sequence: None,
        size_hint: None,
        text_columns: vec![],
    };
    let base = hwm();
    let parsed = parse_upload(&body[..], &opts).unwrap();
    println!("parsed: +{} MiB", hwm() - base);
    let s = parsed.summary("x".into(), "y".into(), "z".into());
    println!("summary: +{} MiB {}", hwm() - base, s.rows);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let pool = crossfold::store::connect(&format!("sqlite://{}/x.db", dir.path().display()))
            .await
            .unwrap();
        crossfold::store::migrate(&pool).await.unwrap();
        let b = hwm();
        crossfold::store::datasets::insert_dataset(&pool, s, &parsed, None)
            .await
            .unwrap();
        println!("stored: +{} MiB (+{} over parse)", hwm() - base, hwm() - b);
    });
}
