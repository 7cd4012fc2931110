//! The scenario as written: serde types mirroring the TOML file, with unknown keys rejected.
//!
//! These types hold what the user wrote and nothing derived; [`crate::model::build`] checks them and
//! turns them into the indexed, resolved [`crate::model::Model`] that the engine runs. File
//! references (`file = "..."`) stay strings here: the caller reads them (this crate does no I/O) and
//! passes their contents in [`crate::model::Inputs`].

mod dist;
pub mod jobs;
mod key_path;
pub mod llm;
pub mod monitoring;
pub mod operations;

pub use dist::{Dist, MixturePart};
pub use key_path::{BadKeyPath, KeyPath, PathSegment};
// Policy choices are small value types that the scenario names directly: a new policy is one file.
pub use crate::policy::balance::Balancer;
pub use crate::policy::routing::RoutingPolicy;

use crate::units::{Duration, Rate};
use operations::{Autoscaling, CircuitBreaker, Fallback, Fault, FeatureStore, HealthCheck, Retries, Startup};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn default_seed() -> u64 {
    1
}
fn default_interval() -> Duration {
    Duration(10_000_000_000)
}
fn default_queue_capacity() -> u32 {
    1024
}
fn default_hash_block_tokens() -> u32 {
    512
}

fn one() -> u32 {
    1
}
fn speedup_one() -> f64 {
    1.0
}

/// The JSON Schema of the scenario format (what `servesim schema` prints).
pub fn schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(Scenario);
    schema.insert("title".into(), "servesim scenario".into());
    schema
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated time during which traffic arrives; in-flight requests then drain. (A scenario of
    /// jobs alone needs none.)
    #[serde(default)]
    pub duration: Duration,
    /// Requests sent before this time are served but left out of the statistics.
    #[serde(default)]
    pub warmup: Duration,
    /// Width of one row of the time series.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    #[serde(default)]
    pub regions: BTreeMap<String, Region>,
    #[serde(default)]
    pub network: Network,
    /// Online traffic; a scenario of `[[jobs]]` alone has none.
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    #[serde(default)]
    pub routing: Routing,
    /// How every region serves the model, unless the region gives its own `serving`.
    pub serving: Option<Serving>,
    #[serde(default)]
    pub instance_types: BTreeMap<String, InstanceType>,
    pub slo: Option<Slo>,
    /// Scheduled and random failures.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// How clients retry failed requests (none when absent).
    pub retries: Option<Retries>,
    /// A fraction of each region's traffic served by a variant deployment, reported apart.
    pub ab: Option<Deployment>,
    /// A candidate deployment that receives a mirrored fraction of each region's traffic; users
    /// never see its answers.
    pub shadow: Option<Deployment>,
    /// What `servesim sweep` varies; ignored by `servesim run`.
    pub sweep: Option<Sweep>,
    /// What a plan's choice must survive (`servesim plan`).
    pub plan: Option<PlanRisks>,
    /// Overrides of the default uncertainty bands of estimated inputs.
    pub uncertainty: Option<UncertaintyBands>,
    /// Named endpoints beside the main one (`[serving]` on `[regions]`): other models the same
    /// regions serve, each with its own deployments, traffic (`[[traffic]] endpoint`) and SLO.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// What `servesim plan` chooses for several endpoints at once: an instance type each, and
    /// replicas (see [`Fleet`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
    /// Endpoints whose models share GPUs, by group name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_sharing: BTreeMap<String, GpuSharing>,
    /// Batch-scoring jobs (see `scenario::jobs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<jobs::Job>,
    /// Real-time vs batch vs edge (`servesim compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<jobs::Compare>,
    /// How Prometheus would watch the deployment and alert on its SLO (defaults when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<monitoring::Monitoring>,
}

/// The risks `servesim plan` checks every candidate against; the plan picks the cheapest one that
/// meets the SLO under each.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRisks {
    /// Traffic above the forecast to hold at: 0.2 holds at 1.2× every source's rate.
    #[serde(default)]
    pub traffic_margin: f64,
    /// Hold with service times at the high end of their source's uncertainty band.
    #[serde(default)]
    pub service_time_band: bool,
    /// Failures to hold through: losing one replica, one zone, or the largest region.
    #[serde(default)]
    pub survive: Vec<Survive>,
    /// Zones each region's replicas are spread over, evenly (Kubernetes topology spread).
    #[serde(default = "three")]
    pub zones: u32,
}

fn three() -> u32 {
    3
}

impl Default for PlanRisks {
    fn default() -> Self {
        PlanRisks { traffic_margin: 0.0, service_time_band: false, survive: Vec::new(), zones: three() }
    }
}

/// A failure a plan must survive.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Survive {
    /// One replica down, in the region that can least afford it.
    Replica,
    /// One zone's share of a region's replicas down, in the region that can least afford it.
    Zone,
    /// The region with the most replicas down; its traffic fails over.
    Region,
}

/// Factors `[low, high]` on an input that bound where its true value likely lies (68%).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UncertaintyBands {
    /// Replaces the service-time source's default band (measured ×0.95–×1.05, interpolated
    /// ×0.9–×1.1, profile roofline ×0.7–×1.3, a catalog device's fitted band, a distribution
    /// written by hand ×0.9–×1.1, calibrated on a load test ×0.95–×1.05).
    pub service_time: Option<[f64; 2]>,
    /// Replaces the per-request overhead's default band (×0.8–×1.25, or ×0.9–×1.1 calibrated).
    pub overhead: Option<[f64; 2]>,
}

/// An extra deployment in every serving region: an A/B variant or a shadow candidate.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Fraction of requests sent (A/B) or mirrored (shadow).
    pub fraction: f64,
    /// Replicas per region.
    pub replicas: u32,
    /// Key into `[instance_types]` (default: the region's).
    pub instance: Option<String>,
    /// How the deployment serves (default: as the region's primary).
    pub serving: Option<Serving>,
    pub autoscaling: Option<Autoscaling>,
}

/// A named endpoint: a model served in some of the scenario's regions, with its own serving
/// settings, replicas per region, traffic and SLO. Routing, failover, retries and a region's
/// outage work as for the main endpoint, each endpoint on its own.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// How the endpoint serves, unless one of its regions gives its own `serving`.
    pub serving: Option<Serving>,
    /// Where it is deployed: regions of the scenario's `[regions]`, each with replicas, instance,
    /// pricing and autoscaler as a region has. A region left out does not serve it. (A pipeline
    /// has none: it runs wherever every endpoint it calls is deployed.)
    #[serde(default)]
    pub regions: BTreeMap<String, Region>,
    /// Instead of a model: stages calling other endpoints (see [`Pipeline`]).
    pub pipeline: Option<Pipeline>,
    /// The endpoint's own SLO, judged on its requests alone (a pipeline's: end to end).
    pub slo: Option<Slo>,
}

/// An endpoint made of other endpoints: its stages run in order, each calling one endpoint or
/// several in parallel (fan-out) and waiting for all of them or the first `first` (join). A stage
/// that fails or passes its `timeout` fails the request, unless it is `optional`: then the answer
/// is degraded (counted) and the next stage runs. Calls stay in the region the request reached.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
    /// The client gives up after this long, end to end.
    pub timeout: Option<Duration>,
    /// Answers when a required stage fails (a degraded answer, e.g. popular items).
    pub fallback: Option<operations::Fallback>,
    /// A response cache in front of the whole pipeline: a hit runs no stage.
    pub cache: Option<operations::Cache>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    /// The endpoints called, in parallel when several.
    pub call: Vec<String>,
    /// Join on the first `first` answers (default: all of them).
    pub first: Option<u32>,
    /// The stage fails when its answers take longer than this (default: no limit of its own).
    pub timeout: Option<Duration>,
    /// A failed optional stage degrades the answer instead of failing it.
    #[serde(default)]
    pub optional: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Replicas of the model server; 0 for a region that only sends traffic.
    pub replicas: u32,
    /// Key into `[instance_types]`, for cost.
    pub instance: Option<String>,
    /// Replaces the top-level `[serving]` for this region (whole, not merged).
    pub serving: Option<Serving>,
    /// Which catalog price applies to `instance`.
    #[serde(default)]
    pub pricing: Pricing,
    /// Replicas follow load between bounds (`replicas` is the start).
    pub autoscaling: Option<Autoscaling>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pricing {
    #[default]
    OnDemand,
    Spot,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Round-trip time between a client and a replica in the same region.
    #[serde(default)]
    pub same_region_rtt: Duration,
    /// Symmetric round-trip times between regions.
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub from: String,
    pub to: String,
    pub rtt: Duration,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// The region the clients are in.
    pub origin: String,
    /// The `[endpoints]` entry the clients call (default: the main endpoint, `[serving]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub arrivals: Arrivals,
    /// Prompt and output tokens of each request (LLM endpoints; a trace's columns give them
    /// per request instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<llm::Tokens>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrivals {
    Poisson {
        rate: Rate,
    },
    Constant {
        rate: Rate,
    },
    /// `rate(t) = base + (peak - base) * (1 - cos(2π (t - phase) / period)) / 2`: `base` at `phase`,
    /// `peak` half a period later.
    Diurnal {
        base: Rate,
        peak: Rate,
        period: Duration,
        #[serde(default)]
        phase: Duration,
    },
    /// Piecewise-linear rate through `[time, rate]` points; held at the last rate after the last point.
    Schedule {
        points: Vec<(Duration, Rate)>,
    },
    /// Two-state Markov-modulated Poisson process: exponential dwell times in each state.
    Mmpp {
        low_rate: Rate,
        high_rate: Rate,
        mean_low_duration: Duration,
        mean_high_duration: Duration,
    },
    /// Replay of a request trace (CSV, or JSON lines): one request per row.
    Trace {
        file: String,
        #[serde(default = "timestamp_column")]
        timestamp_column: String,
        /// The unit of numeric timestamps (dates are always understood).
        #[serde(default)]
        timestamp_unit: TimeUnit,
        /// `"csv"` or `"jsonl"`; by default from the file's extension (`.jsonl`, `.ndjson`: JSON lines).
        format: Option<TraceFormat>,
        /// Replay only the requests inside `duration`; without it, a trace that runs past
        /// `duration` is an error rather than silently cut.
        #[serde(default)]
        truncate: bool,
        /// Request size (e.g. input tokens) for size-dependent models.
        size_column: Option<String>,
        /// Output size (e.g. generated tokens).
        output_column: Option<String>,
        /// Hashes of each prompt's blocks, for an LLM engine's prefix cache: a JSON array of
        /// integers (Mooncake's `hash_ids`), or integers separated by spaces or semicolons.
        hash_column: Option<String>,
        /// Prompt tokens each hash covers (Mooncake's traces: 512).
        #[serde(default = "default_hash_block_tokens")]
        hash_block_tokens: u32,
        /// Trace time that maps to simulated time 0: `"first"` (default) or a timestamp written like
        /// the column's values. Earlier rows are skipped.
        #[serde(default = "first")]
        origin: String,
        /// Replay faster (> 1) or slower (< 1) than recorded.
        #[serde(default = "speedup_one")]
        speedup: f64,
    },
    /// A request-rate curve (a QPS series: timestamp, requests per second), Poisson arrivals at the
    /// rate linearly interpolated between rows and held after the last.
    RateTrace {
        file: String,
        #[serde(default = "timestamp_column")]
        timestamp_column: String,
        /// The column holding requests per second.
        #[serde(default = "rate_column")]
        rate_column: String,
        #[serde(default)]
        timestamp_unit: TimeUnit,
        format: Option<TraceFormat>,
        /// Multiplies every rate (what-if traffic growth).
        #[serde(default = "speedup_one")]
        scale: f64,
        /// `"sum"`: rows sharing a time are added up (a file with one row per container or
        /// instance per time); without it a time may appear once.
        aggregate: Option<Aggregate>,
        /// Keep only the rows whose `column` holds `value` (one service's rows of a fleet-wide file).
        filter: Option<RowFilter>,
    },
}

/// How rows of a rate series that share a time combine.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    Sum,
}

/// Rows kept from a file: those whose `column` holds exactly `value`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    pub column: String,
    pub value: String,
}

/// The unit of a trace's numeric timestamps.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub enum TimeUnit {
    #[default]
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "us")]
    Microseconds,
    #[serde(rename = "ns")]
    Nanoseconds,
}

impl TimeUnit {
    pub fn nanos(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1e9,
            TimeUnit::Milliseconds => 1e6,
            TimeUnit::Microseconds => 1e3,
            TimeUnit::Nanoseconds => 1.0,
        }
    }

    /// As written in a scenario.
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Milliseconds => "ms",
            TimeUnit::Microseconds => "us",
            TimeUnit::Nanoseconds => "ns",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Milliseconds => "milliseconds",
            TimeUnit::Microseconds => "microseconds",
            TimeUnit::Nanoseconds => "nanoseconds",
        }
    }
}

/// How a trace file is written.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    Csv,
    Jsonl,
}

fn rate_column() -> String {
    "rate".to_string()
}

fn timestamp_column() -> String {
    "timestamp".to_string()
}
fn first() -> String {
    "first".to_string()
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub policy: RoutingPolicy,
    #[serde(default)]
    pub weights: BTreeMap<String, f64>,
    /// When the chosen region has more than this many queued requests per replica, the request goes
    /// to the next region in the policy's order whose queue is below it.
    pub spillover_queue: Option<u32>,
    /// The global router's probes of each region (defaults: every 10 s, down after 3 failures):
    /// a region it sees down gets no traffic; its clients fail over to the next-nearest region.
    #[serde(default)]
    pub health_check: HealthCheck,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Serving {
    /// Requests waiting for a batch, per replica; arrivals beyond it are dropped.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: u32,
    /// The client gives up after this long; the server discards queued requests past it.
    pub timeout: Option<Duration>,
    #[serde(default)]
    pub balancer: Balancer,
    #[serde(default)]
    pub batching: Batching,
    /// An LLM engine (vLLM's iteration-level scheduler) instead of the dynamic batcher:
    /// `batching`, `service_time` and `variants` are then not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<llm::LlmEngine>,
    /// Time to run one batch (or each of `variants`).
    pub service_time: Option<Dist>,
    /// Variants of the model (fp16, int8, a distilled one), each with its service time and a
    /// quality figure; `variant` names the one that runs (default: the first). A sweep or plan
    /// chooses among them by varying `serving.variant`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    pub variant: Option<String>,
    /// The least quality acceptable (the variants' figure, e.g. accuracy): a sweep point running a
    /// variant below it is infeasible, and `run` says it falls short.
    pub min_quality: Option<f64>,
    /// What the quality figure measures (e.g. "accuracy on SST-2"), for the report.
    pub quality_metric: Option<String>,
    /// What `servesim calibrate` fitted to a load test (or a what-if): every batch's time scaled,
    /// with extra multiplicative spread.
    pub calibration: Option<Calibration>,
    #[serde(default)]
    pub overhead: Overhead,
    /// Time from a replica's creation to serving (new replicas, restarts after a crash).
    #[serde(default)]
    pub startup: Startup,
    /// The load balancer's probes of each replica (defaults: every 10 s, out after 3 failures).
    #[serde(default)]
    pub health_check: HealthCheck,
    /// A response cache in front of the model: hits never reach it.
    pub cache: Option<operations::Cache>,
    /// A lookup before inference.
    pub feature_store: Option<FeatureStore>,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Answers given when the model call fails or the breaker is open (degraded, not failed).
    pub fallback: Option<Fallback>,
    /// GPU memory the model takes, for models sharing a GPU (`[gpu_sharing]`); a `kind = "model"`
    /// service time computes it from the model graph when absent.
    pub memory: Option<ModelMemory>,
}

/// A fleet plan: for each listed endpoint, the instance type (from `instances`) and the replicas
/// that minimise the fleet's cost while every endpoint's SLO, every pipeline's and the top-level
/// one hold. Each endpoint is sized alone on each instance type first; the cheapest choices are
/// then run together and repaired where they miss.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Named model endpoints to choose for (default: every named model endpoint with regions of
    /// its own; GPU-sharing members keep their group's instance).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The instance types to choose among.
    pub instances: Vec<FleetInstance>,
    /// Most replicas an endpoint may take in one region (default 64).
    #[serde(default = "default_fleet_max")]
    pub max_replicas: u32,
    /// Independent seeds per evaluation (default 2).
    #[serde(default = "two")]
    pub replications: u32,
    /// Fleets besides the cheapest to evaluate in full and rank (default 3): each changes one
    /// endpoint to its next-cheapest instance type.
    #[serde(default = "three")]
    pub runner_ups: u32,
}

fn default_fleet_max() -> u32 {
    64
}

fn two() -> u32 {
    2
}

/// One instance type a fleet plan may give an endpoint, and how fast its models run there.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetInstance {
    /// Key into `[instance_types]` or a catalog instance (`g5.xlarge@us-east-1`).
    pub instance: String,
    /// The catalog device (or profile CSV) a `kind = "model"` service time runs on with this
    /// instance; required for endpoints with one.
    pub device: Option<String>,
    /// Every other service time on this instance, as a factor of the one written (0.5: twice as
    /// fast); default 1.
    #[serde(default = "one_f64")]
    pub service_scale: f64,
}

fn one_f64() -> f64 {
    1.0
}

/// One variant of a serving's model.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Its time to run one batch (a profile, table or roofline estimate, with its band).
    pub service_time: Dist,
    /// The user's quality figure for it (higher is better: accuracy, NDCG, …).
    pub quality: f64,
    /// Its GPU memory, when it shares a GPU (default: from its graph, or the serving's `memory`).
    pub memory: Option<ModelMemory>,
}

impl Serving {
    /// The service time that runs: the chosen variant's (by `variant`, else the first), or
    /// `service_time`. None when neither is there (`build` refuses that, naming the key).
    pub fn running_service_time(&self) -> Option<&Dist> {
        if self.variants.is_empty() {
            return self.service_time.as_ref();
        }
        let chosen = self.variant.as_deref();
        self.variants.iter().find(|v| chosen.is_none_or(|c| v.name == c)).map(|v| &v.service_time)
    }
}

/// What a model holds in GPU memory: its weights once, and per model instance its activations
/// and workspace at `max_batch` (and the longest sequence).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelMemory {
    pub weights: crate::units::Bytes,
    pub per_instance: crate::units::Bytes,
}

/// Models that share GPUs: every replica of the group is one GPU (one Triton server) holding every
/// member endpoint's model, each with its own queue, batcher and instances. Models executing at
/// once slow each other down (see [`SharingMode`]); their memory must fit in the GPU's.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuSharing {
    /// Named model endpoints (not pipelines, not `main`) whose deployments are this group's.
    pub endpoints: Vec<String>,
    /// How executions of different models share the GPU.
    #[serde(default)]
    pub mode: SharingMode,
    /// With `mps`: each of k models executing at once runs 1 + mps_interference × (k − 1) times
    /// slower (0: no interference; 1: the same as time-slicing). Fit it from two models measured
    /// together.
    pub mps_interference: Option<f64>,
    /// With `time_sliced`: the fraction of GPU time lost to context switches while several models
    /// execute (default 0).
    #[serde(default)]
    pub switch_overhead: f64,
    /// Memory the server and CUDA context keep for themselves on each GPU (default 1 GiB).
    pub reserved_memory: Option<crate::units::Bytes>,
    /// Memory of one GPU; by default the catalog's figure for the instance's GPU.
    pub gpu_memory: Option<crate::units::Bytes>,
    /// Where the group runs: replicas (GPUs), instance and pricing per region. Fixed replicas:
    /// scaling a machine that several models' queues share is not modelled.
    pub regions: BTreeMap<String, SharedRegion>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharingMode {
    /// The GPU runs one model's kernels at a time, in turns: k models executing at once each
    /// progress at 1/k of their dedicated speed (less `switch_overhead`).
    #[default]
    TimeSliced,
    /// NVIDIA MPS: kernels of different models run concurrently and slow each other by
    /// `mps_interference`.
    Mps,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedRegion {
    /// GPUs (replicas) in the region, each holding every member's model.
    pub replicas: u32,
    /// Key into `[instance_types]` or a catalog instance, for cost (paid once per replica, split
    /// evenly among the members in their endpoints' costs).
    pub instance: Option<String>,
    #[serde(default)]
    pub pricing: Pricing,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    /// When a partial batch goes: `triton` (the oldest waits at most `max_queue_delay`) or
    /// `window` (LitServe: a window of `max_queue_delay` opens when an instance frees).
    #[serde(default)]
    pub rule: crate::policy::batching::BatchRule,
    /// 1 serves one request at a time.
    #[serde(default = "one")]
    pub max_batch: u32,
    /// How long the oldest queued request may wait for a fuller batch (Triton's
    /// `max_queue_delay_microseconds`); 0 dispatches whatever is queued at once.
    #[serde(default)]
    pub max_queue_delay: Duration,
    /// Sizes dispatched as soon as they can be formed (Triton's `preferred_batch_size`).
    #[serde(default)]
    pub preferred_batch_sizes: Vec<u32>,
    /// Model instances per replica that run batches concurrently (Triton's `instance_group.count`).
    #[serde(default = "one")]
    pub instances: u32,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            rule: Default::default(),
            max_batch: 1,
            max_queue_delay: Duration(0),
            preferred_batch_sizes: Vec::new(),
            instances: 1,
        }
    }
}

/// Adjustments of `service_time` fitted to a real server's load test.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Every batch takes this many times the `service_time` given.
    #[serde(default = "unit")]
    pub service_scale: f64,
    /// Multiplicative lognormal spread (mean 1) on top of `service_time`'s own.
    #[serde(default)]
    pub service_cv: f64,
    /// Where the values come from (the load test, the date).
    pub source: Option<String>,
}

fn unit() -> f64 {
    1.0
}

/// Per-request work outside the batch: HTTP handling, tokenisation, pre- and post-processing.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overhead {
    pub pre: Option<Dist>,
    pub post: Option<Dist>,
    /// When set, pre- and post-processing run on this many worker threads per replica and queue for
    /// them under load; otherwise they are pure delays.
    pub cpu_workers: Option<u32>,
    /// The replica host's cores when the per-request work and the model share them (an HTTP layer
    /// on the model's CPU cores, a Python server beside its model): each running batch and each
    /// busy CPU worker is a thread, and a batch or stage that starts while more threads run than
    /// there are cores takes (threads ÷ cores) times longer. Needs `cpu_workers`.
    pub host_cores: Option<u32>,
    /// Time each request spends outside the server's threads and cores before it reaches them
    /// (the network stack, a load generator sharing the host): a pure delay, so its spread adds
    /// to latency without queueing anything behind it.
    pub jitter: Option<Dist>,
    /// A proxy process in front of the model server (an HTTP front end handing requests to a model
    /// worker process): every request passes through it on the way in and again on the way out.
    pub proxy: Option<Proxy>,
    /// Server-wide pauses (garbage collection, an event loop blocked by a batch): while one lasts,
    /// none of the replica's work progresses.
    pub stalls: Option<Stalls>,
}

/// A proxy hop: `threads` threads (queued FIFO under load), `time` per pass; its busy threads
/// share `host_cores` with the rest of the replica when that is set.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    pub time: Dist,
    #[serde(default = "one")]
    pub threads: u32,
}

/// Pauses of the whole replica, at `rate` (the gaps between them exponential), each lasting a
/// draw of `duration`. Work under way when one starts finishes that much later; work that would
/// start during one starts when it ends.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stalls {
    pub rate: Rate,
    pub duration: Dist,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    pub usd_per_hour: f64,
    pub gpu: Option<String>,
    pub gpus: Option<u32>,
    /// Where the price comes from, and when.
    pub source: Option<String>,
    /// The spot price, for `[[jobs]]` workers with a `spot_share`.
    pub spot_usd_per_hour: Option<f64>,
    /// Spot preemptions per instance-hour.
    pub preemptions_per_hour: Option<f64>,
    /// The instance's vCPUs and memory: a batch job's pods request a `1 / slots` share of what is
    /// left after the node's own reservations, so no more than `slots` land on one worker.
    pub vcpus: Option<u32>,
    pub memory_gib: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default)]
    pub latency: Vec<LatencyTarget>,
    /// Time to first token (LLM endpoints): from the request's sending to its first output token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttft: Vec<LatencyTarget>,
    /// Time per output token after the first (LLM endpoints): (end − first token) ÷ (outputs − 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tpot: Vec<LatencyTarget>,
    /// Fraction of offered requests answered within their timeout.
    pub availability: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyTarget {
    pub percentile: f64,
    pub max: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every combination of the parameters' values.
    #[default]
    Grid,
    /// `samples` combinations drawn without replacement.
    Random,
    /// For each combination, the largest traffic scale that still meets the SLO.
    Capacity,
    /// For each combination, the fewest replicas that meet the SLO at the given load.
    RightSize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Cheapest per hour.
    #[default]
    CostPerHour,
    /// Cheapest per million completed requests.
    CostPerMillion,
    /// Lowest p99 latency.
    LatencyP99,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    #[serde(default)]
    pub strategy: Strategy,
    /// Budget of the random strategy.
    pub samples: Option<u32>,
    /// Independent seeds per point; more than one gives confidence intervals.
    #[serde(default = "one")]
    pub replications: u32,
    /// Parameter path (`serving.batching.max_batch`, `regions.us-east.replicas`, ...) → values.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamSpec>,
    #[serde(default)]
    pub objective: Objective,
    #[serde(default)]
    pub capacity: CapacitySearch,
    pub right_size: Option<RightSize>,
    /// Stop a run early when it has clearly failed (see `sim::world::RunOptions::give_up_loss`).
    #[serde(default = "yes")]
    pub early_stop: bool,
    /// Judge latency targets on the one-sided upper bound at this confidence (and availability on
    /// the lower bound) across replications, rather than on the pooled estimate; needs at least
    /// two replications.
    pub slo_confidence: Option<f64>,
}

fn yes() -> bool {
    true
}

impl Default for Sweep {
    fn default() -> Self {
        Sweep {
            strategy: Strategy::Grid,
            samples: None,
            replications: 1,
            parameters: BTreeMap::new(),
            objective: Objective::CostPerHour,
            capacity: CapacitySearch::default(),
            right_size: None,
            early_stop: true,
            slo_confidence: None,
        }
    }
}

/// Values of one swept parameter.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamSpec {
    List(Vec<ParamValue>),
    /// `{ range = [2, 8], step = 2 }`: 2, 4, 6, 8.
    Range {
        range: (f64, f64),
        step: f64,
    },
    /// `{ log_range = [64, 4096], points = 7 }`: geometric spacing; whole numbers when both ends are.
    LogRange {
        log_range: (f64, f64),
        points: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    Integer(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Integer(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacitySearch {
    /// Traffic scale factors bracketing the search (1 = the scenario's traffic).
    #[serde(default = "min_scale")]
    pub min_scale: f64,
    #[serde(default = "max_scale")]
    pub max_scale: f64,
    /// Stop when the bracket is narrower than this fraction of its lower end.
    #[serde(default = "tolerance")]
    pub tolerance: f64,
}

fn min_scale() -> f64 {
    0.05
}
fn max_scale() -> f64 {
    20.0
}
fn tolerance() -> f64 {
    0.01
}

impl Default for CapacitySearch {
    fn default() -> Self {
        CapacitySearch { min_scale: min_scale(), max_scale: max_scale(), tolerance: tolerance() }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RightSize {
    /// Replica counts set together to the searched value (e.g. `["regions.us-east.replicas"]`).
    pub paths: Vec<String>,
    #[serde(default = "one")]
    pub min: u32,
    #[serde(default = "max_replicas")]
    pub max: u32,
}

fn max_replicas() -> u32 {
    256
}

/// Multiplies every traffic source's rate by `factor` (a trace is replayed `factor` times faster).
pub fn scale_traffic(scenario: &mut Scenario, factor: f64) {
    for traffic in &mut scenario.traffic {
        scale_arrivals(&mut traffic.arrivals, factor);
    }
}

/// One source's rate `factor` times higher (a trace replayed that much faster).
pub fn scale_arrivals(arrivals: &mut Arrivals, factor: f64) {
    let scale = |rate: &mut Rate| rate.0 *= factor;
    match arrivals {
        Arrivals::Poisson { rate } | Arrivals::Constant { rate } => scale(rate),
        Arrivals::Diurnal { base, peak, .. } => {
            scale(base);
            scale(peak);
        }
        Arrivals::Schedule { points } => points.iter_mut().for_each(|(_, rate)| scale(rate)),
        Arrivals::Mmpp { low_rate, high_rate, .. } => {
            scale(low_rate);
            scale(high_rate);
        }
        Arrivals::Trace { speedup, .. } => *speedup *= factor,
        Arrivals::RateTrace { scale, .. } => *scale *= factor,
    }
}
