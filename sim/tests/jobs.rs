//! Batch-scoring jobs against hand-worked makespans, exact lost work, exactly-once accounting, and
//! probabilities computed independently (closed forms and a Monte Carlo written here).

mod support;

use rand::{Rng, SeedableRng};
use sim::job::{self, JobRun};
use sim::model::jobs::JobModel;
use support::model;

const SECOND: u64 = 1_000_000_000;

fn job_model(body: &str) -> JobModel {
    let text = format!("name = \"job test\"\n[[jobs]]\nname = \"score\"\n{body}");
    model(&text).jobs.remove(0)
}

fn once(body: &str) -> JobRun {
    let run = job::run(&job_model(body), 1);
    assert_exactly_once(&run);
    run
}

fn assert_exactly_once(run: &JobRun) {
    // Written is added up batch by batch, unwritten counted from the tasks at the end.
    assert_eq!(run.records_offered, run.records_written + run.records_unwritten, "conservation");
    if run.finished {
        assert_eq!(run.records_written, run.records_offered, "a finished run writes every record once");
    }
}

/// 1 000 000 records in 10 tasks of 100 000, batches of 1000 scored in 10 ms each.
const DETERMINISTIC: &str = r#"
records = 1_000_000
partitions = 10
batch_records = 1000
service_time = { kind = "constant", value = "10ms" }
workers = { count = 5, startup = "30s" }
"#;

#[test]
fn deterministic_job_makespan_by_hand() {
    // A task is 100 batches × 10 ms = 1 s; 10 tasks on 5 workers run in two waves after the 30 s
    // start-up: 32 s.
    let run = once(DETERMINISTIC);
    assert!(run.finished);
    assert_eq!(run.makespan, Some(32 * SECOND));
    assert_eq!(run.attempts, 10);
    assert_eq!(run.duplicates_discarded, 0);
    // Five workers billed 32 s each, free of charge here.
    assert!((run.on_demand_worker_hours - 5.0 * 32.0 / 3600.0).abs() < 1e-9);
}

#[test]
fn sink_cap_is_the_bottleneck_by_hand() {
    // Five writers share 200 000 rows/s: 40 000 each (below their own 100 000), so a batch writes
    // in 25 ms and takes 35 ms; a task 3.5 s, then a 1 s commit; two waves after 30 s: 39 s.
    let body =
        format!("{DETERMINISTIC}sink = {{ per_writer = \"100000/s\", max = \"200000/s\", commit_latency = \"1s\" }}\n");
    let run = once(&body);
    let makespan = run.makespan.expect("finishes");
    assert!(makespan.abs_diff(39 * SECOND) < 1000, "{makespan}");
    assert!(run.write_s > run.score_s, "the sink dominates");
    let summary = job::summarize(&job_model(&body), &[run]);
    assert_eq!(summary.bottleneck, "sink writes");
}

#[test]
fn feature_store_cap_is_the_bottleneck_by_hand() {
    // Ten tasks on ten workers share 100 000 records/s: 10 000 each (below their own 50 000), so
    // a 1000-record read takes 5 ms + 100 ms; with 1 ms scoring a batch is 106 ms and a task of
    // 100 batches 10.6 s.
    let run = once(
        r#"
records = 1_000_000
partitions = 10
batch_records = 1000
service_time = { kind = "constant", value = "1ms" }
workers = { count = 10 }
feature_store = { per_task = "50000/s", max = "100000/s", latency = "5ms" }
"#,
    );
    let makespan = run.makespan.expect("finishes");
    assert!(makespan.abs_diff(10_600_000_000) < 1000, "{makespan}");
    assert!(run.read_s > 10.0 * run.score_s);
}

/// One task of 1 000 000 records in 1000 batches of 10 ms (10 s of work) on one spot worker,
/// preempted by notice at 2.5 s; the notice lasts 1.005 s and the replacement starts in 2 s.
const PREEMPTED: &str = r#"
records = 1_000_000
partitions = 1
batch_records = 1000
service_time = { kind = "constant", value = "10ms" }
[jobs.workers]
count = 1
spot_share = 1.0
preemptions_per_hour = 0
preempt_at = ["2.5s"]
preemption_notice = "1.005s"
replacement_startup = "2s"
"#;

#[test]
fn preemption_without_checkpoints_loses_the_whole_attempt() {
    // The worker keeps scoring through the notice and is taken at 3.505 s with 350 batches done:
    // 350 000 records are lost and redone from the start by the replacement, up at 4.5 s:
    // finished at 14.5 s, 350 000 rewrites discarded.
    let run = once(PREEMPTED);
    assert_eq!(run.preemptions, 1);
    assert_eq!(run.records_redone, 350_000);
    assert_eq!(run.duplicates_discarded, 350_000);
    assert_eq!(run.makespan, Some(14_500_000_000));
    assert_eq!(run.records_written, 1_000_000);
}

#[test]
fn preemption_with_checkpoints_loses_only_the_work_since_the_last_one() {
    // Checkpoints every 100 000 records: the last before 350 000 is at 300 000, so 50 000 are
    // redone and the replacement scores 700 000 records (7 s) from 4.5 s: 11.5 s.
    let run = once(&format!("checkpoint_records = 100_000\n{PREEMPTED}"));
    assert_eq!(run.records_redone, 50_000);
    assert_eq!(run.duplicates_discarded, 50_000);
    assert_eq!(run.makespan, Some(11_500_000_000));
}

#[test]
fn on_demand_fallback_replaces_a_preempted_spot_worker() {
    let run = once(&PREEMPTED.replace("replacement_startup", "on_preemption = \"on_demand\"\nreplacement_startup"));
    assert_eq!(run.makespan, Some(14_500_000_000));
    // The spot worker was billed to 3.505 s, the on-demand one from 2.5 s to the end.
    assert!((run.spot_worker_hours - 3.505 / 3600.0).abs() < 1e-12);
    assert!((run.on_demand_worker_hours - 12.0 / 3600.0).abs() < 1e-12);
}

#[test]
fn a_task_that_always_fails_aborts_the_job_after_its_attempts() {
    // max_attempts 3: fail, back off 10 s, fail, back off 20 s, fail → aborted.
    let body = format!("{DETERMINISTIC}failures = {{ probability = 0.999999999, max_attempts = 3 }}\n");
    let run = once(&body);
    assert!(run.failed && !run.finished);
    assert!(run.failed_attempts >= 3);
    assert!(run.ended >= 60 * SECOND, "two backoffs of 10 s and 20 s after 30 s start-up");
    assert!(run.records_unwritten > 0);
    let summary = job::summarize(&job_model(&body), &[run]);
    assert_eq!(summary.runs.failed, 1);
}

/// 2 × the standard error of a proportion `p` estimated from `n` draws, plus a floor.
fn binomial_band(p: f64, n: f64) -> f64 {
    4.0 * (p * (1.0 - p) / n).sqrt() + 1e-3
}

fn replications(model: &JobModel, n: u64) -> Vec<JobRun> {
    (0..n).map(|i| job::run(model, sim::rng::replication_seed(7, i as u32))).collect()
}

#[test]
fn retries_follow_the_geometric_law() {
    // Each attempt fails with p = 0.3; a task fails the job after 4 failures: P = 0.3⁴ per task,
    // 1 − (1 − 0.0081)¹⁰ = 0.0782 for ten tasks. Failed attempts per task: Σ_{k=1..4} 0.3^k = 0.4251
    // counted up to an abort.
    let model =
        job_model(&format!("{DETERMINISTIC}failures = {{ probability = 0.3, max_attempts = 4, backoff = \"1s\" }}\n"));
    let n = 3000;
    let runs = replications(&model, n);
    runs.iter().for_each(assert_exactly_once);
    let aborted = runs.iter().filter(|r| r.failed).count() as f64 / n as f64;
    let expected = 1.0 - (1.0 - 0.3f64.powi(4)).powi(10);
    assert!((aborted - expected).abs() < binomial_band(expected, n as f64), "{aborted} vs {expected}");
    let finished: Vec<&JobRun> = runs.iter().filter(|r| r.finished).collect();
    // Given no task reached 4 failures, a task's failures are truncated geometric on 0..=3.
    let weights: Vec<f64> = (0..4).map(|k| 0.3f64.powi(k) * 0.7).collect();
    let total: f64 = weights.iter().sum();
    let mean_per_task: f64 = weights.iter().enumerate().map(|(k, w)| k as f64 * w / total).sum();
    let observed = finished.iter().map(|r| r.failed_attempts as f64).sum::<f64>() / finished.len() as f64 / 10.0;
    assert!((observed - mean_per_task).abs() < 0.02, "{observed} vs {mean_per_task}");
}

#[test]
fn deadline_probability_with_stragglers_matches_the_closed_form() {
    // Eight tasks of 1 s on eight workers, each slow (×3) with probability 0.1: the job takes 1 s
    // unless a worker straggles (3 s). A deadline at 2 s is met with probability 0.9⁸ = 0.4305.
    let body = r#"
start = "01:00"
deadline = { at = "01:00:02", probability = 0.5 }
records = 800_000
partitions = 8
batch_records = 1000
service_time = { kind = "constant", value = "10ms" }
workers = { count = 8, stragglers = { fraction = 0.1, slowdown = 3.0 } }
replications = 4000
"#;
    let model = job_model(body);
    let runs = replications(&model, 4000);
    let summary = job::summarize(&model, &runs);
    let deadline = summary.deadline.expect("has a deadline");
    let expected = 0.9f64.powi(8);
    assert!((deadline.probability - expected).abs() < binomial_band(expected, 4000.0), "{deadline:?}");
    assert!(deadline.interval_95[0] < expected && expected < deadline.interval_95[1]);
    assert!(!deadline.meets_target);
    for run in &runs {
        let m = run.makespan.expect("finishes");
        assert!(m == SECOND || m == 3 * SECOND, "{m}");
    }
}

#[test]
fn deadline_probability_under_random_preemptions_matches_a_monte_carlo() {
    // One task of 2 h on one spot worker preempted at 0.5 per hour with no notice, replaced in
    // 10 min, no checkpoints: every preemption restarts the task. P(done within 3 h) by a Monte
    // Carlo of that renewal process written here, against the engine's replications.
    let body = r#"
deadline = { at = "03:00", probability = 0.9 }
records = 7_200
partitions = 1
batch_records = 1
service_time = { kind = "constant", value = "1s" }
[jobs.workers]
count = 1
spot_share = 1.0
preemptions_per_hour = 0.5
preemption_notice = "0s"
replacement_startup = "10m"
"#;
    let model = job_model(body);
    let n = 3000;
    let runs = replications(&model, n);
    runs.iter().for_each(assert_exactly_once);
    let engine = runs.iter().filter(|r| r.met_deadline == Some(true)).count() as f64 / n as f64;

    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(12345);
    let (work, rate, restart, deadline) = (7200.0, 0.5 / 3600.0, 600.0, 3.0 * 3600.0);
    let samples = 400_000;
    let mut met = 0;
    for _ in 0..samples {
        let mut start = 0.0;
        loop {
            let u: f64 = rng.random();
            let preempted_after = -(1.0 - u).ln() / rate;
            if preempted_after >= work {
                if start + work <= deadline {
                    met += 1;
                }
                break;
            }
            start += preempted_after + restart;
            if start > deadline {
                break;
            }
        }
    }
    let independent = met as f64 / samples as f64;
    let band = binomial_band(independent, n as f64) + binomial_band(independent, samples as f64);
    assert!((engine - independent).abs() < band, "engine {engine} vs Monte Carlo {independent}");
}

#[test]
fn speculation_rescues_stragglers_and_keeps_the_output_exact() {
    // 20 tasks of 1 s on 10 workers + speculation; a straggler (×10) on a task gets a copy once
    // 75% are done. Copies rewrite records the original already wrote: discarded, counted.
    let base = r#"
records = 2_000_000
partitions = 20
batch_records = 1000
service_time = { kind = "constant", value = "10ms" }
workers = { count = 10, stragglers = { fraction = 0.2, slowdown = 10.0 } }
"#;
    let plain = job_model(base);
    let speculative =
        job_model(&format!("{base}speculation = {{ quantile = 0.5, multiplier = 1.5, interval = \"100ms\" }}\n"));
    let (mut slow, mut fast, mut copies) = (0.0, 0.0, 0);
    for i in 0..200 {
        let seed = sim::rng::replication_seed(3, i);
        let a = job::run(&plain, seed);
        let b = job::run(&speculative, seed);
        assert_exactly_once(&a);
        assert_exactly_once(&b);
        slow += a.makespan.unwrap() as f64;
        fast += b.makespan.unwrap() as f64;
        copies += b.speculative_copies;
        assert!(b.makespan <= a.makespan, "a copy never makes the job later");
    }
    assert!(copies > 0);
    assert!(fast < 0.7 * slow, "speculation cut the mean makespan: {fast} vs {slow}");
}

#[test]
fn same_seed_same_run() {
    let model = job_model(&format!(
        "{}failures = {{ probability = 0.2 }}\n",
        DETERMINISTIC
            .replace("startup = \"30s\"", "startup = \"30s\", stragglers = { fraction = 0.3, slowdown = 2.0 }")
    ));
    assert_eq!(job::run(&model, 9), job::run(&model, 9));
}

/// One replica with one instance serving 10 ms batches of one request, a request every 73 ms; a
/// job of five 31 ms batches shares it from 50 ms (odd periods, so no two events tie).
const SHARED: &str = r#"
name = "shared"
duration = "1s"
interval = "100ms"
[regions.local]
replicas = 1
[[traffic]]
origin = "local"
arrivals = { process = "constant", rate = "13.698630137/s" }
[serving]
service_time = { kind = "constant", value = "10ms" }
batching = { max_batch = 1 }
[[jobs]]
name = "nightly"
records = 50
partitions = 1
batch_records = 10
service_time = { kind = "constant", value = "31ms" }
workers = { count = 1 }
shared = { region = "local", at = "50ms" }
"#;

#[test]
fn a_shared_job_runs_between_online_batches_by_hand() {
    let model = model(SHARED);
    let output =
        sim::world::run(&model, &sim::world::RunOptions { seed: 1, record_requests: true, ..Default::default() });
    let mut records = output.requests.clone();
    records.sort_by_key(|r| r.serial);
    // The hand timeline: one instance, online first, a job batch never interrupted. From each
    // request's enqueue time alone, when must its batch start and when must the job end?
    let ms = 1_000_000;
    let mut pending: std::collections::VecDeque<(usize, u64)> =
        records.iter().enumerate().map(|(i, r)| (i, r.stages.enqueued)).collect();
    let (job_start, job_batch, online_batch) = (50 * ms, 31 * ms, 10 * ms);
    let (mut free_at, mut job_left, mut job_end) = (0u64, 5, None);
    let mut expected_start = vec![0u64; records.len()];
    loop {
        let next_request = pending.front().copied();
        match next_request {
            // A waiting request goes first.
            Some((i, enqueued)) if enqueued <= free_at => {
                pending.pop_front();
                expected_start[i] = free_at;
                free_at += online_batch;
            }
            // Otherwise the job takes the instance once it has started.
            _ if job_left > 0 && free_at >= job_start => {
                free_at += job_batch;
                job_left -= 1;
                if job_left == 0 {
                    job_end = Some(free_at);
                }
            }
            // Otherwise the instance idles until a request comes or the job starts.
            _ => {
                let job = (job_left > 0).then_some(job_start);
                match [next_request.map(|(_, e)| e), job].into_iter().flatten().min() {
                    Some(next) => free_at = next,
                    None => break,
                }
            }
        }
    }
    for (record, start) in records.iter().zip(&expected_start) {
        assert_eq!(record.stages.batch_started, *start, "request {}", record.serial);
    }
    let shared = &output.shared_jobs[0];
    assert_eq!(shared.records_scored, 50);
    assert_eq!(shared.batches, 5);
    assert_eq!(shared.finished, job_end);
    // At least one request waited behind a job batch (the point of the test).
    assert!(records.iter().any(|r| r.stages.batch_started > r.stages.enqueued));
    // Without the job the same requests never wait: the job's cost to the online path is that wait.
    let alone = model_without_shared(SHARED);
    let plain =
        sim::world::run(&alone, &sim::world::RunOptions { seed: 1, record_requests: true, ..Default::default() });
    assert!(plain.requests.iter().all(|r| r.stages.batch_started == r.stages.enqueued));
}

fn model_without_shared(text: &str) -> sim::Model {
    model(&text.replace("shared = { region = \"local\", at = \"50ms\" }\n", ""))
}

#[test]
fn shared_capacity_is_checked() {
    let bad = |text: &str| {
        let scenario: sim::scenario::Scenario = toml::from_str(text).unwrap();
        sim::build(&scenario, &sim::Inputs::default()).unwrap_err().to_string()
    };
    assert!(bad(&SHARED.replace("region = \"local\", at", "region = \"elsewhere\", at")).contains("unknown region"));
    assert!(bad(&SHARED.replace("at = \"50ms\"", "at = \"2s\"")).contains("must start before"));
}

#[test]
fn pipelined_stages_move_at_the_slowest_by_hand() {
    // The sink-bound job above with its stages overlapped: the first batch of a task takes all of
    // 10 + 25 = 35 ms, the other 99 the slowest stage's 25 ms: 2.51 s, then the 1 s commit; two
    // waves after 30 s: 37.02 s.
    let body = format!(
        "pipelined = true\n{DETERMINISTIC}sink = {{ per_writer = \"100000/s\", max = \"200000/s\", commit_latency = \"1s\" }}\n"
    );
    let run = once(&body);
    let makespan = run.makespan.expect("finishes");
    assert!(makespan.abs_diff(37_020_000_000) < 1000, "{makespan}");
}

/// Eight 100 s tasks (1 record each, batches of 1 scored in 100 s), one worker to begin with and
/// dynamic allocation up to four, each worker up 600 s after it is asked for.
const ALLOCATION: &str = r#"
records = 8
partitions = 8
batch_records = 1
service_time = { kind = "constant", value = "100s" }
workers = { count = 1, startup = "600s", autoscaling = { min = 1, max = 4, idle_timeout = "60s" } }
"#;

#[test]
fn dynamic_allocation_asks_for_workers_while_tasks_wait_at_the_start() {
    // Spark's dynamic allocation requests executors as soon as tasks are pending: all eight wait
    // at time 0, so three more workers are asked for then, all four are up at 600 s, and the two
    // waves of four tasks end at 800 s (not 1300 s, as when the first worker's start-up is waited
    // for before asking).
    let run = once(ALLOCATION);
    assert_eq!(run.makespan, Some(800 * SECOND));
    assert_eq!(run.peak_workers, 4);
}

#[test]
fn dynamic_allocation_releases_idle_workers_down_to_its_minimum() {
    // Nine tasks on four workers: the ninth runs alone from 800 s to 900 s; the three idle
    // workers go after their 60 s idle timeout (at 860 s), the last one stays (min = 1). Billed:
    // 4 × 800 s + 3 × 60 s + 1 × 100 s of a free instance — counted as worker-hours.
    let body = ALLOCATION.replace("records = 8\npartitions = 8", "records = 9\npartitions = 9");
    let run = once(&body);
    assert_eq!(run.makespan, Some(900 * SECOND));
    let hours = run.on_demand_worker_hours + run.spot_worker_hours;
    assert!((hours - (4.0 * 800.0 + 3.0 * 60.0 + 100.0) / 3600.0).abs() < 1e-9, "{hours}");
}

#[test]
fn aborted_nights_count_their_unwritten_records() {
    // One task of one batch that fails half the time with no retry: about half the nights abort
    // having written nothing. Every night is counted, not only the finished ones.
    let body = r#"
records = 1000
partitions = 1
batch_records = 1000
service_time = { kind = "constant", value = "1s" }
workers = { count = 1 }
failures = { probability = 0.5, max_attempts = 1 }
replications = 200
"#;
    let model = job_model(body);
    let runs: Vec<JobRun> = replications(&model, 200);
    runs.iter().for_each(assert_exactly_once);
    let aborted = runs.iter().filter(|r| r.failed).count();
    // Binomial(200, 0.5): within 4 standard deviations of 100.
    assert!(aborted.abs_diff(100) < 29, "{aborted}");
    let summary = job::summarize(&model, &runs);
    assert_eq!(summary.records.written_min, 0);
    assert_eq!(summary.records.unwritten_max, 1000);
    assert!((summary.records.unwritten_mean - 1000.0 * aborted as f64 / 200.0).abs() < 1e-9);
    assert_eq!(summary.records.lost, 0, "finished nights wrote everything");
    assert!(summary.records.exactly_once);
}

#[test]
fn task_overhead_and_an_injected_failure_by_hand() {
    // The deterministic job with 0.5 s before each attempt's first batch: tasks of 1.5 s, two
    // waves after the 30 s start-up: 33 s.
    let body = format!("task_overhead = \"500ms\"\n{DETERMINISTIC}");
    assert_eq!(once(&body).makespan, Some(33 * SECOND));
    // Task 0's first attempt fails after 50 batches, in its 51st: at 30 + 0.5 + 0.51 = 31.01 s.
    // Its worker takes task 5 then (to 32.51 s); the retry, ready 1 ms later, waits behind tasks
    // 6–9 (taken at 31.5 s) and starts on task 5's worker at 32.51 s: done at 34.01 s.
    let body = format!(
        "{body}failures = {{ backoff = \"1ms\", max_backoff = \"1ms\", inject = [{{ task = 0, after_batches = 50 }}] }}\n"
    );
    let run = once(&body);
    assert_eq!(run.makespan, Some(34_010_000_000));
    assert_eq!(run.failed_attempts, 1);
    assert_eq!(run.attempts, 11);
}
