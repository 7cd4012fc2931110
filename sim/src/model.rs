//! From a scenario as written to the model the engine runs: every semantic check, every name
//! resolved to an index, every duration in nanoseconds and every rate per nanosecond.
//!
//! Errors carry the key path of the offending value (`traffic[0].arrivals.rate`), so the caller,
//! which has the file, can point at its line and column.

use crate::autoscale::AutoscalingModel;
use crate::breaker::BreakerModel;
use crate::dist::Sampler;
use crate::resilience::{
    build_autoscaling, build_breaker, build_fallback, build_fault, build_feature_store, build_health, build_retries,
    build_startup, FallbackModel, FaultModel, FeatureStoreModel, HealthModel, RetryModel, StartupModel,
};
use crate::scenario::{self, Arrivals, Balancer, Dist, RoutingPolicy, Scenario};
use crate::service::{BatchLatency, BucketedLatency, DistLatency, TableLatency};
use crate::traffic::{Process, TraceData};
use crate::units::{Nanos, NANOS_PER_SEC};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl From<&str> for PathSegment {
    fn from(key: &str) -> Self {
        PathSegment::Key(key.to_string())
    }
}
impl From<&String> for PathSegment {
    fn from(key: &String) -> Self {
        PathSegment::Key(key.clone())
    }
}
impl From<usize> for PathSegment {
    fn from(index: usize) -> Self {
        PathSegment::Index(index)
    }
}

/// A key path into the scenario document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<PathSegment>);

impl KeyPath {
    pub fn join(&self, segment: impl Into<PathSegment>) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(segment.into());
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if i == 0 => write!(f, "{key}")?,
                PathSegment::Key(key) => write!(f, ".{key}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// `path!["traffic", 0, "arrivals"]`
#[macro_export]
macro_rules! path {
    ($($segment:expr),* $(,)?) => {
        $crate::model::KeyPath(vec![$($crate::model::PathSegment::from($segment)),*])
    };
}

/// A scenario that is well-formed TOML but says something impossible or inconsistent.
#[derive(Clone, Debug)]
pub struct ScenarioError {
    pub path: KeyPath,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.0.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

pub(crate) fn fail<T>(path: KeyPath, message: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError { path, message: message.into() })
}

/// One row of the instance price catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogEntry {
    pub cloud: String,
    pub instance: String,
    pub gpu: String,
    pub gpus: u32,
    pub region: String,
    pub usd_per_hour: f64,
    pub spot_usd_per_hour: Option<f64>,
    /// Expected spot preemptions per instance-hour, where known.
    pub preemptions_per_hour: Option<f64>,
    /// Where the figure comes from, and its date.
    pub source: String,
}

struct Price {
    usd_per_hour: f64,
    source: Option<String>,
    /// GPUs per instance, where known.
    gpus: Option<u32>,
}

/// A region's `instance`: a key of `[instance_types]`, or a catalog entry written
/// `instance@cloud-region` or `cloud:instance@cloud-region` (e.g. `aws:g5.xlarge@us-east-1`).
fn price_of(instance: &str, pricing: scenario::Pricing, scenario: &Scenario, inputs: &Inputs) -> Result<Price, String> {
    if let Some(own) = scenario.instance_types.get(instance) {
        if pricing == scenario::Pricing::Spot {
            return Err(format!("spot pricing needs a catalog instance; {instance:?} is defined in [instance_types]"));
        }
        return Ok(Price { usd_per_hour: own.usd_per_hour, source: own.source.clone(), gpus: own.gpus });
    }
    let unknown = || {
        let known: Vec<&str> = scenario.instance_types.keys().map(String::as_str).collect();
        format!(
            "unknown instance type {instance:?}: not in [instance_types] (which defines: {}) nor in the price catalog \
             (write catalog instances as instance@region, e.g. \"g5.xlarge@us-east-1\")",
            list_or_none(&known)
        )
    };
    let (cloud, rest) = match instance.split_once(':') {
        Some((cloud, rest)) => (Some(cloud), rest),
        None => (None, instance),
    };
    let (name, region) = rest.split_once('@').ok_or_else(unknown)?;
    let matches: Vec<&CatalogEntry> = inputs
        .catalog
        .iter()
        .filter(|e| e.instance == name && e.region == region && cloud.is_none_or(|c| c == e.cloud))
        .collect();
    let entry = match matches.as_slice() {
        [] => return Err(unknown()),
        [entry] => *entry,
        several => {
            let clouds: Vec<&str> = several.iter().map(|e| e.cloud.as_str()).collect();
            return Err(format!(
                "{instance:?} is in the catalog for several clouds ({}): prefix one, e.g. \"{}:{rest}\"",
                clouds.join(", "),
                clouds[0]
            ));
        }
    };
    match pricing {
        scenario::Pricing::OnDemand => Ok(Price {
            gpus: Some(entry.gpus),
            usd_per_hour: entry.usd_per_hour,
            source: Some(format!("{} on-demand {}: {}", entry.cloud, entry.region, entry.source)),
        }),
        scenario::Pricing::Spot => match entry.spot_usd_per_hour {
            Some(spot) => Ok(Price {
                gpus: Some(entry.gpus),
                usd_per_hour: spot,
                source: Some(format!("{} spot {}: {}", entry.cloud, entry.region, entry.source)),
            }),
            None => Err(format!("the catalog has no spot price for {instance:?}; add one in your own price file")),
        },
    }
}

/// File contents the scenario refers to, read by the caller (this crate does no I/O).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Instance prices (the bundled catalog, or the user's own file).
    pub catalog: Vec<CatalogEntry>,
    /// Latency tables by the `file` string as written: `(batch size, latency in ns)`.
    pub tables: BTreeMap<String, Vec<(u32, f64)>>,
    /// Batch latency tables computed from model graphs, by [`model_key`].
    pub model_tables: BTreeMap<String, ModelTable>,
    /// Replayed traces by [`trace_key`].
    pub traces: BTreeMap<String, Arc<TraceData>>,
}

#[derive(Debug)]
pub struct ServingModel {
    pub queue_capacity: u32,
    pub timeout: Option<Nanos>,
    pub balancer: Balancer,
    pub max_batch: u32,
    pub max_queue_delay: Nanos,
    /// Sorted, largest first.
    pub preferred_batch_sizes: Vec<u32>,
    pub instances: u32,
    pub service: Arc<dyn BatchLatency>,
    pub pre: Option<Sampler>,
    pub post: Option<Sampler>,
    pub cpu_workers: Option<u32>,
    pub startup: StartupModel,
    pub health: HealthModel,
    pub feature_store: Option<FeatureStoreModel>,
    pub breaker: Option<BreakerModel>,
    pub fallback: Option<FallbackModel>,
}

impl ServingModel {
    /// Mean server time per request at full batches: the reciprocal of one instance's peak throughput.
    pub fn per_request_nanos(&self) -> f64 {
        self.service.mean(self.max_batch) / f64::from(self.max_batch)
    }
}

#[derive(Debug)]
pub struct RegionModel {
    pub name: String,
    pub replicas: u32,
    pub instance: Option<String>,
    /// Per replica.
    pub usd_per_hour: f64,
    /// Where the price comes from, and when.
    pub price_source: Option<String>,
    /// GPUs per replica, where the instance type says.
    pub gpus: Option<u32>,
    pub serving: Option<Arc<ServingModel>>,
    pub autoscaling: Option<AutoscalingModel>,
    /// An A/B variant and a shadow candidate beside the primary deployment.
    pub variant: Option<DeploymentModel>,
    pub shadow: Option<DeploymentModel>,
}

impl RegionModel {
    /// Replica slots the primary deployment may use.
    pub fn max_replicas(&self) -> u32 {
        self.autoscaling.as_ref().map_or(self.replicas, |a| a.max_replicas.max(self.replicas))
    }
}

/// A variant or shadow deployment in one region.
#[derive(Debug)]
pub struct DeploymentModel {
    pub fraction: f64,
    pub replicas: u32,
    pub serving: Arc<ServingModel>,
    pub autoscaling: Option<AutoscalingModel>,
    pub instance: Option<String>,
    pub usd_per_hour: f64,
}

impl DeploymentModel {
    pub fn max_replicas(&self) -> u32 {
        self.autoscaling.as_ref().map_or(self.replicas, |a| a.max_replicas.max(self.replicas))
    }
}

#[derive(Debug)]
pub struct SourceModel {
    pub origin: usize,
    pub process: Process,
    /// Stable id of the source's random stream.
    pub stream: String,
}

#[derive(Debug)]
pub struct RoutingModel {
    pub policy: RoutingPolicy,
    /// Per region; zero for regions that serve nothing.
    pub weights: Vec<f64>,
    pub spillover_queue: Option<u32>,
    /// The global router's probes of regions.
    pub health: HealthModel,
}

#[derive(Clone, Debug)]
pub struct LatencyTargetModel {
    pub percentile: f64,
    pub max: Nanos,
}

#[derive(Clone, Debug, Default)]
pub struct SloModel {
    pub latency: Vec<LatencyTargetModel>,
    pub availability: Option<f64>,
}

#[derive(Debug)]
pub struct Model {
    pub name: String,
    pub seed: u64,
    pub duration: Nanos,
    pub warmup: Nanos,
    pub interval: Nanos,
    /// In name order.
    pub regions: Vec<RegionModel>,
    /// `rtt[origin][region]`, round trip.
    pub rtt: Vec<Vec<Nanos>>,
    pub sources: Vec<SourceModel>,
    pub routing: RoutingModel,
    pub slo: SloModel,
    pub faults: Vec<FaultModel>,
    pub retries: Option<RetryModel>,
}

impl Model {
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }
}

/// Sizes beyond these are typos, not plans, and would exhaust memory before the run starts.
pub(crate) const MAX_REPLICAS: u32 = 100_000;
const MAX_BATCH: u32 = 65_536;
const MAX_INSTANCES: u32 = 1_024;
const MAX_CPU_WORKERS: u32 = 100_000;
/// Time-series rows a run may write (duration / interval).
const MAX_INTERVALS: u64 = 1_000_000;
/// Requests a run may simulate: about an hour of computing on one core.
const MAX_EXPECTED_REQUESTS: f64 = 1e10;

fn positive_finite(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

fn check_rate(path: KeyPath, rate: crate::units::Rate, allow_zero: bool) -> Result<f64, ScenarioError> {
    let per_sec = rate.per_sec();
    if !per_sec.is_finite() || per_sec < 0.0 || (!allow_zero && per_sec == 0.0) {
        let need = if allow_zero { "zero or positive" } else { "positive" };
        return fail(path, format!("rate must be {need}, got {per_sec}/s"));
    }
    Ok(per_sec / NANOS_PER_SEC)
}

fn check_cv(path: KeyPath, cv: f64) -> Result<(), ScenarioError> {
    if !cv.is_finite() || cv < 0.0 {
        return fail(path, format!("cv (coefficient of variation) must be zero or positive, got {cv}"));
    }
    Ok(())
}

fn check_positive(path: KeyPath, what: &str, value: Nanos) -> Result<f64, ScenarioError> {
    if value == 0 {
        return fail(path, format!("{what} must be greater than zero"));
    }
    Ok(value as f64)
}

/// A distribution for per-request overhead (tables are for batches only).
pub(crate) fn sampler(path: &KeyPath, dist: &Dist) -> Result<Sampler, ScenarioError> {
    Ok(match dist {
        Dist::Constant { value } => Sampler::constant(value.nanos()),
        Dist::Exponential { mean } => Sampler::exponential(check_positive(path.join("mean"), "mean", mean.nanos())?),
        Dist::Lognormal { mean, cv } => {
            check_cv(path.join("cv"), *cv)?;
            Sampler::lognormal(check_positive(path.join("mean"), "mean", mean.nanos())?, *cv)
        }
        Dist::Gamma { mean, cv } => {
            check_cv(path.join("cv"), *cv)?;
            Sampler::gamma(check_positive(path.join("mean"), "mean", mean.nanos())?, *cv)
        }
        Dist::Uniform { min, max } => {
            if min > max {
                return fail(path.join("min"), format!("min ({min}) is greater than max ({max})"));
            }
            Sampler::uniform(min.nanos(), max.nanos())
        }
        Dist::Empirical { samples } => {
            if samples.is_empty() {
                return fail(path.join("samples"), "empirical distribution needs at least one sample");
            }
            Sampler::empirical(samples.iter().map(|d| d.nanos()).collect())
        }
        Dist::Table { .. } | Dist::Model { .. } => {
            return fail(
                path.join("kind"),
                "batch latency tables and models only describe batch service times; use a distribution here",
            )
        }
    })
}

/// Longest sequence a model table is computed for (BERT-class encoders stop at 512; decoders go
/// further).
const MAX_SEQ: u32 = 1 << 20;

fn check_seqs(path: &KeyPath, seq: u32, seq_buckets: &[u32]) -> Result<(), ScenarioError> {
    if seq == 0 || seq > MAX_SEQ {
        return fail(path.join("seq"), format!("seq must be between 1 and {MAX_SEQ}, got {seq}"));
    }
    if seq_buckets.len() > 64 {
        return fail(path.join("seq_buckets"), "at most 64 sequence-length buckets");
    }
    for (i, &bucket) in seq_buckets.iter().enumerate() {
        if bucket == 0 || bucket > MAX_SEQ || (i > 0 && bucket <= seq_buckets[i - 1]) {
            return fail(
                path.join("seq_buckets"),
                format!("buckets must increase strictly and lie between 1 and {MAX_SEQ}; got {seq_buckets:?}"),
            );
        }
    }
    Ok(())
}

fn batch_latency(
    path: &KeyPath,
    dist: &Dist,
    max_batch: u32,
    inputs: &Inputs,
) -> Result<Arc<dyn BatchLatency>, ScenarioError> {
    if let Dist::Model { model, device, seq, seq_buckets } = dist {
        check_seqs(path, *seq, seq_buckets)?;
        let Some(table) = inputs.model_tables.get(&model_key(model, device)) else {
            return fail(path.join("model"), format!("no latency table was computed for {model} on {device}"));
        };
        let mut buckets = Vec::new();
        for wanted in model_seqs(*seq, seq_buckets) {
            let points = table.by_seq.get(&wanted).filter(|p| p.last().is_some_and(|&(size, _)| size >= max_batch));
            let Some(points) = points else {
                return fail(
                    path.join("model"),
                    format!("the computed table for {model} lacks seq {wanted} up to max_batch {max_batch}"),
                );
            };
            buckets.push((wanted, TableLatency::new(points, max_batch, 0.0, String::new())));
        }
        let description = if seq_buckets.is_empty() {
            format!("{model} on {device}, seq {seq}: {}", table.describe())
        } else {
            let list: Vec<String> = seq_buckets.iter().map(u32::to_string).collect();
            format!("{model} on {device}, seq buckets {} (default {seq}): {}", list.join("/"), table.describe())
        };
        return Ok(Arc::new(BucketedLatency::new(buckets, *seq, seq_buckets.is_empty(), description)));
    }
    let Dist::Table { file, points, cv } = dist else {
        let sampler = sampler(path, dist)?;
        let description = format!("{} (scenario distribution)", describe_dist(dist));
        return Ok(Arc::new(DistLatency { sampler, description }));
    };
    check_cv(path.join("cv"), *cv)?;
    let (points, origin): (Vec<(u32, f64)>, String) = match (file, points) {
        (Some(_), Some(_)) => return fail(path.join("points"), "give either `file` or `points`, not both"),
        (None, None) => {
            return fail(path.clone(), "a table needs `file` (CSV batch_size,latency_ms) or inline `points`")
        }
        (None, Some(points)) => (points.iter().map(|(b, d)| (*b, d.nanos() as f64)).collect(), "inline points".into()),
        (Some(file), None) => match inputs.tables.get(file) {
            Some(points) => (points.clone(), format!("table {file}")),
            None => return fail(path.join("file"), format!("latency table {file:?} was not loaded")),
        },
    };
    let point_path = if file.is_some() { path.join("file") } else { path.join("points") };
    if points.is_empty() {
        return fail(point_path, "latency table has no rows");
    }
    for (i, window) in points.windows(2).enumerate() {
        if window[1].0 <= window[0].0 {
            return fail(
                point_path,
                format!("batch sizes must increase strictly: row {} has {} after {}", i + 2, window[1].0, window[0].0),
            );
        }
    }
    for &(size, latency) in &points {
        if size == 0 || !positive_finite(latency) {
            return fail(point_path, format!("row for batch size {size}: sizes and latencies must be positive"));
        }
    }
    let largest = points[points.len() - 1].0;
    if largest < max_batch {
        return fail(
            point_path,
            format!("latency table stops at batch size {largest} but max_batch is {max_batch}: measure up to {max_batch} or lower max_batch"),
        );
    }
    Ok(Arc::new(TableLatency::new(&points, max_batch, *cv, origin)))
}

fn describe_dist(dist: &Dist) -> String {
    match dist {
        Dist::Constant { value } => format!("constant {value}"),
        Dist::Exponential { mean } => format!("exponential mean {mean}"),
        Dist::Lognormal { mean, cv } => format!("lognormal mean {mean} cv {cv}"),
        Dist::Gamma { mean, cv } => format!("gamma mean {mean} cv {cv}"),
        Dist::Uniform { min, max } => format!("uniform {min}..{max}"),
        Dist::Empirical { samples } => format!("empirical ({} samples)", samples.len()),
        Dist::Table { .. } => "table".into(),
        Dist::Model { model, device, seq, .. } => format!("{model} on {device}, seq {seq}"),
    }
}

fn serving_model(path: &KeyPath, serving: &scenario::Serving, inputs: &Inputs) -> Result<ServingModel, ScenarioError> {
    let batching = &serving.batching;
    let batching_path = path.join("batching");
    if batching.max_batch == 0 || batching.max_batch > MAX_BATCH {
        return fail(batching_path.join("max_batch"), format!("max_batch must be between 1 and {MAX_BATCH}"));
    }
    if batching.instances == 0 || batching.instances > MAX_INSTANCES {
        return fail(batching_path.join("instances"), format!("instances must be between 1 and {MAX_INSTANCES}"));
    }
    let mut preferred = batching.preferred_batch_sizes.clone();
    for (i, &size) in preferred.iter().enumerate() {
        if size == 0 || size > batching.max_batch {
            return fail(
                batching_path.join("preferred_batch_sizes").join(i),
                format!("preferred batch size {size} must be between 1 and max_batch ({})", batching.max_batch),
            );
        }
    }
    preferred.sort_unstable_by(|a, b| b.cmp(a));
    preferred.dedup();
    if serving.queue_capacity == 0 {
        return fail(path.join("queue_capacity"), "queue_capacity must be at least 1");
    }
    if let Some(timeout) = serving.timeout {
        check_positive(path.join("timeout"), "timeout", timeout.nanos())?;
    }
    let overhead_path = path.join("overhead");
    if serving.overhead.cpu_workers.is_some_and(|w| w == 0 || w > MAX_CPU_WORKERS) {
        return fail(overhead_path.join("cpu_workers"), format!("cpu_workers must be between 1 and {MAX_CPU_WORKERS}"));
    }
    let stage = |key: &str, dist: &Option<Dist>| -> Result<Option<Sampler>, ScenarioError> {
        dist.as_ref().map(|d| sampler(&overhead_path.join(key), d)).transpose()
    };
    let pre = stage("pre", &serving.overhead.pre)?.filter(|s| !s.is_zero() || serving.overhead.cpu_workers.is_some());
    let post =
        stage("post", &serving.overhead.post)?.filter(|s| !s.is_zero() || serving.overhead.cpu_workers.is_some());
    let service = batch_latency(&path.join("service_time"), &serving.service_time, batching.max_batch, inputs)?;
    Ok(ServingModel {
        queue_capacity: serving.queue_capacity,
        timeout: serving.timeout.map(|t| t.nanos()),
        balancer: serving.balancer,
        max_batch: batching.max_batch,
        max_queue_delay: batching.max_queue_delay.nanos(),
        preferred_batch_sizes: preferred,
        instances: batching.instances,
        service,
        pre,
        post,
        cpu_workers: serving.overhead.cpu_workers,
        startup: build_startup(&path.join("startup"), &serving.startup)?,
        health: build_health(&path.join("health_check"), &serving.health_check)?,
        feature_store: serving
            .feature_store
            .as_ref()
            .map(|f| build_feature_store(&path.join("feature_store"), f))
            .transpose()?,
        breaker: serving
            .circuit_breaker
            .as_ref()
            .map(|b| build_breaker(&path.join("circuit_breaker"), b))
            .transpose()?,
        fallback: serving.fallback.as_ref().map(|f| build_fallback(&path.join("fallback"), f)).transpose()?,
    })
}

fn unknown_region(path: KeyPath, name: &str, regions: &[RegionModel]) -> ScenarioError {
    let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    ScenarioError { path, message: format!("unknown region {name:?}; regions are: {}", known.join(", ")) }
}

/// What identifies a model-derived latency table.
pub fn model_key(model: &str, device: &str) -> String {
    format!("{model}@{device}")
}

/// The sequence lengths a `kind = "model"` service time needs tables for: its buckets and its
/// default `seq`, sorted and distinct.
pub fn model_seqs(seq: u32, seq_buckets: &[u32]) -> Vec<u32> {
    let mut seqs: Vec<u32> = seq_buckets.iter().copied().chain([seq]).collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// A model's batch latency on one device: per sequence length, `(batch size, ns)` points.
#[derive(Clone, Debug, Default)]
pub struct ModelTable {
    pub by_seq: BTreeMap<u32, Vec<(u32, f64)>>,
    /// Where the numbers come from (measured, interpolated or estimated, and from what).
    pub source: String,
    /// The 68% band of the source's error, as factors (low, high) on every latency: where the
    /// true service time is likely to lie, for an estimate judged against published measurements.
    pub band: Option<(f64, f64)>,
}

impl ModelTable {
    fn describe(&self) -> String {
        match self.band {
            Some((low, high)) => format!("{} [68% band ×{low:.2}–×{high:.2}]", self.source),
            None => self.source.clone(),
        }
    }
}

/// What identifies a trace's data: its file and how it is read (not its speed-up, applied later).
pub fn trace_key(arrivals: &Arrivals) -> Option<String> {
    match arrivals {
        Arrivals::Trace { file, timestamp_column, size_column, output_column, origin, .. } => Some(format!(
            "{file}|{timestamp_column}|{}|{}|{origin}",
            size_column.as_deref().unwrap_or(""),
            output_column.as_deref().unwrap_or("")
        )),
        _ => None,
    }
}

fn process(path: &KeyPath, arrivals: &Arrivals, inputs: &Inputs) -> Result<Process, ScenarioError> {
    Ok(match arrivals {
        Arrivals::Poisson { rate } => Process::Poisson { mean_gap: 1.0 / check_rate(path.join("rate"), *rate, false)? },
        Arrivals::Constant { rate } => Process::Constant { gap: 1.0 / check_rate(path.join("rate"), *rate, false)? },
        Arrivals::Diurnal { base, peak, period, phase } => {
            let base = check_rate(path.join("base"), *base, true)?;
            let peak = check_rate(path.join("peak"), *peak, false)?;
            if peak < base {
                return fail(path.join("peak"), "peak rate must be at least the base rate");
            }
            let period = check_positive(path.join("period"), "period", period.nanos())?;
            Process::Diurnal { base, peak, period, phase: phase.nanos() as f64 }
        }
        Arrivals::Schedule { points } => {
            let points_path = path.join("points");
            if points.is_empty() {
                return fail(points_path, "a schedule needs at least one [time, rate] point");
            }
            let mut converted = Vec::with_capacity(points.len());
            for (i, (time, rate)) in points.iter().enumerate() {
                if let Some(&(previous, _)) = converted.last() {
                    if (time.nanos() as f64) < previous {
                        return fail(points_path.join(i), "schedule points must be in time order");
                    }
                }
                converted.push((time.nanos() as f64, check_rate(points_path.join(i), *rate, true)?));
            }
            if converted.iter().all(|&(_, r)| r == 0.0) {
                return fail(points_path, "every rate in the schedule is zero");
            }
            Process::schedule(converted)
        }
        Arrivals::Mmpp { low_rate, high_rate, mean_low_duration, mean_high_duration } => {
            let low_rate = check_rate(path.join("low_rate"), *low_rate, true)?;
            let high_rate = check_rate(path.join("high_rate"), *high_rate, false)?;
            let mean_low =
                check_positive(path.join("mean_low_duration"), "mean_low_duration", mean_low_duration.nanos())?;
            let mean_high =
                check_positive(path.join("mean_high_duration"), "mean_high_duration", mean_high_duration.nanos())?;
            Process::Mmpp { low_rate, high_rate, mean_low, mean_high }
        }
        Arrivals::Trace { speedup, .. } => {
            if !positive_finite(*speedup) {
                return fail(path.join("speedup"), format!("speedup must be positive, got {speedup}"));
            }
            let Some(trace) = trace_key(arrivals).and_then(|key| inputs.traces.get(&key)) else {
                return fail(path.join("file"), "trace was not loaded");
            };
            if trace.offsets.is_empty() {
                return fail(path.join("file"), "trace has no rows after its origin");
            }
            if *speedup == 1.0 {
                Process::Trace(trace.clone())
            } else {
                let mut scaled = TraceData::clone(trace);
                for offset in &mut scaled.offsets {
                    *offset = (*offset as f64 / speedup) as Nanos;
                }
                Process::Trace(Arc::new(scaled))
            }
        }
    })
}

/// Check a scenario and resolve it into a runnable model.
pub fn build(scenario: &Scenario, inputs: &Inputs) -> Result<Model, ScenarioError> {
    let duration = scenario.duration.nanos();
    check_positive(path!["duration"], "duration", duration)?;
    if scenario.warmup.nanos() >= duration {
        return fail(
            path!["warmup"],
            format!("warmup ({}) must be shorter than duration ({})", scenario.warmup, scenario.duration),
        );
    }
    check_positive(path!["interval"], "interval", scenario.interval.nanos())?;
    let intervals = duration.div_ceil(scenario.interval.nanos());
    if intervals > MAX_INTERVALS {
        return fail(
            path!["interval"],
            format!(
                "interval {} would give {intervals} time-series rows per region; use at most {MAX_INTERVALS}",
                scenario.interval
            ),
        );
    }
    if scenario.regions.is_empty() {
        return fail(path!["regions"], "at least one region is needed");
    }

    let mut shared_serving = None;
    if let Some(serving) = &scenario.serving {
        shared_serving = Some(Arc::new(serving_model(&path!["serving"], serving, inputs)?));
    }
    let mut regions = Vec::with_capacity(scenario.regions.len());
    for (name, region) in &scenario.regions {
        let region_path = path!["regions", name];
        if region.replicas > MAX_REPLICAS {
            return fail(region_path.join("replicas"), format!("replicas must be at most {MAX_REPLICAS}"));
        }
        let serving = match &region.serving {
            Some(own) => Some(Arc::new(serving_model(&region_path.join("serving"), own, inputs)?)),
            None => shared_serving.clone(),
        };
        if region.replicas > 0 && serving.is_none() {
            return fail(
                region_path,
                "region has replicas but there is no [serving] section (top level or in the region)",
            );
        }
        let price = match &region.instance {
            None => Price { usd_per_hour: 0.0, source: None, gpus: None },
            Some(instance) => price_of(instance, region.pricing, scenario, inputs)
                .map_err(|message| ScenarioError { path: region_path.join("instance"), message })?,
        };
        let autoscaling = match &region.autoscaling {
            Some(a) if serving.is_some() => {
                Some(build_autoscaling(&region_path.join("autoscaling"), a, region.replicas)?)
            }
            Some(_) => return fail(region_path.join("autoscaling"), "autoscaling needs a [serving] section"),
            None => None,
        };
        let serves = region.replicas > 0 || autoscaling.is_some();
        let deployment =
            |key: &str, given: &Option<scenario::Deployment>| -> Result<Option<DeploymentModel>, ScenarioError> {
                let (Some(d), true) = (given, serves) else { return Ok(None) };
                let at = path![key];
                if !(d.fraction > 0.0 && d.fraction <= 1.0) {
                    return fail(at.join("fraction"), format!("fraction must be in (0, 1], got {}", d.fraction));
                }
                if d.replicas == 0 || d.replicas > MAX_REPLICAS {
                    return fail(at.join("replicas"), format!("replicas must be between 1 and {MAX_REPLICAS}"));
                }
                let own = match &d.serving {
                    Some(own) => Arc::new(serving_model(&at.join("serving"), own, inputs)?),
                    None => serving.clone().expect("serving regions have a serving model"),
                };
                let instance = d.instance.clone().or_else(|| region.instance.clone());
                let usd_per_hour = match &instance {
                    None => 0.0,
                    Some(instance) => {
                        price_of(instance, region.pricing, scenario, inputs)
                            .map_err(|message| ScenarioError { path: at.join("instance"), message })?
                            .usd_per_hour
                    }
                };
                let autoscaling = d
                    .autoscaling
                    .as_ref()
                    .map(|a| build_autoscaling(&at.join("autoscaling"), a, d.replicas))
                    .transpose()?;
                Ok(Some(DeploymentModel {
                    fraction: d.fraction,
                    replicas: d.replicas,
                    serving: own,
                    autoscaling,
                    instance,
                    usd_per_hour,
                }))
            };
        let variant = deployment("ab", &scenario.ab)?;
        let shadow = deployment("shadow", &scenario.shadow)?;
        regions.push(RegionModel {
            name: name.clone(),
            replicas: region.replicas,
            instance: region.instance.clone(),
            usd_per_hour: price.usd_per_hour,
            price_source: price.source,
            gpus: price.gpus,
            serving: if serves { serving } else { None },
            variant,
            shadow,
            autoscaling,
        });
    }
    if regions.iter().all(|r| r.serving.is_none()) {
        return fail(path!["regions"], "no region has replicas: nothing would serve the traffic");
    }
    for (name, instance) in &scenario.instance_types {
        if !instance.usd_per_hour.is_finite() || instance.usd_per_hour < 0.0 {
            return fail(path!["instance_types", name, "usd_per_hour"], "price must be zero or positive");
        }
    }

    let n = regions.len();
    let mut rtt: Vec<Vec<Option<Nanos>>> = vec![vec![None; n]; n];
    for (i, row) in rtt.iter_mut().enumerate() {
        row[i] = Some(scenario.network.same_region_rtt.nanos());
    }
    for (i, link) in scenario.network.links.iter().enumerate() {
        let link_path = path!["network", "links", i];
        let from = regions.iter().position(|r| r.name == link.from);
        let to = regions.iter().position(|r| r.name == link.to);
        let from = from.ok_or_else(|| unknown_region(link_path.join("from"), &link.from, &regions))?;
        let to = to.ok_or_else(|| unknown_region(link_path.join("to"), &link.to, &regions))?;
        rtt[from][to] = Some(link.rtt.nanos());
        rtt[to][from] = Some(link.rtt.nanos());
    }

    if scenario.traffic.is_empty() {
        return fail(path!["traffic"], "at least one [[traffic]] source is needed");
    }
    let mut sources = Vec::with_capacity(scenario.traffic.len());
    let mut per_origin: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, traffic) in scenario.traffic.iter().enumerate() {
        let traffic_path = path!["traffic", i];
        let origin = regions
            .iter()
            .position(|r| r.name == traffic.origin)
            .ok_or_else(|| unknown_region(traffic_path.join("origin"), &traffic.origin, &regions))?;
        // The k-th source of an origin keeps its stream when sources of other origins come and go.
        let k = per_origin.entry(origin).or_insert(0);
        let stream = format!("traffic/{}/{}", traffic.origin, k);
        *k += 1;
        let process = process(&traffic_path.join("arrivals"), &traffic.arrivals, inputs)?;
        sources.push(SourceModel { origin, process, stream });
    }

    let expected: f64 = sources
        .iter()
        .map(|s| match &s.process {
            Process::Trace(trace) => trace.offsets.len() as f64,
            Process::Schedule { points } => points.iter().map(|p| p.1).fold(0.0, f64::max) * duration as f64,
            process => process.mean_rate_per_sec().unwrap_or(0.0) * duration as f64 / 1e9,
        })
        .sum();
    if expected > MAX_EXPECTED_REQUESTS {
        return fail(
            path!["duration"],
            format!("the traffic would send about {expected:.2e} requests; shorten duration or lower the rates (at most {MAX_EXPECTED_REQUESTS:.0e})"),
        );
    }

    // Every origin must reach every serving region: spillover and failover may use any of them.
    let mut rtt_resolved = vec![vec![0; n]; n];
    for source in &sources {
        for (r, region) in regions.iter().enumerate() {
            if region.serving.is_none() {
                continue;
            }
            match rtt[source.origin][r] {
                Some(value) => rtt_resolved[source.origin][r] = value,
                None => {
                    return fail(
                        path!["network", "links"],
                        format!(
                            "no RTT between {} and {}: add a [[network.links]] entry with from, to and rtt",
                            regions[source.origin].name, region.name
                        ),
                    )
                }
            }
        }
    }

    let routing = &scenario.routing;
    let mut weights = vec![0.0; n];
    for (name, &weight) in &routing.weights {
        let weight_path = path!["routing", "weights", name];
        let r = regions
            .iter()
            .position(|r| &r.name == name)
            .ok_or_else(|| unknown_region(weight_path.clone(), name, &regions))?;
        if !weight.is_finite() || weight < 0.0 {
            return fail(weight_path, format!("weight must be zero or positive, got {weight}"));
        }
        if regions[r].serving.is_none() && weight > 0.0 {
            return fail(weight_path, format!("region {name:?} has no replicas to take traffic"));
        }
        weights[r] = weight;
    }
    let weighted = routing.policy == RoutingPolicy::Weighted;
    if weighted && weights.iter().sum::<f64>() <= 0.0 {
        return fail(path!["routing", "weights"], "weighted routing needs weights that sum to a positive number");
    }
    if !weighted && !routing.weights.is_empty() {
        return fail(path!["routing", "weights"], "weights apply only to policy = \"weighted\"");
    }
    if routing.spillover_queue == Some(0) {
        return fail(path!["routing", "spillover_queue"], "spillover_queue must be at least 1");
    }

    let mut slo = SloModel::default();
    if let Some(given) = &scenario.slo {
        for (i, target) in given.latency.iter().enumerate() {
            if !(target.percentile > 0.0 && target.percentile < 100.0) {
                return fail(
                    path!["slo", "latency", i, "percentile"],
                    "percentile must be between 0 and 100, e.g. 99 or 99.9",
                );
            }
            check_positive(path!["slo", "latency", i, "max"], "max", target.max.nanos())?;
            slo.latency.push(LatencyTargetModel { percentile: target.percentile, max: target.max.nanos() });
        }
        if let Some(a) = given.availability {
            if !(a > 0.0 && a <= 1.0) {
                return fail(
                    path!["slo", "availability"],
                    format!("availability is a fraction in (0, 1], e.g. 0.999; got {a}"),
                );
            }
        }
        slo.availability = given.availability;
    }

    let mut faults = Vec::with_capacity(scenario.faults.len());
    for (i, fault) in scenario.faults.iter().enumerate() {
        let at = path!["faults", i];
        let r = regions
            .iter()
            .position(|r| r.name == fault.region)
            .ok_or_else(|| unknown_region(at.join("region"), &fault.region, &regions))?;
        if regions[r].serving.is_none() {
            return fail(at.join("region"), format!("region {:?} serves nothing to fail", fault.region));
        }
        let model = build_fault(&at, i, fault, r, duration)?;
        if fault.kind == crate::operations::FaultKind::DependencyFailure
            && regions[r].serving.as_ref().is_none_or(|s| s.feature_store.is_none())
        {
            return fail(at.join("kind"), format!("region {:?} has no feature_store to fail", fault.region));
        }
        faults.push(model);
    }
    let retries = scenario.retries.as_ref().map(|r| build_retries(&path!["retries"], r)).transpose()?;
    let health = build_health(&path!["routing", "health_check"], &routing.health_check)?;

    Ok(Model {
        name: scenario.name.clone(),
        seed: scenario.seed,
        duration,
        warmup: scenario.warmup.nanos(),
        interval: scenario.interval.nanos(),
        regions,
        rtt: rtt_resolved,
        sources,
        routing: RoutingModel { policy: routing.policy, weights, spillover_queue: routing.spillover_queue, health },
        slo,
        faults,
        retries,
    })
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}
