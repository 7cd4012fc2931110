//! What a job's replications say together: the `jobs` section of `summary.json`.

use super::JobRun;
use crate::model::jobs::{format_clock, JobModel};
use serde::{Deserialize, Serialize};

/// Normal quantile for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobSummary {
    pub name: String,
    /// Daily start, `HH:MM`.
    pub start: String,
    pub replications: u32,
    pub runs: RunCounts,
    /// Over finished runs; null when none finished.
    pub makespan_s: Option<MakespanStats>,
    /// When the output is complete, as clock times (median and 99th percentile of finished runs).
    pub finish_clock_p50: Option<String>,
    pub finish_clock_p99: Option<String>,
    pub deadline: Option<DeadlineStats>,
    pub cost: JobCost,
    pub records: RecordCounts,
    /// Means per run.
    pub attempts: AttemptStats,
    /// Where task time goes: shares of read, score, write and commit (the largest is the bottleneck).
    pub stage_share: StageShare,
    pub bottleneck: String,
    /// Records written per second over the whole run (records ÷ makespan), mean over finished runs.
    pub throughput_records_per_s: Option<f64>,
    pub peak_workers: u32,
    /// Where the worker price comes from.
    pub price_source: Option<String>,
    /// The same job on the online replicas' idle time (`shared`), from the first online run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedOutcome>,
}

/// A job on shared capacity: how long it took there, what it did to the online traffic, and the
/// dedicated pool it replaces.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SharedOutcome {
    pub region: String,
    /// From the start of the online run.
    pub started_s: f64,
    /// From the job's start to its last record; null when the online run ended first.
    pub makespan_s: Option<f64>,
    pub records_scored: u64,
    pub batches_lost: u64,
    /// Model-instance hours the job used.
    pub instance_hours: f64,
    /// The online p99 with the job and without it (the same run, seed and traffic).
    pub online_p99_ms_with: Option<f64>,
    pub online_p99_ms_without: Option<f64>,
    pub slo_met_with: Option<bool>,
    pub slo_met_without: Option<bool>,
    /// What the job's own worker pool costs per run: what sharing saves.
    pub saves_usd_per_run: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunCounts {
    pub finished: u32,
    /// Aborted: a task used up its attempts.
    pub failed: u32,
    /// Still running a week after the start.
    pub unfinished: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MakespanStats {
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeadlineStats {
    /// `HH:MM` (`+1d` the next day).
    pub at: String,
    /// Seconds after the start.
    pub after_start_s: f64,
    pub target_probability: f64,
    pub met: u32,
    pub of: u32,
    /// met ÷ of.
    pub probability: f64,
    /// Wilson score interval, 95%.
    pub interval_95: [f64; 2],
    /// The estimate reaches the target.
    pub meets_target: bool,
    /// Seconds between the 99th-percentile finish and the deadline (negative: late).
    pub margin_p99_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JobCost {
    /// Mean per run, USD, as the pool was run (spot where spot).
    pub usd_per_run: f64,
    /// The 99th percentile over runs.
    pub usd_per_run_p99: f64,
    /// The same worker-hours at the on-demand price.
    pub usd_per_run_all_on_demand: f64,
    pub usd_per_million_records: f64,
    pub on_demand_worker_hours: f64,
    pub spot_worker_hours: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecordCounts {
    pub offered: u64,
    /// Distinct records in the output, fewest over every night (aborted and unfinished ones
    /// included).
    pub written_min: u64,
    /// Records a night left unwritten (an aborted or unfinished night's), most and mean over the
    /// nights.
    pub unwritten_max: u64,
    pub unwritten_mean: f64,
    /// Records missing from the output of a night that finished: 0 unless the job's accounting
    /// lost records (a finished night must have written every one).
    pub lost: u64,
    /// Every night's written and unwritten records, counted apart, add up to the offered ones,
    /// and every finished night wrote them all.
    pub exactly_once: bool,
    /// Mean per run.
    pub duplicates_discarded: f64,
    pub redone: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttemptStats {
    pub attempts: f64,
    pub failed: f64,
    pub lost_to_preemption_or_crash: f64,
    pub speculative_copies: f64,
    pub speculative_wins: f64,
    pub preemptions: f64,
    pub crashes: f64,
    pub read_errors: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageShare {
    pub read: f64,
    pub score: f64,
    pub write: f64,
    pub commit: f64,
}

/// The Wilson score interval for `k` successes in `n` trials.
pub fn wilson_interval(k: u32, n: u32, z: f64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let n = f64::from(n);
    let p = f64::from(k) / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    // At the ends the bound is exact (rounding would leave 1 − 1e-16).
    let low = if k == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if f64::from(k) == n { 1.0 } else { (centre + half).min(1.0) };
    [low, high]
}

/// Nearest-rank percentile of sorted values.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The job's replications (in replication order) summarized.
pub fn summarize(model: &JobModel, runs: &[JobRun]) -> JobSummary {
    let n = runs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&JobRun) -> f64| runs.iter().map(f).sum::<f64>() / n;
    let finished: Vec<&JobRun> = runs.iter().filter(|r| r.finished).collect();
    let mut makespans: Vec<f64> = finished.iter().filter_map(|r| r.makespan).map(|m| m as f64 / 1e9).collect();
    makespans.sort_by(f64::total_cmp);
    let makespan_s = (!makespans.is_empty()).then(|| MakespanStats {
        mean: makespans.iter().sum::<f64>() / makespans.len() as f64,
        min: makespans[0],
        p50: nearest_rank(&makespans, 50.0),
        p90: nearest_rank(&makespans, 90.0),
        p99: nearest_rank(&makespans, 99.0),
        max: makespans[makespans.len() - 1],
    });
    let clock = |seconds: f64| format_clock(model.start_clock_s + seconds.ceil() as u64);
    let deadline = model.deadline.map(|d| {
        let met = runs.iter().filter(|r| r.met_deadline == Some(true)).count() as u32;
        let of = runs.len() as u32;
        let probability = f64::from(met) / f64::from(of.max(1));
        let after_start_s = d.after_start as f64 / 1e9;
        DeadlineStats {
            at: format_clock(d.clock),
            after_start_s,
            target_probability: d.probability,
            met,
            of,
            probability,
            interval_95: wilson_interval(met, of, Z95),
            meets_target: probability >= d.probability,
            margin_p99_s: makespan_s.as_ref().filter(|_| finished.len() == runs.len()).map(|m| after_start_s - m.p99),
        }
    });
    let mut costs: Vec<f64> = runs.iter().map(|r| r.cost_usd).collect();
    costs.sort_by(f64::total_cmp);
    let usd_per_run = mean(&|r| r.cost_usd);
    let price = model.workers.on_demand_usd_per_hour;
    let stage_total = mean(&|r| r.read_s + r.score_s + r.write_s + r.commit_s).max(f64::MIN_POSITIVE);
    let stage_share = StageShare {
        read: mean(&|r| r.read_s) / stage_total,
        score: mean(&|r| r.score_s) / stage_total,
        write: mean(&|r| r.write_s) / stage_total,
        commit: mean(&|r| r.commit_s) / stage_total,
    };
    let stages = [
        ("feature store reads", stage_share.read),
        ("scoring", stage_share.score),
        ("sink writes", stage_share.write),
        ("commits", stage_share.commit),
    ];
    let bottleneck = stages.iter().fold(stages[0], |best, s| if s.1 > best.1 { *s } else { best }).0.to_string();
    let written_min = runs.iter().map(|r| r.records_written).min().unwrap_or(0);
    let lost = finished.iter().map(|r| r.records_unwritten).max().unwrap_or(0);
    let conserved = |r: &JobRun| r.records_written.checked_add(r.records_unwritten) == Some(model.records);
    JobSummary {
        name: model.name.clone(),
        start: format_clock(model.start_clock_s),
        replications: runs.len() as u32,
        runs: RunCounts {
            finished: finished.len() as u32,
            failed: runs.iter().filter(|r| r.failed).count() as u32,
            unfinished: runs.iter().filter(|r| !r.finished && !r.failed).count() as u32,
        },
        finish_clock_p50: makespan_s.as_ref().map(|m| clock(m.p50)),
        finish_clock_p99: makespan_s.as_ref().map(|m| clock(m.p99)),
        makespan_s,
        deadline,
        cost: JobCost {
            usd_per_run,
            usd_per_run_p99: if costs.is_empty() { 0.0 } else { nearest_rank(&costs, 99.0) },
            usd_per_run_all_on_demand: mean(&|r| (r.on_demand_worker_hours + r.spot_worker_hours) * price),
            usd_per_million_records: usd_per_run / model.records as f64 * 1e6,
            on_demand_worker_hours: mean(&|r| r.on_demand_worker_hours),
            spot_worker_hours: mean(&|r| r.spot_worker_hours),
        },
        records: RecordCounts {
            offered: model.records,
            written_min,
            unwritten_max: runs.iter().map(|r| r.records_unwritten).max().unwrap_or(0),
            unwritten_mean: mean(&|r| r.records_unwritten as f64),
            lost,
            exactly_once: runs.iter().all(conserved) && lost == 0,
            duplicates_discarded: mean(&|r| r.duplicates_discarded as f64),
            redone: mean(&|r| r.records_redone as f64),
        },
        attempts: AttemptStats {
            attempts: mean(&|r| r.attempts as f64),
            failed: mean(&|r| r.failed_attempts as f64),
            lost_to_preemption_or_crash: mean(&|r| r.lost_attempts as f64),
            speculative_copies: mean(&|r| r.speculative_copies as f64),
            speculative_wins: mean(&|r| r.speculative_wins as f64),
            preemptions: mean(&|r| r.preemptions as f64),
            crashes: mean(&|r| r.crashes as f64),
            read_errors: mean(&|r| r.read_errors as f64),
        },
        stage_share,
        bottleneck,
        throughput_records_per_s: (!finished.is_empty()).then(|| {
            finished.iter().filter_map(|r| r.makespan).map(|m| model.records as f64 / (m as f64 / 1e9)).sum::<f64>()
                / finished.len() as f64
        }),
        peak_workers: runs.iter().map(|r| r.peak_workers).max().unwrap_or(0),
        price_source: model.workers.price_source.clone(),
        shared: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_hand_values() {
        // 95 of 100: centre (0.95 + 3.8415/200) / 1.038415 = 0.93335, half 0.04511.
        let [low, high] = wilson_interval(95, 100, Z95);
        assert!((low - 0.8882).abs() < 5e-4 && (high - 0.9785).abs() < 5e-4, "{low} {high}");
        let [low, high] = wilson_interval(0, 10, Z95);
        assert_eq!(low, 0.0);
        assert!((high - 0.2775).abs() < 5e-4, "{high}");
    }
}
