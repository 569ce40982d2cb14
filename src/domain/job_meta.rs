//! What a user calls a job, apart from what it trains: its `name`, `description` and `tags`
//! (key/value). Given at submit beside the spec's fields and editable later
//! (`PATCH /v1/jobs/{id}`), so they are kept out of the spec, which never changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::spec::SpecError;

/// The longest name, in characters.
pub const MAX_NAME: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION: usize = 4000;
/// Tags a job may carry.
pub const MAX_TAGS: usize = 50;
/// The longest tag key, in characters (letters, digits, `_`, `-`, `.`).
pub const MAX_TAG_KEY: usize = 100;
/// The longest tag value, in characters.
pub const MAX_TAG_VALUE: usize = 500;

/// A job's name, description and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The fields of a `PATCH`: each absent one stays as it is; `null` clears a name or description;
/// `tags` replaces them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaPatch {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub tags: Option<BTreeMap<String, String>>,
}

impl MetaPatch {
    /// Reads a `PATCH` body: an object of only `name`, `description` and `tags`.
    pub fn from_json(body: serde_json::Value) -> Result<Self, Vec<SpecError>> {
        let serde_json::Value::Object(mut fields) = body else {
            return Err(vec![SpecError::new("", "a JSON object")]);
        };
        let mut errors = Vec::new();
        let patch = MetaPatch {
            name: fields
                .remove("name")
                .map(|v| text(v, "name", MAX_NAME, &mut errors)),
            description: fields
                .remove("description")
                .map(|v| text(v, "description", MAX_DESCRIPTION, &mut errors)),
            tags: fields.remove("tags").map(|v| tags(v, &mut errors)),
        };
        for unknown in fields.keys() {
            errors.push(SpecError::new(
                unknown,
                "unknown field: name, description and tags can be changed",
            ));
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// `meta` with this patch applied.
    pub fn apply(self, mut meta: JobMeta) -> JobMeta {
        if let Some(name) = self.name {
            meta.name = name;
        }
        if let Some(description) = self.description {
            meta.description = description;
        }
        if let Some(tags) = self.tags {
            meta.tags = tags;
        }
        meta
    }
}

impl JobMeta {
    /// Takes `name`, `description` and `tags` out of a submitted body (the rest is the spec),
    /// checking each.
    pub fn take_from(body: &mut serde_json::Value) -> Result<Self, Vec<SpecError>> {
        let serde_json::Value::Object(fields) = body else {
            return Ok(Self::default());
        };
        let mut patch = serde_json::Map::new();
        for key in ["name", "description", "tags"] {
            if let Some(v) = fields.remove(key) {
                patch.insert(key.to_string(), v);
            }
        }
        let patch = MetaPatch::from_json(serde_json::Value::Object(patch))?;
        Ok(patch.apply(Self::default()))
    }
}

/// A string of at most `max` characters, or `null`.
fn text(
    value: serde_json::Value,
    field: &str,
    max: usize,
    errors: &mut Vec<SpecError>,
) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.chars().count() > max => {
            errors.push(SpecError::new(field, format!("at most {max} characters")));
            None
        }
        serde_json::Value::String(s) if s.trim().is_empty() => {
            errors.push(SpecError::new(field, "empty: give text, or null for none"));
            None
        }
        serde_json::Value::String(s) => Some(s),
        _ => {
            errors.push(SpecError::new(field, "a string or null"));
            None
        }
    }
}

/// An object of string values, each key of letters, digits, `_`, `-` and `.`.
fn tags(value: serde_json::Value, errors: &mut Vec<SpecError>) -> BTreeMap<String, String> {
    let serde_json::Value::Object(map) = value else {
        errors.push(SpecError::new("tags", "an object of string values"));
        return BTreeMap::new();
    };
    if map.len() > MAX_TAGS {
        errors.push(SpecError::new("tags", format!("at most {MAX_TAGS} tags")));
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let field = format!("tags.{key}");
        let key_ok = !key.is_empty()
            && key.chars().count() <= MAX_TAG_KEY
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !key_ok {
            errors.push(SpecError::new(
                &field,
                format!("a key of 1 to {MAX_TAG_KEY} letters, digits, '_', '-' or '.'"),
            ));
            continue;
        }
        match value {
            serde_json::Value::String(v) if v.chars().count() <= MAX_TAG_VALUE => {
                out.insert(key, v);
            }
            serde_json::Value::String(_) => errors.push(SpecError::new(
                &field,
                format!("at most {MAX_TAG_VALUE} characters"),
            )),
            _ => errors.push(SpecError::new(&field, "a string")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_submitted_body_gives_up_its_meta_and_keeps_the_spec() {
        let mut body = json!({"dataset_id": "d", "name": "baseline", "tags": {"team": "risk"}});
        let meta = JobMeta::take_from(&mut body).unwrap();
        assert_eq!(meta.name.as_deref(), Some("baseline"));
        assert_eq!(meta.tags["team"], "risk");
        assert_eq!(body, json!({"dataset_id": "d"}));
    }

    #[test]
    fn every_bad_field_is_named() {
        let long = "x".repeat(MAX_NAME + 1);
        let body =
            json!({"name": long, "description": 3, "tags": {"a b": "x", "ok": 1}, "spec": {}});
        let errors = MetaPatch::from_json(body).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "description", "tags.a b", "tags.ok", "spec"]
        );
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let meta = JobMeta {
            name: Some("a".into()),
            description: Some("d".into()),
            tags: BTreeMap::from([("k".into(), "v".into())]),
        };
        let patch = MetaPatch::from_json(json!({"name": null, "tags": {}})).unwrap();
        let after = patch.apply(meta);
        assert_eq!(after.name, None);
        assert_eq!(after.description.as_deref(), Some("d"));
        assert!(after.tags.is_empty());
    }
}
