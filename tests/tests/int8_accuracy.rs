//! The int8 accuracy gate on MNIST: post-training quantization (host/src/model/quantize.rs,
//! 1000 calibration images from the training set) may cost at most half a point of test
//! accuracy on all 10,000 test images, for the tutorial's network (784→32→256→10, linear
//! hidden layers, 100 batches of 16) and for the README's 98% network (784→128→10 relu,
//! 10 epochs of momentum SGD). Needs MNIST (MICRODENSE_DATA); skips loudly without it.
use microdense::{Activation, Init};
use microdense_host::data::idx::{load_split, Dataset, Split};
use microdense_host::eval::evaluate;
use microdense_host::model::quantize::{
    calibrate, calibration_indices, quantize, DEFAULT_CALIBRATION,
};
use microdense_host::model::Model;
use microdense_host::train::{train, Length, Schedule, TrainConfig};
use microdense_tests::mnist_dir;

/// Largest accuracy drop accepted, in points (percent).
const MAX_DROP_POINTS: f64 = 0.5;

fn trained(cfg: &TrainConfig, set: &Dataset) -> Model {
    let outcome = train(cfg, set, None, &mut |_| {}).unwrap();
    assert!(outcome.diverged.is_none());
    outcome.model
}

/// (f32 accuracy, int8 accuracy) on the whole test set.
fn accuracies(model: &Model, train_set: &Dataset, test_set: &Dataset) -> (f64, f64) {
    let indices = calibration_indices(train_set.len(), DEFAULT_CALIBRATION);
    let calibration = calibrate(model, train_set, &indices).unwrap();
    let q = quantize(model, &calibration).unwrap().model;
    let float = evaluate(model, test_set, None);
    let int8 = evaluate(&q, test_set, None);
    assert_eq!((float.total(), int8.total()), (10_000, 10_000));
    (float.accuracy(), int8.accuracy())
}

fn check(name: &str, float: f64, int8: f64) {
    let drop = 100.0 * (float - int8);
    eprintln!(
        "{name}: f32 {:.2}%, int8 {:.2}%, drop {drop:+.2} points",
        100.0 * float,
        100.0 * int8
    );
    assert!(
        drop <= MAX_DROP_POINTS,
        "{name}: int8 loses {drop:.2} points (f32 {float:.4}, int8 {int8:.4})"
    );
}

#[test]
fn int8_costs_at_most_half_a_point_on_the_tutorials_network() {
    let Some(dir) = mnist_dir("int8 accuracy (tutorial network)") else {
        return;
    };
    let (train_set, test_set) = (
        load_split(&dir, Split::Train).unwrap(),
        load_split(&dir, Split::Test).unwrap(),
    );
    let cfg = TrainConfig {
        val_every: 0,
        ..TrainConfig::tutorial()
    };
    let model = trained(&cfg, &train_set);
    let (float, int8) = accuracies(&model, &train_set, &test_set);
    assert!(float > 0.6, "the tutorial's network did not learn: {float}");
    check("tutorial 784-32-256-10 linear", float, int8);
}

#[test]
fn int8_costs_at_most_half_a_point_on_the_98_percent_network() {
    let Some(dir) = mnist_dir("int8 accuracy (98% network)") else {
        return;
    };
    let (train_set, test_set) = (
        load_split(&dir, Split::Train).unwrap(),
        load_split(&dir, Split::Test).unwrap(),
    );
    // The README's command: --hidden 128 --activation relu --init he --batch 64
    // --momentum 0.9 --lr 0.1 --schedule cosine --epochs 10 --weight-decay 1e-4.
    let cfg = TrainConfig {
        hidden: vec![128],
        activation: Activation::Relu,
        classes: 10,
        batch: 64,
        length: Length::Epochs(10),
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 1e-4,
        adam: None,
        schedule: Schedule::Cosine,
        init: Init::He,
        output_init: Init::He,
        seed: 1,
        val_every: 0,
        val_size: 100,
        ..TrainConfig::tutorial()
    };
    let model = trained(&cfg, &train_set);
    let (float, int8) = accuracies(&model, &train_set, &test_set);
    assert!(float >= 0.978, "the 98% network reached only {float}");
    check("784-128-10 relu", float, int8);
}
