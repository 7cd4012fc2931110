//! `servesim calibrate SCENARIO LOADTEST... --out DIR`: fits the scenario's per-request overhead,
//! its threads and core sharing, and a service-time scale and spread to a real server's load test,
//! then checks the fit on the load points it did not use. Writes `calibrated.toml`,
//! `calibration.csv` (measured, uncalibrated and calibrated per point) and `calibration.json`.

pub mod fit;
mod job;
mod llm;
pub mod loadtest;
mod lone;

use crate::error::CliError;
use crate::locate::{located, span_of};
use crate::{load, output};
use fit::{Candidate, Predicted, Problem};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Scenario of the server under test: its batching and the in-process batch table. One
    /// `[serving]` section; its traffic (Poisson or constant) is scaled to each load point's rate.
    pub scenario: PathBuf,
    /// Load-test results: locust's --csv files (stats or stats_history), a summary CSV
    /// (offered_rps, p50_ms, p90_ms, p99_ms[, mean_ms, requests]) or per-request rows
    /// (send_time_s, latency_ms[, ok]). For a scenario of one batch job: runs of the real engine,
    /// one CSV of task attempts each (records, partitions, slots, batch_records, injected_failure,
    /// makespan_s, partition, status, duration_s, launch_s), as validation/spark/run.py writes.
    #[arg(required = true)]
    pub loadtests: Vec<PathBuf>,
    /// Output folder (default: servesim-out/<scenario file name>-calibrate).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Load points to fit, by position in rate order from 1 (`1,5`), or `all`; the others are
    /// predicted as a hold-out check. Default: the lowest and the highest rate.
    #[arg(long)]
    pub fit: Option<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::run::MAX_THREADS))]
    pub threads: Option<u32>,
    /// Price file replacing the bundled catalog.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// The tail mechanism to use, when you know what your setup has (`proxy` for a load generator
    /// or a front-end process on the server's cores), instead of the one cross-validation
    /// chooses (`auto`). Every mechanism is still fitted and reported.
    #[arg(long, value_enum, default_value_t = TailChoice::Auto)]
    pub tail: TailChoice,
}

/// `--tail`: cross-validation's choice, or a named mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TailChoice {
    Auto,
    None,
    #[value(name = "slow_path")]
    SlowPath,
    Jitter,
    Stalls,
    Proxy,
}

impl TailChoice {
    /// The mechanism's name as the report writes it; `None` for `auto`.
    fn declared(self) -> Option<&'static str> {
        match self {
            TailChoice::Auto => None,
            TailChoice::None => Some("none"),
            TailChoice::SlowPath => Some("slow_path"),
            TailChoice::Jitter => Some("jitter"),
            TailChoice::Stalls => Some("stalls"),
            TailChoice::Proxy => Some("proxy"),
        }
    }
}

/// Requests simulated per load point for the reported predictions.
const REPORT_REQUESTS: f64 = 60_000.0;

/// One row of `calibration.csv`.
#[derive(Serialize)]
struct Row {
    point: usize,
    role: &'static str,
    offered_rps: f64,
    measured_p50_ms: f64,
    measured_p90_ms: f64,
    measured_p99_ms: f64,
    uncalibrated_p50_ms: f64,
    uncalibrated_p90_ms: f64,
    uncalibrated_p99_ms: f64,
    calibrated_p50_ms: f64,
    calibrated_p90_ms: f64,
    calibrated_p99_ms: f64,
    uncalibrated_error_p50: f64,
    uncalibrated_error_p99: f64,
    calibrated_error_p50: f64,
    calibrated_error_p90: f64,
    calibrated_error_p99: f64,
    origin: String,
}

#[derive(Serialize)]
struct Report {
    scenario: String,
    load_tests: Vec<String>,
    fit_points: Vec<usize>,
    fitted: Fitted,
    loss: f64,
    /// The chosen tail mechanism's name: the one `--tail` declared, or else the one that
    /// predicted left-out points best.
    structure: &'static str,
    /// "declared" or "cross-validation".
    structure_chosen_by: &'static str,
    /// The mechanism cross-validation chose (the same as `structure` unless one was declared).
    cross_validation_choice: &'static str,
    structures: Vec<StructureRow>,
    /// Largest |relative error| over the points not fitted (null when all were fitted).
    holdout_max_abs_error_p50: Option<f64>,
    holdout_max_abs_error_p90: Option<f64>,
    holdout_max_abs_error_p99: Option<f64>,
    uncalibrated_max_abs_error_p50: f64,
    uncalibrated_max_abs_error_p99: f64,
}

#[derive(Serialize)]
struct Fitted {
    overhead_ms: f64,
    overhead_cv: f64,
    cpu_workers: Option<u32>,
    host_cores: Option<u32>,
    service_scale: f64,
    service_cv: f64,
    /// The chosen tail mechanism and its parameters.
    tail: fit::Tail,
}

impl Fitted {
    fn of(candidate: &Candidate) -> Self {
        Fitted {
            overhead_ms: candidate.overhead_ms,
            overhead_cv: candidate.overhead_cv,
            cpu_workers: candidate.workers,
            host_cores: candidate.host_cores,
            service_scale: candidate.service_scale,
            service_cv: candidate.service_cv,
            tail: candidate.tail,
        }
    }
}

/// One tail mechanism as fitted, and how it predicted left-out points.
#[derive(Serialize)]
struct StructureRow {
    mechanism: &'static str,
    chosen: bool,
    fit_loss: f64,
    /// Mean loss predicting each fitted point from a fit without it (null with one fitted point).
    cross_validation_loss: Option<f64>,
    /// What this mechanism would have predicted at the points not fitted: largest |relative
    /// error| of p50 and p99 (null when all were fitted). Reported, never used to choose.
    holdout_max_abs_error_p50: Option<f64>,
    holdout_max_abs_error_p99: Option<f64>,
    fitted: Fitted,
}

fn parse_fit(text: Option<&str>, count: usize) -> Result<Vec<usize>, CliError> {
    let Some(text) = text else {
        return Ok(vec![0, count - 1]);
    };
    if text == "all" {
        return Ok((0..count).collect());
    }
    let mut chosen = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<usize>() {
            Ok(k) if (1..=count).contains(&k) => chosen.push(k - 1),
            _ => {
                return Err(CliError::input(format!(
                    "--fit: {part:?} is not a load point (1 to {count}, in rate order, or all)"
                )))
            }
        }
    }
    chosen.sort_unstable();
    chosen.dedup();
    Ok(chosen)
}

fn relative_error(simulated: f64, measured: f64) -> f64 {
    simulated / measured - 1.0
}

pub fn calibrate(args: &CalibrateArgs) -> Result<(), CliError> {
    let loaded = load::load(&args.scenario, args.prices.as_deref())?;
    loaded.build()?;
    let batcher = loaded.scenario.serving.as_ref().is_some_and(|s| s.llm.is_none());
    if args.tail != TailChoice::Auto && !batcher {
        return Err(CliError::input(format!(
            "{}: --tail chooses a dynamic-batching server's tail mechanism; this scenario calibrates {}",
            loaded.path.display(),
            if loaded.scenario.serving.is_some() { "an LLM engine" } else { "a batch job" }
        )));
    }
    if loaded.scenario.serving.is_none() && !loaded.scenario.jobs.is_empty() {
        if loaded.scenario.jobs.len() > 1 {
            return Err(CliError::input(format!(
                "{}: calibrate fits one batch job to its runs, and the scenario has {}",
                loaded.path.display(),
                loaded.scenario.jobs.len()
            )));
        }
        return job::calibrate(args, &loaded);
    }
    if loaded.scenario.serving.is_none() {
        return Err(CliError::input(format!(
            "{}: calibrate fits the top-level [serving] section, and the scenario has none",
            loaded.path.display()
        )));
    }
    if loaded.scenario.serving.as_ref().is_some_and(|s| s.llm.is_some()) {
        return llm::calibrate(args, &loaded, args.fit.as_deref());
    }
    if let Some((name, _)) = loaded.scenario.regions.iter().find(|(_, r)| r.serving.is_some()) {
        let key: sim::scenario::KeyPath = sim::path!["regions", name.as_str(), "serving"];
        return Err(located(
            &loaded.path,
            &loaded.text,
            span_of(&loaded.text, &key),
            "calibrate fits one server: the top-level [serving]; this region has its own",
        ));
    }
    if let Err((i, message)) = fit::base_rate(&loaded.scenario) {
        let key: sim::scenario::KeyPath = sim::path!["traffic", i, "arrivals"];
        return Err(located(&loaded.path, &loaded.text, span_of(&loaded.text, &key), &message));
    }
    let mut points = loadtest::read_all(&args.loadtests)?;
    points.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    if points.len() < 2 {
        return Err(CliError::input(format!(
            "calibrate needs at least two load points (a low and a high rate); the files give {}",
            points.len()
        )));
    }
    let fit_points = parse_fit(args.fit.as_deref(), points.len())?;
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-calibrate"));
    let (_, pool) = crate::run::thread_pool(args.threads)?;
    let _lock = output::lock_output(&out)?;

    let scenario = &loaded.scenario;
    let inputs = &loaded.inputs;
    let predict_all = |candidate: Option<&Candidate>| -> Result<Vec<Predicted>, CliError> {
        pool.install(|| {
            points
                .par_iter()
                .map(|p| fit::predict(scenario, inputs, candidate, p.offered_rps, REPORT_REQUESTS))
                .collect::<Result<Vec<_>, String>>()
        })
        .map_err(|e| CliError::input(format!("{}: {e}", args.scenario.display())))
    };
    let uncalibrated = predict_all(None)?;
    // The overhead's first guess: what the lowest fitted point's p50 has beyond the simulation's.
    let lowest = fit_points[0];
    let guess = points[lowest].p50_ms - uncalibrated[lowest].p50_ms;
    let excess = points[lowest].p99_ms - points[lowest].p50_ms;
    let problem = Problem { scenario, inputs, points: fit_points.iter().map(|&k| &points[k]).collect() };
    let fitted = pool.install(|| problem.fit(guess, excess, args.tail.declared()));
    let (best, loss) = (fitted.best().candidate.clone(), fitted.best().fit_loss);
    let calibrated = predict_all(Some(&best))?;
    // Every mechanism's hold-out errors, for the report (the chosen one's are `calibrated`'s).
    let holdout_errors = |predicted: &[Predicted]| -> (Option<f64>, Option<f64>) {
        let worst = |f: fn(&Predicted, &loadtest::LoadPoint) -> f64| {
            (0..points.len())
                .filter(|k| !fit_points.contains(k))
                .map(|k| f(&predicted[k], &points[k]).abs())
                .reduce(f64::max)
        };
        (worst(|p, m| relative_error(p.p50_ms, m.p50_ms)), worst(|p, m| relative_error(p.p99_ms, m.p99_ms)))
    };
    let mut structure_errors = Vec::new();
    for (i, structure) in fitted.structures.iter().enumerate() {
        structure_errors.push(if i == fitted.chosen {
            holdout_errors(&calibrated)
        } else {
            holdout_errors(&predict_all(Some(&structure.candidate))?)
        });
    }

    let rows: Vec<Row> = points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let (u, c) = (&uncalibrated[k], &calibrated[k]);
            Row {
                point: k + 1,
                role: if fit_points.contains(&k) { "fit" } else { "hold-out" },
                offered_rps: p.offered_rps,
                measured_p50_ms: p.p50_ms,
                measured_p90_ms: p.p90_ms,
                measured_p99_ms: p.p99_ms,
                uncalibrated_p50_ms: u.p50_ms,
                uncalibrated_p90_ms: u.p90_ms,
                uncalibrated_p99_ms: u.p99_ms,
                calibrated_p50_ms: c.p50_ms,
                calibrated_p90_ms: c.p90_ms,
                calibrated_p99_ms: c.p99_ms,
                uncalibrated_error_p50: relative_error(u.p50_ms, p.p50_ms),
                uncalibrated_error_p99: relative_error(u.p99_ms, p.p99_ms),
                calibrated_error_p50: relative_error(c.p50_ms, p.p50_ms),
                calibrated_error_p90: relative_error(c.p90_ms, p.p90_ms),
                calibrated_error_p99: relative_error(c.p99_ms, p.p99_ms),
                origin: p.origin.clone(),
            }
        })
        .collect();
    let holdout =
        |f: fn(&Row) -> f64| rows.iter().filter(|r| r.role == "hold-out").map(|r| f(r).abs()).reduce(f64::max);
    let all_max = |f: fn(&Row) -> f64| rows.iter().map(|r| f(r).abs()).fold(0.0, f64::max);
    let sources: Vec<String> = args.loadtests.iter().map(|p| p.display().to_string()).collect();
    let report = Report {
        scenario: args.scenario.display().to_string(),
        load_tests: sources.clone(),
        fit_points: fit_points.iter().map(|k| k + 1).collect(),
        fitted: Fitted::of(&best),
        loss,
        structure: best.tail.name(),
        structure_chosen_by: if args.tail.declared().is_some() { "declared" } else { "cross-validation" },
        cross_validation_choice: fitted.structures[fitted.by_cross_validation].candidate.tail.name(),
        structures: fitted
            .structures
            .iter()
            .enumerate()
            .map(|(i, s)| StructureRow {
                mechanism: s.candidate.tail.name(),
                chosen: i == fitted.chosen,
                fit_loss: s.fit_loss,
                cross_validation_loss: s.cross_validation_loss,
                holdout_max_abs_error_p50: structure_errors[i].0,
                holdout_max_abs_error_p99: structure_errors[i].1,
                fitted: Fitted::of(&s.candidate),
            })
            .collect(),
        holdout_max_abs_error_p50: holdout(|r| r.calibrated_error_p50),
        holdout_max_abs_error_p90: holdout(|r| r.calibrated_error_p90),
        holdout_max_abs_error_p99: holdout(|r| r.calibrated_error_p99),
        uncalibrated_max_abs_error_p50: all_max(|r| r.uncalibrated_error_p50),
        uncalibrated_max_abs_error_p99: all_max(|r| r.uncalibrated_error_p99),
    };

    let source = format!(
        "servesim calibrate on {} (load points {} fitted)",
        sources.join(", "),
        report.fit_points.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
    );
    let calibrated_text = calibrated_document(&loaded, &best, &source)?;
    let mut csv_writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        csv_writer.serialize(row).expect("writing to memory");
    }
    let csv_bytes = csv_writer.into_inner().expect("writing to memory cannot fail");
    output::write_atomic(&out, "calibration.csv", &csv_bytes)?;
    output::write_atomic(&out, "calibration.json", &output::json_bytes(&report))?;
    output::write_atomic(&out, "calibrated.toml", calibrated_text.as_bytes())?;
    if !args.quiet {
        print_table(&rows, &report);
        println!("wrote {}/{{calibrated.toml,calibration.csv,calibration.json}}", out.display());
    }
    Ok(())
}

fn print_table(rows: &[Row], report: &Report) {
    let f = &report.fitted;
    println!(
        "fitted: overhead {:.2} ms (cv {:.2}) on {} thread(s){}; service time × {:.3} (cv {:.2})",
        f.overhead_ms,
        f.overhead_cv,
        f.cpu_workers.map_or("unlimited".to_string(), |w| w.to_string()),
        f.host_cores.map_or(String::new(), |c| format!(" sharing {c} core(s) with the model")),
        f.service_scale,
        f.service_cv
    );
    let how = match report.structure_chosen_by {
        "declared" => format!("declared; cross-validation would choose {}", report.cross_validation_choice),
        _ => "chosen by cross-validation over the fitted points".to_string(),
    };
    println!("tail: {} ({how})", f.tail.describe());
    for structure in &report.structures {
        println!(
            "  {:<10} fit loss {:.4}, cross-validation loss {}{}",
            structure.mechanism,
            structure.fit_loss,
            structure.cross_validation_loss.map_or("-".to_string(), |l| format!("{l:.4}")),
            if structure.chosen { "  <- chosen" } else { "" }
        );
    }
    println!(
        "{:>5} {:>9} {:>9} {:>24} {:>24} {:>24} {:>17}",
        "point", "role", "req/s", "measured p50/p90/p99", "uncalibrated", "calibrated", "error p50/p99"
    );
    for r in rows {
        let triple = |a: f64, b: f64, c: f64| format!("{a:.1} / {b:.1} / {c:.1}");
        println!(
            "{:>5} {:>9} {:>9.2} {:>24} {:>24} {:>24} {:>17}",
            r.point,
            r.role,
            r.offered_rps,
            triple(r.measured_p50_ms, r.measured_p90_ms, r.measured_p99_ms),
            triple(r.uncalibrated_p50_ms, r.uncalibrated_p90_ms, r.uncalibrated_p99_ms),
            triple(r.calibrated_p50_ms, r.calibrated_p90_ms, r.calibrated_p99_ms),
            format!("{:+.0}% / {:+.0}%", r.calibrated_error_p50 * 100.0, r.calibrated_error_p99 * 100.0)
        );
    }
}

/// The scenario as written, with `[serving.overhead]` and `[serving.calibration]` replaced by the
/// fit, and relative file paths made absolute (the file moves to the output folder).
fn calibrated_document(loaded: &load::Loaded, best: &Candidate, source: &str) -> Result<String, CliError> {
    let mut document: toml::Table = toml::from_str(&loaded.text).expect("the scenario parsed once already");
    let (overhead, calibration) = best.sections(source);
    let serving = document
        .entry("serving")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[serving] is a table in a valid scenario");
    serving.insert("overhead".into(), toml::Value::try_from(&overhead).expect("overhead serialises"));
    serving.insert("calibration".into(), toml::Value::try_from(&calibration).expect("calibration serialises"));
    let folder = loaded.path.parent().unwrap_or(Path::new("."));
    crate::sweep::absolute_paths(&mut document, folder);
    let mut text = String::from("# Calibrated by servesim calibrate: [serving.overhead] and [serving.calibration]\n# were fitted to a load test (see calibration.csv beside this file).\n");
    text.push_str(&toml::to_string(&document).expect("a TOML table serialises"));
    // What is written must load as the scenario it claims to be.
    let reparsed: sim::scenario::Scenario = toml::from_str(&text)
        .map_err(|e| CliError::input(format!("calibrated scenario does not parse (a servesim bug): {e}")))?;
    sim::build(&reparsed, &loaded.inputs)
        .map_err(|e| CliError::input(format!("calibrated scenario does not build (a servesim bug): {e}")))?;
    Ok(text)
}
