//! Samplers against imbalanced-learn (`imbalance.json`): rows kept by NearMiss 1/2/3, SMOTE's
//! neighbour sets, class counts after each sampler, the shrinkage bandwidth.

use crossfold::engine::imbalance::samplers::{self as resample, Matrix};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::helpers::{fixture, flat};

fn labels(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as u32)
        .collect()
}

fn counts_of(y: &[u32], classes: usize) -> Value {
    let c = resample::class_counts(y, classes);
    (0..classes)
        .map(|k| (k.to_string(), Value::from(c[k])))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn nearmiss_keeps_the_rows_imbalanced_learn_keeps() {
    let g = fixture("imbalance.json");
    let (x, y, x3, y3) = (
        flat(&g["X"]),
        labels(&g["y"]),
        flat(&g["X3"]),
        labels(&g["y3"]),
    );
    for (name, case) in g["nearmiss"].as_object().unwrap() {
        let p = &case["params"];
        let (m, y, classes) = if name.ends_with("multiclass") {
            (Matrix { x: &x3, d: 2 }, &y3, 3)
        } else {
            (Matrix { x: &x, d: 3 }, &y, 2)
        };
        let kept = resample::nearmiss(
            m,
            y,
            classes,
            p["version"].as_u64().unwrap() as u8,
            p["n_neighbors"].as_u64().unwrap() as usize,
            p["n_neighbors_ver3"].as_u64().unwrap() as usize,
            1.0,
        );
        let want: Vec<usize> = serde_json::from_value(case["kept_indices"].clone()).unwrap();
        assert_eq!(kept, want, "{name}");
    }
}

#[test]
fn smote_interpolates_between_the_same_nearest_minority_neighbours() {
    let g = fixture("imbalance.json");
    let (x, y) = (flat(&g["X"]), labels(&g["y"]));
    let s = &g["smote_minority_neighbors_k5"];
    // The minority rows are the golden ones, in order.
    let minority: Vec<f32> = flat(&s["minority_rows"]);
    let rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == 1).collect();
    let ours: Vec<f32> = rows
        .iter()
        .flat_map(|&r| x[r * 3..r * 3 + 3].to_vec())
        .collect();
    assert_eq!(ours, minority);
    let want: Vec<Vec<usize>> = serde_json::from_value(s["neighbors"].clone()).unwrap();
    assert_eq!(
        resample::smote_neighbors(Matrix { x: &x, d: 3 }, &y, 1, 5),
        want
    );
}

#[test]
fn every_sampler_reaches_imbalanced_learns_class_counts() {
    let g = fixture("imbalance.json");
    let (x, y, x3, y3) = (
        flat(&g["X"]),
        labels(&g["y"]),
        flat(&g["X3"]),
        labels(&g["y3"]),
    );
    let want = &g["resampled_counts"];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (m, m3) = (Matrix { x: &x, d: 3 }, Matrix { x: &x3, d: 2 });
    let smote = |m, y: &[u32], k, r, rng: &mut ChaCha8Rng| {
        counts_of(&resample::smote(m, y, k, r, 5, rng).1, k)
    };
    let over = |m, y: &[u32], k, rng: &mut ChaCha8Rng| {
        counts_of(&resample::oversample(m, y, k, 1.0, 0.5, rng).1, k)
    };
    let under = |y: &[u32], k, r, rng: &mut ChaCha8Rng| {
        let kept = resample::undersample(y, k, r, rng);
        counts_of(&kept.iter().map(|&i| y[i]).collect::<Vec<_>>(), k)
    };
    assert_eq!(smote(m, &y, 2, 1.0, &mut rng), want["smote_auto"]);
    assert_eq!(over(m, &y, 2, &mut rng), want["oversample_auto"]);
    assert_eq!(under(&y, 2, 1.0, &mut rng), want["undersample_auto"]);
    assert_eq!(smote(m, &y, 2, 0.5, &mut rng), want["smote_ratio_0.5"]);
    assert_eq!(under(&y, 2, 0.5, &mut rng), want["undersample_ratio_0.5"]);
    assert_eq!(
        smote(m3, &y3, 3, 1.0, &mut rng),
        want["smote_auto_multiclass"]
    );
    assert_eq!(
        over(m3, &y3, 3, &mut rng),
        want["oversample_auto_multiclass"]
    );
    assert_eq!(
        under(&y3, 3, 1.0, &mut rng),
        want["undersample_auto_multiclass"]
    );
}

#[test]
fn the_shrinkage_bandwidth_follows_imbalanced_learn() {
    let g = &fixture("imbalance.json")["oversample_shrinkage"];
    let h = resample::shrinkage_bandwidth(
        g["n"].as_u64().unwrap() as usize,
        g["d"].as_u64().unwrap() as usize,
    );
    assert!((h - g["h"].as_f64().unwrap()).abs() < 1e-12, "{h}");
}

#[test]
fn synthetic_rows_lie_between_a_row_and_a_same_class_neighbour() {
    let g = fixture("imbalance.json");
    let (x, y) = (flat(&g["X"]), labels(&g["y"]));
    let (out, labels) = resample::smote(
        Matrix { x: &x, d: 3 },
        &y,
        2,
        1.0,
        5,
        &mut ChaCha8Rng::seed_from_u64(1),
    );
    // Originals first and unchanged; every new row is class 1 and inside the class's box.
    assert_eq!(&out[..x.len()], &x[..]);
    let minority: Vec<&[f32]> = (0..y.len())
        .filter(|&i| y[i] == 1)
        .map(|i| &x[i * 3..i * 3 + 3])
        .collect();
    for (i, row) in out.chunks(3).enumerate().skip(y.len()) {
        assert_eq!(labels[i], 1);
        for j in 0..3 {
            let lo = minority.iter().map(|r| r[j]).fold(f32::INFINITY, f32::min);
            let hi = minority
                .iter()
                .map(|r| r[j])
                .fold(f32::NEG_INFINITY, f32::max);
            assert!(row[j] >= lo - 1e-6 && row[j] <= hi + 1e-6, "row {i}");
        }
    }
}

/// The GEMM shortlist must give exactly what a direct scan gives: the same neighbours in the
/// same order, ties (duplicated rows, a coarse grid) broken by reference order.
#[test]
fn nearest_neighbours_equal_a_direct_scan_including_ties() {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, d) = (2_500, 7);
    // Values on a coarse grid and every fifth row a copy of an earlier one: many exact ties.
    let mut x: Vec<f32> = (0..n * d)
        .map(|_| rng.gen_range(0..4) as f32 * 0.5)
        .collect();
    for i in (5..n).step_by(5) {
        let src = rng.gen_range(0..i);
        let row: Vec<f32> = x[src * d..(src + 1) * d].to_vec();
        x[i * d..(i + 1) * d].copy_from_slice(&row);
    }
    let m = Matrix { x: &x, d };
    let queries: Vec<usize> = (0..n).step_by(7).collect();
    let refs: Vec<usize> = (0..n).filter(|i| i % 3 != 0).collect();
    for (k, skip_self) in [(1, false), (5, true), (12, true)] {
        let fast = resample::knn(m, &queries, &refs, k, skip_self);
        for (qi, &q) in queries.iter().enumerate() {
            let mut direct: Vec<(usize, f64)> = refs
                .iter()
                .enumerate()
                .filter(|&(_, &r)| !(skip_self && r == q))
                .map(|(j, &r)| {
                    let sq: f64 = (0..d)
                        .map(|c| (f64::from(x[q * d + c]) - f64::from(x[r * d + c])).powi(2))
                        .sum();
                    (j, sq.sqrt())
                })
                .collect();
            direct.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            direct.truncate(k);
            let got: Vec<usize> = fast[qi].iter().map(|p| p.0).collect();
            let want: Vec<usize> = direct.iter().map(|p| p.0).collect();
            assert_eq!(got, want, "query {q}, k {k}");
        }
    }
}
