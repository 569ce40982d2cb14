//! Object ids: opaque strings with a readable prefix (`ds_…`), time-ordered (UUIDv7).

/// A new id with the given prefix, e.g. `new_id("ds")` → `ds_01936f…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The current time as an RFC 3339 UTC string with millisecond precision.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("UTC times always format as RFC 3339")
}

/// Milliseconds since the Unix epoch, for lease and retry times (which must compare as numbers).
pub fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_are_unique() {
        let a = new_id("ds");
        let b = new_id("ds");
        assert!(a.starts_with("ds_") && a.len() == 35, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).unwrap();
    }
}
