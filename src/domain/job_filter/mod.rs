//! The jobs list's filter and sort, read once into types the store turns into SQL. The syntax
//! follows MLflow's search: clauses joined by `and`, each `field op value`, e.g.
//! `metrics.balanced_accuracy > 0.9 and tags.team = 'risk' and name ilike '%churn%'`.
//! A problem is reported with the token and the character it starts at.

mod order;
mod tokens;

use crate::domain::job::JobStatus;
use crate::domain::metric::Metric;
use crate::domain::model_spec::ModelKind;
pub use tokens::{FilterError, Op};
use tokens::{Token, error, tokens};

/// What a clause compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Name,
    Description,
    Status,
    DatasetId,
    /// The dataset's name (as uploaded; jobs whose dataset was deleted have none).
    Dataset,
    /// One of the job's model families (`mlp`, `gru`, …).
    Family,
    CreatedAt,
    FinishedAt,
    /// The job a remedy job was made from.
    RemedyOf,
    /// The nested job an outer fold's job was made by.
    OuterOf,
    Tag(String),
    /// A metric's mean across folds (the job's summary).
    Metric(Metric),
}

/// A clause's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// Clauses that must all hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobFilter(pub Vec<Clause>);

/// What the list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKey {
    CreatedAt,
    Name,
    Status,
    /// Jobs without the metric come last, whichever the direction.
    Metric(Metric),
}

/// The list's order: newest first unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOrder {
    pub key: OrderKey,
    pub descending: bool,
}

impl Default for JobOrder {
    fn default() -> Self {
        Self {
            key: OrderKey::CreatedAt,
            descending: true,
        }
    }
}

/// What a page of the jobs list holds: the jobs the filter keeps, in this order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobQuery {
    pub filter: JobFilter,
    pub order: JobOrder,
}

/// The longest filter, in characters: at most 4 bytes each, percent-encoded, it still fits the
/// URI limit (8 KiB) beside the longest `order_by`.
pub const MAX_FILTER: usize = 500;

/// The longest `order_by`, in characters.
pub const MAX_ORDER: usize = 100;

const FIELDS: &str = "name, description, status, dataset_id, dataset, family, created_at, \
                      finished_at, remedy_of, outer_of, tags.<key> or metrics.<metric>";

fn metric(name: &str) -> Option<Metric> {
    Metric::ALL.into_iter().find(|m| m.name() == name)
}

fn field(at: usize, word: &str) -> Result<Field, FilterError> {
    let known = match word.to_ascii_lowercase().as_str() {
        "name" => Some(Field::Name),
        "description" => Some(Field::Description),
        "status" => Some(Field::Status),
        "dataset_id" => Some(Field::DatasetId),
        "dataset" => Some(Field::Dataset),
        "family" => Some(Field::Family),
        "created_at" => Some(Field::CreatedAt),
        "finished_at" => Some(Field::FinishedAt),
        "remedy_of" => Some(Field::RemedyOf),
        "outer_of" => Some(Field::OuterOf),
        _ => None,
    };
    if let Some(f) = known {
        return Ok(f);
    }
    if let Some(key) = word.strip_prefix("tags.").filter(|k| !k.is_empty()) {
        return Ok(Field::Tag(key.to_string()));
    }
    if let Some(name) = word.strip_prefix("metrics.") {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        return metric(name).map(Field::Metric).ok_or_else(|| {
            error(
                at,
                word,
                format!("unknown metric; one of {}", names.join(", ")),
            )
        });
    }
    Err(error(at, word, format!("unknown field; one of {FIELDS}")))
}

/// Whether `op` applies to `field` with `value`, and the value checked for its field.
fn check(
    at: usize,
    field: &Field,
    op: Op,
    value: Value,
    shown: &str,
) -> Result<Value, FilterError> {
    let ordered = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    let like = matches!(op, Op::Like | Op::ILike);
    match (field, &value) {
        (Field::Metric(_), Value::Number(_)) if !like => Ok(value),
        (Field::Metric(_), _) => Err(error(
            at,
            shown,
            "a metric compares with a number by =, !=, <, <=, > or >=",
        )),
        (_, Value::Number(_)) => Err(error(at, shown, "a quoted string ('…')")),
        (Field::Status, Value::Text(s)) if JobStatus::parse(s).is_none() || ordered || like => {
            Err(error(
                at,
                shown,
                "status = or != one of 'queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'",
            ))
        }
        (Field::Family, Value::Text(s))
            if !ModelKind::ALL.iter().any(|k| k.name() == s) || ordered || like =>
        {
            Err(error(
                at,
                shown,
                "family = or != one of 'mlp', 'gru', 'lstm', 'fcn', 'resnet1d'",
            ))
        }
        _ => Ok(value),
    }
}

impl JobFilter {
    /// Reads a filter; an empty one holds for every job.
    pub fn parse(src: &str) -> Result<Self, FilterError> {
        if src.chars().count() > MAX_FILTER {
            return Err(error(0, "", format!("at most {MAX_FILTER} characters")));
        }
        let tokens = tokens(src)?;
        let end = src.chars().count();
        let mut clauses = Vec::new();
        let mut it = tokens.into_iter().peekable();
        while let Some((at, token)) = it.next() {
            if !clauses.is_empty() {
                match &token {
                    Token::Word(w) if w.eq_ignore_ascii_case("and") => {}
                    _ => {
                        return Err(error(
                            at,
                            &show(&token),
                            "expected 'and' between clauses (or is not supported)",
                        ));
                    }
                }
                let Some(next) = it.next() else {
                    return Err(error(end, "", "a clause after 'and'"));
                };
                clauses.push(clause(next, &mut it, end)?);
            } else {
                clauses.push(clause((at, token), &mut it, end)?);
            }
        }
        Ok(Self(clauses))
    }
}

fn show(token: &Token) -> String {
    match token {
        Token::Word(w) => w.clone(),
        Token::Text(t) => format!("'{t}'"),
        Token::Number(n) => n.to_string(),
        Token::Op(op) => format!("{op:?}"),
    }
}

fn clause(
    (at, first): (usize, Token),
    it: &mut impl Iterator<Item = (usize, Token)>,
    end: usize,
) -> Result<Clause, FilterError> {
    let Token::Word(word) = &first else {
        return Err(error(
            at,
            &show(&first),
            format!("expected a field: {FIELDS}"),
        ));
    };
    let field = field(at, word)?;
    let (op_at, op) = match it.next() {
        Some((a, Token::Op(op))) => (a, op),
        Some((a, Token::Word(w))) if w.eq_ignore_ascii_case("like") => (a, Op::Like),
        Some((a, Token::Word(w))) if w.eq_ignore_ascii_case("ilike") => (a, Op::ILike),
        Some((a, t)) => {
            return Err(error(
                a,
                &show(&t),
                "expected =, !=, <, <=, >, >=, like or ilike",
            ));
        }
        None => return Err(error(end, "", format!("an operator after '{word}'"))),
    };
    let (value_at, value) = match it.next() {
        Some((a, Token::Text(t))) => (a, Value::Text(t)),
        Some((a, Token::Number(n))) => (a, Value::Number(n)),
        Some((a, t)) => {
            return Err(error(
                a,
                &show(&t),
                "expected a value: a quoted string or a number",
            ));
        }
        None => return Err(error(end.max(op_at), "", "a value after the operator")),
    };
    let shown = match &value {
        Value::Text(t) => format!("'{t}'"),
        Value::Number(n) => n.to_string(),
    };
    let value = check(value_at, &field, op, value, &shown)?;
    Ok(Clause { field, op, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_read_into_fields_operators_and_values() {
        let f = JobFilter::parse(
            "metrics.balanced_accuracy >= 0.9 AND tags.team = 'risk' and name ilike '%it''s%' and family != \"gru\"",
        )
        .unwrap();
        assert_eq!(
            f.0,
            vec![
                Clause {
                    field: Field::Metric(Metric::BalancedAccuracy),
                    op: Op::Ge,
                    value: Value::Number(0.9)
                },
                Clause {
                    field: Field::Tag("team".into()),
                    op: Op::Eq,
                    value: Value::Text("risk".into())
                },
                Clause {
                    field: Field::Name,
                    op: Op::ILike,
                    value: Value::Text("%it's%".into())
                },
                Clause {
                    field: Field::Family,
                    op: Op::Ne,
                    value: Value::Text("gru".into())
                },
            ]
        );
        assert_eq!(JobFilter::parse("  ").unwrap(), JobFilter::default());
    }

    #[test]
    fn a_bad_token_is_named_with_where_it_starts() {
        let cases = [
            ("nme = 'x'", 0, "nme"),
            ("metrics.speed > 1", 0, "metrics.speed"),
            ("status = 'done'", 9, "'done'"),
            ("name = 'a' or name = 'b'", 11, "or"),
            ("metrics.accuracy > 'high'", 19, "'high'"),
            ("name = 3", 7, "3"),
            ("name ~ 'x'", 5, "~"),
            ("name = 'x", 7, "'"),
            ("family = 'cnn'", 9, "'cnn'"),
        ];
        for (src, at, token) in cases {
            let e = JobFilter::parse(src).unwrap_err();
            assert_eq!((e.at, e.token.as_str()), (at, token), "{src}: {e}");
        }
        let e = JobFilter::parse("name =").unwrap_err();
        assert!(e.to_string().contains("a value after the operator"), "{e}");
    }
}
