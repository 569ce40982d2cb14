//! The `model` field of a job: one model, or a list of variants compared on the same folds.

use serde::{Deserialize, Serialize};

use super::spec::ModelSpec;

/// `"model": {…}` or `"model": [{…}, {…}]`: one model, or variants to compare on the same
/// folds (deserialized by hand so a field's error keeps its path, `model[1].hidden_layers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ModelChoice {
    One(ModelSpec),
    Many(Vec<ModelSpec>),
}

impl Default for ModelChoice {
    fn default() -> Self {
        ModelChoice::One(ModelSpec::default())
    }
}

impl<'de> Deserialize<'de> for ModelChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Choice;
        impl<'de> serde::de::Visitor<'de> for Choice {
            type Value = ModelChoice;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a model object, or a list of them")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ModelChoice, A::Error> {
                ModelSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ModelChoice::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ModelChoice, A::Error> {
                let mut list = Vec::new();
                while let Some(m) = seq.next_element::<ModelSpec>()? {
                    list.push(m);
                }
                Ok(ModelChoice::Many(list))
            }
        }
        d.deserialize_any(Choice)
    }
}

impl ModelChoice {
    /// The models, in the order given.
    pub fn list(&self) -> Vec<&ModelSpec> {
        match self {
            ModelChoice::One(m) => vec![m],
            ModelChoice::Many(v) => v.iter().collect(),
        }
    }

    /// Whether this is a comparison (a list), which gets a leaderboard.
    pub fn is_comparison(&self) -> bool {
        matches!(self, ModelChoice::Many(_))
    }

    /// Variant `i` (the first when out of range).
    pub fn variant(&self, i: usize) -> &ModelSpec {
        let list = self.list();
        list.get(i).copied().unwrap_or(list[0])
    }

    /// Mutable access to variant `i`, for remedies.
    pub fn variant_mut(&mut self, i: usize) -> Option<&mut ModelSpec> {
        match self {
            ModelChoice::One(m) => (i == 0).then_some(m),
            ModelChoice::Many(v) => v.get_mut(i),
        }
    }
}
