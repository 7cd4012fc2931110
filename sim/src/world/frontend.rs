//! From the client to a replica: arrival, routing (the policy in `policy::routing`), the wire to
//! the region, and the regional frontend: A/B split, feature-store lookup, circuit breaker, shadow
//! mirror, and the call into the deployment.

use super::request::{Request, Stamp};
use super::{serving_of, Event, Outcome, Pool, Site, World, NONE, NO_TIME};
use crate::metrics::Phase;
use crate::model::ServingModel;
use crate::policy::routing::{self, RegionView};
use crate::units::Nanos;
use rand::Rng as _;

/// What the global router sees of the regions serving one endpoint, from one origin.
struct RouterView<'w, 'm> {
    /// Every site; the endpoint's are `first..` by region.
    sites: &'w [Site],
    first: usize,
    pools: &'w [Pool<'m>],
    /// Round trips from the origin, by region.
    rtt: &'w [Nanos],
}

impl RouterView<'_, '_> {
    #[inline]
    fn primary(&self, region: u32) -> &Pool<'_> {
        &self.pools[self.sites[self.first + region as usize].primary as usize]
    }
}

impl RegionView for RouterView<'_, '_> {
    #[inline]
    fn routable(&self, region: u32) -> bool {
        self.sites[self.first + region as usize].routable
    }

    fn score(&self, region: u32) -> f64 {
        let pool = self.primary(region);
        let Some(serving) = pool.serving else {
            return self.rtt[region as usize] as f64; // a pipeline: its calls' load is not its own
        };
        let instances = f64::from(serving.kind.instances()) * pool.lb.len().max(1) as f64;
        let assigned = self.sites[self.first + region as usize].assigned as f64;
        // Work ahead of a new request per model instance, at full-batch speed.
        self.rtt[region as usize] as f64 + assigned * pool.per_request_nanos / instances
    }

    fn over_spillover(&self, region: u32, limit: u32) -> bool {
        let pool = self.primary(region);
        pool.queued > u64::from(limit) * pool.lb.len().max(1) as u64
    }
}

impl World<'_> {
    #[inline]
    pub(super) fn on_arrival(&mut self, source: usize) {
        let (origin, client) = self.clients[source];
        let arrival = self.next_arrivals[source];
        let mut request = Request::new(self.next_serial, origin, arrival.size, arrival.output, self.now);
        request.source = source as u32;
        request.prefix = if arrival.group != NONE { arrival.group } else { arrival.row };
        request.client = client;
        self.next_serial += 1;
        let id = self.new_request(request);
        self.change_in_system(1);
        if self.model.retries.is_some() {
            let client = self.client(id);
            self.budgets[client].deposit();
        }
        self.send_attempt(id, true);
        self.schedule_next_arrival(source);
    }

    /// Routes the request's current attempt and puts it on the wire.
    #[inline]
    pub(super) fn send_attempt(&mut self, id: u32, first: bool) {
        self.stamp(id, Stamp::AttemptSent);
        let (origin, client) = (self.requests[id as usize].origin, self.requests[id as usize].client);
        let routed = self.route(client as usize, origin as usize);
        let region = routed.unwrap_or_else(|| self.nearest[client as usize].first().copied().unwrap_or(0));
        let site = client - origin + region;
        let pool = self.sites[site as usize].primary;
        let one_way = self.model.rtt[origin as usize][region as usize] / 2;
        let now = self.now;
        let request = &mut self.requests[id as usize];
        request.region = region;
        request.site = site;
        request.pool = pool;
        request.one_way = one_way;
        request.replica = NONE;
        if first {
            let state = &mut self.pools[pool as usize];
            request.deadline = state.timeout.map_or(NO_TIME, |t| now.saturating_add(t));
            state.metrics.interval.counts.offered += 1;
        }
        if routed.is_none() {
            // No region the router sees up: the client's connection fails at once.
            self.requests[id as usize].one_way = 0;
            self.requests[id as usize].error = Outcome::Failed;
            self.on_client_error(id);
            return;
        }
        self.sites[site as usize].assigned += 1;
        self.requests[id as usize].assigned_to = site;
        if one_way == 0 {
            self.on_reach_region(id);
        } else {
            self.schedule_in(one_way, true, Event::ReachRegion { request: id });
        }
    }

    /// The site no longer has this request to answer.
    #[inline]
    pub(super) fn unassign(&mut self, id: u32) {
        let site = std::mem::replace(&mut self.requests[id as usize].assigned_to, NONE);
        if site != NONE {
            self.sites[site as usize].assigned -= 1;
        }
    }

    /// The request's client: its endpoint's clients in its origin (routers, retry budgets).
    #[inline]
    pub(super) fn client(&self, id: u32) -> usize {
        self.requests[id as usize].client as usize
    }

    /// The region for a new attempt of `client` (an endpoint's clients in `origin`), among those
    /// serving the endpoint that the router sees up (None if none).
    #[inline]
    pub(super) fn route(&mut self, client: usize, origin: usize) -> Option<u32> {
        let model = self.model;
        let view =
            RouterView { sites: &self.sites, first: client - origin, pools: &self.pools, rtt: &model.rtt[origin] };
        let route = routing::route(
            model.routing.policy,
            &self.nearest[client],
            &model.routing.weights,
            model.routing.spillover_queue,
            &mut self.routers[client],
            &view,
        )?;
        if let Some(other) = route.failed_over_to {
            let measured = self.now >= model.warmup;
            let metrics = &mut self.pools[self.sites[client - origin + other as usize].primary as usize].metrics;
            metrics.interval.counts.failover += 1;
            if measured {
                metrics.counts.failover += 1;
            }
        }
        Some(route.region)
    }

    /// The region's frontend: A/B split, then the feature-store lookup, then the model call.
    #[inline]
    pub(super) fn on_reach_region(&mut self, id: u32) {
        self.stamp(id, Stamp::ReachedRegion);
        let (region, site) = (self.requests[id as usize].region, self.requests[id as usize].site);
        let state = &mut self.sites[site as usize];
        if state.down {
            self.server_error(id, Outcome::Failed, false);
            return;
        }
        if let Some(variant) = state.variant {
            let fraction = self.model.regions[region as usize].variant.as_ref().map_or(0.0, |v| v.fraction);
            if state.ab_rng.random::<f64>() < fraction {
                self.requests[id as usize].pool = variant;
            }
        }
        let pool = self.requests[id as usize].pool;
        let Some(serving) = self.pools[pool as usize].serving else {
            // A pipeline: no model of its own, stages (after its cache, if it has one).
            match self.pools[pool as usize].pipeline.and_then(|p| p.cache.as_ref()) {
                Some(cache) => self.look_up_cache(id, cache),
                None => self.start_stage(id, 0),
            }
            return;
        };
        match &serving.cache {
            Some(cache) => self.look_up_cache(id, cache),
            None => self.look_up_features(id, serving, site),
        }
    }

    /// After the cache (a miss, or none): the feature-store lookup, then the model call.
    #[inline(always)]
    pub(super) fn look_up_features(&mut self, id: u32, serving: &ServingModel, site: u32) {
        self.stamp(id, Stamp::CacheDone);
        match &serving.feature_store {
            Some(store) => {
                let state = &mut self.sites[site as usize];
                let delay = (store.latency.sample(&mut state.feature_rng) as f64 * state.feature_factor) as Nanos;
                self.schedule_in(delay, store.latency.is_constant(), Event::FeatureDone { request: id });
            }
            None => self.model_call(id),
        }
    }

    #[cold]
    pub(super) fn on_feature_done(&mut self, id: u32) {
        let request = self.requests[id as usize];
        let state = &mut self.sites[request.site as usize];
        let store = serving_of(&self.pools, request.pool).feature_store.as_ref().expect("looked up");
        let error_rate = (store.error_rate + state.feature_error).min(1.0);
        let failed = state.down || (error_rate > 0.0 && state.feature_rng.random::<f64>() < error_rate);
        if failed {
            self.server_error(id, Outcome::Failed, true);
        } else {
            self.model_call(id);
        }
    }

    /// The call to the model deployment: breaker, shadow mirror, balancer, replica.
    #[inline]
    pub(super) fn model_call(&mut self, id: u32) {
        let pool = self.requests[id as usize].pool;
        let now = self.now;
        if !self.requests[id as usize].shadow {
            if let Some(model) = serving_of(&self.pools, pool).breaker.as_ref() {
                let breaker = self.pools[pool as usize].breaker.as_mut().expect("a breaker model has a breaker");
                if !breaker.allow(model, now) {
                    self.server_error(id, Outcome::Failed, true);
                    return;
                }
                self.requests[id as usize].breaker_admitted = true;
            }
            self.mirror(id);
        }
        self.stamp(id, Stamp::CallStarted);
        let state = &mut self.pools[pool as usize];
        state.window_arrivals += 1;
        if state.lb.is_empty() {
            let serving = serving_of(&self.pools, pool);
            let state = &mut self.pools[pool as usize];
            if state.autoscaling.is_some_and(|a| a.min_replicas == 0)
                && state.pending.len() < serving.queue_capacity as usize
            {
                // Held by the scale-from-zero activator until a replica is ready.
                state.pending.push_back(id);
                return;
            }
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let replica = self.balance(pool, id);
        if self.replicas[replica as usize].phase == Phase::Down {
            // Crashed, and the load balancer has not noticed yet: connection refused.
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        self.enter_replica(id, replica);
    }

    /// With a shadow deployment, mirrors a fraction of model calls to it.
    #[inline]
    pub(super) fn mirror(&mut self, id: u32) {
        let (region_index, site) = (self.requests[id as usize].region as usize, self.requests[id as usize].site);
        let region = &mut self.sites[site as usize];
        let Some(shadow) = region.shadow else { return };
        let fraction = self.model.regions[region_index].shadow.as_ref().map_or(0.0, |s| s.fraction);
        if region.shadow_rng.random::<f64>() >= fraction {
            return;
        }
        let request = self.requests[id as usize];
        let serving = serving_of(&self.pools, shadow);
        let copy = Request {
            shadow: true,
            pool: shadow,
            replica: NONE,
            attempt: 1,
            sent: self.now,
            deadline: serving.timeout.map_or(NO_TIME, |t| self.now.saturating_add(t)),
            one_way: 0,
            breaker_admitted: false,
            degraded: false,
            batch: u64::MAX,
            served_by: NONE,
            assigned_to: NONE,
            ..request
        };
        let copy = self.new_request(copy);
        self.pools[shadow as usize].metrics.interval.counts.offered += 1;
        self.model_call(copy);
    }
}
