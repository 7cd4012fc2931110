//! Evaluating a sweep point: build its scenario, run its replications, and for the search
//! strategies find its capacity or its right size.

use crate::apply;
use crate::error::PlanError;
use crate::space::Point;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim::model::Inputs;
use sim::rng::replication_seed;
use sim::scenario::{self, ParamValue, Scenario, Strategy, Sweep};
use sim::summary::Summary;
use sim::RunOptions;
use toml::Table;

/// The numbers of one run that a sweep keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub seed: u64,
    pub offered_rps: f64,
    pub completed_rps: f64,
    pub latency_mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    /// Completed within timeout / offered.
    pub availability: f64,
    pub dropped: u64,
    pub timed_out: u64,
    pub utilization: Option<f64>,
    pub replicas: u64,
    pub usd_per_hour: f64,
    pub usd_per_million: Option<f64>,
    pub saturated: bool,
    pub stopped_early: bool,
    /// Per SLO latency target: (percentile, target ms, observed ms; None when more than
    /// 100 − percentile % of requests went unanswered).
    pub latency_targets: Vec<(f64, f64, Option<f64>)>,
    pub availability_target: Option<f64>,
    /// Pooled metrics with `slo_confidence`: per latency target, the one-sided upper bound of its
    /// percentile at that confidence (Woodruff's interval across replications).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latency_upper: Vec<Option<f64>>,
    /// The scenario's batch jobs, each over its own replications (kept on the first run only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobMetrics>,
    /// Each named endpoint's SLO figures (`[endpoints.NAME.slo]`), judged beside the top level's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<EndpointMetrics>,
    /// The model variants the run used, per endpoint, with their quality (`serving.variants`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<QualityMetrics>,
    /// Every burn-rate alert the run evaluated (`summary.json`'s `monitoring`): a sweep over the
    /// alerts' windows compares them by detection time and false alarms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertMetrics>,
}

/// What a sweep keeps of one burn-rate alert's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertMetrics {
    /// Which alert, by where the scenario sets it: `ENDPOINT.SLI.burn_rate_alerts[K]`
    /// (`main.availability.burn_rate_alerts[0]`); its name changes with its windows, its slot
    /// does not.
    pub slot: String,
    /// Mean time from a fault's start to the alert firing, over the faults it caught.
    pub detection_s: Option<f64>,
    /// Faults it did not catch while they lasted (or within one long window after).
    pub missed: u32,
    /// Firings with no fault to explain them.
    pub unexplained: u32,
}

impl AlertMetrics {
    fn from_summary(summary: &Summary) -> Vec<AlertMetrics> {
        let Some(monitoring) = &summary.monitoring else { return Vec::new() };
        let mut slots: Vec<(String, usize)> = Vec::new();
        monitoring
            .alerts
            .iter()
            .map(|alert| {
                let sli = format!("{}.{}", alert.rule.endpoint, alert.rule.sli);
                // `summarize` lists each SLI's alerts in `burn_rate_alerts` order.
                let k = match slots.iter_mut().find(|(name, _)| *name == sli) {
                    Some((_, count)) => {
                        *count += 1;
                        *count - 1
                    }
                    None => {
                        slots.push((sli.clone(), 1));
                        0
                    }
                };
                let caught: Vec<f64> = alert.detections.iter().filter_map(|d| d.detected_after_s).collect();
                AlertMetrics {
                    slot: format!("{sli}.burn_rate_alerts[{k}]"),
                    detection_s: (!caught.is_empty()).then(|| caught.iter().sum::<f64>() / caught.len() as f64),
                    missed: (alert.detections.len() - caught.len()) as u32,
                    unexplained: alert.unexplained,
                }
            })
            .collect()
    }
}

/// An endpoint's model variant and its quality against the user's minimum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityMetrics {
    pub endpoint: String,
    pub variant: String,
    pub quality: f64,
    pub min_quality: Option<f64>,
}

impl QualityMetrics {
    fn from_summary(summary: &Summary) -> Vec<QualityMetrics> {
        summary
            .variants
            .iter()
            .map(|(endpoint, v)| QualityMetrics {
                endpoint: endpoint.clone(),
                variant: v.variant.clone(),
                quality: v.quality,
                min_quality: v.min_quality,
            })
            .collect()
    }

    /// Why the variant falls short of the minimum quality, or None.
    pub fn shortfall(&self) -> Option<String> {
        let min = self.min_quality?;
        (self.quality < min).then(|| {
            format!(
                "endpoint {}: variant {} has quality {} < min_quality {min}",
                self.endpoint, self.variant, self.quality
            )
        })
    }

    /// "ENDPOINT VARIANT (QUALITY)", for the plan's tables.
    pub fn words(list: &[QualityMetrics]) -> String {
        let each: Vec<String> = list.iter().map(|q| format!("{} {} ({})", q.endpoint, q.variant, q.quality)).collect();
        each.join(", ")
    }
}

/// What a sweep keeps of one endpoint's run: its SLO targets and what was observed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointMetrics {
    pub name: String,
    /// As [`RunMetrics::latency_targets`], on the endpoint's requests.
    pub latency_targets: Vec<(f64, f64, Option<f64>)>,
    /// Answered within timeout / offered, on the endpoint's requests.
    pub availability: f64,
    pub availability_target: Option<f64>,
    /// A pipeline's stages: each one's share of the pipeline's p99 (a fleet plan's repair gives
    /// replicas to the slowest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_p99_shares: Vec<(String, Option<f64>)>,
}

impl EndpointMetrics {
    fn from_summary(summary: &Summary) -> Vec<EndpointMetrics> {
        summary
            .endpoints
            .iter()
            .filter_map(|(name, endpoint)| {
                let slo = endpoint.slo.as_ref()?;
                let r = &endpoint.stats.requests;
                Some(EndpointMetrics {
                    name: name.clone(),
                    latency_targets: slo.latency.iter().map(|t| (t.percentile, t.target_ms, t.observed_ms)).collect(),
                    availability: if r.offered == 0 { 0.0 } else { r.completed as f64 / r.offered as f64 },
                    availability_target: slo.availability.as_ref().map(|a| a.target),
                    stage_p99_shares: endpoint.stages.iter().map(|s| (s.name.clone(), s.share_of_p99)).collect(),
                })
            })
            .collect()
    }

    /// Whether its estimates miss its SLO (no confidence bound: the fleet's repair step).
    pub fn misses(&self) -> bool {
        let latency = self.latency_targets.iter().any(|&(_, target, observed)| observed.is_none_or(|v| v > target));
        latency || self.availability_target.is_some_and(|t| self.availability < t)
    }
}

/// What a sweep keeps of one batch job's replications.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobMetrics {
    pub name: String,
    pub usd_per_run: f64,
    pub makespan_p99_s: Option<f64>,
    pub deadline: Option<DeadlineCount>,
    pub records_lost: u64,
}

/// Nights on time of nights simulated, and the share that must be: P(deadline) and its intervals
/// follow from these.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadlineCount {
    pub met: u32,
    pub of: u32,
    pub target: f64,
}

impl DeadlineCount {
    pub fn probability(&self) -> f64 {
        f64::from(self.met) / f64::from(self.of.max(1))
    }

    /// The Wilson interval at `z` (two-sided 95%: [`sim::job::summary::Z95`]).
    pub fn interval(&self, z: f64) -> [f64; 2] {
        sim::job::summary::wilson_interval(self.met, self.of, z)
    }
}

impl JobMetrics {
    pub fn from_summary(summary: &sim::job::JobSummary) -> Self {
        JobMetrics {
            name: summary.name.clone(),
            usd_per_run: summary.cost.usd_per_run,
            makespan_p99_s: summary.makespan_s.as_ref().map(|m| m.p99),
            deadline: summary.deadline.as_ref().map(|d| DeadlineCount {
                met: d.met,
                of: d.of,
                target: d.target_probability,
            }),
            records_lost: summary.records.lost,
        }
    }

    /// Why the job misses its deadline target, or None. With `confidence`, P(deadline) is judged
    /// on the one-sided Wilson lower bound at that level rather than on the estimate.
    pub fn shortfall(&self, confidence: Option<f64>) -> Option<String> {
        if let Some(d) = self.deadline {
            let p = d.probability();
            let (judged, bound) = match confidence {
                Some(level) => {
                    let z = sim::stats::t_quantile(level, 10_000);
                    (d.interval(z)[0], format!(" (lower {}% bound)", level * 100.0))
                }
                None => (p, String::new()),
            };
            if judged < d.target {
                let [low, high] = d.interval(sim::job::summary::Z95);
                return Some(format!(
                    "job {}: P(deadline){bound} {judged:.3} < {} (estimate {p:.3}, 95% CI {low:.3}–{high:.3})",
                    self.name, d.target
                ));
            }
        }
        (self.records_lost > 0).then(|| format!("job {}: {} records lost", self.name, self.records_lost))
    }
}

impl RunMetrics {
    fn from_summary(summary: &Summary) -> Self {
        let o = &summary.overall;
        let r = &o.requests;
        let (latency_targets, availability_target) = match &summary.slo {
            Some(slo) => (
                slo.latency.iter().map(|t| (t.percentile, t.target_ms, t.observed_ms)).collect(),
                slo.availability.as_ref().map(|a| a.target),
            ),
            None => (Vec::new(), None),
        };
        RunMetrics {
            seed: summary.seed,
            offered_rps: o.throughput.offered_rps,
            completed_rps: o.throughput.completed_rps,
            latency_mean_ms: o.latency_ms.mean,
            p50_ms: o.latency_ms.p50,
            p90_ms: o.latency_ms.p90,
            p99_ms: o.latency_ms.p99,
            p999_ms: o.latency_ms.p999,
            availability: if r.offered == 0 { 0.0 } else { r.completed as f64 / r.offered as f64 },
            dropped: r.dropped,
            timed_out: r.timed_out,
            utilization: o.utilization,
            replicas: o.replicas,
            usd_per_hour: o.cost.usd_per_hour,
            usd_per_million: o.cost.usd_per_million_requests,
            saturated: o.saturated,
            stopped_early: summary.stopped_early_s.is_some(),
            latency_targets,
            availability_target,
            latency_upper: Vec::new(),
            jobs: Vec::new(),
            endpoints: EndpointMetrics::from_summary(summary),
            quality: QualityMetrics::from_summary(summary),
            alerts: AlertMetrics::from_summary(summary),
        }
    }

    /// A scenario of batch jobs alone: its cost is per run, not per hour.
    pub fn jobs_only(&self) -> bool {
        !self.jobs.is_empty() && self.offered_rps == 0.0 && self.latency_targets.is_empty()
    }

    /// The jobs' mean cost per run, summed (None without jobs).
    pub fn usd_per_run(&self) -> Option<f64> {
        (!self.jobs.is_empty()).then(|| self.jobs.iter().map(|j| j.usd_per_run).sum())
    }
}

/// Everything known about one point once evaluated; one line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    pub index: usize,
    pub values: Vec<(String, ParamValue)>,
    /// Capacity strategy: the largest traffic scale meeting the SLO.
    pub scale: Option<f64>,
    /// Capacity strategy: the search hit `max_scale` without failing.
    pub capped: bool,
    /// Right-size strategy: the fewest replicas meeting the SLO.
    pub replicas: Option<u32>,
    /// The runs the point is judged by (at the found scale or size for the searches).
    pub runs: Vec<RunMetrics>,
    /// With several replications, the first run's metrics with every percentile taken from all
    /// runs' histograms pooled: the estimate the SLO is judged on.
    #[serde(default)]
    pub pooled: Option<RunMetrics>,
    /// Why the point could not be evaluated or has no feasible setting.
    pub error: Option<String>,
}

impl PointResult {
    /// `point` before any run.
    fn unrun(point: &Point) -> PointResult {
        PointResult {
            index: point.index,
            values: point.values.clone(),
            scale: None,
            capped: false,
            replicas: None,
            runs: Vec::new(),
            pooled: None,
            error: None,
        }
    }

    /// A point that could not be run, and why.
    pub fn failed(point: &Point, error: String) -> PointResult {
        PointResult { error: Some(error), ..PointResult::unrun(point) }
    }
}

/// Why a set of replications misses the SLO, or None when it meets it. Latency targets are judged
/// on the pooled percentile (`pooled`, when there are several replications) or, with
/// `confidence`, on its one-sided upper bound at that level (Woodruff's, kept in `pooled`; else
/// sectioning across replications); availability on the mean across replications or its lower
/// bound.
pub fn slo_shortfall(runs: &[RunMetrics], pooled: Option<&RunMetrics>, confidence: Option<f64>) -> Option<String> {
    let n = runs.len() as f64;
    let first = runs.first()?;
    let mut reasons: Vec<String> = first.jobs.iter().filter_map(|j| j.shortfall(confidence)).collect();
    if runs.iter().any(|r| r.stopped_early) {
        reasons.push("stopped early: clearly overloaded".to_string());
    }
    let bound = |estimate: f64, each: &[f64], sign: f64| match confidence {
        Some(level) if each.len() > 1 => {
            estimate + sign * sim::stats::sectioning_half_width(estimate, each, 2.0 * level - 1.0)
        }
        _ => estimate,
    };
    let judged_on = match confidence {
        Some(level) if runs.len() > 1 => format!(" (upper {}% bound)", level * 100.0),
        _ => String::new(),
    };
    for (k, &(percentile, target, _)) in first.latency_targets.iter().enumerate() {
        let observed: Option<Vec<f64>> = runs.iter().map(|r| r.latency_targets.get(k).and_then(|t| t.2)).collect();
        let pooled_value = pooled.map(|p| p.latency_targets.get(k).and_then(|t| t.2));
        match (observed, pooled_value) {
            (None, _) | (_, Some(None)) => {
                reasons.push(format!("p{percentile}: over {}% of requests unanswered", 100.0 - percentile))
            }
            (Some(values), pooled_value) => {
                let estimate = pooled_value.flatten().unwrap_or_else(|| values.iter().sum::<f64>() / n);
                // Woodruff's bound where the pooled run kept one; sectioning's otherwise.
                let woodruff =
                    pooled.and_then(|p| p.latency_upper.get(k).copied().flatten()).filter(|_| confidence.is_some());
                let judged = woodruff.unwrap_or_else(|| bound(estimate, &values, 1.0));
                if judged > target {
                    reasons.push(format!("p{percentile}{judged_on} {judged:.2} ms > {target} ms"));
                }
            }
        }
    }
    if let Some(target) = first.availability_target {
        let each: Vec<f64> = runs.iter().map(|r| r.availability).collect();
        let judged = bound(each.iter().sum::<f64>() / n, &each, -1.0);
        if judged < target {
            let judged_on = judged_on.replace("upper", "lower");
            reasons.push(format!("availability{judged_on} {judged:.5} < {target}"));
        }
    }
    for (k, endpoint) in first.endpoints.iter().enumerate() {
        let each: Vec<&EndpointMetrics> = runs.iter().filter_map(|r| r.endpoints.get(k)).collect();
        let pooled_endpoint = pooled.and_then(|p| p.endpoints.get(k));
        for (t, &(percentile, target, _)) in endpoint.latency_targets.iter().enumerate() {
            let observed: Option<Vec<f64>> = each.iter().map(|e| e.latency_targets.get(t).and_then(|x| x.2)).collect();
            let pooled_value = pooled_endpoint.map(|p| p.latency_targets.get(t).and_then(|x| x.2));
            match (observed, pooled_value) {
                (None, _) | (_, Some(None)) => reasons.push(format!(
                    "endpoint {}: p{percentile}: over {}% of requests unanswered",
                    endpoint.name,
                    100.0 - percentile
                )),
                (Some(values), pooled_value) => {
                    let estimate = pooled_value.flatten().unwrap_or_else(|| values.iter().sum::<f64>() / n);
                    let judged = bound(estimate, &values, 1.0);
                    if judged > target {
                        reasons.push(format!(
                            "endpoint {}: p{percentile}{judged_on} {judged:.2} ms > {target} ms",
                            endpoint.name
                        ));
                    }
                }
            }
        }
        if let Some(target) = endpoint.availability_target {
            let values: Vec<f64> = each.iter().map(|e| e.availability).collect();
            let judged = bound(values.iter().sum::<f64>() / n, &values, -1.0);
            if judged < target {
                let judged_on = judged_on.replace("upper", "lower");
                reasons.push(format!("endpoint {}: availability{judged_on} {judged:.5} < {target}", endpoint.name));
            }
        }
    }
    if first.latency_targets.is_empty()
        && first.availability_target.is_none()
        && first.endpoints.is_empty()
        && !first.jobs_only()
        && runs.iter().any(|r| r.saturated)
    {
        reasons.push("saturated: over 1% of requests dropped or timed out (no [slo] given)".to_string());
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// A point's replications and, with more than one, their pooled metrics.
pub(crate) type Runs = (Vec<RunMetrics>, Option<RunMetrics>);

/// A prepared sweep: the scenario document, the files it needs, and what to vary.
pub struct Plan {
    pub base: Table,
    pub inputs: Inputs,
    pub spec: Sweep,
    pub seed: u64,
}

impl Plan {
    /// The scenario document of `point`, with its values applied.
    pub fn document(&self, point: &Point) -> Result<Table, PlanError> {
        let mut document = self.base.clone();
        for (path, value) in &point.values {
            apply::set(&mut document, path, value)?;
        }
        Ok(document)
    }

    /// The scenario of `point`: its document parsed against the scenario format. When that fails,
    /// the error names the first parameter that breaks the base scenario on its own.
    pub fn scenario(&self, point: &Point) -> Result<Scenario, PlanError> {
        let parse = |document: Table| toml::Value::Table(document).try_into::<Scenario>();
        parse(self.document(point)?).map_err(|e| {
            let parameter = point.values.iter().find_map(|(path, value)| {
                let mut alone = self.base.clone();
                let broken = apply::set(&mut alone, path, value).is_err() || parse(alone).is_err();
                broken.then(|| path.clone())
            });
            let values: Vec<String> = point.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
            PlanError::Format { parameter, values: values.join(", "), message: e.message().to_string() }
        })
    }

    pub(crate) fn run_all(&self, scenario: &Scenario) -> Result<Runs, String> {
        let model = sim::build(scenario, &self.inputs).map_err(|e| e.to_string())?;
        let give_up = self.spec.early_stop.then(|| {
            let allowed = model.slo.availability.map_or(0.0, |a| 1.0 - a);
            (10.0 * allowed).max(0.05)
        });
        let mut runs = Vec::new();
        let mut pooled: Option<(Summary, sim::summary::Distributions)> = None;
        let mut sketches = Vec::new();
        let bounds = self.spec.slo_confidence.filter(|_| self.spec.replications > 1);
        // Replications side by side (each is seeded by its number, so the pool's size changes
        // nothing), then read in order: the first unmeasured one is the error, as if run in turn.
        let outputs: Vec<sim::RunOutput> = (0..self.spec.replications)
            .into_par_iter()
            .map(|r| {
                let options =
                    RunOptions { seed: replication_seed(self.seed, r), give_up_loss: give_up, ..Default::default() };
                sim::run(&model, &options)
            })
            .collect();
        for (r, output) in outputs.into_iter().enumerate() {
            if let Some(reason) = output.summary.unmeasured(&model) {
                return Err(reason);
            }
            let mut metrics = RunMetrics::from_summary(&output.summary);
            if r == 0 {
                metrics.jobs = model.jobs.iter().map(|job| JobMetrics::from_summary(&self.run_job(job))).collect();
            }
            runs.push(metrics);
            if bounds.is_some() {
                sketches.push(output.distributions.sketch());
            }
            match &mut pooled {
                None => pooled = Some((output.summary, output.distributions)),
                Some((_, all)) => all.merge(&output.distributions),
            }
        }
        let pooled = pooled.filter(|_| runs.len() > 1).map(|(mut summary, distributions)| {
            distributions.apply(&model, &mut summary);
            let mut metrics = RunMetrics::from_summary(&summary);
            if let Some(level) = bounds {
                let overall = sim::summary::SectionRef::Overall;
                metrics.latency_upper = (metrics.latency_targets.iter())
                    .map(|&(percentile, _, _)| {
                        let interval =
                            distributions.latency_interval(&sketches, overall, percentile / 100.0, 2.0 * level - 1.0);
                        interval.map(|(_, high)| high)
                    })
                    .collect();
            }
            metrics.jobs = runs[0].jobs.clone();
            metrics
        });
        Ok((runs, pooled))
    }

    /// A job's replications (seeded like a run's), summarized.
    pub fn run_job(&self, job: &sim::model::jobs::JobModel) -> sim::job::JobSummary {
        let runs: Vec<sim::job::JobRun> =
            (0..job.replications).map(|i| sim::job::run(job, replication_seed(self.seed, i))).collect();
        sim::job::summarize(job, &runs)
    }

    pub(crate) fn meets(&self, (runs, pooled): &Runs) -> bool {
        self.shortfall(runs, pooled).is_none()
    }

    pub(crate) fn shortfall(&self, runs: &[RunMetrics], pooled: &Option<RunMetrics>) -> Option<String> {
        slo_shortfall(runs, pooled.as_ref(), self.spec.slo_confidence)
    }

    /// Runs `point`, whose scenario (from [`Plan::scenario`]) is `scenario`.
    pub fn evaluate(&self, point: &Point, scenario: &Scenario) -> PointResult {
        let mut result = PointResult::unrun(point);
        let outcome = match self.spec.strategy {
            Strategy::Grid | Strategy::Random => self.run_all(scenario).map(|(runs, pooled)| {
                result.runs = runs;
                result.pooled = pooled;
            }),
            Strategy::Capacity => self.capacity(scenario, &mut result),
            Strategy::RightSize => self.right_size(&mut result),
        };
        if let Err(error) = outcome {
            result.error = Some(error);
        }
        result
    }

    /// Geometric bisection on the traffic scale for the largest one that meets the SLO.
    fn capacity(&self, scenario: &Scenario, result: &mut PointResult) -> Result<(), String> {
        let search = &self.spec.capacity;
        let at = |scale: f64| -> Result<(bool, Runs), String> {
            let mut scaled = scenario.clone();
            scenario::scale_traffic(&mut scaled, scale);
            let runs = self.run_all(&scaled)?;
            Ok((self.meets(&runs), runs))
        };
        let (low_ok, low_runs) = at(search.min_scale)?;
        if !low_ok {
            let reason = self.shortfall(&low_runs.0, &low_runs.1).unwrap_or_default();
            (result.runs, result.pooled) = low_runs;
            return Err(format!("misses the SLO even at {}× the traffic: {reason}", search.min_scale));
        }
        let (high_ok, high_runs) = at(search.max_scale)?;
        let (scale, runs) = if high_ok {
            result.capped = true;
            (search.max_scale, high_runs)
        } else {
            let split = |low: f64, high: f64| (high - low > search.tolerance * low).then(|| (low * high).sqrt());
            bisect((search.min_scale, low_runs), search.max_scale, split, at)?
        };
        result.scale = Some(scale);
        (result.runs, result.pooled) = runs;
        Ok(())
    }

    /// Binary search for the fewest replicas (set on every `right_size.paths`) that meet the SLO.
    fn right_size(&self, result: &mut PointResult) -> Result<(), String> {
        let spec = self.spec.right_size.as_ref().ok_or("strategy right_size needs [sweep.right_size] paths")?;
        let base = Point { index: result.index, values: result.values.clone() };
        let at = |replicas: i64| -> Result<(bool, Runs), String> {
            let mut point = base.clone();
            for path in &spec.paths {
                point.values.push((path.clone(), ParamValue::Integer(replicas)));
            }
            let runs = self.run_all(&self.scenario(&point).map_err(|e| e.to_string())?)?;
            Ok((self.meets(&runs), runs))
        };
        let (high_ok, high_runs) = at(i64::from(spec.max))?;
        if !high_ok {
            let reason = self.shortfall(&high_runs.0, &high_runs.1).unwrap_or_default();
            (result.runs, result.pooled) = high_runs;
            return Err(format!("misses the SLO even with {} replicas: {reason}", spec.max));
        }
        // Every count at or below `failing` is taken to miss the SLO (none is known to meet it).
        let failing = i64::from(spec.min) - 1;
        let split = |meets: i64, fails: i64| (meets - fails > 1).then(|| fails + 1 + (meets - fails - 1) / 2);
        let (replicas, runs) = bisect((i64::from(spec.max), high_runs), failing, split, at)?;
        result.replicas = Some(replicas as u32);
        (result.runs, result.pooled) = runs;
        Ok(())
    }
}

/// Bisection on a monotone property between a setting that meets the SLO (`good`, with its runs)
/// and one that does not (`bad`): `split(good, bad)` names the setting to try next, or None when
/// the interval is narrow enough. Returns the last setting that met the SLO and its runs.
pub(crate) fn bisect<T: Copy>(
    good: (T, Runs),
    mut bad: T,
    split: impl Fn(T, T) -> Option<T>,
    at: impl Fn(T) -> Result<(bool, Runs), String>,
) -> Result<(T, Runs), String> {
    let (mut good, mut runs) = good;
    while let Some(middle) = split(good, bad) {
        let (ok, middle_runs) = at(middle)?;
        if ok {
            good = middle;
            runs = middle_runs;
        } else {
            bad = middle;
        }
    }
    Ok((good, runs))
}

/// A point's parameter values, with the right-sized replica count (on every `right_size.paths`)
/// where the strategy found one.
pub fn resolved_values(result: &PointResult, spec: &Sweep) -> Vec<(String, ParamValue)> {
    let mut values = result.values.clone();
    if let (Some(replicas), Some(right_size)) = (result.replicas, &spec.right_size) {
        for path in &right_size.paths {
            values.push((path.clone(), ParamValue::Integer(i64::from(replicas))));
        }
    }
    values
}
