//! `servesim calibrate` on a scenario of one batch job: fits the job's per-batch scoring time,
//! per-task overhead and start-up to real runs of the engine (one CSV of task attempts per run,
//! as `validation/spark/run.py` writes them) and predicts every run's makespan and failed
//! attempts with the job engine — the fitted runs and the held-out ones.
//!
//! The fit: successful attempts' durations against their batch count give the batch time and the
//! per-attempt overhead (least squares); each fitted run's makespan less the engine's makespan
//! with no start-up gives the start-up (their mean).

use super::parse_fit;
use crate::error::CliError;
use crate::{load, output};
use serde::Serialize;
use sim::scenario::jobs::InjectedFailure;
use sim::units::Duration;
use std::path::{Path, PathBuf};

/// One run of the real engine: its settings, makespan and task attempts.
struct Run {
    file: PathBuf,
    records: u64,
    partitions: u32,
    slots: u32,
    batch_records: u32,
    injected_failure: bool,
    makespan_s: f64,
    /// `(partition, succeeded, duration in seconds, launch in seconds from submission)` per attempt.
    attempts: Vec<(u32, bool, f64, f64)>,
}

impl Run {
    fn failed_attempts(&self) -> usize {
        self.attempts.iter().filter(|a| !a.1).count()
    }

    /// Batches of `partition` (Spark's `range` gives partition i the ids from i·N/P).
    fn batches(&self, partition: u32) -> u64 {
        let (n, p) = (u128::from(self.records), u128::from(self.partitions));
        let records = ((u128::from(partition) + 1) * n / p - u128::from(partition) * n / p) as u64;
        records.div_ceil(u64::from(self.batch_records))
    }
}

fn read_run(path: &Path) -> Result<Run, CliError> {
    let text = crate::input::read_to_string(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| CliError::input(format!("{}: {e}", path.display())))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            CliError::input(format!(
                "{}:1:1: a job run needs a {name} column (as validation/spark/run.py writes)",
                path.display()
            ))
        })
    };
    let names = [
        "records",
        "partitions",
        "slots",
        "batch_records",
        "injected_failure",
        "makespan_s",
        "partition",
        "status",
        "duration_s",
        "launch_s",
    ];
    let at: Vec<usize> = names.iter().map(|n| column(n)).collect::<Result<_, _>>()?;
    let mut run: Option<Run> = None;
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| CliError::input(format!("{}:{line}:1: {e}", path.display())))?;
        let number = |k: usize| -> Result<f64, CliError> {
            let cell = record.get(at[k]).unwrap_or("");
            cell.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                CliError::input(format!(
                    "{}:{line}:{}: {} {cell:?} is not a non-negative number",
                    path.display(),
                    at[k] + 1,
                    names[k]
                ))
            })
        };
        let whole = |k: usize, max: f64| -> Result<u64, CliError> {
            let value = number(k)?;
            if value.fract() != 0.0 || value > max || (value == 0.0 && k < 4) {
                return Err(CliError::input(format!(
                    "{}:{line}:{}: {} must be a whole number from {} to {max}",
                    path.display(),
                    at[k] + 1,
                    names[k],
                    u8::from(k < 4)
                )));
            }
            Ok(value as u64)
        };
        let settings = Run {
            file: path.to_path_buf(),
            records: whole(0, 1e12)?,
            partitions: whole(1, 1e6)? as u32,
            slots: whole(2, 1024.0)? as u32,
            batch_records: whole(3, 65536.0)? as u32,
            injected_failure: whole(4, 1.0)? == 1,
            makespan_s: number(5)?,
            attempts: Vec::new(),
        };
        let run = run.get_or_insert(settings);
        let partition = whole(6, 1e6)? as u32;
        if partition >= run.partitions {
            return Err(CliError::input(format!(
                "{}:{line}:{}: partition {partition} of {} partitions",
                path.display(),
                at[6] + 1,
                run.partitions
            )));
        }
        let status = record.get(at[7]).unwrap_or("");
        let succeeded = match status {
            "SUCCESS" => true,
            "FAILED" | "KILLED" => false,
            other => {
                return Err(CliError::input(format!(
                    "{}:{line}:{}: status {other:?} is not SUCCESS, FAILED or KILLED",
                    path.display(),
                    at[7] + 1
                )))
            }
        };
        run.attempts.push((partition, succeeded, number(8)?, number(9)?));
    }
    let run = run.ok_or_else(|| CliError::input(format!("{}: no task attempts", path.display())))?;
    if run.makespan_s <= 0.0 {
        return Err(CliError::input(format!("{}: the run's makespan must be positive", path.display())));
    }
    Ok(run)
}

/// What was fitted.
#[derive(Clone, Copy, Serialize)]
struct Fit {
    batch_ms: f64,
    task_overhead_ms: f64,
    startup_s: f64,
}

#[derive(Serialize)]
struct Row {
    run: usize,
    role: &'static str,
    file: String,
    records: u64,
    partitions: u32,
    injected_failure: bool,
    measured_makespan_s: f64,
    predicted_makespan_s: f64,
    error: f64,
    measured_failed_attempts: usize,
    predicted_failed_attempts: u64,
}

#[derive(Serialize)]
struct Report {
    scenario: String,
    runs: Vec<String>,
    fit_runs: Vec<usize>,
    fitted: Fit,
    /// Largest |relative error| of the makespan over the runs not fitted.
    holdout_max_abs_error: Option<f64>,
    /// Every run's failed attempts as the engine counted them equal the simulation's.
    retries_match: bool,
}

/// The scenario's job set to `run`'s settings and `fit`'s times: one worker with the run's slots,
/// constant batch time, no random failures, the run's injected failure.
fn scenario_for(base: &sim::scenario::Scenario, run: &Run, fit: Fit) -> sim::scenario::Scenario {
    let mut scenario = base.clone();
    let job = &mut scenario.jobs[0];
    job.records = run.records;
    job.partitions = run.partitions;
    job.batch_records = run.batch_records;
    job.replications = 1;
    job.service_time = sim::scenario::Dist::Constant { value: Duration::from_secs_f64(fit.batch_ms / 1e3) };
    job.task_overhead = Duration::from_secs_f64(fit.task_overhead_ms / 1e3);
    job.workers.count = 1;
    job.workers.slots = run.slots;
    job.workers.startup = Duration::from_secs_f64(fit.startup_s);
    job.workers.autoscaling = None;
    job.workers.spot_share = 0.0;
    job.workers.crashes_per_hour = 0.0;
    job.workers.stragglers = None;
    job.feature_store = None;
    job.sink = None;
    job.speculation = None;
    job.failures.probability = 0.0;
    job.failures.inject = if run.injected_failure {
        // The harness fails partition 0's first attempt when it has written half its batches.
        vec![InjectedFailure { task: 0, after_batches: run.batches(0) / 2 }]
    } else {
        Vec::new()
    };
    scenario
}

fn simulate(loaded: &load::Loaded, run: &Run, fit: Fit) -> Result<(f64, u64), CliError> {
    let scenario = scenario_for(&loaded.scenario, run, fit);
    let model = sim::build(&scenario, &loaded.inputs)
        .map_err(|e| CliError::input(format!("{}: {}: {e}", loaded.path.display(), run.file.display())))?;
    let outcome = sim::job::run(&model.jobs[0], scenario.seed);
    let makespan = outcome.makespan.map_or(f64::INFINITY, |m| m as f64 / 1e9);
    Ok((makespan, outcome.failed_attempts))
}

/// Least squares of successful attempts' durations on their batch counts: (batch s, overhead s).
/// Each slot's first attempt is left out: it also starts the slot's Python worker and loads the
/// model, which the start-up takes.
fn fit_times(runs: &[&Run]) -> Result<(f64, f64), CliError> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for run in runs {
        let mut launches: Vec<f64> = run.attempts.iter().map(|a| a.3).collect();
        launches.sort_by(f64::total_cmp);
        let first_wave = launches.get(run.slots as usize - 1).copied().unwrap_or(f64::INFINITY);
        points.extend(run.attempts.iter().filter(|a| a.1 && a.3 > first_wave).map(|a| (run.batches(a.0) as f64, a.2)));
    }
    let n = points.len() as f64;
    let (mean_x, mean_y) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
    let (covariance, variance) =
        points.iter().fold((0.0, 0.0), |(c, v), p| (c + (p.0 - mean_x) * (p.1 - mean_y), v + (p.0 - mean_x).powi(2)));
    if points.len() < 2 || variance == 0.0 {
        return Err(CliError::input(
            "calibrate needs fitted runs whose later tasks have different batch counts (different sizes or partition counts)"
                .to_string(),
        ));
    }
    let batch = (covariance / variance).max(1e-6);
    Ok((batch, (mean_y - batch * mean_x).max(0.0)))
}

pub fn calibrate(args: &super::CalibrateArgs, loaded: &load::Loaded) -> Result<(), CliError> {
    let mut runs = args.loadtests.iter().map(|p| read_run(p)).collect::<Result<Vec<_>, _>>()?;
    if runs.len() < 2 {
        return Err(CliError::input("calibrate needs at least two job runs".to_string()));
    }
    // In order of task size: the default fit is the smallest and the largest tasks run without an
    // injected failure, which pins the batch time and the per-task overhead apart.
    runs.sort_by(|a, b| {
        let key = |r: &Run| (r.records / u64::from(r.partitions), r.injected_failure, r.records, r.file.clone());
        key(a).cmp(&key(b))
    });
    let fit_runs = match args.fit.as_deref() {
        Some(_) => parse_fit(args.fit.as_deref(), runs.len())?,
        None => {
            let clean: Vec<usize> = (0..runs.len()).filter(|&k| !runs[k].injected_failure).collect();
            match (clean.first(), clean.last()) {
                (Some(&first), Some(&last)) if first != last => vec![first, last],
                _ => parse_fit(None, runs.len())?,
            }
        }
    };
    let fitted: Vec<&Run> = fit_runs.iter().map(|&k| &runs[k]).collect();
    let (batch_s, overhead_s) = fit_times(&fitted)?;
    let mut fit = Fit { batch_ms: batch_s * 1e3, task_overhead_ms: overhead_s * 1e3, startup_s: 0.0 };
    let mut startup = 0.0;
    for run in &fitted {
        startup += (run.makespan_s - simulate(loaded, run, fit)?.0).max(0.0) / fitted.len() as f64;
    }
    fit.startup_s = startup;
    let mut rows = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        let (predicted, failed) = simulate(loaded, run, fit)?;
        rows.push(Row {
            run: k + 1,
            role: if fit_runs.contains(&k) { "fit" } else { "holdout" },
            file: run.file.display().to_string(),
            records: run.records,
            partitions: run.partitions,
            injected_failure: run.injected_failure,
            measured_makespan_s: run.makespan_s,
            predicted_makespan_s: predicted,
            error: predicted / run.makespan_s - 1.0,
            measured_failed_attempts: run.failed_attempts(),
            predicted_failed_attempts: failed,
        });
    }
    let holdout: Vec<f64> = rows.iter().filter(|r| r.role == "holdout").map(|r| r.error.abs()).collect();
    let report = Report {
        scenario: args.scenario.display().to_string(),
        runs: runs.iter().map(|r| r.file.display().to_string()).collect(),
        fit_runs: fit_runs.iter().map(|k| k + 1).collect(),
        fitted: fit,
        holdout_max_abs_error: (!holdout.is_empty()).then(|| holdout.iter().copied().fold(0.0, f64::max)),
        retries_match: rows.iter().all(|r| r.measured_failed_attempts as u64 == r.predicted_failed_attempts),
    };
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-calibrate"));
    let _lock = output::lock_output(&out)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        writer.serialize(row).expect("writing to memory");
    }
    output::write_atomic(&out, "calibration.csv", &writer.into_inner().expect("memory"))?;
    output::write_atomic(&out, "calibration.json", &output::json_bytes(&report))?;
    if !args.quiet {
        println!(
            "fitted: {:.3} ms per batch, {:.1} ms per task attempt, {:.2} s start-up (runs {} fitted)",
            fit.batch_ms,
            fit.task_overhead_ms,
            fit.startup_s,
            report.fit_runs.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
        );
        println!(
            "{:>4} {:>8} {:>9} {:>5} {:>5} {:>10} {:>10} {:>7} {:>13}",
            "run", "role", "records", "parts", "fail", "measured s", "sim s", "error", "failed (sim)"
        );
        for r in &rows {
            println!(
                "{:>4} {:>8} {:>9} {:>5} {:>5} {:>10.2} {:>10.2} {:>+6.1}% {:>13}",
                r.run,
                r.role,
                r.records,
                r.partitions,
                r.injected_failure,
                r.measured_makespan_s,
                r.predicted_makespan_s,
                r.error * 100.0,
                format!("{} ({})", r.measured_failed_attempts, r.predicted_failed_attempts)
            );
        }
        println!("wrote {}/{{calibration.csv,calibration.json}}", out.display());
    }
    Ok(())
}
