//! `servesim compare`: one model and one traffic description served three ways — online, precomputed
//! nightly by a batch job and looked up, or on the client's device — as one table (cost per
//! million predictions, latency, staleness) and one chart for a design review.

use crate::error::CliError;
use crate::{load, output};
use sim::path;
use sim::scenario::jobs::Compare;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Scenario file (TOML) with a [compare] section, online traffic or a predictions_per_day, and a [[jobs]] entry.
    scenario: PathBuf,
    /// Output folder (default: servesim-out/<scenario file name>-compare).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Price file replacing the bundled catalog.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// How far `predictions_per_day` may stray from the simulated traffic's daily count: rounding in
/// what the user wrote, not a different load.
const PER_DAY_TOLERANCE: f64 = 0.01;

/// A count as people write it: whole when it is whole.
fn shortest(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Days in an average month (365.25 / 12).
const DAYS_PER_MONTH: f64 = 30.4375;

/// One way of serving, as the table shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ServingOption {
    pub option: String,
    pub usd_per_million_predictions: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// How old the prediction (or the model behind it) is when used: mean and worst, hours.
    pub staleness_mean_h: f64,
    pub staleness_max_h: f64,
    pub notes: String,
}

pub fn compare(args: &CompareArgs) -> Result<(), CliError> {
    let loaded = load::load(&args.scenario, args.prices.as_deref())?;
    let model = loaded.build()?;
    loaded.warn();
    let Some(spec) = &loaded.scenario.compare else {
        return Err(CliError::input(format!(
            "{}: no [compare] section: add one with lookup (and edge) to compare online, batch and edge serving",
            args.scenario.display()
        )));
    };
    let seed = args.seed.unwrap_or(model.seed);
    let (_, pool) = crate::run::thread_pool(None)?;
    let options = evaluate(&loaded, &model, spec, seed, &pool)?;
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-compare"));
    let mut set = output::OutputSet::begin(&out)?;
    set.write("compare.csv", &csv_bytes(&options))?;
    set.write("compare.json", &output::json_bytes(&options))?;
    set.write("compare.html", render(&model.name, &options).as_bytes())?;
    set.finish()?;
    if !args.quiet {
        println!(
            "{:<34} {:>14} {:>10} {:>10} {:>13} {:>12}",
            "option", "USD/M predict.", "p50 ms", "p99 ms", "staleness h", "worst h"
        );
        for o in &options {
            println!(
                "{:<34} {:>14.3} {:>10.2} {:>10.2} {:>13.1} {:>12.1}",
                o.option,
                o.usd_per_million_predictions,
                o.latency_p50_ms,
                o.latency_p99_ms,
                o.staleness_mean_h,
                o.staleness_max_h
            );
        }
        println!("wrote {}/{{compare.csv,compare.json,compare.html}}", out.display());
    }
    Ok(())
}

/// Every source's mean rate a day and the tolerance it is held to, when every source has one
/// (no schedule or trace, whose rate only a run tells).
fn exact_traffic_per_day(model: &sim::Model) -> Option<(f64, f64)> {
    if !model.has_online() {
        return None;
    }
    let rates: Option<Vec<f64>> = model.sources.iter().map(|s| s.process.mean_rate_per_sec()).collect();
    rates.map(|rates| (rates.iter().sum::<f64>() * 86_400.0, PER_DAY_TOLERANCE))
}

/// The predictions a day every option serves: the simulated online traffic's (`traffic_per_day`,
/// with the relative difference that still counts as the same rate), or `predictions_per_day`
/// when there is no online traffic or it agrees.
fn predictions_per_day(
    loaded: &load::Loaded,
    spec: &Compare,
    traffic_per_day: Option<(f64, f64)>,
) -> Result<f64, CliError> {
    let at = |key: &str| path!["compare", key];
    let err = |path: sim::scenario::KeyPath, message: String| loaded.error_at(&path, &message);
    match (spec.predictions_per_day, traffic_per_day) {
        (Some(p), _) if !(p.is_finite() && p > 0.0) => {
            Err(err(at("predictions_per_day"), format!("predictions_per_day must be positive, got {p}")))
        }
        (Some(p), Some((traffic, tolerance))) if (p - traffic).abs() > tolerance * traffic => Err(err(
            at("predictions_per_day"),
            format!(
                "predictions_per_day ({}) disagrees with the online traffic the scenario simulates ({} a day): \
                     the online fleet would be sized for one and its cost divided by the other; remove \
                     predictions_per_day (it is then the traffic's) or change the traffic to match",
                shortest(p),
                shortest(traffic)
            ),
        )),
        (Some(p), _) => Ok(p),
        (None, Some((traffic, _))) if traffic > 0.0 => Ok(traffic),
        (None, _) => {
            Err(err(at("predictions_per_day"), "needed: the scenario has no online traffic to take it from".into()))
        }
    }
}

/// What `compare` would refuse before running anything, for `servesim validate`: a
/// `predictions_per_day` that disagrees with traffic whose rate is known without a run.
pub(crate) fn check(loaded: &load::Loaded, model: &sim::Model) -> Result<(), CliError> {
    let Some(spec) = &loaded.scenario.compare else { return Ok(()) };
    match exact_traffic_per_day(model) {
        Some(exact) => predictions_per_day(loaded, spec, Some(exact)).map(|_| ()),
        None if model.has_online() => Ok(()),
        None => predictions_per_day(loaded, spec, None).map(|_| ()),
    }
}

fn evaluate(
    loaded: &load::Loaded,
    model: &sim::Model,
    spec: &Compare,
    seed: u64,
    pool: &rayon::ThreadPool,
) -> Result<Vec<ServingOption>, CliError> {
    let at = |key: &str| path!["compare", key];
    let err = |path: sim::scenario::KeyPath, message: String| loaded.error_at(&path, &message);
    // One rate drives every option: the online fleet is sized by the traffic it simulates, so
    // its cost is divided by that traffic, and the batch and edge options serve the same number.
    let online = model.has_online().then(|| sim::run(model, &sim::RunOptions::seeded(seed)).summary);
    if let Some(reason) = online.as_ref().and_then(|summary| summary.unmeasured(model)) {
        return Err(CliError::input(format!("{}: {reason}", loaded.path.display())));
    }
    let traffic_per_day = match (&online, exact_traffic_per_day(model)) {
        (None, _) => None,
        (Some(_), Some(exact)) => Some(exact),
        // A schedule or a replayed trace: the rate the run offered in its measured window, known
        // to within the Poisson noise of its count (three standard deviations).
        (Some(summary), None) => {
            let offered = summary.overall.throughput.offered_rps;
            let count = offered * (summary.duration_s - summary.warmup_s);
            Some((offered * 86_400.0, PER_DAY_TOLERANCE.max(3.0 / count.max(1.0).sqrt())))
        }
    };
    let predictions_per_day = predictions_per_day(loaded, spec, traffic_per_day)?;
    let mut options = Vec::new();

    if let Some(summary) = &online {
        let o = &summary.overall;
        options.push(ServingOption {
            option: "online (real-time serving)".into(),
            usd_per_million_predictions: o.cost.usd_per_hour * 24.0 / predictions_per_day * 1e6,
            latency_p50_ms: o.latency_ms.p50.unwrap_or(f64::NAN),
            latency_p99_ms: o.latency_ms.p99.unwrap_or(f64::NAN),
            staleness_mean_h: 0.0,
            staleness_max_h: 0.0,
            notes: format!(
                "{} replicas around the clock at {:.3} USD/h; scored at request time with fresh features",
                o.replicas, o.cost.usd_per_hour
            ),
        });
    }

    let job = match &spec.job {
        Some(name) => model
            .jobs
            .iter()
            .find(|j| &j.name == name)
            .ok_or_else(|| err(at("job"), format!("no job named {name:?} in [[jobs]]")))?,
        None => model.jobs.first().ok_or_else(|| {
            err(path!["compare"], "the batch option needs a [[jobs]] entry that precomputes the scores".into())
        })?,
    };
    let job_summary = crate::jobs::simulate(std::slice::from_ref(job), seed, pool, true).remove(0).summary;
    let lookup = sim::model::sampler(&path!["compare", "lookup", "latency"], &spec.lookup.latency)
        .map_err(|e| err(e.path.clone(), e.to_string()))?;
    let price = spec.lookup.usd_per_million;
    if !price.is_finite() || price < 0.0 {
        return Err(err(
            path!["compare", "lookup", "usd_per_million"],
            format!("usd_per_million must be zero or positive, got {price}"),
        ));
    }
    let mut rng = sim::rng::stream(seed, "compare/lookup");
    let mut draws: Vec<f64> = (0..100_000).map(|_| lookup.sample(&mut rng) as f64 / 1e6).collect();
    draws.sort_by(f64::total_cmp);
    let makespan = job_summary.makespan_s.as_ref();
    options.push(ServingOption {
        option: format!("batch (nightly job {}, looked up)", job.name),
        usd_per_million_predictions: job_summary.cost.usd_per_run / predictions_per_day * 1e6 + price,
        latency_p50_ms: draws[draws.len() / 2],
        latency_p99_ms: draws[draws.len() * 99 / 100],
        // Scores age from when they are written to the next night's: half a day on average plus
        // half the run; the worst is a day plus a late run.
        staleness_mean_h: 12.0 + makespan.map_or(f64::NAN, |m| m.p50 / 2.0 / 3600.0),
        staleness_max_h: 24.0 + makespan.map_or(f64::NAN, |m| m.p99 / 3600.0),
        notes: format!(
            "{:.2} USD per run for {} records, P(deadline) {}; users missing from last night's run get no score",
            job_summary.cost.usd_per_run,
            job.records,
            job_summary.deadline.as_ref().map_or("-".into(), |d| format!("{:.3}", d.probability))
        ),
    });

    if let Some(edge) = &spec.edge {
        let ep = |key: &str| path!["compare", "edge", key];
        let spec_model = kernels::models::find(&edge.model)
            .ok_or_else(|| err(ep("model"), format!("unknown catalog model {:?}", edge.model)))?;
        for (key, value) in [
            ("slowdown", edge.slowdown),
            ("updates_per_month", edge.updates_per_month),
            ("egress_usd_per_gb", edge.egress_usd_per_gb),
            ("bytes_per_parameter", edge.bytes_per_parameter),
        ] {
            let positive_needed = key == "slowdown" || key == "bytes_per_parameter";
            if !value.is_finite() || value < 0.0 || (positive_needed && value == 0.0) || value > 1e9 {
                return Err(err(
                    ep(key),
                    format!(
                        "{key} must be a finite, {} number, got {value}",
                        if positive_needed { "positive" } else { "non-negative" }
                    ),
                ));
            }
        }
        if edge.devices == 0 {
            return Err(err(ep("devices"), "devices must be at least 1".into()));
        }
        if edge.seq == 0 || edge.seq > 1 << 20 {
            return Err(err(ep("seq"), format!("seq must be between 1 and {}", 1 << 20)));
        }
        let base = loaded.path.parent().unwrap_or(std::path::Path::new("."));
        let table = crate::latency::model_table(&edge.model, &edge.device, None, base, &[edge.seq], 1)
            .map_err(|e| err(ep(e.key()), e.to_string()))?;
        let one = table.by_seq.get(&edge.seq).and_then(|p| p.first()).map_or(f64::NAN, |p| p.1);
        let latency_ms = one / 1e6 * edge.slowdown;
        let parameters =
            spec_model.graph(1, u64::from(edge.seq), kernels::models::Pass::Prefill, kernels::ops::DType::F32).params();
        let gigabytes = parameters as f64 * edge.bytes_per_parameter / 1e9;
        let monthly = edge.devices as f64 * edge.updates_per_month * gigabytes * edge.egress_usd_per_gb;
        let interval_h =
            if edge.updates_per_month > 0.0 { DAYS_PER_MONTH * 24.0 / edge.updates_per_month } else { f64::INFINITY };
        options.push(ServingOption {
            option: "edge (on the client's device)".into(),
            usd_per_million_predictions: monthly / (predictions_per_day * DAYS_PER_MONTH) * 1e6,
            latency_p50_ms: latency_ms,
            latency_p99_ms: latency_ms,
            staleness_mean_h: interval_h / 2.0,
            staleness_max_h: interval_h,
            notes: format!(
                "{:.1} MB model to {} devices {} times a month; {:.3} ms on the profiled CPU × {} slowdown; no server, no network; staleness is the model's age (features are fresh)",
                gigabytes * 1e3,
                edge.devices,
                edge.updates_per_month,
                one / 1e6,
                edge.slowdown
            ),
        });
    }
    Ok(options)
}

fn csv_bytes(options: &[ServingOption]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for o in options {
        writer
            .serialize(ServingOption {
                option: output::csv_text(&o.option).into_owned(),
                notes: output::csv_text(&o.notes).into_owned(),
                ..o.clone()
            })
            .expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

fn render(name: &str, options: &[ServingOption]) -> String {
    use reports::escape;
    let mut out = String::new();
    let title = format!("servesim compare: {}", escape(name));
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}\
         td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}}.text{{text-align:left}}\
         .grid{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}</style></head><body><h1>{title}</h1>\
         <p>The same predictions served three ways. Cost per million predictions counts servers (online), the nightly job \
         and the lookups (batch), or the model downloads (edge). Staleness is how old a prediction (batch) or the model \
         (edge) is when used.</p><table><tr><th class=text>option</th><th>USD per million predictions</th><th>p50 ms</th>\
         <th>p99 ms</th><th>staleness (mean h)</th><th>staleness (worst h)</th><th class=text>notes</th></tr>"
    );
    for o in options {
        let _ = write!(
            out,
            "<tr><td class=text>{}</td><td>{:.3}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}</td><td>{:.1}</td><td class=text>{}</td></tr>",
            escape(&o.option),
            o.usd_per_million_predictions,
            o.latency_p50_ms,
            o.latency_p99_ms,
            o.staleness_mean_h,
            o.staleness_max_h,
            escape(&o.notes)
        );
    }
    out.push_str("</table><div class=grid>");
    let cost: Vec<(String, f64)> = options.iter().map(|o| (o.option.clone(), o.usd_per_million_predictions)).collect();
    let latency: Vec<(String, f64)> = options.iter().map(|o| (o.option.clone(), o.latency_p99_ms)).collect();
    let _ = writeln!(
        out,
        "<div>{}</div><div>{}</div></div><p>Data: compare.csv, compare.json.</p></body></html>",
        reports::charts::bars("Cost per million predictions (USD)", "USD", &cost),
        reports::charts::bars("p99 latency (ms)", "ms", &latency)
    );
    out
}
