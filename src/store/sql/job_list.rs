//! The jobs list's filter and order as SQL: every value bound, never written into the text;
//! column names only from the fixed ones below. The page is chosen first (sequence numbers
//! only, through the indexes on `jobs`, `job_tags` and `job_scores`), then only its jobs are
//! shown, so a page of 10,000 filtered jobs costs its 50 views, not 10,000.

use crate::domain::job_filter::{Clause, Field, JobOrder, JobQuery, Op, OrderKey, Value};

/// A value to bind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Real(f64),
    Int(i64),
}

/// SQL text with its binds, numbered as they are pushed.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    /// Binds `value`, returning its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn text(&mut self, value: &str) -> String {
        self.bind(Bind::Text(value.to_string()))
    }
}

/// The page of `query`: a subquery of `seq` and `pos` (the jobs' places in order), `limit` jobs
/// after `cursor` (a sequence number in the default order, else the jobs already shown).
pub(crate) fn page(query: &JobQuery, limit: u32, cursor: Option<i64>) -> Sql {
    let mut sql = Sql::default();
    let order = order_by(&query.order);
    let mut wheres: Vec<String> = query.filter.0.iter().map(|c| clause(&mut sql, c)).collect();
    let keyset = query.order.key == OrderKey::CreatedAt;
    if keyset && let Some(seq) = cursor {
        let cmp = if query.order.descending { "<" } else { ">" };
        let mark = sql.bind(Bind::Int(seq));
        wheres.push(format!("j.seq {cmp} {mark}"));
    }
    let join = match query.order.key {
        OrderKey::Metric(m) => {
            let mark = sql.text(m.name());
            format!(" LEFT JOIN job_scores sc ON sc.job_id = j.id AND sc.metric = {mark}")
        }
        _ => String::new(),
    };
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", wheres.join(" AND "))
    };
    let limit_mark = sql.bind(Bind::Int(i64::from(limit) + 1));
    let offset = if keyset { 0 } else { cursor.unwrap_or(0) };
    let offset_mark = sql.bind(Bind::Int(offset));
    sql.text = format!(
        "SELECT j.seq, ROW_NUMBER() OVER (ORDER BY {order}) AS pos FROM jobs j{join}{filter}
         ORDER BY {order} LIMIT {limit_mark} OFFSET {offset_mark}"
    );
    sql
}

fn order_by(order: &JobOrder) -> String {
    let dir = if order.descending { "DESC" } else { "ASC" };
    match order.key {
        OrderKey::CreatedAt => format!("j.seq {dir}"),
        // Names sort as people read them, whatever their case.
        OrderKey::Name => format!("j.name IS NULL, LOWER(j.name) {dir}, j.name {dir}, j.seq DESC"),
        OrderKey::Status => format!("j.status {dir}, j.seq DESC"),
        OrderKey::Metric(_) => format!("sc.mean IS NULL, sc.mean {dir}, j.seq DESC"),
    }
}

/// The column a text field compares, on `jobs j`.
fn column(field: &Field) -> Option<&'static str> {
    Some(match field {
        Field::Name => "j.name",
        Field::Description => "j.description",
        Field::Status => "j.status",
        Field::DatasetId => "j.dataset_id",
        Field::CreatedAt => "j.created_at",
        Field::FinishedAt => "j.finished_at",
        Field::RemedyOf => "j.remedy_of",
        Field::OuterOf => "j.outer_of",
        Field::Dataset | Field::Family | Field::Tag(_) | Field::Metric(_) => return None,
    })
}

fn clause(sql: &mut Sql, c: &Clause) -> String {
    match (&c.field, &c.value) {
        (Field::Family, Value::Text(kind)) => {
            let not = if c.op == Op::Ne { "NOT " } else { "" };
            let mark = sql.text(&format!("%,{kind},%"));
            format!("j.families {not}LIKE {mark}")
        }
        (Field::Metric(m), Value::Number(x)) => {
            let metric = sql.text(m.name());
            let value = sql.bind(Bind::Real(*x));
            format!(
                "EXISTS (SELECT 1 FROM job_scores s WHERE s.job_id = j.id AND s.metric = {metric}
                 AND s.mean {} {value})",
                symbol(c.op)
            )
        }
        (Field::Tag(key), Value::Text(v)) => {
            let key = sql.text(key);
            let test = compare(sql, "t.value", c.op, v);
            format!(
                "EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id AND t.key = {key} AND {test})"
            )
        }
        (Field::Dataset, Value::Text(v)) => {
            let test = compare(sql, "d.name", c.op, v);
            format!("EXISTS (SELECT 1 FROM datasets d WHERE d.id = j.dataset_id AND {test})")
        }
        (field, Value::Text(v)) => {
            let col = column(field).expect("every other field is a column of jobs");
            compare(sql, col, c.op, v)
        }
        // The filter's reader pairs numbers with metrics only.
        (_, Value::Number(_)) => "FALSE".to_string(),
    }
}

/// `col op value` for text: `like` is case-sensitive on both backends (SQLite's own `LIKE`
/// ignores case, so there it is a `GLOB` of the same pattern), `ilike` ignores ASCII case.
fn compare(sql: &mut Sql, col: &str, op: Op, value: &str) -> String {
    match op {
        Op::Like if super::super::LIKE_IGNORES_CASE => {
            let mark = sql.text(&glob(value));
            format!("{col} GLOB {mark}")
        }
        Op::ILike => {
            let mark = sql.text(value);
            format!("LOWER({col}) LIKE LOWER({mark})")
        }
        op => {
            let mark = sql.text(value);
            format!("{col} {} {mark}", symbol(op))
        }
    }
}

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Like | Op::ILike => "LIKE",
    }
}

/// A `LIKE` pattern as a `GLOB` one: `%` → `*`, `_` → `?`, GLOB's own specials taken literally.
pub(crate) fn glob(like: &str) -> String {
    like.chars()
        .map(|c| match c {
            '%' => "*".to_string(),
            '_' => "?".to_string(),
            '*' => "[*]".to_string(),
            '?' => "[?]".to_string(),
            '[' => "[[]".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job_filter::JobFilter;

    #[test]
    fn like_patterns_become_globs_that_take_glob_characters_literally() {
        assert_eq!(glob("%a_b*[c]?%"), "*a?b[*][[]c][?]*");
    }

    #[test]
    fn values_are_bound_never_written_into_the_text() {
        let filter =
            JobFilter::parse("name = 'x''; DROP TABLE jobs; --' and tags.k = 'v'").unwrap();
        let query = JobQuery {
            filter,
            order: JobOrder::default(),
        };
        let sql = page(&query, 10, Some(5));
        assert!(!sql.text.contains("DROP"), "{}", sql.text);
        assert_eq!(sql.binds[0], Bind::Text("x'; DROP TABLE jobs; --".into()));
        assert!(sql.text.contains("j.seq < $4"), "{}", sql.text);
    }
}
