//! Global routing: which region a client's attempt goes to. Pure: the caller hands in the origin's
//! serving regions by increasing RTT, what the router sees of each region, and a random stream.

use crate::rng::Rng;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// Written `[routing] policy = "nearest"` in a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingPolicy {
    /// The serving region with the smallest RTT from the client's region.
    #[default]
    Nearest,
    /// Random split by weight.
    Weighted,
    /// The region with the smallest RTT + estimated queueing delay.
    LatencyAware,
}

/// What the router knows of one region when it routes.
pub trait RegionView {
    /// The router's probes say the region is up.
    fn routable(&self, region: u32) -> bool;
    /// RTT plus the work ahead of a new request per model instance, in nanoseconds
    /// (latency-aware routing only).
    fn score(&self, region: u32) -> f64;
    /// More requests queued per replica than the spillover limit.
    fn over_spillover(&self, region: u32, limit: u32) -> bool;
}

/// Where an attempt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub region: u32,
    /// The policy's choice was down and the attempt failed over to this region.
    pub failed_over_to: Option<u32>,
}

/// Routes one attempt. `order` lists the serving regions by increasing RTT from the origin (never
/// empty when any region serves); `weights` is per region index. None when no region is routable.
pub fn route(
    policy: RoutingPolicy,
    order: &[u32],
    weights: &[f64],
    spillover_queue: Option<u32>,
    rng: &mut Rng,
    view: &impl RegionView,
) -> Option<Route> {
    let chosen = match policy {
        RoutingPolicy::Nearest => *order.first()?,
        RoutingPolicy::Weighted => {
            let total: f64 = weights.iter().sum();
            let mut pick = rng.random::<f64>() * total;
            let mut chosen = order[0];
            for (r, &w) in weights.iter().enumerate() {
                if w > 0.0 {
                    chosen = r as u32;
                    if pick < w {
                        break;
                    }
                    pick -= w;
                }
            }
            chosen
        }
        RoutingPolicy::LatencyAware => {
            let mut best = None;
            let mut best_score = f64::INFINITY;
            for &r in order.iter().filter(|&&r| view.routable(r)) {
                let s = view.score(r);
                if s < best_score {
                    best = Some(r);
                    best_score = s;
                }
            }
            best.unwrap_or(order[0])
        }
    };
    let mut route = Route { region: chosen, failed_over_to: None };
    if !view.routable(chosen) {
        // Failover: the nearest region the router sees up.
        let other = *order.iter().find(|&&r| view.routable(r))?;
        route = Route { region: other, failed_over_to: Some(other) };
    }
    if let Some(limit) = spillover_queue {
        if view.over_spillover(route.region, limit) {
            if let Some(&other) = order.iter().find(|&&r| view.routable(r) && !view.over_spillover(r, limit)) {
                route.region = other;
            }
        }
    }
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    /// Regions 0..n: `up[r]`, `score[r]`, `queued[r]` per replica.
    struct View {
        up: Vec<bool>,
        score: Vec<f64>,
        queued: Vec<u32>,
    }

    impl RegionView for View {
        fn routable(&self, r: u32) -> bool {
            self.up[r as usize]
        }
        fn score(&self, r: u32) -> f64 {
            self.score[r as usize]
        }
        fn over_spillover(&self, r: u32, limit: u32) -> bool {
            self.queued[r as usize] > limit
        }
    }

    fn view(up: &[bool]) -> View {
        View { up: up.to_vec(), score: vec![0.0; up.len()], queued: vec![0; up.len()] }
    }

    #[test]
    fn nearest_takes_the_first_and_fails_over_to_the_next_up() {
        let mut rng = stream(1, "test");
        let order = [2, 0, 1];
        let up = view(&[true, true, true]);
        assert_eq!(route(RoutingPolicy::Nearest, &order, &[], None, &mut rng, &up).unwrap().region, 2);
        let down = view(&[true, true, false]);
        assert_eq!(
            route(RoutingPolicy::Nearest, &order, &[], None, &mut rng, &down),
            Some(Route { region: 0, failed_over_to: Some(0) })
        );
        assert_eq!(route(RoutingPolicy::Nearest, &order, &[], None, &mut rng, &view(&[false; 3])), None);
    }

    #[test]
    fn latency_aware_takes_the_lowest_score_among_regions_up() {
        let mut rng = stream(1, "test");
        let mut v = view(&[true, true, true]);
        v.score = vec![5.0, 3.0, 4.0];
        assert_eq!(route(RoutingPolicy::LatencyAware, &[0, 1, 2], &[], None, &mut rng, &v).unwrap().region, 1);
        v.up[1] = false;
        assert_eq!(route(RoutingPolicy::LatencyAware, &[0, 1, 2], &[], None, &mut rng, &v).unwrap().region, 2);
    }

    #[test]
    fn spillover_moves_to_the_first_region_under_the_limit() {
        let mut rng = stream(1, "test");
        let mut v = view(&[true, true, true]);
        v.queued = vec![9, 9, 2];
        let r = route(RoutingPolicy::Nearest, &[0, 1, 2], &[], Some(4), &mut rng, &v).unwrap();
        assert_eq!(r, Route { region: 2, failed_over_to: None });
        // Every region over the limit: stay with the policy's choice.
        v.queued = vec![9, 9, 9];
        assert_eq!(route(RoutingPolicy::Nearest, &[0, 1, 2], &[], Some(4), &mut rng, &v).unwrap().region, 0);
    }

    #[test]
    fn weighted_splits_by_weight() {
        let mut rng = stream(7, "test");
        let v = view(&[true, true, true]);
        let weights = [1.0, 0.0, 3.0];
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts
                [route(RoutingPolicy::Weighted, &[0, 1, 2], &weights, None, &mut rng, &v).unwrap().region as usize] +=
                1;
        }
        // 10 000 and 30 000 expected; binomial sd ≈ 87: 5 sigma.
        assert_eq!(counts[1], 0);
        assert!((counts[0] as i64 - 10_000).abs() < 435, "{counts:?}");
    }
}
