//! Shared by the integration tests: scenario building and independent queueing formulas.

#![allow(dead_code)]

use sim::model::{build, Inputs, Model};
use sim::summary::{Section, Summary};
use sim::world::{run, RequestRecord, RunOptions, RunOutput};

pub fn model(toml_text: &str) -> Model {
    let scenario = toml::from_str(toml_text).unwrap_or_else(|e| panic!("test scenario does not parse: {e}"));
    build(&scenario, &Inputs::default()).unwrap_or_else(|e| panic!("test scenario does not build: {e}"))
}

pub const MS: u64 = 1_000_000;

/// Runs `text` keeping every request's record, in the order they were sent.
pub fn records(text: &str, seed: u64) -> Vec<RequestRecord> {
    let model = model(text);
    let mut out = run(&model, &RunOptions { seed, record_requests: true, ..Default::default() }).requests;
    out.sort_by_key(|r| r.serial);
    out
}

pub fn run_seed(model: &Model, seed: u64) -> RunOutput {
    run(model, &RunOptions::seeded(seed))
}

/// Runs `replications` seeds on two threads (the test machine's cores); order follows the seeds.
pub fn replicate(model: &Model, replications: u64) -> Vec<Summary> {
    let seeds: Vec<u64> = (1..=replications).collect();
    let mut out: Vec<(u64, Summary)> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(seeds.len().div_ceil(2))
            .map(|chunk| {
                scope.spawn(move || chunk.iter().map(|&s| (s, run_seed(model, s).summary)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("replication thread")).collect()
    });
    out.sort_by_key(|(seed, _)| *seed);
    out.into_iter().map(|(_, s)| s).collect()
}

/// Mean and standard error of the mean across replications.
pub fn mean_se(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// Two-sided 99.9% quantile of Student's t (published tables), for the acceptance band of theory
/// tests: with fixed seeds and many cases, a 95% band would fail one case in twenty by design.
/// Takes the tabulated df at or below `df`, which errs on the wide side.
pub fn t_9995(df: usize) -> f64 {
    const TABLE: [(usize, f64); 15] = [
        (1, 636.6),
        (2, 31.60),
        (3, 12.92),
        (4, 8.610),
        (5, 6.869),
        (6, 5.959),
        (7, 5.408),
        (8, 5.041),
        (9, 4.781),
        (10, 4.587),
        (15, 4.073),
        (20, 3.850),
        (30, 3.646),
        (60, 3.460),
        (120, 3.373),
    ];
    TABLE.iter().rev().find(|&&(d, _)| d <= df).map_or(f64::INFINITY, |&(_, t)| t)
}

/// Erlang C: probability that an arrival waits in M/M/c with offered load `a = λ/μ` (via the
/// Erlang B recursion, which stays stable for large c).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let c = f64::from(c);
    c * b / (c - a * (1.0 - b))
}

/// Mean wait in queue of M/M/c: C(c, a) / (cμ − λ).
pub fn mmc_mean_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda)
}

/// Pollaczek–Khinchine mean wait of M/G/1: λ E[S²] / (2 (1 − ρ)).
pub fn pk_mean_wait(lambda: f64, mean_service: f64, second_moment: f64) -> f64 {
    let rho = lambda * mean_service;
    lambda * second_moment / (2.0 * (1.0 - rho))
}

/// Erlang's M/D/1 waiting-time distribution: P(W ≤ t) = (1 − ρ) Σ_{k=0}^{⌊t/S⌋} [λ(kS − t)]^k / k! ·
/// e^{−λ(kS − t)}, for arrivals at rate λ and a constant service time S. The alternating sum loses
/// precision far into the tail: up to t = 20 S at ρ ≤ 0.8 its largest term is below e^17, so doubles
/// keep the sum to about 1e-9.
pub fn md1_wait_cdf(t: f64, lambda: f64, service: f64) -> f64 {
    let rho = lambda * service;
    let mut sum = 0.0;
    for k in 0..=(t / service).floor() as u32 {
        let x = lambda * (f64::from(k) * service - t);
        let mut term = (-x).exp();
        for j in 1..=k {
            term *= x / f64::from(j);
        }
        sum += term;
    }
    (1.0 - rho) * sum
}

/// The waiting time W with P(W ≤ w) = q, by bisection on the CDF.
pub fn md1_wait_quantile(q: f64, lambda: f64, service: f64) -> f64 {
    let (mut low, mut high) = (0.0, 20.0 * service);
    assert!(md1_wait_cdf(high, lambda, service) > q, "the quantile lies past 20 S");
    if md1_wait_cdf(0.0, lambda, service) >= q {
        return 0.0;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if md1_wait_cdf(mid, lambda, service) < q {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// Every offered request ended one way: answered, degraded, failed, dropped, timed out or unfinished.
pub fn assert_conserved(section: &Section) {
    let r = &section.requests;
    assert_eq!(r.offered, r.completed + r.degraded + r.failed + r.timed_out + r.dropped + r.unfinished, "{r:?}");
}
