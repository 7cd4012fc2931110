//! Engine speed: the M/M/8 scenario (`scenarios/mmc.toml`) through servesim's real engine and
//! serving model, against a minimal binary-heap M/M/c loop on the same workload measured in the
//! same run. Criterion reports both as elements (events) per second; their ratio is the figure.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

const SIMULATED_SECONDS: f64 = 200.0;

fn mmc_model() -> sim::Model {
    let mut scenario: sim::scenario::Scenario =
        toml::from_str(include_str!("../scenarios/mmc.toml")).expect("bundled scenario parses");
    scenario.duration = sim::units::Duration::from_secs_f64(SIMULATED_SECONDS);
    scenario.warmup = sim::units::Duration::from_secs_f64(10.0);
    sim::build(&scenario, &sim::Inputs::default()).expect("bundled scenario builds")
}

/// The least an M/M/c simulation can do: one heap of (time, kind) events, a FIFO of waiting
/// arrival times, a busy-server count, and the sum of waits. Returns events processed.
fn minimal_mmc(servers: u32, lambda: f64, mu: f64, horizon: f64, seed: u64) -> (u64, f64) {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let inter = Exp::new(lambda).unwrap();
    let service = Exp::new(mu).unwrap();
    // Times in integer nanoseconds, kind 0 = arrival, 1 = departure.
    let mut heap: BinaryHeap<Reverse<(u64, u64, u8)>> = BinaryHeap::with_capacity(64);
    let mut queue: VecDeque<u64> = VecDeque::with_capacity(1024);
    let mut busy = 0;
    let mut sequence = 0u64;
    let mut events = 0u64;
    let mut wait_sum = 0.0;
    let horizon = (horizon * 1e9) as u64;
    heap.push(Reverse(((inter.sample(&mut rng) * 1e9) as u64, sequence, 0)));
    while let Some(Reverse((now, _, kind))) = heap.pop() {
        events += 1;
        sequence += 1;
        if kind == 0 {
            let next = now + (inter.sample(&mut rng) * 1e9) as u64;
            if next < horizon {
                heap.push(Reverse((next, sequence, 0)));
            }
            if busy < servers {
                busy += 1;
                heap.push(Reverse((now + (service.sample(&mut rng) * 1e9) as u64, sequence, 1)));
            } else {
                queue.push_back(now);
            }
        } else if let Some(arrived) = queue.pop_front() {
            wait_sum += (now - arrived) as f64;
            heap.push(Reverse((now + (service.sample(&mut rng) * 1e9) as u64, sequence, 1)));
        } else {
            busy -= 1;
        }
    }
    (events, wait_sum)
}

fn engine(c: &mut Criterion) {
    let model = mmc_model();
    let options = sim::RunOptions::seeded(1);
    let servesim_events = sim::run(&model, &options).events;
    let (baseline_events, _) = minimal_mmc(8, 720.0, 100.0, SIMULATED_SECONDS, 1);

    let mut group = c.benchmark_group("mmc-8-rho-0.9");
    group.sample_size(20);
    group.throughput(Throughput::Elements(baseline_events));
    group.bench_function("minimal-binary-heap-loop", |b| b.iter(|| minimal_mmc(8, 720.0, 100.0, SIMULATED_SECONDS, 1)));
    group.throughput(Throughput::Elements(servesim_events));
    group.bench_function("servesim-engine", |b| b.iter(|| sim::run(&model, &options).events));
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
