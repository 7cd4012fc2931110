//! `servesim sweep` and `servesim merge`: the file side of sweeps — the journal that makes them
//! resumable and shardable, the progress bar, the output files, and cluster job manifests. The
//! planning itself lives in the `planner` crate.

use crate::error::CliError;
use crate::load::{self, located, span_of};
use crate::output::write_atomic;
use planner::report::TableText;
use planner::{judge, Grid, Plan, Point, PointResult};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim::scenario::{ParamSpec, ParamValue, Strategy, Sweep};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
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
    /// Seeds per point; more than one gives confidence intervals.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    replications: Option<u32>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
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

const JOURNAL: &str = "journal.jsonl";

/// First line of a journal: what sweep it belongs to, and enough to finish it without the scenario.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct JournalHeader {
    servesim_sweep: String,
    servesim_version: String,
    /// Points in the whole sweep (all shards).
    points: usize,
    /// `[index, count]`.
    shard: (u32, u32),
    /// The scenario document the points apply to (TOML).
    base: String,
    /// The scenario's folder, against which its relative file references resolve.
    base_dir: PathBuf,
    spec: Sweep,
}

/// Parses one `--set` value: an integer, a float, a boolean, or text.
fn parse_value(text: &str) -> ParamValue {
    let text = text.trim();
    if let Ok(v) = text.parse::<i64>() {
        ParamValue::Integer(v)
    } else if let Ok(v) = text.parse::<f64>() {
        ParamValue::Float(v)
    } else if let Ok(v) = text.parse::<bool>() {
        ParamValue::Bool(v)
    } else {
        ParamValue::Text(text.trim_matches('"').to_string())
    }
}

fn parse_shard(text: &str) -> Result<(u32, u32), CliError> {
    let bad = || CliError::input(format!("--shard {text:?}: expected I/N with 0 ≤ I < N, e.g. 0/4"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn sweep_hash(base: &str, spec: &Sweep, seed: u64, points: &[Point], catalog: &str) -> String {
    let spec = serde_json::to_string(spec).expect("a sweep spec serialises");
    let indices: Vec<String> = points.iter().map(|p| p.index.to_string()).collect();
    let text = format!("{base}\n{spec}\n{seed}\n{}\n{catalog}", indices.join(","));
    format!("{:016x}", sim::rng::fnv1a(text.as_bytes()))
}

/// The prepared sweep: plan, points, and identity.
struct Prepared {
    plan: Plan,
    points: Vec<Point>,
    hash: String,
    base_text: String,
}

fn prepare(args: &SweepArgs) -> Result<Prepared, CliError> {
    let path = &args.scenario;
    let mut loaded = load::load(path, args.prices.as_deref())?;
    // The model must build before anything is swept: the scenario itself has to be valid.
    loaded.build()?;
    let base: toml::Table =
        toml::from_str(&loaded.text).map_err(|e| located(path, &loaded.text, e.span(), e.message()))?;
    let mut spec = loaded.scenario.sweep.clone().unwrap_or_default();
    for setting in &args.set {
        let (key, values) = setting
            .split_once('=')
            .ok_or_else(|| CliError::input(format!("--set {setting:?}: expected PATH=V1,V2,...")))?;
        let values: Vec<ParamValue> = values.split(',').map(parse_value).collect();
        spec.parameters.insert(key.trim().to_string(), ParamSpec::List(values));
    }
    if let Some(strategy) = &args.strategy {
        spec.strategy = match strategy.as_str() {
            "random" => Strategy::Random,
            "capacity" => Strategy::Capacity,
            "right_size" => Strategy::RightSize,
            _ => Strategy::Grid,
        };
    }
    if let Some(samples) = args.samples {
        spec.samples = Some(samples);
    }
    if let Some(replications) = args.replications {
        spec.replications = replications;
    }
    let at = |key: &[&str], message: String| {
        let mut key_path = sim::path!["sweep"];
        for k in key {
            key_path = key_path.join(*k);
        }
        located(path, &loaded.text, span_of(&loaded.text, &key_path), &message)
    };
    if spec.replications == 0 {
        return Err(at(&["replications"], "replications must be at least 1".into()));
    }
    if spec.strategy == Strategy::Random && spec.samples.unwrap_or(0) == 0 {
        return Err(at(&["strategy"], "the random strategy needs samples (in [sweep] or --samples)".into()));
    }
    if spec.strategy == Strategy::RightSize && spec.right_size.as_ref().is_none_or(|r| r.paths.is_empty()) {
        return Err(at(
            &["strategy"],
            "the right_size strategy needs [sweep.right_size] paths = [\"regions.NAME.replicas\"]".into(),
        ));
    }
    let capacity = &spec.capacity;
    if !(capacity.min_scale > 0.0 && capacity.max_scale > capacity.min_scale && capacity.tolerance > 0.0) {
        return Err(at(
            &["capacity"],
            "capacity search needs 0 < min_scale < max_scale and a positive tolerance".into(),
        ));
    }
    let mut axes = Vec::new();
    for (parameter, values) in &spec.parameters {
        let values = planner::expand(parameter, values).map_err(|message| at(&["parameters", parameter], message))?;
        axes.push(planner::Axis { path: parameter.clone(), values });
    }
    let grid = Grid { axes };
    let points = match spec.strategy {
        Strategy::Random => grid.sample(spec.samples.unwrap_or(0) as usize, loaded.scenario.seed),
        _ => grid.all(),
    };
    let catalog_text = format!("{:?}", loaded.inputs.catalog);
    let base_text = toml::to_string(&base).expect("a scenario document serialises");
    let hash = sweep_hash(&base_text, &spec, loaded.scenario.seed, &points, &catalog_text);
    let mut plan = Plan { base, inputs: std::mem::take(&mut loaded.inputs), spec, seed: loaded.scenario.seed };

    // Every point must be a well-formed scenario; a parameter path or value that does not fit the
    // format is bad input, not an infeasible point. Files that points name are read now.
    for point in &points {
        let scenario = plan
            .scenario(point)
            .map_err(|e| CliError::input(format!("{}: sweep point {}: {e}", path.display(), point.index)))?;
        load::load_files(path, &scenario, &mut plan.inputs, &|key_path, message| {
            CliError::input(format!("{}: sweep point {} ({key_path}): {message}", path.display(), point.index))
        })?;
    }
    Ok(Prepared { plan, points, hash, base_text })
}

struct Journal {
    file: Mutex<File>,
}

impl Journal {
    fn append(&self, result: &PointResult) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(result).expect("a point result serialises");
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)?;
        // Durable before the point counts as done: a SIGKILL after this loses nothing.
        file.sync_data()
    }
}

/// Reads a journal: its header and finished points. A torn last line (a kill mid-write) is cut off.
fn read_journal(path: &Path) -> Result<(JournalHeader, Vec<PointResult>), CliError> {
    let bad = |line: usize, what: String| CliError::input(format!("{}:{line}:1: {what}", path.display()));
    let file =
        File::open(path).map_err(|e| CliError::input(format!("{}: cannot read journal: {e}", path.display())))?;
    let mut lines = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        lines.push(line.map_err(|e| CliError::input(format!("{}: cannot read journal: {e}", path.display())))?);
    }
    let header: JournalHeader = lines
        .first()
        .and_then(|l| serde_json::from_slice(l).ok())
        .ok_or_else(|| bad(1, "not a servesim sweep journal".into()))?;
    let mut results = Vec::new();
    let mut good_bytes: u64 = lines[0].len() as u64 + 1;
    for (i, line) in lines.iter().enumerate().skip(1) {
        match serde_json::from_slice::<PointResult>(line) {
            Ok(result) => {
                results.push(result);
                good_bytes += line.len() as u64 + 1;
            }
            Err(_) if i == lines.len() - 1 => {
                // Torn final write: drop it so appends continue from a clean line.
                let file = OpenOptions::new().write(true).open(path).map_err(|e| bad(i + 1, e.to_string()))?;
                file.set_len(good_bytes).map_err(|e| bad(i + 1, e.to_string()))?;
            }
            Err(e) => return Err(bad(i + 1, format!("unreadable point: {e}"))),
        }
    }
    Ok((header, results))
}

fn csv_bytes(table: &TableText) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&table.header).expect("writing to memory");
    for row in &table.rows {
        writer.write_record(row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// What a finished sweep found.
pub(crate) struct Outcome {
    pub results: Vec<PointResult>,
    pub judged: Vec<planner::Judged>,
    /// The best point's index.
    pub best: Option<usize>,
    /// The scenario document the points applied to, and the sweep as run.
    pub base: toml::Table,
    pub spec: Sweep,
}

/// Makes the `file` references of a scenario document absolute (relative ones are relative to
/// `base_dir`, the scenario's folder), so the document runs from wherever it is written.
fn absolute_files(document: &mut toml::Table, base_dir: &Path) {
    fn visit(value: &mut toml::Value, base_dir: &Path) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table.iter_mut() {
                    match child {
                        toml::Value::String(file) if key == "file" && Path::new(file.as_str()).is_relative() => {
                            let joined = base_dir.join(file.as_str());
                            *file = std::fs::canonicalize(&joined).unwrap_or(joined).to_string_lossy().into_owned();
                        }
                        _ => visit(child, base_dir),
                    }
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|item| visit(item, base_dir)),
            _ => {}
        }
    }
    let mut root = toml::Value::Table(std::mem::take(document));
    visit(&mut root, base_dir);
    if let toml::Value::Table(table) = root {
        *document = table;
    }
}

/// Writes sweep.csv, pareto.csv and best.toml for a complete set of results, and prints the top.
fn finish(
    out: &Path,
    base: &toml::Table,
    base_dir: &Path,
    spec: &Sweep,
    mut results: Vec<PointResult>,
    quiet: bool,
) -> Result<Outcome, CliError> {
    results.sort_by_key(|r| r.index);
    results.dedup_by_key(|r| r.index);
    let judged = judge(&results, spec.strategy, spec.objective);
    write_atomic(out, "sweep.csv", &csv_bytes(&planner::report::sweep_table(&results, &judged)))?;
    write_atomic(out, "pareto.csv", &csv_bytes(&planner::report::pareto_table(&results, &judged)))?;
    let mut best_document = None;
    match planner::frontier::best(&judged) {
        Some(best) => {
            let position = results.iter().position(|r| r.index == best.index).expect("judged points come from results");
            let result = &results[position];
            let mut document = base.clone();
            for (path, value) in &resolved_values(result, spec) {
                planner::apply::set(&mut document, path, value).map_err(CliError::input)?;
            }
            absolute_files(&mut document, base_dir);
            let text = planner::report::best_document(document, result, best, results.len());
            write_atomic(out, "best.toml", text.as_bytes())?;
            best_document = Some(best.index);
        }
        None => {
            let _ = std::fs::remove_file(out.join("best.toml"));
        }
    }
    if !quiet {
        print_top(&results, &judged);
        match best_document {
            Some(_) => println!("wrote {}/{{sweep.csv,pareto.csv,best.toml}}", out.display()),
            None => println!("no configuration meets the SLO; wrote {}/{{sweep.csv,pareto.csv}}", out.display()),
        }
    }
    Ok(Outcome { results, judged, best: best_document, base: base.clone(), spec: spec.clone() })
}

/// A point's parameter values, with the right-sized replica count where the strategy found one.
pub(crate) fn resolved_values(result: &PointResult, spec: &Sweep) -> Vec<(String, ParamValue)> {
    let mut values = result.values.clone();
    if let (Some(replicas), Some(right_size)) = (result.replicas, &spec.right_size) {
        for path in &right_size.paths {
            values.push((path.clone(), ParamValue::Integer(i64::from(replicas))));
        }
    }
    values
}

fn print_top(results: &[PointResult], judged: &[planner::Judged]) {
    let mut ranked: Vec<(&PointResult, &planner::Judged)> =
        results.iter().zip(judged).filter(|(_, j)| j.rank.is_some()).collect();
    ranked.sort_by_key(|(_, j)| j.rank);
    let feasible = ranked.len();
    println!("{feasible} of {} points meet the SLO; the best:", results.len());
    println!(
        "{:>4} {:>6} {:>10} {:>10} {:>9} {:>12}  parameters",
        "rank", "point", "USD/h", "USD/M req", "p99 ms", "availability"
    );
    for (result, j) in ranked.iter().take(10) {
        let mut parameters: Vec<String> = result.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
        if let Some(replicas) = result.replicas {
            parameters.push(format!("replicas={replicas}"));
        }
        if let Some(rps) = j.capacity_rps {
            parameters.push(format!("capacity={rps:.0}/s"));
        }
        println!(
            "{:>4} {:>6} {:>10.3} {:>10} {:>9} {:>12.5}  {}{}",
            j.rank.unwrap_or(0),
            result.index,
            j.usd_per_hour.unwrap_or(f64::NAN),
            j.usd_per_million.map_or("-".into(), |v| format!("{v:.3}")),
            j.p99_ms.map_or("-".into(), |v| format!("{v:.2}")),
            j.availability.unwrap_or(f64::NAN),
            parameters.join(" "),
            if j.on_frontier { "  (frontier)" } else { "" }
        );
    }
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

/// Runs (or resumes) a sweep; the outcome is None for a shard or when only manifests were written.
pub(crate) fn run_sweep(args: &SweepArgs) -> Result<Option<Outcome>, CliError> {
    let out = args.out.clone().unwrap_or_else(|| {
        let mut out = crate::default_out(&args.scenario);
        out.set_file_name(format!("{}-sweep", out.file_name().map_or("scenario".into(), |n| n.to_string_lossy())));
        out
    });
    let prepared = prepare(args)?;
    if args.emit_k8s_job {
        return emit_cluster_jobs(args, &out, prepared.points.len()).map(|_| None);
    }
    let shard = args.shard.as_deref().map(parse_shard).transpose()?.unwrap_or((0, 1));
    let mine: Vec<&Point> =
        prepared.points.iter().enumerate().filter(|(k, _)| *k as u32 % shard.1 == shard.0).map(|(_, p)| p).collect();
    let header = JournalHeader {
        servesim_sweep: prepared.hash.clone(),
        servesim_version: env!("CARGO_PKG_VERSION").into(),
        points: prepared.points.len(),
        shard,
        base: prepared.base_text.clone(),
        base_dir: scenario_dir(&args.scenario),
        spec: prepared.plan.spec.clone(),
    };
    std::fs::create_dir_all(&out).map_err(|e| CliError::input(format!("{}: cannot create: {e}", out.display())))?;
    let journal_path = out.join(JOURNAL);
    let mut finished = Vec::new();
    if journal_path.exists() {
        let (existing, results) = read_journal(&journal_path)?;
        if existing.servesim_sweep != header.servesim_sweep || existing.shard != header.shard {
            return Err(CliError::input(format!(
                "{}: holds the journal of a different sweep (or shard); use another --out or remove it",
                journal_path.display()
            )));
        }
        finished = results;
    } else {
        let mut file =
            File::create(&journal_path).map_err(|e| CliError::input(format!("{}: {e}", journal_path.display())))?;
        let mut line = serde_json::to_vec(&header).expect("a journal header serialises");
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|_| file.sync_all())
            .map_err(|e| CliError::input(format!("{}: {e}", journal_path.display())))?;
    }
    let done: std::collections::BTreeSet<usize> = finished.iter().map(|r| r.index).collect();
    let todo: Vec<&Point> = mine.iter().copied().filter(|p| !done.contains(&p.index)).collect();
    let journal = Journal {
        file: Mutex::new(
            OpenOptions::new()
                .append(true)
                .open(&journal_path)
                .map_err(|e| CliError::input(format!("{}: {e}", journal_path.display())))?,
        ),
    };

    let (threads, pool) = crate::thread_pool(args.threads)?;
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
            .map(|point| {
                let result = prepared.plan.evaluate(point);
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
    finish(&out, &prepared.plan.base, &scenario_dir(&args.scenario), &prepared.plan.spec, results, args.quiet).map(Some)
}

fn scenario_dir(scenario: &Path) -> PathBuf {
    let dir = scenario.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

pub fn merge(args: &MergeArgs) -> Result<(), CliError> {
    let mut header: Option<JournalHeader> = None;
    let mut seen_shards = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    for dir in &args.shards {
        let path = dir.join(JOURNAL);
        let (this, points) = read_journal(&path)?;
        if let Some(first) = &header {
            if first.servesim_sweep != this.servesim_sweep || first.shard.1 != this.shard.1 {
                return Err(CliError::input(format!(
                    "{}: belongs to a different sweep than the others",
                    path.display()
                )));
            }
        }
        if !seen_shards.insert(this.shard.0) {
            return Err(CliError::input(format!(
                "{}: shard {}/{} given twice",
                path.display(),
                this.shard.0,
                this.shard.1
            )));
        }
        results.extend(points);
        header = Some(this);
    }
    let header = header.expect("clap requires at least one shard");
    let missing: Vec<String> =
        (0..header.shard.1).filter(|i| !seen_shards.contains(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(CliError::input(format!("missing shards {} of {}", missing.join(", "), header.shard.1)));
    }
    results.sort_by_key(|r| r.index);
    results.dedup_by_key(|r| r.index);
    if results.len() != header.points {
        return Err(CliError::input(format!(
            "the shards hold {} of the sweep's {} points: rerun the unfinished shards (they resume)",
            results.len(),
            header.points
        )));
    }
    let base: toml::Table =
        toml::from_str(&header.base).map_err(|e| CliError::input(format!("journal base scenario: {e}")))?;
    finish(&args.out, &base, &header.base_dir, &header.spec, results, args.quiet)?;
    Ok(())
}

fn emit_cluster_jobs(args: &SweepArgs, out: &Path, points: usize) -> Result<(), CliError> {
    let n = args.shards;
    let file = args.scenario.file_name().map_or("scenario.toml".into(), |f| f.to_string_lossy().into_owned());
    let stem = args.scenario.file_stem().map_or("scenario".into(), |f| f.to_string_lossy().to_lowercase());
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let name = name.trim_matches('-');
    let mut extra = String::new();
    for setting in &args.set {
        extra.push_str(&format!(" --set '{setting}'"));
    }
    for (flag, value) in [
        ("--strategy", args.strategy.clone()),
        ("--samples", args.samples.map(|v| v.to_string())),
        ("--replications", args.replications.map(|v| v.to_string())),
    ] {
        if let Some(value) = value {
            extra.push_str(&format!(" {flag} {value}"));
        }
    }
    let job = format!(
        r#"# servesim sweep of {file} ({points} points) as a Kubernetes Indexed Job of {n} shards.
# Each pod runs one shard and journals finished points on the results volume, so a retried pod
# resumes where it stopped. Before applying:
#   kubectl create configmap servesim-{name}-scenario --from-file={file}=<path to {file}>
#     (add the files the scenario names, e.g. --from-file=<table>.csv, and refer to them flat)
#   a ReadWriteMany PersistentVolumeClaim named servesim-results
# After the Job completes, copy /results off the volume and join the shards:
#   servesim merge --out merged results/{name}/shard-*
apiVersion: batch/v1
kind: Job
metadata:
  name: servesim-sweep-{name}
  labels:
    app.kubernetes.io/name: servesim
    app.kubernetes.io/component: sweep
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {n}
  backoffLimit: {backoff}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: servesim
        app.kubernetes.io/component: sweep
    spec:
      restartPolicy: Never
      containers:
        - name: servesim
          image: {image}
          command: ["sh", "-c"]
          args:
            - >-
              servesim sweep /scenario/{file}{extra}
              --shard "${{JOB_COMPLETION_INDEX}}/{n}"
              --out "/results/{name}/shard-${{JOB_COMPLETION_INDEX}}" --quiet
          resources:
            requests:
              cpu: "2"
              memory: 1Gi
            limits:
              memory: 2Gi
          volumeMounts:
            - name: scenario
              mountPath: /scenario
              readOnly: true
            - name: results
              mountPath: /results
      volumes:
        - name: scenario
          configMap:
            name: servesim-{name}-scenario
        - name: results
          persistentVolumeClaim:
            claimName: servesim-results
"#,
        backoff = 2 * n,
        image = args.image,
    );
    let slurm = format!(
        r#"#!/usr/bin/env bash
# servesim sweep of {file} ({points} points) as a Slurm job array of {n} shards.
# Submit from the folder holding {file}: sbatch slurm-sweep.sh
# Each task journals finished points, so a requeued task resumes. When all tasks are done:
#   servesim merge --out results/{name}/merged results/{name}/shard-*
#SBATCH --job-name=servesim-{name}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --output=results/{name}/slurm-%A_%a.out
set -euo pipefail
mkdir -p results/{name}
servesim sweep {file}{extra} --threads "${{SLURM_CPUS_PER_TASK:-2}}" \
  --shard "${{SLURM_ARRAY_TASK_ID}}/{n}" --out "results/{name}/shard-${{SLURM_ARRAY_TASK_ID}}" --quiet
"#,
        last = n - 1,
    );
    write_atomic(out, "k8s-sweep-job.yaml", job.as_bytes())?;
    write_atomic(out, "slurm-sweep.sh", slurm.as_bytes())?;
    if !args.quiet {
        println!("wrote {0}/k8s-sweep-job.yaml and {0}/slurm-sweep.sh ({points} points in {n} shards)", out.display());
    }
    Ok(())
}
