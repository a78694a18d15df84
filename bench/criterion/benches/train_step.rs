//! One training step of the tutorial's network (784→32→256→10, linear hidden layers,
//! softmax cross-entropy, SGD) at batch 16 and 64, and a single-sample inference, on real
//! MNIST digits from `MICRODENSE_DATA`. Throughput is in samples per second.
//!
//! Run: `MICRODENSE_DATA=../shared/data/mnist cargo bench -p microdense-bench --bench train_step`
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microdense::{Activation::*, Init, Layer, Network, Sgd, Topology, Trainer};
use microdense_host::data::idx::{data_dir, load_split, Split};
use microdense_host::data::scaled;

const LAYERS: [Layer; 3] = [
    Layer::new(32, Linear),
    Layer::new(256, Linear),
    Layer::new(10, Softmax),
];

/// The first `n` training digits, pixels scaled to [0, 1] as the tool trains on them.
fn digits(n: usize) -> (Vec<f32>, Vec<u8>) {
    let dir = data_dir(None);
    let train = load_split(&dir, Split::Train).unwrap_or_else(|e| {
        panic!("the benchmark needs MNIST (set MICRODENSE_DATA): {e}");
    });
    let xs = (0..n).flat_map(|i| scaled(train.image(i))).collect();
    (xs, train.labels[..n].to_vec())
}

fn network() -> Network<Vec<f32>> {
    let t = Topology::new(784, &LAYERS).unwrap();
    let mut net = Network::new(t.clone(), vec![0.0; t.params_len()]).unwrap();
    net.init(Init::GlorotNormal, 1);
    net
}

fn bench(c: &mut Criterion) {
    eprintln!("wide (AVX2) loops: {}", microdense::kernels::wide_loops());
    let (all_xs, all_ys) = digits(64);
    let mut group = c.benchmark_group("train_step");
    for batch in [16usize, 64] {
        let mut net = network();
        let t = net.topology().clone();
        let (xs, ys) = (&all_xs[..batch * 784], &all_ys[..batch]);
        let mut scratch = vec![0.0; t.train_scratch_len(batch)];
        // A small learning rate keeps the weights finite over millions of steps.
        let mut trainer = Trainer::new(&t, batch, Sgd::new(1e-4), &mut scratch, &mut []).unwrap();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, _| {
            b.iter(|| trainer.step(&mut net, black_box(xs), ys).unwrap())
        });
    }
    group.finish();

    let net = network();
    let mut scratch = vec![0.0; net.topology().infer_scratch_len(1)];
    let mut group = c.benchmark_group("inference");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_sample", |b| {
        b.iter(|| {
            net.predict(black_box(&all_xs[..784]), &mut scratch)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
