//! The operational side of a scenario, checked: autoscaling, start-up, health checks, faults,
//! retries, the feature store, the circuit breaker and the fallback. `build_*` functions turn the
//! as-written [`crate::scenario::operations`] types into these, with key paths on every error.

use super::checks::{sampler, MAX_REPLICAS, MIN_PERIOD};
use super::error::{fail, ScenarioError};
use crate::dist::Sampler;
use crate::policy::autoscale::{AutoscalingModel, PolicyKind, PolicyModel, RulesModel, ScaleMetric, Select};
use crate::policy::breaker::BreakerModel;
use crate::scenario::operations::{
    Autoscaling, Cache, CircuitBreaker, Fallback, Fault, FaultKind, FeatureStore, HealthCheck, Retries, ScaleRules,
    Startup,
};
use crate::scenario::KeyPath;
use crate::units::Nanos;

const SECOND: Nanos = 1_000_000_000;

#[derive(Clone, Debug, Default)]
pub struct StartupModel {
    pub provisioning: Option<Sampler>,
    pub image_pull: Option<Sampler>,
    pub model_load: Option<Sampler>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthModel {
    pub interval: Nanos,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

/// A response cache: its lookup latency and how a lookup hits.
#[derive(Clone, Debug)]
pub struct CacheModel {
    pub latency: Sampler,
    pub lookup: CacheLookup,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CacheLookup {
    /// A fixed share of lookups hits.
    Ratio(f64),
    /// Zipf-popular keys in a TTL cache of bounded capacity (approximated LRU eviction).
    Keys { keys: u32, zipf: f64, ttl: Option<Nanos>, capacity: u32 },
}

/// Keys a cache's key model may have: its state is a few words per key.
pub const MAX_CACHE_KEYS: u32 = 10_000_000;

pub fn build_cache(path: &KeyPath, c: &Cache) -> Result<CacheModel, ScenarioError> {
    let latency = sampler(&path.join("latency"), &c.latency)?;
    let keyed = c.keys.is_some() || c.zipf.is_some() || c.ttl.is_some() || c.capacity.is_some();
    let lookup = match (c.hit_ratio, keyed) {
        (Some(_), true) => {
            return fail(path.clone(), "give hit_ratio, or the key model (keys, zipf, ttl, capacity), not both")
        }
        (None, false) => return fail(path.clone(), "give hit_ratio, or keys and zipf for the key model"),
        (Some(ratio), false) => CacheLookup::Ratio(fraction(path.join("hit_ratio"), "hit_ratio", ratio)?),
        (None, true) => {
            let keys = c.keys.ok_or_else(|| ScenarioError {
                path: path.clone(),
                message: "the key model needs keys (how many distinct keys requests ask for)".into(),
            })?;
            if keys == 0 || keys > MAX_CACHE_KEYS {
                return fail(path.join("keys"), format!("keys must be between 1 and {MAX_CACHE_KEYS}"));
            }
            let zipf = c.zipf.ok_or_else(|| ScenarioError {
                path: path.clone(),
                message: "the key model needs zipf (the popularity exponent, e.g. 1.0)".into(),
            })?;
            if !(0.0..=10.0).contains(&zipf) {
                return fail(path.join("zipf"), format!("zipf must be between 0 (uniform) and 10, got {zipf}"));
            }
            let ttl = c.ttl.map(|t| t.nanos());
            if ttl == Some(0) {
                return fail(path.join("ttl"), "ttl must be positive (leave it out for entries that never expire)");
            }
            let capacity = c.capacity.unwrap_or(keys);
            if capacity == 0 {
                return fail(path.join("capacity"), "capacity must be at least 1 entry");
            }
            CacheLookup::Keys { keys, zipf, ttl, capacity: capacity.min(keys) }
        }
    };
    Ok(CacheModel { latency, lookup })
}

#[derive(Clone, Debug)]
pub struct FeatureStoreModel {
    pub latency: Sampler,
    pub error_rate: f64,
}

#[derive(Clone, Debug)]
pub struct FallbackModel {
    pub latency: Sampler,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryModel {
    pub max_attempts: u32,
    pub backoff: Nanos,
    pub multiplier: f64,
    pub max_backoff: Nanos,
    pub jitter: bool,
    pub budget: f64,
}

impl RetryModel {
    /// The wait before retry number `retry` (1 = the first retry), before jitter.
    pub fn backoff(&self, retry: u32) -> Nanos {
        let wait = self.backoff as f64 * self.multiplier.powi(retry.saturating_sub(1) as i32);
        (wait.min(self.max_backoff as f64)) as Nanos
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultAction {
    /// `count` replicas crash (for random faults: each replica fails on its own).
    Crash {
        count: u32,
    },
    Outage,
    Slow {
        count: u32,
        factor: f64,
    },
    Dependency {
        error_rate: f64,
        factor: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultTiming {
    At {
        at: Nanos,
        duration: Nanos,
    },
    /// Exponential times between failures and to repair.
    Random {
        mtbf: Nanos,
        mttr: Nanos,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultModel {
    pub kind: FaultKind,
    pub region: usize,
    /// The endpoint whose replicas fail (0: the main one); a region outage takes all.
    pub endpoint: usize,
    pub action: FaultAction,
    pub timing: FaultTiming,
    /// Stable id of the fault's random stream.
    pub stream: String,
}

fn positive(path: KeyPath, what: &str, value: Nanos) -> Result<Nanos, ScenarioError> {
    if value == 0 {
        return fail(path, format!("{what} must be greater than zero"));
    }
    Ok(value)
}

/// A period the engine schedules events by: at least [`MIN_PERIOD`].
fn at_least(path: KeyPath, what: &str, value: Nanos) -> Result<Nanos, ScenarioError> {
    if value < MIN_PERIOD {
        return fail(path, format!("{what} must be at least 1ms (got {value} ns)"));
    }
    Ok(value)
}

fn fraction(path: KeyPath, what: &str, value: f64) -> Result<f64, ScenarioError> {
    if !(0.0..=1.0).contains(&value) {
        return fail(path, format!("{what} must be between 0 and 1, got {value}"));
    }
    Ok(value)
}

fn rules(path: &KeyPath, rules: &ScaleRules, up: bool) -> Result<RulesModel, ScenarioError> {
    let default_policies = if up {
        vec![
            PolicyModel { kind: PolicyKind::Pods, value: 4, period: 15 * SECOND },
            PolicyModel { kind: PolicyKind::Percent, value: 100, period: 15 * SECOND },
        ]
    } else {
        vec![PolicyModel { kind: PolicyKind::Percent, value: 100, period: 15 * SECOND }]
    };
    let policies = match &rules.policies {
        None => default_policies,
        Some(list) => {
            let mut policies = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let at = path.join("policies").join(i);
                if p.value == 0 {
                    return fail(at.join("value"), "a policy's value must be at least 1");
                }
                let period = p.period.nanos();
                if !(SECOND..=1800 * SECOND).contains(&period) {
                    return fail(at.join("period"), "a policy's period must be between 1s and 30min (the API's limit)");
                }
                policies.push(PolicyModel { kind: p.kind, value: p.value, period });
            }
            if policies.is_empty() && rules.select != Some(Select::Disabled) {
                return fail(path.join("policies"), "give at least one policy, or select = \"disabled\"");
            }
            policies
        }
    };
    let stabilization = rules.stabilization.map_or(if up { 0 } else { 300 * SECOND }, |d| d.nanos());
    if stabilization > 3600 * SECOND {
        return fail(path.join("stabilization"), "stabilization must be at most 1h (the API's limit)");
    }
    Ok(RulesModel { stabilization, policies, select: rules.select.unwrap_or(Select::Max) })
}

pub fn build_autoscaling(path: &KeyPath, a: &Autoscaling, replicas: u32) -> Result<AutoscalingModel, ScenarioError> {
    if !a.target.is_finite() || a.target <= 0.0 {
        return fail(path.join("target"), format!("target must be positive, got {}", a.target));
    }
    if matches!(a.metric, ScaleMetric::Utilization | ScaleMetric::KvCacheUsage) && a.target > 1.0 {
        return fail(path.join("target"), "a utilization target is a fraction between 0 and 1");
    }
    if a.max_replicas == 0 || a.max_replicas < a.min_replicas {
        return fail(path.join("max_replicas"), "max_replicas must be at least 1 and at least min_replicas");
    }
    if a.max_replicas > MAX_REPLICAS {
        return fail(path.join("max_replicas"), format!("max_replicas must be at most {}", MAX_REPLICAS));
    }
    if replicas < a.min_replicas || replicas > a.max_replicas {
        return fail(
            path.clone(),
            format!(
                "the region's replicas ({replicas}) must lie within [min_replicas, max_replicas] = [{}, {}]",
                a.min_replicas, a.max_replicas
            ),
        );
    }
    if !(0.0..1.0).contains(&a.tolerance) {
        return fail(path.join("tolerance"), "tolerance must be at least 0 and below 1");
    }
    let interval = at_least(path.join("evaluation_interval"), "evaluation_interval", a.evaluation_interval.nanos())?;
    if a.min_replicas == 0 && a.cooldown.is_none() {
        return fail(path.join("cooldown"), "min_replicas = 0 (scale to zero) needs a cooldown");
    }
    if a.cooldown.is_some() && a.min_replicas > 0 {
        return fail(path.join("cooldown"), "cooldown only applies with min_replicas = 0 (scale to zero)");
    }
    if !a.activation.is_finite() || a.activation < 0.0 {
        return fail(path.join("activation"), "activation must be zero or positive");
    }
    Ok(AutoscalingModel {
        metric: a.metric,
        target: a.target,
        min_replicas: a.min_replicas,
        max_replicas: a.max_replicas,
        tolerance: a.tolerance,
        interval,
        up: rules(&path.join("scale_up"), &a.scale_up, true)?,
        down: rules(&path.join("scale_down"), &a.scale_down, false)?,
        cooldown: a.cooldown.map(|d| d.nanos()),
        activation: a.activation,
    })
}

pub fn build_startup(path: &KeyPath, s: &Startup) -> Result<StartupModel, ScenarioError> {
    let phase =
        |key: &str, d: &Option<crate::scenario::Dist>| d.as_ref().map(|d| sampler(&path.join(key), d)).transpose();
    Ok(StartupModel {
        provisioning: phase("provisioning", &s.provisioning)?,
        image_pull: phase("image_pull", &s.image_pull)?,
        model_load: phase("model_load", &s.model_load)?,
    })
}

pub fn build_health(path: &KeyPath, h: &HealthCheck) -> Result<HealthModel, ScenarioError> {
    let interval = at_least(path.join("interval"), "interval", h.interval.nanos())?;
    if h.failure_threshold == 0 || h.success_threshold == 0 {
        return fail(path.clone(), "failure_threshold and success_threshold must be at least 1");
    }
    Ok(HealthModel { interval, failure_threshold: h.failure_threshold, success_threshold: h.success_threshold })
}

pub fn build_feature_store(path: &KeyPath, f: &FeatureStore) -> Result<FeatureStoreModel, ScenarioError> {
    Ok(FeatureStoreModel {
        latency: sampler(&path.join("latency"), &f.latency)?,
        error_rate: fraction(path.join("error_rate"), "error_rate", f.error_rate)?,
    })
}

pub fn build_fallback(path: &KeyPath, f: &Fallback) -> Result<FallbackModel, ScenarioError> {
    Ok(FallbackModel { latency: sampler(&path.join("latency"), &f.latency)? })
}

pub fn build_breaker(path: &KeyPath, b: &CircuitBreaker) -> Result<BreakerModel, ScenarioError> {
    if b.window == 0 || b.window > 1_000_000 {
        return fail(path.join("window"), "window must be between 1 and 1000000 calls");
    }
    if b.minimum_calls == 0 || b.minimum_calls > b.window {
        return fail(path.join("minimum_calls"), "minimum_calls must be between 1 and window");
    }
    if b.half_open_calls == 0 {
        return fail(path.join("half_open_calls"), "half_open_calls must be at least 1");
    }
    let failure_rate = fraction(path.join("failure_rate"), "failure_rate", b.failure_rate)?;
    let slow_call_rate = fraction(path.join("slow_call_rate"), "slow_call_rate", b.slow_call_rate)?;
    if failure_rate == 0.0 {
        return fail(path.join("failure_rate"), "a failure_rate of 0 would open on the first call");
    }
    Ok(BreakerModel {
        window: b.window,
        minimum_calls: b.minimum_calls,
        failure_rate,
        slow_call: b.slow_call_duration.map(|d| d.nanos()),
        slow_call_rate,
        open_duration: positive(path.join("open_duration"), "open_duration", b.open_duration.nanos())?,
        half_open_calls: b.half_open_calls,
    })
}

pub fn build_retries(path: &KeyPath, r: &Retries) -> Result<RetryModel, ScenarioError> {
    if r.max_attempts == 0 || r.max_attempts > 100 {
        return fail(path.join("max_attempts"), "max_attempts (the first included) must be between 1 and 100");
    }
    if !r.multiplier.is_finite() || r.multiplier < 1.0 {
        return fail(path.join("multiplier"), "multiplier must be at least 1");
    }
    if !r.budget.is_finite() || r.budget < 0.0 {
        return fail(path.join("budget"), "budget must be zero or positive (retries per request)");
    }
    Ok(RetryModel {
        max_attempts: r.max_attempts,
        backoff: r.backoff.nanos(),
        multiplier: r.multiplier,
        max_backoff: r.max_backoff.nanos().max(r.backoff.nanos()),
        jitter: r.jitter,
        budget: r.budget,
    })
}

/// `region` is the fault's region index, resolved by the caller; `serving` whether it has replicas.
pub fn build_fault(
    path: &KeyPath,
    index: usize,
    f: &Fault,
    region: usize,
    duration: Nanos,
) -> Result<FaultModel, ScenarioError> {
    let timing = match (f.at, f.duration, f.mtbf, f.mttr) {
        (Some(at), Some(length), None, None) => {
            let at = at.nanos();
            if at >= duration {
                return fail(path.join("at"), "the fault starts after the run ends");
            }
            FaultTiming::At { at, duration: positive(path.join("duration"), "duration", length.nanos())? }
        }
        (None, None, Some(mtbf), Some(mttr)) => FaultTiming::Random {
            mtbf: at_least(path.join("mtbf"), "mtbf", mtbf.nanos())?,
            mttr: positive(path.join("mttr"), "mttr", mttr.nanos())?,
        },
        _ => return fail(path.clone(), "a fault needs either `at` and `duration`, or `mtbf` and `mttr`"),
    };
    let count = f.replicas.unwrap_or(1);
    if count == 0 {
        return fail(path.join("replicas"), "replicas must be at least 1");
    }
    let factor = |default: f64| -> Result<f64, ScenarioError> {
        let factor = f.factor.unwrap_or(default);
        if !factor.is_finite() || factor < 1.0 {
            return fail(path.join("factor"), format!("factor must be at least 1, got {factor}"));
        }
        Ok(factor)
    };
    let action = match f.kind {
        FaultKind::ReplicaCrash => FaultAction::Crash { count },
        FaultKind::RegionOutage => FaultAction::Outage,
        FaultKind::SlowReplica => FaultAction::Slow { count, factor: factor(2.0)? },
        FaultKind::DependencyFailure => FaultAction::Dependency {
            error_rate: fraction(path.join("error_rate"), "error_rate", f.error_rate.unwrap_or(1.0))?,
            factor: factor(1.0)?,
        },
    };
    let unused = |key: &str, set: bool| -> Result<(), ScenarioError> {
        if set {
            return fail(path.join(key), format!("{key} does not apply to a {:?} fault", f.kind));
        }
        Ok(())
    };
    unused("replicas", f.replicas.is_some() && !matches!(f.kind, FaultKind::ReplicaCrash | FaultKind::SlowReplica))?;
    unused("factor", f.factor.is_some() && !matches!(f.kind, FaultKind::SlowReplica | FaultKind::DependencyFailure))?;
    unused("error_rate", f.error_rate.is_some() && f.kind != FaultKind::DependencyFailure)?;
    Ok(FaultModel { kind: f.kind, region, endpoint: 0, action, timing, stream: format!("fault/{index}/{}", f.region) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let r =
            RetryModel { max_attempts: 5, backoff: 50, multiplier: 2.0, max_backoff: 300, jitter: false, budget: 0.2 };
        assert_eq!((r.backoff(1), r.backoff(2), r.backoff(3), r.backoff(4)), (50, 100, 200, 300));
    }
}
