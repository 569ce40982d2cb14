//! A stored predictor as one ONNX model: the raw feature columns in, the encoding, every
//! model's network (an ensemble's members and a job's fold models averaged), a one-class
//! calibration, the prior correction and the decision threshold inside the graph; the class
//! probabilities and the class name out.

pub mod features;

use prost::Message;

use crate::engine::data::encode::Encoding;
use crate::engine::imbalance::calibration::{Calibration, ERROR_FLOOR};
use crate::engine::onnx::graph::{self, Attr, Dim, Graph};
use crate::engine::onnx::proto::{
    FLOAT, ModelProto, OperatorSetIdProto, STRING, StringStringEntryProto,
};
use crate::engine::onnx::{ExportError, Feed, IR_VERSION, LABEL, ML_OPSET, OPSET, PROBABILITIES};
use crate::engine::predict::Predictor;

/// What one exported model holds.
pub struct Export<'a> {
    /// The predictors whose probabilities are averaged (one run's, or each fold's), each with
    /// the encoding fitted on its training rows (a job's runs share the columns).
    pub predictors: &'a [(Predictor, Encoding)],
    /// The class names, in class order.
    pub classes: &'a [String],
    /// Class 1 is the label where its probability reaches this (two classes only).
    pub threshold: Option<f64>,
    /// Key-value metadata (job, runs, version…).
    pub metadata: Vec<(String, String)>,
    /// Sequence models: the steps recurrent layers are unrolled over (`Feed::unroll`).
    pub unroll: Option<usize>,
}

/// The ONNX model's bytes.
pub fn to_onnx(e: &Export<'_>) -> Result<Vec<u8>, ExportError> {
    let Some((_, first)) = e.predictors.first() else {
        return Err(ExportError::Empty);
    };
    if let Some(clash) = (first.names()).find(|n| *n == PROBABILITIES || *n == LABEL) {
        return Err(ExportError::NameClash(clash.into()));
    }
    if e.unroll.is_some() && first.sequence.is_none() {
        return Err(ExportError::StepsOnTable);
    }
    let mut g = Graph::default();
    features::declare(&mut g, first, e.unroll);
    let each = (e.predictors.iter())
        .map(|(p, encoding)| {
            let (x, lengths) = features::encoded(&mut g, encoding);
            let feed = Feed {
                x: &x,
                lengths: lengths.as_deref(),
                unroll: e.unroll,
            };
            probabilities(&mut g, p, feed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proba = mean(&mut g, &each);
    g.rename(&proba, PROBABILITIES);
    let classes = e.classes.len();
    g.output(PROBABILITIES, FLOAT, &[Dim::Batch, Dim::Fixed(classes)]);
    let label = decide(&mut g, PROBABILITIES, e.classes, e.threshold);
    g.rename(&label, LABEL);
    g.output(LABEL, STRING, &[Dim::Batch]);
    Ok(model(g, &e.metadata).encode_to_vec())
}

fn model(g: Graph, metadata: &[(String, String)]) -> ModelProto {
    let opset = |domain: &str, version| OperatorSetIdProto {
        domain: domain.into(),
        version,
    };
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![opset("", OPSET), opset(graph::ML, ML_OPSET)],
        producer_name: "crossfold".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(g.build("crossfold")),
        metadata_props: (metadata.iter())
            .map(|(key, value)| StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

/// One predictor's class probabilities (batch × classes), as `Predictor::proba` gives them.
fn probabilities(g: &mut Graph, p: &Predictor, feed: Feed<'_>) -> Result<String, ExportError> {
    if let Some(cal) = p.calibration() {
        let recon = p.model().onnx(g, feed)?;
        return Ok(calibrated(g, &recon, feed.x, cal));
    }
    let each = (p.networks())
        .map(|m| {
            let logits = m.onnx(g, feed)?;
            Ok(g.op("Softmax", &[&logits], vec![("axis", Attr::Int(1))]))
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    let proba = mean(g, &each);
    let Some(correction) = p.prior_correction() else {
        return Ok(proba);
    };
    let c = correction.iter().map(|&c| c as f32).collect();
    let c = g.floats("prior_correction", &[correction.len()], c);
    let scaled = g.op("Mul", &[&proba, &c], vec![]);
    // Since opset 13 `ReduceSum` takes its axes as an input.
    let axes = g.ints("axes", &[1], vec![1]);
    let keep = vec![("keepdims", Attr::Int(1))];
    let sum = g.op("ReduceSum", &[&scaled, &axes], keep);
    Ok(g.op("Div", &[&scaled, &sum], vec![]))
}

/// An autoencoder's reconstruction error (the mean squared error over the inputs) as class
/// probabilities: `P(minority) = σ(slope · ln(max(error, floor)) + intercept)`.
fn calibrated(g: &mut Graph, recon: &str, x: &str, cal: Calibration) -> String {
    let diff = g.op("Sub", &[recon, x], vec![]);
    let sq = g.op("Mul", &[&diff, &diff], vec![]);
    let error = g.op(
        "ReduceMean",
        &[&sq],
        vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
    );
    let floor = g.scalar("error_floor", ERROR_FLOOR as f32);
    let error = g.op("Max", &[&error, &floor], vec![]);
    let log = g.op("Log", &[&error], vec![]);
    let slope = g.scalar("slope", cal.slope as f32);
    let intercept = g.scalar("intercept", cal.intercept as f32);
    let z = g.op("Mul", &[&log, &slope], vec![]);
    let z = g.op("Add", &[&z, &intercept], vec![]);
    let minority = g.op("Sigmoid", &[&z], vec![]);
    let one = g.scalar("one", 1.0);
    let majority = g.op("Sub", &[&one, &minority], vec![]);
    let zero = g.scalar("zero", 0.0);
    let none = g.op("Mul", &[&minority, &zero], vec![]);
    let columns: Vec<&str> = (0..cal.classes)
        .map(|c| match c {
            c if c == cal.minority => minority.as_str(),
            c if c == cal.majority => majority.as_str(),
            _ => none.as_str(),
        })
        .collect();
    g.op("Concat", &columns, vec![("axis", Attr::Int(1))])
}

/// The element-wise mean of `parts` (the part itself when there is one).
fn mean(g: &mut Graph, parts: &[String]) -> String {
    match parts {
        [one] => one.clone(),
        _ => {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            g.op("Mean", &parts, vec![])
        }
    }
}

/// Each row's class name: class 1 where its probability reaches `threshold`, else the most
/// probable class (the first of ties, as `ArgMax` takes it).
fn decide(g: &mut Graph, proba: &str, classes: &[String], threshold: Option<f64>) -> String {
    let index = match threshold.filter(|_| classes.len() == 2) {
        Some(t) => {
            let one = g.ints("class_one", &[], vec![1]);
            let p1 = g.op("Gather", &[proba, &one], vec![("axis", Attr::Int(1))]);
            let t = g.scalar("threshold", t as f32);
            let reached = g.op("GreaterOrEqual", &[&p1, &t], vec![]);
            // `Where` rather than a cast: tract types an int64 `Cast` as a shape dimension.
            let zero = g.ints("class_zero", &[], vec![0]);
            g.op("Where", &[&reached, &one, &zero], vec![])
        }
        None => g.op(
            "ArgMax",
            &[proba],
            vec![("axis", Attr::Int(1)), ("keepdims", Attr::Int(0))],
        ),
    };
    let n = classes.len() as i64;
    g.op_ml(
        "CategoryMapper",
        &[&index],
        vec![
            ("cats_int64s", Attr::Ints((0..n).collect())),
            ("cats_strings", Attr::Strs(classes.to_vec())),
            ("default_string", Attr::Str(String::new())),
        ],
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::domain::spec::ModelSpec;
    use crate::engine::data::encode::FeatureEncoding;
    use crate::engine::model::Model;
    use crate::engine::model::table::TableNet;
    use crate::engine::onnx::proto::TypeProto;

    fn encoding(numeric: &str) -> Encoding {
        Encoding {
            features: vec![
                FeatureEncoding::Numeric {
                    name: numeric.into(),
                    mean: 1.0,
                    std: 2.0,
                },
                FeatureEncoding::Categorical {
                    name: "colour".into(),
                    categories: vec!["red".into(), "blue".into()],
                },
            ],
            sequence: None,
        }
    }

    fn predictor() -> Predictor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let net = TableNet::classifier(&ModelSpec::default(), 3, 2, &mut rng);
        Predictor::new(Model::new(Box::new(net)), Vec::new(), None)
    }

    fn export(predictors: &[(Predictor, Encoding)]) -> Result<Vec<u8>, ExportError> {
        to_onnx(&Export {
            predictors,
            classes: &["no".into(), "yes".into()],
            threshold: None,
            metadata: vec![("job".into(), "j".into())],
            unroll: None,
        })
    }

    fn elem(t: &Option<TypeProto>) -> i32 {
        t.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type
    }

    #[test]
    fn inputs_are_the_raw_columns_and_outputs_the_probabilities_and_label() {
        let bytes = export(&[(predictor(), encoding("x"))]).unwrap();
        let model = ModelProto::decode(&bytes[..]).unwrap();
        let graph = model.graph.unwrap();
        let inputs: Vec<(&str, i32)> = (graph.input.iter())
            .map(|i| (i.name.as_str(), elem(&i.r#type)))
            .collect();
        assert_eq!(inputs, [("x", FLOAT), ("colour", STRING)]);
        let outputs: Vec<(&str, i32)> = (graph.output.iter())
            .map(|o| (o.name.as_str(), elem(&o.r#type)))
            .collect();
        assert_eq!(outputs, [(PROBABILITIES, FLOAT), (LABEL, STRING)]);
        assert_eq!(
            (model.ir_version, model.metadata_props[0].value.as_str()),
            (8, "j")
        );
    }

    #[test]
    fn a_column_named_as_an_output_or_no_models_is_refused() {
        let clash = export(&[(predictor(), encoding("label"))]);
        assert_eq!(clash, Err(ExportError::NameClash("label".into())));
        assert_eq!(export(&[]), Err(ExportError::Empty));
    }
}
