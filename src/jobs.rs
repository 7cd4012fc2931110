//! Running a scenario's `[[jobs]]`: replications on the thread pool, `jobs_timeseries.csv`, the
//! printed table and the report's provenance lines.

use rayon::prelude::*;
use sim::job::{JobSeriesRow, JobSummary};
use sim::model::jobs::JobModel;

/// One job's results: its summary over replications and the first replication's time series.
pub struct JobResult {
    pub summary: JobSummary,
    pub series: Vec<JobSeriesRow>,
}

/// Every job of `model`, each over its own replications (seeded like online replications); a
/// progress line on a terminal when that takes more than a few seconds (not when `quiet`).
pub fn simulate(jobs: &[JobModel], seed: u64, pool: &rayon::ThreadPool, quiet: bool) -> Vec<JobResult> {
    let batches: u64 = jobs
        .iter()
        .map(|job| sim::model::jobs::job_batches(&job.task_records, job.batch_records) * u64::from(job.replications))
        .sum();
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    let progress = crate::progress::Progress::batches(batches, &format!("jobs {}", names.join(", ")), quiet);
    let counter = progress.counter();
    jobs.iter()
        .map(|job| {
            let runs: Vec<sim::job::JobRun> = pool.install(|| {
                (0..job.replications)
                    .into_par_iter()
                    .map(|i| sim::job::run_counted(job, sim::rng::replication_seed(seed, i), Some(&counter)))
                    .collect()
            });
            let summary = sim::job::summarize(job, &runs);
            let series = runs.into_iter().next().map(|r| r.series).unwrap_or_default();
            JobResult { summary, series }
        })
        .collect()
}

/// Fills each shared job's outcome: from the online run `with` (the first replication), against
/// the same run of the scenario without the job on the replicas.
pub fn shared_outcomes(
    loaded: &crate::load::Loaded,
    model: &sim::Model,
    seed: u64,
    with: &sim::RunOutput,
    summaries: &mut [JobSummary],
) -> Result<(), crate::error::CliError> {
    if with.shared_jobs.is_empty() {
        return Ok(());
    }
    let mut alone = loaded.scenario.clone();
    for job in &mut alone.jobs {
        job.shared = None;
    }
    let baseline_model =
        sim::build(&alone, &loaded.inputs).map_err(|e| crate::error::CliError::input(e.to_string()))?;
    let without = sim::run(&baseline_model, &sim::RunOptions::seeded(seed)).summary;
    for run in &with.shared_jobs {
        let job = &model.jobs[run.job];
        let region = job.shared.map(|s| model.regions[s.region].name.clone()).unwrap_or_default();
        let summary = &mut summaries[run.job];
        summary.shared = Some(sim::job::summary::SharedOutcome {
            region,
            started_s: run.started as f64 / 1e9,
            makespan_s: run.finished.map(|f| (f - run.started) as f64 / 1e9),
            records_scored: run.records_scored,
            batches_lost: run.batches_lost,
            instance_hours: run.busy_nanos / 3.6e12,
            online_p99_ms_with: with.summary.overall.latency_ms.p99,
            online_p99_ms_without: without.overall.latency_ms.p99,
            slo_met_with: with.summary.slo.as_ref().map(|s| s.met),
            slo_met_without: without.slo.as_ref().map(|s| s.met),
            saves_usd_per_run: summary.cost.usd_per_run,
        });
    }
    Ok(())
}

/// `jobs_timeseries.csv`: one row per job and interval of its first replication: the job's name,
/// then [`JobSeriesRow`]'s fields in order.
pub fn series_csv(results: &[(String, Vec<JobSeriesRow>)]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    writer
        .write_record([
            "job",
            "time_s",
            "records_written",
            "records_per_s",
            "workers_up",
            "workers_starting",
            "tasks_running",
            "tasks_done",
            "tasks_waiting",
            "failed_attempts",
            "preemptions",
            "crashes",
        ])
        .expect("writing to memory");
    for (name, rows) in results {
        let name = crate::output::csv_text(name);
        for row in rows {
            writer.serialize((name.as_ref(), row)).expect("a series row serialises");
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// Reads `jobs_timeseries.csv` back (for `servesim report`).
pub fn read_series_csv(bytes: &[u8]) -> Result<Vec<(String, Vec<JobSeriesRow>)>, csv::Error> {
    let mut out: Vec<(String, Vec<JobSeriesRow>)> = Vec::new();
    let mut reader = csv::Reader::from_reader(bytes);
    for record in reader.records() {
        let (job, row): (String, JobSeriesRow) = record?.deserialize(None)?;
        let job = crate::output::csv_text_read(job);
        match out.last_mut() {
            Some((name, rows)) if *name == job => rows.push(row),
            _ => out.push((job, vec![row])),
        }
    }
    Ok(out)
}

fn hours(seconds: f64) -> String {
    format!("{:.2} h", seconds / 3600.0)
}

/// The jobs' lines of the printed summary.
pub fn print(summaries: &[JobSummary]) {
    for s in summaries {
        let makespan = match &s.makespan_s {
            Some(m) => format!(
                "makespan p50 {} · p99 {} (finished {} at p50, {} at p99)",
                hours(m.p50),
                hours(m.p99),
                s.finish_clock_p50.as_deref().unwrap_or("-"),
                s.finish_clock_p99.as_deref().unwrap_or("-")
            ),
            None => "no run finished".to_string(),
        };
        println!("job {} · starts {} · {} replications · {makespan}", s.name, s.start, s.replications);
        if let Some(d) = &s.deadline {
            println!(
                "  deadline {}: met in {} of {} runs, P = {:.3} (95% CI {:.3}–{:.3}), target {} — {}",
                d.at,
                d.met,
                d.of,
                d.probability,
                d.interval_95[0],
                d.interval_95[1],
                d.target_probability,
                if d.meets_target { "met" } else { "NOT met" }
            );
        }
        println!(
            "  cost {:.2} USD per run ({:.2} all on-demand), {:.3} USD per million records · bottleneck: {}",
            s.cost.usd_per_run, s.cost.usd_per_run_all_on_demand, s.cost.usd_per_million_records, s.bottleneck
        );
        println!(
            "  records: {} offered, {} written at least, {} unwritten at most (aborted nights), {} lost by finished nights, {:.0} duplicates discarded per run · per run: {:.1} failed attempts, {:.2} preemptions, {:.2} crashes",
            s.records.offered,
            s.records.written_min,
            s.records.unwritten_max,
            s.records.lost,
            s.records.duplicates_discarded,
            s.attempts.failed,
            s.attempts.preemptions,
            s.attempts.crashes
        );
        if let Some(shared) = &s.shared {
            println!(
                "  on {}'s idle replicas: {} records in {}; online p99 {} ms without the job, {} ms with it; saves {:.2} USD per run",
                shared.region,
                shared.records_scored,
                shared.makespan_s.map_or("(unfinished when the run ended)".to_string(), |m| format!("{m:.1} s")),
                shared.online_p99_ms_without.map_or("-".into(), |v| format!("{v:.2}")),
                shared.online_p99_ms_with.map_or("-".into(), |v| format!("{v:.2}")),
                shared.saves_usd_per_run
            );
        }
        if s.runs.failed + s.runs.unfinished > 0 {
            println!(
                "  {} runs aborted (a task used up its attempts), {} unfinished after a week",
                s.runs.failed, s.runs.unfinished
            );
        }
    }
}

/// Provenance lines for the report.
pub fn provenance(jobs: &[JobModel]) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for job in jobs {
        lines.push((format!("scoring time, job {}", job.name), job.latency.source()));
        let w = &job.workers;
        let price = match (&w.instance, &w.price_source) {
            (Some(instance), Some(source)) => format!(
                "{instance}: {} USD/h on demand, {} USD/h spot ({source})",
                w.on_demand_usd_per_hour, w.spot_usd_per_hour
            ),
            (Some(instance), None) => format!(
                "{instance}: {} USD/h on demand, {} USD/h spot (no source given)",
                w.on_demand_usd_per_hour, w.spot_usd_per_hour
            ),
            (None, _) => "no instance type given: cost not counted".to_string(),
        };
        lines.push((format!("workers, job {}", job.name), price));
        lines.push((
            format!("replications, job {}", job.name),
            format!("{} simulated nights; P(deadline) with a Wilson 95% interval", job.replications),
        ));
    }
    lines
}
