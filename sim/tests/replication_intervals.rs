//! Percentiles across replications: the pooled estimate and its interval (Woodruff's, from the
//! replications' spread at the pooled estimate) cover the exact M/M/c sojourn-time percentile
//! (Erlang C) at their nominal rate.

mod support;

use sim::rng::replication_seed;
use sim::summary::SectionRef;
use sim::world::{run, RunOptions};
use support::*;

/// P(sojourn > t) in M/M/c FCFS: with probability 1 − C no wait, else an exponential wait at rate
/// θ = cμ − λ, plus an exponential service at rate μ.
fn mmc_sojourn_tail(c: u32, lambda: f64, mu: f64, t: f64) -> f64 {
    let waits = erlang_c(c, lambda / mu);
    let theta = f64::from(c) * mu - lambda;
    let waited = (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu);
    (1.0 - waits) * (-mu * t).exp() + waits * waited
}

fn mmc_sojourn_quantile(c: u32, lambda: f64, mu: f64, q: f64) -> f64 {
    let (mut low, mut high) = (0.0, 100.0 / mu);
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if mmc_sojourn_tail(c, lambda, mu, mid) > 1.0 - q {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

#[test]
fn pooled_p99_intervals_cover_the_erlang_c_percentile() {
    // M/M/4 at ρ = 0.9 (one queue, four instances; λ = 360/s, 10 ms mean service); 10 replications of 30 s; 200 independent
    // experiments. A 95% interval that is right covers in 95% of them: the binomial 99.9% band
    // for 200 is 95% ± 5.1 points.
    let text = r#"
name = "mm4"
duration = "30s"
warmup = "2s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "360/s" }
[serving]
queue_capacity = 1000000
service_time = { kind = "exponential", mean = "10ms" }
batching = { max_batch = 1, instances = 4 }
"#;
    let model = model(text);
    let exact_ms = mmc_sojourn_quantile(4, 360.0, 100.0, 0.99) * 1e3;
    const EXPERIMENTS: u64 = 200;
    const REPLICATIONS: u32 = 10;
    let experiment = |k: u64| -> (f64, (f64, f64), f64) {
        let mut per_replication = Vec::new();
        let mut sketches = Vec::new();
        let mut pooled = None::<(sim::summary::Summary, sim::summary::Distributions)>;
        for r in 0..REPLICATIONS {
            let out = run(&model, &RunOptions::seeded(replication_seed(1000 + k, r)));
            per_replication.push(out.summary.overall.latency_ms.p99.unwrap());
            sketches.push(out.distributions.sketch());
            match &mut pooled {
                None => pooled = Some((out.summary, out.distributions)),
                Some((_, d)) => d.merge(&out.distributions),
            }
        }
        let (mut summary, distributions) = pooled.unwrap();
        distributions.apply(&model, &mut summary);
        let estimate = summary.overall.latency_ms.p99.unwrap();
        let interval = distributions.latency_interval(&sketches, SectionRef::Overall, 0.99, 0.95).unwrap();
        let mean = per_replication.iter().sum::<f64>() / per_replication.len() as f64;
        (estimate, interval, mean)
    };
    let results: Vec<(f64, (f64, f64), f64)> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0..EXPERIMENTS / 2, EXPERIMENTS / 2..EXPERIMENTS]
            .into_iter()
            .map(|range| scope.spawn(move || range.map(experiment).collect::<Vec<_>>()))
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let covered = results.iter().filter(|(_, (low, high), _)| (*low..=*high).contains(&exact_ms)).count();
    let coverage = covered as f64 / EXPERIMENTS as f64;
    let pooled_bias = results.iter().map(|r| r.0 / exact_ms - 1.0).sum::<f64>() / EXPERIMENTS as f64;
    let mean_bias = results.iter().map(|r| r.2 / exact_ms - 1.0).sum::<f64>() / EXPERIMENTS as f64;
    assert!(
        (0.95 - 0.051..=1.0).contains(&coverage),
        "coverage {coverage:.3} of the exact p99 {exact_ms:.3} ms; pooled bias {pooled_bias:+.4}, mean-of-replications bias {mean_bias:+.4}"
    );
    // The pooled estimate is the less biased: short runs pull each replication's tail quantile down.
    assert!(pooled_bias.abs() < mean_bias.abs(), "pooled {pooled_bias:+.4} vs mean {mean_bias:+.4}");
}
