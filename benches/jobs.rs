//! Batch-job speed: one night of `scenarios/churn-nightly.toml` (10 million records, failures,
//! spot preemptions, stragglers, speculation) through the batch-level job engine, against the least
//! a per-record simulation must do for the same night — one heap push and pop per record —
//! measured in the same run. Their ratio is the figure (docs/performance.md).

use criterion::{criterion_group, criterion_main, Criterion};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

fn churn_job() -> sim::model::jobs::JobModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/churn-nightly.toml");
    let loaded = servesim::load::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let mut model = loaded.build().unwrap_or_else(|e| panic!("{e}"));
    model.jobs.remove(0)
}

/// One event per record on a binary heap, each record's finish a fixed step after the last: the
/// floor of a per-record simulation of `records` records on `tasks` tasks.
fn per_record_floor(records: u64, tasks: u64) -> u64 {
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(tasks as usize);
    for task in 0..tasks {
        heap.push(Reverse((task, task)));
    }
    let mut done = 0;
    while let Some(Reverse((time, task))) = heap.pop() {
        done += 1;
        if done + heap.len() as u64 >= records {
            continue;
        }
        heap.push(Reverse((time + 6_667 + (task & 7), task)));
    }
    done
}

fn jobs(c: &mut Criterion) {
    let job = churn_job();
    let records = job.records;
    let tasks = u64::from(job.workers.count * job.workers.slots);
    let mut group = c.benchmark_group("churn-nightly-one-night");
    group.sample_size(10);
    group.bench_function("per-record-heap-floor", |b| b.iter(|| per_record_floor(records, tasks)));
    group.bench_function("servesim-job-engine", |b| b.iter(|| sim::job::run(&job, 7).records_written));
    group.finish();
}

criterion_group!(benches, jobs);
criterion_main!(benches);
