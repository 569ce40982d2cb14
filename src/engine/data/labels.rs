//! A column of the upload read as class labels (`label` naming another column than the one
//! uploaded as the label): its classes in the order training uses (numerically when every
//! value is a number, so `2` < `10`, else by text, as the upload orders its label), each row's
//! class, and which rows have none.

use crate::domain::dataset::{ColumnData, MISSING_CODE};

/// Each row's class (`MISSING_CODE` where the column is missing) and the class names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub codes: Vec<u32>,
    pub classes: Vec<String>,
}

impl Labels {
    pub fn of(column: &ColumnData) -> Self {
        match column {
            ColumnData::Numeric(values) => {
                let mut distinct: Vec<f32> =
                    values.iter().copied().filter(|v| !v.is_nan()).collect();
                distinct.sort_by(f32::total_cmp);
                distinct.dedup();
                let codes = values
                    .iter()
                    .map(|v| match distinct.binary_search_by(|d| d.total_cmp(v)) {
                        Ok(i) if !v.is_nan() => i as u32,
                        _ => MISSING_CODE,
                    })
                    .collect();
                Self {
                    codes,
                    classes: distinct.iter().map(|v| v.to_string()).collect(),
                }
            }
            ColumnData::Categorical { codes, categories } => {
                let mut used = vec![false; categories.len()];
                for &c in codes.iter().filter(|&&c| c != MISSING_CODE) {
                    used[c as usize] = true;
                }
                let mut order: Vec<usize> = (0..categories.len()).filter(|&c| used[c]).collect();
                let numbers: Option<Vec<f64>> = categories
                    .iter()
                    .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
                    .collect();
                match &numbers {
                    Some(n) => order.sort_by(|&a, &b| n[a].total_cmp(&n[b])),
                    None => order.sort_by(|&a, &b| categories[a].cmp(&categories[b])),
                }
                let mut rank = vec![MISSING_CODE; categories.len()];
                for (r, &c) in order.iter().enumerate() {
                    rank[c] = r as u32;
                }
                Self {
                    codes: codes
                        .iter()
                        .map(|&c| {
                            if c == MISSING_CODE {
                                c
                            } else {
                                rank[c as usize]
                            }
                        })
                        .collect(),
                    classes: order.iter().map(|&c| categories[c].clone()).collect(),
                }
            }
        }
    }

    /// Rows with no class.
    pub fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        self.codes
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == MISSING_CODE)
            .map(|(i, _)| i)
    }

    /// Rows per class.
    pub fn counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.classes.len()];
        for &c in self.codes.iter().filter(|&&c| c != MISSING_CODE) {
            counts[c as usize] += 1;
        }
        counts
    }

    /// The column as the label the table reads.
    pub fn into_column_data(self) -> ColumnData {
        ColumnData::Categorical {
            codes: self.codes,
            categories: self.classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_numerically_and_missing_values_have_no_class() {
        let l = Labels::of(&ColumnData::Numeric(vec![10.0, 2.0, f32::NAN, 2.0, 0.5]));
        assert_eq!(l.classes, ["0.5", "2", "10"]);
        assert_eq!(l.codes, [2, 1, MISSING_CODE, 1, 0]);
        assert_eq!(l.missing().collect::<Vec<_>>(), [2]);
        assert_eq!(l.counts(), [1, 2, 1]);
        let text = ColumnData::Categorical {
            codes: vec![0, 1, MISSING_CODE, 2, 0],
            categories: vec!["b".into(), "a".into(), "c".into(), "unused".into()],
        };
        let l = Labels::of(&text);
        assert_eq!(l.classes, ["a", "b", "c"]);
        assert_eq!(l.codes, [1, 0, MISSING_CODE, 2, 1]);
        let numeric_text = ColumnData::Categorical {
            codes: vec![0, 1, 2],
            categories: vec!["10".into(), "9".into(), "-1".into()],
        };
        assert_eq!(Labels::of(&numeric_text).classes, ["-1", "9", "10"]);
    }
}
