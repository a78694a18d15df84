//! The ONNX and TFLite readers on mutations of the committed models (bit flips, edge
//! bytes, truncations, edge u32 fields, appended bytes): every one is read or refused,
//! none panics, and what is read is a consistent model. A stable-toolchain stand-in
//! until the fuzz targets take these parsers; `IMPORT_MUTATIONS` sets the count per
//! model (default 1000).
use std::path::Path;

use microdense_host::model::onnx::{export_onnx, import_onnx};
use microdense_host::model::tflite::{import_tflite, Imported};

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(v.len());
        match rng.below(5) {
            0 if !v.is_empty() => v[i] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)],
            2 => v.truncate(rng.below(v.len() + 1)),
            3 => {
                let edge: u32 = [0, 1, u32::MAX, 1 << 31, 65_536][rng.below(5)];
                for (k, b) in edge.to_le_bytes().iter().enumerate() {
                    if let Some(x) = v.get_mut(i + k) {
                        *x = *b;
                    }
                }
            }
            _ => v.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
        }
    }
    v
}

#[test]
fn readers_survive_mutated_models() {
    let count: usize = std::env::var("IMPORT_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut read, mut refused) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "onnx" && ext != "tflite" {
            continue;
        }
        let seed = std::fs::read(&path).unwrap();
        for _ in 0..count {
            let bytes = mutate(&seed, &mut rng);
            let ok = if ext == "onnx" {
                import_onnx(&path, &bytes).map(|(model, _)| {
                    // What was read exports and reads back to the same parameters.
                    let (again, _) = import_onnx(&path, &export_onnx(&model)).unwrap();
                    assert_eq!(again, model);
                })
            } else {
                import_tflite(&path, &bytes).map(|imported| match imported {
                    Imported::F32(m) => assert_eq!(m.params.len(), m.topology.params_len()),
                    Imported::Int8(q) => {
                        let image = vec![7u8; q.topology.input()];
                        assert_eq!(q.logits(&image).unwrap().len(), q.topology.outputs());
                    }
                })
            };
            match ok {
                Ok(()) => read += 1,
                Err(e) => {
                    let text = format!("{e:#}");
                    assert!(text.contains(&path.display().to_string()), "{text}");
                    refused += 1;
                }
            }
        }
    }
    println!("{read} mutated models read, {refused} refused");
    assert!(refused > 0 && read > 0, "{read} read, {refused} refused");
}
