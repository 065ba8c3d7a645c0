//! End-to-end properties of the training loop: it learns, it is bit-identical at any thread count,
//! a run resumed from a checkpoint makes exactly the updates of an uninterrupted one, and bad
//! checkpoints are refused with a typed error.

use tinylab_classical::ClassicalError;
use tinylab_classical::checkpoint::{self, CheckpointError};
use tinylab_classical::data::{ImageDataset, digits};
use tinylab_classical::nn::{self, Act, BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Sequential, StateDict};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::optim::{Adam, LrSchedule, Sgd};
use tinylab_classical::tensor::rng;
use tinylab_classical::train::{TRAIN_STATE_KIND, TrainConfig, TrainReport, fit};

/// A small digits task: 400 training and 200 validation images.
fn small_digits() -> (ImageDataset, ImageDataset) {
    let all = digits().unwrap();
    let (train, rest) = all.stratified_split(400.0 / 1797.0, 11).unwrap();
    let val = rest.subset(&(0..200).collect::<Vec<_>>()).unwrap();
    (train, val)
}

fn config(epochs: usize, checkpoint: Option<std::path::PathBuf>) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        lr: LrSchedule::Cosine { base: 0.05, min: 0.0, warmup: 1, total: 4 },
        seed: 5,
        patience: None,
        clip_grad_norm: Some(5.0),
        progress: false,
        checkpoint,
    }
}

/// Every parameter and buffer as raw bits, for exact comparison.
fn bits(state: &StateDict) -> Vec<(String, Vec<u32>)> {
    let params = state.params.iter().map(|(k, (_, v))| (k.clone(), v.iter().map(|x| x.to_bits()).collect()));
    let buffers = state.buffers.iter().map(|(k, v)| (format!("buffer:{k}"), v.iter().map(|x| x.to_bits()).collect()));
    params.chain(buffers).collect()
}

/// A CNN (convolution, batch norm, pooling) with dropout in front of the classifier, so the dropout
/// seeds are exercised too.
fn cnn_with_dropout(seed: u64) -> Sequential {
    let mut r = rng(seed);
    Sequential::new()
        .push(Conv2d::new(1, 16, 3, Conv2dSpec::new(1, 1), true, &mut r))
        .push(BatchNorm::new(16))
        .push(Act { kind: Activation::Relu })
        .push(MaxPool2d { spec: Pool2dSpec::new(2) })
        .push(Flatten)
        .push(Dropout { p: 0.2 })
        .push(Linear::new(16 * 4 * 4, 10, true, &mut r))
}

fn train_in_pool(threads: usize, epochs: usize) -> (StateDict, TrainReport) {
    let (train, val) = small_digits();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut model = cnn_with_dropout(3);
        let mut opt = Sgd::new(0.9, 5e-4);
        let report = fit(
            &mut model,
            &mut opt,
            (&train.images, &train.labels),
            (&val.images, &val.labels),
            &config(epochs, None),
        )
        .unwrap();
        (nn::state_dict(&mut model), report)
    })
}

/// The CNN learns the small digits task, and one and two threads give bit-identical weights.
#[test]
fn training_learns_and_is_bit_identical_at_one_and_two_threads() {
    let (one, report_one) = train_in_pool(1, 4);
    let (two, report_two) = train_in_pool(2, 4);
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(report_one.history, report_two.history);
    let last = report_one.history.last().unwrap();
    assert!(last.val_accuracy > 0.85, "validation accuracy {}", last.val_accuracy);
    assert!(last.train_loss < report_one.history[0].train_loss);
}

/// Two epochs, a checkpoint, two more epochs from the checkpoint: the same weights, optimizer and
/// history bits as four uninterrupted epochs (Adam, whose state includes a step count).
#[test]
fn resumed_training_matches_the_uninterrupted_run_bit_for_bit() {
    let (train, val) = small_digits();
    let dir = std::env::temp_dir().join(format!("tinylab-resume-{}", std::process::id()));
    let path = dir.join("run.ckpt");
    let run = |epochs: usize, checkpoint: Option<std::path::PathBuf>, model: &mut Sequential, opt: &mut Adam| {
        fit(model, opt, (&train.images, &train.labels), (&val.images, &val.labels), &config(epochs, checkpoint))
            .unwrap()
    };

    let mut straight = cnn_with_dropout(8);
    let mut straight_opt = Adam::adamw(1e-3);
    let full = run(4, None, &mut straight, &mut straight_opt);

    let mut first = cnn_with_dropout(8);
    let mut first_opt = Adam::adamw(1e-3);
    run(2, Some(path.clone()), &mut first, &mut first_opt);
    // A fresh process: a new model with other initial weights and a fresh optimizer.
    let mut resumed = cnn_with_dropout(99);
    let mut resumed_opt = Adam::adamw(1e-3);
    let report = run(4, Some(path.clone()), &mut resumed, &mut resumed_opt);

    assert_eq!(report.resumed_from, 2);
    assert_eq!(report.history, full.history);
    assert_eq!(bits(&nn::state_dict(&mut resumed)), bits(&nn::state_dict(&mut straight)));
    std::fs::remove_dir_all(&dir).ok();
}

/// A truncated or foreign checkpoint stops `fit` with a checkpoint error naming the file.
#[test]
fn corrupt_checkpoints_are_refused() {
    let (train, val) = small_digits();
    let dir = std::env::temp_dir().join(format!("tinylab-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.ckpt");
    let mut model = cnn_with_dropout(1);
    let mut opt = Sgd::new(0.9, 0.0);
    fit(
        &mut model,
        &mut opt,
        (&train.images, &train.labels),
        (&val.images, &val.labels),
        &config(1, Some(path.clone())),
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = fit(
        &mut model,
        &mut opt,
        (&train.images, &train.labels),
        (&val.images, &val.labels),
        &config(2, Some(path.clone())),
    )
    .unwrap_err();
    assert!(matches!(err, ClassicalError::Checkpoint(CheckpointError::Truncated { .. })), "{err}");
    assert!(err.to_string().contains("bad.ckpt"), "{err}");

    // A model checkpoint is not a training state.
    checkpoint::save(&path, "model", &nn::state_dict(&mut model)).unwrap();
    let err: CheckpointError = checkpoint::load::<StateDict>(&path, TRAIN_STATE_KIND).unwrap_err();
    assert!(matches!(err, CheckpointError::WrongKind { .. }), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A state dict of another architecture is refused with the parameter name and both shapes.
#[test]
fn loading_a_mismatched_state_dict_names_the_parameter_and_shapes() {
    let mut r = rng(0);
    let mut small = Sequential::new().push(Flatten).push(Linear::new(64, 10, true, &mut r));
    let mut wide = Sequential::new().push(Flatten).push(Linear::new(64, 12, true, &mut r));
    let err = nn::load_state_dict(&mut small, &nn::state_dict(&mut wide)).unwrap_err().to_string();
    assert!(err.contains("1.weight") && err.contains("12") && err.contains("10"), "{err}");
    // Same architecture: loads and the values are equal.
    let mut twin = Sequential::new().push(Flatten).push(Linear::new(64, 10, true, &mut r));
    nn::load_state_dict(&mut twin, &nn::state_dict(&mut small)).unwrap();
    assert_eq!(bits(&nn::state_dict(&mut twin)), bits(&nn::state_dict(&mut small)));
    // A state whose data does not fill its shape (a corrupt or hand-edited one) is an error naming
    // both counts, not a panic, and leaves the model untouched even where earlier entries fitted.
    let before = bits(&nn::state_dict(&mut twin));
    let mut corrupt = nn::state_dict(&mut wide);
    corrupt.params = nn::state_dict(&mut small).params;
    corrupt.params.get_mut("1.weight").unwrap().1.pop();
    let err = nn::load_state_dict(&mut twin, &corrupt).unwrap_err().to_string();
    assert!(err.contains("1.weight") && err.contains("640") && err.contains("639"), "{err}");
    assert_eq!(bits(&nn::state_dict(&mut twin)), before);
}
