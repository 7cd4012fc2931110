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

/// The "likely" range of a percentile: from its value with every input at the low end to the high
/// end, when that brackets the estimate itself. When it does not (the system is not monotone in
/// its inputs), the range of every case run and the estimate, and `true` so that the line says why.
fn likely(estimate: Option<f64>, low: Option<f64>, high: Option<f64>, cases: &[Option<f64>]) -> (String, bool) {
    let (Some(estimate), Some(low), Some(high)) = (estimate, low, high) else {
        return (format!("{}–{}", ms(low), ms(high)), false);
    };
    if low.min(high) <= estimate && estimate <= low.max(high) {
        return (format!("{}–{}", ms(Some(low)), ms(Some(high))), false);
    }
    let values = cases.iter().flatten().copied().chain([estimate]);
    let (least, most) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    (format!("{}–{}", ms(Some(least)), ms(Some(most))), true)
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
    let p50s: Vec<Option<f64>> = results.iter().map(|r| r.0).collect();
    let p99s: Vec<Option<f64>> = results.iter().map(|r| r.1).collect();
    let (p50_band, p50_note) = likely(p50, low.0, high.0, &p50s);
    let (p99_band, p99_note) = likely(p99, low.1, high.1, &p99s);
    let note = if p50_note || p99_note {
        " (the system reacts to its inputs: with every input at one end of its band the latency does not move \
         the same way, as when slower service makes an autoscaler add replicas, so the band spans every case run)"
    } else {
        ""
    };
    let headline = format!(
        "p50 {} ms (likely {p50_band}), p99 {} ms (likely {p99_band}) with every estimated input within its band{note}; {dominates}.",
        ms(p50),
        ms(p99),
    );
    Ok(reports::UncertaintySection { headline, rows })
}

#[cfg(test)]
mod tests {
    use super::likely;

    #[test]
    fn the_likely_band_always_holds_the_estimate() {
        // Monotone: the ends bracket the estimate and are the band.
        assert_eq!(likely(Some(10.0), Some(8.0), Some(13.0), &[Some(8.0), Some(13.0)]), ("8.00–13.00".into(), false));
        // Autoscaling: slower service adds replicas, so the high end is below the estimate. The band
        // spans every case and the estimate, and says why.
        let cases = [Some(9.0), Some(7.5), Some(11.0)];
        assert_eq!(likely(Some(10.0), Some(9.0), Some(7.5), &cases), ("7.50–11.00".into(), true));
        // No estimate (nothing answered): the ends as they are.
        assert_eq!(likely(None, Some(1.0), Some(2.0), &[]), ("1.00–2.00".into(), false));
    }
}
