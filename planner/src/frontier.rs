//! Judging points: feasibility, the objective's ranking, the Pareto frontier of cost against p99
//! latency, and which dominated points are within noise of it.

use crate::evaluate::{slo_shortfall, PointResult, QualityMetrics, RunMetrics};
use sim::scenario::{Objective, Strategy};

/// One point, judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub index: usize,
    pub feasible: bool,
    /// Why not, for infeasible points.
    pub reason: String,
    /// None for points with no runs (invalid configurations).
    pub usd_per_hour: Option<f64>,
    pub usd_per_million: Option<f64>,
    /// Batch jobs' mean cost per run, summed (None without jobs).
    pub usd_per_run: Option<f64>,
    /// For a scenario of jobs alone: its cost is per run.
    pub jobs_only: bool,
    /// The lowest P(deadline met) among the jobs with a deadline.
    pub p_deadline: Option<f64>,
    /// The longest p99 makespan among the jobs, seconds.
    pub makespan_p99_s: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Half-width of the 95% CI of the pooled p99 across replications (sectioning; 0 with one).
    pub p99_ci95: f64,
    pub availability: Option<f64>,
    pub capacity_rps: Option<f64>,
    pub on_frontier: bool,
    /// Dominated, but by a frontier point whose p99 interval overlaps this one's.
    pub within_noise: bool,
    /// 1 = best by the objective, among feasible points.
    pub rank: Option<usize>,
    /// Meets every SLO, whatever its model variants' quality.
    pub meets_slo: bool,
    /// The model variants it runs, per endpoint, with their quality (none without variants).
    pub quality: Vec<QualityMetrics>,
}

impl Judged {
    /// A job point's cost per run, P(deadline) and makespan p99, as the plan's tables show them.
    pub fn job_cells(&self) -> [String; 3] {
        [
            self.usd_per_run.map_or("–".into(), |v| format!("{v:.2}")),
            self.p_deadline.map_or("–".into(), |v| format!("{v:.3}")),
            self.makespan_p99_s.map_or("–".into(), |v| format!("{:.2} h", v / 3600.0)),
        ]
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `slo_confidence`: judge latency targets on the upper bound at this level (see [`slo_shortfall`]).
pub fn judge(
    results: &[PointResult],
    strategy: Strategy,
    objective: Objective,
    slo_confidence: Option<f64>,
) -> Vec<Judged> {
    let mut judged: Vec<Judged> = results
        .iter()
        .map(|result| {
            let runs = &result.runs;
            let p99s: Vec<f64> = runs.iter().filter_map(|r| r.p99_ms).collect();
            let pooled_p99 = result.pooled.as_ref().map_or_else(|| mean(p99s.iter().copied()), |p| p.p99_ms);
            let (p99, half) = match pooled_p99 {
                Some(p99) if p99s.len() == runs.len() => {
                    (Some(p99), sim::stats::sectioning_half_width(p99, &p99s, 0.95))
                }
                _ => (None, 0.0),
            };
            let slo_reason = match &result.error {
                Some(error) => error.clone(),
                None if runs.is_empty() => "no runs".to_string(),
                None => slo_shortfall(runs, result.pooled.as_ref(), slo_confidence).unwrap_or_default(),
            };
            // A variant's quality is the user's figure, the same in every run: no interval to judge.
            let quality = runs.first().map_or(Vec::new(), |r| r.quality.clone());
            let mut reasons: Vec<String> = quality.iter().filter_map(QualityMetrics::shortfall).collect();
            if !slo_reason.is_empty() {
                reasons.insert(0, slo_reason.clone());
            }
            let reason = reasons.join("; ");
            Judged {
                index: result.index,
                feasible: reason.is_empty(),
                meets_slo: slo_reason.is_empty(),
                quality,
                reason,
                usd_per_hour: mean(runs.iter().map(|r| r.usd_per_hour)),
                usd_per_million: if runs.iter().all(|r| r.usd_per_million.is_some()) {
                    mean(runs.iter().filter_map(|r| r.usd_per_million))
                } else {
                    None
                },
                usd_per_run: runs.first().and_then(RunMetrics::usd_per_run),
                jobs_only: runs.first().is_some_and(RunMetrics::jobs_only),
                p_deadline: runs
                    .first()
                    .and_then(|r| r.jobs.iter().filter_map(|j| j.deadline.map(|d| d.probability())).reduce(f64::min)),
                makespan_p99_s: runs
                    .first()
                    .and_then(|r| r.jobs.iter().filter_map(|j| j.makespan_p99_s).reduce(f64::max)),
                p99_ms: p99,
                p99_ci95: half,
                availability: mean(runs.iter().map(|r| r.availability)),
                capacity_rps: result.scale.and_then(|_| mean(runs.iter().map(|r| r.offered_rps))),
                on_frontier: false,
                within_noise: false,
                rank: None,
            }
        })
        .collect();

    // Ranking: the objective, then p99, then the point's index, so ties resolve the same way always.
    let key = |j: &Judged| -> f64 {
        if j.jobs_only && objective != Objective::LatencyP99 {
            // Jobs alone cost per run, not per hour: the cost objectives rank by that.
            return j.usd_per_run.unwrap_or(f64::INFINITY);
        }
        match (strategy, objective) {
            // At capacity, cost per request is what distinguishes configurations.
            (Strategy::Capacity, _) | (_, Objective::CostPerMillion) => j.usd_per_million.unwrap_or(f64::INFINITY),
            (_, Objective::CostPerHour) => j.usd_per_hour.unwrap_or(f64::INFINITY),
            (_, Objective::LatencyP99) => j.p99_ms.unwrap_or(f64::INFINITY),
        }
    };
    let mut order: Vec<usize> = (0..judged.len()).filter(|&i| judged[i].feasible).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&judged[a], &judged[b]);
        key(x)
            .total_cmp(&key(y))
            .then(x.p99_ms.unwrap_or(f64::INFINITY).total_cmp(&y.p99_ms.unwrap_or(f64::INFINITY)))
            .then(x.makespan_p99_s.unwrap_or(f64::INFINITY).total_cmp(&y.makespan_p99_s.unwrap_or(f64::INFINITY)))
            .then(x.index.cmp(&y.index))
    });
    for (rank, &i) in order.iter().enumerate() {
        judged[i].rank = Some(rank + 1);
    }

    // Pareto frontier over feasible points: minimise cost per hour and p99 together.
    let candidates: Vec<usize> = order.clone();
    let dominates = |a: &Judged, b: &Judged| {
        let (pa, pb) = (a.p99_ms.unwrap_or(f64::INFINITY), b.p99_ms.unwrap_or(f64::INFINITY));
        let cost = |j: &Judged| if j.jobs_only { j.usd_per_run } else { j.usd_per_hour }.unwrap_or(f64::INFINITY);
        let (ca, cb) = (cost(a), cost(b));
        ca <= cb && pa <= pb && (ca < cb || pa < pb)
    };
    for &i in &candidates {
        let dominated = candidates.iter().any(|&j| j != i && dominates(&judged[j], &judged[i]));
        judged[i].on_frontier = !dominated;
    }
    for &i in &candidates {
        if judged[i].on_frontier {
            continue;
        }
        let noisy = candidates.iter().any(|&j| {
            let (a, b) = (&judged[j], &judged[i]);
            a.on_frontier
                && dominates(a, b)
                && a.p99_ci95 + b.p99_ci95 > 0.0
                && (a.p99_ms.unwrap_or(0.0) - b.p99_ms.unwrap_or(0.0)).abs() <= a.p99_ci95 + b.p99_ci95
        });
        judged[i].within_noise = noisy;
    }
    judged
}

/// The best feasible point, if any.
pub fn best(judged: &[Judged]) -> Option<&Judged> {
    judged.iter().find(|j| j.rank == Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::RunMetrics;

    fn run(usd_per_hour: f64, p99: f64) -> RunMetrics {
        RunMetrics {
            seed: 1,
            offered_rps: 100.0,
            completed_rps: 100.0,
            latency_mean_ms: Some(p99 / 3.0),
            p50_ms: Some(p99 / 4.0),
            p90_ms: Some(p99 / 2.0),
            p99_ms: Some(p99),
            p999_ms: Some(p99 * 1.5),
            availability: 1.0,
            dropped: 0,
            timed_out: 0,
            utilization: Some(0.5),
            replicas: 1,
            usd_per_hour,
            usd_per_million: Some(usd_per_hour / 0.36),
            saturated: false,
            stopped_early: false,
            latency_targets: vec![(99.0, 50.0, Some(p99))],
            availability_target: None,
            latency_upper: Vec::new(),
            jobs: Vec::new(),
            endpoints: Vec::new(),
            quality: Vec::new(),
            alerts: Vec::new(),
        }
    }

    fn point(index: usize, runs: Vec<RunMetrics>) -> PointResult {
        PointResult {
            index,
            values: vec![],
            scale: None,
            capped: false,
            replicas: None,
            runs,
            pooled: None,
            error: None,
        }
    }

    #[test]
    fn frontier_ranking_and_noise_by_hand() {
        let results = vec![
            point(0, vec![run(2.0, 40.0), run(2.0, 42.0)]), // cheapest feasible: rank 1, frontier
            point(1, vec![run(3.0, 20.0), run(3.0, 22.0)]), // faster, dearer: frontier
            point(2, vec![run(3.5, 36.0), run(3.5, 36.0)]), // dominated by 1, beyond its noise
            point(3, vec![run(4.0, 21.5), run(4.0, 22.5)]), // dominated by 1, within its noise
            point(4, vec![run(1.0, 80.0), run(1.0, 81.0)]), // cheapest, but misses the 50 ms SLO
        ];
        let judged = judge(&results, Strategy::Grid, Objective::CostPerHour, None);
        let ranks: Vec<Option<usize>> = judged.iter().map(|j| j.rank).collect();
        assert_eq!(ranks, [Some(1), Some(2), Some(3), Some(4), None]);
        let frontier: Vec<bool> = judged.iter().map(|j| j.on_frontier).collect();
        assert_eq!(frontier, [true, true, false, false, false]);
        let noise: Vec<bool> = judged.iter().map(|j| j.within_noise).collect();
        assert_eq!(noise, [false, false, false, true, false]);
        assert!(judged[4].reason.contains("p99 80.50 ms > 50 ms"), "{}", judged[4].reason);
        assert_eq!(best(&judged).map(|j| j.index), Some(0));
        // p99 = (20 + 22) / 2 with a t(1) interval: 12.7062 × 1 / √2 × √2 = 12.7062.
        assert!((judged[1].p99_ci95 - 12.7062).abs() < 1e-4);
        let by_latency = judge(&results, Strategy::Grid, Objective::LatencyP99, None);
        assert_eq!(best(&by_latency).map(|j| j.index), Some(1));
    }

    #[test]
    fn slo_confidence_judges_on_the_upper_bound_by_hand() {
        // p99 44 and 48 ms against a 50 ms target: the estimate 46 meets it; the one-sided 95% upper
        // bound, 46 + t(0.95, 1) · s/√2 = 46 + 6.314 · 2 = 58.6 ms, does not.
        let results = vec![point(0, vec![run(2.0, 44.0), run(2.0, 48.0)])];
        assert!(judge(&results, Strategy::Grid, Objective::CostPerHour, None)[0].feasible);
        let strict = &judge(&results, Strategy::Grid, Objective::CostPerHour, Some(0.95))[0];
        assert!(!strict.feasible);
        assert!(strict.reason.contains("p99 (upper 95% bound) 58.63 ms > 50 ms"), "{}", strict.reason);
        // A pooled estimate replaces the mean: pooled 47 → bound 47 + 6.314 · √((9 + 1) / 2) ≈ 61.1.
        let mut pooled = results[0].runs[0].clone();
        pooled.latency_targets[0].2 = Some(47.0);
        pooled.p99_ms = Some(47.0);
        let with_pool = vec![PointResult { pooled: Some(pooled), ..results[0].clone() }];
        let judged = &judge(&with_pool, Strategy::Grid, Objective::CostPerHour, Some(0.95))[0];
        assert!(judged.reason.contains("61.12 ms"), "{}", judged.reason);
        assert_eq!(judged.p99_ms, Some(47.0));
    }

    #[test]
    fn an_endpoint_missing_its_own_slo_makes_the_point_infeasible_by_hand() {
        use crate::evaluate::EndpointMetrics;
        // The top level meets p99 < 50 ms; endpoint "embed" has p99 62 and 58 ms against 60 ms
        // (mean 60.0: met) and availability 0.98 and 0.99 against 0.99 (mean 0.985: missed).
        let with_endpoint = |p99: f64, availability: f64| {
            let mut metrics = run(2.0, 40.0);
            metrics.endpoints = vec![EndpointMetrics {
                name: "embed".into(),
                latency_targets: vec![(99.0, 60.0, Some(p99))],
                availability,
                availability_target: Some(0.99),
                stage_p99_shares: Vec::new(),
            }];
            metrics
        };
        let results = vec![point(0, vec![with_endpoint(62.0, 0.98), with_endpoint(58.0, 0.99)])];
        let judged = &judge(&results, Strategy::Grid, Objective::CostPerHour, None)[0];
        assert!(!judged.feasible);
        assert_eq!(judged.reason, "endpoint embed: availability 0.98500 < 0.99");
        let met = vec![point(0, vec![with_endpoint(62.0, 0.995), with_endpoint(58.0, 0.99)])];
        assert!(judge(&met, Strategy::Grid, Objective::CostPerHour, None)[0].feasible);
        let slow = vec![point(0, vec![with_endpoint(64.0, 0.995), with_endpoint(58.0, 0.99)])];
        let judged = &judge(&slow, Strategy::Grid, Objective::CostPerHour, None)[0];
        assert_eq!(judged.reason, "endpoint embed: p99 61.00 ms > 60 ms");
    }
}
