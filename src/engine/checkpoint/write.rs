//! Writing checkpoint bytes: a run's whole state, or the predicting part with its extras.

use std::collections::HashMap;

use super::format::{FORMAT, serialize};
use crate::engine::EngineError;
use crate::engine::imbalance::calibration::Calibration;
use crate::engine::model::Model;
use crate::engine::train::state::TrainState;

fn tensors_of(prefix: &str, model: &Model, out: &mut Vec<(String, Vec<usize>, Vec<u8>)>) {
    for p in model.params() {
        out.push((
            format!("{prefix}{}", p.name),
            p.shape.clone(),
            bytes(&p.data),
        ));
    }
    for (name, values) in model.buffers() {
        out.push((format!("{prefix}{name}"), vec![values.len()], bytes(values)));
    }
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The bytes of a finished run: its state with the members, calibration and encoding.
pub fn to_bytes(
    state: &TrainState,
    calibration: Option<&Calibration>,
    encoding: Option<&str>,
) -> Result<Vec<u8>, EngineError> {
    let extras = Extras {
        calibration,
        encoding,
        ..Extras::default()
    };
    serialize_state(state, true, &extras)
}

/// What a model's checkpoint carries besides its weights: what predicting needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    pub calibration: Option<&'a Calibration>,
    /// The feature encoding, as JSON.
    pub encoding: Option<&'a str>,
    /// The prior-shift correction predictions get (`imbalance.correct_probabilities`).
    pub prior_correction: Option<&'a [f64]>,
    /// The class names, in the order of the model's outputs.
    pub class_names: Option<&'a [String]>,
    /// A binary model's tuned decision threshold on class 1's probability.
    pub threshold: Option<f64>,
}

/// As `to_bytes`, with everything predicting needs (`Extras`).
pub fn to_bytes_with(state: &TrainState, extras: &Extras<'_>) -> Result<Vec<u8>, EngineError> {
    serialize_state(state, true, extras)
}

/// The bytes to resume from: the state without the finished members of an ensemble (they are
/// stored once each, with `member_bytes`).
pub fn to_resume_bytes(state: &TrainState) -> Result<Vec<u8>, EngineError> {
    serialize_state(state, false, &Extras::default())
}

/// The safetensors bytes, with the finished members' tensors or (`members: false`) only their
/// count, as `members_apart`.
fn serialize_state(
    state: &TrainState,
    members: bool,
    extras: &Extras<'_>,
) -> Result<Vec<u8>, EngineError> {
    let Extras {
        calibration,
        encoding,
        prior_correction,
        class_names,
        threshold,
    } = *extras;
    let mut tensors = Vec::new();
    tensors_of("", &state.model, &mut tensors);
    for (p, buffers) in state.model.params().iter().zip(&state.states) {
        for (name, buf) in &buffers.buffers {
            tensors.push((
                format!("optimizer.{}.{name}", p.name),
                p.shape.clone(),
                bytes(buf),
            ));
        }
    }
    if let Some(best) = &state.best {
        tensors_of("best.", &best.model, &mut tensors);
    }
    if let Some(average) = &state.averaged {
        tensors_of("averaged.", &average.model, &mut tensors);
    }
    if members {
        for (m, member) in state.members.iter().enumerate() {
            tensors_of(&format!("member.{m}."), member, &mut tensors);
        }
    }
    let json = |v: &dyn erased::Json| v.json();
    let rng = &state.rng;
    let mut meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), state.model.kind().to_owned()),
        ("spec".to_owned(), json(&state.spec)),
        ("inputs".to_owned(), state.model.inputs().to_string()),
        ("classes".to_owned(), state.model.outputs().to_string()),
        ("epochs_done".to_owned(), state.epochs_done.to_string()),
        (
            "optimizer_step".to_owned(),
            state.optimizer.step.to_string(),
        ),
        ("rng_seed".to_owned(), hex::encode(rng.get_seed())),
        ("rng_stream".to_owned(), rng.get_stream().to_string()),
        ("rng_word_pos".to_owned(), rng.get_word_pos().to_string()),
        ("history".to_owned(), json(&state.history)),
        ("waited".to_owned(), state.waited.to_string()),
    ]);
    if let Some(average) = &state.averaged {
        meta.insert("averaged_epochs".into(), average.epochs.to_string());
    }
    if let Some(best) = &state.best {
        meta.insert("best_epoch".into(), best.epoch.to_string());
        meta.insert("best_value".into(), format!("{:e}", best.value));
    }
    if let Some(e) = encoding {
        meta.insert("encoding".into(), e.to_owned());
    }
    if let Some(c) = prior_correction {
        meta.insert("prior_correction".into(), json(&c.to_vec()));
    }
    if let Some(names) = class_names {
        meta.insert("class_names".into(), json(&names.to_vec()));
    }
    if let Some(t) = threshold {
        // Rust prints the shortest string that parses back to the same f64.
        meta.insert("decision_threshold".into(), t.to_string());
    }
    if let Some(first) = state.members.first() {
        meta.insert("members".into(), state.members.len().to_string());
        meta.insert("member_classes".into(), first.outputs().to_string());
        if !members {
            meta.insert("members_apart".into(), state.members.len().to_string());
        }
    }
    if !state.member_best_epochs.is_empty() {
        meta.insert("member_best_epochs".into(), json(&state.member_best_epochs));
    }
    if let Some(r) = &state.rate_range {
        meta.insert("rate_range".into(), json(r));
    }
    if state.epoch_offset > 0 {
        meta.insert("epoch_offset".into(), state.epoch_offset.to_string());
    }
    if let Some(c) = calibration {
        meta.insert("one_class".into(), json(c));
    }
    serialize(&tensors, meta)
}

/// One finished ensemble member alone, for `from_resume_bytes`.
pub fn member_bytes(member: &Model) -> Result<Vec<u8>, EngineError> {
    let mut tensors = Vec::new();
    tensors_of("", member, &mut tensors);
    let meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), member.kind().to_owned()),
        ("classes".to_owned(), member.outputs().to_string()),
    ]);
    serialize(&tensors, meta)
}

/// JSON for metadata values (the types here always serialize).
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("checkpoint metadata serializes")
        }
    }
}
