//! The list's order: `key [asc|desc]`.

use super::{FilterError, JobOrder, MAX_ORDER, OrderKey, error, metric};

impl JobOrder {
    /// Reads `key [asc|desc]`: `created_at` (default descending), `name`, `status` or
    /// `metrics.<metric>` (default: best first).
    pub fn parse(src: &str) -> Result<Self, FilterError> {
        if src.chars().count() > MAX_ORDER {
            return Err(error(0, "", format!("at most {MAX_ORDER} characters")));
        }
        let mut words = src.split_whitespace();
        let Some(key_word) = words.next() else {
            return Ok(Self::default());
        };
        let key = match key_word.to_ascii_lowercase().as_str() {
            "created_at" => OrderKey::CreatedAt,
            "name" => OrderKey::Name,
            "status" => OrderKey::Status,
            _ => match key_word.strip_prefix("metrics.").and_then(metric) {
                Some(m) => OrderKey::Metric(m),
                None => {
                    return Err(error(
                        0,
                        key_word,
                        "sort by created_at, name, status or metrics.<metric>",
                    ));
                }
            },
        };
        let natural = match key {
            OrderKey::CreatedAt => true,
            OrderKey::Metric(m) => m.higher_is_better(),
            OrderKey::Name | OrderKey::Status => false,
        };
        let at = src.find(key_word).unwrap_or(0) + key_word.len();
        let descending = match words.next() {
            None => natural,
            Some(w) if w.eq_ignore_ascii_case("desc") => true,
            Some(w) if w.eq_ignore_ascii_case("asc") => false,
            Some(w) => return Err(error(at, w, "asc or desc")),
        };
        if let Some(extra) = words.next() {
            return Err(error(at, extra, "one key and a direction"));
        }
        Ok(Self { key, descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::metric::Metric;

    #[test]
    fn orders_default_to_the_better_end_first() {
        let o = JobOrder::parse("metrics.log_loss").unwrap();
        assert_eq!(
            (o.key, o.descending),
            (OrderKey::Metric(Metric::LogLoss), false)
        );
        let o = JobOrder::parse("metrics.roc_auc").unwrap();
        assert!(o.descending);
        assert!(!JobOrder::parse("name").unwrap().descending);
        assert!(!JobOrder::parse("created_at ASC").unwrap().descending);
        assert_eq!(JobOrder::parse("").unwrap(), JobOrder::default());
        assert_eq!(JobOrder::parse("size").unwrap_err().token, "size");
        assert_eq!(
            JobOrder::parse("name sideways").unwrap_err().token,
            "sideways"
        );
    }
}
