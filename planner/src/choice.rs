//! `servesim plan`'s robust choice: every candidate, cheapest first, judged under the risks the
//! scenario's `[plan]` names (traffic above the forecast, service times at the top of their band,
//! a replica, a zone or the largest region lost); the first that holds under each is chosen. The
//! chosen configuration and the runner-up are then measured for their margins: how much more
//! traffic and how much slower a model they take before the SLO breaks, and which failures they
//! survive.
//!
//! Candidates are stressed a few at a time in parallel on the caller's rayon pool (run
//! [`choose`] inside `pool.install`); which one is chosen does not depend on the pool's size.

use crate::evaluate::resolved_values;
use crate::{Headroom, Judged, Plan, Point, PointResult, Risk, Stressed};
use rayon::prelude::*;
use sim::scenario::{PlanRisks, Scenario, Strategy, Survive};

/// The configuration a plan runs in full, the robustness table for its report, and why the
/// cheaper ones were passed over.
pub struct Choice {
    /// The chosen point's index.
    pub index: usize,
    pub scenario: Scenario,
    /// The risks judged, in words.
    pub risks: String,
    pub table: Vec<Vec<String>>,
    /// Cheaper points that meet the SLO but break under a risk: (point, the risk that broke it).
    pub ruled_out: Vec<(usize, String)>,
    pub runner_up: Option<usize>,
    /// Why each "breaks" in the table breaks, one line each (the table keeps its cells short).
    pub details: Vec<String>,
}

/// Why no choice could be made.
#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    /// A candidate's scenario or margin could not be evaluated (bad input).
    #[error("{0}")]
    Input(String),
    /// Every configuration that meets the SLO breaks under a risk (a failed check, not bad input).
    #[error("{0}")]
    NothingHolds(String),
}

/// What the robust choice starts from: the sweep's plan, its points in rank order (feasible ones
/// only), and the best-ranked point's scenario (its `[plan]` risks and serving regions).
pub struct Ranking<'a> {
    pub plan: &'a Plan,
    pub ranked: &'a [(&'a PointResult, &'a Judged)],
    pub best: &'a Scenario,
    /// Service times at the top of their band, as a factor (`sim::whatif::service_time_band`).
    pub service_high: f64,
}

struct Candidate<'a> {
    result: &'a PointResult,
    judged: &'a Judged,
    scenario: Scenario,
}

fn risks_in_words(risks: &PlanRisks, service_high: f64) -> String {
    let mut parts = Vec::new();
    if risks.traffic_margin > 0.0 {
        parts.push(format!("{:.0}% more traffic than forecast", risks.traffic_margin * 100.0));
    }
    if risks.service_time_band {
        parts.push(format!("service times ×{service_high:.2} (the top of their band)"));
    }
    for survive in &risks.survive {
        parts.push(survive_words(*survive).to_string());
    }
    if parts.is_empty() {
        "none set ([plan] traffic_margin, service_time_band, survive)".into()
    } else {
        parts.join(", ")
    }
}

fn survive_words(survive: Survive) -> &'static str {
    match survive {
        Survive::Replica => "one replica down",
        Survive::Zone => "one zone down",
        Survive::Region => "the largest region down",
    }
}

fn headroom_words(headroom: Headroom, what: &str) -> String {
    match headroom {
        Headroom::None => "misses the SLO as is".into(),
        Headroom::Breaks(factor) => format!("breaks at +{:.0}% {what}", (factor - 1.0) * 100.0),
        Headroom::Beyond(factor) => format!("holds past +{:.0}% {what}", (factor - 1.0) * 100.0),
    }
}

/// A verdict cell: "holds" or "breaks"; the reason goes to `details`, for the page to show on demand.
fn stressed_words(stressed: &Stressed, point: usize, details: &mut Vec<String>) -> String {
    if stressed.holds {
        "holds".into()
    } else {
        details.push(format!("point {point}, {}: {}", stressed.risk, stressed.reason));
        "breaks".into()
    }
}

/// The failures worth judging: a region's loss only where another region can take its traffic.
fn survival_cases(serving_regions: usize) -> Vec<Survive> {
    let mut cases = vec![Survive::Replica, Survive::Zone];
    if serving_regions > 1 {
        cases.push(Survive::Region);
    }
    cases
}

fn serving_regions(scenario: &Scenario) -> usize {
    sim::whatif::replicas_by_region(scenario).len()
}

/// The margins of one configuration: traffic and service-time headroom, every survival case.
struct Margins {
    traffic: Headroom,
    service: Headroom,
    survival: Vec<Stressed>,
}

fn margins(plan: &Plan, scenario: &Scenario, zones: u32, cases: &[Survive]) -> Result<Margins, String> {
    // Each margin is its own runs: measured side by side, then reported in a fixed order.
    let ((traffic, service), survival) = rayon::join(
        || rayon::join(|| plan.headroom(scenario, true), || plan.headroom(scenario, false)),
        || cases.par_iter().map(|&s| plan.survival(scenario, s, zones)).collect(),
    );
    Ok(Margins { traffic: traffic?, service: service?, survival })
}

fn factor(headroom: Headroom) -> f64 {
    match headroom {
        Headroom::None => 1.0,
        Headroom::Breaks(f) | Headroom::Beyond(f) => f,
    }
}

/// Chooses among `ranking`'s points (at least one); see the module documentation.
pub fn choose(ranking: &Ranking) -> Result<Choice, ChoiceError> {
    let Ranking { plan, ranked, best, service_high } = *ranking;
    let spec = &plan.spec;
    let risks = best.plan.clone().unwrap_or_default();
    let robust = (risks.traffic_margin > 0.0 || risks.service_time_band || !risks.survive.is_empty())
        && spec.strategy != Strategy::Capacity;
    let fail = |e: String| ChoiceError::Input(format!("robust plan: {e}"));

    if ranked.first().is_some_and(|(_, j)| j.jobs_only) {
        return Ok(jobs_choice(ranking, &risks));
    }
    let scenario_of = |result: &PointResult| -> Result<Scenario, ChoiceError> {
        let point = Point { index: result.index, values: resolved_values(result, spec) };
        plan.scenario(&point).map_err(|e| ChoiceError::Input(e.to_string()))
    };

    // Candidates in rank order, a few at a time in parallel; the first two that hold are the
    // choice and the runner-up. Without risks, ranks 1 and 2.
    let mut ruled_out: Vec<(Candidate, Vec<Stressed>)> = Vec::new();
    let mut holding: Vec<Candidate> = Vec::new();
    let batch = rayon::current_num_threads().max(1);
    for group in ranked.chunks(batch) {
        let scenarios: Vec<Scenario> = group.iter().map(|(r, _)| scenario_of(r)).collect::<Result<_, _>>()?;
        let stressed: Vec<Vec<Stressed>> = if robust {
            scenarios.par_iter().map(|s| plan.stress(s, &risks, service_high)).collect()
        } else {
            vec![Vec::new(); group.len()]
        };
        for ((&(result, judged), scenario), stressed) in group.iter().zip(scenarios).zip(stressed) {
            let candidate = Candidate { result, judged, scenario };
            if stressed.iter().all(|s| s.holds) {
                holding.push(candidate);
            } else if holding.is_empty() {
                ruled_out.push((candidate, stressed));
            }
            if holding.len() == 2 {
                break;
            }
        }
        if holding.len() == 2 {
            break;
        }
    }
    if holding.is_empty() {
        let reasons: Vec<String> = ruled_out
            .iter()
            .take(3)
            .map(|(c, s)| {
                let broken: Vec<String> =
                    s.iter().filter(|s| !s.holds).map(|s| format!("{}: {}", s.risk, s.reason)).collect();
                format!("point {}: {}", c.result.index, broken.join("; "))
            })
            .collect();
        return Err(ChoiceError::NothingHolds(format!(
            "no configuration that meets the SLO also holds under the plan's risks ({})",
            reasons.join(" | ")
        )));
    }

    let cases = survival_cases(serving_regions(best));
    let measured: Vec<Margins> = holding
        .par_iter()
        .map(|c| margins(plan, &c.scenario, risks.zones, &cases))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    let mut header: Vec<String> =
        ["configuration", "point", "parameters", "USD/h", "traffic", "service time"].map(String::from).to_vec();
    header.extend(cases.iter().map(|&c| survive_words(c).trim_start_matches("the ").to_string()));
    header.push("binding risk".into());
    let mut table = vec![header];
    let mut details = Vec::new();
    let parameters = |result: &PointResult| -> String {
        resolved_values(result, spec).iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
    };
    let usd = |judged: &Judged| judged.usd_per_hour.map_or("–".into(), |v| format!("{v:.3}"));
    for (candidate, stressed) in &ruled_out {
        let mut cells = vec!["–".to_string(); 2 + cases.len()];
        for s in stressed {
            let column = match s.kind {
                Risk::Traffic => Some(0),
                Risk::ServiceTime => Some(1),
                Risk::Survive(survive) => cases.iter().position(|&c| c == survive).map(|k| 2 + k),
            };
            if let Some(column) = column {
                cells[column] = stressed_words(s, candidate.result.index, &mut details);
            }
        }
        let binding = stressed.iter().find(|s| !s.holds).map_or(String::new(), |s| s.risk.clone());
        let mut row = vec![
            "ruled out".to_string(),
            candidate.result.index.to_string(),
            parameters(candidate.result),
            usd(candidate.judged),
        ];
        row.extend(cells);
        row.push(binding);
        table.push(row);
    }
    for (k, (candidate, margin)) in holding.iter().zip(&measured).enumerate() {
        let binding = if robust {
            // The configured risk closest to a breach: the highest p99 over its target.
            let configured: Vec<(String, f64)> = [
                (risks.traffic_margin > 0.0)
                    .then(|| ("traffic".to_string(), factor(margin.traffic) - 1.0 - risks.traffic_margin)),
                risks.service_time_band.then(|| ("service time".to_string(), factor(margin.service) - service_high)),
            ]
            .into_iter()
            .flatten()
            .chain(
                margin
                    .survival
                    .iter()
                    .filter(|s| matches!(s.kind, Risk::Survive(k) if risks.survive.contains(&k)))
                    .map(|s| (s.risk.clone(), 1.0 - s.pressure)),
            )
            .collect();
            configured.into_iter().min_by(|a, b| a.1.total_cmp(&b.1)).map_or(String::new(), |(name, _)| name)
        } else if factor(margin.traffic) <= factor(margin.service) {
            "traffic".to_string()
        } else {
            "service time".to_string()
        };
        let mut row = vec![
            if k == 0 { "chosen" } else { "runner-up" }.to_string(),
            candidate.result.index.to_string(),
            parameters(candidate.result),
            usd(candidate.judged),
            headroom_words(margin.traffic, "traffic"),
            headroom_words(margin.service, "service time"),
        ];
        row.extend(margin.survival.iter().map(|s| stressed_words(s, candidate.result.index, &mut details)));
        row.push(binding);
        table.push(row);
    }

    let choice = &holding[0];
    Ok(Choice {
        index: choice.result.index,
        scenario: choice.scenario.clone(),
        risks: risks_in_words(&risks, service_high),
        table,
        ruled_out: ruled_out
            .iter()
            .map(|(c, stressed)| {
                let binding = stressed.iter().find(|s| !s.holds).map_or(String::new(), |s| s.risk.clone());
                (c.result.index, binding)
            })
            .collect(),
        runner_up: holding.get(1).map(|c| c.result.index),
        details,
    })
}

/// A scenario of batch jobs alone: the online risks do not apply; the cheapest configuration whose
/// P(deadline met) reaches the target wins (its deadline probability is the margin shown).
fn jobs_choice(ranking: &Ranking, risks: &PlanRisks) -> Choice {
    let Ranking { plan, ranked, best, .. } = *ranking;
    let mut table = vec![["configuration", "point", "parameters", "USD/run", "P(deadline)", "makespan p99"]
        .map(String::from)
        .to_vec()];
    for (k, (result, judged)) in ranked.iter().take(2).enumerate() {
        let parameters: Vec<String> =
            resolved_values(result, &plan.spec).iter().map(|(p, v)| format!("{p}={v}")).collect();
        let fixed =
            [if k == 0 { "chosen" } else { "runner-up" }.to_string(), result.index.to_string(), parameters.join(", ")];
        table.push(fixed.into_iter().chain(judged.job_cells()).collect());
    }
    let words = if *risks == PlanRisks::default() {
        "the deadline probability target of each job (online risks do not apply to jobs)".to_string()
    } else {
        "the deadline probability target of each job; the [plan] risks apply to online traffic, which this scenario has none of".to_string()
    };
    Choice {
        index: ranked[0].0.index,
        scenario: best.clone(),
        risks: words,
        table,
        ruled_out: Vec::new(),
        runner_up: ranked.get(1).map(|(r, _)| r.index),
        details: Vec::new(),
    }
}
