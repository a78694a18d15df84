//! What the x86 tiles' tests share: the bits they compare, the skip when the CPU has no
//! AVX2, and the SGD set-ups every gradient path is checked under.
extern crate std;
use std::vec::Vec;

use crate::Sgd;

pub(super) fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// True (after a loud note) when the CPU has no AVX2, or under miri.
pub(super) fn skipped_without_avx2(name: &str) -> bool {
    if super::avx2() {
        return false;
    }
    // Past the test harness's capture, so that `cargo test` shows it.
    let note = std::format!("SKIPPED: {name}: no AVX2 (or miri)\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
    true
}

/// (update, optimizer): gradients only; plain SGD; with weight decay; with momentum.
pub(super) fn sgd_cases() -> [(bool, Sgd); 4] {
    [
        (false, Sgd::new(0.1)),
        (true, Sgd::new(0.1)),
        (true, Sgd::new(0.1).with_weight_decay(1e-3)),
        (
            true,
            Sgd::new(0.1).with_momentum(0.9).with_weight_decay(1e-3),
        ),
    ]
}
