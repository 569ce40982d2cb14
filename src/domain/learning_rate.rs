//! `optimizer.learning_rate`: a number, or `"auto"` — a learning-rate range test on each run's
//! own training rows chooses it before the run trains (`engine::train::rate_range`), so no
//! fold's held-out rows ever inform its rate.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LearningRate {
    Fixed(f64),
    /// Chosen by the range test when the run starts (the engine trains only fixed rates).
    Auto,
}

impl LearningRate {
    /// The rate, unless it is still to be chosen.
    pub fn fixed(self) -> Option<f64> {
        match self {
            LearningRate::Fixed(r) => Some(r),
            LearningRate::Auto => None,
        }
    }
}

impl From<f64> for LearningRate {
    fn from(r: f64) -> Self {
        LearningRate::Fixed(r)
    }
}

impl Serialize for LearningRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LearningRate::Fixed(r) => s.serialize_f64(*r),
            LearningRate::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for LearningRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RateVisitor)
    }
}

struct RateVisitor;

impl Visitor<'_> for RateVisitor {
    type Value = LearningRate;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, or \"auto\" (a learning-rate range test chooses it)")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LearningRate, E> {
        Ok(LearningRate::Fixed(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LearningRate, E> {
        Ok(LearningRate::Fixed(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LearningRate, E> {
        Ok(LearningRate::Fixed(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LearningRate, E> {
        match v {
            "auto" => Ok(LearningRate::Auto),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

/// A learning-rate range test's curve and the rate it chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRange {
    /// How the rate was read off the curve: `valley_minimum`, the geometric mean of fastai's
    /// `valley` and `minimum` suggestions.
    pub rule: String,
    pub chosen: f64,
    /// One point per step, until the smoothed loss passed its stop factor × its best.
    pub points: Vec<RangePoint>,
}

/// One step of a range test: its rate, the batch's loss and the smoothed loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangePoint {
    pub learning_rate: f64,
    pub loss: f64,
    pub smoothed_loss: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_reads_as_a_number_or_auto_and_writes_back_the_same() {
        for (text, rate) in [
            ("0.003", LearningRate::Fixed(0.003)),
            ("1", LearningRate::Fixed(1.0)),
            ("\"auto\"", LearningRate::Auto),
        ] {
            let read: LearningRate = serde_json::from_str(text).unwrap();
            assert_eq!(read, rate);
            let again: LearningRate =
                serde_json::from_str(&serde_json::to_string(&read).unwrap()).unwrap();
            assert_eq!(again, rate);
        }
        let err = serde_json::from_str::<LearningRate>("\"fast\"").unwrap_err();
        assert!(err.to_string().contains("\"auto\""), "{err}");
    }
}
