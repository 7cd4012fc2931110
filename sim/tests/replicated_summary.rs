//! A run's replications summarized together (`ReplicatedSummary`), checked against the same
//! numbers worked out by hand from each replication's own summary: means with Student-t intervals
//! (t from the printed table, not the crate's series), shares of replications, and percentiles
//! from the pooled histograms with their replication mean beside.

mod support;

use sim::replicated::{Estimate, ReplicatedSummary, Replications};
use sim::rng::replication_seed;
use sim::world::{run, RunOptions};
use support::*;

/// t with 2 degrees of freedom at 0.975 (any printed t table).
const T_975_DF2: f64 = 4.302_652_729_911_275;

#[test]
fn replicated_means_shares_and_pooled_percentiles_match_the_hand_computation() {
    let model = model(
        r#"
name = "three"
duration = "20s"
warmup = "2s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "300/s" }
[serving]
service_time = { kind = "exponential", mean = "3ms" }
batching = { max_batch = 1, instances = 1 }
[slo]
latency = [{ percentile = 99, max = "25ms" }]
"#,
    );
    let mut summaries = Vec::new();
    let mut sketches = Vec::new();
    let mut pooled = None;
    for r in 0..3 {
        let out = run(&model, &RunOptions::seeded(replication_seed(7, r)));
        summaries.push(out.summary.clone());
        sketches.push(out.distributions.sketch());
        match &mut pooled {
            None => pooled = Some((out.summary, out.distributions)),
            Some((_, d)) => d.merge(&out.distributions),
        }
    }
    let (mut pooled_summary, distributions) = pooled.unwrap();
    distributions.apply(&model, &mut pooled_summary);
    let replications = Replications {
        summaries: &summaries,
        pooled: &pooled_summary,
        distributions: &distributions,
        sketches: &sketches,
    };
    let replicated = ReplicatedSummary::new(&replications, Vec::new());

    // Offered requests: the mean of three counts and mean ± t·s/√3.
    let offered: Vec<f64> = summaries.iter().map(|s| s.overall.requests.offered as f64).collect();
    let mean = offered.iter().sum::<f64>() / 3.0;
    let sd = (offered.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let half = T_975_DF2 * sd / 3f64.sqrt();
    let got = &replicated.overall.requests.offered;
    assert_eq!(got.n, 3);
    assert!((got.mean - mean).abs() < 1e-9 * mean, "{got:?} vs {mean}");
    assert!((got.ci95_high - got.mean - half).abs() < 1e-6 * half.max(1.0), "{got:?} vs half {half}");
    assert!(half > 0.0, "three Poisson counts differ");

    // p99: the pooled histograms' value, with the three replications' mean beside it.
    let Some(Estimate::Pooled(p99)) = &replicated.overall.latency_ms.p99 else { panic!("a pooled p99") };
    assert_eq!(Some(p99.estimate), pooled_summary.overall.latency_ms.p99);
    let each: Vec<f64> = summaries.iter().map(|s| s.overall.latency_ms.p99.unwrap()).collect();
    assert!((p99.mean_of_replications - each.iter().sum::<f64>() / 3.0).abs() < 1e-9);
    assert!(p99.ci95_low <= p99.estimate && p99.estimate <= p99.ci95_high, "{p99:?}");

    // M/M/1 at ρ = 0.9: p99 sojourn = ln(100)/(μ − λ) = 4.605/33.3 = 138 ms, far over 25 ms, so the
    // SLO fails in every replication and pooled; the share is 0 of 3.
    let slo = replicated.slo.as_ref().unwrap();
    assert_eq!(slo.met.fraction_true, 0.0);
    assert!(!slo.met_pooled);
    assert_eq!(replicated.seed, (0..3).map(|r| replication_seed(7, r)).collect::<Vec<_>>());
    assert_eq!(replicated.replications, 3);
}
