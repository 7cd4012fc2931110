//! The scenario's operational side, as written: autoscaling, replica start-up, health checks,
//! faults, client retries, the feature-store dependency, circuit breaker and fallback. Serde types
//! only, unknown keys rejected; [`crate::model::build`] checks them.

use super::dist::Dist;
pub use crate::policy::autoscale::{PolicyKind, ScaleMetric, Select};
use crate::units::Duration;
use serde::{Deserialize, Serialize};

fn secs(s: u64) -> Duration {
    Duration(s * 1_000_000_000)
}
fn fifteen_seconds() -> Duration {
    secs(15)
}
fn ten_seconds() -> Duration {
    secs(10)
}
fn thirty_seconds() -> Duration {
    secs(30)
}
fn tenth() -> f64 {
    0.1
}
fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn fifty_ms() -> Duration {
    Duration(50_000_000)
}
fn one_second() -> Duration {
    secs(1)
}
fn two() -> f64 {
    2.0
}
fn yes() -> bool {
    true
}
fn budget() -> f64 {
    0.2
}
fn hundred() -> u32 {
    100
}
fn twenty() -> u32 {
    20
}
fn half() -> f64 {
    0.5
}

/// Kubernetes HPA v2 (`autoscaling/v2`) semantics, with KEDA's scale-to-zero. Defaults are the
/// Kubernetes ones.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscaling {
    pub metric: ScaleMetric,
    /// Desired metric value per replica (a fraction for utilisation).
    pub target: f64,
    #[serde(default = "one")]
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// No scaling while |metric / target − 1| ≤ tolerance (the controller's default is 0.1).
    #[serde(default = "tenth")]
    pub tolerance: f64,
    /// How often the controller evaluates (HPA's sync period; KEDA's pollingInterval).
    #[serde(default = "fifteen_seconds")]
    pub evaluation_interval: Duration,
    #[serde(default)]
    pub scale_up: ScaleRules,
    #[serde(default)]
    pub scale_down: ScaleRules,
    /// KEDA's cooldownPeriod: with `min_replicas = 0`, scale to zero after this long without
    /// requests.
    pub cooldown: Option<Duration>,
    /// KEDA's activation threshold: at zero replicas, scale out once more requests than this wait.
    #[serde(default)]
    pub activation: f64,
}

/// One direction's `behavior` (HPA v2): stabilisation window and rate-limiting policies.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleRules {
    /// Default 0 s up, 300 s down.
    pub stabilization: Option<Duration>,
    /// Default up: 4 pods or 100% per 15 s; down: 100% per 15 s.
    pub policies: Option<Vec<ScalePolicy>>,
    /// Default `max` (the policy allowing the biggest change).
    pub select: Option<Select>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScalePolicy {
    #[serde(rename = "type")]
    pub kind: PolicyKind,
    pub value: u32,
    pub period: Duration,
}

/// Time from a replica's creation to serving, phase by phase; cost accrues from the start.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    /// Node start (a new VM or GPU node).
    pub provisioning: Option<Dist>,
    pub image_pull: Option<Dist>,
    pub model_load: Option<Dist>,
}

/// Probes: a target is marked down after `failure_threshold` consecutive failed probes, and up
/// again after `success_threshold` passed ones.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default = "ten_seconds")]
    pub interval: Duration,
    #[serde(default = "three")]
    pub failure_threshold: u32,
    #[serde(default = "one")]
    pub success_threshold: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck { interval: ten_seconds(), failure_threshold: 3, success_threshold: 1 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Replicas die; their queued and running requests fail. Kubernetes restarts them after
    /// `duration` (or a draw with mean `mttr`), through model load.
    ReplicaCrash,
    /// Every replica of the region and its load balancer are unreachable for `duration`.
    RegionOutage,
    /// Replicas run batches `factor` times slower for `duration`.
    SlowReplica,
    /// The region's feature store fails a fraction `error_rate` of lookups and answers `factor`
    /// times slower for `duration`.
    DependencyFailure,
}

/// A fault at a time (`at` + `duration`), or recurring at random (`mtbf` + `mttr`, exponential).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    pub region: String,
    /// The named endpoint whose replicas (or feature store) fail (default: the main endpoint's). A
    /// region outage takes every endpoint down and names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub at: Option<Duration>,
    pub duration: Option<Duration>,
    /// Mean time between failures (per replica for replica faults, per region otherwise).
    pub mtbf: Option<Duration>,
    /// Mean time to repair.
    pub mttr: Option<Duration>,
    /// Replicas hit by a scheduled replica fault (default 1).
    pub replicas: Option<u32>,
    pub factor: Option<f64>,
    pub error_rate: Option<f64>,
}

/// The client's retries: exponential backoff with full jitter and a retry budget (each request
/// earns `budget` of a retry; a retry spends one).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Attempts in all, the first included.
    #[serde(default = "three")]
    pub max_attempts: u32,
    #[serde(default = "fifty_ms")]
    pub backoff: Duration,
    #[serde(default = "two")]
    pub multiplier: f64,
    #[serde(default = "one_second")]
    pub max_backoff: Duration,
    #[serde(default = "yes")]
    pub jitter: bool,
    #[serde(default = "budget")]
    pub budget: f64,
}

/// A response cache in front of the endpoint's model (Redis-like): a lookup first; a hit answers
/// from the cache, a miss goes on to the feature store and the model and fills the entry.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// The lookup's own latency, hit or miss.
    pub latency: Dist,
    /// A fixed share of lookups that hit (instead of the key model).
    pub hit_ratio: Option<f64>,
    /// Key popularity: each request asks for one of `keys` keys, drawn by Zipf's law with
    /// exponent `zipf` (1 is the classic web-cache figure).
    pub keys: Option<u32>,
    pub zipf: Option<f64>,
    /// An entry expires this long after it was filled (default: never).
    pub ttl: Option<Duration>,
    /// Entries held at most (default: every key); past it, the least recently used of five
    /// sampled entries is evicted (Redis's approximated LRU, `maxmemory-samples 5`).
    pub capacity: Option<u32>,
}

/// A lookup before inference (a Redis-like online feature store).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureStore {
    pub latency: Dist,
    #[serde(default)]
    pub error_rate: f64,
}

/// A count-based circuit breaker around the model call (resilience4j's semantics): over the last
/// `window` calls (once `minimum_calls` were made), it opens when the failure rate or the slow-call
/// rate reaches its threshold, stays open `open_duration`, then lets `half_open_calls` through and
/// closes if they pass the same thresholds.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default = "hundred")]
    pub window: u32,
    #[serde(default = "twenty")]
    pub minimum_calls: u32,
    #[serde(default = "half")]
    pub failure_rate: f64,
    pub slow_call_duration: Option<Duration>,
    #[serde(default = "half")]
    pub slow_call_rate: f64,
    #[serde(default = "thirty_seconds")]
    pub open_duration: Duration,
    #[serde(default = "twenty")]
    pub half_open_calls: u32,
}

/// A cheap answer (a popular-items cache, a default score) when the model or a dependency fails
/// or the breaker is open; such answers count as degraded, not failed.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub latency: Dist,
}
