//! Global routing and regional balancing against exact splits, hand-computed latencies and the
//! well-known ordering of balancing policies.

mod support;

use sim::world::{run, RequestRecord, RunOptions};
use support::*;

fn records(text: &str, seed: u64) -> Vec<RequestRecord> {
    run(&model(text), &RunOptions { seed, record_requests: true, ..Default::default() }).requests
}

const TWO_REGIONS: &str = r#"
name = "routing"
duration = "200s"
[regions.a]
replicas = 2
[regions.b]
replicas = 2
[regions.c]
replicas = 0
[network]
same_region_rtt = "2ms"
links = [
  { from = "a", to = "b", rtt = "40ms" },
  { from = "a", to = "c", rtt = "10ms" },
  { from = "b", to = "c", rtt = "50ms" },
]
[[traffic]]
origin = "c"
arrivals = { process = "poisson", rate = "200/s" }
[serving]
service_time = { kind = "constant", value = "3ms" }
"#;

#[test]
fn nearest_sends_everything_to_the_closest_region_and_adds_its_rtt() {
    let summary = run_seed(&model(TWO_REGIONS), 1).summary;
    let a = &summary.regions["a"].stats;
    let b = &summary.regions["b"].stats;
    assert_eq!(b.requests.offered, 0);
    assert!(a.requests.offered > 35_000);
    // Latency = RTT c↔a (10 ms) + 3 ms service, plus queueing when two requests meet a busy replica.
    assert!((a.latency_ms.p50.unwrap() - 13.0).abs() < 0.02, "{:?}", a.latency_ms);
    assert!(a.latency_ms.max.unwrap() >= 13.0);
}

#[test]
fn weighted_split_follows_the_weights() {
    let text = format!("{TWO_REGIONS}\n[routing]\npolicy = \"weighted\"\nweights = {{ a = 3, b = 1 }}\n");
    let summary = run_seed(&model(&text), 2).summary;
    let a = summary.regions["a"].stats.requests.offered as f64;
    let b = summary.regions["b"].stats.requests.offered as f64;
    let share = a / (a + b);
    // Binomial: n ≈ 40 000, sd of the share = sqrt(0.75 × 0.25 / n) ≈ 0.0022; allow 4 sd.
    assert!((share - 0.75).abs() < 0.009, "share {share}");
    // Region b's answers carry its 50 ms RTT.
    assert!((summary.regions["b"].stats.latency_ms.p50.unwrap() - 53.0).abs() < 0.05);
}

#[test]
fn spillover_moves_traffic_only_when_the_nearest_queue_is_long() {
    // Region a alone cannot keep up with 1000/s of 3 ms requests on 2 replicas (capacity 667/s).
    let overloaded =
        TWO_REGIONS.replace("\"200/s\"", "\"1000/s\"").replace("duration = \"200s\"", "duration = \"60s\"");
    let without = run_seed(&model(&overloaded), 3).summary;
    assert_eq!(without.regions["b"].stats.requests.offered, 0);
    assert!(without.regions["a"].stats.requests.dropped > 0);
    let with = run_seed(&model(&format!("{overloaded}\n[routing]\nspillover_queue = 4\n")), 3).summary;
    let b = &with.regions["b"].stats;
    assert!(b.requests.offered > 10_000, "{:?}", b.requests);
    assert_eq!(with.overall.requests.dropped, 0);
    // About a third of the load (1000 − 667 per second) has to go the long way.
    let spilled = b.requests.offered as f64 / with.overall.requests.offered as f64;
    assert!((0.25..0.45).contains(&spilled), "spilled {spilled}");
    // At 200/s nothing spills: a's queues never reach 4 per replica.
    let calm = run_seed(&model(&format!("{TWO_REGIONS}\n[routing]\nspillover_queue = 4\n")), 3).summary;
    assert_eq!(calm.regions["b"].stats.requests.offered, 0);
}

#[test]
fn latency_aware_routing_prefers_the_emptier_region() {
    // Equal RTTs; region b has four times the replicas, so its queues stay shorter at 1200/s.
    let text = TWO_REGIONS
        .replace("{ from = \"b\", to = \"c\", rtt = \"50ms\" }", "{ from = \"b\", to = \"c\", rtt = \"10ms\" }")
        .replace("[regions.b]\nreplicas = 2", "[regions.b]\nreplicas = 8")
        .replace("\"200/s\"", "\"1200/s\"")
        .replace("duration = \"200s\"", "duration = \"60s\"");
    let summary = run_seed(&model(&format!("{text}\n[routing]\npolicy = \"latency_aware\"\n")), 4).summary;
    let a = summary.regions["a"].stats.requests.offered as f64;
    let b = summary.regions["b"].stats.requests.offered as f64;
    assert!(b > 2.0 * a, "a {a}, b {b}");
    assert_eq!(summary.overall.requests.dropped, 0);
}

#[test]
fn round_robin_splits_exactly() {
    let text = r#"
name = "rr"
duration = "10s"
[regions.a]
replicas = 4
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "400/s" }
[serving]
balancer = "round_robin"
service_time = { kind = "constant", value = "1ms" }
"#;
    let mut per_replica = [0u32; 4];
    for r in records(text, 1) {
        per_replica[r.replica as usize] += 1;
    }
    assert_eq!(per_replica, [1000; 4]);
}

#[test]
fn informed_balancers_beat_random_on_tail_latency() {
    // Eight replicas at ρ = 0.85 with exponential service: random assignment makes eight M/M/1
    // queues; least-outstanding and power-of-two choices are known to cut the tail sharply.
    let base = r#"
name = "balancers"
duration = "1500s"
warmup = "20s"
[regions.a]
replicas = 8
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "680/s" }
[serving]
queue_capacity = 100000
balancer = "BALANCER"
service_time = { kind = "exponential", mean = "10ms" }
"#;
    let p99 = |balancer: &str| {
        let summary = run_seed(&model(&base.replace("BALANCER", balancer)), 9).summary;
        summary.overall.latency_ms.p99.unwrap()
    };
    let (random, round_robin, two, least) =
        (p99("random"), p99("round_robin"), p99("power_of_two"), p99("least_outstanding"));
    println!(
        "p99 ms: random {random:.1}, round robin {round_robin:.1}, power of two {two:.1}, least outstanding {least:.1}"
    );
    // Random = M/M/1 at ρ = 0.85: p99 of the response time = ln(100) / (μ − λ) = 4.6 / 15 s ≈ 307 ms.
    // (1.3 M requests; the p99 of this strongly autocorrelated queue still varies by a few percent.)
    assert!((random / 307.0 - 1.0).abs() < 0.06, "random p99 {random}");
    assert!(two < 0.5 * random);
    assert!(least < two);
    assert!(round_robin < random);
}
