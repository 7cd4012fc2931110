//! Batch-scoring jobs as written (`[[jobs]]`): records read from a feature store, scored in
//! batches by a pool of workers, written to a warehouse, before a deadline.

use super::Dist;
use crate::units::{Duration, Rate};
use serde::{Deserialize, Serialize};

fn midnight() -> String {
    "00:00".to_string()
}
fn job_replications() -> u32 {
    400
}
fn one() -> u32 {
    1
}
fn four() -> u32 {
    4
}
fn ten_seconds() -> Duration {
    Duration(10_000_000_000)
}
fn six_minutes() -> Duration {
    Duration(360_000_000_000)
}
fn two_minutes() -> Duration {
    Duration(120_000_000_000)
}
fn one_minute() -> Duration {
    Duration(60_000_000_000)
}
fn one_second() -> Duration {
    Duration(1_000_000_000)
}
fn ninety_nine() -> f64 {
    0.99
}
fn three_quarters() -> f64 {
    0.75
}
fn one_and_a_half() -> f64 {
    1.5
}

/// A nightly (or one-off) batch-scoring job.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    /// Daily start time, `"HH:MM"` (24-hour clock); the job's simulated clock starts here.
    #[serde(default = "midnight")]
    pub start: String,
    /// When the output must be complete, and with what probability.
    pub deadline: Option<JobDeadline>,
    /// Records scored per run.
    pub records: u64,
    /// Feature bytes read per record (for the read volume in results).
    #[serde(default)]
    pub record_bytes: u64,
    /// Tasks the records are split into (Spark partitions, or an Indexed Job's completions).
    pub partitions: u32,
    /// Records per scoring batch: one feature-store read, one model call, one sink write.
    pub batch_records: u32,
    /// Overlap a task's stages: the next batch is read while this one is scored and the previous
    /// one written, so after the first batch a task moves at its slowest stage (false: one after
    /// the other).
    #[serde(default)]
    pub pipelined: bool,
    /// Time to score one batch: any service-time form (a distribution, a batch table, or
    /// `kind = "model"` from a profile or the roofline, evaluated at `batch_records`).
    pub service_time: Dist,
    pub workers: JobWorkers,
    /// Bulk reads of features (none: features come with the records).
    pub feature_store: Option<BulkReads>,
    /// Where scores are written (none: the write is free).
    pub sink: Option<WarehouseSink>,
    /// Task failures and retries.
    #[serde(default)]
    pub failures: TaskFailures,
    /// A task saves its position every this many records; a lost attempt resumes from the last
    /// one (none: it starts over).
    pub checkpoint_records: Option<u64>,
    /// Spark's speculative execution: copies of slow tasks on idle slots.
    pub speculation: Option<Speculation>,
    /// Simulated runs of the job (each with its own failures, preemptions and stragglers) that
    /// make its makespan distribution and P(deadline met).
    #[serde(default = "job_replications")]
    pub replications: u32,
    /// Width of one row of the job's time series.
    #[serde(default = "one_minute")]
    pub interval: Duration,
    /// Also run the job on an online region's replicas while they are idle (online requests
    /// first): what it does to the online SLO, and what the worker pool it replaces costs.
    pub shared: Option<SharedCapacity>,
    /// Time each task attempt takes before its first batch: launch, deserialisation, handing the
    /// partition to a Python worker (Spark's scheduler delay and task start; a pod's start is
    /// `workers.startup`).
    #[serde(default)]
    pub task_overhead: Duration,
    /// What runs the scoring step of the Airflow DAG a plan writes: a Kubernetes pod per
    /// partition, or one Spark application (the plan writes both engines' files either way).
    #[serde(default)]
    pub engine: JobEngine,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobEngine {
    /// An Indexed Job's pods (the CronJob), or the DAG's mapped KubernetesPodOperator.
    #[default]
    Kubernetes,
    /// A Spark application (spark-submit.conf, the SparkApplication, the DAG's SparkSubmitOperator).
    Spark,
}

/// Scoring on the online replicas of a region between online batches.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedCapacity {
    /// The region whose primary deployment lends its idle model instances.
    pub region: String,
    /// When the job starts, from the start of the online run.
    #[serde(default)]
    pub at: Duration,
}

/// `{ at = "06:00", probability = 0.99 }`; a deadline past midnight is written `"06:00+1d"`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobDeadline {
    pub at: String,
    /// The share of nights that must meet it (what `plan` and `check` hold the job to).
    #[serde(default = "ninety_nine")]
    pub probability: f64,
}

/// The worker pool: Spark executors or an Indexed Job's pods.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobWorkers {
    /// A key of `[instance_types]` or a catalog instance (`instance@region`); none: free.
    pub instance: Option<String>,
    /// Workers at the start (and the most, unless `autoscaling` says otherwise).
    pub count: u32,
    /// Tasks one worker runs at once (executor cores).
    #[serde(default = "one")]
    pub slots: u32,
    /// From request to taking tasks: node provisioning, image pull, model load.
    #[serde(default)]
    pub startup: Duration,
    /// The share of workers on spot capacity (rounded to whole workers).
    #[serde(default)]
    pub spot_share: f64,
    /// Spot preemptions per worker-hour; default: the catalog's or the instance type's figure.
    pub preemptions_per_hour: Option<f64>,
    /// Warning before a spot worker is taken (AWS gives 2 minutes); it takes no new tasks then.
    #[serde(default = "two_minutes")]
    pub preemption_notice: Duration,
    /// What replaces a preempted spot worker, requested at the notice.
    #[serde(default)]
    pub on_preemption: Replacement,
    /// Start-up of a replacement (default: `startup`).
    pub replacement_startup: Option<Duration>,
    /// Spot preemptions at fixed times from the job's start: each takes the lowest-numbered spot
    /// worker still up (for what-ifs and tests).
    #[serde(default)]
    pub preempt_at: Vec<Duration>,
    /// Crashes per worker-hour (no notice; replaced like itself).
    #[serde(default)]
    pub crashes_per_hour: f64,
    /// Slow workers: each is slow with probability `fraction`, running `slowdown` times longer.
    pub stragglers: Option<Stragglers>,
    /// Spark dynamic allocation / an autoscaled Job's parallelism.
    pub autoscaling: Option<WorkerAutoscaling>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    /// Another spot worker.
    #[default]
    Spot,
    /// An on-demand worker (on-demand fallback): dearer, never preempted.
    OnDemand,
    /// Nothing: the pool shrinks.
    None,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stragglers {
    pub fraction: f64,
    pub slowdown: f64,
}

/// Spark's dynamic allocation: workers are added while tasks wait (up to `max`) and released
/// after `idle_timeout` with nothing to do (down to `min`).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerAutoscaling {
    pub min: u32,
    pub max: u32,
    #[serde(default = "one_minute")]
    pub idle_timeout: Duration,
}

/// Feature-store bulk reads, one per scoring batch.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReads {
    /// Records one task reads per second.
    pub per_task: Rate,
    /// Records per second all tasks together may read (the store's throughput limit).
    pub max: Option<Rate>,
    /// Latency of one bulk read before its records stream.
    #[serde(default)]
    pub latency: Duration,
    /// Share of reads that fail and are read again.
    #[serde(default)]
    pub error_rate: f64,
}

/// The warehouse: rows written per batch, committed once per task.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSink {
    /// Rows one writer (task) writes per second.
    pub per_writer: Rate,
    /// Rows per second all writers together may write.
    pub max: Option<Rate>,
    /// Commit at the end of each task.
    #[serde(default)]
    pub commit_latency: Duration,
}

/// Task attempts that fail (an exception, an out-of-memory kill) and how they are retried.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskFailures {
    /// Probability that one attempt of a task fails, at a uniformly drawn batch.
    #[serde(default)]
    pub probability: f64,
    /// Attempts per task before the job fails (Spark's `spark.task.maxFailures`, a Job's
    /// `backoffLimitPerIndex` + 1). Preemptions and crashes do not count.
    #[serde(default = "four")]
    pub max_attempts: u32,
    /// Wait before the second attempt, doubling for each further one (Kubernetes' Job backoff).
    #[serde(default = "ten_seconds")]
    pub backoff: Duration,
    #[serde(default = "six_minutes")]
    pub max_backoff: Duration,
    /// Failures at fixed points, for what-ifs and validation: the first attempt of `task` (by
    /// number from 0) fails after writing `after_batches` batches (in the next one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inject: Vec<InjectedFailure>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectedFailure {
    pub task: u32,
    pub after_batches: u64,
}

impl Default for TaskFailures {
    fn default() -> Self {
        TaskFailures {
            probability: 0.0,
            max_attempts: four(),
            backoff: ten_seconds(),
            max_backoff: six_minutes(),
            inject: Vec::new(),
        }
    }
}

/// Once `quantile` of the tasks are done, a task running `multiplier` times longer than the
/// median finished task gets a copy on an idle slot; the first to finish wins.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Speculation {
    #[serde(default = "three_quarters")]
    pub quantile: f64,
    #[serde(default = "one_and_a_half")]
    pub multiplier: f64,
    /// How often running tasks are checked (Spark: `spark.speculation.interval`).
    #[serde(default = "one_second")]
    pub interval: Duration,
}

fn one_f64() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}
fn four_f64() -> f64 {
    4.0
}

/// `servesim compare`: the same predictions served online, precomputed nightly by a job and looked
/// up, or computed on the client's device.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// Predictions asked for per day (default: the online traffic's mean rate × 86 400).
    pub predictions_per_day: Option<f64>,
    /// The job that precomputes every user's score (default: the first).
    pub job: Option<String>,
    /// Reading a precomputed score: a cache or online feature-store read.
    pub lookup: Lookup,
    /// Scoring on the client's device; none: not compared.
    pub edge: Option<Edge>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// Client-observed latency of one read.
    pub latency: Dist,
    /// What a million reads cost (the store's request price, or its instances' share).
    pub usd_per_million: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// A catalog model (`servesim latency --model`).
    pub model: String,
    /// A CPU profile written by `servesim profile` (relative to the scenario) or a catalog device.
    pub device: String,
    /// Tokens per request, for sequence models (ignored by tabular ones).
    #[serde(default = "one_u32")]
    pub seq: u32,
    /// How many times slower the client's device is than the profiled one (a phone's core
    /// against a server's: an assumption to state in the review).
    #[serde(default = "one_f64")]
    pub slowdown: f64,
    /// Devices that download the model.
    pub devices: u64,
    /// Model updates pushed to every device per month.
    pub updates_per_month: f64,
    /// Egress price of the download, USD per GB.
    pub egress_usd_per_gb: f64,
    /// Bytes per weight in the shipped model (4: fp32; 1: int8).
    #[serde(default = "four_f64")]
    pub bytes_per_parameter: f64,
}
