//! The latency breakdown: hand-worked splits of single requests, and for every answered request
//! of a run with every feature on the path (retries, outage, cache, feature store, CPU workers,
//! breaker and fallback) stages that add up to its latency exactly.

mod support;

use sim::breakdown::{Stage, STAGES, STAGE_NAMES};
use sim::world::{run, Outcome, RequestRecord, RunOptions};
use support::*;

const MS: u64 = 1_000_000;

fn records(text: &str) -> (Vec<RequestRecord>, sim::summary::Summary) {
    let out = run(&model(text), &RunOptions { seed: 3, record_requests: true, breakdown: true, ..Default::default() });
    (out.requests, out.summary)
}

fn split(r: &RequestRecord) -> [u64; STAGES] {
    r.stages.breakdown(r.sent, r.finished)
}

#[test]
fn one_request_splits_as_its_hand_timeline() {
    // From region b to a, 40 ms away: 20 ms there, a 2 ms feature-store lookup, 1 ms of
    // pre-processing, alone in the queue with a free instance until max_queue_delay (3 ms: batch
    // formation, not queueing), a 5 ms batch, 2 ms of post-processing, 20 ms back = 53 ms.
    let text = "name = \"one\"\nduration = \"1ms\"\n[regions.a]\nreplicas = 1\n[regions.b]\nreplicas = 0\n\
                [network]\nlinks = [{ from = \"a\", to = \"b\", rtt = \"40ms\" }]\n[[traffic]]\norigin = \"b\"\n\
                arrivals = { process = \"constant\", rate = \"1/s\" }\n[serving]\n\
                service_time = { kind = \"constant\", value = \"5ms\" }\n\
                batching = { max_batch = 4, max_queue_delay = \"3ms\" }\n\
                overhead = { pre = { kind = \"constant\", value = \"1ms\" }, post = { kind = \"constant\", value = \"2ms\" } }\n\
                feature_store = { latency = { kind = \"constant\", value = \"2ms\" } }\n";
    let (got, _) = records(text);
    let mut want = [0; STAGES];
    want[Stage::Network as usize] = 40 * MS;
    want[Stage::FeatureStore as usize] = 2 * MS;
    want[Stage::PreProcessing as usize] = MS;
    want[Stage::BatchFormation as usize] = 3 * MS;
    want[Stage::Service as usize] = 5 * MS;
    want[Stage::PostProcessing as usize] = 2 * MS;
    assert_eq!(split(&got[0]), want);
}

#[test]
fn waiting_behind_a_busy_instance_is_queueing() {
    // Two requests at t = 0 on one instance, max_batch 1, 10 ms each: the second waits the first
    // batch's 10 ms in the queue, then starts at once (no batch to fill).
    let text = "name = \"queue\"\nduration = \"1ms\"\n[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\n\
                arrivals = { process = \"constant\", rate = \"1/s\" }\n[[traffic]]\norigin = \"a\"\n\
                arrivals = { process = \"constant\", rate = \"1/s\" }\n[serving]\n\
                service_time = { kind = \"constant\", value = \"10ms\" }\nbatching = { max_batch = 1 }\n";
    let (mut got, _) = records(text);
    got.sort_by_key(|r| r.finished);
    let queue = |r: &RequestRecord| split(r)[Stage::Queue as usize];
    let formation = |r: &RequestRecord| split(r)[Stage::BatchFormation as usize];
    assert_eq!((queue(&got[0]), formation(&got[0])), (0, 0));
    assert_eq!((queue(&got[1]), formation(&got[1])), (10 * MS, 0));
    assert_eq!(split(&got[1])[Stage::Service as usize], 10 * MS);
}

#[test]
fn a_fallback_answer_splits_into_the_failed_call_and_the_fallback() {
    // The only replica crashes at 1 s; the load balancer keeps it (slow probes), so each later
    // call fails at once on arrival and the 3 ms fallback answers (no network in-region).
    let text = "name = \"fallback\"\nduration = \"2s\"\n[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\n\
                arrivals = { process = \"constant\", rate = \"10/s\" }\n[serving]\n\
                service_time = { kind = \"constant\", value = \"2ms\" }\n\
                health_check = { interval = \"60s\", failure_threshold = 100 }\n\
                fallback = { latency = { kind = \"constant\", value = \"3ms\" } }\n\
                [[faults]]\nkind = \"replica_crash\"\nregion = \"a\"\nat = \"1s\"\nduration = \"100s\"\n";
    let (got, _) = records(text);
    let degraded: Vec<&RequestRecord> = got.iter().filter(|r| r.outcome == Outcome::Degraded).collect();
    assert!(degraded.len() >= 5, "{} degraded", degraded.len());
    for r in degraded {
        let times = split(r);
        assert_eq!(times[Stage::Fallback as usize], 3 * MS);
        assert_eq!(times.iter().sum::<u64>(), 3 * MS, "{times:?}");
    }
}

/// Every feature on the path at once, under load, with an outage: whatever happened to a request,
/// its stages add up to its latency, and nothing is left to the pipeline stage of a model endpoint.
const EVERYTHING: &str = r#"
name = "everything"
duration = "40s"
warmup = "2s"
interval = "5s"
[regions.a]
replicas = 2
[regions.b]
replicas = 2
[network]
links = [{ from = "a", to = "b", rtt = "30ms" }, { from = "a", to = "a", rtt = "2ms" }, { from = "b", to = "b", rtt = "2ms" }]
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "900/s" }
[[traffic]]
origin = "b"
arrivals = { process = "poisson", rate = "300/s" }
[routing.health_check]
interval = "2s"
failure_threshold = 2
[retries]
max_attempts = 3
backoff = "20ms"
budget = 0.5
[serving]
timeout = "400ms"
queue_capacity = 200
service_time = { kind = "table", points = [[1, "2ms"], [16, "6ms"]], cv = 0.3 }
batching = { max_batch = 16, max_queue_delay = "2ms", instances = 2 }
overhead = { pre = { kind = "lognormal", mean = "0.5ms", cv = 0.5 }, post = { kind = "constant", value = "0.1ms" }, cpu_workers = 2 }
feature_store = { latency = { kind = "lognormal", mean = "2ms", cv = 0.6 }, error_rate = 0.01 }
cache = { latency = { kind = "constant", value = "0.3ms" }, hit_ratio = 0.3 }
circuit_breaker = { window = 100, minimum_calls = 20, failure_rate = 0.5, open_duration = "3s", half_open_calls = 10 }
fallback = { latency = { kind = "constant", value = "1ms" } }
[[faults]]
kind = "region_outage"
region = "a"
at = "15s"
duration = "8s"
[[faults]]
kind = "replica_crash"
region = "b"
at = "30s"
duration = "5s"
"#;

#[test]
fn every_answer_s_stages_add_up_to_its_latency() {
    let (got, summary) = records(EVERYTHING);
    let answered: Vec<&RequestRecord> =
        got.iter().filter(|r| matches!(r.outcome, Outcome::Completed | Outcome::Degraded)).collect();
    assert!(answered.len() > 30_000);
    let mut seen = [0u64; STAGES];
    for r in &answered {
        let times = split(r);
        assert_eq!(times.iter().sum::<u64>(), r.finished - r.sent, "{r:?}: {times:?}");
        assert_eq!(times[Stage::Pipeline as usize], 0, "{r:?}");
        for (k, &t) in times.iter().enumerate() {
            seen[k] += u64::from(t > 0);
        }
    }
    // The run exercised what it set out to.
    for stage in [
        Stage::RetryBackoff,
        Stage::FailedAttempts,
        Stage::Network,
        Stage::Cache,
        Stage::FeatureStore,
        Stage::PreWorkerWait,
        Stage::PreProcessing,
        Stage::Queue,
        Stage::BatchFormation,
        Stage::Service,
        Stage::PostProcessing,
        Stage::Fallback,
    ] {
        assert!(seen[stage as usize] > 0, "no request spent time in {}", STAGE_NAMES[stage as usize]);
    }
    // The summary's means are the measured answers' (sent after warm-up): they add up to the
    // mean latency, and each is the records' own mean.
    let measured: Vec<&&RequestRecord> = answered.iter().filter(|r| r.sent >= 2_000_000_000).collect();
    let breakdown = summary.overall.breakdown.as_ref().unwrap();
    let mean_latency = summary.overall.latency_ms.mean.unwrap();
    let total: f64 = breakdown.stages.iter().map(|s| s.mean_ms).sum();
    assert!((total - mean_latency).abs() < 1e-9 * mean_latency.max(1.0), "{total} vs {mean_latency}");
    for stage in &breakdown.stages {
        let k = STAGE_NAMES.iter().position(|n| *n == stage.stage).unwrap();
        let mean = measured.iter().map(|r| split(r)[k] as f64).sum::<f64>() / measured.len() as f64 / 1e6;
        assert!((stage.mean_ms - mean).abs() < 1e-9 * mean.max(1.0), "{}: {} vs {mean}", stage.stage, stage.mean_ms);
    }
    let shares: f64 = breakdown.slowest.as_ref().unwrap().shares.iter().map(|s| s.share).sum();
    assert!((shares - 1.0).abs() < 1e-12);
}
