//! One training step of the tutorial's network (784→32→256→10) at batch 16 and 64, and a
//! single-sample inference. Throughput is reported in samples per second.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use microdense::{Activation::*, Init, Layer, Network, Rng, Sgd, Topology, Trainer};

const LAYERS: [Layer; 3] = [
    Layer::new(32, Linear),
    Layer::new(256, Linear),
    Layer::new(10, Softmax),
];

fn data(n: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(5);
    let xs = (0..n * 784).map(|_| rng.next_f64() as f32).collect();
    let ys = (0..n).map(|_| rng.below(10) as u8).collect();
    (xs, ys)
}

fn network() -> Network<Vec<f32>> {
    let t = Topology::new(784, &LAYERS).unwrap();
    let mut net = Network::new(t.clone(), vec![0.0; t.params_len()]).unwrap();
    net.init(Init::GlorotNormal, 1);
    net
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for batch in [16usize, 64] {
        let mut net = network();
        let t = net.topology().clone();
        let (xs, ys) = data(batch);
        let mut scratch = vec![0.0; t.train_scratch_len(batch)];
        // A small learning rate keeps the weights finite over millions of steps.
        let mut trainer = Trainer::new(&t, batch, Sgd::new(1e-4), &mut scratch, &mut []).unwrap();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, _| {
            b.iter(|| trainer.step(&mut net, black_box(&xs), &ys).unwrap())
        });
    }
    group.finish();

    let net = network();
    let (x, _) = data(1);
    let mut scratch = vec![0.0; net.topology().infer_scratch_len(1)];
    let mut group = c.benchmark_group("inference");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_sample", |b| {
        b.iter(|| net.predict(black_box(&x), &mut scratch).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
