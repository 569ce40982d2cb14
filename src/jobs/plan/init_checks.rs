//! The checks of a fine-tuning job (`init`) against its source model: the same architecture,
//! the same feature columns (the source's encoding is reused), and layers that exist to freeze.

use crate::domain::dataset::{ColumnRole, ColumnType, DatasetKind, DatasetSummary};
use crate::domain::job::JobSpec;
use crate::domain::spec::{ModelSpec, SpecError};
use crate::engine::data::encode::{Encoding, FeatureEncoding};

fn architecture(m: &ModelSpec) -> String {
    m.architecture()
}

/// Every mismatch between `spec` (on dataset `ds`) and its source model (`source` spec, its
/// `encoding` and its layer count).
pub fn check_init(
    spec: &JobSpec,
    ds: &DatasetSummary,
    source: &ModelSpec,
    encoding: &Encoding,
    layers: usize,
) -> Vec<SpecError> {
    let mut errors = Vec::new();
    for i in 0..spec.variant_count() {
        let m = &spec.variant_model(i);
        if architecture(m) != architecture(source) {
            let field = spec.variant_field(i, "");
            errors.push(SpecError::new(
                field,
                format!(
                    "the init model is {}; this one is {}: fine-tuning needs the same architecture",
                    architecture(source),
                    architecture(m)
                ),
            ));
        }
    }
    let freeze = spec.init.as_ref().map_or(0, |i| i.freeze_layers);
    if freeze >= layers as u64 {
        errors.push(SpecError::new(
            "init.freeze_layers",
            format!(
                "the init model has {} layers before its output layer; freeze at most that many",
                layers.saturating_sub(1)
            ),
        ));
    }
    match (&encoding.sequence, ds.kind) {
        (Some(scaling), DatasetKind::Sequence) => {
            let channels = ds.sequence.map_or(0, |s| s.channels) as usize;
            if channels != scaling.channels {
                errors.push(SpecError::new(
                    "init",
                    format!(
                        "the init model reads {} channels; dataset {} has {channels}",
                        scaling.channels, ds.id
                    ),
                ));
            }
        }
        (None, DatasetKind::Table) => {
            for f in &encoding.features {
                let want = match f {
                    FeatureEncoding::Numeric { .. } => ColumnType::Numeric,
                    FeatureEncoding::Categorical { .. } => ColumnType::Categorical,
                };
                match ds.columns.iter().find(|c| c.name == f.name()) {
                    None => errors.push(SpecError::new(
                        "init",
                        format!(
                            "column {:?}, which the init model reads, is not in dataset {}",
                            f.name(),
                            ds.id
                        ),
                    )),
                    Some(c) if c.role != ColumnRole::Feature || c.column_type != want => {
                        errors.push(SpecError::new(
                            "init",
                            format!(
                                "column {:?} is a {} {} in dataset {}; the init model reads a {} feature",
                                c.name,
                                c.column_type.as_str(),
                                if c.role == ColumnRole::Label { "label" } else { "column" },
                                ds.id,
                                want.as_str()
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            for c in ds.columns.iter().filter(|c| c.role == ColumnRole::Feature) {
                if encoding.is_numeric(&c.name).is_none() {
                    errors.push(SpecError::new(
                        "init",
                        format!(
                            "column {:?} of dataset {} is not one the init model reads",
                            c.name, ds.id
                        ),
                    ));
                }
            }
        }
        _ => errors.push(SpecError::new(
            "init",
            "the init model was trained on another kind of dataset (sequences against a table)",
        )),
    }
    errors
}
