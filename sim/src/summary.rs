//! The summary of one run: what `summary.json` holds. Simulated results only — nothing here depends
//! on the wall clock — so the same scenario and seed give the same bytes.

use crate::metrics::{Counts, LlmMetrics, Phase, RegionMetrics};
use crate::model::{LatencyTargetModel, Model, SloModel};
use crate::units::{nanos_to_secs, Nanos};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Demand exceeded capacity when more than this fraction of offered requests was dropped or timed out.
pub const SATURATION_LOSS_FRACTION: f64 = 0.01;

/// How long the requests in flight when traffic stops may take to finish before the run counts as
/// saturated: a tenth of the measured window, at least a second. A system that keeps up drains in
/// about one request's latency.
pub fn drain_grace(model: &Model) -> Nanos {
    ((model.duration - model.warmup) / 10).max(1_000_000_000)
}

/// How long requests in flight when traffic stops may drain before the run ends without them (they
/// count as unfinished): the measured window, at least a minute. Past [`drain_grace`] the run is
/// already saturated; the limit only keeps an overloaded run from simulating its backlog for hours.
pub fn drain_limit(model: &Model) -> Nanos {
    (model.duration - model.warmup).max(60_000_000_000)
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RequestCounts {
    pub offered: u64,
    /// Answered by the model.
    pub completed: u64,
    /// Answered by a fallback.
    #[serde(default)]
    pub degraded: u64,
    /// Ended in an error (crash, outage, failed dependency) with no fallback and no retry left.
    #[serde(default)]
    pub failed: u64,
    pub dropped: u64,
    pub timed_out: u64,
    /// Attempts beyond the first, over all requests.
    #[serde(default)]
    pub retries: u64,
    /// Requests the router sent away from a region it saw down.
    #[serde(default)]
    pub failover: u64,
    /// Still in the system when the drain after traffic reached its limit ([`drain_limit`]).
    #[serde(default)]
    pub unfinished: u64,
}

/// Replica-hours in each phase over the measured window (what the cost is made of).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplicaHours {
    pub provisioning: f64,
    pub image_pull: f64,
    pub model_load: f64,
    pub ready: f64,
    pub draining: f64,
    pub down: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BreakerStats {
    /// Times it opened in the measured window.
    pub opened: u64,
    /// Seconds it was open in the measured window.
    pub open_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    /// Requests sent in the measured window, per second.
    pub offered_rps: f64,
    /// Model answers given in the measured window, per second.
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
    /// Replicas configured at the start.
    pub replicas: u64,
    /// Time-average replicas alive (any phase but off) in the measured window.
    #[serde(default)]
    pub replicas_mean: f64,
    #[serde(default)]
    pub replicas_peak: u64,
    #[serde(default)]
    pub replica_hours: ReplicaHours,
    pub requests: RequestCounts,
    pub throughput: Throughput,
    /// Client-observed: network round trip, overheads, queueing and service.
    pub latency_ms: Percentiles,
    pub queue_wait_ms: Percentiles,
    pub service_time_ms: Percentiles,
    pub batch_size: BatchSizes,
    /// Busy instance-time over available instance-time in the measured window.
    pub utilization: Option<f64>,
    /// More than 1% of offered requests were dropped, timed out or failed.
    pub saturated: bool,
    pub cost: Cost,
    /// The circuit breaker, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerStats>,
    /// The response cache, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheStats>,
    /// An LLM engine's figures, where the section has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmStats>,
    /// Where answers' latency went, stage by stage (runs with the breakdown on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<crate::breakdown::BreakdownStats>,
}

/// What LLM engines measured, over requests sent in the measured window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LlmStats {
    /// Time to first token as the client sees the stream begin (network included).
    pub ttft_ms: Percentiles,
    /// Time per output token after the first: (last − first token) ÷ (outputs − 1).
    pub tpot_ms: Percentiles,
    /// Gaps between consecutive tokens of a request.
    pub inter_token_ms: Percentiles,
    pub input_tokens_per_s: f64,
    pub output_tokens_per_s: f64,
    /// Completions within every TTFT and TPOT target, per second.
    pub goodput_rps: f64,
    pub iterations: u64,
    /// Mean tokens per iteration (prefill and decode).
    pub mean_tokens_per_iteration: Option<f64>,
    /// Time-average KV-cache occupancy over ready replicas' capacity.
    pub kv_utilization: Option<f64>,
    /// KV-cache capacity of one replica, in tokens.
    pub kv_capacity_tokens: u64,
    pub preemptions: u64,
    pub recomputed_tokens: u64,
    /// Prompt tokens found in the prefix cache over those looked up (none without lookups).
    pub prefix_hit_rate: Option<f64>,
    /// Measured-window cost over output tokens of completions.
    pub usd_per_million_output_tokens: Option<f64>,
}

/// Response-cache lookups by requests sent in the measured window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); none without lookups.
    pub hit_ratio: Option<f64>,
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
    /// Time-to-first-token and time-per-output-token targets, over completions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttft: Vec<LatencyAttainment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tpot: Vec<LatencyAttainment>,
}

/// One endpoint's requests: its SLO, its deployments together, and each region serving it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EndpointSummary {
    pub slo: Option<SloReport>,
    #[serde(flatten)]
    pub stats: Section,
    pub regions: BTreeMap<String, RegionSummary>,
    /// A pipeline's stages, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSummary>,
}

/// One pipeline stage over the measured window, every region together.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageSummary {
    pub name: String,
    /// Times the stage ran, and how many of those failed or timed out.
    pub runs: u64,
    pub failed: u64,
    /// From the stage's start to its end (its join, a failure or its timeout).
    pub latency_ms: Percentiles,
    /// The stage's p50 and p99 over those of the pipeline's own time (its first stage's start to
    /// its last stage's end, for requests that ran every stage: cache hits and the client's
    /// network are not in it).
    pub share_of_p50: Option<f64>,
    pub share_of_p99: Option<f64>,
}

/// The model variant an endpoint runs (`serving.variants`), against the user's minimum quality.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VariantSummary {
    /// The variant that runs (several, comma-separated, when regions run different ones).
    pub variant: String,
    /// Its quality figure (the lowest, when regions differ).
    pub quality: f64,
    pub min_quality: Option<f64>,
    pub quality_metric: Option<String>,
    /// `quality` ≥ `min_quality` (true without a minimum).
    pub met: bool,
}

/// Per endpoint (`main` for the main one) whose primaries run a model variant: which, and its
/// quality.
pub fn variants(model: &Model) -> BTreeMap<String, VariantSummary> {
    let mut out = BTreeMap::new();
    for e in 0..model.endpoint_count() {
        let running: Vec<&crate::model::VariantModel> = (0..model.regions.len())
            .filter_map(|r| model.site(e, r).primary.serving.as_ref()?.variant.as_ref())
            .collect();
        let Some(worst) = running.iter().min_by(|a, b| a.quality.total_cmp(&b.quality)) else { continue };
        let mut names: Vec<&str> = running.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let min_quality = running.iter().filter_map(|v| v.min_quality).reduce(f64::max);
        out.insert(
            model.endpoint_key(e).to_string(),
            VariantSummary {
                variant: names.join(","),
                quality: worst.quality,
                min_quality,
                quality_metric: worst.metric.clone(),
                met: min_quality.is_none_or(|min| worst.quality >= min),
            },
        );
    }
    out
}

/// Models sharing GPUs (`[gpu_sharing]`): the memory check and what sharing cost in speed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GpuGroupSummary {
    /// `time_sliced` or `mps`.
    pub mode: String,
    /// The member endpoints.
    pub models: Vec<String>,
    /// Per region the group runs in: GPUs, one GPU's memory and what the models need on it.
    pub regions: BTreeMap<String, GpuMemorySummary>,
    /// Batches run on the group's GPUs in the measured window.
    pub executions: u64,
    /// Their time on the GPU over their dedicated service time (1: no slowdown; none without
    /// batches).
    pub stretch: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GpuMemorySummary {
    pub gpus: u32,
    pub gpu_gib: f64,
    pub needed_gib: f64,
}

/// The key of the main endpoint (`[serving]` on `[regions]`) among named ones in a summary.
pub const MAIN_ENDPOINT: &str = "main";

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
    /// Every user-facing deployment (primaries and A/B variants; shadows are apart).
    #[serde(flatten)]
    pub overall: Section,
    /// Each region's primary deployment.
    pub regions: BTreeMap<String, RegionSummary>,
    /// A/B variants and shadow candidates, by `REGION#variant` / `REGION#shadow`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, RegionSummary>,
    /// With named `[endpoints]`: each endpoint on its own (the main one as `main`). The top-level
    /// sections and `slo` then cover every endpoint's requests together.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, EndpointSummary>,
    /// Models sharing GPUs, by group name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_sharing: BTreeMap<String, GpuGroupSummary>,
    /// The model variant each endpoint runs, where its serving lists variants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, VariantSummary>,
    /// Batch-scoring jobs, each over its replications (`crate::job::summarize`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<crate::job::JobSummary>,
    /// The SLO's burn-rate alerts evaluated on the run (`crate::monitor`); none without an SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<crate::monitor::MonitoringSummary>,
}

/// How a message saying that a run measured nothing begins: a sweep point's error that starts
/// with it is bad input, not an infeasible configuration.
pub const NOTHING_MEASURED: &str = "nothing was measured";

impl Summary {
    /// Why the run measured nothing, when `model` has online traffic and none of it arrived in the
    /// measured window: its availability, percentiles and SLO verdict would describe no request.
    pub fn unmeasured(&self, model: &Model) -> Option<String> {
        (model.has_online() && self.overall.requests.offered == 0).then(|| {
            format!(
                "{NOTHING_MEASURED}: no request arrived between the end of the warm-up ({} s) and duration ({} s); \
                 raise the traffic's rate, lengthen duration or shorten warmup",
                self.warmup_s, self.duration_s
            )
        })
    }

    /// Why the overall section is saturated, in words (None when it is not): the same tests that
    /// set the flag, from the summary alone.
    pub fn saturation_reason(&self) -> Option<String> {
        let o = &self.overall;
        if !o.saturated {
            return None;
        }
        let r = &o.requests;
        let lost = r.dropped + r.timed_out + r.failed;
        let mut reasons = Vec::new();
        match self.stopped_early_s {
            Some(at) if r.unfinished > 0 => reasons.push(format!(
                "the run stopped at {at} s with {} requests in the system, more than it holds in memory",
                r.unfinished
            )),
            Some(at) => reasons.push(format!("the run stopped early at {at} s, having clearly failed")),
            None if r.unfinished > 0 => reasons.push(format!(
                "{} requests were still in the system when the drain after traffic was cut at {} s",
                r.unfinished, self.drain_s
            )),
            None => {}
        }
        if lost as f64 > SATURATION_LOSS_FRACTION * r.offered as f64 {
            reasons.push(format!(
                "{:.1}% of requests were dropped, timed out or failed",
                100.0 * lost as f64 / r.offered.max(1) as f64
            ));
        }
        let grace = ((self.duration_s - self.warmup_s) / 10.0).max(1.0);
        if r.unfinished == 0 && self.drain_s > grace {
            reasons.push(format!(
                "the requests in flight when traffic stopped took {:.1} s to finish: the queue grew faster than it drained",
                self.drain_s
            ));
        }
        if reasons.is_empty() {
            reasons.push("a region lost more than 1% of its requests".into());
        }
        Some(reasons.join("; "))
    }
}

fn ms(nanos: f64) -> f64 {
    nanos / 1e6
}

fn percentiles(histogram: &Histogram<u64>, sum: f64) -> Percentiles {
    let count = histogram.len();
    // One pass over the buckets for all five (the library's own single-pass reading, equal to
    // `value_at_quantile` for each): a short run's summary spent more time scanning 3-digit
    // histograms than simulating, which calibrate's thousands of replays pay for.
    let mut at = [None; 5];
    if count > 0 {
        for (slot, value) in at.iter_mut().zip(histogram.value_at_quantiles([0.5, 0.9, 0.95, 0.99, 0.999])) {
            *slot = Some(ms(value as f64));
        }
    }
    let [p50, p90, p95, p99, p999] = at;
    Percentiles {
        count,
        mean: (count > 0).then(|| ms(sum / count as f64)),
        p50,
        p90,
        p95,
        p99,
        p999,
        max: (count > 0).then(|| ms(histogram.max() as f64)),
    }
}

/// Measured statistics of a group of deployments, with what they cost.
struct Totals {
    metrics: RegionMetrics,
    /// Instance-nanoseconds available (ready or draining replicas) in the measured window.
    capacity_nanos: f64,
    replicas: u64,
    /// Σ price × replica-nanoseconds alive, in the measured window and over the run.
    usd_nanos: f64,
    usd_nanos_run: f64,
    has_breaker: bool,
    has_cache: bool,
}

impl Totals {
    fn new() -> Self {
        Totals {
            metrics: RegionMetrics::new(0),
            capacity_nanos: 0.0,
            replicas: 0,
            usd_nanos: 0.0,
            usd_nanos_run: 0.0,
            has_breaker: false,
            has_cache: false,
        }
    }

    fn add(&mut self, pool: &PoolSummary) {
        self.metrics.merge(pool.metrics);
        self.replicas += u64::from(pool.replicas);
        let alive: f64 = pool.metrics.replica_nanos[1..].iter().sum();
        let alive_run: f64 = pool.metrics.replica_nanos_run[1..].iter().sum();
        self.usd_nanos += pool.usd_per_hour * alive;
        self.usd_nanos_run += pool.usd_per_hour * alive_run;
        self.capacity_nanos += f64::from(pool.instances)
            * (pool.metrics.replica_nanos[Phase::Ready as usize]
                + pool.metrics.replica_nanos[Phase::Draining as usize]);
        self.has_breaker |= pool.has_breaker;
        self.has_cache |= pool.has_cache;
    }

    fn section(&self, model: &Model, window_end: Nanos) -> Section {
        // A scenario of jobs alone has no measured window: its online rates are zero, not 0/0.
        let window = ((window_end - model.warmup) as f64).max(1.0);
        let measured = nanos_to_secs(window_end - model.warmup).max(1e-9);
        let m = &self.metrics;
        let c = m.counts;
        let batches: u64 = m.batch_sizes.iter().sum();
        let batched: u64 = m.batch_sizes.iter().enumerate().map(|(size, &n)| size as u64 * n).sum();
        let usd_measured = self.usd_nanos / 3.6e12;
        let hours = |phase: Phase| m.replica_nanos[phase as usize] / 3.6e12;
        let alive: f64 = m.replica_nanos[1..].iter().sum();
        Section {
            replicas: self.replicas,
            replicas_mean: alive / window,
            replicas_peak: m.peak_replicas,
            replica_hours: ReplicaHours {
                provisioning: hours(Phase::Provisioning),
                image_pull: hours(Phase::ImagePull),
                model_load: hours(Phase::ModelLoad),
                ready: hours(Phase::Ready),
                draining: hours(Phase::Draining),
                down: hours(Phase::Down),
            },
            requests: RequestCounts {
                offered: c.offered,
                completed: c.completed,
                degraded: c.degraded,
                failed: c.failed,
                dropped: c.dropped,
                timed_out: c.timed_out,
                retries: c.retries,
                failover: c.failover,
                unfinished: c.unfinished,
            },
            throughput: Throughput {
                offered_rps: c.offered as f64 / measured,
                completed_rps: m.completed_in_window as f64 / measured,
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
            utilization: (self.capacity_nanos > 0.0).then(|| m.busy_nanos / self.capacity_nanos),
            saturated: c.unfinished > 0
                || (c.dropped + c.timed_out + c.failed) as f64 > SATURATION_LOSS_FRACTION * c.offered as f64,
            cost: Cost {
                usd_per_hour: self.usd_nanos / window,
                usd_total: self.usd_nanos_run / 3.6e12,
                usd_per_million_requests: (c.answered() > 0).then(|| usd_measured / c.answered() as f64 * 1e6),
            },
            breaker: self
                .has_breaker
                .then(|| BreakerStats { opened: m.breaker_opened, open_s: m.breaker_open_nanos / 1e9 }),
            breakdown: m.breakdown.as_ref().and_then(|b| b.stats()),
            llm: m.llm.as_ref().map(|llm| {
                let ready = m.replica_nanos[Phase::Ready as usize] + m.replica_nanos[Phase::Draining as usize];
                let tokens = llm.prefill_tokens + llm.decode_tokens;
                LlmStats {
                    ttft_ms: percentiles(&llm.ttft, llm.ttft_sum),
                    tpot_ms: percentiles(&llm.tpot, llm.tpot_sum),
                    inter_token_ms: percentiles(&llm.inter_token, llm.inter_token_sum),
                    input_tokens_per_s: llm.prompt_tokens as f64 / measured,
                    output_tokens_per_s: llm.output_tokens as f64 / measured,
                    goodput_rps: llm.good as f64 / measured,
                    iterations: llm.iterations,
                    mean_tokens_per_iteration: (llm.iterations > 0).then(|| tokens as f64 / llm.iterations as f64),
                    kv_utilization: (ready > 0.0 && llm.kv_tokens_per_replica > 0)
                        .then(|| llm.kv_token_nanos / (ready * llm.kv_tokens_per_replica as f64)),
                    kv_capacity_tokens: llm.kv_tokens_per_replica,
                    preemptions: llm.preemptions,
                    recomputed_tokens: llm.recomputed_tokens,
                    prefix_hit_rate: (llm.prefix_lookup_tokens > 0)
                        .then(|| llm.prefix_hit_tokens as f64 / llm.prefix_lookup_tokens as f64),
                    usd_per_million_output_tokens: (llm.output_tokens > 0)
                        .then(|| usd_measured / llm.output_tokens as f64 * 1e6),
                }
            }),
            cache: self.has_cache.then(|| {
                let lookups = m.cache_hits + m.cache_misses;
                CacheStats {
                    hits: m.cache_hits,
                    misses: m.cache_misses,
                    hit_ratio: (lookups > 0).then(|| m.cache_hits as f64 / lookups as f64),
                }
            }),
        }
    }
}

pub use crate::model::Role;

/// What the engine hands over per deployment.
pub struct PoolSummary<'a> {
    pub region: usize,
    /// 0 for the main endpoint, `k` for `Model::endpoints[k - 1]`.
    pub endpoint: usize,
    /// `REGION`, `REGION#variant` or `REGION#shadow`; `ENDPOINT/REGION` for a named endpoint.
    pub name: String,
    pub role: Role,
    pub metrics: &'a RegionMetrics,
    pub replicas: u32,
    pub instances: u32,
    pub usd_per_hour: f64,
    pub has_breaker: bool,
    pub has_cache: bool,
    pub service_time_source: Option<String>,
    pub instance: Option<String>,
    /// The deployment has a serving model or runs a pipeline (a region that only sends traffic
    /// has neither).
    pub serves: bool,
    /// A pipeline's stages (empty otherwise).
    pub stages: &'a [crate::world::StageMetrics],
    /// Requests of pipeline stages, apart from the deployment's clients' (`metrics`).
    pub calls: Option<&'a RegionMetrics>,
}

fn slo_report(
    slo: &SloModel,
    counts: &Counts,
    latency: &Histogram<u64>,
    llm: Option<&LlmMetrics>,
) -> Option<SloReport> {
    if slo.latency.is_empty() && slo.availability.is_none() && slo.ttft.is_empty() && slo.tpot.is_empty() {
        return None;
    }
    let offered = counts.offered;
    let latency: Vec<LatencyAttainment> = slo
        .latency
        .iter()
        .map(|target| {
            // Over offered requests: dropped and timed-out ones count as slower than any target.
            let observed = if offered == 0 {
                None
            } else {
                let rank = (target.percentile / 100.0 * offered as f64).ceil() as u64;
                let answered = counts.answered();
                if rank > answered {
                    Some(f64::INFINITY)
                } else {
                    Some(ms(latency.value_at_quantile(rank as f64 / answered.max(1) as f64) as f64))
                }
            };
            let within = latency.count_between(0, target.max);
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
        // Answered within the timeout, degraded answers included.
        let observed = if offered == 0 { 0.0 } else { counts.answered() as f64 / offered as f64 };
        AvailabilityAttainment { target, observed, met: observed >= target }
    });
    // Over completions that produced the measure; a section without an LLM engine misses them.
    let token_targets =
        |targets: &[LatencyTargetModel], histogram: Option<&Histogram<u64>>| -> Vec<LatencyAttainment> {
            targets
                .iter()
                .map(|target| {
                    let observed = histogram
                        .filter(|h| !h.is_empty())
                        .map(|h| ms(h.value_at_quantile(target.percentile / 100.0) as f64));
                    let total = histogram.map_or(0, |h| h.len());
                    LatencyAttainment {
                        percentile: target.percentile,
                        target_ms: ms(target.max as f64),
                        met: matches!(observed, Some(v) if v <= ms(target.max as f64)),
                        observed_ms: observed,
                        within_target: if total == 0 {
                            0.0
                        } else {
                            histogram.map_or(0, |h| h.count_between(0, target.max)) as f64 / total as f64
                        },
                    }
                })
                .collect()
        };
    let ttft = token_targets(&slo.ttft, llm.map(|l| &l.ttft));
    let tpot = token_targets(&slo.tpot, llm.map(|l| &l.tpot));
    let met = latency.iter().all(|l| l.met)
        && availability.as_ref().is_none_or(|a| a.met)
        && ttft.iter().all(|l| l.met)
        && tpot.iter().all(|l| l.met);
    Some(SloReport { met, latency, availability, ttft, tpot })
}

/// Builds the summary from the run's per-region metrics, and the distributions behind it (to pool
/// replications). `stopped_at` is set when the run gave up early; statistics then cover warm-up
/// to that time.
pub fn summarize(
    model: &Model,
    seed: u64,
    pools: &[PoolSummary],
    in_system_area: f64,
    drained_at: Nanos,
    stopped_at: Option<Nanos>,
) -> (Summary, Distributions) {
    let window_end = stopped_at.unwrap_or(model.duration);
    let mut overall = Totals::new();
    let mut regions = BTreeMap::new();
    let mut deployments = BTreeMap::new();
    let mut distributions = Vec::with_capacity(pools.len() + 1);
    let named = !model.endpoints.is_empty();
    // Each region's primaries of every endpoint together; with one endpoint, one pool per region.
    // Histograms are large: only a scenario with named endpoints builds the extra totals.
    let extra = if named { model.regions.len() } else { 0 };
    let mut region_totals: Vec<(Totals, Option<String>, Option<String>)> =
        (0..extra).map(|_| (Totals::new(), None, None)).collect();
    let mut endpoint_totals: Vec<Totals> =
        (0..if named { model.endpoint_count() } else { 0 }).map(|_| Totals::new()).collect();
    let mut endpoint_regions: Vec<BTreeMap<String, RegionSummary>> = vec![BTreeMap::new(); model.endpoint_count()];
    let mut endpoint_stages: Vec<Vec<crate::world::StageMetrics>> = vec![Vec::new(); model.endpoint_count()];
    let region_summary = |pool: &PoolSummary, totals: &Totals| RegionSummary {
        instance: pool.instance.clone(),
        service_time_source: pool.service_time_source.clone(),
        stats: totals.section(model, window_end),
    };
    for pool in pools {
        if pool.role != Role::Shadow {
            overall.add(pool);
            if named {
                endpoint_totals[pool.endpoint].add(pool);
                if let Some(calls) = pool.calls {
                    endpoint_totals[pool.endpoint].metrics.merge(calls);
                }
            }
        }
        let stages = &mut endpoint_stages[pool.endpoint];
        if stages.is_empty() {
            stages.extend(pool.stages.iter().cloned());
        } else {
            stages.iter_mut().zip(pool.stages).for_each(|(mine, theirs)| mine.merge(theirs));
        }
        let mut totals = Totals::new();
        totals.add(pool);
        if pool.role != Role::Primary {
            deployments.insert(pool.name.clone(), region_summary(pool, &totals));
            distributions.push(SectionDistribution::take(Place::Deployment(pool.name.clone()), totals.metrics));
            continue;
        }
        if !named {
            // One endpoint: the region's section is its primary's.
            let name = model.regions[pool.region].name.clone();
            regions.insert(name.clone(), region_summary(pool, &totals));
            distributions.push(SectionDistribution::take(Place::Region(name), totals.metrics));
            continue;
        }
        let (region, instance, source) = &mut region_totals[pool.region];
        region.add(pool);
        if instance.is_none() && source.is_none() {
            (*instance, *source) = (pool.instance.clone(), pool.service_time_source.clone());
        }
        if pool.serves {
            let name = model.regions[pool.region].name.clone();
            if let Some(calls) = pool.calls {
                totals.metrics.merge(calls);
            }
            endpoint_regions[pool.endpoint].insert(name.clone(), region_summary(pool, &totals));
            let place = Place::EndpointRegion(model.endpoint_key(pool.endpoint).to_string(), name);
            distributions.push(SectionDistribution::take(place, totals.metrics));
        }
    }
    for (r, (totals, instance, service_time_source)) in region_totals.into_iter().enumerate() {
        let name = model.regions[r].name.clone();
        let summary = RegionSummary { instance, service_time_source, stats: totals.section(model, window_end) };
        regions.insert(name.clone(), summary);
        distributions.push(SectionDistribution::take(Place::Region(name), totals.metrics));
    }
    let mut endpoints = BTreeMap::new();
    for (e, ((totals, regions), stages)) in
        endpoint_totals.into_iter().zip(endpoint_regions).zip(endpoint_stages).enumerate()
    {
        if regions.is_empty() {
            continue;
        }
        let key = model.endpoint_key(e).to_string();
        let own_slo = if e == 0 { &SloModel::default() } else { model.endpoint_slo(e) };
        let stats = totals.section(model, window_end);
        let stages = match (model.pipeline(e), stages.split_last()) {
            (Some(pipeline), Some((whole, each))) => {
                let whole = percentiles(&whole.latency, whole.latency_sum);
                pipeline.stages.iter().zip(each).map(|(s, m)| stage_summary(&s.name, m, &whole)).collect()
            }
            _ => Vec::new(),
        };
        let summary = EndpointSummary {
            slo: slo_report(own_slo, &totals.metrics.counts, &totals.metrics.latency, totals.metrics.llm.as_deref()),
            stats,
            regions,
            stages,
        };
        endpoints.insert(key.clone(), summary);
        distributions.push(SectionDistribution::take(Place::Endpoint(key), totals.metrics));
    }
    let slo = slo_report(&model.slo, &overall.metrics.counts, &overall.metrics.latency, overall.metrics.llm.as_deref());
    let mut overall_section = overall.section(model, window_end);
    let drain = drained_at.saturating_sub(model.duration);
    // Without drops or timeouts an overloaded system hides its overload in a queue that drains long
    // after traffic stops: that is saturation too.
    overall_section.saturated |= stopped_at.is_none() && drain > drain_grace(model);
    distributions.insert(0, SectionDistribution::take(Place::Overall, overall.metrics));
    let summary = Summary {
        servesim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: model.name.clone(),
        seed,
        duration_s: nanos_to_secs(model.duration),
        warmup_s: nanos_to_secs(model.warmup),
        drain_s: nanos_to_secs(drained_at.saturating_sub(model.duration)),
        stopped_early_s: stopped_at.map(nanos_to_secs),
        mean_in_system: in_system_area / ((window_end - model.warmup) as f64).max(1.0),
        slo,
        overall: overall_section,
        regions,
        deployments,
        endpoints,
        gpu_sharing: BTreeMap::new(),
        variants: variants(model),
        jobs: Vec::new(),
        monitoring: None,
    };
    (summary, Distributions { sections: distributions })
}

fn stage_summary(name: &str, metrics: &crate::world::StageMetrics, whole: &Percentiles) -> StageSummary {
    let latency_ms = percentiles(&metrics.latency, metrics.latency_sum);
    let share = |stage: Option<f64>, total: Option<f64>| match (stage, total) {
        (Some(stage), Some(total)) if total > 0.0 => Some(stage / total),
        _ => None,
    };
    StageSummary {
        name: name.to_string(),
        runs: metrics.runs,
        failed: metrics.failed,
        share_of_p50: share(latency_ms.p50, whole.p50),
        share_of_p99: share(latency_ms.p99, whole.p99),
        latency_ms,
    }
}

/// Which part of a summary a distribution belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Overall,
    Region(String),
    Deployment(String),
    Endpoint(String),
    /// An endpoint's deployment in a region: (endpoint key, region).
    EndpointRegion(String, String),
}

/// One section's measured distributions and the counts its SLO is judged on.
#[derive(Clone, Debug)]
struct SectionDistribution {
    place: Place,
    counts: Counts,
    latency: Histogram<u64>,
    queue_wait: Histogram<u64>,
    service_time: Histogram<u64>,
    sums: [f64; 3],
    llm: Option<Box<LlmMetrics>>,
    breakdown: Option<Box<crate::breakdown::BreakdownMetrics>>,
}

impl SectionDistribution {
    fn take(place: Place, metrics: RegionMetrics) -> Self {
        SectionDistribution {
            place,
            counts: metrics.counts,
            sums: [metrics.latency_sum, metrics.queue_wait_sum, metrics.service_time_sum],
            latency: metrics.latency,
            queue_wait: metrics.queue_wait,
            service_time: metrics.service_time,
            llm: metrics.llm,
            breakdown: metrics.breakdown,
        }
    }
}

/// A run's latency, queue-wait and service-time histograms per summary section, kept so that
/// replications can be pooled: a percentile of the union of their measured windows, not the
/// mean of each window's percentile, which short runs bias low in the tail.
#[derive(Clone, Debug)]
pub struct Distributions {
    sections: Vec<SectionDistribution>,
}

/// Probability levels at which a replication's latency distribution is sketched: coarse in the
/// body, dense in the tail where SLO percentiles live.
fn sketch_levels() -> &'static [f64] {
    static LEVELS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    LEVELS.get_or_init(|| {
        let mut levels: Vec<f64> = (0..40).map(|k| f64::from(k) * 0.02).collect();
        levels.extend((0..190).map(|k| 0.8 + f64::from(k) * 0.001));
        levels.extend((0..90).map(|k| 0.99 + f64::from(k) * 0.0001));
        levels.extend((0..90).map(|k| 0.999 + f64::from(k) * 0.00001));
        levels.extend([0.9999, 0.99995, 0.99999, 1.0]);
        levels
    })
}

/// A replication's latency distribution per summary section, at [`sketch_levels`]: a few
/// kilobytes that stand in for its histogram when intervals are computed after pooling.
#[derive(Clone, Debug)]
pub struct Sketch {
    /// Per section, the latency (ns) at each level; empty for a section without answers.
    sections: Vec<Vec<f64>>,
}

impl Sketch {
    /// The fraction of the section's requests at or below `value` (ns), interpolated.
    fn cdf(&self, section: usize, value: f64) -> Option<f64> {
        let values = self.sections.get(section).filter(|v| !v.is_empty())?;
        let levels = sketch_levels();
        let above = values.partition_point(|&v| v <= value);
        Some(match above {
            0 => 0.0,
            n if n == values.len() => 1.0,
            n => {
                let (v0, v1) = (values[n - 1], values[n]);
                levels[n - 1] + (levels[n] - levels[n - 1]) * (value - v0) / (v1 - v0)
            }
        })
    }
}

/// The section of a summary a statistic belongs to.
#[derive(Clone, Copy, Debug)]
pub enum SectionRef<'a> {
    Overall,
    Region(&'a str),
    Deployment(&'a str),
    Endpoint(&'a str),
    /// (endpoint key, region)
    EndpointRegion(&'a str, &'a str),
}

impl Distributions {
    /// This replication's latency sketch (see [`Sketch`]).
    pub fn sketch(&self) -> Sketch {
        let levels = sketch_levels();
        let sections = self
            .sections
            .iter()
            .map(|s| {
                let total = s.latency.len();
                if total == 0 {
                    return Vec::new();
                }
                let mut values = Vec::with_capacity(levels.len());
                let mut seen = 0u64;
                let mut next = 0;
                for step in s.latency.iter_recorded() {
                    seen += step.count_at_value();
                    while next < levels.len() && seen as f64 >= (levels[next] * total as f64).max(1.0) {
                        values.push(step.value_iterated_to() as f64);
                        next += 1;
                    }
                }
                let last = s.latency.max() as f64;
                values.resize(levels.len(), last);
                values
            })
            .collect();
        Sketch { sections }
    }

    fn index(&self, section: SectionRef) -> Option<usize> {
        self.sections.iter().position(|s| match (&s.place, section) {
            (Place::Overall, SectionRef::Overall) => true,
            (Place::Region(a), SectionRef::Region(b))
            | (Place::Deployment(a), SectionRef::Deployment(b))
            | (Place::Endpoint(a), SectionRef::Endpoint(b)) => a == b,
            (Place::EndpointRegion(a, r), SectionRef::EndpointRegion(b, q)) => a == b && r == q,
            _ => false,
        })
    }

    /// A confidence interval (ms) for the latency `quantile` of `section`, from these pooled
    /// distributions and each replication's sketch, by Woodruff's method: the fraction of each
    /// replication's requests at or below the pooled estimate varies across replications; a
    /// Student-t interval for its mean, mapped back through the pooled distribution, bounds the
    /// quantile. Unlike an interval on the per-replication quantiles, it stays right when those
    /// are skewed, as short runs' tail quantiles are. None with fewer than two replications.
    pub fn latency_interval(
        &self,
        sketches: &[Sketch],
        section: SectionRef,
        quantile: f64,
        confidence: f64,
    ) -> Option<(f64, f64)> {
        let k = self.index(section)?;
        let pooled = &self.sections[k].latency;
        if sketches.len() < 2 || pooled.is_empty() {
            return None;
        }
        let estimate = pooled.value_at_quantile(quantile) as f64;
        let fractions: Vec<f64> = sketches.iter().filter_map(|s| s.cdf(k, estimate)).collect();
        if fractions.len() < 2 {
            return None;
        }
        let n = fractions.len() as f64;
        let mean = fractions.iter().sum::<f64>() / n;
        let spread = fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let half = crate::stats::t_quantile(0.5 + confidence / 2.0, fractions.len() as u64 - 1) * (spread / n).sqrt();
        let at = |q: f64| ms(pooled.value_at_quantile(q.clamp(0.0, 1.0)) as f64);
        Some((at(quantile - half), at(quantile + half)))
    }

    /// Adds another replication of the same model.
    pub fn merge(&mut self, other: &Distributions) {
        assert_eq!(self.sections.len(), other.sections.len(), "replications of one model have the same sections");
        for (mine, theirs) in self.sections.iter_mut().zip(&other.sections) {
            debug_assert_eq!(mine.place, theirs.place);
            mine.counts += &theirs.counts;
            mine.latency.add(&theirs.latency).expect("histograms share bounds");
            mine.queue_wait.add(&theirs.queue_wait).expect("histograms share bounds");
            mine.service_time.add(&theirs.service_time).expect("histograms share bounds");
            if let (Some(mine), Some(theirs)) = (mine.llm.as_mut(), theirs.llm.as_ref()) {
                mine.merge(theirs);
            }
            match (mine.breakdown.as_mut(), theirs.breakdown.as_ref()) {
                (Some(mine), Some(theirs)) => mine.merge(theirs),
                (None, Some(theirs)) => mine.breakdown = Some(theirs.clone()),
                _ => {}
            }
            for (sum, other) in mine.sums.iter_mut().zip(theirs.sums) {
                *sum += other;
            }
        }
    }

    /// Overwrites `summary`'s percentiles and SLO attainment with these (pooled) distributions'.
    pub fn apply(&self, model: &Model, summary: &mut Summary) {
        for section in &self.sections {
            let target = match &section.place {
                Place::Overall => {
                    summary.slo = slo_report(&model.slo, &section.counts, &section.latency, section.llm.as_deref());
                    Some(&mut summary.overall)
                }
                Place::Region(name) => summary.regions.get_mut(name).map(|r| &mut r.stats),
                Place::Deployment(name) => summary.deployments.get_mut(name).map(|r| &mut r.stats),
                Place::Endpoint(key) => summary.endpoints.get_mut(key).map(|endpoint| {
                    let own = model.endpoints.iter().position(|e| &e.name == key).map(|k| model.endpoint_slo(k + 1));
                    endpoint.slo = slo_report(
                        own.unwrap_or(&SloModel::default()),
                        &section.counts,
                        &section.latency,
                        section.llm.as_deref(),
                    );
                    &mut endpoint.stats
                }),
                Place::EndpointRegion(key, region) => {
                    summary.endpoints.get_mut(key).and_then(|e| e.regions.get_mut(region)).map(|r| &mut r.stats)
                }
            };
            if let Some(stats) = target {
                if let (Some(llm), Some(stats)) = (&section.llm, stats.llm.as_mut()) {
                    stats.ttft_ms = percentiles(&llm.ttft, llm.ttft_sum);
                    stats.tpot_ms = percentiles(&llm.tpot, llm.tpot_sum);
                    stats.inter_token_ms = percentiles(&llm.inter_token, llm.inter_token_sum);
                }
                stats.breakdown = section.breakdown.as_ref().and_then(|b| b.stats());
                stats.latency_ms = percentiles(&section.latency, section.sums[0]);
                stats.queue_wait_ms = percentiles(&section.queue_wait, section.sums[1]);
                stats.service_time_ms = percentiles(&section.service_time, section.sums[2]);
            }
        }
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
    // Ascending quantiles, read in one pass (equal to `value_at_quantile` for each).
    histogram.value_at_quantiles(CDF_QUANTILES).zip(CDF_QUANTILES).map(|(v, q)| (ms(v as f64), q)).collect()
}

/// CDFs per user-facing deployment with answers, then of all of them together (named "all").
pub fn latency_cdfs(pools: &[PoolSummary]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut all = RegionMetrics::new(0);
    let mut out = Vec::new();
    for pool in pools.iter().filter(|p| p.role != Role::Shadow) {
        all.merge(pool.metrics);
        if !pool.metrics.latency.is_empty() {
            out.push((pool.name.clone(), latency_cdf(&pool.metrics.latency)));
        }
    }
    if out.len() > 1 {
        out.push(("all".to_string(), latency_cdf(&all.latency)));
    }
    out
}

/// One LLM token-time CDF: which measure (`"ttft"` or `"tpot"`), whose, and its points.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenCdf {
    pub metric: String,
    pub deployment: String,
    pub points: Vec<(f64, f64)>,
}

/// TTFT, then TPOT, CDFs of every user-facing LLM deployment with completions (empty without
/// LLM engines): the distributions behind the summary's token percentiles.
pub fn token_cdfs(pools: &[PoolSummary]) -> Vec<TokenCdf> {
    let llm_pools = || {
        pools.iter().filter(|p| p.role != Role::Shadow).filter_map(|p| p.metrics.llm.as_deref().map(|l| (&p.name, l)))
    };
    let mut out = Vec::new();
    for metric in ["ttft", "tpot"] {
        for (name, llm) in llm_pools() {
            let histogram = if metric == "ttft" { &llm.ttft } else { &llm.tpot };
            if !histogram.is_empty() {
                out.push(TokenCdf { metric: metric.into(), deployment: name.clone(), points: latency_cdf(histogram) });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass readings give exactly what `value_at_quantile` gives for each quantile, on
    /// histograms from one value to heavy-tailed spreads over many orders of magnitude.
    #[test]
    fn one_pass_percentiles_equal_the_library_per_quantile() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        for (values, spread_bits) in [(1, 3_u64), (7, 10), (1_000, 20), (50_000, 40)] {
            let mut histogram = crate::metrics::new_histogram();
            for _ in 0..values {
                // A log-uniform draw: tails many orders above the median.
                let bits = next() % spread_bits + 1;
                histogram.record(1 + next() % (1 << bits)).unwrap();
            }
            let got = percentiles(&histogram, 0.0);
            let want = |q: f64| Some(ms(histogram.value_at_quantile(q) as f64));
            assert_eq!(
                [got.p50, got.p90, got.p95, got.p99, got.p999],
                [want(0.5), want(0.9), want(0.95), want(0.99), want(0.999)]
            );
            let cdf = latency_cdf(&histogram);
            let expected: Vec<(f64, f64)> =
                CDF_QUANTILES.iter().map(|&q| (ms(histogram.value_at_quantile(q) as f64), q)).collect();
            assert_eq!(cdf, expected);
        }
        let empty = crate::metrics::new_histogram();
        assert_eq!(percentiles(&empty, 0.0).p99, None);
    }
}
