//! From a scenario as written to the model the engine runs: every semantic check, every name
//! resolved to an index, every duration in nanoseconds and every rate per nanosecond.
//!
//! Errors carry the key path of the offending value (`traffic[0].arrivals.rate`), so the caller,
//! which has the file, can point at its line and column.

mod arrivals;
mod build;
mod checks;
mod endpoints;
mod error;
mod inputs;
pub mod jobs;
mod llm;
mod monitoring;
mod operations;
mod price;
mod serving;
mod sharing;

pub use build::build;

/// A latency distribution as written, checked (for readers outside the engine: `servesim compare`).
pub fn sampler(path: &crate::scenario::KeyPath, dist: &crate::scenario::Dist) -> Result<Sampler, ScenarioError> {
    checks::sampler(path, dist)
}
pub use error::ScenarioError;
pub use inputs::{llm_key, model_key, model_seqs, trace_key, CatalogEntry, Inputs, LlmProfile, ModelTable};
pub use llm::{DisaggregationModel, LlmMemory, LlmModel, PickerModel};
pub use operations::{
    CacheLookup, CacheModel, FallbackModel, FaultAction, FaultModel, FaultTiming, FeatureStoreModel, HealthModel,
    RetryModel, StartupModel,
};

use crate::dist::Sampler;
use crate::policy::autoscale::AutoscalingModel;
use crate::policy::balance::Balancer;
use crate::policy::batching::DynamicBatching;
use crate::policy::breaker::BreakerModel;
use crate::policy::routing::RoutingPolicy;
use crate::service::BatchLatency;
use crate::traffic::Process;
use crate::units::Nanos;
use std::sync::Arc;

/// What a replica does with the requests it holds once pre-processing is done: how it groups
/// them, runs them and hands them back for post-processing. The engine's side of each kind is one
/// file in `world/` (the dynamic batcher: `world/batcher.rs`).
#[derive(Debug)]
pub enum ReplicaKind {
    /// Triton's dynamic batcher: a bounded FIFO queue, batches on free model instances.
    DynamicBatcher(DynamicBatching),
    /// An LLM engine (vLLM's scheduler): iterations of prefill chunks and decodes over a paged
    /// KV cache.
    Llm(LlmModel),
}

impl ReplicaKind {
    /// The most requests one unit of work serves together (tables are computed up to it).
    pub fn max_batch(&self) -> u32 {
        match self {
            ReplicaKind::DynamicBatcher(b) => b.max_batch,
            ReplicaKind::Llm(engine) => engine.max_num_seqs,
        }
    }

    /// Units of work a replica runs at once (model instances).
    pub fn instances(&self) -> u32 {
        match self {
            ReplicaKind::DynamicBatcher(b) => b.instances,
            ReplicaKind::Llm(_) => 1,
        }
    }

    /// The batcher's settings, for kinds that are a Triton dynamic batcher.
    pub fn dynamic_batching(&self) -> Option<&DynamicBatching> {
        match self {
            ReplicaKind::DynamicBatcher(b) => Some(b),
            ReplicaKind::Llm(_) => None,
        }
    }

    /// The engine's settings, for LLM engines.
    pub fn llm(&self) -> Option<&LlmModel> {
        match self {
            ReplicaKind::Llm(engine) => Some(engine),
            ReplicaKind::DynamicBatcher(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct ServingModel {
    pub queue_capacity: u32,
    pub timeout: Option<Nanos>,
    pub balancer: Balancer,
    pub kind: ReplicaKind,
    pub service: Arc<dyn BatchLatency>,
    pub pre: Option<Sampler>,
    pub post: Option<Sampler>,
    pub cpu_workers: Option<u32>,
    /// Cores shared by the model's batches and the CPU workers (see `scenario::Overhead`).
    pub host_cores: Option<u32>,
    /// A pure delay before the server (see `scenario::Overhead::jitter`).
    pub jitter: Option<Sampler>,
    pub proxy: Option<ProxyModel>,
    pub stalls: Option<StallModel>,
    pub startup: StartupModel,
    pub health: HealthModel,
    pub cache: Option<CacheModel>,
    pub feature_store: Option<FeatureStoreModel>,
    pub breaker: Option<BreakerModel>,
    pub fallback: Option<FallbackModel>,
    /// GPU memory the model takes (given, or from its graph), for sharing a GPU.
    pub memory: Option<MemoryNeed>,
    /// The model variant that runs, when the serving lists variants.
    pub variant: Option<VariantModel>,
    /// The serving stack a catalog model's estimate assumed (deploy writes its runtime); None
    /// for other service times.
    pub stack: Option<String>,
}

/// A proxy hop in front of the model server (see `scenario::Proxy`): time per pass, threads.
#[derive(Clone, Debug)]
pub struct ProxyModel {
    pub time: Sampler,
    pub threads: u32,
}

/// Server-wide pauses (see `scenario::Stalls`): the gap from one's end to the next's start
/// (exponential), and their length.
#[derive(Clone, Debug)]
pub struct StallModel {
    pub gap: Sampler,
    pub duration: Sampler,
}

/// The variant a serving runs and its quality against the user's minimum.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantModel {
    pub name: String,
    pub quality: f64,
    pub min_quality: Option<f64>,
    pub metric: Option<String>,
}

/// What one model holds in GPU memory, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryNeed {
    pub weights: f64,
    /// Activations and workspace of one model instance at `max_batch`.
    pub per_instance: f64,
    /// "given" (the scenario's `memory`) or where the graph figure comes from.
    pub source: String,
}

impl ServingModel {
    /// Mean server time per request at full batches: the reciprocal of one instance's peak throughput.
    pub fn per_request_nanos(&self) -> f64 {
        let max_batch = self.kind.max_batch();
        self.service.mean(max_batch) / f64::from(max_batch)
    }
}

/// A region: its primary deployment and, beside it, an A/B variant and a shadow candidate.
#[derive(Debug)]
pub struct RegionModel {
    pub name: String,
    pub primary: DeploymentModel,
    pub variant: Option<DeploymentModel>,
    pub shadow: Option<DeploymentModel>,
    /// A pipeline endpoint runs here (every endpoint it calls is deployed here): it serves with
    /// no replicas of its own.
    pub runs_pipeline: bool,
}

/// A region's deployments: the primary, an A/B variant, a shadow candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Variant,
    Shadow,
}

impl RegionModel {
    pub fn deployment(&self, role: Role) -> Option<&DeploymentModel> {
        match role {
            Role::Primary => Some(&self.primary),
            Role::Variant => self.variant.as_ref(),
            Role::Shadow => self.shadow.as_ref(),
        }
    }

    /// The deployments the region has, primary first.
    pub fn deployments(&self) -> impl Iterator<Item = (Role, &DeploymentModel)> {
        [Role::Primary, Role::Variant, Role::Shadow].into_iter().filter_map(|role| Some((role, self.deployment(role)?)))
    }

    /// Whether the region serves (its primary has a serving model); a region that only sends
    /// traffic has none.
    pub fn serves(&self) -> bool {
        self.primary.serving.is_some() || self.runs_pipeline
    }
}

/// One deployment of a model: every deployment — a region's primary, its A/B variant, its shadow
/// — is this type, and the engine makes one pool of replica slots from each.
#[derive(Debug)]
pub struct DeploymentModel {
    /// The share of the region's model calls it receives (1 for the primary; a mirror's share for
    /// a shadow).
    pub fraction: f64,
    /// Replicas at the start.
    pub replicas: u32,
    /// None for the primary of a region that only sends traffic.
    pub serving: Option<Arc<ServingModel>>,
    pub autoscaling: Option<AutoscalingModel>,
    pub instance: Option<String>,
    /// Per replica.
    pub usd_per_hour: f64,
    /// Where the price comes from, and when.
    pub price_source: Option<String>,
    /// GPUs per replica, where the instance type says.
    pub gpus: Option<u32>,
}

impl DeploymentModel {
    /// No deployment: the primary of a region that does not serve (an endpoint left out of it).
    pub fn none() -> DeploymentModel {
        DeploymentModel {
            fraction: 1.0,
            replicas: 0,
            serving: None,
            autoscaling: None,
            instance: None,
            usd_per_hour: 0.0,
            price_source: None,
            gpus: None,
        }
    }

    /// The most replicas the deployment may run: its count, or its autoscaler's maximum.
    pub fn max_replicas(&self) -> u32 {
        self.autoscaling.as_ref().map_or(self.replicas, |a| a.max_replicas.max(self.replicas))
    }

    /// Replica slots the engine allocates: none without a serving model; the maximum, or with
    /// autoscaling twice it, so that replicas still draining never keep new ones from starting.
    pub fn slots(&self) -> u32 {
        match (&self.serving, &self.autoscaling) {
            (None, _) => 0,
            (Some(_), Some(_)) => self.max_replicas().saturating_mul(2),
            (Some(_), None) => self.max_replicas(),
        }
    }
}

/// Synthetic LLM requests' tokens: prompt and output lengths, and a shared prefix.
#[derive(Debug)]
pub struct TokenModel {
    pub prompt: Sampler,
    pub output: Sampler,
    /// (tokens, groups): the first `tokens` of a prompt are one of `groups` prefixes.
    pub shared_prefix: Option<(u32, u32)>,
}

#[derive(Debug)]
pub struct SourceModel {
    pub origin: usize,
    /// The endpoint its clients call (0: the main one; `k`: `Model::endpoints[k - 1]`).
    pub endpoint: usize,
    pub process: Process,
    /// Stable id of the source's random stream.
    pub stream: String,
    /// Prompt and output token counts of its synthetic requests (LLM traffic).
    pub tokens: Option<TokenModel>,
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
    /// Time-to-first-token and time-per-output-token targets (LLM endpoints).
    pub ttft: Vec<LatencyTargetModel>,
    pub tpot: Vec<LatencyTargetModel>,
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
    /// What Prometheus would count, scrape and alert on (off without an SLO to watch).
    pub monitoring: crate::monitor::MonitoringModel,
    pub faults: Vec<FaultModel>,
    pub retries: Option<RetryModel>,
    /// Batch-scoring jobs, simulated apart from the online traffic (`crate::job`).
    pub jobs: Vec<jobs::JobModel>,
    /// Named endpoints beside the main one (`regions`' deployments): endpoint `k` of the engine
    /// is `endpoints[k - 1]`.
    pub endpoints: Vec<EndpointModel>,
    /// Endpoints whose models share GPUs (`[gpu_sharing]`), in name order.
    pub gpu_groups: Vec<GpuGroupModel>,
}

/// Models sharing GPUs: in every region the group runs in, replica slot `i` of each member's
/// deployment is the same GPU.
#[derive(Debug)]
pub struct GpuGroupModel {
    pub name: String,
    /// Member endpoints, in the engine's numbering.
    pub members: Vec<usize>,
    pub interference: Interference,
    /// Per region (in `Model::regions`' order): the memory check, none where the group does not run.
    pub memory: Vec<Option<MemoryBudget>>,
}

/// How k models executing at once on one GPU slow each other.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Interference {
    /// Each progresses at (1 − overhead) / k of its dedicated speed when k > 1.
    TimeSliced { switch_overhead: f64 },
    /// Each runs 1 + interference × (k − 1) times slower.
    Mps { interference: f64 },
}

impl Interference {
    /// Work done per nanosecond by each of `models` executing at once (1 alone).
    pub fn speed(self, models: u32) -> f64 {
        if models <= 1 {
            return 1.0;
        }
        let k = f64::from(models);
        match self {
            Interference::TimeSliced { switch_overhead } => (1.0 - switch_overhead) / k,
            Interference::Mps { interference } => 1.0 / (1.0 + interference * (k - 1.0)),
        }
    }
}

/// One GPU's memory against what the group's models need on it, in bytes.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    pub gpu: f64,
    pub reserved: f64,
    /// Per member: weights + instances × per-instance.
    pub models: Vec<f64>,
}

impl MemoryBudget {
    pub fn needed(&self) -> f64 {
        self.reserved + self.models.iter().sum::<f64>()
    }
}

/// A named endpoint: its deployment in every region (in `Model::regions`' order; a region that
/// does not serve it has a primary without serving model) and its SLO.
#[derive(Debug)]
pub struct EndpointModel {
    pub name: String,
    pub regions: Vec<RegionModel>,
    pub slo: SloModel,
    /// A pipeline's stages; none for a model endpoint.
    pub pipeline: Option<PipelineModel>,
}

/// An endpoint made of calls to other endpoints, stage after stage.
#[derive(Debug)]
pub struct PipelineModel {
    pub stages: Vec<StageModel>,
    /// End to end: the client gives up after this long.
    pub timeout: Option<Nanos>,
    pub fallback: Option<FallbackModel>,
    pub cache: Option<CacheModel>,
}

#[derive(Debug)]
pub struct StageModel {
    pub name: String,
    /// Endpoints called, in the engine's numbering (0: the main one, `k`: `endpoints[k - 1]`).
    pub calls: Vec<usize>,
    /// Answers the join waits for (all calls unless `first`).
    pub needed: u32,
    pub timeout: Option<Nanos>,
    pub optional: bool,
}

impl Model {
    /// Whether the scenario has online traffic to simulate (a scenario of jobs alone has none).
    pub fn has_online(&self) -> bool {
        !self.sources.is_empty()
    }

    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }

    /// Endpoints the engine runs: the main one and every named one.
    pub fn endpoint_count(&self) -> usize {
        1 + self.endpoints.len()
    }

    /// Endpoint `endpoint`'s deployments in region `region` (endpoint 0 is the main one).
    pub fn site(&self, endpoint: usize, region: usize) -> &RegionModel {
        &self.endpoint_regions(endpoint)[region]
    }

    /// Endpoint `endpoint`'s deployments, region by region (endpoint 0 is the main one).
    pub fn endpoint_regions(&self, endpoint: usize) -> &[RegionModel] {
        match endpoint {
            0 => &self.regions,
            k => &self.endpoints[k - 1].regions,
        }
    }

    /// Endpoint `endpoint`'s name, none for the main one.
    pub fn endpoint_name(&self, endpoint: usize) -> Option<&str> {
        endpoint.checked_sub(1).map(|k| self.endpoints[k].name.as_str())
    }

    /// Endpoint `endpoint`'s name, or [`crate::summary::MAIN_ENDPOINT`] for the top level: its key
    /// in summaries, alerts, scrapes and traces.
    pub fn endpoint_key(&self, endpoint: usize) -> &str {
        self.endpoint_name(endpoint).unwrap_or(crate::summary::MAIN_ENDPOINT)
    }

    /// Endpoint `endpoint`'s pipeline, if it is one.
    pub fn pipeline(&self, endpoint: usize) -> Option<&PipelineModel> {
        endpoint.checked_sub(1).and_then(|k| self.endpoints[k].pipeline.as_ref())
    }

    /// Whether a pipeline calls endpoint `endpoint`.
    pub fn is_called(&self, endpoint: usize) -> bool {
        self.endpoints
            .iter()
            .filter_map(|e| e.pipeline.as_ref())
            .any(|p| p.stages.iter().any(|s| s.calls.contains(&endpoint)))
    }

    /// Endpoint `endpoint`'s SLO.
    pub fn endpoint_slo(&self, endpoint: usize) -> &SloModel {
        match endpoint {
            0 => &self.slo,
            k => &self.endpoints[k - 1].slo,
        }
    }
}
