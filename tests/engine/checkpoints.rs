//! Checkpoints: a round trip predicts identically, a resumed run ends bit-identical to an
//! uninterrupted one, and Python's `safetensors` reads the bytes.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use crossfold::domain::spec::TrainingSpec;
use crossfold::engine::checkpoint;
use crossfold::engine::data::rows::Rows;
use crossfold::engine::model::infer::predict_rows;
use crossfold::engine::predict::Predictor;
use crossfold::engine::train::{EpochRecord, Leg, Stop, TrainRequest, TrainState, Trained, train};

use crate::data::{Data, load, request};

fn spec() -> TrainingSpec {
    let mut spec = TrainingSpec::default();
    spec.model.batch_norm = true;
    spec.model.dropout = 0.1;
    spec.training.epochs = 8;
    spec.training.early_stopping = Some(Default::default());
    spec
}

fn resumable<'a>(
    data: &'a Data,
    spec: &'a TrainingSpec,
    resume: Option<TrainState>,
) -> TrainRequest<'a> {
    TrainRequest {
        resume,
        checkpoint_every: 1,
        objective: Default::default(),
        channels: None,
        warm: None,
        pretrain: None,
        ..request(data, spec, 5)
    }
}

/// Trains, keeping each epoch checkpoint's bytes.
pub fn keeping_checkpoints(req: &TrainRequest<'_>) -> (Trained, Vec<Vec<u8>>) {
    let saved = Mutex::new(Vec::new());
    let trained = train(req, &AtomicBool::new(false), &mut |_, ck| {
        if let Some(ck) = ck {
            let bytes = checkpoint::to_bytes(ck, None, None).unwrap();
            saved.lock().unwrap().push(bytes);
        }
    })
    .unwrap();
    (trained, saved.into_inner().unwrap())
}

/// The history without wall-clock seconds: what must match to the bit.
pub fn timeless(t: &Trained) -> Vec<EpochRecord> {
    (t.history.iter().cloned())
        .map(|mut e| {
            e.seconds = 0.0;
            e
        })
        .collect()
}

fn weight_bits(t: &Trained) -> Vec<u32> {
    t.state
        .model
        .params()
        .iter()
        .flat_map(|p| p.data.iter().map(|v| v.to_bits()))
        .collect()
}

#[test]
fn a_checkpoint_round_trip_predicts_identically() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let trained = train(
        &resumable(&data, &spec, None),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    let bytes = checkpoint::to_bytes(&trained.state, None, None).unwrap();
    let mut loaded = checkpoint::from_bytes(&bytes).unwrap().state;
    assert_eq!(loaded.model, trained.state.model);
    let rows = Rows {
        x: &data.test.x,
        y: &data.test.y,
        features: data.features,
    };
    let idx: Vec<usize> = (0..data.test.y.len()).collect();
    let mut original = trained.state.model.clone();
    let want = predict_rows(&mut original, rows, &idx);
    let got = predict_rows(&mut loaded.model, rows, &idx);
    assert_eq!(
        got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // The predicting read gives the same predictor the worker keeps from the trained state.
    let read = checkpoint::predictor_from_bytes(&bytes).unwrap().predictor;
    let kept = Predictor::new(trained.state.model.clone(), Vec::new(), None);
    assert_eq!(read.classes(), kept.classes());
    let (mut read, mut kept) = (read, kept);
    let x = &data.test.x;
    let bits = |p: Vec<f64>| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(read.proba(x, idx.len())),
        bits(kept.proba(x, idx.len()))
    );
}

#[test]
fn a_run_resumed_from_an_epoch_checkpoint_ends_bit_identical() {
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let (straight, saved) = keeping_checkpoints(&resumable(&data, &spec, None));
    assert!(saved.len() >= 4, "{} checkpoints", saved.len());
    let third = checkpoint::from_bytes(&saved[2]).unwrap().state;
    assert_eq!(third.epochs_done, 3);
    let resumed = train(
        &resumable(&data, &spec, Some(third)),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(timeless(&resumed), timeless(&straight));
    assert_eq!(resumed.best_epoch, straight.best_epoch);
    assert_eq!(weight_bits(&resumed), weight_bits(&straight));
}

/// A search's legs: paused at epoch 2 and at 5, each resumed from the state the pause handed
/// over, the run ends as the uninterrupted one, to the bit; a halted leg trains no further.
#[test]
fn legs_paused_at_rungs_and_resumed_end_bit_identical_and_a_halt_trains_nothing() {
    let data = load("breast_cancer.csv", 0);
    let mut spec = spec();
    spec.training.early_stopping = None;
    let never = AtomicBool::new(false);
    let straight = train(&resumable(&data, &spec, None), &never, &mut |_, _| {}).unwrap();
    let mut state = None;
    let mut history = Vec::new();
    for (leg, stop) in [
        (Leg::PauseAt(2), Stop::Paused),
        (Leg::PauseAt(5), Stop::Paused),
        (Leg::PauseAt(8), Stop::Completed),
    ] {
        let saved = Mutex::new(None);
        let req = TrainRequest {
            leg,
            ..resumable(&data, &spec, state.take())
        };
        let trained = train(&req, &never, &mut |r, ck| {
            history.push(r.clone());
            if let Some(ck) = ck {
                *saved.lock().unwrap() = Some(checkpoint::to_bytes(ck, None, None).unwrap());
            }
        })
        .unwrap();
        assert_eq!(trained.stop, stop);
        let bytes = saved.into_inner().unwrap().unwrap();
        state = Some(checkpoint::from_bytes(&bytes).unwrap().state);
        if stop == Stop::Completed {
            assert_eq!(weight_bits(&trained), weight_bits(&straight));
        }
    }
    let timeless = |h: &[EpochRecord]| {
        h.iter()
            .cloned()
            .map(|mut e| {
                e.seconds = 0.0;
                e
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(timeless(&history), timeless(&straight.history));
    // Halted after the pause at 2: no epoch more, ended with the weights it had.
    let at2 = {
        let saved = Mutex::new(None);
        let req = TrainRequest {
            leg: Leg::PauseAt(2),
            ..resumable(&data, &spec, None)
        };
        train(&req, &never, &mut |_, ck| {
            if let Some(ck) = ck {
                *saved.lock().unwrap() = Some(checkpoint::to_bytes(ck, None, None).unwrap());
            }
        })
        .unwrap();
        checkpoint::from_bytes(&saved.into_inner().unwrap().unwrap())
            .unwrap()
            .state
    };
    let req = TrainRequest {
        leg: Leg::Halt,
        ..resumable(&data, &spec, Some(at2.clone()))
    };
    let halted = train(&req, &never, &mut |_, _| {
        panic!("a halted leg trains no epoch")
    })
    .unwrap();
    assert_eq!(halted.stop, Stop::Halted);
    assert_eq!(halted.history.len(), 2);
    assert_eq!(halted.state.model, at2.model);
}

/// A crash after the epoch that ran out of patience was written, before the run completed:
/// the resumed run must stop there too, not train on.
#[test]
fn a_run_resumed_after_it_early_stopped_stays_stopped() {
    let data = load("breast_cancer.csv", 0);
    let mut spec = spec();
    spec.training.epochs = 200;
    if let Some(es) = spec.training.early_stopping.as_mut() {
        es.patience = 2;
    }
    let last = Mutex::new(None);
    let straight = train(
        &resumable(&data, &spec, None),
        &AtomicBool::new(false),
        &mut |_, ck| {
            *last.lock().unwrap() = ck.map(|c| checkpoint::to_bytes(c, None, None).unwrap())
        },
    )
    .unwrap();
    assert_eq!(
        straight.stop,
        Stop::EarlyStopped,
        "the spec must stop early"
    );
    assert!(straight.history.len() < 200);
    let ck = checkpoint::from_bytes(&last.into_inner().unwrap().unwrap())
        .unwrap()
        .state;
    assert_eq!(ck.epochs_done, straight.history.len() as u64);
    let epochs = Mutex::new(0);
    let resumed = train(
        &resumable(&data, &spec, Some(ck)),
        &AtomicBool::new(false),
        &mut |_, _| *epochs.lock().unwrap() += 1,
    )
    .unwrap();
    assert_eq!(*epochs.lock().unwrap(), 0, "no epoch after the stop");
    assert_eq!(resumed.stop, Stop::EarlyStopped);
    assert_eq!(resumed.best_epoch, straight.best_epoch);
    assert_eq!(weight_bits(&resumed), weight_bits(&straight));
}

#[test]
#[ignore = "needs python3 with safetensors (.ci/run installs it; run with --include-ignored)"]
fn python_safetensors_reads_the_checkpoint() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import safetensors.numpy"])
        .status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "needs python3 with safetensors (pip install -r tests/python/requirements.txt)"
    );
    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let trained = train(
        &resumable(&data, &spec, None),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.safetensors");
    std::fs::write(
        &path,
        checkpoint::to_bytes(&trained.state, None, None).unwrap(),
    )
    .unwrap();
    let w = &trained.state.model.params()[0];
    let script = format!(
        "import json, safetensors.numpy as st, safetensors\n\
         t = st.load_file({path:?})\n\
         w = t['hidden.0.weight']\n\
         assert w.shape == ({}, {}) and str(w.dtype) == 'float32', (w.shape, w.dtype)\n\
         assert abs(float(w[0, 0]) - {:e}) < 1e-7\n\
         with safetensors.safe_open({path:?}, 'np') as f: meta = f.metadata()\n\
         assert json.loads(meta['spec'])['model']['batch_norm'] is True\n\
         print(len(t), 'tensors')",
        w.shape[0], w.shape[1], w.data[0],
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An autoencoder's epoch checkpoint from before checkpoints named their model kind (no
/// `model` metadata: it reads as `mlp`) still resumes, to the same end as a run never stopped.
#[test]
fn an_autoencoder_checkpoint_without_its_model_kind_resumes() {
    use crossfold::engine::train::Objective;
    use safetensors::SafeTensors;

    let data = load("breast_cancer.csv", 0);
    let spec = spec();
    let request = |resume| TrainRequest {
        objective: Objective::Reconstruct,
        channels: None,
        warm: None,
        pretrain: None,
        ..resumable(&data, &spec, resume)
    };
    let saved = Mutex::new(Vec::new());
    let straight = train(&request(None), &AtomicBool::new(false), &mut |_, ck| {
        if let Some(ck) = ck {
            saved
                .lock()
                .unwrap()
                .push(checkpoint::to_resume_bytes(ck).unwrap());
        }
    })
    .unwrap();
    // The third epoch's checkpoint, rewritten without the `model` key.
    let bytes = &saved.lock().unwrap()[2];
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    assert_eq!(meta.remove("model").as_deref(), Some("autoencoder"));
    let old = safetensors::serialize(st.tensors(), Some(meta)).unwrap();
    let state = checkpoint::from_resume_bytes(&old, &[]).unwrap();
    assert_eq!(state.model.kind(), "mlp", "an old file does not say");
    let resumed = train(
        &request(Some(state)),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(resumed.state.model.kind(), "autoencoder");
    assert_eq!(weight_bits(&resumed), weight_bits(&straight));
}

/// A pretrained run resumed from an epoch checkpoint skips pretraining (the state holds the
/// weights it led to) and ends where the uninterrupted run does, to the bit; pretraining
/// epochs are reported marked with their layer and never checkpointed.
#[test]
fn a_pretrained_run_resumes_to_the_same_end() {
    use crossfold::engine::train::{Phase, Pretraining};

    let data = load("breast_cancer.csv", 0);
    let mut spec = spec();
    spec.model.batch_norm = false;
    spec.model.hidden_layers = vec![16, 8];
    spec.model.activation = crossfold::domain::spec::Activation::Sigmoid;
    let x = data.train.x.clone();
    let request = |resume| TrainRequest {
        pretrain: Some(Pretraining { epochs: 2, x: &x }),
        ..resumable(&data, &spec, resume)
    };
    let saved = Mutex::new(Vec::new());
    let mut pretrain_epochs = Vec::new();
    let straight = train(&request(None), &AtomicBool::new(false), &mut |r, ck| {
        if r.phase == Phase::Pretrain {
            assert!(ck.is_none(), "a pretraining epoch is not a checkpoint");
            pretrain_epochs.push((r.layer.unwrap(), r.epoch));
        } else if let Some(ck) = ck {
            saved
                .lock()
                .unwrap()
                .push(checkpoint::to_resume_bytes(ck).unwrap());
        }
    })
    .unwrap();
    assert_eq!(pretrain_epochs, [(0, 1), (0, 2), (1, 1), (1, 2)]);
    // Pretraining changed where training starts: the same spec from scratch ends elsewhere.
    let scratch = train(
        &resumable(&data, &spec, None),
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap();
    assert_ne!(weight_bits(&scratch), weight_bits(&straight));
    let state = checkpoint::from_resume_bytes(&saved.lock().unwrap()[2], &[]).unwrap();
    let mut replayed = Vec::new();
    let resumed = train(
        &request(Some(state)),
        &AtomicBool::new(false),
        &mut |r, _| replayed.push(r.phase),
    )
    .unwrap();
    assert!(replayed.iter().all(|&p| p == Phase::Train), "{replayed:?}");
    assert_eq!(weight_bits(&resumed), weight_bits(&straight));
}
