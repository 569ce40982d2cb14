//! The estimate's terms, counted by hand.

use super::*;
use crate::domain::spec::ModelKind;

fn inputs(spec: &TrainingSpec) -> MemoryInputs<'_> {
    MemoryInputs {
        spec,
        inputs: 10,
        classes: 2,
        dataset_rows: 100,
        dataset_columns: 11,
        train_rows: 80,
        holdout_rows: 20,
        members: 1,
        reconstruct: false,
        concurrent_runs: 1,
        sequence: None,
        sequence_values: 0,
        pretrain: None,
        test: None,
    }
}

#[test]
fn parameters_are_counted_as_the_model_builds_them() {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![4, 3];
    // 10·4+4 + 4·3+3 + 3·2+2
    let w = widths(&spec.model, 10, 2, false);
    assert_eq!(parameters(&spec.model, &w), 44 + 15 + 8);
    spec.model.batch_norm = true;
    spec.model.residual = true;
    // + batch norm 4·(4+3) + projections 10·4 + 4·3 (hidden layers only)
    assert_eq!(parameters(&spec.model, &w), 67 + 28 + 52);
}

#[test]
fn a_grus_parameters_are_counted_as_pytorch_counts_them() {
    let mut spec = TrainingSpec::default();
    spec.model.kind = ModelKind::Gru;
    spec.model.hidden_size = 64;
    spec.model.attention = AttentionKind::Additive;
    // nn.GRU(1, 64): 3·64·(1 + 64 + 2) = 12,864; W_s, W_h 2·64², v 64; Linear(128, 2) 258.
    assert_eq!(
        recurrent_parameters(&spec.model, 1, 2),
        12_864 + 8_192 + 64 + 258
    );
    spec.model.attention = AttentionKind::None;
    assert_eq!(recurrent_parameters(&spec.model, 1, 2), 12_864 + 130);
    // nn.GRU(3, 8, num_layers=2, bidirectional=True): 2·24·(3+8+2) + 2·24·(16+8+2);
    // Linear(16, 4) 68.
    spec.model.hidden_size = 8;
    spec.model.layers = 2;
    spec.model.bidirectional = true;
    assert_eq!(recurrent_parameters(&spec.model, 3, 4), 624 + 1_248 + 68);
    // nn.LSTM(3, 8, num_layers=2, bidirectional=True): 2,496 (four gates to the GRU's three).
    spec.model.kind = ModelKind::Lstm;
    assert_eq!(recurrent_parameters(&spec.model, 3, 4), 2_496 + 68);
}

#[test]
fn sixty_four_layers_of_4096_are_far_beyond_a_machine() {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![4096; 64];
    let e = estimate(&inputs(&spec));
    assert!(e.bytes > 64 << 30, "{}", e.bytes);
    assert!(e.biggest().name.starts_with("model"));
}

#[test]
fn concurrent_runs_and_members_multiply_what_one_run_needs() {
    let spec = TrainingSpec::default();
    let one = estimate(&inputs(&spec));
    let mut two = inputs(&spec);
    two.concurrent_runs = 2;
    let two = estimate(&two);
    assert_eq!(two.bytes - BASE, 2 * (one.bytes - BASE));
    let mut ensemble = inputs(&spec);
    ensemble.members = 10;
    assert!(estimate(&ensemble).per_run_bytes > one.per_run_bytes);
}

#[test]
fn many_short_sequences_cost_their_rows_bookkeeping() {
    // 10⁷ one-step sequences of one channel, two classes, 2 folds.
    let mut spec = TrainingSpec::default();
    spec.model.kind = ModelKind::Gru;
    let m = MemoryInputs {
        inputs: 2,
        dataset_rows: 10_000_000,
        dataset_columns: 1,
        train_rows: 10_000_000,
        holdout_rows: 5_000_000,
        sequence: Some((1, 1)),
        sequence_values: 10_000_000,
        ..inputs(&spec)
    };
    let e = estimate(&m);
    let term = |name: &str| {
        e.terms
            .iter()
            .find(|t| t.name.starts_with(name))
            .unwrap()
            .bytes
    };
    // By hand: 32 bytes a row; (2 classes × 16 + 16) bytes a held-out row.
    assert_eq!(term("rows'"), 10_000_000 * 32 + 5_000_000 * 48);
    // The label (4 bytes a row) and the values (4 bytes a step).
    assert_eq!(term("dataset"), 10_000_000 * 4 + 10_000_000 * 4);
}

#[test]
fn pretraining_counts_each_layers_input_copy_and_output_over_its_rows() {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![1024, 8];
    let m = MemoryInputs {
        inputs: 30,
        pretrain: Some(PretrainShape {
            rows: 300_000,
            extra_rows: 299_715,
            extra_columns: 31,
        }),
        ..inputs(&spec)
    };
    let e = estimate(&m);
    let term = e
        .terms
        .iter()
        .find(|t| t.name.starts_with("pretraining"))
        .unwrap();
    // By hand: layer 1 holds its 1024-wide input and standardized copy (its 8-wide output is
    // smaller): 30 + 2048 floats a row; the extra dataset's 31 columns; the first layer's
    // autoencoder, 30·1024·2 + 30 + 1024 = 62,494 weights (the second's is 17,416), as a
    // model's 26 copies (Adam: 12 + 3 · (2 + 2) + 2).
    let want = 300_000 * (30 + 2048) * 4 + 299_715 * 31 * 4 + 62_494 * 4 * 26;
    assert_eq!(term.bytes, want);
}

#[test]
fn convolutional_parameters_are_counted_as_pytorch_counts_them() {
    let mut spec = TrainingSpec::default();
    // tests/fixtures/make_conv.py's modules: FCN(1 channel, 2 classes) 264,450 parameters,
    // ResNet-1D 503,106, ResNet-1D(3 channels, filters [8, 16, 16], 4 classes) 8,412.
    for (kind, channels, classes, filters, want) in [
        (ModelKind::Fcn, 1, 2, None, 264_450),
        (ModelKind::Resnet1d, 1, 2, None, 503_106),
        (ModelKind::Resnet1d, 3, 4, Some(vec![8, 16, 16]), 8_412),
    ] {
        spec.model.kind = kind;
        spec.model.filters = filters;
        let (units, _, width) = conv_units(&spec.model, channels);
        assert_eq!(units + classes * (width + 1), want, "{kind:?}");
    }
}

#[test]
fn weight_averaging_adds_three_copies_of_the_model() {
    let mut spec = TrainingSpec::default();
    spec.model.hidden_layers = vec![4, 3];
    let model_term = |spec: &TrainingSpec| {
        let e = estimate(&inputs(spec));
        (e.terms.iter())
            .find(|t| t.name.starts_with("model"))
            .unwrap()
            .bytes
    };
    let plain = model_term(&spec);
    spec.training.swa_epochs = Some(5);
    // 10·4+4 + 4·3+3 + 3·2+2 = 67 parameters: the average, the writer's clone and the file.
    assert_eq!(model_term(&spec) - plain, 67 * 4 * 3);
}
