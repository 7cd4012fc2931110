//! A `[[jobs]]` entry → [`JobModel`]: every count, rate and price checked at its key, times in
//! nanoseconds, rates per nanosecond.

use super::checks::{check_delay, check_rate, positive_finite, MAX_BATCH, MAX_DELAY};
use super::error::{fail, ScenarioError};
use super::inputs::Inputs;
use super::price::price_of;
use super::serving::batch_latency;
use crate::path;
use crate::scenario::jobs::{Job, JobWorkers, Replacement, TaskFailures};
use crate::scenario::{KeyPath, Pricing, Scenario};
use crate::service::BatchLatency;
use crate::units::{Nanos, NANOS_PER_SEC};
use std::sync::Arc;

/// Sizes beyond these are typos: each task and worker is allocated at the start of a run.
pub const MAX_JOB_PARTITIONS: u32 = 1_000_000;
pub const MAX_JOB_WORKERS: u32 = 100_000;
pub const MAX_JOB_RECORDS: u64 = 1_000_000_000_000;
pub const MAX_JOB_REPLICATIONS: u32 = 100_000;
/// Batches one job may ask to simulate over its replications: at about 20 million plain batches a
/// second, some ten minutes on one core (like serving's 10^10 expected requests).
pub const MAX_JOB_BATCHES: f64 = 1e10;
/// Attempts per task: Kubernetes caps `backoffLimitPerIndex` far lower in practice.
pub const MAX_JOB_ATTEMPTS: u32 = 100;
/// A run that has not finished this long after its start stops, unfinished: a week.
pub const JOB_HORIZON: Nanos = 7 * 86_400 * NANOS_PER_SEC as u64;

const HOUR_NANOS: f64 = 3600.0 * NANOS_PER_SEC;

#[derive(Clone, Debug)]
pub struct JobModel {
    pub name: String,
    /// Index in the scenario's `[[jobs]]`, for random streams.
    pub index: usize,
    /// Seconds after midnight the job starts.
    pub start_clock_s: u64,
    /// From the start, and the share of runs that must meet it.
    pub deadline: Option<DeadlineModel>,
    pub records: u64,
    pub record_bytes: u64,
    /// Records of each task, in task order (the remainder goes to the first tasks).
    pub task_records: Vec<u64>,
    pub batch_records: u32,
    pub pipelined: bool,
    pub latency: Arc<dyn BatchLatency>,
    pub workers: WorkerPoolModel,
    pub reads: Option<ReadsModel>,
    pub sink: Option<SinkModel>,
    pub failure_probability: f64,
    pub max_attempts: u32,
    pub backoff: Nanos,
    pub max_backoff: Nanos,
    pub checkpoint_records: Option<u64>,
    pub speculation: Option<SpeculationModel>,
    pub replications: u32,
    pub interval: Nanos,
    /// Also run on an online region's idle replicas (resolved by `build` once regions are known).
    pub shared: Option<SharedModel>,
    pub engine: crate::scenario::jobs::JobEngine,
    /// Before each attempt's first batch.
    pub task_overhead: Nanos,
    /// `(task, batches written before it fails)` for tasks whose first attempt fails.
    pub injected_failures: Vec<(u32, u64)>,
}

/// A job run on the idle model instances of an online region's primary deployment.
#[derive(Clone, Copy, Debug)]
pub struct SharedModel {
    pub region: usize,
    pub at: Nanos,
}

#[derive(Clone, Copy, Debug)]
pub struct DeadlineModel {
    pub after_start: Nanos,
    pub probability: f64,
    /// As written (`06:00`), for reports.
    pub clock: u64,
}

#[derive(Clone, Debug)]
pub struct WorkerPoolModel {
    pub instance: Option<String>,
    pub count: u32,
    pub slots: u32,
    pub startup: Nanos,
    /// Workers of the starting pool on spot: the first `spot` by number.
    pub spot: u32,
    pub preemptions_per_nanosecond: f64,
    pub preemption_notice: Nanos,
    pub on_preemption: Replacement,
    pub replacement_startup: Nanos,
    pub preempt_at: Vec<Nanos>,
    pub crashes_per_nanosecond: f64,
    pub straggler_fraction: f64,
    pub straggler_slowdown: f64,
    /// `(min, max, idle timeout)`.
    pub autoscaling: Option<(u32, u32, Nanos)>,
    /// What one task's pod requests so that `slots` fit on a worker and no more, from the instance
    /// type's `vcpus` and `memory_gib` (None when it gives neither).
    pub task_share: Option<TaskShare>,
    pub on_demand_usd_per_hour: f64,
    pub spot_usd_per_hour: f64,
    pub price_source: Option<String>,
}

/// A task's share of a worker: (vCPUs − 0.5 for the kubelet and daemon sets) ÷ slots, and
/// (memory − 1 GiB − 5% for the same and eviction) ÷ slots.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskShare {
    pub cpu_millis: u64,
    pub memory_mib: u64,
}

/// The least share a task may get: less is a unit slip in `vcpus`, `memory_gib` or `slots`.
const MIN_TASK_CPU_MILLIS: u64 = 100;
const MIN_TASK_MEMORY_MIB: u64 = 128;

/// `vcpus` and `memory_gib` of the workers' instance type, split between their `slots`.
fn task_share(wp: &KeyPath, w: &JobWorkers, scenario: &Scenario) -> Result<Option<TaskShare>, ScenarioError> {
    let Some((name, instance)) = w.instance.as_ref().and_then(|i| scenario.instance_types.get_key_value(i)) else {
        return Ok(None);
    };
    let at = path!["instance_types", name.as_str()];
    let (vcpus, memory_gib) = match (instance.vcpus, instance.memory_gib) {
        (None, None) => return Ok(None),
        (Some(v), Some(m)) => (v, m),
        (Some(_), None) => return fail(at.join("vcpus"), "vcpus needs memory_gib beside it"),
        (None, Some(_)) => return fail(at.join("memory_gib"), "memory_gib needs vcpus beside it"),
    };
    if !(1..=1024).contains(&vcpus) {
        return fail(at.join("vcpus"), format!("vcpus must be between 1 and 1024, got {vcpus}"));
    }
    if !(memory_gib.is_finite() && (0.5..=65_536.0).contains(&memory_gib)) {
        return fail(at.join("memory_gib"), format!("memory_gib must be between 0.5 and 65536, got {memory_gib}"));
    }
    let slots = u64::from(w.slots.max(1));
    let memory_mib = memory_gib * 1024.0;
    let share = TaskShare {
        cpu_millis: (u64::from(vcpus) * 1000).saturating_sub(500) / slots,
        memory_mib: ((memory_mib - 1024.0 - 0.05 * memory_mib).max(0.0) as u64) / slots,
    };
    if share.cpu_millis < MIN_TASK_CPU_MILLIS || share.memory_mib < MIN_TASK_MEMORY_MIB {
        return fail(
            wp.join("slots"),
            format!(
                "{} slots on {name:?} ({vcpus} vCPUs, {memory_gib} GiB) leave each task {}m CPU and {} MiB (at least {MIN_TASK_CPU_MILLIS}m and {MIN_TASK_MEMORY_MIB} MiB)",
                w.slots, share.cpu_millis, share.memory_mib
            ),
        );
    }
    Ok(Some(share))
}

#[derive(Clone, Copy, Debug)]
pub struct ReadsModel {
    /// Records per nanosecond.
    pub per_task: f64,
    pub max: Option<f64>,
    pub latency: Nanos,
    pub error_rate: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct SinkModel {
    pub per_writer: f64,
    pub max: Option<f64>,
    pub commit_latency: Nanos,
}

#[derive(Clone, Copy, Debug)]
pub struct SpeculationModel {
    pub quantile: f64,
    pub multiplier: f64,
    pub interval: Nanos,
}

/// `"HH:MM"`, `"HH:MM:SS"`, optionally `+Nd` days later: seconds after the first midnight.
pub fn parse_clock(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is not a time of day: write \"HH:MM\" (24-hour), e.g. \"06:00\", or \"06:00+1d\" for the next day")
    };
    let (time, days) = match text.split_once('+') {
        Some((time, days)) => {
            let count = days.strip_suffix('d').ok_or_else(bad)?;
            let count: u64 = count.parse().map_err(|_| bad())?;
            if count > 7 {
                return Err(format!("{text:?}: at most 7 days later"));
            }
            (time, count)
        }
        None => (text, 0),
    };
    let parts: Vec<&str> = time.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let number = |p: &str| p.parse::<u64>().map_err(|_| bad());
    let (hours, minutes) = (number(parts[0])?, number(parts[1])?);
    let seconds = if parts.len() == 3 { number(parts[2])? } else { 0 };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return Err(bad());
    }
    Ok(days * 86_400 + hours * 3600 + minutes * 60 + seconds)
}

/// `seconds` after midnight as `HH:MM` (with `+Nd` past the first day).
pub fn format_clock(seconds: u64) -> String {
    let days = seconds / 86_400;
    let within = seconds % 86_400;
    let base = if within.is_multiple_of(60) {
        format!("{:02}:{:02}", within / 3600, within % 3600 / 60)
    } else {
        format!("{:02}:{:02}:{:02}", within / 3600, within % 3600 / 60, within % 60)
    };
    if days == 0 {
        base
    } else {
        format!("{base}+{days}d")
    }
}

fn fraction(path: KeyPath, name: &str, value: f64, allow_one: bool) -> Result<f64, ScenarioError> {
    let ok = value.is_finite() && value >= 0.0 && if allow_one { value <= 1.0 } else { value < 1.0 };
    if !ok {
        let range = if allow_one { "[0, 1]" } else { "[0, 1)" };
        return fail(path, format!("{name} must be a fraction in {range}, got {value}"));
    }
    Ok(value)
}

fn per_hour(path: KeyPath, name: &str, value: f64) -> Result<f64, ScenarioError> {
    if !value.is_finite() || !(0.0..=3600.0).contains(&value) {
        return fail(path, format!("{name} must be between 0 and 3600 per hour, got {value}"));
    }
    Ok(value / HOUR_NANOS)
}

/// Check every `[[jobs]]` entry.
pub fn build_jobs(scenario: &Scenario, inputs: &Inputs) -> Result<Vec<JobModel>, ScenarioError> {
    let mut names = std::collections::BTreeSet::new();
    let mut jobs = Vec::with_capacity(scenario.jobs.len());
    for (index, job) in scenario.jobs.iter().enumerate() {
        let at = path!["jobs", index];
        if !names.insert(job.name.as_str()) {
            return fail(at.join("name"), format!("two jobs are named {:?}", job.name));
        }
        jobs.push(build_job(&at, index, job, scenario, inputs)?);
    }
    Ok(jobs)
}

fn build_job(
    at: &KeyPath,
    index: usize,
    job: &Job,
    scenario: &Scenario,
    inputs: &Inputs,
) -> Result<JobModel, ScenarioError> {
    if job.name.trim().is_empty() || job.name.chars().any(char::is_control) {
        return fail(at.join("name"), "a job needs a name without control characters");
    }
    let start_clock_s = parse_clock(&job.start).map_err(|m| ScenarioError { path: at.join("start"), message: m })?;
    if start_clock_s >= 86_400 {
        return fail(at.join("start"), "the start is a time of the first day (a deadline may be later)");
    }
    let deadline = build_deadline(at, job, start_clock_s)?;
    let task_records = split_records(at, job)?;
    let latency = batch_latency(&at.join("service_time"), &job.service_time, job.batch_records, inputs)?;
    let workers = build_workers(&at.join("workers"), &job.workers, scenario, inputs)?;
    let reads = build_reads(&at.join("feature_store"), job)?;
    let sink = build_sink(&at.join("sink"), job)?;
    check_caps(at, job, reads, sink)?;
    let (failure_probability, backoff, max_backoff) = build_failures(&at.join("failures"), &job.failures)?;
    if job.checkpoint_records == Some(0) {
        return fail(at.join("checkpoint_records"), "checkpoint_records must be at least 1");
    }
    let speculation = build_speculation(&at.join("speculation"), job)?;
    if job.replications == 0 || job.replications > MAX_JOB_REPLICATIONS {
        return fail(at.join("replications"), format!("replications must be between 1 and {MAX_JOB_REPLICATIONS}"));
    }
    let batches = job_batches(&task_records, job.batch_records) as f64 * f64::from(job.replications);
    if batches > MAX_JOB_BATCHES {
        return fail(
            at.join("records"),
            format!(
                "{} records in batches of {} over {} replications are {batches:.2e} batches to simulate (at most {MAX_JOB_BATCHES:.0e}, minutes of computing on one core): lower records or replications, or raise batch_records",
                job.records, job.batch_records, job.replications
            ),
        );
    }
    let interval = job.interval.nanos();
    if !(NANOS_PER_SEC as u64..=MAX_DELAY).contains(&interval) {
        return fail(at.join("interval"), "interval must be between 1 s and a day");
    }
    let task_overhead = job.task_overhead.nanos();
    if task_overhead > MAX_DELAY {
        return fail(at.join("task_overhead"), "task_overhead must be at most a day");
    }
    let mut injected_failures = Vec::with_capacity(job.failures.inject.len());
    for (i, injected) in job.failures.inject.iter().enumerate() {
        let here = at.join("failures").join("inject").join(i);
        let Some(&records) = task_records.get(injected.task as usize) else {
            return fail(
                here.join("task"),
                format!("task {} is past the job's {} tasks", injected.task, task_records.len()),
            );
        };
        let batches = records.div_ceil(u64::from(job.batch_records));
        if injected.after_batches >= batches {
            return fail(
                here.join("after_batches"),
                format!("task {} has {batches} batches: it fails after at most {}", injected.task, batches - 1),
            );
        }
        injected_failures.push((injected.task, injected.after_batches));
    }
    if !positive_finite(latency.mean(job.batch_records)) {
        return fail(at.join("service_time"), "the scoring time of a batch must be positive");
    }
    Ok(JobModel {
        name: job.name.clone(),
        index,
        start_clock_s,
        deadline,
        records: job.records,
        record_bytes: job.record_bytes,
        task_records,
        batch_records: job.batch_records,
        pipelined: job.pipelined,
        latency,
        workers,
        reads,
        sink,
        failure_probability,
        max_attempts: job.failures.max_attempts,
        backoff,
        max_backoff,
        checkpoint_records: job.checkpoint_records,
        speculation,
        replications: job.replications,
        interval,
        shared: None,
        engine: job.engine,
        task_overhead,
        injected_failures,
    })
}

/// `deadline`: how long after the start the job must be done, and with what probability.
fn build_deadline(at: &KeyPath, job: &Job, start_clock_s: u64) -> Result<Option<DeadlineModel>, ScenarioError> {
    Ok(match &job.deadline {
        None => None,
        Some(deadline) => {
            let clock = parse_clock(&deadline.at)
                .map_err(|m| ScenarioError { path: at.join("deadline").join("at"), message: m })?;
            if clock <= start_clock_s {
                return fail(
                    at.join("deadline").join("at"),
                    format!(
                        "the deadline {} is not after the start {}; a deadline on the next day is written \"{}+1d\"",
                        deadline.at, job.start, deadline.at
                    ),
                );
            }
            let p = deadline.probability;
            if !(p > 0.0 && p < 1.0) {
                return fail(
                    at.join("deadline").join("probability"),
                    format!("probability must be in (0, 1), e.g. 0.99; got {p}"),
                );
            }
            Some(DeadlineModel { after_start: (clock - start_clock_s) * NANOS_PER_SEC as u64, probability: p, clock })
        }
    })
}

/// The batches one run of the job scores, retries aside.
pub fn job_batches(task_records: &[u64], batch_records: u32) -> u64 {
    task_records.iter().map(|r| r.div_ceil(u64::from(batch_records))).sum()
}

/// `records`, `partitions` and `batch_records`: the records of each task (partitions as even as
/// the division allows, the first ones one record larger).
fn split_records(at: &KeyPath, job: &Job) -> Result<Vec<u64>, ScenarioError> {
    if job.records == 0 || job.records > MAX_JOB_RECORDS {
        return fail(at.join("records"), format!("records must be between 1 and {MAX_JOB_RECORDS}"));
    }
    if job.record_bytes > 1 << 30 {
        return fail(at.join("record_bytes"), "record_bytes must be at most 1 GiB");
    }
    if job.partitions == 0 || job.partitions > MAX_JOB_PARTITIONS {
        return fail(at.join("partitions"), format!("partitions must be between 1 and {MAX_JOB_PARTITIONS}"));
    }
    if u64::from(job.partitions) > job.records {
        return fail(
            at.join("partitions"),
            format!(
                "{} partitions for {} records would leave tasks with nothing to score",
                job.partitions, job.records
            ),
        );
    }
    if job.batch_records == 0 || job.batch_records > MAX_BATCH {
        return fail(at.join("batch_records"), format!("batch_records must be between 1 and {MAX_BATCH}"));
    }
    let base = job.records / u64::from(job.partitions);
    let extra = job.records % u64::from(job.partitions);
    Ok((0..u64::from(job.partitions)).map(|i| base + u64::from(i < extra)).collect())
}

/// `workers`: the pool, its prices on demand and spot, preemptions, crashes, stragglers, scaling.
fn build_workers(
    wp: &KeyPath,
    w: &JobWorkers,
    scenario: &Scenario,
    inputs: &Inputs,
) -> Result<WorkerPoolModel, ScenarioError> {
    if w.count == 0 || w.count > MAX_JOB_WORKERS {
        return fail(wp.join("count"), format!("count must be between 1 and {MAX_JOB_WORKERS}"));
    }
    if w.slots == 0 || w.slots > 1024 {
        return fail(wp.join("slots"), "slots must be between 1 and 1024");
    }
    let startup = check_delay(wp.join("startup"), "startup", w.startup.nanos())?;
    let spot_share = fraction(wp.join("spot_share"), "spot_share", w.spot_share, true)?;
    let spot = (f64::from(w.count) * spot_share).round() as u32;
    let (on_demand_usd_per_hour, spot_usd_per_hour, catalog_preemptions, price_source) = match &w.instance {
        None => (0.0, 0.0, None, None),
        Some(instance) => {
            let on_demand = price_of(instance, Pricing::OnDemand, scenario, inputs)
                .map_err(|message| ScenarioError { path: wp.join("instance"), message })?;
            let spot_price = if spot > 0 {
                Some(
                    price_of(instance, Pricing::Spot, scenario, inputs)
                        .map_err(|message| ScenarioError { path: wp.join("spot_share"), message })?,
                )
            } else {
                None
            };
            let preemptions =
                spot_price.as_ref().and_then(|p| p.preemptions_per_hour).or(on_demand.preemptions_per_hour);
            (on_demand.usd_per_hour, spot_price.map_or(0.0, |p| p.usd_per_hour), preemptions, on_demand.source)
        }
    };
    let preemptions = match (w.preemptions_per_hour, catalog_preemptions) {
        (Some(rate), _) => per_hour(wp.join("preemptions_per_hour"), "preemptions_per_hour", rate)?,
        (None, Some(rate)) => per_hour(wp.join("instance"), "the instance's preemptions_per_hour", rate)?,
        (None, None) if spot > 0 => {
            return fail(
                wp.join("spot_share"),
                "spot workers need a preemption rate: set workers.preemptions_per_hour (or preemptions_per_hour in the instance's price entry)",
            )
        }
        (None, None) => 0.0,
    };
    let preemption_notice =
        check_delay(wp.join("preemption_notice"), "preemption_notice", w.preemption_notice.nanos())?;
    let replacement_startup = match w.replacement_startup {
        Some(d) => check_delay(wp.join("replacement_startup"), "replacement_startup", d.nanos())?,
        None => startup,
    };
    if !w.preempt_at.is_empty() && spot == 0 {
        return fail(wp.join("preempt_at"), "preempt_at takes spot workers, but spot_share gives none");
    }
    let mut preempt_at = Vec::with_capacity(w.preempt_at.len());
    for (i, time) in w.preempt_at.iter().enumerate() {
        if time.nanos() > JOB_HORIZON {
            return fail(wp.join("preempt_at").join(i), "a preemption more than a week after the start never happens");
        }
        preempt_at.push(time.nanos());
    }
    preempt_at.sort_unstable();
    let crashes = per_hour(wp.join("crashes_per_hour"), "crashes_per_hour", w.crashes_per_hour)?;
    let (straggler_fraction, straggler_slowdown) = match &w.stragglers {
        None => (0.0, 1.0),
        Some(s) => {
            let f = fraction(wp.join("stragglers").join("fraction"), "fraction", s.fraction, true)?;
            if !(s.slowdown.is_finite() && (1.0..=1000.0).contains(&s.slowdown)) {
                return fail(
                    wp.join("stragglers").join("slowdown"),
                    format!("slowdown is a factor between 1 and 1000, got {}", s.slowdown),
                );
            }
            (f, s.slowdown)
        }
    };
    let autoscaling = match &w.autoscaling {
        None => None,
        Some(a) => {
            let ap = wp.join("autoscaling");
            if a.max == 0 || a.max > MAX_JOB_WORKERS {
                return fail(ap.join("max"), format!("max must be between 1 and {MAX_JOB_WORKERS}"));
            }
            if a.min > a.max {
                return fail(ap.join("min"), format!("min ({}) is greater than max ({})", a.min, a.max));
            }
            if w.count < a.min || w.count > a.max {
                return fail(
                    wp.join("count"),
                    format!("count ({}) must lie between autoscaling min ({}) and max ({})", w.count, a.min, a.max),
                );
            }
            let idle = check_delay(ap.join("idle_timeout"), "idle_timeout", a.idle_timeout.nanos())?;
            Some((a.min, a.max, idle.max(1)))
        }
    };
    let task_share = task_share(wp, w, scenario)?;
    Ok(WorkerPoolModel {
        instance: w.instance.clone(),
        count: w.count,
        slots: w.slots,
        startup,
        spot,
        preemptions_per_nanosecond: preemptions,
        preemption_notice,
        on_preemption: w.on_preemption,
        replacement_startup,
        preempt_at,
        crashes_per_nanosecond: crashes,
        straggler_fraction,
        straggler_slowdown,
        autoscaling,
        task_share,
        on_demand_usd_per_hour,
        spot_usd_per_hour,
        price_source,
    })
}

/// `feature_store`: the reads a task makes, their rate caps, latency and errors.
fn build_reads(rp: &KeyPath, job: &Job) -> Result<Option<ReadsModel>, ScenarioError> {
    Ok(match &job.feature_store {
        None => None,
        Some(r) => {
            let per_task = check_rate(rp.join("per_task"), r.per_task, false)?;
            let max = r.max.map(|m| check_rate(rp.join("max"), m, false)).transpose()?;
            let latency = check_delay(rp.join("latency"), "latency", r.latency.nanos())?;
            let error_rate = fraction(rp.join("error_rate"), "error_rate", r.error_rate, false)?;
            if error_rate > 0.5 {
                return fail(
                    rp.join("error_rate"),
                    format!("error_rate {error_rate} would fail most reads; at most 0.5"),
                );
            }
            Some(ReadsModel { per_task, max, latency, error_rate })
        }
    })
}

/// `sink`: the warehouse writes, their rate caps and commit latency.
fn build_sink(sp: &KeyPath, job: &Job) -> Result<Option<SinkModel>, ScenarioError> {
    Ok(match &job.sink {
        None => None,
        Some(s) => {
            let per_writer = check_rate(sp.join("per_writer"), s.per_writer, false)?;
            let max = s.max.map(|m| check_rate(sp.join("max"), m, false)).transpose()?;
            let commit_latency = check_delay(sp.join("commit_latency"), "commit_latency", s.commit_latency.nanos())?;
            Some(SinkModel { per_writer, max, commit_latency })
        }
    })
}

/// The slowest shared cap must let the whole job through within a week.
fn check_caps(
    at: &KeyPath,
    job: &Job,
    reads: Option<ReadsModel>,
    sink: Option<SinkModel>,
) -> Result<(), ScenarioError> {
    // A cap that lets the whole job through in no less than a week is a unit typo.
    let slowest_cap =
        [reads.and_then(|r| r.max), sink.and_then(|s| s.max)].into_iter().flatten().fold(f64::INFINITY, f64::min);
    if slowest_cap.is_finite() && job.records as f64 / slowest_cap > JOB_HORIZON as f64 {
        let which = if reads.and_then(|r| r.max) == Some(slowest_cap) { "feature_store" } else { "sink" };
        return fail(
            at.join(which).join("max"),
            format!(
                "at {:.3}/s the job's {} records take longer than a week to pass: is the rate in the right unit?",
                slowest_cap * NANOS_PER_SEC,
                job.records
            ),
        );
    }
    Ok(())
}

/// `failures`: a batch's failure probability and the backoff of its retries (attempts are
/// checked here and read from the job).
fn build_failures(fp: &KeyPath, f: &TaskFailures) -> Result<(f64, Nanos, Nanos), ScenarioError> {
    let failure_probability = fraction(fp.join("probability"), "probability", f.probability, false)?;
    if f.max_attempts == 0 || f.max_attempts > MAX_JOB_ATTEMPTS {
        return fail(fp.join("max_attempts"), format!("max_attempts must be between 1 and {MAX_JOB_ATTEMPTS}"));
    }
    let backoff = check_delay(fp.join("backoff"), "backoff", f.backoff.nanos())?;
    let max_backoff = check_delay(fp.join("max_backoff"), "max_backoff", f.max_backoff.nanos())?;
    if max_backoff < backoff {
        return fail(fp.join("max_backoff"), "max_backoff must be at least backoff");
    }
    Ok((failure_probability, backoff, max_backoff))
}

/// `speculation`: when a slow task gets a speculative copy.
fn build_speculation(sp: &KeyPath, job: &Job) -> Result<Option<SpeculationModel>, ScenarioError> {
    Ok(match &job.speculation {
        None => None,
        Some(s) => {
            if !(s.quantile > 0.0 && s.quantile <= 1.0) {
                return fail(sp.join("quantile"), format!("quantile must be in (0, 1], got {}", s.quantile));
            }
            if !(s.multiplier.is_finite() && s.multiplier >= 1.0) {
                return fail(sp.join("multiplier"), format!("multiplier must be at least 1, got {}", s.multiplier));
            }
            let interval = s.interval.nanos();
            if !(1_000_000..=MAX_DELAY).contains(&interval) {
                return fail(sp.join("interval"), "interval must be between 1 ms and a day");
            }
            Some(SpeculationModel { quantile: s.quantile, multiplier: s.multiplier, interval })
        }
    })
}

/// Resolves each job's `shared` region against the online regions: the region must serve with a
/// dynamic batcher, and the job must start inside the run. At most one job per region.
pub fn resolve_shared(
    scenario: &Scenario,
    jobs: &mut [JobModel],
    regions: &[super::RegionModel],
    duration: Nanos,
) -> Result<(), ScenarioError> {
    let mut taken = vec![false; regions.len()];
    for (i, job) in scenario.jobs.iter().enumerate() {
        let Some(shared) = &job.shared else { continue };
        let at = path!["jobs", i, "shared"];
        let Some(r) = regions.iter().position(|r| r.name == shared.region) else {
            let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
            return fail(
                at.join("region"),
                format!("unknown region {:?}; regions are: {}", shared.region, known.join(", ")),
            );
        };
        let batches = regions[r].primary.serving.as_ref().is_some_and(|s| s.kind.dynamic_batching().is_some());
        if !batches {
            return fail(
                at.join("region"),
                format!("region {:?} has no dynamic-batching replicas to share", shared.region),
            );
        }
        if std::mem::replace(&mut taken[r], true) {
            return fail(at.join("region"), format!("another job already shares region {:?}", shared.region));
        }
        if shared.at.nanos() >= duration {
            return fail(at.join("at"), "the shared job must start before the online run's duration ends");
        }
        jobs[i].shared = Some(SharedModel { region: r, at: shared.at.nanos() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_and_print() {
        assert_eq!(parse_clock("06:00"), Ok(6 * 3600));
        assert_eq!(parse_clock("23:59:30"), Ok(86_370));
        assert_eq!(parse_clock("05:00+1d"), Ok(86_400 + 5 * 3600));
        for bad in ["6:00", "24:00", "06:60", "06", "06:00+d", "06:00+1", "ab:cd", "06:00:00:00", ""] {
            assert!(parse_clock(bad).is_err(), "{bad}");
        }
        assert_eq!(format_clock(6 * 3600), "06:00");
        assert_eq!(format_clock(86_400 + 5 * 3600 + 30), "05:00:30+1d");
    }
}
