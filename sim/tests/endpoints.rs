//! Several endpoints in the same regions: each is an M/M/c system of its own (Erlang C), every
//! request is counted once per endpoint and once overall, and routing, failover and SLOs work per
//! endpoint — checked against queueing theory and hand-worked outage timelines.

mod support;

use sim::world::{run, Outcome, RunOptions};
use support::*;

/// Two endpoints in one region, each one replica of `c` instances sharing its queue: "fast" is
/// M/M/4 at ρ = 0.8 (1 ms service), "slow" M/M/2 at ρ = 0.75 (5 ms service). The main endpoint
/// serves nothing.
const TWO_QUEUES: &str = r#"
name = "two-queues"
duration = "60s"
warmup = "3s"
interval = "1h"
[regions.a]
replicas = 0
[endpoints.fast]
serving = { queue_capacity = 10000000, service_time = { kind = "exponential", mean = "1ms" }, batching = { max_batch = 1, instances = 4 } }
regions.a = { replicas = 1 }
[endpoints.slow]
serving = { queue_capacity = 10000000, service_time = { kind = "exponential", mean = "5ms" }, batching = { max_batch = 1, instances = 2 } }
regions.a = { replicas = 1 }
[[traffic]]
origin = "a"
endpoint = "fast"
arrivals = { process = "poisson", rate = "3200/s" }
[[traffic]]
origin = "a"
endpoint = "slow"
arrivals = { process = "poisson", rate = "300/s" }
"#;

#[test]
fn each_endpoint_is_its_own_mmc_queue_and_every_request_is_counted_once() {
    let model = model(TWO_QUEUES);
    let summaries = replicate(&model, 16);
    for (name, c, lambda, mu) in [("fast", 4, 3200.0, 1000.0), ("slow", 2, 300.0, 200.0)] {
        let waits: Vec<f64> =
            summaries.iter().map(|s| s.endpoints[name].stats.queue_wait_ms.mean.unwrap() / 1e3).collect();
        let (mean, se) = mean_se(&waits);
        let theory = mmc_mean_wait(c, lambda, mu);
        println!("{name}: M/M/{c} mean wait {:.4} ms ± {:.4}, Erlang C {:.4} ms", mean * 1e3, se * 1e3, theory * 1e3);
        assert!(se / theory < 0.04, "{name}: SE {:.1}% of the mean", 100.0 * se / theory);
        assert!((mean - theory).abs() <= t_9995(waits.len() - 1) * se, "{name}: {mean} vs Erlang C {theory}");
    }
    for s in &summaries {
        let (fast, slow) = (&s.endpoints["fast"].stats, &s.endpoints["slow"].stats);
        assert_conserved(fast);
        assert_conserved(slow);
        assert_conserved(&s.overall);
        // The top level is both endpoints together: counts add up, and so does the region's.
        assert_eq!(s.overall.requests.offered, fast.requests.offered + slow.requests.offered);
        assert_eq!(s.overall.requests.completed, fast.requests.completed + slow.requests.completed);
        assert_eq!(s.regions["a"].stats.requests.offered, s.overall.requests.offered);
        assert_eq!(s.overall.replicas, 2);
        // No endpoint of the other's: neither has requests of the other's size.
        assert_eq!(s.endpoints["fast"].regions.keys().collect::<Vec<_>>(), ["a"]);
        assert!(!s.endpoints.contains_key("main"), "the main endpoint serves nothing here");
    }
}

/// "ranker" is deployed in a and b, "search" in a only; clients in a call both. Region a goes out
/// at 100 s for 60 s; the router's probes (every 10 s, 3 failures) take a out at 120 s.
const OUTAGE: &str = r#"
name = "endpoint-outage"
duration = "240s"
interval = "10s"
[regions.a]
replicas = 0
[regions.b]
replicas = 0
[network]
links = [{ from = "a", to = "b", rtt = "40ms" }]
[endpoints.ranker]
serving = { service_time = { kind = "constant", value = "5ms" } }
regions.a = { replicas = 2 }
regions.b = { replicas = 2 }
slo = { availability = 0.9 }
[endpoints.search]
serving = { service_time = { kind = "constant", value = "2ms" } }
regions.a = { replicas = 2 }
slo = { availability = 0.9, latency = [{ percentile = 50, max = "10ms" }] }
[[traffic]]
origin = "a"
endpoint = "ranker"
arrivals = { process = "constant", rate = "100/s" }
[[traffic]]
origin = "a"
endpoint = "search"
arrivals = { process = "constant", rate = "50/s" }
[routing.health_check]
interval = "10s"
failure_threshold = 3
[[faults]]
kind = "region_outage"
region = "a"
at = "100s"
duration = "60s"
"#;

#[test]
fn an_outage_fails_over_the_endpoint_deployed_elsewhere_and_fails_the_one_that_is_not() {
    let m = model(OUTAGE);
    let out = run(&m, &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    let s = &out.summary;
    let (ranker, search) = (&s.endpoints["ranker"], &s.endpoints["search"]);
    // ranker: sent to a in [100, 120) fail (100/s × 20 s); from 120 s to 160 s it goes to b.
    assert_eq!(ranker.stats.requests.failed, 2000);
    assert_eq!(ranker.regions["b"].stats.requests.failover, 4000);
    assert!((ranker.regions["b"].stats.latency_ms.p50.unwrap() - 45.0).abs() < 0.05);
    // search has nowhere else: everything sent in [100, 160) fails (50/s × 60 s).
    assert_eq!(search.stats.requests.failed, 3000);
    assert_eq!(search.stats.requests.failover, 0);
    assert_eq!(s.overall.requests.failed, 5000);
    for section in [&ranker.stats, &search.stats, &s.overall, &s.regions["a"].stats, &s.regions["b"].stats] {
        assert_conserved(section);
    }
    // Per-endpoint SLOs: ranker answers 22 000 of 24 000 (0.9167 ≥ 0.9); search 9 000 of 12 000.
    let ranker_slo = ranker.slo.as_ref().unwrap();
    assert!(ranker_slo.met, "{ranker_slo:?}");
    assert!((ranker_slo.availability.as_ref().unwrap().observed - 22_000.0 / 24_000.0).abs() < 1e-12);
    let search_slo = search.slo.as_ref().unwrap();
    assert!(!search_slo.met, "{search_slo:?}");
    assert_eq!(search_slo.availability.as_ref().unwrap().observed, 0.75);
    // Its p50 over offered requests is a completed one (75% answered): 2 ms, met alone.
    assert!(search_slo.latency[0].met);
    // The records agree with the timeline, request by request.
    let mut search_failed = 0;
    for record in &out.requests {
        let sent = record.sent as f64 / 1e9;
        if record.outcome == Outcome::Failed && record.region == 0 && !(100.0..160.0).contains(&sent) {
            panic!("a failure outside the outage: {record:?}");
        }
        search_failed += usize::from(record.outcome == Outcome::Failed && (120.0..160.0).contains(&sent));
    }
    // From 120 s only search fails: 50/s × 40 s.
    assert_eq!(search_failed, 2000);
}

#[test]
fn the_main_endpoint_keeps_its_results_when_a_named_one_is_added_beside_it() {
    // A named endpoint has its own pools and random streams: the main endpoint's requests see
    // exactly the same service times, routes and outcomes with or without it.
    let main_only = r#"
name = "beside"
duration = "30s"
[regions.a]
replicas = 2
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "300/s" }
[serving]
service_time = { kind = "exponential", mean = "4ms" }
"#;
    let with_named = format!(
        "{main_only}\n[endpoints.other]\nserving = {{ service_time = {{ kind = \"exponential\", mean = \"9ms\" }} }}\nregions.a = {{ replicas = 1 }}\n[[traffic]]\norigin = \"a\"\nendpoint = \"other\"\narrivals = {{ process = \"poisson\", rate = \"50/s\" }}\n"
    );
    let alone = run_seed(&model(main_only), 3).summary;
    let beside = run_seed(&model(&with_named), 3).summary;
    let main = &beside.endpoints["main"].stats;
    assert_eq!(main.requests, alone.overall.requests);
    assert_eq!(main.latency_ms, alone.overall.latency_ms);
    assert_eq!(main.queue_wait_ms, alone.overall.queue_wait_ms);
    assert!(beside.endpoints["other"].stats.requests.offered > 0);
}

#[test]
fn a_replica_fault_acts_on_the_endpoint_it_names() {
    // Both endpoints in one region, constant service: main 5 ms, other 1 ms. other's two
    // replicas run 3× slower from 10 s to 20 s; main's never do.
    let text = r#"
name = "slow-one"
duration = "30s"
[regions.a]
replicas = 2
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "20/s" }
[serving]
service_time = { kind = "constant", value = "5ms" }
[endpoints.other]
serving = { service_time = { kind = "constant", value = "1ms" } }
regions.a = { replicas = 2 }
[[traffic]]
origin = "a"
endpoint = "other"
arrivals = { process = "constant", rate = "20/s" }
[[faults]]
kind = "slow_replica"
region = "a"
endpoint = "other"
replicas = 2
factor = 3
at = "10s"
duration = "10s"
"#;
    let s = run_seed(&model(text), 1).summary;
    let (main, other) = (&s.endpoints["main"].stats, &s.endpoints["other"].stats);
    assert!((main.service_time_ms.max.unwrap() - 5.0).abs() < 0.01, "{:?}", main.service_time_ms);
    assert!((main.service_time_ms.p50.unwrap() - 5.0).abs() < 0.01);
    assert!((other.service_time_ms.max.unwrap() - 3.0).abs() < 0.01, "{:?}", other.service_time_ms);
    // A third of other's requests (10 of 30 s) ran slow: its p50 is still 1 ms, its p90 3 ms.
    assert!((other.service_time_ms.p50.unwrap() - 1.0).abs() < 0.01);
    assert!((other.service_time_ms.p90.unwrap() - 3.0).abs() < 0.01);
}
