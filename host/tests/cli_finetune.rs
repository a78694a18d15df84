//! `train --from M --train-layers K`: only the last K layers are trained; the layers below
//! keep their weights bit for bit.
mod common;

use common::*;
use microdense_host::model::Model;

/// Parameters of each layer of `m` (weights, then biases), in order.
fn layers(m: &Model) -> Vec<Vec<f32>> {
    let t = &m.topology;
    let mut at = 0;
    (0..t.layers().len())
        .map(|i| {
            let len = (t.fan_in(i) + 1) * t.layers()[i].units;
            at += len;
            m.params[at - len..at].to_vec()
        })
        .collect()
}

#[test]
fn train_layers_trains_the_top_layers_only() {
    let data = toy_data();
    let base = data.path().join("base.mdw");
    train_small(
        data.path(),
        &base,
        &["--hidden", "16,8", "--activation", "relu"],
    );
    let before = layers(&Model::load(&base).unwrap());
    assert_eq!(before.len(), 3);

    for k in 1..=3 {
        let tuned = data.path().join(format!("tuned{k}.mdw"));
        let from = base.to_str().unwrap();
        let out = train_small(
            data.path(),
            &tuned,
            &[
                "--from",
                from,
                "--train-layers",
                &k.to_string(),
                "--optimizer",
                "adam",
                "--lr",
                "0.01",
            ],
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains(&format!("training the last {k} layer(s) only")),
            "{text}"
        );
        let after = layers(&Model::load(&tuned).unwrap());
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            let frozen = i < 3 - k;
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert_eq!(same, frozen, "--train-layers {k}: layer {i}");
        }
    }
}

#[test]
fn train_layers_beyond_the_models_depth_is_one_clear_error() {
    let data = toy_data();
    let base = data.path().join("base.mdw");
    train_small(data.path(), &base, &[]);
    let out = microdense()
        .args([
            "train",
            "--quiet",
            "--batches",
            "2",
            "--train-layers",
            "3",
            "--from",
        ])
        .arg(&base)
        .arg("--data")
        .arg(data.path())
        .arg("--out")
        .arg(data.path().join("never.mdw"))
        .output()
        .unwrap();
    assert_one_line_error(&out, &["--train-layers 3", "has 2 layers"]);
    assert!(!data.path().join("never.mdw").exists());
}
