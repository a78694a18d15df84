//! int8 blobs: writing and reading back, the forward pass against a plainly written
//! integer reference, and every malformed payload as its own error.
use super::*;
use crate::format::{seal, HEADER_LEN};
use crate::int8::layout::section_of;
use crate::rng::Rng;
use crate::sizes::{int8_blob_len, int8_payload_len, int8_scratch_bound, int8_scratch_len};
use crate::Activation::*;
use crate::{Blob, Buffer, ElementType, Error, Layer, Topology};

/// A random int8 model of any shape, as plain arrays.
struct Model {
    topology: Topology,
    input: QuantParams,
    weights: [[i8; 4096]; 3],
    biases: [[i32; 64]; 3],
    multipliers: [[i32; 64]; 3],
    shifts: [[u8; 64]; 3],
    outputs: [QuantParams; 3],
}

impl Model {
    fn random(rng: &mut Rng, input: usize, layers: &[Layer]) -> Model {
        let topology = Topology::new(input, layers).unwrap();
        let mut m = Model {
            topology,
            input: QuantParams {
                scale: 0.01,
                zero_point: rng.below(256) as i32 - 128,
            },
            weights: [[0; 4096]; 3],
            biases: [[0; 64]; 3],
            multipliers: [[0; 64]; 3],
            shifts: [[0; 64]; 3],
            outputs: [QuantParams {
                scale: 0.5,
                zero_point: 0,
            }; 3],
        };
        for (i, l) in layers.iter().enumerate() {
            let fan_in = m.topology.fan_in(i);
            for w in &mut m.weights[i][..fan_in * l.units] {
                *w = rng.next_u64() as i8;
            }
            for j in 0..l.units {
                m.biases[i][j] = (rng.next_u64() as i32) >> 12;
                // Multipliers around 1/(fan_in · 2^7): outputs spread over the int8 range.
                let real = 0.4 / (fan_in as f64 * 64.0) * (0.5 + rng.next_f64());
                let (mult, s) = quantize_multiplier(real).unwrap();
                m.multipliers[i][j] = mult;
                m.shifts[i][j] = s;
            }
            if i + 1 < layers.len() {
                m.outputs[i].zero_point = rng.below(256) as i32 - 128;
            }
            m.outputs[i].scale = 0.25 + i as f32;
        }
        m
    }

    fn layers(&self) -> heapless::Vec<Int8Layer<'_>, 3> {
        let t = &self.topology;
        t.layers()
            .iter()
            .enumerate()
            .map(|(i, l)| Int8Layer {
                weights: &self.weights[i][..t.fan_in(i) * l.units],
                biases: &self.biases[i][..l.units],
                multipliers: &self.multipliers[i][..l.units],
                shifts: &self.shifts[i][..l.units],
                output: self.outputs[i],
            })
            .collect()
    }

    fn write(&self, out: &mut [u8]) -> usize {
        write_int8_blob(&self.topology, self.input, &self.layers(), out).unwrap()
    }

    /// The forward pass written plainly from the definitions: i64 sums over the
    /// `[in][out]` weights, the requantization formula, clamps.
    fn reference(&self, input: &[i8], out: &mut [i32]) {
        let t = &self.topology;
        let mut x = [0i32; 64 * 2];
        let mut n = t.input();
        for (i, &q) in input.iter().enumerate() {
            x[i] = i32::from(q);
        }
        let mut zp = self.input.zero_point;
        for (i, l) in t.layers().iter().enumerate() {
            let mut y = [0i32; 64];
            for (j, yj) in y.iter_mut().enumerate().take(l.units) {
                let mut acc = i64::from(self.biases[i][j]);
                for (r, &xr) in x.iter().enumerate().take(n) {
                    acc += i64::from(xr - zp) * i64::from(self.weights[i][r * l.units + j]);
                }
                let acc = acc as i32; // the sums stay in range for these sizes
                let prod = i128::from(acc) * i128::from(self.multipliers[i][j]);
                let high = (prod + (1 << 31)) >> 32;
                let s = self.shifts[i][j];
                let v = if s == 0 {
                    high
                } else {
                    (high + (1i128 << (s - 1))) >> s
                } as i32;
                *yj = if i + 1 == t.layers().len() {
                    if l.activation == Relu {
                        v.max(0)
                    } else {
                        v
                    }
                } else {
                    let z = self.outputs[i].zero_point;
                    let low = if l.activation == Relu { z } else { -128 };
                    (v + z).clamp(low, 127)
                };
            }
            x[..l.units].copy_from_slice(&y[..l.units]);
            n = l.units;
            zp = self.outputs[i].zero_point;
        }
        out.copy_from_slice(&x[..t.outputs()]);
    }
}

#[repr(C, align(32))]
struct Aligned([u8; 16_384]);

const SHAPES: [(usize, &[Layer]); 6] = [
    (7, &[Layer::new(5, Relu), Layer::new(3, Softmax)]),
    (16, &[Layer::new(12, Linear), Layer::new(10, Softmax)]),
    (1, &[Layer::new(1, Linear)]),
    (
        33,
        &[
            Layer::new(17, Relu),
            Layer::new(9, Linear),
            Layer::new(4, Relu),
        ],
    ),
    (64, &[Layer::new(64, Linear), Layer::new(14, Softmax)]),
    (2, &[Layer::new(13, Relu), Layer::new(2, Softmax)]),
];

#[test]
fn sizes_of_the_tutorial_network() {
    const TUTORIAL: [Layer; 3] = [
        Layer::new(32, Linear),
        Layer::new(256, Linear),
        Layer::new(10, Softmax),
    ];
    // input params, then per layer: params, biases, multipliers, shifts, weights.
    let want = 8
        + (8 + 8 * 32 + 32 + 784 * 32)
        + (8 + 8 * 256 + 256 + 32 * 256)
        + (8 + 8 * 10 + 12 + 256 * 10);
    assert_eq!(int8_payload_len(784, &TUTORIAL), want);
    assert_eq!(int8_blob_len(784, &TUTORIAL), HEADER_LEN + want);
    assert_eq!(int8_scratch_len(784, &TUTORIAL), 788 + 2 * 128);
    const S: usize = int8_scratch_len(784, &TUTORIAL);
    static SCRATCH: [u32; S] = [0; S];
    assert_eq!(SCRATCH.len(), 1044);
    assert!(int8_scratch_bound(784, 256) >= S);
    // Odd sizes: a zero row and column of padding; shifts padded to 4 bytes.
    let odd = [Layer::new(5, Relu)];
    assert_eq!(int8_payload_len(7, &odd), 8 + 8 + 20 + 20 + 8 + 8 * 6);
    assert_eq!(
        ElementType::Int8.payload_len(&Topology::new(7, &odd).unwrap()),
        112
    );
}

#[test]
fn written_blobs_read_back() {
    let mut rng = Rng::new(1);
    let mut buf = Aligned([0; 16_384]);
    for (input, layers) in SHAPES {
        let m = Model::random(&mut rng, input, layers);
        let len = m.write(&mut buf.0);
        assert_eq!(len, int8_blob_len(input, layers));
        let blob = Blob::parse(&buf.0[..len]).unwrap();
        assert_eq!(blob.element_type(), ElementType::Int8);
        assert!(blob.params().is_none());
        assert_eq!(blob.copy_params(&mut [0.0; 4]), Err(Error::ElementType));
        let net = Int8Network::new(&blob).unwrap();
        assert_eq!(net.topology(), &m.topology);
        assert_eq!(net.input_params(), m.input);
        assert_eq!(net.output_scale(), m.outputs[layers.len() - 1].scale);
        assert!(net.layer(layers.len()).is_none());
        for (i, l) in layers.iter().enumerate() {
            let v = net.layer(i).unwrap();
            let fan_in = m.topology.fan_in(i);
            assert_eq!((v.fan_in(), v.units()), (fan_in, l.units));
            assert_eq!(v.output(), m.outputs[i]);
            for j in 0..l.units {
                assert_eq!(v.bias(j), m.biases[i][j]);
                assert_eq!(v.multiplier(j), m.multipliers[i][j]);
                assert_eq!(v.shift(j), m.shifts[i][j]);
                for r in 0..fan_in {
                    assert_eq!(v.weight(r, j), m.weights[i][r * l.units + j]);
                }
            }
            assert_eq!((v.weight(fan_in, 0), v.bias(l.units)), (0, 0));
        }
    }
}

#[test]
fn forward_matches_the_plain_integer_reference() {
    let mut rng = Rng::new(2);
    let mut buf = Aligned([0; 16_384]);
    let mut shifted = Aligned([0; 16_384]);
    for round in 0..60 {
        let (input, layers) = SHAPES[round % SHAPES.len()];
        let m = Model::random(&mut rng, input, layers);
        let len = m.write(&mut buf.0);
        // Also from an odd address: the same integers on the byte-wise path.
        shifted.0[1..=len].copy_from_slice(&buf.0[..len]);
        let nets = [
            Int8Network::parse(&buf.0[..len]).unwrap(),
            Int8Network::parse(&shifted.0[1..=len]).unwrap(),
        ];
        let mut scratch = [0u32; 512];
        let scratch = &mut scratch[..nets[0].scratch_len()];
        for _ in 0..20 {
            let mut x = [0i8; 64];
            // Mostly the zero point (skipped pairs), some values, some extremes.
            for q in &mut x[..input] {
                *q = match rng.below(4) {
                    0 | 1 => m.input.zero_point as i8,
                    2 => rng.next_u64() as i8,
                    _ => [-128, 127][rng.below(2)],
                };
            }
            let mut want = [0i32; 16];
            let outputs = m.topology.outputs();
            m.reference(&x[..input], &mut want[..outputs]);
            for net in &nets {
                let mut got = [0i32; 16];
                net.logits(&x[..input], scratch, &mut got[..outputs])
                    .unwrap();
                assert_eq!(got[..outputs], want[..outputs], "shape {round}");
                let class = net
                    .predict(&x[..input], scratch, &mut got[..outputs])
                    .unwrap();
                assert_eq!(class, argmax_i32(&want[..outputs]));
            }
        }
    }
}

#[test]
fn wrong_buffers_are_errors() {
    let mut rng = Rng::new(3);
    let mut buf = Aligned([0; 16_384]);
    let m = Model::random(&mut rng, 7, SHAPES[0].1);
    let len = m.write(&mut buf.0);
    let net = Int8Network::parse(&buf.0[..len]).unwrap();
    let mut scratch = [0u32; 64];
    let need = net.scratch_len();
    let mut out = [0i32; 3];
    let err = |e: Result<(), Error>| match e {
        Err(Error::BufferLength { buffer, .. }) => buffer,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(net.logits(&[0; 6], &mut scratch, &mut out)),
        Buffer::Inputs
    );
    assert_eq!(
        err(net.logits(&[0; 7], &mut scratch, &mut out[..2])),
        Buffer::Output
    );
    assert_eq!(
        err(net.logits(&[0; 7], &mut scratch[..need - 1], &mut out)),
        Buffer::Scratch
    );
    assert!(net.logits(&[0; 7], &mut scratch[..need], &mut out).is_ok());
    // An f32 blob is not an int8 network.
    let t = Topology::new(4, &[Layer::new(2, Softmax)]).unwrap();
    let mut f = [0u8; crate::sizes::blob_len(4, &[Layer::new(2, Softmax)])];
    crate::format::write_blob(&t, &[0.0; 10], &mut f).unwrap();
    assert_eq!(Int8Network::parse(&f).map(|_| ()), Err(Error::ElementType));
    // Writing checks lengths, activations and parameters.
    let mut layers = m.layers();
    layers[0].biases = &m.biases[0][..4];
    assert!(matches!(
        write_int8_blob(&m.topology, m.input, &layers, &mut buf.0),
        Err(Error::BufferLength {
            buffer: Buffer::Params,
            expected: 5,
            actual: 4
        })
    ));
    let mut layers = m.layers();
    layers[1].output.zero_point = 3;
    assert_eq!(
        write_int8_blob(&m.topology, m.input, &layers, &mut buf.0),
        Err(Error::ZeroPoint {
            tensor: 2,
            value: 3
        })
    );
    assert_eq!(
        write_int8_blob(&m.topology, m.input, &m.layers()[..1], &mut buf.0),
        Err(Error::TopologyMismatch)
    );
    assert!(matches!(
        write_int8_blob(&m.topology, m.input, &m.layers(), &mut buf.0[..len - 1]),
        Err(Error::BufferLength {
            buffer: Buffer::Blob,
            ..
        })
    ));
    let tanh = Topology::new(7, &[Layer::new(5, Tanh), Layer::new(3, Softmax)]).unwrap();
    assert_eq!(
        write_int8_blob(&tanh, m.input, &m.layers(), &mut buf.0),
        Err(Error::Int8Activation(3))
    );
}

/// Offsets in a blob of `SHAPES[3]`-like `33 → 17 relu → 9 → 4 relu`, for corruption.
fn corrupt_sample() -> (Model, Aligned, usize) {
    let mut rng = Rng::new(4);
    let m = Model::random(&mut rng, 33, SHAPES[3].1);
    let mut buf = Aligned([0; 16_384]);
    let len = m.write(&mut buf.0);
    (m, buf, len)
}

/// Re-seals the CRC after an edit, to reach the checks behind it.
fn reseal(bytes: &mut [u8]) {
    let (header, payload) = bytes.split_at_mut(HEADER_LEN);
    let n = u32::from_le_bytes([header[12], header[13], header[14], header[15]]) as usize;
    seal(header, &payload[..n.min(payload.len())]);
}

#[test]
fn each_int8_corruption_has_its_error() {
    let (m, good, len) = corrupt_sample();
    let layers = m.topology.layers();
    let s = |i| section_of(33, layers, i);
    let edit = |f: &dyn Fn(&mut [u8])| {
        let mut b = [0u8; 16_384];
        b[..len].copy_from_slice(&good.0[..len]);
        f(&mut b[HEADER_LEN..len]);
        reseal(&mut b[..len]);
        Blob::parse(&b[..len]).map(|_| ())
    };
    assert_eq!(edit(&|_| {}), Ok(()));
    let put = |p: &mut [u8], at: usize, v: [u8; 4]| p[at..at + 4].copy_from_slice(&v);
    assert_eq!(
        edit(&|p| put(p, 0, 0f32.to_le_bytes())),
        Err(Error::QuantScale { tensor: 0 })
    );
    assert_eq!(
        edit(&|p| put(p, s(1).params, f32::NAN.to_le_bytes())),
        Err(Error::QuantScale { tensor: 2 })
    );
    assert_eq!(
        edit(&|p| put(p, s(2).params, (-1f32).to_le_bytes())),
        Err(Error::QuantScale { tensor: 3 })
    );
    assert_eq!(
        edit(&|p| put(p, 4, 128i32.to_le_bytes())),
        Err(Error::ZeroPoint {
            tensor: 0,
            value: 128
        })
    );
    assert_eq!(
        edit(&|p| put(p, s(0).params + 4, (-129i32).to_le_bytes())),
        Err(Error::ZeroPoint {
            tensor: 1,
            value: -129
        })
    );
    assert_eq!(
        edit(&|p| put(p, s(2).params + 4, 1i32.to_le_bytes())),
        Err(Error::ZeroPoint {
            tensor: 3,
            value: 1
        })
    );
    assert_eq!(
        edit(&|p| put(p, s(1).multipliers + 4 * 8, (-5i32).to_le_bytes())),
        Err(Error::QuantMultiplier {
            layer: 1,
            unit: 8,
            value: -5
        })
    );
    assert_eq!(
        edit(&|p| p[s(0).shifts + 16] = 32),
        Err(Error::QuantShift {
            layer: 0,
            unit: 16,
            shift: 32
        })
    );
    // Shift padding (17 units: 3 bytes), the zero row (fan-in 33) and the zero column
    // (17 units, 9 units).
    assert_eq!(
        edit(&|p| p[s(0).shifts + 18] = 1),
        Err(Error::PaddingNotZero { layer: 0 })
    );
    let w = |i: usize, r: usize, j: usize| {
        s(i).weights + crate::int8::layout::weight_offset(&s(i), r, j)
    };
    assert_eq!(
        edit(&|p| p[w(0, 33, 4)] = 1),
        Err(Error::PaddingNotZero { layer: 0 })
    );
    assert_eq!(
        edit(&|p| p[w(0, 12, 17)] = 1),
        Err(Error::PaddingNotZero { layer: 0 })
    );
    assert_eq!(
        edit(&|p| p[w(1, 16, 9)] = 1),
        Err(Error::PaddingNotZero { layer: 1 })
    );
    // A real weight may be anything.
    assert_eq!(edit(&|p| p[w(1, 16, 8)] ^= 0xFF), Ok(()));
    // Lengths: the header's payload length must be the int8 one for the topology.
    let mut b = [0u8; 16_384];
    b[..len].copy_from_slice(&good.0[..len]);
    let f32_len = (4 * m.topology.params_len()) as u32;
    b[12..16].copy_from_slice(&f32_len.to_le_bytes());
    assert_eq!(
        Blob::parse(&b[..len]).map(|_| ()),
        Err(Error::PayloadLength {
            header: f32_len as usize,
            topology: len - HEADER_LEN
        })
    );
    assert_eq!(
        Blob::parse(&good.0[..len - 1]).map(|_| ()),
        Err(Error::Truncated {
            needed: len,
            actual: len - 1
        })
    );
    // Sigmoid and tanh layers are refused before the payload is looked at.
    let mut b = [0u8; 16_384];
    b[..len].copy_from_slice(&good.0[..len]);
    b[16 + 4] = Sigmoid.code();
    assert_eq!(
        Blob::parse(&b[..len]).map(|_| ()),
        Err(Error::Int8Activation(2))
    );
}

#[test]
fn no_panic_on_mutated_int8_blobs() {
    let (m, good, len) = corrupt_sample();
    let mut rng = Rng::new(6);
    let mut b = Aligned([0; 16_384]);
    let mut scratch = [0u32; 256];
    let mut out = [0i32; 4];
    let mut x = [0i8; 33];
    let mut parsed = 0;
    for round in 0..20_000 {
        b.0[..len].copy_from_slice(&good.0[..len]);
        for _ in 0..1 + round % 4 {
            // Header bytes more often than their share: they steer everything else.
            let at = match rng.below(3) {
                0 => rng.below(HEADER_LEN),
                _ => rng.below(len),
            };
            b.0[at] = rng.next_u64() as u8;
        }
        if round % 2 == 0 {
            reseal(&mut b.0[..len]);
        }
        let cut = if round % 5 == 0 {
            rng.below(len + 1)
        } else {
            len
        };
        if let Ok(net) = Int8Network::parse(&b.0[..cut]) {
            parsed += 1;
            let t = net.topology();
            if t.input() <= x.len() && t.outputs() <= out.len() && net.scratch_len() <= 256 {
                for q in &mut x {
                    *q = rng.next_u64() as i8;
                }
                let n = t.outputs();
                net.logits(&x[..t.input()], &mut scratch, &mut out[..n])
                    .unwrap();
            }
        }
    }
    assert!(parsed > 1000, "{parsed}");
    let _ = m;
}

#[test]
fn raw_inputs_scale_then_quantize() {
    use crate::scaling::InputScaling;
    let mut rng = Rng::new(5);
    let mut buf = Aligned([0; 16_384]);
    let m = Model::random(&mut rng, 7, SHAPES[0].1);
    let len = m.write(&mut buf.0);
    let net = Int8Network::parse(&buf.0[..len]).unwrap();
    let offset = [1.0, -2.0, 0.5, 3.0, 0.0, 10.0, -7.5];
    let divisor = [2.0, 0.25, 1.0, 3.0, 255.0, 0.1, 4.0];
    let s = InputScaling {
        offset: &offset,
        divisor: &divisor,
    };
    let raw: [f32; 14] = core::array::from_fn(|i| (i as f32 - 6.0) * 0.37);
    let mut q = [0i8; 14];
    net.quantize_raw(&s, &raw, &mut q).unwrap();
    // The same bits as scaling the whole rows, then quantizing each value.
    let mut scaled = [0.0f32; 14];
    s.apply(&raw, &mut scaled).unwrap();
    let params = net.input_params();
    for (a, &x) in q.iter().zip(&scaled) {
        assert_eq!(*a, params.quantize(x));
    }
    let (mut scratch, mut out, mut want) = ([0u32; 64], [0i32; 3], [0i32; 3]);
    let mut input = [0i8; 7];
    net.logits_raw(&s, &raw[..7], &mut input, &mut scratch, &mut out)
        .unwrap();
    net.logits(&q[..7], &mut scratch, &mut want).unwrap();
    assert_eq!(out, want);
    assert!(net.quantize_raw(&s, &raw[..6], &mut q[..6]).is_err());
    assert!(net.quantize_raw(&s, &raw, &mut q[..7]).is_err());
    let narrow = InputScaling {
        offset: &offset[..6],
        divisor: &divisor[..6],
    };
    assert!(net.quantize_raw(&narrow, &raw, &mut q).is_err());
    assert!(net
        .logits_raw(&s, &raw[..7], &mut input[..6], &mut scratch, &mut out)
        .is_err());
}

/// The bytes the writer wrote before the offset coding: element type 1, every weight
/// (padding included) its plain i8.
fn signed_coding(bytes: &mut [u8], t: &Topology) {
    for i in 0..t.layers().len() {
        let s = section_of(t.input(), t.layers(), i);
        for r in 0..2 * s.pairs {
            for j in (0..s.cols).step_by(2) {
                bytes[HEADER_LEN + s.weights + crate::int8::layout::weight_offset(&s, r, j)] ^=
                    0x80;
            }
        }
    }
    bytes[6] = 1;
    reseal(bytes);
}

#[test]
fn blobs_of_the_older_coding_run_alike_and_recode_to_todays_bytes() {
    let mut rng = Rng::new(9);
    let (mut new, mut old) = (Aligned([0; 16_384]), Aligned([0; 16_384]));
    for (input, layers) in SHAPES {
        let m = Model::random(&mut rng, input, layers);
        let len = m.write(&mut new.0);
        assert_eq!(new.0[6], 2, "the writer's element type code");
        old.0[..len].copy_from_slice(&new.0[..len]);
        signed_coding(&mut old.0[..len], &m.topology);
        let nets = [
            Int8Network::parse(&new.0[..len]).unwrap(),
            Int8Network::parse(&old.0[..len]).unwrap(),
        ];
        assert_eq!(nets[0].coding(), WeightCoding::EvenOffset);
        assert_eq!(nets[1].coding(), WeightCoding::Signed);
        assert_eq!(
            Blob::parse(&old.0[..len]).unwrap().element_type(),
            ElementType::Int8
        );
        for (i, l) in layers.iter().enumerate() {
            for net in &nets {
                let v = net.layer(i).unwrap();
                for r in 0..v.fan_in() {
                    for j in 0..l.units {
                        assert_eq!(v.weight(r, j), m.weights[i][r * l.units + j]);
                    }
                }
            }
        }
        let mut scratch = [0u32; 512];
        let scratch = &mut scratch[..nets[0].scratch_len()];
        let outputs = m.topology.outputs();
        for _ in 0..10 {
            let mut x = [0i8; 64];
            for q in &mut x[..input] {
                *q = match rng.below(3) {
                    0 => m.input.zero_point as i8,
                    1 => rng.next_u64() as i8,
                    _ => [-128, 127][rng.below(2)],
                };
            }
            let mut want = [0i32; 16];
            m.reference(&x[..input], &mut want[..outputs]);
            for net in &nets {
                let mut got = [0i32; 16];
                net.logits(&x[..input], scratch, &mut got[..outputs])
                    .unwrap();
                assert_eq!(got[..outputs], want[..outputs]);
            }
        }
        assert_eq!(recode_signed(&mut old.0[..len]), Ok(true));
        assert_eq!(old.0[..len], new.0[..len]);
        assert_eq!(recode_signed(&mut old.0[..len]), Ok(false));
        assert_eq!(old.0[..len], new.0[..len]);
    }
    // Padding is checked in each coding: 0x80 is a zero in an even column of type 2 only.
    let (m, good, len) = corrupt_sample();
    let s = section_of(33, m.topology.layers(), 0);
    let pad = HEADER_LEN + s.weights + crate::int8::layout::weight_offset(&s, 33, 4);
    assert_eq!(good.0[pad], 0x80);
    let mut old = Aligned([0; 16_384]);
    old.0[..len].copy_from_slice(&good.0[..len]);
    signed_coding(&mut old.0[..len], &m.topology);
    assert_eq!(old.0[pad], 0);
    old.0[pad] = 0x80;
    reseal(&mut old.0[..len]);
    assert_eq!(
        Blob::parse(&old.0[..len]).map(|_| ()),
        Err(Error::PaddingNotZero { layer: 0 })
    );
    // An f32 blob is not recoded.
    let t = Topology::new(2, &[Layer::new(2, Softmax)]).unwrap();
    let mut f = [0u8; crate::sizes::blob_len(2, &[Layer::new(2, Softmax)])];
    crate::format::write_blob(&t, &[0.0; 6], &mut f).unwrap();
    let before = f;
    assert_eq!(recode_signed(&mut f), Err(Error::ElementType));
    assert_eq!(f, before);
}
