//! Models sharing a GPU (`[gpu_sharing]`) against hand-worked outcomes: two batches starting
//! together under time-slicing and MPS (finish times worked out from the speeds), two M/M/1-like
//! models time-sliced on one GPU against the M/M/1 of their summed load (the GPU is work-conserving
//! and exponential service is memoryless), the memory refusal's arithmetic, and conservation.

mod support;

use sim::model::{build, Inputs};
use sim::summary::Summary;
use support::*;

/// Endpoints `a` and `b` sharing GPUs in group `g` (`sharing` adds the group's keys), each with
/// its service time and arrivals.
fn scenario(
    sharing: &str,
    service_a: &str,
    service_b: &str,
    arrivals_a: &str,
    arrivals_b: &str,
    duration: &str,
) -> String {
    format!(
        r#"
name = "sharing"
duration = "{duration}"
warmup = "2s"
interval = "1h"
[regions.r]
replicas = 0
[endpoints.a]
serving = {{ queue_capacity = 100000, service_time = {service_a}, memory = {{ weights = "2GB", per_instance = "1GB" }} }}
[endpoints.b]
serving = {{ queue_capacity = 100000, service_time = {service_b}, memory = {{ weights = "2GB", per_instance = "1GB" }} }}
[gpu_sharing.g]
endpoints = ["a", "b"]
gpu_memory = "24GB"
{sharing}
[gpu_sharing.g.regions.r]
replicas = 1
[[traffic]]
origin = "r"
endpoint = "a"
arrivals = {arrivals_a}
[[traffic]]
origin = "r"
endpoint = "b"
arrivals = {arrivals_b}
"#
    )
}

fn constant(ms: f64) -> String {
    format!("{{ kind = \"constant\", value = \"{ms}ms\" }}")
}

const EVERY_100MS: &str = r#"{ process = "constant", rate = "10/s" }"#;

fn mean_ms(summary: &Summary, endpoint: &str) -> f64 {
    summary.endpoints[endpoint].stats.latency_ms.mean.unwrap()
}

#[test]
fn batches_starting_together_finish_when_the_speeds_say() {
    // Time-sliced: a (10 ms) and b (4 ms) start together at half speed; b's 4 ms of work ends at
    // 8 ms, when a has done 4 ms; a's last 6 ms run alone: a ends at 14 ms.
    let text = scenario("", &constant(10.0), &constant(4.0), EVERY_100MS, EVERY_100MS, "60s");
    let s = run_seed(&model(&text), 1).summary;
    assert!((mean_ms(&s, "a") - 14.0).abs() < 1e-6, "a: {}", mean_ms(&s, "a"));
    assert!((mean_ms(&s, "b") - 8.0).abs() < 1e-6, "b: {}", mean_ms(&s, "b"));
    let group = &s.gpu_sharing["g"];
    // Stretch = wall / work = (14 + 8) / (10 + 4).
    assert!((group.stretch.unwrap() - 22.0 / 14.0).abs() < 1e-6, "{group:?}");
    assert_eq!(group.mode, "time_sliced");
    // A context-switch overhead of 20%: each runs at 0.8 / 2 = 0.4 together; b ends at 10 ms, a has
    // 6 ms left: a ends at 16 ms.
    let text = scenario("switch_overhead = 0.2", &constant(10.0), &constant(4.0), EVERY_100MS, EVERY_100MS, "60s");
    let s = run_seed(&model(&text), 1).summary;
    assert!((mean_ms(&s, "a") - 16.0).abs() < 1e-6 && (mean_ms(&s, "b") - 10.0).abs() < 1e-6);
    // MPS with interference 0.5: each runs 1.5× slower together; b ends at 6 ms, a has done 4 ms
    // and runs its last 6 ms alone: 12 ms.
    let text = scenario(
        "mode = \"mps\"\nmps_interference = 0.5",
        &constant(10.0),
        &constant(4.0),
        EVERY_100MS,
        EVERY_100MS,
        "60s",
    );
    let s = run_seed(&model(&text), 1).summary;
    assert!((mean_ms(&s, "a") - 12.0).abs() < 1e-6, "a: {}", mean_ms(&s, "a"));
    assert!((mean_ms(&s, "b") - 6.0).abs() < 1e-6, "b: {}", mean_ms(&s, "b"));
    // MPS with no interference is two dedicated GPUs.
    let text = scenario(
        "mode = \"mps\"\nmps_interference = 0",
        &constant(10.0),
        &constant(4.0),
        EVERY_100MS,
        EVERY_100MS,
        "60s",
    );
    let s = run_seed(&model(&text), 1).summary;
    assert!((mean_ms(&s, "a") - 10.0).abs() < 1e-6 && (mean_ms(&s, "b") - 4.0).abs() < 1e-6);
}

/// Two models with exponential service of mean 1/μ, time-sliced on one GPU: whenever anything runs
/// the GPU does one unit of work per unit of time, and exponential service is memoryless, so the
/// requests in the system form the M/M/1 queue of the summed load: every request's mean time is
/// 1 / (μ − λa − λb), against 1 / (μ − λ) for each model on a GPU of its own.
#[test]
fn time_sliced_models_slow_down_as_the_m_m_1_of_their_summed_load() {
    let mu = 100.0;
    let exponential = "{ kind = \"exponential\", mean = \"10ms\" }";
    let poisson = |rate: f64| format!("{{ process = \"poisson\", rate = \"{rate}/s\" }}");
    let replications = 40;
    // Symmetric: 30/s each. Shared: 1/(100 − 60) = 25 ms; dedicated: 1/(100 − 30) = 14.29 ms,
    // a slowdown of 1.75.
    let text = scenario("", exponential, exponential, &poisson(30.0), &poisson(30.0), "600s");
    let shared = replicate(&model(&text), replications);
    let theory_shared = 1e3 / (mu - 60.0);
    for endpoint in ["a", "b"] {
        let (mean, se) = mean_se(&shared.iter().map(|s| mean_ms(s, endpoint)).collect::<Vec<_>>());
        println!("shared {endpoint}: {mean:.3} ± {se:.3} ms, theory {theory_shared:.3}");
        assert!(se / theory_shared < 0.01, "too few samples: SE {se}");
        assert!((mean - theory_shared).abs() <= t_9995(shared.len() - 1) * se, "{endpoint}: {mean} vs {theory_shared}");
    }
    let dedicated = text.replace("[gpu_sharing.g]", "[gpu_sharing.g]\nmode = \"mps\"\nmps_interference = 0");
    let dedicated = replicate(&model(&dedicated), replications);
    let theory_dedicated = 1e3 / (mu - 30.0);
    let (mean, se) = mean_se(&dedicated.iter().map(|s| mean_ms(s, "a")).collect::<Vec<_>>());
    println!("dedicated a: {mean:.3} ± {se:.3} ms, theory {theory_dedicated:.3}");
    assert!((mean - theory_dedicated).abs() <= t_9995(dedicated.len() - 1) * se);
    let slowdown = mean_ms_over(&shared, "a") / mean_ms_over(&dedicated, "a");
    println!("slowdown {slowdown:.3}, theory {:.3}", theory_shared / theory_dedicated);
    assert!((slowdown / (theory_shared / theory_dedicated) - 1.0).abs() < 0.02, "slowdown {slowdown}");
    // Asymmetric, 20/s and 40/s: the mean over every request is still 1/(100 − 60).
    let text = scenario("", exponential, exponential, &poisson(20.0), &poisson(40.0), "600s");
    let summaries = replicate(&model(&text), replications);
    let (mean, se) = mean_se(&summaries.iter().map(|s| s.overall.latency_ms.mean.unwrap()).collect::<Vec<_>>());
    println!("asymmetric, every request: {mean:.3} ± {se:.3} ms, theory {theory_shared:.3}");
    assert!((mean - theory_shared).abs() <= t_9995(summaries.len() - 1) * se, "{mean} vs {theory_shared}");
    for s in &summaries {
        assert_conserved(&s.overall);
    }
}

fn mean_ms_over(summaries: &[Summary], endpoint: &str) -> f64 {
    summaries.iter().map(|s| mean_ms(s, endpoint)).sum::<f64>() / summaries.len() as f64
}

#[test]
fn models_that_do_not_fit_are_refused_with_the_arithmetic() {
    let text = scenario("", &constant(10.0), &constant(4.0), EVERY_100MS, EVERY_100MS, "60s")
        .replace(
            r#"memory = { weights = "2GB", per_instance = "1GB" } }
[endpoints.b]"#,
            r#"memory = { weights = "10GB", per_instance = "3GB" }, batching = { instances = 2 } }
[endpoints.b]"#,
        )
        .replace(
            r#"memory = { weights = "2GB", per_instance = "1GB" } }
[gpu_sharing.g]"#,
            r#"memory = { weights = "7GB", per_instance = "2GB" } }
[gpu_sharing.g]"#,
        );
    let scenario: sim::scenario::Scenario = toml::from_str(&text).unwrap();
    let error = build(&scenario, &Inputs::default()).unwrap_err();
    assert_eq!(error.path.to_string(), "gpu_sharing.g.regions.r");
    // 1 GiB reserved + 10 GB + 2 × 3 GB + 7 GB + 2 GB, against 24 GB.
    let gib = f64::from(1u32 << 30);
    let needed = (gib + 10e9 + 2.0 * 3e9 + 7e9 + 2e9) / gib;
    let message = &error.message;
    assert!(message.contains(&format!("= {needed:.2} GiB > {:.2} GiB", 24e9 / gib)), "{message}");
    assert!(message.contains("a 9.31 weights + 2 × 2.79 per instance"), "{message}");
    // With one instance of a, it fits: 1.07 + 10 + 3 + 7 + 2 GB = 23.07 GB < 24 GB.
    let fits = text.replace("batching = { instances = 2 }", "batching = { instances = 1 }");
    let fits: sim::scenario::Scenario = toml::from_str(&fits).unwrap();
    let built = build(&fits, &Inputs::default()).unwrap();
    assert!((built.gpu_groups[0].memory[0].as_ref().unwrap().needed() - (gib + 22e9)).abs() < 1.0);
}

#[test]
fn a_group_is_paid_once_and_members_keep_their_requests_apart() {
    let text = scenario("", &constant(10.0), &constant(4.0), EVERY_100MS, EVERY_100MS, "60s").replace(
        "[gpu_sharing.g.regions.r]\nreplicas = 1",
        "[gpu_sharing.g.regions.r]\nreplicas = 3\ninstance = \"gpu\"\n[instance_types.gpu]\nusd_per_hour = 2.0",
    );
    let s = run_seed(&model(&text), 1).summary;
    // Three GPUs at 2 USD/h, split between the two members' costs.
    let cost = |e: &str| s.endpoints[e].stats.cost.usd_per_hour;
    assert!((cost("a") + cost("b") - 6.0).abs() < 1e-9, "{} + {}", cost("a"), cost("b"));
    assert_eq!(s.gpu_sharing["g"].regions["r"].gpus, 3);
    for e in ["a", "b"] {
        assert_conserved(&s.endpoints[e].stats);
    }
}

#[test]
fn a_fault_on_a_shared_gpu_strikes_every_model_on_it() {
    // A slow-replica fault names a alone, but a and b run in one server on the GPU: from 10 s to
    // 20 s both take 3× as long. Together at half speed, b's 12 ms of work ends at 24 ms; a has
    // done 12 of its 30 ms and runs the rest alone: 42 ms. (Were b spared, it would end at 8 ms.)
    let text = scenario("", &constant(10.0), &constant(4.0), EVERY_100MS, EVERY_100MS, "30s")
        + r#"
[[faults]]
kind = "slow_replica"
region = "r"
endpoint = "a"
replicas = 1
factor = 3
at = "10s"
duration = "10s"
"#;
    let s = run_seed(&model(&text), 1).summary;
    let max = |e: &str| s.endpoints[e].stats.latency_ms.max.unwrap();
    assert!((max("a") - 42.0).abs() < 0.05, "a: {}", max("a"));
    assert!((max("b") - 24.0).abs() < 0.05, "b: {}", max("b"));
    // Outside the window, 14 and 8 ms as before: the median is unchanged.
    assert!((s.endpoints["a"].stats.latency_ms.p50.unwrap() - 14.0).abs() < 0.05);
}
