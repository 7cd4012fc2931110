//! `servesim sweep` and `servesim merge`: the file side of sweeps. `prepare` turns the arguments
//! into points and their scenarios (once each), `journal` makes runs resumable and shardable,
//! `merge` writes the result files, `manifests` the cluster jobs; this module runs the points on a
//! thread pool with a progress bar. The planning itself lives in the `planner` crate.

mod journal;
mod manifests;
mod merge;
mod prepare;

pub(crate) use manifests::check_image;
pub use merge::merge;
pub(crate) use merge::{absolute_paths, point_text, Outcome};

use crate::error::CliError;
use crate::load::Loaded;
use crate::output::write_atomic;
use journal::{Journal, JournalHeader, JOURNAL};
use manifests::emit_cluster_jobs;
use merge::finish;
use planner::{Point, PointResult};
use prepare::{parse_shard, prepare};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Scenario file (TOML) with a [sweep] section, or parameters given with --set.
    scenario: PathBuf,
    /// Output folder (default: servesim-out/<scenario file name>-sweep).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sweep a parameter by its path: PATH=V1,V2,... (repeatable; replaces the scenario's values
    /// for that path). Example: --set serving.batching.max_batch=8,16,32
    #[arg(long = "set", value_name = "PATH=V1,V2,...")]
    set: Vec<String>,
    /// grid, random, capacity or right_size (default: the scenario's, else grid).
    #[arg(long, value_parser = ["grid", "random", "capacity", "right_size"])]
    strategy: Option<String>,
    /// Points to draw for the random strategy.
    #[arg(long)]
    samples: Option<u32>,
    /// Seeds per point (1–10000); more than one gives confidence intervals.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    replications: Option<u32>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::run::MAX_THREADS))]
    threads: Option<u32>,
    /// Run only slice I of N (0-based) of the points; join slices with `servesim merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Price file replacing the bundled catalog.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Write a Kubernetes Indexed Job manifest and a Slurm array script that run the sweep in
    /// --shards pieces, instead of running it here.
    #[arg(long)]
    emit_k8s_job: bool,
    /// Number of shards for --emit-k8s-job.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    shards: u32,
    /// Container image with servesim on its PATH, for --emit-k8s-job.
    #[arg(long, default_value = "servesim:latest")]
    image: String,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// A point that measured nothing is an input mistake (a rate or window that leaves no request to
/// judge), not a configuration that misses the SLO: the first such point, as an exit-2 error.
pub(crate) fn unmeasured(results: &[PointResult], source: &str) -> Option<CliError> {
    let result = results
        .iter()
        .filter(|r| r.error.as_deref().is_some_and(|e| e.starts_with(sim::summary::NOTHING_MEASURED)))
        .min_by_key(|r| r.index)?;
    let values: Vec<String> = result.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
    Some(CliError::input(format!(
        "{source}: sweep point {} ({}): {}",
        result.index,
        values.join(", "),
        result.error.as_deref().unwrap_or_default()
    )))
}

/// Everything `sweep` and `plan` would refuse in `scenario`'s own `[sweep]` before running a
/// point (parameters, values, strategies, every point's scenario), for `servesim validate`.
/// Prints the scenario's warnings once.
pub(crate) fn check_sweep(scenario: &Path, prices: Option<PathBuf>) -> Result<usize, CliError> {
    let args = SweepArgs::for_plan(scenario, PathBuf::new(), None, prices, true);
    Ok(prepare(&args)?.points.len())
}

impl SweepArgs {
    /// The sweep a plan runs: the scenario's own [sweep], nothing overridden.
    pub(crate) fn for_plan(
        scenario: &Path,
        out: PathBuf,
        threads: Option<u32>,
        prices: Option<PathBuf>,
        quiet: bool,
    ) -> Self {
        SweepArgs {
            scenario: scenario.to_path_buf(),
            out: Some(out),
            set: Vec::new(),
            strategy: None,
            samples: None,
            replications: None,
            threads,
            shard: None,
            prices,
            emit_k8s_job: false,
            shards: 1,
            image: String::new(),
            quiet,
        }
    }
}

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Output folder for the joined results.
    #[arg(long)]
    out: PathBuf,
    /// The shards' output folders (each holds a journal.jsonl).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Serialize)]
struct SweepRunInfo {
    servesim_version: &'static str,
    points: usize,
    evaluated: usize,
    skipped_finished: usize,
    threads: usize,
    wall_seconds: f64,
    points_per_minute: f64,
}

pub fn sweep(args: &SweepArgs) -> Result<(), CliError> {
    run_sweep(args).map(|_| ())
}

/// A finished, unsharded sweep: its outcome and, when a point meets the SLO, the chosen scenario
/// ready to run (its `best.toml` text, the scenario from the same conversion the sweep ran, and
/// the files the sweep read).
pub(crate) struct Finished {
    pub outcome: Outcome,
    pub chosen: Option<Loaded>,
    /// The sweep's plan, to run any point again (robust plans).
    pub plan: planner::Plan,
}

/// Runs (or resumes) a sweep; None for a shard or when only manifests were written.
pub(crate) fn run_sweep(args: &SweepArgs) -> Result<Option<Finished>, CliError> {
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-sweep"));
    let prepared = prepare(args)?;
    if args.emit_k8s_job {
        return emit_cluster_jobs(args, &out, prepared.points.len()).map(|_| None);
    }
    let shard = args.shard.as_deref().map(parse_shard).transpose()?.unwrap_or((0, 1));
    let mine: Vec<usize> = (0..prepared.points.len()).filter(|k| *k as u32 % shard.1 == shard.0).collect();
    let header = JournalHeader {
        servesim_sweep: prepared.hash.clone(),
        servesim_version: env!("CARGO_PKG_VERSION").into(),
        points: prepared.points.len(),
        shard,
        base: prepared.base_text.clone(),
        base_dir: scenario_dir(&args.scenario),
        spec: prepared.plan.spec.clone(),
    };
    let _lock = crate::output::lock_output(&out)?;
    let journal_path = out.join(JOURNAL);
    let (journal, finished) = Journal::open(&out, &header)?;
    let done: BTreeSet<usize> = finished.iter().map(|r| r.index).collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|&k| !done.contains(&prepared.points[k].index)).collect();

    let (threads, pool) = crate::run::thread_pool(args.threads)?;
    let progress =
        if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(todo.len() as u64) };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points · {elapsed} elapsed · ETA {eta}")
            .expect("a static progress template"),
    );
    if !args.quiet && !done.is_empty() {
        eprintln!("resuming: {} finished points in {} are kept", done.len(), journal_path.display());
    }
    let started = Instant::now();
    let failure: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let fresh: Vec<PointResult> = pool.install(|| {
        todo.par_iter()
            .map(|&k| {
                let result = prepared.plan.evaluate(&prepared.points[k], &prepared.scenarios[k]);
                if let Err(e) = journal.append(&result) {
                    failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                }
                progress.inc(1);
                result
            })
            .collect()
    });
    progress.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(CliError::input(format!("{}: cannot append to the journal: {e}", journal_path.display())));
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let info = SweepRunInfo {
        servesim_version: env!("CARGO_PKG_VERSION"),
        points: mine.len(),
        evaluated: fresh.len(),
        skipped_finished: done.len(),
        threads,
        wall_seconds,
        points_per_minute: fresh.len() as f64 / wall_seconds.max(1e-9) * 60.0,
    };
    write_atomic(&out, "sweep-run.json", &crate::output::json_bytes(&info))?;

    let mut results = finished;
    results.extend(fresh);
    if let Some(error) = unmeasured(&results, &args.scenario.display().to_string()) {
        return Err(error);
    }
    if shard.1 > 1 {
        if !args.quiet {
            println!(
                "shard {}/{}: {} points in {}; join the shards with `servesim merge --out DIR SHARD_DIRS...`",
                shard.0,
                shard.1,
                results.len(),
                journal_path.display()
            );
        }
        return Ok(None);
    }
    let spec = &prepared.plan.spec;
    let outcome = finish(&out, &prepared.plan.base, &scenario_dir(&args.scenario), spec, results, args.quiet)?;
    let chosen = match (outcome.best, &outcome.best_text) {
        (Some(best), Some(text)) => {
            let k = prepared.points.iter().position(|p| p.index == best).expect("the best point is a point");
            let result = outcome.results.iter().find(|r| r.index == best).expect("the best point has a result");
            let scenario = if result.replicas.is_some() {
                // Right-sized: the point with the replica count the search found.
                let point = Point { index: best, values: planner::resolved_values(result, spec) };
                prepared.plan.scenario(&point).map_err(|e| CliError::input(e.to_string()))?
            } else {
                prepared.scenarios[k].clone()
            };
            Some(Loaded {
                path: out.join("best.toml"),
                text: text.clone(),
                scenario,
                inputs: prepared.plan.inputs.clone(),
                warnings: Vec::new(),
            })
        }
        _ => None,
    };
    Ok(Some(Finished { outcome, chosen, plan: prepared.plan }))
}

fn scenario_dir(scenario: &Path) -> PathBuf {
    let dir = scenario.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}
