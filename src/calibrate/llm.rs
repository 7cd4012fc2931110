//! `servesim calibrate` for an LLM engine (`[serving.llm]` with `iteration`): per-request load
//! tests of a real engine (sent_s, prompt_tokens, output_tokens, ttft_ms, tpot_ms per row; what
//! validation/vllm/run.py writes) are replayed request for request, and the iteration's overhead,
//! a scale of its per-token (and per-KV-token) time and a scale of its per-sequence time are
//! fitted so that the simulated TTFT and TPOT percentiles match the fitted points; the others are
//! a hold-out check. Two scales, not one: prefill tokens run as large matrix products and decodes
//! as one row per sequence, whose costs move apart from engine to engine.

use crate::error::CliError;
use crate::{load, output};
use rayon::prelude::*;
use serde::Serialize;
use sim::scenario::llm::IterationTime;
use sim::scenario::{Arrivals, Scenario, TimeUnit, Traffic};
use sim::units::Duration;
use std::path::{Path, PathBuf};

/// One measured load point: its file (the requests to replay) and its percentiles.
struct Point {
    file: PathBuf,
    requests: usize,
    rate: f64,
    last_sent_s: f64,
    ttft: [f64; 2],
    tpot: [f64; 2],
}

/// p50 and p99 of TTFT and TPOT, in ms.
#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Figures {
    ttft_p50_ms: f64,
    ttft_p99_ms: f64,
    tpot_p50_ms: f64,
    tpot_p99_ms: f64,
}

/// Nearest-rank percentile, as load generators report them.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn read_point(path: &Path) -> Result<Point, CliError> {
    let bytes = crate::input::read(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| CliError::input(format!("{}: {e}", path.display())))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            CliError::input(format!(
                "{}:1:1: an LLM load test needs columns sent_s, prompt_tokens, output_tokens, ttft_ms, tpot_ms; {name:?} is missing",
                path.display()
            ))
        })
    };
    let [sent, prompt, output, ttft, tpot] =
        ["sent_s", "prompt_tokens", "output_tokens", "ttft_ms", "tpot_ms"].map(column);
    let (sent, prompt, output, ttft, tpot) = (sent?, prompt?, output?, ttft?, tpot?);
    let (mut ttfts, mut tpots, mut last) = (Vec::new(), Vec::new(), 0.0_f64);
    let mut requests = 0;
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        let line = row + 2;
        let number = |i: usize, what: &str| -> Result<Option<f64>, CliError> {
            let text = record.get(i).unwrap_or("").trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Some).ok_or_else(|| {
                CliError::input(format!("{}:{line}: {what} {text:?} is not a non-negative number", path.display()))
            })
        };
        let at = number(sent, "sent_s")?
            .ok_or_else(|| CliError::input(format!("{}:{line}: sent_s is empty", path.display())))?;
        for (i, what) in [(prompt, "prompt_tokens"), (output, "output_tokens")] {
            if number(i, what)?.is_none() {
                return Err(CliError::input(format!("{}:{line}: {what} is empty", path.display())));
            }
        }
        last = last.max(at);
        requests += 1;
        if let Some(v) = number(ttft, "ttft_ms")? {
            ttfts.push(v);
        }
        if let Some(v) = number(tpot, "tpot_ms")? {
            tpots.push(v);
        }
    }
    if ttfts.len() < 2 || tpots.len() < 2 {
        return Err(CliError::input(format!(
            "{}: needs at least two requests with ttft_ms and tpot_ms (outputs of 2 tokens or more)",
            path.display()
        )));
    }
    Ok(Point {
        file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        requests,
        rate: requests as f64 / last.max(1e-3),
        last_sent_s: last,
        ttft: [percentile(&mut ttfts, 0.5), percentile(&mut ttfts, 0.99)],
        tpot: [percentile(&mut tpots, 0.5), percentile(&mut tpots, 0.99)],
    })
}

/// The scenario replaying `point`'s requests, with `iteration` as the engine's iteration time.
fn replay(base: &Scenario, point: &Point, iteration: &IterationTime) -> Scenario {
    let mut scenario = base.clone();
    let origin = scenario.regions.keys().next().cloned().unwrap_or_default();
    scenario.traffic = vec![Traffic {
        origin,
        endpoint: None,
        arrivals: Arrivals::Trace {
            file: point.file.display().to_string(),
            timestamp_column: "sent_s".into(),
            timestamp_unit: TimeUnit::Seconds,
            format: None,
            truncate: false,
            size_column: Some("prompt_tokens".into()),
            output_column: Some("output_tokens".into()),
            hash_column: None,
            hash_block_tokens: 512,
            origin: "0".into(),
            speedup: 1.0,
        },
        tokens: None,
    }];
    scenario.warmup = Duration(0);
    scenario.duration = Duration::from_secs_f64(point.last_sent_s.ceil() + 1.0);
    // One time-series row: the fit reads only the replay's percentiles.
    scenario.interval = scenario.duration;
    let serving = scenario.serving.as_mut().expect("checked: a top-level [serving]");
    serving.llm.as_mut().expect("checked: an LLM engine").iteration = Some(iteration.clone());
    scenario
}

/// One setting of what is fitted: the overhead, and scales of the per-token (and per-KV-token)
/// and per-sequence times.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
struct Fit {
    overhead_ms: f64,
    token_scale: f64,
    sequence_scale: f64,
}

/// The iteration time with its overhead set and its other parts scaled.
fn candidate(base: &IterationTime, fit: Fit) -> IterationTime {
    let scaled = |d: &Duration, scale: f64| Duration::from_secs_f64(d.0 as f64 * scale / 1e9);
    IterationTime {
        overhead: Duration::from_secs_f64(fit.overhead_ms / 1e3),
        per_token: scaled(&base.per_token, fit.token_scale),
        per_sequence: scaled(&base.per_sequence, fit.sequence_scale),
        per_kv_token: scaled(&base.per_kv_token, fit.token_scale),
    }
}

fn simulate(
    loaded: &load::Loaded,
    inputs: &sim::Inputs,
    point: &Point,
    iteration: &IterationTime,
) -> Result<Figures, String> {
    let scenario = replay(&loaded.scenario, point, iteration);
    let model = sim::build(&scenario, inputs).map_err(|e| e.to_string())?;
    let summary = sim::run(&model, &sim::RunOptions::seeded(scenario.seed)).summary;
    let llm = summary.overall.llm.ok_or("the replay measured no LLM requests")?;
    let get = |v: Option<f64>| v.unwrap_or(f64::NAN);
    Ok(Figures {
        ttft_p50_ms: get(llm.ttft_ms.p50),
        ttft_p99_ms: get(llm.ttft_ms.p99),
        tpot_p50_ms: get(llm.tpot_ms.p50),
        tpot_p99_ms: get(llm.tpot_ms.p99),
    })
}

/// Squared log-ratios of simulated to measured p50s (weight 1) and p99s (weight ½).
fn loss(points: &[&Point], figures: &[Figures]) -> f64 {
    points
        .iter()
        .zip(figures)
        .map(|(p, f)| {
            let term = |sim: f64, measured: f64| {
                let r = (sim / measured).ln();
                if r.is_finite() {
                    r * r
                } else {
                    100.0
                }
            };
            term(f.ttft_p50_ms, p.ttft[0])
                + term(f.tpot_p50_ms, p.tpot[0])
                + 0.5 * (term(f.ttft_p99_ms, p.ttft[1]) + term(f.tpot_p99_ms, p.tpot[1]))
        })
        .sum()
}

#[derive(Serialize)]
struct Row {
    point: usize,
    role: &'static str,
    offered_rps: f64,
    requests: usize,
    measured_ttft_p50_ms: f64,
    measured_ttft_p99_ms: f64,
    measured_tpot_p50_ms: f64,
    measured_tpot_p99_ms: f64,
    uncalibrated_ttft_p50_ms: f64,
    uncalibrated_tpot_p50_ms: f64,
    calibrated_ttft_p50_ms: f64,
    calibrated_ttft_p99_ms: f64,
    calibrated_tpot_p50_ms: f64,
    calibrated_tpot_p99_ms: f64,
    error_ttft_p50: f64,
    error_ttft_p99: f64,
    error_tpot_p50: f64,
    error_tpot_p99: f64,
    origin: String,
}

#[derive(Serialize)]
struct Report {
    scenario: String,
    load_tests: Vec<String>,
    fit_points: Vec<usize>,
    fitted: Fit,
    loss: f64,
    holdout_max_abs_error_ttft_p50: Option<f64>,
    holdout_max_abs_error_ttft_p99: Option<f64>,
    holdout_max_abs_error_tpot_p50: Option<f64>,
    holdout_max_abs_error_tpot_p99: Option<f64>,
    uncalibrated_max_abs_error_ttft_p50: f64,
    uncalibrated_max_abs_error_tpot_p50: f64,
}

pub fn calibrate(args: &super::CalibrateArgs, loaded: &load::Loaded, fit: Option<&str>) -> Result<(), CliError> {
    let llm = loaded.scenario.serving.as_ref().and_then(|s| s.llm.as_ref()).expect("the caller checked");
    let Some(base) = llm.iteration.clone() else {
        return Err(CliError::input(format!(
            "{}: calibrate fits an LLM engine's iteration time: give [serving.llm] iteration (the prior it starts from) rather than model",
            loaded.path.display()
        )));
    };
    let mut points = args.loadtests.iter().map(|p| read_point(p)).collect::<Result<Vec<_>, _>>()?;
    points.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    if points.len() < 2 {
        return Err(CliError::input("calibrate needs at least two load points (a low and a high rate)".to_string()));
    }
    let fit_points = super::parse_fit(fit, points.len())?;
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-calibrate"));
    let (_, pool) = crate::run::thread_pool(args.threads)?;
    let _lock = output::lock_output(&out)?;
    // The load tests' files are read as traces: the same inputs for every candidate.
    let mut inputs = loaded.inputs.clone();
    for point in &points {
        let scenario = replay(&loaded.scenario, point, &base);
        load::load_files(&loaded.path, &scenario, &mut inputs, &|_, message| CliError::input(message))?;
    }
    let run_all = |iteration: &IterationTime, which: &[&Point]| -> Result<Vec<Figures>, CliError> {
        which
            .iter()
            .map(|p| simulate(loaded, &inputs, p, iteration))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| CliError::input(format!("{}: {e}", args.scenario.display())))
    };
    let fitted: Vec<&Point> = fit_points.iter().map(|&k| &points[k]).collect();
    // Log grids over the overhead (0.1 ms–1 s) and both scales (×0.05–×20), then finer ones
    // around the best: each candidate replays the fitted points whole, with the same seed.
    let search = |grid: Vec<Fit>| -> Result<(f64, Fit), CliError> {
        let scored = pool.install(|| {
            grid.par_iter()
                .map(|&fit| run_all(&candidate(&base, fit), &fitted).map(|f| (loss(&fitted, &f), fit)))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(scored.into_iter().fold((f64::INFINITY, grid[0]), |best, c| if c.0 < best.0 { c } else { best }))
    };
    let log_range = |low: f64, high: f64, n: usize| -> Vec<f64> {
        (0..n).map(|k| (low.ln() + (high.ln() - low.ln()) * k as f64 / (n - 1) as f64).exp()).collect()
    };
    let grid = |overheads: Vec<f64>, tokens: Vec<f64>, sequences: Vec<f64>| -> Vec<Fit> {
        let mut out = Vec::new();
        for &overhead_ms in &overheads {
            for &token_scale in &tokens {
                for &sequence_scale in &sequences {
                    out.push(Fit { overhead_ms, token_scale, sequence_scale });
                }
            }
        }
        out
    };
    let (mut best, mut fit) =
        search(grid(log_range(0.1, 1000.0, 13), log_range(0.05, 20.0, 13), log_range(0.05, 20.0, 13)))?;
    for width in [2.0_f64, 1.3, 1.08] {
        let around = |x: f64| log_range(x / width, x * width, 7);
        let (l, f) = search(grid(around(fit.overhead_ms), around(fit.token_scale), around(fit.sequence_scale)))?;
        if l < best {
            (best, fit) = (l, f);
        }
    }
    let all: Vec<&Point> = points.iter().collect();
    let uncalibrated = run_all(&base, &all)?;
    let fitted_iteration = candidate(&base, fit);
    let calibrated = run_all(&fitted_iteration, &all)?;
    let rows: Vec<Row> = points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let (u, c) = (uncalibrated[k], calibrated[k]);
            Row {
                point: k + 1,
                role: if fit_points.contains(&k) { "fit" } else { "hold-out" },
                offered_rps: p.rate,
                requests: p.requests,
                measured_ttft_p50_ms: p.ttft[0],
                measured_ttft_p99_ms: p.ttft[1],
                measured_tpot_p50_ms: p.tpot[0],
                measured_tpot_p99_ms: p.tpot[1],
                uncalibrated_ttft_p50_ms: u.ttft_p50_ms,
                uncalibrated_tpot_p50_ms: u.tpot_p50_ms,
                calibrated_ttft_p50_ms: c.ttft_p50_ms,
                calibrated_ttft_p99_ms: c.ttft_p99_ms,
                calibrated_tpot_p50_ms: c.tpot_p50_ms,
                calibrated_tpot_p99_ms: c.tpot_p99_ms,
                error_ttft_p50: c.ttft_p50_ms / p.ttft[0] - 1.0,
                error_ttft_p99: c.ttft_p99_ms / p.ttft[1] - 1.0,
                error_tpot_p50: c.tpot_p50_ms / p.tpot[0] - 1.0,
                error_tpot_p99: c.tpot_p99_ms / p.tpot[1] - 1.0,
                origin: p.file.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            }
        })
        .collect();
    let holdout =
        |f: fn(&Row) -> f64| rows.iter().filter(|r| r.role == "hold-out").map(|r| f(r).abs()).reduce(f64::max);
    let uncalibrated_max = |f: fn(&Figures) -> f64, m: fn(&Point) -> f64| {
        uncalibrated.iter().zip(&points).map(|(u, p)| (f(u) / m(p) - 1.0).abs()).fold(0.0, f64::max)
    };
    let sources: Vec<String> = args.loadtests.iter().map(|p| p.display().to_string()).collect();
    let report = Report {
        scenario: args.scenario.display().to_string(),
        load_tests: sources.clone(),
        fit_points: fit_points.iter().map(|k| k + 1).collect(),
        fitted: fit,
        loss: best,
        holdout_max_abs_error_ttft_p50: holdout(|r| r.error_ttft_p50),
        holdout_max_abs_error_ttft_p99: holdout(|r| r.error_ttft_p99),
        holdout_max_abs_error_tpot_p50: holdout(|r| r.error_tpot_p50),
        holdout_max_abs_error_tpot_p99: holdout(|r| r.error_tpot_p99),
        uncalibrated_max_abs_error_ttft_p50: uncalibrated_max(|f| f.ttft_p50_ms, |p| p.ttft[0]),
        uncalibrated_max_abs_error_tpot_p50: uncalibrated_max(|f| f.tpot_p50_ms, |p| p.tpot[0]),
    };
    let mut document: toml::Table = toml::from_str(&loaded.text).expect("the scenario parsed once already");
    let llm_table = document
        .get_mut("serving")
        .and_then(|s| s.as_table_mut())
        .and_then(|s| s.get_mut("llm"))
        .and_then(|l| l.as_table_mut())
        .expect("[serving.llm] is a table in a valid scenario");
    llm_table.insert("iteration".into(), toml::Value::try_from(&fitted_iteration).expect("an iteration serialises"));
    crate::sweep::absolute_paths(&mut document, loaded.path.parent().unwrap_or(std::path::Path::new(".")));
    let mut text = format!(
        "# Calibrated by servesim calibrate: [serving.llm] iteration fitted to {} (points {} fitted).\n",
        sources.join(", "),
        report.fit_points.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
    );
    text.push_str(&toml::to_string(&document).expect("a TOML table serialises"));
    let mut csv_writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        csv_writer.serialize(row).expect("writing to memory");
    }
    output::write_atomic(&out, "calibration.csv", &csv_writer.into_inner().expect("memory"))?;
    output::write_atomic(&out, "calibration.json", &output::json_bytes(&report))?;
    output::write_atomic(&out, "calibrated.toml", text.as_bytes())?;
    if !args.quiet {
        println!(
            "fitted: iteration overhead {:.2} ms, per-token (and per-KV-token) time × {:.3}, per-sequence × {:.3} (loss {best:.4})",
            fit.overhead_ms, fit.token_scale, fit.sequence_scale
        );
        println!(
            "{:>5} {:>9} {:>7} {:>22} {:>22} {:>22} {:>22}",
            "point",
            "role",
            "req/s",
            "TTFT p50/p99 measured",
            "TTFT p50/p99 sim",
            "TPOT p50/p99 measured",
            "TPOT p50/p99 sim"
        );
        for r in &rows {
            println!(
                "{:>5} {:>9} {:>7.2} {:>22} {:>22} {:>22} {:>22}",
                r.point,
                r.role,
                r.offered_rps,
                format!("{:.1} / {:.1}", r.measured_ttft_p50_ms, r.measured_ttft_p99_ms),
                format!("{:.1} / {:.1}", r.calibrated_ttft_p50_ms, r.calibrated_ttft_p99_ms),
                format!("{:.1} / {:.1}", r.measured_tpot_p50_ms, r.measured_tpot_p99_ms),
                format!("{:.1} / {:.1}", r.calibrated_tpot_p50_ms, r.calibrated_tpot_p99_ms),
            );
        }
        println!("wrote {}/{{calibrated.toml,calibration.csv,calibration.json}}", out.display());
    }
    Ok(())
}
