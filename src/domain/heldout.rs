//! A run's held-out predictions: each scored row, its class and its probabilities, stored as a
//! compact binary blob (a 1,000-class dataset's probabilities as JSON text were hundreds of
//! megabytes to parse on every read). Probabilities are f32, as the model computes them.

use serde_json::Value;

/// Format tag of the blob.
const MAGIC: &[u8; 4] = b"HO01";

/// Held-out rows, their labels and `rows × classes` probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    pub rows: Vec<u32>,
    pub labels: Vec<u32>,
    pub classes: usize,
    pub proba: Vec<f32>,
}

/// Why stored predictions cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable held-out predictions: {0}")]
pub struct HeldOutError(String);

impl HeldOut {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The probabilities of the `i`th scored row.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.proba[i * self.classes..(i + 1) * self.classes]
    }

    /// `MAGIC`, rows and classes as u32, then rows, labels (u32) and probabilities (f32), all
    /// little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.rows.len();
        let mut out = Vec::with_capacity(12 + 8 * n + 4 * self.proba.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&(self.classes as u32).to_le_bytes());
        for v in self.rows.iter().chain(&self.labels) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for p in &self.proba {
            out.extend_from_slice(&p.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HeldOutError> {
        let bad = |m: &str| HeldOutError(m.to_owned());
        if bytes.len() < 12 || &bytes[..4] != MAGIC {
            return Err(bad("not a held-out blob"));
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (n, classes) = (word(4) as usize, word(8) as usize);
        let expected = n
            .checked_mul(8 + 4 * classes)
            .and_then(|b| b.checked_add(12))
            .ok_or_else(|| bad("sizes overflow"))?;
        if bytes.len() != expected {
            return Err(bad("truncated"));
        }
        let words = |from: usize, count: usize| -> Vec<u32> {
            (0..count).map(|i| word(from + 4 * i)).collect()
        };
        let rows = words(12, n);
        let labels = words(12 + 4 * n, n);
        if labels.iter().any(|&l| l as usize >= classes) {
            return Err(bad("a label beyond the classes"));
        }
        let proba = bytes[12 + 8 * n..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Self {
            rows,
            labels,
            classes,
            proba,
        })
    }

    /// Predictions stored as JSON by earlier versions (`{"rows", "labels", "proba"}`); rows with
    /// a missing (non-finite) probability or the wrong width make it unreadable.
    pub fn from_legacy_json(v: &Value) -> Result<Self, HeldOutError> {
        let bad = |m: &str| HeldOutError(m.to_owned());
        let ints = |key: &str| -> Result<Vec<u32>, HeldOutError> {
            v[key]
                .as_array()
                .ok_or_else(|| bad(key))?
                .iter()
                .map(|x| x.as_u64().map(|x| x as u32).ok_or_else(|| bad(key)))
                .collect()
        };
        let (rows, labels) = (ints("rows")?, ints("labels")?);
        let table = v["proba"].as_array().ok_or_else(|| bad("proba"))?;
        let classes = table.first().and_then(Value::as_array).map_or(0, Vec::len);
        let mut proba = Vec::with_capacity(table.len() * classes);
        for row in table {
            let row = row.as_array().ok_or_else(|| bad("proba"))?;
            if row.len() != classes {
                return Err(bad("a probability row of another width"));
            }
            for p in row {
                proba.push(p.as_f64().ok_or_else(|| bad("a missing probability"))? as f32);
            }
        }
        if rows.len() != labels.len() || rows.len() != table.len() {
            return Err(bad("rows, labels and probabilities differ in length"));
        }
        if labels.iter().any(|&l| l as usize >= classes) {
            return Err(bad("a label beyond the classes"));
        }
        Ok(Self {
            rows,
            labels,
            classes,
            proba,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_blob_round_trips_and_rejects_damage() {
        let h = HeldOut {
            rows: vec![4, 9],
            labels: vec![1, 0],
            classes: 3,
            proba: vec![0.1, 0.7, 0.2, 0.5, 0.25, 0.25],
        };
        let bytes = h.to_bytes();
        assert_eq!(HeldOut::from_bytes(&bytes).unwrap(), h);
        assert!(HeldOut::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut wrong_label = bytes.clone();
        wrong_label[20] = 7;
        assert!(HeldOut::from_bytes(&wrong_label).is_err());
    }

    #[test]
    fn legacy_json_with_nulls_is_refused_not_misread() {
        let ok = json!({"rows": [3], "labels": [1], "proba": [[0.25, 0.75]]});
        assert_eq!(HeldOut::from_legacy_json(&ok).unwrap().row(0), [0.25, 0.75]);
        // NaN probabilities were stored as null: every row empty once nulls were skipped.
        let nulls =
            json!({"rows": [3, 4], "labels": [1, 0], "proba": [[null, null], [null, null]]});
        assert!(HeldOut::from_legacy_json(&nulls).is_err());
    }
}
