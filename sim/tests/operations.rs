//! Autoscaling, faults, failover, circuit breakers, fallbacks, shadow and A/B deployments,
//! against outcomes worked out by hand from the HPA formula, probe intervals and breaker rules.

mod support;

use sim::metrics::TimeseriesRow;
use sim::world::{run, Outcome, RunOptions};
use support::{assert_conserved, model, run_seed};

/// The value of `column` in the time-series row of `region` ending at `end_s`.
fn at(rows: &[TimeseriesRow], region: &str, end_s: f64, column: fn(&TimeseriesRow) -> u64) -> u64 {
    let row = rows
        .iter()
        .find(|r| r.region == region && (r.end_s - end_s).abs() < 1e-9)
        .unwrap_or_else(|| panic!("no row for {region} ending at {end_s}"));
    column(row)
}

/// Step load 150/s → 1035/s at 60 s, back to 150/s at 300 s; HPA on requests per second with a
/// target of 90 per replica, from 2 replicas; a new replica takes 30 s + 10 s + 20 s to start.
/// The formula comes down to ⌈rate / 90⌉ once starting replicas count: 1035/90 = 11.5 and
/// 150/90 = 1.67 sit mid-way between integers, so Poisson noise over a 15 s window (±1%) never
/// moves a result.
const STEP: &str = r#"
name = "step"
duration = "700s"
interval = "5s"
[regions.a]
replicas = 2
[regions.a.autoscaling]
metric = "requests_per_second"
target = 90
min_replicas = 2
max_replicas = 20
[[traffic]]
origin = "a"
arrivals = { process = "schedule", points = [["0s", "150/s"], ["60s", "150/s"], ["60001ms", "1035/s"], ["300s", "1035/s"], ["300001ms", "150/s"]] }
[serving]
service_time = { kind = "constant", value = "1ms" }
startup = { provisioning = { kind = "constant", value = "30s" }, image_pull = { kind = "constant", value = "10s" }, model_load = { kind = "constant", value = "20s" } }
"#;

#[test]
fn scale_up_lands_when_the_hpa_formula_and_start_up_delays_say() {
    let out = run_seed(&model(STEP), 1);
    let rows = &out.timeseries;
    let desired = |end| at(rows, "a", end, |r| r.desired_replicas);
    let ready = |end| at(rows, "a", end, |r| r.ready_replicas);
    let starting = |end| at(rows, "a", end, |r| r.starting_replicas);
    // Evaluations every 15 s. Until 60 s: 150/2/90 = 0.83 → ⌈1.67⌉ = 2, the floor anyway.
    assert_eq!(desired(60.0), 2);
    // 75 s: [60, 75) at 1035/s on 2 ready → 5.75 → ⌈11.5⌉ = 12, limited to max(2 + 4, 2 × 2) = 6.
    assert_eq!(desired(75.0), 6);
    assert_eq!(starting(75.0), 4);
    // 90 s: 2 ready, 4 starting count 0 → 1035/6/90 = 1.92 → ⌈11.5⌉ = 12; the limit counts from
    // 6 (the 75 s change is a full period ago): max(6 + 4, 12) = 12.
    assert_eq!(desired(90.0), 12);
    assert_eq!(starting(90.0), 10);
    // 105 s: 1035/12/90 = 0.96, within tolerance.
    assert_eq!(desired(105.0), 12);
    // Start-up takes 60 s: the 4 asked at 75 s are ready at 135 s, the 6 asked at 90 s at 150 s.
    assert_eq!(ready(130.0), 2);
    assert_eq!(ready(135.0), 6);
    assert_eq!(ready(145.0), 6);
    assert_eq!(ready(150.0), 12);
    assert_eq!(starting(150.0), 0);
    // Nothing was lost on the way (1 ms of service: 2 replicas hold 1035/s).
    let summary = &out.summary;
    assert_conserved(&summary.overall);
    assert_eq!(summary.overall.requests.offered, summary.overall.requests.completed);
    assert_eq!(summary.regions["a"].stats.replicas_peak, 12);
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let out = run_seed(&model(STEP), 1);
    let desired = |end| at(&out.timeseries, "a", end, |r| r.desired_replicas);
    // Load drops at 300 s. The evaluation at 300 s still saw [285, 300) at 1035/s (12); from 315 s
    // the recommendation is ⌈150/12/90 × 12⌉ = 2, but the 300 s window holds the 12 recommended at
    // 300 s until 600 s; then 100% per 15 s may go, to the floor of 2.
    assert_eq!(desired(595.0), 12);
    assert_eq!(desired(600.0), 2);
    assert_eq!(at(&out.timeseries, "a", 600.0, |r| r.ready_replicas), 2);
    let stats = &out.summary.regions["a"].stats;
    let hours = &stats.replica_hours;
    // 10 starts, each 30 + 10 + 20 s.
    assert!((hours.provisioning * 3600.0 - 10.0 * 30.0).abs() < 1e-6, "{hours:?}");
    assert!((hours.image_pull * 3600.0 - 10.0 * 10.0).abs() < 1e-6, "{hours:?}");
    assert!((hours.model_load * 3600.0 - 10.0 * 20.0).abs() < 1e-6, "{hours:?}");
    // Ready: 2 × 700 s, + 4 × (600 − 135) s, + 6 × (600 − 150) s (draining takes ~1 ms).
    let ready_s = hours.ready * 3600.0;
    let expected = 2.0 * 700.0 + 4.0 * 465.0 + 6.0 * 450.0;
    assert!((ready_s - expected).abs() < 1.0, "{ready_s} vs {expected}");
    // The mean over the run: that ready time plus 10 × 60 s of start-up, over 700 s (draining
    // takes milliseconds).
    let expected_mean = (expected + 10.0 * 60.0) / 700.0;
    assert!((stats.replicas_mean - expected_mean).abs() < 0.01, "{} vs {expected_mean}", stats.replicas_mean);
}

const TWO_REGIONS: &str = r#"
name = "failover"
duration = "240s"
interval = "10s"
[regions.a]
replicas = 2
[regions.b]
replicas = 2
[network]
links = [{ from = "a", to = "b", rtt = "40ms" }]
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "100/s" }
[serving]
service_time = { kind = "constant", value = "5ms" }
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
fn a_region_outage_moves_traffic_after_the_detection_delay() {
    let m = model(TWO_REGIONS);
    let out = run(&m, &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    // Probes at 100, 110 and 120 s fail: a leaves routing at 120 s = 100 + (3 − 1) × 10 s.
    // Requests sent to a in [100, 120) fail; from 120 s to the outage's end at 160 s (a is back at
    // the probe at 160 s) everything goes to b.
    for record in &out.requests {
        let sent = record.sent as f64 / 1e9;
        if (100.0..120.0).contains(&sent) {
            assert_eq!(record.outcome, Outcome::Failed, "{record:?}");
        } else if (120.0..160.0).contains(&sent) {
            assert_eq!((record.region, record.outcome), (1, Outcome::Completed), "{record:?}");
        } else {
            assert_eq!((record.region, record.outcome), (0, Outcome::Completed), "{record:?}");
        }
    }
    let summary = &out.summary;
    // 100/s for 20 s fail; 100/s for 40 s fail over.
    assert_eq!(summary.overall.requests.failed, 2000);
    assert_eq!(summary.regions["b"].stats.requests.failover, 4000);
    assert_conserved(&summary.overall);
    assert_conserved(&summary.regions["a"].stats);
    assert_conserved(&summary.regions["b"].stats);
    assert_eq!(summary.overall.requests.offered as usize, out.requests.len());
    // b's answers carry the 40 ms round trip.
    assert!((summary.regions["b"].stats.latency_ms.p50.unwrap() - 45.0).abs() < 0.05);
}

#[test]
fn retries_recover_what_the_outage_would_fail() {
    // The same outage with client retries: a failed attempt comes back after the 0 ms round trip
    // and retries after 50 ms, 100 ms (no jitter); a stays in routing until 120 s, so retries in
    // [100, 120) fail too — unless the budget runs dry first — and the first attempts after 120 s
    // succeed in b.
    let retrying = |budget: f64| {
        let text = format!(
            "{TWO_REGIONS}\n[retries]\nmax_attempts = 3\nbackoff = \"50ms\"\njitter = false\nbudget = {budget}\n"
        );
        run_seed(&model(&text), 1).summary
    };
    // A budget of 10 retries per request never runs dry here.
    let summary = retrying(10.0);
    let r = &summary.overall.requests;
    assert_conserved(&summary.overall);
    // Requests sent in [119.85, 120) get their last retry at 120 s or later and succeed in b: 15.
    assert_eq!(r.failed, 2000 - 15, "{r:?}");
    // Every failed request was tried three times.
    assert!(r.retries >= 2 * r.failed, "{r:?}");
    // Each request's records carry its backoff: 50 ms before the second attempt, 100 ms more
    // before the third.
    let text = format!("{TWO_REGIONS}\n[retries]\nmax_attempts = 3\nbackoff = \"50ms\"\njitter = false\nbudget = 10\n");
    let out = run(&model(&text), &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    let ms = 1_000_000;
    for record in &out.requests {
        let expected = match record.attempts {
            1 => 0,
            2 => 50 * ms,
            _ => 150 * ms,
        };
        assert_eq!(record.stages.retry_wait, expected, "{record:?}");
    }
    assert!(out.requests.iter().any(|r| r.attempts == 3));
    // A budget of 0.1 caps retries at a tenth of the requests (plus its bounded float of 100).
    let summary = retrying(0.1);
    let r = &summary.overall.requests;
    assert!(r.retries as f64 <= 0.1 * r.offered as f64 + 100.0, "{r:?}");
    assert!(r.failed > 1985, "{r:?}");
    assert_conserved(&summary.overall);
}

const BREAKER: &str = r#"
name = "breaker"
duration = "200s"
interval = "5s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "100/s" }
[serving]
service_time = { kind = "constant", value = "2ms" }
health_check = { interval = "60s", failure_threshold = 100 }
circuit_breaker = { window = 100, minimum_calls = 20, failure_rate = 0.5, open_duration = "5s", half_open_calls = 10 }
fallback = { latency = { kind = "constant", value = "1ms" } }
[[faults]]
kind = "replica_crash"
region = "a"
at = "50s"
duration = "100s"
"#;

#[test]
fn the_breaker_opens_at_its_failure_rate_and_half_opens_after_its_duration() {
    let out = run(&model(BREAKER), &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    // Calls every 10 ms; the crash at 50 s fails each call from then on (the load balancer keeps
    // the dead replica: its probes are slow), each answered by the fallback. The ring holds 100
    // successes, so the failure rate reaches 50% at the 50th failure: the call at 50.49 s.
    let degraded: Vec<f64> =
        out.requests.iter().filter(|r| r.outcome == Outcome::Degraded).map(|r| r.sent as f64 / 1e9).collect();
    assert!((degraded[0] - 50.0).abs() < 0.011, "first fallback at {}", degraded[0]);
    // Open, calls are refused at once (still degraded) for 5 s; then 10 trial calls fail and it
    // opens again.
    let first_open = 50.49;
    let states: Vec<(f64, u8)> =
        out.timeseries.iter().filter(|r| r.region == "a").map(|r| (r.end_s, r.breaker.unwrap())).collect();
    for &(end, state) in &states {
        if end < first_open {
            assert_eq!(state, 0, "closed before the crash, at {end}");
        }
        if (55.0..150.0).contains(&end) {
            assert_ne!(state, 0, "never closed while the replica is down, at {end}");
        }
    }
    // Open 5 s, then 10 trials 10 ms apart, the last failing 0.09 s in: openings at 50.49 + k × 5.09
    // s until the restore at 150 s, k = 0..19 → 20; after the restore the trials pass and it closes.
    let breaker = out.summary.regions["a"].stats.breaker.clone().unwrap();
    assert_eq!(breaker.opened, 20, "{breaker:?}");
    assert!((breaker.open_s - 100.0).abs() < 0.1, "{breaker:?}");
    assert_eq!(states.last().unwrap().1, 0);
    // Nothing failed: every error had a fallback answer.
    let r = &out.summary.overall.requests;
    assert_eq!(r.failed, 0);
    assert_eq!(r.degraded as usize, degraded.len());
    assert_conserved(&out.summary.overall);
    // Availability counts degraded answers.
    assert_eq!(r.completed + r.degraded, r.offered);
}

const SHADOW: &str = r#"
name = "shadow"
duration = "60s"
[regions.a]
replicas = 4
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "300/s" }
[serving]
service_time = { kind = "exponential", mean = "10ms" }
"#;

#[test]
fn shadow_traffic_leaves_the_primary_untouched() {
    let with_shadow = format!(
        "{SHADOW}\n[shadow]\nfraction = 0.5\nreplicas = 1\nserving = {{ service_time = {{ kind = \"exponential\", mean = \"20ms\" }}, queue_capacity = 50 }}\n"
    );
    let plain = run_seed(&model(SHADOW), 7).summary;
    let mirrored = run_seed(&model(&with_shadow), 7).summary;
    // The primary's results are exactly the same: every count, percentile and cost.
    assert_eq!(plain.regions["a"], mirrored.regions["a"]);
    assert_eq!(plain.overall, mirrored.overall);
    assert_eq!(plain.mean_in_system, mirrored.mean_in_system);
    // The candidate saw half the traffic: 150/s on one replica of 20 ms is ρ = 3, so it overflows,
    // which the report shows while users never notice.
    let shadow = &mirrored.deployments["a#shadow"].stats;
    let share = shadow.requests.offered as f64 / plain.overall.requests.offered as f64;
    assert!((share - 0.5).abs() < 0.01, "{share}");
    assert!(shadow.requests.dropped > 0 && shadow.saturated);
    assert_conserved(shadow);
}

#[test]
fn an_ab_variant_gets_its_fraction_and_its_own_report() {
    let text = format!(
        "{SHADOW}\n[ab]\nfraction = 0.25\nreplicas = 2\nserving = {{ service_time = {{ kind = \"exponential\", mean = \"5ms\" }} }}\n"
    );
    let summary = run_seed(&model(&text), 3).summary;
    let variant = &summary.deployments["a#variant"].stats;
    let primary = &summary.regions["a"].stats;
    let total = summary.overall.requests.offered as f64;
    // Binomial share: sd = sqrt(0.25 × 0.75 / 18 000) ≈ 0.0032; 4 sd.
    let share = variant.requests.offered as f64 / total;
    assert!((share - 0.25).abs() < 0.013, "{share}");
    assert_eq!(primary.requests.offered + variant.requests.offered, summary.overall.requests.offered);
    // M/M/1-ish with 5 ms service at ~37.5/s per replica: mean service 5 ms.
    assert!((variant.service_time_ms.mean.unwrap() - 5.0).abs() < 0.3);
    assert!((primary.service_time_ms.mean.unwrap() - 10.0).abs() < 0.5);
}

#[test]
fn keda_scales_to_zero_and_back_on_demand() {
    let text = r#"
name = "keda"
duration = "400s"
interval = "5s"
[regions.a]
replicas = 1
[regions.a.autoscaling]
metric = "concurrency"
target = 5
min_replicas = 0
max_replicas = 4
cooldown = "60s"
activation = 0
evaluation_interval = "10s"
[[traffic]]
origin = "a"
arrivals = { process = "schedule", points = [["0s", "20/s"], ["100s", "20/s"], ["100001ms", "0/s"], ["300s", "0/s"], ["300001ms", "20/s"]] }
[serving]
timeout = "60s"
service_time = { kind = "constant", value = "10ms" }
startup = { model_load = { kind = "constant", value = "15s" } }
"#;
    let out = run(&model(text), &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    let desired = |end| at(&out.timeseries, "a", end, |r| r.desired_replicas);
    // The last request comes just before 100 s: the evaluation at 100 s saw it, and 60 s of
    // cooldown later, at 160 s, the deployment goes to zero.
    assert_eq!(desired(155.0), 1);
    assert_eq!(desired(160.0), 0);
    assert_eq!(desired(305.0), 0);
    // Traffic resumes at 300 s: requests wait in the activator; the evaluation at 310 s sees them
    // (activation 0) and asks for one replica, ready 15 s later; the first request is answered then.
    assert_eq!(desired(310.0), 1);
    let first_back = out.requests.iter().filter(|r| r.sent >= 300_000_000_000).min_by_key(|r| r.sent).unwrap();
    let answered = first_back.finished as f64 / 1e9;
    assert!((answered - 325.01).abs() < 1e-6, "answered at {answered} s");
    assert_conserved(&out.summary.overall);
    assert_eq!(out.summary.overall.requests.timed_out, 0);
    // Nothing is paid for at zero: ready time is 0–160 s and from 325 s on (the backlog of 25 s
    // of requests lands on the first replica, and the autoscaler adds more after it), and each
    // start costs 15 s of model load.
    let ready = |end| at(&out.timeseries, "a", end, |r| r.ready_replicas);
    assert!((165..=320).step_by(5).all(|end| ready(end as f64) == 0));
    let hours = &out.summary.regions["a"].stats.replica_hours;
    let starts = hours.model_load * 3600.0 / 15.0;
    assert!((starts - starts.round()).abs() < 1e-9 && starts >= 1.0, "{hours:?}");
    let later_starts = starts.round() - 1.0;
    let ready_s = hours.ready * 3600.0;
    assert!(ready_s >= 235.0 - 1e-6 && ready_s <= 235.0 + later_starts * 75.0 + 1e-6, "{hours:?}");
}

#[test]
fn random_crashes_leave_replicas_down_for_mttr_over_mtbf_plus_mttr() {
    // Each replica fails after an exponential time with mean 100 s of being ready and is back an
    // exponential 20 s later (restart is instant): down a fraction 20 / (100 + 20) = 1/6 of the
    // time. 10 replicas over 20 000 s is about 1 700 failures per run; 8 seeds.
    let text = r#"
name = "mtbf"
duration = "20000s"
interval = "1000s"
[regions.a]
replicas = 10
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "10/s" }
[serving]
service_time = { kind = "constant", value = "1ms" }
[[faults]]
kind = "replica_crash"
region = "a"
mtbf = "100s"
mttr = "20s"
"#;
    let m = model(text);
    let fractions: Vec<f64> = (1..=8)
        .map(|seed| {
            let stats = run_seed(&m, seed).summary.regions["a"].stats.clone();
            let h = &stats.replica_hours;
            assert_conserved(&stats);
            h.down / (h.ready + h.down)
        })
        .collect();
    let (mean, se) = support::mean_se(&fractions);
    let band = support::t_9995(fractions.len() - 1) * se;
    assert!((mean - 1.0 / 6.0).abs() < band, "{mean} ± {band}");
    assert!(se < 0.01, "standard error {se} too wide to fail");
}

#[test]
fn feature_store_errors_and_a_dependency_failure_go_to_the_fallback() {
    // 2% of lookups fail at all times, every lookup fails during the dependency fault of
    // [100 s, 150 s); failures are answered by the fallback (degraded). Lookups take 2 ms, the
    // model 5 ms, the fallback 1 ms.
    let text = r#"
name = "features"
duration = "300s"
[regions.a]
replicas = 4
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "200/s" }
[serving]
service_time = { kind = "constant", value = "5ms" }
feature_store = { latency = { kind = "constant", value = "2ms" }, error_rate = 0.02 }
fallback = { latency = { kind = "constant", value = "1ms" } }
[[faults]]
kind = "dependency_failure"
region = "a"
at = "100s"
duration = "50s"
error_rate = 1.0
factor = 3
"#;
    let out = run(&model(text), &RunOptions { seed: 2, record_requests: true, ..Default::default() });
    let mut outside = (0u64, 0u64);
    for record in &out.requests {
        let sent = record.sent as f64 / 1e9;
        let latency = (record.finished - record.sent) as f64 / 1e6;
        // Lookups started in the fault take 3 × 2 ms and fail; the fallback answers 1 ms later.
        // (Whether a lookup fails is decided when it answers: near the fault's edges, skipped.)
        if (100.0..149.99).contains(&sent) {
            assert_eq!(record.outcome, Outcome::Degraded, "{record:?}");
            assert!((latency - 7.0).abs() < 1e-6, "{latency}");
        } else if !(99.99..=150.1).contains(&sent) {
            outside.0 += 1;
            match record.outcome {
                Outcome::Degraded => {
                    outside.1 += 1;
                    assert!((latency - 3.0).abs() < 1e-6, "{latency}");
                }
                _ => assert!((latency - 7.0).abs() < 1e-6, "{latency}"),
            }
        }
    }
    // Binomial: n ≈ 50 000, sd of the share = sqrt(0.02 × 0.98 / n) ≈ 0.0006; 5 sd.
    let share = outside.1 as f64 / outside.0 as f64;
    assert!((share - 0.02).abs() < 0.003, "{share}");
    let r = &out.summary.overall.requests;
    assert_eq!(r.failed, 0);
    assert_conserved(&out.summary.overall);
}

#[test]
fn a_slow_replica_runs_its_batches_factor_times_longer() {
    // One replica, 4 ms batches, three times slower from 50 s to 80 s.
    let text = r#"
name = "slow"
duration = "120s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "20/s" }
[serving]
service_time = { kind = "constant", value = "4ms" }
[[faults]]
kind = "slow_replica"
region = "a"
at = "50s"
duration = "30s"
factor = 3
"#;
    let out = run(&model(text), &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    for record in &out.requests {
        let sent = record.sent as f64 / 1e9;
        let service = (record.finished - record.batch_start) as f64 / 1e6;
        let expected = if (50.0..80.0).contains(&sent) { 12.0 } else { 4.0 };
        assert!((service - expected).abs() < 1e-6, "{record:?}");
    }
    assert_conserved(&out.summary.overall);
}

#[test]
fn the_drain_ends_with_the_last_request_not_with_an_autoscaler_tick() {
    // The HPA ticks every 15 s: its tick at 15 s schedules one at 30 s, past the 20 s of traffic.
    // The last request (sent before 20 s, 6 ms of service after at most 3 ms of batching delay)
    // finishes within 9 ms of the end; the tick at 30 s is not a request draining.
    let text = r#"
name = "tick"
duration = "20s"
[regions.a]
replicas = 1
autoscaling = { metric = "requests_per_second", target = 50, min_replicas = 1, max_replicas = 5 }
[serving]
service_time = { kind = "constant", value = "6ms" }
batching = { max_batch = 32, max_queue_delay = "3ms", instances = 2 }
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "40/s" }
"#;
    let summary = run_seed(&model(text), 1).summary;
    assert!(summary.drain_s <= 0.009 + 1e-9, "drain {} s", summary.drain_s);
    assert!(!summary.overall.saturated, "{:?}", summary.saturation_reason());
}
