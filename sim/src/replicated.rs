//! A run's replications summarized together: what `summary.json` holds when `replications > 1`.
//!
//! Every count and measure becomes the mean over replications with its 95% Student-t interval
//! ([`Mean`]); every yes/no the share of replications where it held ([`Fraction`]). Percentiles are
//! instead estimated from all replications' histograms pooled ([`Pooled`]): the interval is
//! Woodruff's for latency (see [`Distributions::latency_interval`]) and sectioning's, centred on the
//! pooled estimate, for queue wait, service time and each SLO target's observed value. A percentile
//! that some replication did not observe falls back to the mean of those that did, and the SLO and
//! each of its targets say whether the pooled percentiles meet it (`met_pooled`).
//!
//! The types mirror [`Summary`] field by field, so a new summary field is a compile error here until
//! it says how it aggregates.

use crate::job::JobSummary;
use crate::stats::{mean_ci95, sectioning_half_width};
use crate::summary::{
    AvailabilityAttainment, BatchSizes, BreakerStats, CacheStats, Cost, Distributions, EndpointSummary,
    LatencyAttainment, LlmStats, Percentiles, RegionSummary, ReplicaHours, RequestCounts, Section, SectionRef, Sketch,
    SloReport, StageSummary, Summary,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// The mean over replications and its 95% confidence interval (Student's t).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Mean {
    pub mean: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub n: usize,
}

impl Mean {
    fn of(values: &[f64]) -> Mean {
        let (mean, half) = mean_ci95(values);
        Mean { mean, ci95_low: mean - half, ci95_high: mean + half, n: values.len() }
    }

    fn over<T>(each: &[&T], field: impl Fn(&T) -> f64) -> Mean {
        Mean::of(&each.iter().map(|t| field(t)).collect::<Vec<_>>())
    }

    /// The mean of the replications that have a value; none when no replication has one.
    fn over_some<T>(each: &[&T], field: impl Fn(&T) -> Option<f64>) -> Option<Mean> {
        let values: Vec<f64> = each.iter().filter_map(|t| field(t)).collect();
        (!values.is_empty()).then(|| Mean::of(&values))
    }
}

/// The share of replications where a condition held.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Fraction {
    pub fraction_true: f64,
}

impl Fraction {
    fn over<T>(each: &[&T], held: impl Fn(&T) -> bool) -> Fraction {
        Fraction { fraction_true: each.iter().filter(|t| held(t)).count() as f64 / each.len() as f64 }
    }
}

/// A percentile estimated from every replication's observations pooled.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Pooled {
    pub estimate: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub mean_of_replications: f64,
    pub n: usize,
}

/// A percentile: pooled where every replication observed it, else the mean of those that did.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Estimate {
    Pooled(Pooled),
    Mean(Mean),
}

/// Everything a percentile's estimate needs beyond the replications' own values.
#[derive(Clone, Copy)]
struct PooledContext<'a> {
    distributions: &'a Distributions,
    sketches: &'a [Sketch],
}

impl PooledContext<'_> {
    /// `level` is the latency quantile when `each` are latency percentiles of `section` (their
    /// interval is Woodruff's), none for any other percentile (sectioning).
    fn estimate(
        self,
        each: &[Option<f64>],
        pooled: Option<f64>,
        latency: Option<(SectionRef, f64)>,
    ) -> Option<Estimate> {
        let all: Option<Vec<f64>> = each.iter().copied().collect();
        let (Some(estimate), Some(all)) = (pooled, all) else {
            let some: Vec<f64> = each.iter().flatten().copied().collect();
            return (!some.is_empty()).then(|| Estimate::Mean(Mean::of(&some)));
        };
        let (ci95_low, ci95_high) = latency
            .and_then(|(section, level)| self.distributions.latency_interval(self.sketches, section, level, 0.95))
            .unwrap_or_else(|| {
                let half = sectioning_half_width(estimate, &all, 0.95);
                (estimate - half, estimate + half)
            });
        let mean_of_replications = all.iter().sum::<f64>() / all.len() as f64;
        Some(Estimate::Pooled(Pooled { estimate, ci95_low, ci95_high, mean_of_replications, n: all.len() }))
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedCounts {
    pub offered: Mean,
    pub completed: Mean,
    pub degraded: Mean,
    pub failed: Mean,
    pub dropped: Mean,
    pub timed_out: Mean,
    pub retries: Mean,
    pub failover: Mean,
    pub unfinished: Mean,
}

impl ReplicatedCounts {
    fn new(each: &[&RequestCounts]) -> ReplicatedCounts {
        let count = |field: fn(&RequestCounts) -> u64| Mean::over(each, |c| field(c) as f64);
        ReplicatedCounts {
            offered: count(|c| c.offered),
            completed: count(|c| c.completed),
            degraded: count(|c| c.degraded),
            failed: count(|c| c.failed),
            dropped: count(|c| c.dropped),
            timed_out: count(|c| c.timed_out),
            retries: count(|c| c.retries),
            failover: count(|c| c.failover),
            unfinished: count(|c| c.unfinished),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedHours {
    pub provisioning: Mean,
    pub image_pull: Mean,
    pub model_load: Mean,
    pub ready: Mean,
    pub draining: Mean,
    pub down: Mean,
}

impl ReplicatedHours {
    fn new(each: &[&ReplicaHours]) -> ReplicatedHours {
        ReplicatedHours {
            provisioning: Mean::over(each, |h| h.provisioning),
            image_pull: Mean::over(each, |h| h.image_pull),
            model_load: Mean::over(each, |h| h.model_load),
            ready: Mean::over(each, |h| h.ready),
            draining: Mean::over(each, |h| h.draining),
            down: Mean::over(each, |h| h.down),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedPercentiles {
    pub count: Mean,
    pub mean: Option<Mean>,
    pub p50: Option<Estimate>,
    pub p90: Option<Estimate>,
    pub p95: Option<Estimate>,
    pub p99: Option<Estimate>,
    pub p999: Option<Estimate>,
    pub max: Option<Mean>,
}

impl ReplicatedPercentiles {
    /// `section` names the section when these are its client latencies (Woodruff's interval).
    fn new(
        each: &[&Percentiles],
        pooled: &Percentiles,
        context: PooledContext,
        section: Option<SectionRef>,
    ) -> ReplicatedPercentiles {
        let level = |field: fn(&Percentiles) -> Option<f64>, quantile: f64| {
            let values: Vec<Option<f64>> = each.iter().map(|p| field(p)).collect();
            context.estimate(&values, field(pooled), section.map(|s| (s, quantile)))
        };
        ReplicatedPercentiles {
            count: Mean::over(each, |p| p.count as f64),
            mean: Mean::over_some(each, |p| p.mean),
            p50: level(|p| p.p50, 0.5),
            p90: level(|p| p.p90, 0.9),
            p95: level(|p| p.p95, 0.95),
            p99: level(|p| p.p99, 0.99),
            p999: level(|p| p.p999, 0.999),
            max: Mean::over_some(each, |p| p.max),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedSection {
    pub replicas: Mean,
    pub replicas_mean: Mean,
    pub replicas_peak: Mean,
    pub replica_hours: ReplicatedHours,
    pub requests: ReplicatedCounts,
    pub throughput: ReplicatedThroughput,
    pub latency_ms: ReplicatedPercentiles,
    pub queue_wait_ms: ReplicatedPercentiles,
    pub service_time_ms: ReplicatedPercentiles,
    pub batch_size: ReplicatedBatchSizes,
    pub utilization: Option<Mean>,
    pub saturated: Fraction,
    pub cost: ReplicatedCost,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<ReplicatedBreaker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<ReplicatedCache>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<ReplicatedLlm>,
    /// Pooled over replications: every replication's answers together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<crate::breakdown::BreakdownStats>,
}

/// An LLM engine's figures over replications: token-time percentiles pooled like latency's.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedLlm {
    pub ttft_ms: ReplicatedPercentiles,
    pub tpot_ms: ReplicatedPercentiles,
    pub inter_token_ms: ReplicatedPercentiles,
    pub input_tokens_per_s: Mean,
    pub output_tokens_per_s: Mean,
    pub goodput_rps: Mean,
    pub iterations: Mean,
    pub mean_tokens_per_iteration: Option<Mean>,
    pub kv_utilization: Option<Mean>,
    /// The same in every replication.
    pub kv_capacity_tokens: u64,
    pub preemptions: Mean,
    pub recomputed_tokens: Mean,
    pub prefix_hit_rate: Option<Mean>,
    pub usd_per_million_output_tokens: Option<Mean>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedCache {
    pub hits: Mean,
    pub misses: Mean,
    pub hit_ratio: Option<Mean>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedThroughput {
    pub offered_rps: Mean,
    pub completed_rps: Mean,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedBatchSizes {
    pub batches: Mean,
    pub mean: Option<Mean>,
    /// The first replication's: a histogram's pairs are not averaged.
    pub histogram: Vec<(u32, u64)>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedCost {
    pub usd_per_hour: Mean,
    pub usd_total: Mean,
    pub usd_per_million_requests: Option<Mean>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedBreaker {
    pub opened: Mean,
    pub open_s: Mean,
}

impl ReplicatedSection {
    fn new(each: &[&Section], pooled: &Section, context: PooledContext, section: SectionRef) -> ReplicatedSection {
        let part = |field: fn(&Section) -> &Percentiles| each.iter().map(|s| field(s)).collect::<Vec<_>>();
        let batch_sizes: Vec<&BatchSizes> = each.iter().map(|s| &s.batch_size).collect();
        let costs: Vec<&Cost> = each.iter().map(|s| &s.cost).collect();
        let breakers: Vec<&BreakerStats> = each.iter().filter_map(|s| s.breaker.as_ref()).collect();
        ReplicatedSection {
            replicas: Mean::over(each, |s| s.replicas as f64),
            replicas_mean: Mean::over(each, |s| s.replicas_mean),
            replicas_peak: Mean::over(each, |s| s.replicas_peak as f64),
            replica_hours: ReplicatedHours::new(&each.iter().map(|s| &s.replica_hours).collect::<Vec<_>>()),
            requests: ReplicatedCounts::new(&each.iter().map(|s| &s.requests).collect::<Vec<_>>()),
            throughput: ReplicatedThroughput {
                offered_rps: Mean::over(each, |s| s.throughput.offered_rps),
                completed_rps: Mean::over(each, |s| s.throughput.completed_rps),
            },
            latency_ms: ReplicatedPercentiles::new(
                &part(|s| &s.latency_ms),
                &pooled.latency_ms,
                context,
                Some(section),
            ),
            queue_wait_ms: ReplicatedPercentiles::new(
                &part(|s| &s.queue_wait_ms),
                &pooled.queue_wait_ms,
                context,
                None,
            ),
            service_time_ms: ReplicatedPercentiles::new(
                &part(|s| &s.service_time_ms),
                &pooled.service_time_ms,
                context,
                None,
            ),
            batch_size: ReplicatedBatchSizes {
                batches: Mean::over(&batch_sizes, |b| b.batches as f64),
                mean: Mean::over_some(&batch_sizes, |b| b.mean),
                histogram: each[0].batch_size.histogram.clone(),
            },
            utilization: Mean::over_some(each, |s| s.utilization),
            saturated: Fraction::over(each, |s| s.saturated),
            cost: ReplicatedCost {
                usd_per_hour: Mean::over(&costs, |c| c.usd_per_hour),
                usd_total: Mean::over(&costs, |c| c.usd_total),
                usd_per_million_requests: Mean::over_some(&costs, |c| c.usd_per_million_requests),
            },
            breaker: each[0].breaker.as_ref().map(|_| ReplicatedBreaker {
                opened: Mean::over(&breakers, |b| b.opened as f64),
                open_s: Mean::over(&breakers, |b| b.open_s),
            }),
            breakdown: pooled.breakdown.clone(),
            llm: pooled.llm.as_ref().map(|pooled| {
                let llms: Vec<&LlmStats> = each.iter().filter_map(|s| s.llm.as_ref()).collect();
                let part = |field: fn(&LlmStats) -> &Percentiles| llms.iter().map(|s| field(s)).collect::<Vec<_>>();
                ReplicatedLlm {
                    ttft_ms: ReplicatedPercentiles::new(&part(|s| &s.ttft_ms), &pooled.ttft_ms, context, None),
                    tpot_ms: ReplicatedPercentiles::new(&part(|s| &s.tpot_ms), &pooled.tpot_ms, context, None),
                    inter_token_ms: ReplicatedPercentiles::new(
                        &part(|s| &s.inter_token_ms),
                        &pooled.inter_token_ms,
                        context,
                        None,
                    ),
                    input_tokens_per_s: Mean::over(&llms, |l| l.input_tokens_per_s),
                    output_tokens_per_s: Mean::over(&llms, |l| l.output_tokens_per_s),
                    goodput_rps: Mean::over(&llms, |l| l.goodput_rps),
                    iterations: Mean::over(&llms, |l| l.iterations as f64),
                    mean_tokens_per_iteration: Mean::over_some(&llms, |l| l.mean_tokens_per_iteration),
                    kv_utilization: Mean::over_some(&llms, |l| l.kv_utilization),
                    kv_capacity_tokens: pooled.kv_capacity_tokens,
                    preemptions: Mean::over(&llms, |l| l.preemptions as f64),
                    recomputed_tokens: Mean::over(&llms, |l| l.recomputed_tokens as f64),
                    prefix_hit_rate: Mean::over_some(&llms, |l| l.prefix_hit_rate),
                    usd_per_million_output_tokens: Mean::over_some(&llms, |l| l.usd_per_million_output_tokens),
                }
            }),
            cache: each[0].cache.as_ref().map(|_| {
                let caches: Vec<&CacheStats> = each.iter().filter_map(|s| s.cache.as_ref()).collect();
                ReplicatedCache {
                    hits: Mean::over(&caches, |c| c.hits as f64),
                    misses: Mean::over(&caches, |c| c.misses as f64),
                    hit_ratio: Mean::over_some(&caches, |c| c.hit_ratio),
                }
            }),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedRegion {
    /// The first replication's (the same in every one).
    pub instance: Option<String>,
    pub service_time_source: Option<String>,
    #[serde(flatten)]
    pub stats: ReplicatedSection,
}

/// One section per name (regions, or variants and shadows), each over the replications that have it.
fn replicate_sections<'a>(
    each: &[&'a BTreeMap<String, RegionSummary>],
    pooled: &'a BTreeMap<String, RegionSummary>,
    context: PooledContext<'a>,
    section: fn(&'a str) -> SectionRef<'a>,
) -> BTreeMap<String, ReplicatedRegion> {
    each[0]
        .iter()
        .map(|(name, first)| {
            let stats: Vec<&Section> = each.iter().filter_map(|m| m.get(name)).map(|r| &r.stats).collect();
            let replicated = ReplicatedRegion {
                instance: first.instance.clone(),
                service_time_source: first.service_time_source.clone(),
                stats: ReplicatedSection::new(&stats, &pooled[name].stats, context, section(name)),
            };
            (name.clone(), replicated)
        })
        .collect()
}

/// One latency target: met in what share of replications, and by the pooled percentile.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedLatencyTarget {
    pub percentile: Mean,
    pub target_ms: Mean,
    pub observed_ms: Option<Estimate>,
    pub met: Fraction,
    pub met_pooled: bool,
    pub within_target: Mean,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedAvailability {
    pub target: Mean,
    pub observed: Mean,
    pub met: Fraction,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedSloReport {
    pub met: Fraction,
    /// Whether the pooled percentiles meet every target.
    pub met_pooled: bool,
    pub latency: Vec<ReplicatedLatencyTarget>,
    pub availability: Option<ReplicatedAvailability>,
}

impl ReplicatedSloReport {
    fn new(each: &[&SloReport], pooled: &SloReport, context: PooledContext) -> ReplicatedSloReport {
        let latency = (0..pooled.latency.len())
            .map(|k| {
                let targets: Vec<&LatencyAttainment> = each.iter().map(|s| &s.latency[k]).collect();
                let observed: Vec<Option<f64>> = targets.iter().map(|t| t.observed_ms).collect();
                ReplicatedLatencyTarget {
                    percentile: Mean::over(&targets, |t| t.percentile),
                    target_ms: Mean::over(&targets, |t| t.target_ms),
                    observed_ms: context.estimate(&observed, pooled.latency[k].observed_ms, None),
                    met: Fraction::over(&targets, |t| t.met),
                    met_pooled: pooled.latency[k].met,
                    within_target: Mean::over(&targets, |t| t.within_target),
                }
            })
            .collect();
        let availabilities: Vec<&AvailabilityAttainment> =
            each.iter().filter_map(|s| s.availability.as_ref()).collect();
        ReplicatedSloReport {
            met: Fraction::over(each, |s| s.met),
            met_pooled: pooled.met,
            latency,
            availability: each[0].availability.as_ref().map(|_| ReplicatedAvailability {
                target: Mean::over(&availabilities, |a| a.target),
                observed: Mean::over(&availabilities, |a| a.observed),
                met: Fraction::over(&availabilities, |a| a.met),
            }),
        }
    }
}

/// One endpoint over the replications: its SLO, its section, each region serving it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedEndpoint {
    pub slo: Option<ReplicatedSloReport>,
    #[serde(flatten)]
    pub stats: ReplicatedSection,
    pub regions: BTreeMap<String, ReplicatedRegion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<ReplicatedStage>,
}

/// A pipeline stage over the replications: each figure's mean and interval (stage percentiles are
/// not pooled: they are a breakdown, not an SLO).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedStage {
    pub name: String,
    pub runs: Mean,
    pub failed: Mean,
    pub latency_ms_p50: Option<Mean>,
    pub latency_ms_p99: Option<Mean>,
    pub share_of_p50: Option<Mean>,
    pub share_of_p99: Option<Mean>,
}

impl ReplicatedEndpoint {
    fn new(
        key: &str,
        each: &[&EndpointSummary],
        pooled: &EndpointSummary,
        context: PooledContext,
    ) -> ReplicatedEndpoint {
        let slos: Vec<&SloReport> = each.iter().filter_map(|e| e.slo.as_ref()).collect();
        let stats: Vec<&Section> = each.iter().map(|e| &e.stats).collect();
        let regions = pooled
            .regions
            .iter()
            .map(|(name, pooled)| {
                let sections: Vec<&Section> =
                    each.iter().filter_map(|e| e.regions.get(name)).map(|r| &r.stats).collect();
                let region = ReplicatedRegion {
                    instance: pooled.instance.clone(),
                    service_time_source: pooled.service_time_source.clone(),
                    stats: ReplicatedSection::new(
                        &sections,
                        &pooled.stats,
                        context,
                        SectionRef::EndpointRegion(key, name),
                    ),
                };
                (name.clone(), region)
            })
            .collect();
        let stages = (0..pooled.stages.len())
            .map(|k| {
                let each: Vec<&StageSummary> = each.iter().filter_map(|e| e.stages.get(k)).collect();
                ReplicatedStage {
                    name: pooled.stages[k].name.clone(),
                    runs: Mean::over(&each, |s| s.runs as f64),
                    failed: Mean::over(&each, |s| s.failed as f64),
                    latency_ms_p50: Mean::over_some(&each, |s| s.latency_ms.p50),
                    latency_ms_p99: Mean::over_some(&each, |s| s.latency_ms.p99),
                    share_of_p50: Mean::over_some(&each, |s| s.share_of_p50),
                    share_of_p99: Mean::over_some(&each, |s| s.share_of_p99),
                }
            })
            .collect();
        ReplicatedEndpoint {
            stages,
            slo: pooled
                .slo
                .as_ref()
                .filter(|_| slos.len() == each.len())
                .map(|p| ReplicatedSloReport::new(&slos, p, context)),
            stats: ReplicatedSection::new(&stats, &pooled.stats, context, SectionRef::Endpoint(key)),
            regions,
        }
    }
}

/// A run's replications together (see the module documentation).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedSummary {
    pub servesim_version: String,
    pub scenario: String,
    /// Each replication's seed.
    pub seed: Vec<u64>,
    pub replications: usize,
    pub duration_s: Mean,
    pub warmup_s: Mean,
    pub drain_s: Mean,
    pub stopped_early_s: Option<Mean>,
    pub mean_in_system: Mean,
    pub slo: Option<ReplicatedSloReport>,
    #[serde(flatten)]
    pub overall: ReplicatedSection,
    pub regions: BTreeMap<String, ReplicatedRegion>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, ReplicatedRegion>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, ReplicatedEndpoint>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_sharing: BTreeMap<String, ReplicatedGpuGroup>,
    /// The same in every replication (the scenario's choice).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, crate::summary::VariantSummary>,
    /// Batch jobs are summarized over their own replications already (`crate::job::summarize`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobSummary>,
    /// Each burn-rate alert over the replications (none without an SLO).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<ReplicatedAlert>,
    /// The drift monitor, from the first replication's traffic (it repeats its own draws).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::DriftSummary>,
}

/// A burn-rate alert over replications: the faults that struck in all of them, how many it caught
/// and how long after (mean with its interval), and its unexplained firings per replication.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedAlert {
    #[serde(flatten)]
    pub rule: crate::monitor::AlertRule,
    pub faults: usize,
    pub detected: usize,
    pub detected_after_s: Option<Mean>,
    pub unexplained: Mean,
}

impl ReplicatedAlert {
    fn new(each: &[&crate::monitor::AlertSummary]) -> ReplicatedAlert {
        let first = each[0];
        let detections: Vec<_> = each.iter().flat_map(|a| &a.detections).collect();
        let after: Vec<f64> = detections.iter().filter_map(|d| d.detected_after_s).collect();
        ReplicatedAlert {
            rule: first.rule.clone(),
            faults: detections.len(),
            detected: after.len(),
            detected_after_s: (!after.is_empty()).then(|| Mean::of(&after)),
            unexplained: Mean::over(each, |a| f64::from(a.unexplained)),
        }
    }
}

/// A GPU-sharing group over replications: its memory check (the same in every one) and the
/// stretch its batches measured, as a mean with its interval.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicatedGpuGroup {
    pub mode: String,
    pub models: Vec<String>,
    pub regions: BTreeMap<String, crate::summary::GpuMemorySummary>,
    pub executions: Mean,
    pub stretch: Option<Mean>,
}

impl ReplicatedGpuGroup {
    fn new(each: &[&crate::summary::GpuGroupSummary]) -> ReplicatedGpuGroup {
        let first = each[0];
        ReplicatedGpuGroup {
            mode: first.mode.clone(),
            models: first.models.clone(),
            regions: first.regions.clone(),
            executions: Mean::over(each, |g| g.executions as f64),
            stretch: Mean::over_some(each, |g| g.stretch),
        }
    }
}

/// What [`ReplicatedSummary::new`] summarizes: every replication's summary, the pooled summary
/// (percentiles from all replications' histograms), the pooled distributions and each
/// replication's latency sketch.
pub struct Replications<'a> {
    pub summaries: &'a [Summary],
    pub pooled: &'a Summary,
    pub distributions: &'a Distributions,
    pub sketches: &'a [Sketch],
}

impl ReplicatedSummary {
    /// Panics on no replications: a run has at least one.
    pub fn new(replications: &Replications, jobs: Vec<JobSummary>) -> ReplicatedSummary {
        let Replications { summaries, pooled, distributions, sketches } = *replications;
        let each: Vec<&Summary> = summaries.iter().collect();
        let first = each[0];
        let context = PooledContext { distributions, sketches };
        let slos: Vec<&SloReport> = each.iter().filter_map(|s| s.slo.as_ref()).collect();
        let regions: Vec<_> = each.iter().map(|s| &s.regions).collect();
        let deployments: Vec<_> = each.iter().map(|s| &s.deployments).collect();
        let overall: Vec<&Section> = each.iter().map(|s| &s.overall).collect();
        ReplicatedSummary {
            servesim_version: first.servesim_version.clone(),
            scenario: first.scenario.clone(),
            seed: each.iter().map(|s| s.seed).collect(),
            replications: each.len(),
            duration_s: Mean::over(&each, |s| s.duration_s),
            warmup_s: Mean::over(&each, |s| s.warmup_s),
            drain_s: Mean::over(&each, |s| s.drain_s),
            stopped_early_s: Mean::over_some(&each, |s| s.stopped_early_s),
            mean_in_system: Mean::over(&each, |s| s.mean_in_system),
            slo: pooled
                .slo
                .as_ref()
                .filter(|_| slos.len() == each.len())
                .map(|p| ReplicatedSloReport::new(&slos, p, context)),
            overall: ReplicatedSection::new(&overall, &pooled.overall, context, SectionRef::Overall),
            regions: replicate_sections(&regions, &pooled.regions, context, SectionRef::Region),
            deployments: replicate_sections(&deployments, &pooled.deployments, context, SectionRef::Deployment),
            endpoints: pooled
                .endpoints
                .iter()
                .map(|(key, pooled)| {
                    let each: Vec<&EndpointSummary> = each.iter().filter_map(|s| s.endpoints.get(key)).collect();
                    (key.clone(), ReplicatedEndpoint::new(key, &each, pooled, context))
                })
                .collect(),
            gpu_sharing: first
                .gpu_sharing
                .keys()
                .map(|key| {
                    let each: Vec<_> = each.iter().filter_map(|s| s.gpu_sharing.get(key)).collect();
                    (key.clone(), ReplicatedGpuGroup::new(&each))
                })
                .collect(),
            variants: first.variants.clone(),
            jobs,
            drift: first.monitoring.as_ref().and_then(|m| m.drift.clone()),
            alerts: first.monitoring.as_ref().map_or_else(Vec::new, |m| {
                (0..m.alerts.len())
                    .map(|k| {
                        let alert: Vec<_> =
                            each.iter().filter_map(|s| s.monitoring.as_ref().map(|m| &m.alerts[k])).collect();
                        ReplicatedAlert::new(&alert)
                    })
                    .collect()
            }),
        }
    }
}
