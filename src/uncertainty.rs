//! How far a run's p50 and p99 may be off because its inputs are estimates: the service time
//! (within its source's band: measured, interpolated, roofline-estimated, calibrated) and the
//! per-request overhead. The scenario runs again with every input at the low and at the high end
//! of its band (the 68% band of the result), and with each input alone at its high end, which
//! says which one dominates. Same seed as the run, so only the inputs differ.

use crate::error::CliError;
use rayon::prelude::*;
use sim::scenario::Scenario;
use sim::summary::Summary;
use sim::whatif::{self, Band};
use sim::{Inputs, RunOptions};

/// How an input is changed: a what-if transformation and its factor.
type Change = (fn(&mut Scenario, f64), f64);

struct Input {
    name: &'static str,
    band: Band,
    apply: fn(&mut Scenario, f64),
}

fn inputs(scenario: &Scenario, inputs: &Inputs) -> Vec<Input> {
    let mut out = vec![Input {
        name: "service time",
        band: whatif::service_time_band(scenario, inputs),
        apply: whatif::scale_service_time,
    }];
    if whatif::has_overhead(scenario) {
        out.push(Input {
            name: "per-request overhead",
            band: whatif::overhead_band(scenario),
            apply: whatif::scale_overhead,
        });
    }
    out
}

/// p50 and p99 (ms) of `scenario` with each input scaled by its factor.
fn run_with(
    scenario: &Scenario,
    data: &Inputs,
    seed: u64,
    factors: &[Change],
) -> Result<(Option<f64>, Option<f64>), String> {
    let mut s = scenario.clone();
    for (apply, factor) in factors {
        apply(&mut s, *factor);
    }
    let model = sim::build(&s, data).map_err(|e| e.to_string())?;
    let latency = sim::run(&model, &RunOptions::seeded(seed)).summary.overall.latency_ms;
    Ok((latency.p50, latency.p99))
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.2}"))
}

fn change(value: Option<f64>, nominal: Option<f64>) -> String {
    match (value, nominal) {
        (Some(v), Some(n)) if n > 0.0 => format!("{v:.2} ({:+.0}%)", (v / n - 1.0) * 100.0),
        _ => ms(value),
    }
}

pub fn analyse(
    scenario: &Scenario,
    data: &Inputs,
    seed: u64,
    nominal: &Summary,
    pool: &rayon::ThreadPool,
) -> Result<reports::UncertaintySection, CliError> {
    let inputs = inputs(scenario, data);
    // Runs: all low, all high, then each input alone at its high end (when there are several).
    let mut cases: Vec<Vec<Change>> = vec![
        inputs.iter().map(|i| (i.apply, i.band.low)).collect(),
        inputs.iter().map(|i| (i.apply, i.band.high)).collect(),
    ];
    if inputs.len() > 1 {
        cases.extend(inputs.iter().map(|i| vec![(i.apply, i.band.high)]));
    }
    let results: Vec<(Option<f64>, Option<f64>)> = pool
        .install(|| cases.par_iter().map(|factors| run_with(scenario, data, seed, factors)).collect::<Result<_, _>>())
        .map_err(|e| CliError::input(format!("uncertainty band: {e}")))?;
    let (p50, p99) = (nominal.overall.latency_ms.p50, nominal.overall.latency_ms.p99);
    let (low, high) = (results[0], results[1]);
    let alone = |k: usize| if inputs.len() > 1 { results[2 + k] } else { high };
    let dominant = (0..inputs.len())
        .max_by(|&a, &b| alone(a).1.unwrap_or(f64::INFINITY).total_cmp(&alone(b).1.unwrap_or(f64::INFINITY)))
        .expect("the service time is always an input");
    let mut rows =
        vec![["input", "where its numbers come from", "band", "p50 ms at its high end", "p99 ms at its high end"]
            .map(String::from)
            .to_vec()];
    for (k, input) in inputs.iter().enumerate() {
        rows.push(vec![
            input.name.to_string(),
            input.band.basis.clone(),
            format!("×{:.2}–×{:.2}", input.band.low, input.band.high),
            change(alone(k).0, p50),
            change(alone(k).1, p99),
        ]);
    }
    rows.push(vec![
        "all together".into(),
        "every input at the low, then the high end".into(),
        String::new(),
        format!("{}–{}", ms(low.0), ms(high.0)),
        format!("{}–{}", ms(low.1), ms(high.1)),
    ]);
    let dominates = if inputs.len() > 1 {
        format!(
            "the {} dominates ({}): alone at its high end it takes p99 to {} ms",
            inputs[dominant].name,
            inputs[dominant].band.basis,
            ms(alone(dominant).1)
        )
    } else {
        format!("the service time ({}) is the only estimated input", inputs[0].band.basis)
    };
    let headline = format!(
        "p50 {} ms (likely {}–{}), p99 {} ms (likely {}–{}) with every estimated input within its band; {dominates}.",
        ms(p50),
        ms(low.0),
        ms(high.0),
        ms(p99),
        ms(low.1),
        ms(high.1)
    );
    Ok(reports::UncertaintySection { headline, rows })
}
