//! Operating the deployments: replica lifecycle (start-up phases, ready, draining, down), the
//! autoscaler's ticks, faults, and the probes of the load balancers and of the global router.

use super::{overlap, serving_of, Event, Outcome, Pool, Role, StageMetrics, World, NO_TIME};
use crate::metrics::{Phase, RegionMetrics, PHASES};
use crate::model::Model;
use crate::model::{FaultAction, FaultTiming};
use crate::policy::autoscale::{Observation, ScaleMetric};
use crate::policy::balance::Balancing;
use crate::policy::breaker::Breaker;
use crate::rng;
use crate::units::Nanos;
use rand::Rng as _;
use rand_distr::{Distribution, Exp};

impl<'m> Pool<'m> {
    /// The pool of `role`'s deployment of `endpoint` in `region`: its replica slots (the
    /// deployment's one slot rule), serving model, autoscaler and price. A named endpoint's pools
    /// are named `ENDPOINT/REGION`; the main endpoint's by the region alone.
    pub(super) fn new(model: &'m Model, seed: u64, endpoint: u32, region: u32, role: Role) -> Pool<'m> {
        let region_model = model.site(endpoint as usize, region as usize);
        let deployment = region_model.deployment(role).expect("pools exist for configured deployments");
        let site = match model.endpoint_name(endpoint as usize) {
            None => region_model.name.clone(),
            Some(name) => format!("{name}/{}", region_model.name),
        };
        let name = match role {
            Role::Primary => site,
            Role::Variant => format!("{site}#variant"),
            Role::Shadow => format!("{site}#shadow"),
        };
        let (serving, autoscaling, usd_per_hour) =
            (deployment.serving.as_deref(), deployment.autoscaling.as_ref(), deployment.usd_per_hour);
        let pipeline =
            model.pipeline(endpoint as usize).filter(|_| region_model.runs_pipeline && role == Role::Primary);
        let slots = deployment.slots();
        let max_batch = serving.map_or(1, |s| s.kind.max_batch());
        Pool {
            region,
            endpoint,
            role,
            serving,
            timeout: serving.map_or(pipeline.and_then(|p| p.timeout), |s| s.timeout),
            pipeline,
            stages: pipeline.map_or_else(Vec::new, StageMetrics::for_pipeline),
            calls: model.is_called(endpoint as usize).then(|| Box::new(RegionMetrics::new(max_batch))),
            autoscaling,
            hpa: Default::default(),
            first_replica: 0,
            slots,
            lb: Vec::with_capacity(slots as usize),
            decode_lb: Vec::new(),
            signals: Vec::new(),
            signals_at: super::NO_TIME,
            desired: 0,
            phase_counts: {
                let mut counts = [0; PHASES];
                counts[Phase::Off as usize] = slots;
                counts
            },
            phase_since: 0,
            queued: 0,
            busy_replicas: 0,
            balancing: Balancing::new(rng::stream(seed, &format!("balancer/{name}"))),
            lifecycle_rng: rng::stream(seed, &format!("startup/{name}")),
            fallback_rng: rng::stream(seed, &format!("fallback/{name}")),
            metrics: {
                let mut metrics = RegionMetrics::new(max_batch);
                metrics.llm = serving.and_then(|s| s.kind.llm()).map(|engine| {
                    Box::new(crate::metrics::LlmMetrics::new(
                        u64::from(engine.kv_blocks) * u64::from(engine.block_size),
                    ))
                });
                if metrics.llm.is_some() {
                    metrics.interval.llm = Some(Box::default());
                }
                metrics
            },
            per_request_nanos: serving.map_or(0.0, |s| s.per_request_nanos()),
            window_start: 0,
            window_arrivals: 0,
            window_tokens: 0,
            window_busy: 0.0,
            pending: Default::default(),
            breaker: serving.and_then(|s| s.breaker.as_ref()).map(Breaker::new),
            usd_per_hour,
            name,
        }
    }
}

impl World<'_> {
    /// The configured replicas are ready at time 0.
    pub(super) fn start_initial_replicas(&mut self) {
        for p in 0..self.pools.len() {
            let pool = &self.pools[p];
            let region = self.model.site(pool.endpoint as usize, pool.region as usize);
            let initial = match pool.serving {
                None => 0,
                Some(_) => region.deployment(pool.role).map_or(0, |d| d.replicas),
            };
            let first = pool.first_replica;
            for replica in first..first + initial {
                self.set_phase(replica, Phase::Ready);
                self.join_lb(replica);
            }
            self.pools[p].desired = initial;
        }
    }

    /// Autoscaler ticks; with faults, the probes of load balancers and of the router.
    pub(super) fn schedule_controllers(&mut self) {
        for p in 0..self.pools.len() {
            if let Some(autoscaling) = self.pools[p].autoscaling {
                self.events.schedule(autoscaling.interval, Event::ScaleTick { pool: p as u32 });
            }
        }
        if self.model.faults.is_empty() {
            return;
        }
        for p in 0..self.pools.len() {
            if let Some(serving) = self.pools[p].serving {
                self.events.schedule(serving.health.interval, Event::ProbeTick { pool: p as u32 });
            }
        }
        self.events.schedule(self.model.routing.health.interval, Event::RouterTick);
    }

    /// Adds the time since the last change, phase by phase, to the pool's replica-nanoseconds.
    pub(super) fn account_phases(&mut self, pool: u32, now: Nanos) {
        let (warmup, duration) = (self.model.warmup, self.model.duration);
        let state = &mut self.pools[pool as usize];
        let since = state.phase_since;
        if now <= since {
            return;
        }
        let measured = overlap(since, now, warmup, duration);
        let run = overlap(since, now, 0, duration);
        for phase in 1..PHASES {
            let count = f64::from(state.phase_counts[phase]);
            state.metrics.replica_nanos[phase] += count * measured;
            state.metrics.replica_nanos_run[phase] += count * run;
        }
        state.phase_since = now;
    }

    pub(super) fn set_phase(&mut self, replica: u32, phase: Phase) {
        let pool = self.replicas[replica as usize].pool;
        self.account_phases(pool, self.now);
        let old = self.replicas[replica as usize].phase;
        self.replicas[replica as usize].phase = phase;
        let state = &mut self.pools[pool as usize];
        state.phase_counts[old as usize] -= 1;
        state.phase_counts[phase as usize] += 1;
        let alive = u64::from(state.slots - state.phase_counts[Phase::Off as usize]);
        state.metrics.peak_replicas = state.metrics.peak_replicas.max(alive);
    }

    /// Puts a ready replica into its load balancer and hands it requests held for lack of one.
    pub(super) fn join_lb(&mut self, replica: u32) {
        let state = &mut self.replicas[replica as usize];
        state.probe_failures = 0;
        if state.in_lb {
            return;
        }
        state.in_lb = true;
        let pool_index = state.pool;
        if self.is_handed_work(replica) {
            let decoders = &mut self.pools[pool_index as usize].decode_lb;
            let at = decoders.partition_point(|&r| r < replica);
            decoders.insert(at, replica);
            return;
        }
        let pool = &mut self.pools[pool_index as usize];
        let at = pool.lb.partition_point(|&r| r < replica);
        pool.lb.insert(at, replica);
        let p = pool_index;
        while let Some(id) = self.pools[p as usize].pending.pop_front() {
            if self.requests[id as usize].deadline <= self.now {
                self.finish(id, Outcome::TimedOut);
                continue;
            }
            let target = self.balance(p, id);
            self.enter_replica(id, target);
        }
    }

    pub(super) fn leave_lb(&mut self, replica: u32) {
        let state = &mut self.replicas[replica as usize];
        if !state.in_lb {
            return;
        }
        state.in_lb = false;
        let pool = &mut self.pools[state.pool as usize];
        if let Ok(at) = pool.lb.binary_search(&replica) {
            pool.lb.remove(at);
        }
        if let Ok(at) = pool.decode_lb.binary_search(&replica) {
            pool.decode_lb.remove(at);
        }
    }

    /// Creates a replica in an off slot: provisioning, image pull, model load, then ready.
    fn start_replica(&mut self, pool: u32) -> bool {
        let state = &self.pools[pool as usize];
        let first = state.first_replica;
        let Some(replica) = (first..first + state.slots).find(|&r| self.replicas[r as usize].phase == Phase::Off)
        else {
            return false;
        };
        self.advance(replica, Phase::Provisioning);
        true
    }

    /// Enters start-up phase `phase` (or the first later one that takes time) or, past the last,
    /// ready.
    fn advance(&mut self, replica: u32, mut phase: Phase) {
        let pool = self.replicas[replica as usize].pool;
        let startup = &serving_of(&self.pools, pool).startup;
        loop {
            let sampler = match phase {
                Phase::Provisioning => startup.provisioning.as_ref(),
                Phase::ImagePull => startup.image_pull.as_ref(),
                Phase::ModelLoad => startup.model_load.as_ref(),
                _ => None,
            };
            let next = match phase {
                Phase::Provisioning => Phase::ImagePull,
                Phase::ImagePull => Phase::ModelLoad,
                _ => Phase::Ready,
            };
            if !phase.is_starting() {
                break;
            }
            let time = sampler.map_or(0, |s| s.sample(&mut self.pools[pool as usize].lifecycle_rng));
            if time > 0 {
                self.set_phase(replica, phase);
                let until = self.now.saturating_add(time);
                self.replicas[replica as usize].phase_until = until;
                self.events.schedule(until, Event::PhaseDone { replica });
                return;
            }
            phase = next;
        }
        self.replicas[replica as usize].phase_until = NO_TIME;
        self.set_phase(replica, Phase::Ready);
        self.join_lb(replica);
    }

    pub(super) fn on_phase_done(&mut self, replica: u32) {
        let state = &self.replicas[replica as usize];
        if !state.phase.is_starting() || state.phase_until != self.now {
            return; // Cancelled by a scale-down or a crash.
        }
        let next = match state.phase {
            Phase::Provisioning => Phase::ImagePull,
            Phase::ImagePull => Phase::ModelLoad,
            _ => Phase::Ready,
        };
        self.advance(replica, next);
    }

    pub(super) fn finish_draining(&mut self, replica: u32) {
        let state = &self.replicas[replica as usize];
        if state.phase == Phase::Draining && state.outstanding == 0 && self.is_idle(replica) {
            self.set_phase(replica, Phase::Off);
        }
    }

    pub(super) fn on_scale_tick(&mut self, pool: u32) {
        let autoscaling = self.pools[pool as usize].autoscaling.expect("ticks only for autoscaled pools");
        let now = self.now;
        let state = &self.pools[pool as usize];
        let window = now.saturating_sub(state.window_start).max(1) as f64;
        let first = state.first_replica;
        let instances = serving_of(&self.pools, pool).kind.instances();
        let metric_sum = match autoscaling.metric {
            ScaleMetric::RequestsPerSecond => state.window_arrivals as f64 / (window / 1e9),
            ScaleMetric::Utilization => {
                // Busy instance-time in the window, batches still running included.
                let mut busy = state.window_busy;
                for replica in first..first + state.slots {
                    let r = &self.replicas[replica as usize];
                    if r.phase == Phase::Ready {
                        busy = self.add_busy_nanos_since(replica, state.window_start, busy);
                    }
                }
                busy / (f64::from(instances) * window)
            }
            ScaleMetric::QueueDepth => (first..first + state.slots)
                .filter(|&r| self.replicas[r as usize].phase == Phase::Ready)
                .map(|r| self.waiting(r) as f64)
                .sum(),
            ScaleMetric::KvCacheUsage => (first..first + state.slots)
                .filter(|&r| self.replicas[r as usize].phase == Phase::Ready)
                .map(|r| self.kv_usage(r))
                .sum(),
            ScaleMetric::OutputTokensPerSecond => state.window_tokens as f64 / (window / 1e9),
            ScaleMetric::Concurrency => (first..first + state.slots)
                .filter(|&r| self.replicas[r as usize].phase == Phase::Ready)
                .map(|r| f64::from(self.replicas[r as usize].outstanding))
                .sum(),
        };
        let seen = Observation {
            ready: state.phase_counts[Phase::Ready as usize],
            starting: state.phase_counts[Phase::Provisioning as usize]
                + state.phase_counts[Phase::ImagePull as usize]
                + state.phase_counts[Phase::ModelLoad as usize],
            metric_sum,
            pending: state.pending.len() as u64,
            active: state.window_arrivals > 0,
        };
        let current = state.desired;
        let desired = self.pools[pool as usize].hpa.evaluate(autoscaling, now, current, &seen);
        let state = &mut self.pools[pool as usize];
        state.window_start = now;
        state.window_arrivals = 0;
        state.window_tokens = 0;
        state.window_busy = 0.0;
        self.apply_desired(pool, desired);
        let state = &self.pools[pool as usize];
        if now < self.model.duration || !state.pending.is_empty() {
            self.events.schedule(now.saturating_add(autoscaling.interval), Event::ScaleTick { pool });
        }
    }

    /// Starts or removes replicas to reach `desired`. Removal takes starting (and down) replicas
    /// first, newest first, then drains ready ones, newest first (Kubernetes' pod deletion order).
    fn apply_desired(&mut self, pool: u32, desired: u32) {
        let current = self.pools[pool as usize].desired;
        self.pools[pool as usize].desired = desired;
        if desired > current {
            for _ in current..desired {
                if !self.start_replica(pool) {
                    break;
                }
            }
            return;
        }
        let mut remove = current - desired;
        let state = &self.pools[pool as usize];
        let (first, slots) = (state.first_replica, state.slots);
        for pass in 0..2 {
            for replica in (first..first + slots).rev() {
                if remove == 0 {
                    return;
                }
                let phase = self.replicas[replica as usize].phase;
                let unready = phase.is_starting() || phase == Phase::Down;
                if pass == 0 && unready {
                    self.replicas[replica as usize].phase_until = NO_TIME;
                    self.leave_lb(replica);
                    self.replicas[replica as usize].generation += 1;
                    self.set_phase(replica, Phase::Off);
                    remove -= 1;
                } else if pass == 1 && phase == Phase::Ready {
                    self.leave_lb(replica);
                    self.set_phase(replica, Phase::Draining);
                    self.finish_draining(replica);
                    remove -= 1;
                }
            }
        }
    }

    /// The replica dies: its queued and running requests fail; it stays in the load balancer until
    /// the probes notice.
    fn crash(&mut self, replica: u32) {
        let phase = self.replicas[replica as usize].phase;
        if phase == Phase::Off || phase == Phase::Down {
            return;
        }
        self.replicas[replica as usize].generation += 1;
        self.replicas[replica as usize].phase_until = NO_TIME;
        self.set_phase(replica, Phase::Down);
        if phase == Phase::Draining {
            self.leave_lb(replica);
        }
        self.fail_waiting(replica);
        while let Some(id) = self.replicas[replica as usize].cpu_waiting.pop_front() {
            self.server_error(id, Outcome::Failed, true);
        }
        while let Some(id) = self.replicas[replica as usize].proxy.as_mut().and_then(|p| p.waiting.pop_front()) {
            self.server_error(id, Outcome::Failed, true);
        }
        self.fail_running(replica);
        if phase == Phase::Draining {
            self.set_phase(replica, Phase::Off);
        }
    }

    /// Restart through model load (node and image are there) — or, for a slow replica, recovery.
    pub(super) fn on_restore(&mut self, replica: u32) {
        let state = &mut self.replicas[replica as usize];
        state.slow_factor = 1.0;
        if state.phase != Phase::Down {
            return;
        }
        let region = self.pools[state.pool as usize].region;
        if self.sites[region as usize].down {
            return; // The outage's end restarts it.
        }
        self.advance(replica, Phase::ModelLoad);
    }

    /// Load-balancer probes: a down replica leaves after `failure_threshold` failed probes.
    pub(super) fn on_probe_tick(&mut self, pool: u32) {
        let serving = serving_of(&self.pools, pool);
        let state = &self.pools[pool as usize];
        let (first, slots) = (state.first_replica, state.slots);
        for replica in first..first + slots {
            let r = &mut self.replicas[replica as usize];
            if !r.in_lb {
                continue;
            }
            if r.phase == Phase::Down {
                r.probe_failures += 1;
                if r.probe_failures >= serving.health.failure_threshold {
                    self.leave_lb(replica);
                }
            } else {
                r.probe_failures = 0;
            }
        }
        if self.now < self.model.duration {
            self.events.schedule(self.now.saturating_add(serving.health.interval), Event::ProbeTick { pool });
        }
    }

    /// The global router's probes: a region fails them while it is out or has no replica in its
    /// load balancer; `failure_threshold` failures take it out of routing, `success_threshold`
    /// passes put it back.
    pub(super) fn on_router_tick(&mut self) {
        let health = self.model.routing.health;
        for s in 0..self.sites.len() {
            let (endpoint, r) = (self.sites[s].endpoint as usize, self.sites[s].region as usize);
            if !self.model.site(endpoint, r).serves() {
                continue;
            }
            let primary = &self.pools[self.sites[s].primary as usize];
            let scales_from_zero = primary.autoscaling.is_some_and(|a| a.min_replicas == 0);
            // A pipeline has no replicas to probe: its frontend answers while the region is up.
            let answers = !primary.lb.is_empty() || scales_from_zero || primary.pipeline.is_some();
            let down = self.sites[s].down;
            let region = &mut self.sites[s];
            let healthy = !down && answers;
            if healthy {
                region.probe_failures = 0;
                region.probe_successes += 1;
                if region.probe_successes >= health.success_threshold {
                    region.routable = true;
                }
            } else {
                region.probe_successes = 0;
                region.probe_failures += 1;
                if region.probe_failures >= health.failure_threshold {
                    region.routable = false;
                }
            }
        }
        if self.now < self.model.duration {
            self.events.schedule(self.now.saturating_add(health.interval), Event::RouterTick);
        }
    }

    pub(super) fn schedule_faults(&mut self) {
        for (f, fault) in self.model.faults.iter().enumerate() {
            let fault_id = f as u32;
            match fault.timing {
                FaultTiming::At { at, duration } => {
                    self.events.schedule(at, Event::FaultStart { fault: fault_id });
                    if matches!(fault.action, FaultAction::Outage | FaultAction::Dependency { .. }) {
                        self.events.schedule(at.saturating_add(duration), Event::FaultEnd { fault: fault_id });
                    }
                }
                FaultTiming::Random { .. } => {
                    let first = self.next_random_fault(f);
                    if first < self.model.duration {
                        self.events.schedule(first, Event::FaultStart { fault: fault_id });
                    }
                }
            }
        }
    }

    /// The next failure of a random fault: per replica slot for replica faults (thinned by the
    /// slots actually ready when it fires), per region otherwise.
    fn next_random_fault(&mut self, f: usize) -> Nanos {
        let fault = &self.model.faults[f];
        let FaultTiming::Random { mtbf, .. } = fault.timing else { unreachable!("random faults only") };
        let slots = match fault.action {
            FaultAction::Crash { .. } | FaultAction::Slow { .. } => {
                f64::from(self.pools[self.sites[self.fault_site(fault)].primary as usize].slots.max(1))
            }
            _ => 1.0,
        };
        let wait = Exp::new(slots / mtbf as f64).expect("positive rate").sample(&mut self.fault_rngs[f]);
        self.now.saturating_add(wait as Nanos)
    }

    fn repair_time(&mut self, f: usize) -> Nanos {
        match self.model.faults[f].timing {
            FaultTiming::At { duration, .. } => duration,
            FaultTiming::Random { mttr, .. } => {
                Exp::new(1.0 / mttr as f64).expect("positive rate").sample(&mut self.fault_rngs[f]) as Nanos
            }
        }
    }

    pub(super) fn on_fault_start(&mut self, f: usize) {
        let model = self.model;
        let fault = &model.faults[f];
        let primary = self.sites[self.fault_site(fault)].primary;
        let random = matches!(fault.timing, FaultTiming::Random { .. });
        match fault.action {
            FaultAction::Crash { count } | FaultAction::Slow { count, .. } => {
                let state = &self.pools[primary as usize];
                let (first, slots) = (state.first_replica, state.slots);
                let victims: Vec<u32> = if random {
                    // One slot at random; only a ready replica can fail.
                    let slot = first + self.fault_rngs[f].random_range(0..slots.max(1));
                    (slots > 0 && self.replicas[slot as usize].phase == Phase::Ready)
                        .then_some(slot)
                        .into_iter()
                        .collect()
                } else {
                    let ready: Vec<u32> =
                        (first..first + slots).filter(|&r| self.replicas[r as usize].phase == Phase::Ready).collect();
                    let mut chosen = Vec::new();
                    let mut pool_left = ready;
                    for _ in 0..count.min(pool_left.len() as u32) {
                        let k = self.fault_rngs[f].random_range(0..pool_left.len());
                        chosen.push(pool_left.swap_remove(k));
                    }
                    chosen.sort_unstable();
                    chosen
                };
                let slow = match fault.action {
                    FaultAction::Slow { factor, .. } => Some(factor),
                    _ => None,
                };
                let mut repaired = self.now;
                for victim in victims {
                    let back = self.now.saturating_add(self.repair_time(f));
                    repaired = repaired.max(back);
                    // On a shared GPU the server holding every model crashes or slows down, and
                    // comes back, as one.
                    for replica in self.server_of(victim) {
                        match slow {
                            None => self.crash(replica),
                            Some(factor) => self.replicas[replica as usize].slow_factor = factor,
                        }
                        self.events.schedule(back, Event::Restore { replica });
                    }
                }
                self.log_fault(f, repaired);
                if random {
                    let next = self.next_random_fault(f);
                    if next < self.model.duration {
                        self.events.schedule(next, Event::FaultStart { fault: f as u32 });
                    }
                }
            }
            FaultAction::Outage => {
                self.region_sites(fault.region, |site| {
                    site.down = true;
                    if let Some(cache) = &mut site.cache {
                        cache.clear();
                    }
                });
                for pool in self.region_pools(fault.region) {
                    let state = &self.pools[pool as usize];
                    for replica in state.first_replica..state.first_replica + state.slots {
                        self.crash(replica);
                    }
                }
                self.end_of_fault(f, random);
            }
            FaultAction::Dependency { error_rate, factor } => {
                let site = self.fault_site(fault);
                let site = &mut self.sites[site];
                site.feature_error = error_rate;
                site.feature_factor = factor;
                self.end_of_fault(f, random);
            }
        }
    }

    /// An outage or a dependency fault: its end (scheduled from the start for a fault at a
    /// time, drawn now for a random one), logged for monitoring.
    fn end_of_fault(&mut self, f: usize, random: bool) {
        let end = match self.model.faults[f].timing {
            FaultTiming::At { at, duration } if !random => at.saturating_add(duration),
            _ => {
                let back = self.now.saturating_add(self.repair_time(f));
                self.events.schedule(back, Event::FaultEnd { fault: f as u32 });
                back
            }
        };
        self.log_fault(f, end);
    }

    pub(super) fn on_fault_end(&mut self, f: usize) {
        let model = self.model;
        let fault = &model.faults[f];
        match fault.action {
            FaultAction::Outage => {
                self.region_sites(fault.region, |site| site.down = false);
                for pool in self.region_pools(fault.region) {
                    let state = &self.pools[pool as usize];
                    for replica in state.first_replica..state.first_replica + state.slots {
                        if self.replicas[replica as usize].phase == Phase::Down {
                            self.advance(replica, Phase::ModelLoad);
                        }
                    }
                }
            }
            FaultAction::Dependency { .. } => {
                let site = self.fault_site(fault);
                let site = &mut self.sites[site];
                site.feature_error = 0.0;
                site.feature_factor = 1.0;
            }
            _ => {}
        }
        if matches!(fault.timing, FaultTiming::Random { .. }) {
            let next = self.next_random_fault(f);
            if next < self.model.duration {
                self.events.schedule(next, Event::FaultStart { fault: f as u32 });
            }
        }
    }

    /// The site a replica or dependency fault acts on: its endpoint's in its region.
    fn fault_site(&self, fault: &crate::model::FaultModel) -> usize {
        fault.endpoint * self.model.regions.len() + fault.region
    }

    /// A fault's change to `region`, in every endpoint's site there.
    fn region_sites(&mut self, region: usize, mut change: impl FnMut(&mut super::Site)) {
        for site in self.sites.iter_mut().filter(|s| s.region as usize == region) {
            change(site);
        }
    }

    /// Every pool in `region`, of every endpoint.
    fn region_pools(&self, region: usize) -> Vec<u32> {
        (0..self.pools.len() as u32).filter(|&p| self.pools[p as usize].region == region as u32).collect()
    }
}
