//! The autoscaler: Kubernetes HPA v2's replica calculation and behaviors, and KEDA's scale to and
//! from zero. Pure logic over observations; the engine feeds it and applies its answer.
//!
//! One evaluation, as the HPA controller does it:
//! 1. ratio = (metric averaged over ready replicas) / target; when scaling up, replicas still
//!    starting count as reporting 0 (so the new ones are not asked for twice); within the
//!    tolerance of 1, no change; else the recommendation is ⌈ratio × replicas reporting⌉;
//! 2. stabilisation: the result stays between the lowest recommendation of the scale-up window
//!    and the highest of the scale-down window (so it only falls once it has been low for the
//!    whole window);
//! 3. rate limits: each policy allows `value` pods or `value`% relative to the replica count at
//!    the start of its period; `select` picks the most (max) or least (min) permissive;
//! 4. the bounds [min_replicas, max_replicas].
//!
//! KEDA on top: at zero replicas, more than `activation` waiting requests scale to one; with
//! `min_replicas = 0`, no request for `cooldown` scales to zero.

use crate::units::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What the autoscaler compares with its target, per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMetric {
    /// Busy fraction of the replicas' model instances over the evaluation interval, 0–1.
    Utilization,
    /// Requests waiting in a replica's queue.
    QueueDepth,
    /// Requests per second arriving at a replica.
    RequestsPerSecond,
    /// Requests in a replica (queued or running).
    Concurrency,
    /// An LLM engine's KV cache in use, 0–1 (vLLM's `kv_cache_usage_perc`).
    KvCacheUsage,
    /// Output tokens per second an LLM engine produces.
    OutputTokensPerSecond,
}

/// A rate-limiting policy's unit: pods, or percent of the replicas at the period's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// Which of several rate-limiting policies applies (HPA's `selectPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// The policy allowing the biggest change.
    Max,
    Min,
    /// No change in this direction.
    Disabled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PolicyModel {
    pub kind: PolicyKind,
    pub value: u32,
    pub period: Nanos,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RulesModel {
    pub stabilization: Nanos,
    pub policies: Vec<PolicyModel>,
    pub select: Select,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AutoscalingModel {
    pub metric: ScaleMetric,
    pub target: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub tolerance: f64,
    pub interval: Nanos,
    pub up: RulesModel,
    pub down: RulesModel,
    pub cooldown: Option<Nanos>,
    pub activation: f64,
}

/// What the engine saw over the last evaluation interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observation {
    /// Replicas serving (in the load balancer).
    pub ready: u32,
    /// Replicas asked for and still starting.
    pub starting: u32,
    /// Sum over ready replicas of the metric.
    pub metric_sum: f64,
    /// Requests waiting for a replica while there are none (KEDA's activation metric).
    pub pending: u64,
    /// Whether any request arrived during the interval.
    pub active: bool,
}

/// One HPA (one deployment's controller state).
#[derive(Clone, Debug, Default)]
pub struct Autoscaler {
    recommendations: VecDeque<(Nanos, u32)>,
    /// (time, replicas added or removed) of past scale decisions, for the policies' periods.
    scale_ups: VecDeque<(Nanos, u32)>,
    scale_downs: VecDeque<(Nanos, u32)>,
    last_active: Nanos,
}

fn changed_within(events: &VecDeque<(Nanos, u32)>, now: Nanos, period: Nanos) -> u32 {
    events.iter().filter(|&&(t, _)| t + period > now).map(|&(_, n)| n).sum()
}

impl Autoscaler {
    /// The replica count to ask for at `now`, given the `current` desired count.
    pub fn evaluate(&mut self, model: &AutoscalingModel, now: Nanos, current: u32, seen: &Observation) -> u32 {
        if seen.active || seen.pending > 0 {
            self.last_active = now;
        }
        if current == 0 {
            // KEDA activation: from zero straight to one (or the floor), no policies.
            return if seen.pending as f64 > model.activation { model.min_replicas.max(1) } else { 0 };
        }
        let floor = model.min_replicas.max(1);
        if let Some(cooldown) = model.cooldown {
            if model.min_replicas == 0 && now.saturating_sub(self.last_active) >= cooldown && !seen.active {
                self.record(now, current, 0);
                return 0;
            }
        }
        let recommendation = self.recommend(model, current, seen);
        // Stabilisation.
        self.recommendations.push_back((now, recommendation));
        let keep = model.up.stabilization.max(model.down.stabilization);
        while self.recommendations.front().is_some_and(|&(t, _)| t + keep <= now) {
            self.recommendations.pop_front();
        }
        let mut up = recommendation;
        let mut down = recommendation;
        for &(t, r) in &self.recommendations {
            // Strictly inside the window, as the controller's cutoff test.
            if t + model.up.stabilization > now {
                up = up.min(r);
            }
            if t + model.down.stabilization > now {
                down = down.max(r);
            }
        }
        let mut desired = current;
        if desired < up {
            desired = up;
        }
        if desired > down {
            desired = down;
        }
        // Rate limits.
        if desired > current {
            desired = desired.min(self.up_limit(&model.up, now, current));
        } else if desired < current {
            desired = desired.max(self.down_limit(&model.down, now, current));
        }
        let desired = desired.clamp(floor, model.max_replicas.max(floor));
        self.record(now, current, desired);
        desired
    }

    fn recommend(&self, model: &AutoscalingModel, current: u32, seen: &Observation) -> u32 {
        if seen.ready == 0 {
            // No replica reports a metric: keep the count (the controller does not act blind).
            return current;
        }
        let ratio = seen.metric_sum / f64::from(seen.ready) / model.target;
        let (ratio, reporting) = if ratio > 1.0 && seen.starting > 0 {
            // Starting replicas count as reporting zero.
            let reporting = seen.ready + seen.starting;
            (seen.metric_sum / f64::from(reporting) / model.target, reporting)
        } else {
            (ratio, seen.ready)
        };
        if (ratio - 1.0).abs() <= model.tolerance {
            return current;
        }
        // A hair below the integer so that float noise in ratio × reporting never adds a replica.
        (ratio * f64::from(reporting) - 1e-9).ceil().max(0.0) as u32
    }

    fn up_limit(&self, rules: &RulesModel, now: Nanos, current: u32) -> u32 {
        let limits = rules.policies.iter().map(|p| {
            let start = current - changed_within(&self.scale_ups, now, p.period).min(current)
                + changed_within(&self.scale_downs, now, p.period);
            match p.kind {
                PolicyKind::Pods => start + p.value,
                PolicyKind::Percent => (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as u32,
            }
        });
        match rules.select {
            Select::Max => limits.max().unwrap_or(u32::MAX),
            Select::Min => limits.min().unwrap_or(u32::MAX),
            Select::Disabled => current,
        }
    }

    fn down_limit(&self, rules: &RulesModel, now: Nanos, current: u32) -> u32 {
        let limits =
            rules.policies.iter().map(|p| {
                let start = (current + changed_within(&self.scale_downs, now, p.period))
                    .saturating_sub(changed_within(&self.scale_ups, now, p.period));
                match p.kind {
                    PolicyKind::Pods => start.saturating_sub(p.value),
                    PolicyKind::Percent => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)).max(0.0) as u32,
                }
            });
        match rules.select {
            // The most permissive policy removes the most: the lowest floor.
            Select::Max => limits.min().unwrap_or(0),
            Select::Min => limits.max().unwrap_or(0),
            Select::Disabled => current,
        }
    }

    fn record(&mut self, now: Nanos, current: u32, desired: u32) {
        if desired > current {
            self.scale_ups.push_back((now, desired - current));
        } else if desired < current {
            self.scale_downs.push_back((now, current - desired));
        }
        // Policies look back at most an hour (the API's limit on periodSeconds).
        let horizon = 3_600_000_000_000;
        for events in [&mut self.scale_ups, &mut self.scale_downs] {
            while events.front().is_some_and(|&(t, _)| t + horizon < now) {
                events.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    fn model() -> AutoscalingModel {
        AutoscalingModel {
            metric: ScaleMetric::RequestsPerSecond,
            target: 100.0,
            min_replicas: 1,
            max_replicas: 50,
            tolerance: 0.1,
            interval: 15 * S,
            up: RulesModel {
                stabilization: 0,
                policies: vec![
                    PolicyModel { kind: PolicyKind::Pods, value: 4, period: 15 * S },
                    PolicyModel { kind: PolicyKind::Percent, value: 100, period: 15 * S },
                ],
                select: Select::Max,
            },
            down: RulesModel {
                stabilization: 300 * S,
                policies: vec![PolicyModel { kind: PolicyKind::Percent, value: 100, period: 15 * S }],
                select: Select::Max,
            },
            cooldown: None,
            activation: 0.0,
        }
    }

    fn seen(ready: u32, starting: u32, per_ready: f64) -> Observation {
        Observation { ready, starting, metric_sum: per_ready * f64::from(ready), pending: 0, active: true }
    }

    #[test]
    fn the_hpa_formula_with_tolerance() {
        let mut hpa = Autoscaler::default();
        // 2 replicas at 250 rps each against 100: ⌈2 × 2.5⌉ = 5, within the 4-pod / 100% limit (6).
        assert_eq!(hpa.evaluate(&model(), 15 * S, 2, &seen(2, 0, 250.0)), 5);
        // Within tolerance: 109 rps against 100 changes nothing.
        let mut hpa = Autoscaler::default();
        assert_eq!(hpa.evaluate(&model(), 15 * S, 5, &seen(5, 0, 109.0)), 5);
        assert_eq!(hpa.evaluate(&model(), 30 * S, 5, &seen(5, 0, 111.0)), 6);
    }

    #[test]
    fn scale_up_is_rate_limited_and_counts_starting_replicas() {
        let mut hpa = Autoscaler::default();
        // 2 replicas at 1000 rps each: ⌈2 × 10⌉ = 20, but max(2 + 4, 2 × 2) = 6 per 15 s.
        assert_eq!(hpa.evaluate(&model(), 15 * S, 2, &seen(2, 0, 1000.0)), 6);
        // 15 s later: 2 ready still carry 2000 rps, 4 starting count as 0: 2000 / 6 / 100 = 3.33 →
        // ⌈3.33 × 6⌉ = 20, limited to max(6 + 4, 12) = 12.
        assert_eq!(hpa.evaluate(&model(), 30 * S, 6, &seen(2, 4, 1000.0)), 12);
        // Inside the same period the limit holds from the period's start (6 at 30 s).
        assert_eq!(hpa.evaluate(&model(), 40 * S, 12, &seen(2, 10, 1000.0)), 12);
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let mut hpa = Autoscaler::default();
        let m = model();
        assert_eq!(hpa.evaluate(&m, 0, 10, &seen(10, 0, 100.0)), 10);
        // Load halves at 15 s: the recommendation is 5, but the 300 s window still holds a 10.
        let mut t = 15 * S;
        while t < 300 * S {
            assert_eq!(hpa.evaluate(&m, t, 10, &seen(10, 0, 50.0)), 10, "at {t}");
            t += 15 * S;
        }
        // At 300 s the 10 recommended at 0 s is older than the window: down to 5.
        assert_eq!(hpa.evaluate(&m, 300 * S, 10, &seen(10, 0, 50.0)), 5);
    }

    #[test]
    fn scale_down_policies_and_bounds() {
        let mut m = model();
        m.down.stabilization = 0;
        m.down.policies = vec![PolicyModel { kind: PolicyKind::Pods, value: 2, period: 60 * S }];
        let mut hpa = Autoscaler::default();
        // Wants 1 (10 rps on 10 replicas → ⌈0.1 × 10⌉), may remove 2 per minute.
        assert_eq!(hpa.evaluate(&m, 0, 10, &seen(10, 0, 10.0)), 8);
        assert_eq!(hpa.evaluate(&m, 15 * S, 8, &seen(8, 0, 10.0)), 8);
        assert_eq!(hpa.evaluate(&m, 60 * S, 8, &seen(8, 0, 10.0)), 6);
        // max_replicas caps, min_replicas floors.
        let mut hpa = Autoscaler::default();
        m.max_replicas = 4;
        assert_eq!(hpa.evaluate(&m, 0, 2, &seen(2, 0, 1000.0)), 4);
        m.min_replicas = 3;
        let mut hpa = Autoscaler::default();
        assert_eq!(hpa.evaluate(&m, 0, 4, &seen(4, 0, 1.0)), 3);
        m.up.select = Select::Disabled;
        let mut hpa = Autoscaler::default();
        assert_eq!(hpa.evaluate(&m, 0, 3, &seen(3, 0, 1000.0)), 3);
    }

    #[test]
    fn keda_scales_to_zero_after_cooldown_and_back_on_activation() {
        let mut m = model();
        m.min_replicas = 0;
        m.cooldown = Some(60 * S);
        m.activation = 2.0;
        let mut hpa = Autoscaler::default();
        assert_eq!(hpa.evaluate(&m, 0, 1, &seen(1, 0, 100.0)), 1);
        let idle = Observation { ready: 1, ..Observation::default() };
        assert_eq!(hpa.evaluate(&m, 30 * S, 1, &idle), 1);
        assert_eq!(hpa.evaluate(&m, 60 * S, 1, &idle), 0);
        // At zero: two waiting requests do not pass the activation threshold of 2, three do.
        let waiting = |pending| Observation { pending, ..Observation::default() };
        assert_eq!(hpa.evaluate(&m, 75 * S, 0, &waiting(2)), 0);
        assert_eq!(hpa.evaluate(&m, 90 * S, 0, &waiting(3)), 1);
    }
}
