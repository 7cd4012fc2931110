//! `servesim run`, `validate` and `report`: one scenario's replications on a thread pool, every run
//! file and the report written into the output folder.

use crate::error::CliError;
use crate::{load, locate, output};
use rayon::prelude::*;
use serde::Serialize;
use sim::rng::replication_seed;
use sim::{RunOptions, RunOutput};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Serialize)]
struct RunInfo {
    servesim_version: &'static str,
    scenario: String,
    replications: u32,
    threads: usize,
    wall_seconds: f64,
    events: u64,
    events_per_second: f64,
    peak_memory_bytes: Option<u64>,
}

/// The most worker threads a command takes: far beyond any host's cores, and short of what makes
/// the system refuse to spawn more (`--threads 100000000` would).
pub const MAX_THREADS: i64 = 1024;

/// A rayon pool of `threads` workers (default: all cores).
pub fn thread_pool(threads: Option<u32>) -> Result<(usize, rayon::ThreadPool), CliError> {
    let threads = threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |t| t as usize);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CliError::input(format!("cannot start {threads} threads: {e}")))?;
    Ok((threads, pool))
}

/// The default output folder of a command on `scenario`: `servesim-out/<file stem><suffix>`
/// (suffix `""` for run, `"-sweep"`, `"-plan"`).
pub fn default_out(scenario: &Path, suffix: &str) -> PathBuf {
    let stem = scenario.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from("servesim-out").join(format!("{stem}{suffix}"))
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Seed for the random streams (default: the scenario's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Output folder (default: servesim-out/<scenario file name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Independent runs with derived seeds (1–10000); summary.json then gives each metric's mean
    /// and 95% CI, and each percentile pooled over all runs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    replications: u32,
    /// Worker threads for replications (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::run::MAX_THREADS))]
    threads: Option<u32>,
    /// Price file replacing the bundled catalog (same columns as catalog/instances.csv).
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Skip the uncertainty band (the extra runs with estimated inputs at the ends of their bands).
    #[arg(long)]
    no_uncertainty: bool,
    /// Skip the latency breakdown by stage (summary.json's `breakdown`; a few percent of speed).
    #[arg(long)]
    no_breakdown: bool,
    /// Write traces.otlp.json: this share (0–1) of requests, plus every failed, retried or
    /// degraded one, as OpenTelemetry traces (first replication, at most 10 000 requests).
    #[arg(long, value_name = "RATE", value_parser = parse_share)]
    trace_sample: Option<f64>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{text:?} is not a share between 0 and 1 (0.01 traces 1% of requests)")),
    }
}

pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let loaded = load::load(&args.scenario, args.prices.as_deref())?;
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.scenario, ""));
    let model = loaded.build()?;
    loaded.warn();
    let mut set = output::OutputSet::begin(&out)?;
    let options = Simulation {
        seed: args.seed,
        out: &mut set,
        replications: args.replications,
        threads: args.threads,
        plan: None,
        uncertainty: !args.no_uncertainty,
        breakdown: !args.no_breakdown,
        trace_sample: args.trace_sample,
        quiet: args.quiet,
    };
    simulate(&loaded, &model, options)?;
    set.finish()
}

/// How [`simulate`] runs and what it writes.
pub struct Simulation<'a> {
    /// Default: the scenario's.
    pub seed: Option<u64>,
    /// The folder's files are written through it; the caller finishes the set.
    pub out: &'a mut output::OutputSet,
    pub replications: u32,
    pub threads: Option<u32>,
    /// For `servesim plan`: the search that chose the scenario.
    pub plan: Option<reports::PlanSection>,
    /// Run the scenario again with its estimated inputs at the ends of their bands.
    pub uncertainty: bool,
    /// Split answers' latency by stage (`RunOptions::breakdown`).
    pub breakdown: bool,
    /// Trace this share of the first replication's requests (`RunOptions::trace_sample`).
    pub trace_sample: Option<f64>,
    pub quiet: bool,
}

/// Runs a loaded scenario's replications and writes every run output and the report into `out`.
/// Returns the first replication's summary.
pub fn simulate(
    loaded: &load::Loaded,
    model: &sim::Model,
    options: Simulation,
) -> Result<sim::summary::Summary, CliError> {
    let Simulation { seed, out, replications, threads, plan, uncertainty, breakdown, trace_sample, quiet } = options;
    let seed = seed.unwrap_or(model.seed);
    let (threads, pool) = thread_pool(threads)?;

    let started = Instant::now();
    let progress = crate::progress::Progress::start(u64::from(replications) * model.duration, &model.name, quiet);
    // Replications run a few at a time, in index order, so memory stays that of a few runs
    // however many there are; the pooled histograms are merged in that order.
    let mut first: Option<RunOutput> = None;
    let mut summaries = Vec::new();
    let mut pooled: Option<sim::summary::Distributions> = None;
    let mut sketches = Vec::new();
    let mut events = 0;
    let batch = (threads * 2).max(1) as u32;
    for start in (0..replications).step_by(batch as usize) {
        let end = start.saturating_add(batch).min(replications);
        let outputs: Vec<RunOutput> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|i| {
                    let options = RunOptions {
                        progress: Some(progress.counter()),
                        breakdown,
                        trace_sample: trace_sample.filter(|_| i == 0),
                        ..RunOptions::seeded(replication_seed(seed, i))
                    };
                    sim::run(model, &options)
                })
                .collect()
        });
        for (k, output) in outputs.into_iter().enumerate() {
            // Any replication whose window no request reached measured nothing: its zeros would
            // be averaged into the others' as if they were results.
            if let Some(reason) = output.summary.unmeasured(model) {
                let which =
                    if replications > 1 { format!(" (replication {})", start as usize + k) } else { String::new() };
                return Err(CliError::input(format!("{}{which}: {reason}", loaded.path.display())));
            }
            events += output.events;
            summaries.push(output.summary.clone());
            if replications > 1 {
                sketches.push(output.distributions.sketch());
            }
            match &mut pooled {
                None => pooled = Some(output.distributions.clone()),
                Some(all) => all.merge(&output.distributions),
            }
            if first.is_none() {
                first = Some(output);
            }
        }
    }
    drop(progress);
    let mut first = first.expect("at least one replication");
    let pooled = pooled.expect("at least one replication");
    let mut pooled_summary = first.summary.clone();
    pooled.apply(model, &mut pooled_summary);
    let jobs = crate::jobs::simulate(&model.jobs, seed, &pool, quiet);
    let mut job_summaries: Vec<sim::job::JobSummary> = jobs.iter().map(|j| j.summary.clone()).collect();
    crate::jobs::shared_outcomes(loaded, model, seed, &first, &mut job_summaries)?;
    first.summary.jobs = job_summaries;
    let job_series: Vec<(String, Vec<sim::job::JobSeriesRow>)> =
        jobs.into_iter().map(|j| (j.summary.name, j.series)).collect();
    let wall_seconds = started.elapsed().as_secs_f64();

    let summary_bytes = if replications == 1 {
        output::json_bytes(&first.summary)
    } else {
        let replications = sim::replicated::Replications {
            summaries: &summaries,
            pooled: &pooled_summary,
            distributions: &pooled,
            sketches: &sketches,
        };
        let replicated = sim::replicated::ReplicatedSummary::new(&replications, first.summary.jobs.clone());
        // Through a JSON value, whose keys are sorted: the file's layout since the first release.
        output::json_bytes(&serde_json::to_value(&replicated).expect("a summary is JSON"))
    };
    out.write("summary.json", &summary_bytes)?;
    out.write("timeseries.csv", &output::timeseries_csv(&first.timeseries))?;
    out.write("latency_cdf.csv", &output::latency_cdf_csv(&first.latency_cdf))?;
    if !first.token_cdf.is_empty() {
        out.write("token_cdf.csv", &output::token_cdf_csv(&first.token_cdf))?;
    }
    if model.monitoring.is_on() {
        out.write("slo_scrapes.csv", &output::slo_scrapes_csv(model, &first.scrapes))?;
    }
    if trace_sample.is_some() {
        let endpoints: Vec<String> = (0..model.endpoint_count()).map(|e| model.endpoint_key(e).to_string()).collect();
        let pipelines: Vec<bool> = (0..model.endpoint_count()).map(|e| model.pipeline(e).is_some()).collect();
        let regions: Vec<String> = model.regions.iter().map(|r| r.name.clone()).collect();
        let text = reports::otlp::render(&reports::otlp::TraceInput {
            scenario: &model.name,
            seed: replication_seed(seed, 0),
            endpoints: &endpoints,
            pipelines: &pipelines,
            regions: &regions,
            traces: &first.traces,
        });
        out.write("traces.otlp.json", text.as_bytes())?;
        if first.traces_left_out > 0 && !quiet {
            eprintln!(
                "traces.otlp.json: {} requests traced; {} more qualified after the cap of {}",
                first.traces.len(),
                first.traces_left_out,
                sim::world::MAX_TRACED
            );
        }
    }
    if !job_series.is_empty() {
        out.write("jobs_timeseries.csv", &crate::jobs::series_csv(&job_series))?;
    }
    let uncertainty = if uncertainty && model.has_online() {
        Some(crate::uncertainty::analyse(&loaded.scenario, &loaded.inputs, seed, &first.summary, &pool)?)
    } else {
        None
    };
    let data = reports::ReportData {
        description: loaded.scenario.description.clone(),
        summary: first.summary.clone(),
        provenance: provenance(model, seed, replications),
        plan,
        uncertainty,
    };
    out.write("report.json", &output::json_bytes(&data))?;
    let report = reports::render_run(&reports::RunReport {
        data: &data,
        timeseries: &first.timeseries,
        latency_cdf: &first.latency_cdf,
        token_cdf: &first.token_cdf,
        job_series: &job_series,
    });
    out.write("report.html", report.as_bytes())?;
    let info = RunInfo {
        servesim_version: env!("CARGO_PKG_VERSION"),
        scenario: model.name.clone(),
        replications,
        threads,
        wall_seconds,
        events,
        events_per_second: events as f64 / wall_seconds.max(1e-9),
        peak_memory_bytes: output::peak_memory_bytes(),
    };
    out.write("run.json", &output::json_bytes(&info))?;

    if !quiet && !model.has_online() {
        println!("{} · seed {} · {:.2} s", model.name, seed, wall_seconds);
        crate::jobs::print(&first.summary.jobs);
        println!("wrote {}/{{summary.json,run.json,jobs_timeseries.csv,report.json,report.html}}", out.dir().display());
    } else if !quiet {
        println!(
            "{} · seed {} · {} s simulated ({} s warm-up) · {} events in {:.2} s ({:.1} M events/s)",
            model.name,
            seed,
            first.summary.duration_s,
            first.summary.warmup_s,
            events,
            wall_seconds,
            info.events_per_second / 1e6
        );
        for line in replayed_traces(model) {
            println!("{line}");
        }
        output::print_table(&first.summary);
        if let Some(band) = &data.uncertainty {
            println!("{}", band.headline);
        }
        let interval = pooled.latency_interval(&sketches, sim::summary::SectionRef::Overall, 0.99, 0.95);
        if let (Some(p99), Some((low, high))) = (pooled_summary.overall.latency_ms.p99, interval) {
            println!(
                "{replications} replications pooled: p99 {p99:.2} ms (95% CI {low:.2}–{high:.2}); the table shows the first"
            );
        }
        crate::jobs::print(&first.summary.jobs);
        let jobs_file = if job_series.is_empty() { "" } else { "jobs_timeseries.csv," };
        println!(
            "wrote {}/{{summary.json,run.json,timeseries.csv,latency_cdf.csv,{jobs_file}report.json,report.html}}",
            out.dir().display()
        );
    }
    Ok(first.summary.clone())
}

/// `servesim report DIR`: renders report.html again from the files a run or plan saved.
pub fn report(dir: &Path) -> Result<(), CliError> {
    let mut set = output::OutputSet::amend(dir, &["report.html"])?;
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| CliError::input(format!("{}: cannot read: {e}", dir.join(name).display())))
    };
    let data: reports::ReportData = serde_json::from_slice(&read("report.json")?)
        .map_err(|e| CliError::input(format!("{}: {e}", dir.join("report.json").display())))?;
    let csv_error = |name: &str, e: csv::Error| locate::csv_error(&dir.join(name), &e);
    let mut timeseries: Vec<sim::metrics::TimeseriesRow> = csv::Reader::from_reader(read("timeseries.csv")?.as_slice())
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(|e| csv_error("timeseries.csv", e))?;
    for row in &mut timeseries {
        row.region = output::csv_text_read(std::mem::take(&mut row.region));
    }
    let mut latency_cdf: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in csv::Reader::from_reader(read("latency_cdf.csv")?.as_slice()).deserialize::<(String, f64, f64)>() {
        let (region, ms, fraction) = row.map_err(|e| csv_error("latency_cdf.csv", e))?;
        let region = output::csv_text_read(region);
        match latency_cdf.last_mut() {
            Some((name, points)) if *name == region => points.push((ms, fraction)),
            _ => latency_cdf.push((region, vec![(ms, fraction)])),
        }
    }
    let has_llm = data.summary.regions.values().any(|r| r.stats.llm.is_some());
    let token_cdf = if has_llm {
        output::read_token_cdf_csv(&read("token_cdf.csv")?).map_err(|e| csv_error("token_cdf.csv", e))?
    } else {
        Vec::new()
    };
    let job_series = if data.summary.jobs.is_empty() {
        Vec::new()
    } else {
        crate::jobs::read_series_csv(&read("jobs_timeseries.csv")?).map_err(|e| csv_error("jobs_timeseries.csv", e))?
    };
    let html = reports::render_run(&reports::RunReport {
        data: &data,
        timeseries: &timeseries,
        latency_cdf: &latency_cdf,
        token_cdf: &token_cdf,
        job_series: &job_series,
    });
    set.write("report.html", html.as_bytes())?;
    set.finish()?;
    println!("wrote {}/report.html", dir.display());
    Ok(())
}

/// Where the report's numbers come from.
fn provenance(model: &sim::Model, seed: u64, replications: u32) -> Vec<(String, String)> {
    let mut lines = vec![("simulator".to_string(), format!("servesim {}, seed {seed}", env!("CARGO_PKG_VERSION")))];
    if !model.has_online() {
        lines.extend(crate::jobs::provenance(&model.jobs));
        return lines;
    }
    lines.extend([(
        "simulated time".to_string(),
        format!(
            "{} s of traffic after a {} s warm-up",
            (model.duration - model.warmup) as f64 / 1e9,
            model.warmup as f64 / 1e9
        ),
    )]);
    if replications > 1 {
        lines.push((
            "replications".into(),
            format!("{replications}: the report shows the first; summary.json gives means and 95% intervals"),
        ));
    }
    for region in &model.regions {
        if let Some(serving) = &region.primary.serving {
            lines.push((format!("service time, {}", region.name), serving.service.source()));
        }
        if region.primary.replicas > 0 {
            let price = match (&region.primary.instance, &region.primary.price_source) {
                (Some(instance), Some(source)) => {
                    format!("{instance}: {} USD/h ({source})", region.primary.usd_per_hour)
                }
                (Some(instance), None) => {
                    format!("{instance}: {} USD/h (no source given)", region.primary.usd_per_hour)
                }
                (None, _) => "no instance type given: cost not counted".to_string(),
            };
            lines.push((format!("price, {}", region.name), price));
        }
    }
    lines.extend(crate::jobs::provenance(&model.jobs));
    lines
}

/// How many of each replayed trace's requests fall inside the run, one line per trace.
fn replayed_traces(model: &sim::Model) -> Vec<String> {
    model
        .sources
        .iter()
        .enumerate()
        .filter_map(|(i, source)| match &source.process {
            sim::traffic::Process::Trace(trace) => {
                let inside = trace.offsets.partition_point(|&o| o < model.duration);
                let total = trace.offsets.len();
                let cut = if inside < total { " (truncated at duration)" } else { "" };
                Some(format!("traffic[{i}]: replayed {inside} of the trace's {total} requests{cut}"))
            }
            _ => None,
        })
        .collect()
}

pub fn validate(scenario_path: &Path, prices: Option<&Path>) -> Result<(), CliError> {
    let loaded = load::load(scenario_path, prices)?;
    let model = loaded.build()?;
    crate::compare::check(&loaded, &model)?;
    // What sweep and plan would refuse before running anything is refused here too: "ok" means
    // every command takes the file.
    let swept = if loaded.scenario.sweep.is_some() || loaded.scenario.plan.is_some() {
        crate::plan::deploy_names_distinct(&model)?;
        crate::plan::check_risks(&loaded)?;
        let points = crate::sweep::check_sweep(scenario_path, prices.map(Path::to_path_buf))?;
        format!(", a sweep of {points} points")
    } else {
        loaded.warn();
        String::new()
    };
    let swept = match &loaded.scenario.fleet {
        Some(fleet) => {
            crate::fleet::check(&loaded)?;
            format!("{swept}, a fleet plan over {} instance types", fleet.instances.len())
        }
        None => swept,
    };
    let replicas: u32 = model.regions.iter().map(|r| r.primary.replicas).sum();
    let jobs = if model.jobs.is_empty() { String::new() } else { format!(", {} batch jobs", model.jobs.len()) };
    println!(
        "{}: ok ({} regions, {} replicas, {} traffic sources{jobs}{swept})",
        scenario_path.display(),
        model.regions.len(),
        replicas,
        model.sources.len()
    );
    for line in replayed_traces(&model) {
        println!("{line}");
    }
    Ok(())
}
