//! Batch-scoring jobs: one run ([`engine::run`]) and what many runs say together
//! ([`summary::summarize`]): the makespan distribution, P(deadline met), cost, exactly-once
//! accounting. Jobs run apart from the online world: their events are batches, not requests.

pub mod engine;
pub mod summary;

pub use engine::{run, run_counted};
pub use summary::{summarize, JobSummary};

use crate::units::Nanos;
use serde::{Deserialize, Serialize};

/// One run of a job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobRun {
    /// Every task committed.
    pub finished: bool,
    /// A task used up its attempts (the job is aborted, as Spark and a Job's backoff limit do).
    pub failed: bool,
    /// From the start to the last commit.
    pub makespan: Option<Nanos>,
    /// When the run stopped: the last commit, the abort, or the one-week horizon.
    pub ended: Nanos,
    pub met_deadline: Option<bool>,
    pub records_offered: u64,
    /// Distinct records in the output.
    pub records_written: u64,
    /// Rewrites of records already in the output (after lost attempts, by speculative copies),
    /// discarded by the idempotent write.
    pub duplicates_discarded: u64,
    /// Records never written (a failed or unfinished run), counted from the tasks when the run
    /// ends: offered = written + unwritten holds only if both counts are right.
    pub records_unwritten: u64,
    /// Records scored by attempts that were then lost or failed, past the checkpoint the task
    /// resumes from: the work done twice.
    pub records_redone: u64,
    pub attempts: u64,
    pub failed_attempts: u64,
    /// Attempts ended by a preemption or crash of their worker.
    pub lost_attempts: u64,
    pub speculative_copies: u64,
    pub speculative_wins: u64,
    pub preemptions: u64,
    pub crashes: u64,
    pub read_errors: u64,
    pub peak_workers: u32,
    pub on_demand_worker_hours: f64,
    pub spot_worker_hours: f64,
    pub cost_usd: f64,
    /// Task-seconds spent in each stage of a batch, and committing.
    pub read_s: f64,
    pub score_s: f64,
    pub write_s: f64,
    pub commit_s: f64,
    pub series: Vec<JobSeriesRow>,
}

/// The job's state at one moment (`jobs_timeseries.csv`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobSeriesRow {
    pub time_s: f64,
    pub records_written: u64,
    /// Distinct records written per second since the previous row.
    pub records_per_s: f64,
    pub workers_up: u32,
    pub workers_starting: u32,
    pub tasks_running: u32,
    pub tasks_done: u32,
    pub tasks_waiting: u32,
    pub failed_attempts: u64,
    pub preemptions: u64,
    pub crashes: u64,
}
