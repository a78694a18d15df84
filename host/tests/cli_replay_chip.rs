//! `replay-chip`: the host's replay of a firmware training program against what a chip
//! reported (its digest, the model it wrote back). The chip side runs in qemu in
//! tests/tests/chip_replay.rs; here the "chip's" model is the replay's own, then one
//! parameter of it changed by one ulp.
mod common;

use std::fs;

use common::*;
use microdense::{Activation, Init, Layer, Topology};
use microdense_host::chip::{replay, BoardSetup, Program};
use microdense_host::model::bundle::{read_bundle, write_bundle};
use microdense_host::model::Model;

const BOARD: &str =
    "[train]\npool = 2\nhidden = 6\nbatch = 4\nrate = 0.05\nmomentum = 0.9\nepochs = 2\n";

#[test]
fn replay_chip_names_the_first_differing_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let (images, labels) = dataset(60, 4, 4, 10, 3);
    let digits: Vec<&[u8]> = (0..60).map(|i| images.image(i)).collect();
    let t = Topology::new(
        16,
        &[
            Layer::new(5, Activation::Relu),
            Layer::new(10, Activation::Softmax),
        ],
    )
    .unwrap();
    let model = Model::init(t.clone(), Init::GlorotNormal, 1);
    let bundle = dir.path().join("bundle.bin");
    write_bundle(
        &bundle,
        &t,
        &model.params,
        &digits[..10],
        &labels[..10],
        &digits[10..],
        &labels[10..],
    )
    .unwrap();
    let board = dir.path().join("board.toml");
    fs::write(&board, BOARD).unwrap();

    let bytes = fs::read(&bundle).unwrap();
    let view = read_bundle(&bytes).unwrap();
    let setup = BoardSetup::read(board.to_str().unwrap(), dir.path()).unwrap();
    let r = replay(Program::Train, &view, &setup, None).unwrap();
    // 50 digits pooled 2x2 to 2x2, batches of 4, 2 epochs: 13 steps each.
    assert_eq!((r.model.topology.input(), r.steps), (4, 26));

    let chip = dir.path().join("chip.mdw");
    r.model.save(&chip).unwrap();
    let run = |chip: &std::path::Path, digest: u32| {
        microdense()
            .args(["replay-chip", "--bundle"])
            .arg(&bundle)
            .arg("--board")
            .arg(&board)
            .arg("--chip")
            .arg(chip)
            .args(["--digest", &format!("{digest:#010x}")])
            .output()
            .unwrap()
    };
    let same = run(&chip, r.digest());
    assert_success(&same);
    let text = String::from_utf8(same.stdout).unwrap();
    assert!(
        text.contains(&format!("digest: CRC-32 {:#010x}", r.digest())),
        "{text}"
    );
    assert!(
        text.contains(": equal") && text.contains("bit-identical"),
        "{text}"
    );

    // Layer 1 starts after layer 0's (4 + 1) · 6 = 30 parameters.
    let mut changed = r.model.clone();
    changed.params[30 + 7] = f32::from_bits(changed.params[30 + 7].to_bits() + 1);
    let other = dir.path().join("other.mdw");
    changed.save(&other).unwrap();
    let out = run(&other, r.digest() ^ 1);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.contains("DIFFERENT, first at layer 1 parameter 7"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "chip's digest {:#010x}: DIFFERENT",
            r.digest() ^ 1
        )),
        "{text}"
    );
    assert_one_line_error(&out, &["not the replay's"]);
}
