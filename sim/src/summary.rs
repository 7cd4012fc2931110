//! The summary of one run: what `summary.json` holds. Simulated results only — nothing here depends
//! on the wall clock — so the same scenario and seed give the same bytes.

use crate::metrics::RegionMetrics;
use crate::model::Model;
use crate::units::{nanos_to_secs, Nanos};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Demand exceeded capacity when more than this fraction of offered requests was dropped or timed out.
pub const SATURATION_LOSS_FRACTION: f64 = 0.01;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RequestCounts {
    pub offered: u64,
    pub completed: u64,
    pub dropped: u64,
    pub timed_out: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    pub offered_rps: f64,
    pub completed_rps: f64,
}

/// Milliseconds; null when nothing was recorded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchSizes {
    pub batches: u64,
    pub mean: Option<f64>,
    /// `[size, batches]` for each size that occurred.
    pub histogram: Vec<(u32, u64)>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cost {
    pub usd_per_hour: f64,
    /// For the whole simulated duration, warm-up included.
    pub usd_total: f64,
    /// Measured-window cost divided by requests completed in it.
    pub usd_per_million_requests: Option<f64>,
}

/// The statistics of one region, or of all regions together.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Section {
    pub replicas: u64,
    pub requests: RequestCounts,
    pub throughput: Throughput,
    /// Client-observed: network round trip, overheads, queueing and service.
    pub latency_ms: Percentiles,
    pub queue_wait_ms: Percentiles,
    pub service_time_ms: Percentiles,
    pub batch_size: BatchSizes,
    /// Busy instance-time over available instance-time in the measured window.
    pub utilization: Option<f64>,
    /// More than 1% of offered requests were dropped or timed out.
    pub saturated: bool,
    pub cost: Cost,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegionSummary {
    pub instance: Option<String>,
    /// Where the batch service times come from.
    pub service_time_source: Option<String>,
    #[serde(flatten)]
    pub stats: Section,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LatencyAttainment {
    pub percentile: f64,
    pub target_ms: f64,
    pub observed_ms: Option<f64>,
    pub met: bool,
    /// Fraction of offered requests answered within the target.
    pub within_target: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AvailabilityAttainment {
    pub target: f64,
    pub observed: f64,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SloReport {
    pub met: bool,
    pub latency: Vec<LatencyAttainment>,
    pub availability: Option<AvailabilityAttainment>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub servesim_version: String,
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Simulated time after the last arrival until the last request finished.
    pub drain_s: f64,
    /// When the run gave up because it had clearly failed (sweeps only); null for a full run.
    pub stopped_early_s: Option<f64>,
    /// Time-average number of requests in the system (sent, not yet answered) in the measured window.
    pub mean_in_system: f64,
    pub slo: Option<SloReport>,
    #[serde(flatten)]
    pub overall: Section,
    pub regions: BTreeMap<String, RegionSummary>,
}

fn ms(nanos: f64) -> f64 {
    nanos / 1e6
}

fn percentiles(histogram: &Histogram<u64>, sum: f64) -> Percentiles {
    let count = histogram.len();
    let at = |q: f64| (count > 0).then(|| ms(histogram.value_at_quantile(q) as f64));
    Percentiles {
        count,
        mean: (count > 0).then(|| ms(sum / count as f64)),
        p50: at(0.5),
        p90: at(0.9),
        p95: at(0.95),
        p99: at(0.99),
        p999: at(0.999),
        max: (count > 0).then(|| ms(histogram.max() as f64)),
    }
}

/// Measured statistics of a group of regions, with what they cost.
struct Totals {
    metrics: RegionMetrics,
    instances: f64,
    replicas: u64,
    usd_per_hour: f64,
}

impl Totals {
    fn new() -> Self {
        Totals { metrics: RegionMetrics::new(0), instances: 0.0, replicas: 0, usd_per_hour: 0.0 }
    }

    fn add(&mut self, metrics: &RegionMetrics, replicas: u64, instances: f64, usd_per_hour: f64) {
        self.metrics.merge(metrics);
        self.instances += instances;
        self.replicas += replicas;
        self.usd_per_hour += usd_per_hour;
    }

    fn section(&self, model: &Model, window_end: Nanos) -> Section {
        let measured = nanos_to_secs(window_end - model.warmup);
        let m = &self.metrics;
        let c = m.counts;
        let batches: u64 = m.batch_sizes.iter().sum();
        let batched: u64 = m.batch_sizes.iter().enumerate().map(|(size, &n)| size as u64 * n).sum();
        let usd_measured = self.usd_per_hour * measured / 3600.0;
        Section {
            replicas: self.replicas,
            requests: RequestCounts {
                offered: c.offered,
                completed: c.completed,
                dropped: c.dropped,
                timed_out: c.timed_out,
            },
            throughput: Throughput {
                offered_rps: c.offered as f64 / measured,
                completed_rps: c.completed as f64 / measured,
            },
            latency_ms: percentiles(&m.latency, m.latency_sum),
            queue_wait_ms: percentiles(&m.queue_wait, m.queue_wait_sum),
            service_time_ms: percentiles(&m.service_time, m.service_time_sum),
            batch_size: BatchSizes {
                batches,
                mean: (batches > 0).then(|| batched as f64 / batches as f64),
                histogram: m
                    .batch_sizes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &n)| n > 0)
                    .map(|(size, &n)| (size as u32, n))
                    .collect(),
            },
            utilization: (self.instances > 0.0).then(|| m.busy_nanos / (self.instances * (measured * 1e9))),
            saturated: (c.dropped + c.timed_out) as f64 > SATURATION_LOSS_FRACTION * c.offered as f64,
            cost: Cost {
                usd_per_hour: self.usd_per_hour,
                usd_total: self.usd_per_hour * nanos_to_secs(model.duration) / 3600.0,
                usd_per_million_requests: (c.completed > 0).then(|| usd_measured / c.completed as f64 * 1e6),
            },
        }
    }
}

fn slo_report(model: &Model, totals: &Totals) -> Option<SloReport> {
    let slo = &model.slo;
    if slo.latency.is_empty() && slo.availability.is_none() {
        return None;
    }
    let offered = totals.metrics.counts.offered;
    let latency: Vec<LatencyAttainment> = slo
        .latency
        .iter()
        .map(|target| {
            // Over offered requests: dropped and timed-out ones count as slower than any target.
            let observed = if offered == 0 {
                None
            } else {
                let rank = (target.percentile / 100.0 * offered as f64).ceil() as u64;
                if rank > totals.metrics.counts.completed {
                    Some(f64::INFINITY)
                } else {
                    Some(ms(totals
                        .metrics
                        .latency
                        .value_at_quantile(rank as f64 / totals.metrics.counts.completed.max(1) as f64)
                        as f64))
                }
            };
            let within = totals.metrics.latency.count_between(0, target.max);
            let observed_ms = observed.filter(|v| v.is_finite());
            LatencyAttainment {
                percentile: target.percentile,
                target_ms: ms(target.max as f64),
                met: matches!(observed, Some(v) if v <= ms(target.max as f64)),
                observed_ms,
                within_target: if offered == 0 { 0.0 } else { within as f64 / offered as f64 },
            }
        })
        .collect();
    let availability = slo.availability.map(|target| {
        let observed = if offered == 0 { 0.0 } else { totals.metrics.counts.completed as f64 / offered as f64 };
        AvailabilityAttainment { target, observed, met: observed >= target }
    });
    let met = latency.iter().all(|l| l.met) && availability.as_ref().is_none_or(|a| a.met);
    Some(SloReport { met, latency, availability })
}

/// Builds the summary from the run's per-region metrics.
/// `stopped_at` is set when the run gave up early; statistics then cover warm-up to that time.
pub fn summarize(
    model: &Model,
    seed: u64,
    regions: &[&RegionMetrics],
    in_system_area: f64,
    end: Nanos,
    stopped_at: Option<Nanos>,
) -> Summary {
    let window_end = stopped_at.unwrap_or(model.duration);
    let mut overall = Totals::new();
    let mut region_summaries = BTreeMap::new();
    for (region_model, run) in model.regions.iter().zip(regions) {
        let instances = region_model.serving.as_ref().map_or(0, |s| s.instances);
        let replicas = u64::from(region_model.replicas);
        let usd_per_hour = region_model.usd_per_hour * replicas as f64;
        let mut totals = Totals::new();
        totals.add(run, replicas, replicas as f64 * f64::from(instances), usd_per_hour);
        overall.add(run, replicas, replicas as f64 * f64::from(instances), usd_per_hour);
        region_summaries.insert(
            region_model.name.clone(),
            RegionSummary {
                instance: region_model.instance.clone(),
                service_time_source: region_model.serving.as_ref().map(|s| s.service.source()),
                stats: totals.section(model, window_end),
            },
        );
    }
    Summary {
        servesim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: model.name.clone(),
        seed,
        duration_s: nanos_to_secs(model.duration),
        warmup_s: nanos_to_secs(model.warmup),
        drain_s: nanos_to_secs(end.saturating_sub(model.duration)),
        stopped_early_s: stopped_at.map(nanos_to_secs),
        mean_in_system: in_system_area / (window_end - model.warmup) as f64,
        slo: slo_report(model, &overall),
        overall: overall.section(model, window_end),
        regions: region_summaries,
    }
}

/// Quantiles at which latency CDFs are sampled: dense in the tail, where SLOs live.
const CDF_QUANTILES: [f64; 27] = [
    0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95,
    0.975, 0.99, 0.995, 0.999, 0.9999, 1.0,
];

/// `(latency ms, fraction of requests at or below)` points of a latency histogram.
pub fn latency_cdf(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    CDF_QUANTILES.iter().map(|&q| (ms(histogram.value_at_quantile(q) as f64), q)).collect()
}

/// CDFs per region with completions, then of all regions together (named "all").
pub fn latency_cdfs(model: &Model, regions: &[&RegionMetrics]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut all = RegionMetrics::new(0);
    let mut out = Vec::new();
    for (region, run) in model.regions.iter().zip(regions) {
        all.merge(run);
        if !run.latency.is_empty() {
            out.push((region.name.clone(), latency_cdf(&run.latency)));
        }
    }
    if out.len() > 1 {
        out.push(("all".to_string(), latency_cdf(&all.latency)));
    }
    out
}
