//! `servesim calibrate` for an LLM engine (`[serving.llm]` with `iteration`): per-request load
//! tests of a real engine (sent_s, prompt_tokens, output_tokens, ttft_ms, tpot_ms per row; what
//! validation/vllm/run.py writes) are replayed request for request, and the iteration's overhead,
//! a scale of its per-token (and per-KV-token) time and a scale of its per-sequence time are
//! fitted so that the simulated TTFT and TPOT percentiles match the fitted points; the others are
//! a hold-out check. Two scales, not one: prefill tokens run as large matrix products and decodes
//! as one row per sequence, whose costs move apart from engine to engine. A fourth figure is each
//! request's time in the server outside the engine's iterations (`serving.overhead.pre`: an
//! OpenAI-compatible front end parsing the request and handing it to the engine process, and the
//! first chunk's way out): it is in every TTFT and in no TPOT. That time and the per-token,
//! per-KV-token and per-attention-pair costs are read off the fitted points' requests that ran
//! alone (`lone.rs`), and the fit scales around them; with too few lone requests the prior's parts
//! stay and the time outside is fitted with the rest.

use super::lone::{lone_costs, Lone, LoneCosts};
use crate::error::CliError;
use crate::{load, output};
use rayon::prelude::*;
use serde::Serialize;
use sim::scenario::llm::IterationTime;
use sim::scenario::{Arrivals, Dist, Scenario, TimeUnit, Traffic};
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
    /// The spread of each of those four figures' log (`log_spread`): TTFT p50, p99, TPOT p50, p99.
    spread: [f64; 4],
    /// Requests that ran alone, of 2 outputs or more.
    alone: Vec<Lone>,
}

/// p50 and p99 of TTFT and TPOT, in ms.
#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Figures {
    ttft_p50_ms: f64,
    ttft_p99_ms: f64,
    tpot_p50_ms: f64,
    tpot_p99_ms: f64,
}

/// Nearest-rank percentile of `sorted`, as load generators report them.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// How far the `q` quantile of `sorted` could be from the population's, as a log: half the log
/// ratio of the order statistics one binomial standard deviation of rank either side of it
/// (sqrt(n q (1 − q)) ranks). A p50 of hundreds of requests is known within a few percent; a p99
/// near saturation, decided by a handful of requests, within tens of percent.
fn log_spread(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as f64;
    let rank_sd = (n * q * (1.0 - q)).sqrt().max(1.0);
    let at = |rank: f64| sorted[(rank.round() as usize).clamp(1, sorted.len()) - 1].max(1e-9);
    (at(n * q + rank_sd) / at(n * q - rank_sd)).ln() / 2.0
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
    // (sent, last token, prompt tokens, output tokens, TTFT, TPOT if 2 outputs or more) of every
    // request.
    let mut spans: Vec<(f64, f64, f64, f64, f64, Option<f64>)> = Vec::new();
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
        let [prompt_tokens, output_tokens] = [(prompt, "prompt_tokens"), (output, "output_tokens")].map(|(i, what)| {
            number(i, what)?.ok_or_else(|| CliError::input(format!("{}:{line}: {what} is empty", path.display())))
        });
        let (prompt_tokens, output_tokens) = (prompt_tokens?, output_tokens?);
        last = last.max(at);
        requests += 1;
        let (first, per_token) = (number(ttft, "ttft_ms")?, number(tpot, "tpot_ms")?);
        if let Some(v) = first {
            ttfts.push(v);
        }
        if let Some(v) = per_token {
            tpots.push(v);
        }
        if let Some(first) = first {
            let per_token = per_token.filter(|_| output_tokens >= 2.0);
            let end = at + (first + per_token.unwrap_or(0.0) * (output_tokens - 1.0).max(0.0)) / 1e3;
            spans.push((at, end, prompt_tokens, output_tokens, first, per_token));
        }
    }
    // Alone: no other request in flight at any time between its send and its last token. Sorted
    // by send, a request is alone when it starts after every earlier one ended and ends before
    // the next starts.
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut alone = Vec::new();
    let mut ended = f64::NEG_INFINITY;
    for (k, &(at, end, prompt_tokens, output_tokens, first, per_token)) in spans.iter().enumerate() {
        let next = spans.get(k + 1).map_or(f64::INFINITY, |s| s.0);
        if let Some(per_token) = per_token.filter(|_| at >= ended && end <= next && prompt_tokens >= 1.0) {
            alone.push(Lone { prompt: prompt_tokens, output: output_tokens, ttft_ms: first, tpot_ms: per_token });
        }
        ended = ended.max(end);
    }
    if ttfts.len() < 2 || tpots.len() < 2 {
        return Err(CliError::input(format!(
            "{}: needs at least two requests with ttft_ms and tpot_ms (outputs of 2 tokens or more)",
            path.display()
        )));
    }
    ttfts.sort_by(f64::total_cmp);
    tpots.sort_by(f64::total_cmp);
    Ok(Point {
        file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        requests,
        rate: requests as f64 / last.max(1e-3),
        last_sent_s: last,
        ttft: [percentile(&ttfts, 0.5), percentile(&ttfts, 0.99)],
        tpot: [percentile(&tpots, 0.5), percentile(&tpots, 0.99)],
        spread: [log_spread(&ttfts, 0.5), log_spread(&ttfts, 0.99), log_spread(&tpots, 0.5), log_spread(&tpots, 0.99)],
        alone,
    })
}

/// The scenario replaying `point`'s requests, with `iteration` as the engine's iteration time and
/// `request` as each request's time outside it (`None`: the scenario's own).
fn replay(base: &Scenario, point: &Point, iteration: &IterationTime, request: Option<Duration>) -> Scenario {
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
    if let Some(value) = request {
        serving.overhead.pre = Some(Dist::Constant { value });
    }
    scenario
}

/// One setting of what is fitted: the overhead, scales of the per-token (and per-KV-token) and
/// per-sequence times, and each request's time outside the iterations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
struct Fit {
    overhead_ms: f64,
    token_scale: f64,
    sequence_scale: f64,
    request_ms: f64,
}

impl Fit {
    fn request(&self) -> Duration {
        Duration::from_secs_f64(self.request_ms / 1e3)
    }
}

/// The prior with the parts lone requests measured: per token, per KV token, per attention pair.
fn measured_prior(prior: &IterationTime, measured: &LoneCosts) -> IterationTime {
    let ms = |v: f64| Duration::from_secs_f64(v / 1e3);
    IterationTime {
        per_token: ms(measured.per_token_ms),
        per_kv_token: ms(measured.per_kv_token_ms),
        per_attention_pair: ms(measured.per_attention_pair_ms),
        ..prior.clone()
    }
}

/// The iteration time with its overhead set and its other parts scaled.
fn candidate(base: &IterationTime, fit: Fit) -> IterationTime {
    let scaled = |d: &Duration, scale: f64| Duration::from_secs_f64(d.0 as f64 * scale / 1e9);
    IterationTime {
        overhead: Duration::from_secs_f64(fit.overhead_ms / 1e3),
        per_token: scaled(&base.per_token, fit.token_scale),
        per_sequence: scaled(&base.per_sequence, fit.sequence_scale),
        per_kv_token: scaled(&base.per_kv_token, fit.token_scale),
        per_attention_pair: scaled(&base.per_attention_pair, fit.token_scale),
    }
}

fn simulate(
    loaded: &load::Loaded,
    inputs: &sim::Inputs,
    point: &Point,
    iteration: &IterationTime,
    request: Option<Duration>,
) -> Result<Figures, String> {
    let scenario = replay(&loaded.scenario, point, iteration, request);
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

/// Squared log-ratios of simulated to measured figures, each weighted by how well it is measured
/// (the inverse square of its `log_spread`, at least 2%): a p99 that a few requests decide
/// counts for less than a p50 that hundreds do, so the fit does not bend the engine's costs to
/// chase the tail of a saturated point.
fn loss(points: &[&Point], figures: &[Figures]) -> f64 {
    points
        .iter()
        .zip(figures)
        .map(|(p, f)| {
            let simulated = [f.ttft_p50_ms, f.ttft_p99_ms, f.tpot_p50_ms, f.tpot_p99_ms];
            let measured = [p.ttft[0], p.ttft[1], p.tpot[0], p.tpot[1]];
            (0..4)
                .map(|k| {
                    let r = (simulated[k] / measured[k]).ln();
                    let weight = 1.0 / p.spread[k].max(MIN_SPREAD).powi(2);
                    if r.is_finite() {
                        weight * r * r
                    } else {
                        100.0 * weight
                    }
                })
                .sum::<f64>()
        })
        .sum()
}

/// The smallest spread a figure is weighted by: timings repeat no better than this between runs.
const MIN_SPREAD: f64 = 0.02;

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
    /// What the fitted points' lone requests measured (the fit's scales multiply these).
    lone_requests: Option<LoneCosts>,
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
    let Some(prior) = llm.iteration.clone() else {
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
        let scenario = replay(&loaded.scenario, point, &prior, None);
        load::load_files(&loaded.path, &scenario, &mut inputs, &|_, message| CliError::input(message))?;
    }
    let run_all =
        |iteration: &IterationTime, request: Option<Duration>, which: &[&Point]| -> Result<Vec<Figures>, CliError> {
            which
                .iter()
                .map(|p| simulate(loaded, &inputs, p, iteration, request))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| CliError::input(format!("{}: {e}", args.scenario.display())))
        };
    let fitted: Vec<&Point> = fit_points.iter().map(|&k| &points[k]).collect();
    // Lone requests whose prompt took one iteration (a longer one is chunked: more iterations
    // than the formulas count).
    let one_iteration = if llm.enable_chunked_prefill { f64::from(llm.max_num_batched_tokens) } else { f64::INFINITY };
    let lone: Vec<Lone> =
        fitted.iter().flat_map(|p| p.alone.iter().copied()).filter(|r| r.prompt <= one_iteration).collect();
    let measured = lone_costs(&lone);
    let base = measured.as_ref().map_or_else(|| prior.clone(), |m| measured_prior(&prior, m));
    let measured_request = measured.as_ref().map(|m| m.request_ms);
    // Log grids over the overhead (0.1 ms–1 s) and both scales (×0.05–×20), then finer ones around
    // the best; the time outside the iterations is the measured one throughout, or without lone
    // requests none on the first grid and fitted on the finer ones (from 0 to 16 ms at first).
    // Each candidate replays the fitted points whole, with the same seed.
    let search = |grid: Vec<Fit>| -> Result<(f64, Fit), CliError> {
        let scored = pool.install(|| {
            grid.par_iter()
                .map(|&fit| {
                    run_all(&candidate(&base, fit), Some(fit.request()), &fitted).map(|f| (loss(&fitted, &f), fit))
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(scored.into_iter().fold((f64::INFINITY, grid[0]), |best, c| if c.0 < best.0 { c } else { best }))
    };
    let log_range = |low: f64, high: f64, n: usize| -> Vec<f64> {
        (0..n).map(|k| (low.ln() + (high.ln() - low.ln()) * k as f64 / (n - 1) as f64).exp()).collect()
    };
    let grid = |overheads: Vec<f64>, tokens: Vec<f64>, sequences: Vec<f64>, requests: Vec<f64>| -> Vec<Fit> {
        let mut out = Vec::new();
        for &overhead_ms in &overheads {
            for &token_scale in &tokens {
                for &sequence_scale in &sequences {
                    for &request_ms in &requests {
                        out.push(Fit { overhead_ms, token_scale, sequence_scale, request_ms });
                    }
                }
            }
        }
        out
    };
    let (mut best, mut fit) = search(grid(
        log_range(0.1, 1000.0, 13),
        log_range(0.05, 20.0, 13),
        log_range(0.05, 20.0, 13),
        vec![measured_request.unwrap_or(0.0)],
    ))?;
    for width in [2.0_f64, 1.3, 1.08] {
        let around = |x: f64, n: usize| log_range(x / width, x * width, n);
        // Measured, it stays; else it is fitted too (from 0 to 16 ms at first), on coarser grids.
        let (n, requests) = match measured_request {
            Some(ms) => (7, vec![ms]),
            None if fit.request_ms == 0.0 => (5, vec![0.0, 1.0, 2.0, 4.0, 8.0, 16.0]),
            None => (5, around(fit.request_ms, 5)),
        };
        let candidates =
            grid(around(fit.overhead_ms, n), around(fit.token_scale, n), around(fit.sequence_scale, n), requests);
        let (l, f) = search(candidates)?;
        if l < best {
            (best, fit) = (l, f);
        }
    }
    let all: Vec<&Point> = points.iter().collect();
    let uncalibrated = run_all(&prior, None, &all)?;
    let fitted_iteration = candidate(&base, fit);
    let calibrated = run_all(&fitted_iteration, Some(fit.request()), &all)?;
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
        lone_requests: measured,
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
    let serving_table = document.get_mut("serving").and_then(|s| s.as_table_mut()).expect("checked above");
    let overhead = serving_table
        .entry("overhead")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[serving.overhead] is a table in a valid scenario");
    let pre = Dist::Constant { value: fit.request() };
    overhead.insert("pre".into(), toml::Value::try_from(&pre).expect("a distribution serialises"));
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
            "fitted: iteration overhead {:.2} ms, per-token (and per-KV-token) time × {:.3}, per-sequence × {:.3}, per request outside the iterations {:.2} ms (loss {best:.4})",
            fit.overhead_ms, fit.token_scale, fit.sequence_scale, fit.request_ms
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_decided_by_few_requests_is_known_less_well() {
        // 1..=1000: the p50 (500) sits between ranks 484 and 516 (± sqrt(1000 · ¼) ≈ 15.8):
        // ln(516/484)/2 ≈ 3.2%; the p99 between ranks 987 and 993: ln(993/987)/2 ≈ 0.3%.
        let uniform: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert!((log_spread(&uniform, 0.5) - (516.0_f64 / 484.0).ln() / 2.0).abs() < 1e-12);
        assert!((log_spread(&uniform, 0.99) - (993.0_f64 / 987.0).ln() / 2.0).abs() < 1e-12);
        // A tail that doubles at every one of its last ten ranks: ranks 987–993 span a factor
        // of 8.1, a spread of 1.05, so a miss there weighs 1/1.05² ≈ 0.9 against the p50's ~1000.
        let tail: Vec<f64> =
            (1..=1000).map(|k| if k > 990 { 1000.0 * 2f64.powi(k - 990) } else { f64::from(k) }).collect();
        assert!((log_spread(&tail, 0.99) - (8000.0_f64 / 987.0).ln() / 2.0).abs() < 1e-12);
    }

    #[test]
    fn lone_requests_are_the_ones_nothing_overlapped() {
        // Ten requests 20 s apart run alone; the two at 10 s overlap (the second is sent while
        // the first decodes), so neither counts.
        let mut rows = String::from("sent_s,prompt_tokens,output_tokens,ttft_ms,tpot_ms\n");
        for (k, prompt) in [11.0, 51.0, 101.0, 201.0, 401.0, 21.0, 31.0, 61.0, 81.0, 121.0].iter().enumerate() {
            rows.push_str(&format!("{},{prompt},8,{},10.2\n", k as f64 * 20.0 + 1.0, 14.0 + 0.2 * prompt));
        }
        rows.push_str("10.0,100,50,60,10.2\n10.1,100,50,70,10.2\n");
        let dir = std::env::temp_dir().join(format!("servesim-lone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("point.csv");
        std::fs::write(&file, rows).unwrap();
        let point = read_point(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(point.requests, 12);
        assert_eq!(point.alone.len(), 10);
        assert!(point.alone.iter().all(|r| r.prompt != 100.0 && r.output == 8.0 && r.tpot_ms == 10.2));
    }
}
