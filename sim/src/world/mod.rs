//! The serving model in motion: one run of a [`Model`], event by event.
//!
//! A request's path: the client sends it → the global router picks a region it sees healthy
//! (nearest, weighted, latency-aware; spillover; failover when its probes say a region is down) →
//! half the RTT → the region's frontend: A/B split, feature-store lookup, circuit breaker, shadow
//! mirror → the deployment's balancer picks a replica in its load balancer → pre-processing → the
//! replica's bounded queue → a batch on a free model instance → post-processing → half the RTT
//! back → the client records the latency. Errors (a crashed replica, a region out, a full queue, a
//! failed lookup) go to the fallback when there is one (a degraded answer), otherwise back to the
//! client, which retries with backoff within its budget and deadline.
//!
//! Deployments (a region's primary, its A/B variant, its shadow) are pools of replica slots; a
//! slot's replica goes through provisioning, image pull and model load to ready, drains on scale
//! down, and is down after a crash until restarted (`operate.rs`: lifecycle, autoscaling, faults,
//! probes).
//!
//! Requests live in a slab and are named by index; queues, batches and load-balancer lists hold
//! indices in buffers sized at start, so the event loop allocates nothing once the run has reached
//! its peak load.

mod operate;

use crate::autoscale::{Autoscaler, AutoscalingModel};
use crate::breaker::{Breaker, RetryBudget};
use crate::event::EventQueue;
use crate::metrics::{new_interval_histogram, Counts, Phase, RegionMetrics, TimeseriesRow, PHASES};
use crate::model::{Model, ServingModel};
use crate::rng::{self, Rng};
use crate::scenario::{Balancer, RoutingPolicy};
use crate::summary::{self, Role, Summary};
use crate::traffic::SourceState;
use crate::units::{nanos_to_secs, Nanos};
use hdrhistogram::Histogram;
use rand::Rng as _;
use std::collections::VecDeque;

const NO_TIME: Nanos = Nanos::MAX;
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival {
        source: u32,
    },
    ReachRegion {
        request: u32,
    },
    /// The feature-store lookup answered.
    FeatureDone {
        request: u32,
    },
    /// A pre- or post-processing delay ended.
    StageDone {
        request: u32,
    },
    /// A CPU worker finished a pre- or post-processing task.
    CpuDone {
        request: u32,
    },
    BatchTimer {
        replica: u32,
    },
    BatchDone {
        instance: u32,
    },
    /// The response reached the client.
    Respond {
        request: u32,
    },
    /// An error reached the client.
    ClientError {
        request: u32,
    },
    Retry {
        request: u32,
    },
    /// The fallback answered.
    FallbackDone {
        request: u32,
    },
    /// A start-up phase of a replica ended.
    PhaseDone {
        replica: u32,
    },
    /// A crashed replica is restarted, or a slow one recovers.
    Restore {
        replica: u32,
    },
    ScaleTick {
        pool: u32,
    },
    ProbeTick {
        pool: u32,
    },
    RouterTick,
    FaultStart {
        fault: u32,
    },
    FaultEnd {
        fault: u32,
    },
    Tick,
    /// The start or end of the measured window.
    Mark,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Pre,
    Post,
}

#[derive(Clone, Copy, Debug)]
struct Request {
    serial: u64,
    sent: Nanos,
    deadline: Nanos,
    enqueued: Nanos,
    batch_start: Nanos,
    service: Nanos,
    /// When the model call (breaker-guarded) began.
    call_start: Nanos,
    batch: u64,
    origin: u32,
    region: u32,
    pool: u32,
    /// NONE unless a replica holds the request.
    replica: u32,
    /// The replica that last took the request (kept after it lets go), for records.
    served_by: u32,
    /// The region whose `assigned` count includes this request, or NONE.
    assigned_to: u32,
    /// The replica's generation when it took the request: a crash since makes events stale.
    generation: u32,
    size: u32,
    batch_size: u32,
    attempt: u32,
    stage: Stage,
    shadow: bool,
    degraded: bool,
    breaker_admitted: bool,
    /// Why the last attempt failed.
    error: Outcome,
    /// Half the round trip between the client's region and the serving region.
    one_way: Nanos,
}

/// What happened to one request; kept only when [`RunOptions::record_requests`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Order of arrival, from 0.
    pub serial: u64,
    pub sent: Nanos,
    /// Request size from the trace (0 for synthetic traffic).
    pub size: u32,
    pub region: u32,
    /// Slot within the deployment (u32::MAX if no replica took it).
    pub replica: u32,
    /// Batch number within the run, from 0 (u64::MAX if it never ran).
    pub batch: u64,
    pub batch_size: u32,
    pub batch_start: Nanos,
    /// When the client had its answer or gave up (the time of the drop or discard otherwise).
    pub finished: Nanos,
    pub attempts: u32,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Answered by the fallback.
    Degraded,
    Failed,
    Dropped,
    TimedOut,
}

struct Replica {
    pool: u32,
    phase: Phase,
    /// End of the current start-up phase (a `PhaseDone` at another time is stale).
    phase_until: Nanos,
    generation: u32,
    /// In the load balancer: receives traffic (a crashed replica stays until probes notice).
    in_lb: bool,
    probe_failures: u32,
    slow_factor: f64,
    queue: VecDeque<u32>,
    outstanding: u32,
    idle_instances: u32,
    /// Idle model instances, as indices into `World::instances`.
    free_instances: Vec<u32>,
    /// The pending batch-timer time, or NO_TIME.
    timer_at: Nanos,
    service_rng: Rng,
    overhead_rng: Rng,
    cpu_idle: u32,
    cpu_waiting: VecDeque<u32>,
    first_instance: u32,
}

/// A model instance: runs one batch at a time.
struct Instance {
    replica: u32,
    batch: Vec<u32>,
    started: Nanos,
    batch_id: u64,
    /// Its replica crashed mid-batch: the batch's requests already failed; the pending
    /// `BatchDone` only frees the instance.
    dead: bool,
}

/// One deployment in one region: replica slots, load balancer, autoscaler, metrics.
struct Pool<'m> {
    region: u32,
    role: Role,
    name: String,
    serving: Option<&'m ServingModel>,
    autoscaling: Option<&'m AutoscalingModel>,
    hpa: Autoscaler,
    first_replica: u32,
    slots: u32,
    /// Replicas receiving traffic, in slot order.
    lb: Vec<u32>,
    desired: u32,
    phase_counts: [u32; PHASES],
    phase_since: Nanos,
    queued: u64,
    busy_replicas: u64,
    balancer_rng: Rng,
    next_round_robin: u32,
    lifecycle_rng: Rng,
    fallback_rng: Rng,
    metrics: RegionMetrics,
    /// Mean server time per request at full batches, for latency-aware routing.
    per_request_nanos: f64,
    /// Autoscaler window: start, model calls, instance-busy nanoseconds.
    window_start: Nanos,
    window_arrivals: u64,
    window_busy: f64,
    /// Requests waiting for a first replica (scale from zero).
    pending: VecDeque<u32>,
    breaker: Option<Breaker>,
    usd_per_hour: f64,
}

struct Region {
    primary: u32,
    variant: Option<u32>,
    shadow: Option<u32>,
    /// Out (a fault): unreachable.
    down: bool,
    /// The global router's view.
    routable: bool,
    /// Requests routed here and not yet answered by a replica (on the wire, queued or running).
    assigned: u64,
    probe_failures: u32,
    probe_successes: u32,
    feature_rng: Rng,
    feature_error: f64,
    feature_factor: f64,
    ab_rng: Rng,
    shadow_rng: Rng,
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep a [`RequestRecord`] per request (for tests and debugging; memory grows with requests).
    pub record_requests: bool,
    /// Stop at a time-series tick after warm-up once more than this fraction of at least 1000
    /// measured requests was dropped or timed out: the run has clearly failed, and a sweep need not
    /// spend the rest of it to learn so.
    pub give_up_loss: Option<f64>,
}

impl RunOptions {
    pub fn seeded(seed: u64) -> Self {
        RunOptions { seed, ..Default::default() }
    }
}

/// Requests that must be measured before a run may give up.
const GIVE_UP_MIN_OFFERED: u64 = 1000;

/// Everything a run produced.
pub struct RunOutput {
    pub summary: Summary,
    pub timeseries: Vec<TimeseriesRow>,
    pub events: u64,
    pub requests: Vec<RequestRecord>,
    /// Per region with completions (and "all" when several): `(latency ms, fraction at or below)`.
    pub latency_cdf: Vec<(String, Vec<(f64, f64)>)>,
}

pub struct World<'m> {
    model: &'m Model,
    seed: u64,
    now: Nanos,
    events: EventQueue<Event>,
    event_count: u64,
    requests: Vec<Request>,
    free_requests: Vec<u32>,
    next_serial: u64,
    next_batch: u64,
    sources: Vec<SourceState>,
    next_sizes: Vec<u32>,
    regions: Vec<Region>,
    pools: Vec<Pool<'m>>,
    replicas: Vec<Replica>,
    instances: Vec<Instance>,
    routers: Vec<Rng>,
    /// Per origin: serving regions by increasing RTT (ties by name).
    nearest: Vec<Vec<u32>>,
    /// Per origin: backoff jitter and the retry budget.
    retry_rngs: Vec<Rng>,
    budgets: Vec<RetryBudget>,
    fault_rngs: Vec<Rng>,
    in_system: u64,
    /// ∫ requests-in-system dt since time 0, in request-nanoseconds (exact integer arithmetic);
    /// snapshotted by `Mark` events at the ends of the measured window.
    in_system_area: u128,
    in_system_since: Nanos,
    area_at_warmup: u128,
    area_at_end: u128,
    interval_start: Nanos,
    interval_all: Histogram<u64>,
    timeseries: Vec<TimeseriesRow>,
    record_requests: bool,
    records: Vec<RequestRecord>,
    give_up_loss: Option<f64>,
    stopped_at: Option<Nanos>,
}

fn serving_of<'m>(pools: &[Pool<'m>], pool: u32) -> &'m ServingModel {
    pools[pool as usize].serving.expect("only serving pools receive requests")
}

/// Length of the overlap of [a, b) with [c, d).
fn overlap(a: Nanos, b: Nanos, c: Nanos, d: Nanos) -> f64 {
    let start = a.max(c);
    let end = b.min(d);
    if end > start {
        (end - start) as f64
    } else {
        0.0
    }
}

impl<'m> World<'m> {
    pub fn new(model: &'m Model, options: &RunOptions) -> Self {
        let seed = options.seed;
        let mut pools: Vec<Pool<'m>> = Vec::new();
        let mut replicas = Vec::new();
        let mut instances = Vec::new();
        // Primaries first, one per region (index = region index), then variants and shadows.
        let mut extra: Vec<(u32, Role)> = Vec::new();
        for (r, region) in model.regions.iter().enumerate() {
            let slots = if region.serving.is_some() {
                operate::slots(region.max_replicas(), region.autoscaling.is_some())
            } else {
                0
            };
            pools.push(Pool::new(model, seed, r as u32, Role::Primary, slots));
            if region.variant.is_some() {
                extra.push((r as u32, Role::Variant));
            }
            if region.shadow.is_some() {
                extra.push((r as u32, Role::Shadow));
            }
        }
        for &(r, role) in &extra {
            let region = &model.regions[r as usize];
            let deployment = match role {
                Role::Variant => region.variant.as_ref(),
                _ => region.shadow.as_ref(),
            };
            let deployment = deployment.expect("listed above");
            let slots = operate::slots(deployment.max_replicas(), deployment.autoscaling.is_some());
            pools.push(Pool::new(model, seed, r, role, slots));
        }
        for (p, pool) in pools.iter_mut().enumerate() {
            pool.first_replica = replicas.len() as u32;
            let Some(serving) = pool.serving else { continue };
            for i in 0..pool.slots {
                let slots = serving.instances as usize;
                let replica = replicas.len() as u32;
                let first_instance = instances.len() as u32;
                instances.extend((0..slots).map(|_| Instance {
                    replica,
                    batch: Vec::with_capacity(serving.max_batch as usize),
                    started: 0,
                    batch_id: 0,
                    dead: false,
                }));
                // A primary's replicas keep the stream names they always had (`service/REGION/i`).
                let id = format!("{}/{i}", pool.name);
                replicas.push(Replica {
                    pool: p as u32,
                    phase: Phase::Off,
                    phase_until: NO_TIME,
                    generation: 0,
                    in_lb: false,
                    probe_failures: 0,
                    slow_factor: 1.0,
                    queue: VecDeque::with_capacity(serving.queue_capacity.min(4096) as usize),
                    outstanding: 0,
                    idle_instances: serving.instances,
                    free_instances: (first_instance..first_instance + slots as u32).rev().collect(),
                    timer_at: NO_TIME,
                    service_rng: rng::stream(seed, &format!("service/{id}")),
                    overhead_rng: rng::stream(seed, &format!("overhead/{id}")),
                    cpu_idle: serving.cpu_workers.unwrap_or(0),
                    cpu_waiting: VecDeque::new(),
                    first_instance,
                });
            }
        }
        let n = model.regions.len();
        let regions = model
            .regions
            .iter()
            .enumerate()
            .map(|(r, region)| {
                let pool_of = |role: Role| {
                    extra.iter().position(|&(pr, pr_role)| pr == r as u32 && pr_role == role).map(|k| (n + k) as u32)
                };
                Region {
                    primary: r as u32,
                    variant: pool_of(Role::Variant),
                    shadow: pool_of(Role::Shadow),
                    down: false,
                    routable: region.serving.is_some(),
                    assigned: 0,
                    probe_failures: 0,
                    probe_successes: 0,
                    feature_rng: rng::stream(seed, &format!("feature_store/{}", region.name)),
                    feature_error: 0.0,
                    feature_factor: 1.0,
                    ab_rng: rng::stream(seed, &format!("ab/{}", region.name)),
                    shadow_rng: rng::stream(seed, &format!("shadow/{}", region.name)),
                }
            })
            .collect();
        let routers = model.regions.iter().map(|r| rng::stream(seed, &format!("router/{}", r.name))).collect();
        let retry_rngs = model.regions.iter().map(|r| rng::stream(seed, &format!("retry/{}", r.name))).collect();
        let budgets =
            model.regions.iter().map(|_| RetryBudget::new(model.retries.as_ref().map_or(0.0, |r| r.budget))).collect();
        let fault_rngs = model.faults.iter().map(|f| rng::stream(seed, &f.stream)).collect();
        let nearest = (0..n)
            .map(|origin| {
                let mut order: Vec<u32> =
                    (0..n as u32).filter(|&r| model.regions[r as usize].serving.is_some()).collect();
                order.sort_by_key(|&r| (model.rtt[origin][r as usize], r));
                order
            })
            .collect();
        let sources =
            model.sources.iter().map(|s| SourceState::new(&s.process, rng::stream(seed, &s.stream))).collect();
        let mut world = World {
            model,
            seed,
            now: 0,
            events: EventQueue::with_capacity(1024),
            event_count: 0,
            requests: Vec::with_capacity(1024),
            free_requests: Vec::with_capacity(1024),
            next_serial: 0,
            next_batch: 0,
            next_sizes: vec![0; model.sources.len()],
            sources,
            regions,
            pools,
            replicas,
            instances,
            routers,
            nearest,
            retry_rngs,
            budgets,
            fault_rngs,
            in_system: 0,
            in_system_area: 0,
            in_system_since: 0,
            area_at_warmup: 0,
            area_at_end: 0,
            interval_start: 0,
            interval_all: new_interval_histogram(),
            timeseries: Vec::new(),
            record_requests: options.record_requests,
            records: Vec::new(),
            give_up_loss: options.give_up_loss,
            stopped_at: None,
        };
        world.start_initial_replicas();
        world
    }

    /// Run to the end: arrivals stop at the scenario's duration, then in-flight requests drain.
    pub fn run(mut self) -> RunOutput {
        // Marks first, so that they pop before other events at the same time.
        self.events.schedule(self.model.warmup, Event::Mark);
        self.events.schedule(self.model.duration, Event::Mark);
        // Faults next: a probe at the fault's instant already sees it.
        self.schedule_faults();
        for source in 0..self.sources.len() {
            self.schedule_next_arrival(source);
        }
        self.events.schedule(self.model.interval.min(self.model.duration), Event::Tick);
        self.schedule_controllers();
        while let Some((time, event)) = self.events.pop() {
            if self.stopped_at.is_some() {
                break;
            }
            self.now = time;
            self.event_count += 1;
            match event {
                Event::Arrival { source } => self.on_arrival(source as usize),
                Event::ReachRegion { request } => self.on_reach_region(request),
                Event::FeatureDone { request } => self.on_feature_done(request),
                Event::StageDone { request } => self.on_stage_done(request),
                Event::CpuDone { request } => self.on_cpu_done(request),
                Event::BatchTimer { replica } => {
                    let replica_state = &mut self.replicas[replica as usize];
                    if replica_state.timer_at == time {
                        replica_state.timer_at = NO_TIME;
                    }
                    self.try_dispatch(replica);
                }
                Event::BatchDone { instance } => self.on_batch_done(instance),
                Event::Respond { request } => self.on_respond(request),
                Event::ClientError { request } => self.on_client_error(request),
                Event::Retry { request } => self.on_retry(request),
                Event::FallbackDone { request } => self.on_fallback_done(request),
                Event::PhaseDone { replica } => self.on_phase_done(replica),
                Event::Restore { replica } => self.on_restore(replica),
                Event::ScaleTick { pool } => self.on_scale_tick(pool),
                Event::ProbeTick { pool } => self.on_probe_tick(pool),
                Event::RouterTick => self.on_router_tick(),
                Event::FaultStart { fault } => self.on_fault_start(fault as usize),
                Event::FaultEnd { fault } => self.on_fault_end(fault as usize),
                Event::Tick => self.on_tick(),
                Event::Mark => self.on_mark(),
            }
        }
        self.abandon_waiting();
        let end = self.now.max(self.model.duration);
        for p in 0..self.pools.len() {
            self.account_phases(p as u32, end);
        }
        let pools: Vec<summary::PoolSummary> = self
            .pools
            .iter()
            .map(|p| {
                let region = &self.model.regions[p.region as usize];
                let (replicas, instance) = match p.role {
                    Role::Primary => (region.replicas, region.instance.clone()),
                    Role::Variant => region.variant.as_ref().map_or((0, None), |d| (d.replicas, d.instance.clone())),
                    Role::Shadow => region.shadow.as_ref().map_or((0, None), |d| (d.replicas, d.instance.clone())),
                };
                summary::PoolSummary {
                    region: p.region as usize,
                    name: p.name.clone(),
                    role: p.role,
                    metrics: &p.metrics,
                    replicas: if p.serving.is_some() { replicas } else { 0 },
                    instances: p.serving.map_or(0, |s| s.instances),
                    usd_per_hour: p.usd_per_hour,
                    has_breaker: p.breaker.is_some(),
                    service_time_source: p.serving.map(|s| s.service.source()),
                    instance,
                }
            })
            .collect();
        let measured_area = self.area_at_end.saturating_sub(self.area_at_warmup) as f64;
        let summary = summary::summarize(self.model, self.seed, &pools, measured_area, self.now, self.stopped_at);
        let latency_cdf = summary::latency_cdfs(&pools);
        RunOutput {
            summary,
            timeseries: self.timeseries,
            events: self.event_count,
            requests: self.records,
            latency_cdf,
        }
    }

    #[inline]
    fn schedule_next_arrival(&mut self, source: usize) {
        let process = &self.model.sources[source].process;
        if let Some((time, size)) = self.sources[source].next_arrival(process) {
            if time < self.model.duration {
                self.next_sizes[source] = size;
                self.events.schedule(time, Event::Arrival { source: source as u32 });
            }
        }
    }

    /// Integrates the number of requests in the system over the measured window, for Little's law.
    #[inline]
    fn change_in_system(&mut self, delta: i64) {
        self.in_system_area += u128::from(self.in_system) * u128::from(self.now - self.in_system_since);
        self.in_system_since = self.now;
        self.in_system = self.in_system.wrapping_add_signed(delta);
    }

    #[cold]
    fn on_mark(&mut self) {
        self.change_in_system(0);
        if self.now == self.model.warmup {
            self.area_at_warmup = self.in_system_area;
        }
        if self.now == self.model.duration {
            self.area_at_end = self.in_system_area;
        }
    }

    fn new_request(&mut self, request: Request) -> u32 {
        match self.free_requests.pop() {
            Some(id) => {
                self.requests[id as usize] = request;
                id
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        }
    }

    #[inline]
    fn on_arrival(&mut self, source: usize) {
        let origin = self.model.sources[source].origin as u32;
        let request = Request {
            serial: self.next_serial,
            sent: self.now,
            deadline: NO_TIME,
            enqueued: 0,
            batch_start: 0,
            service: 0,
            call_start: 0,
            batch: u64::MAX,
            origin,
            region: NONE,
            pool: NONE,
            replica: NONE,
            served_by: NONE,
            assigned_to: NONE,
            generation: 0,
            size: self.next_sizes[source],
            batch_size: 0,
            attempt: 1,
            stage: Stage::Pre,
            shadow: false,
            degraded: false,
            breaker_admitted: false,
            error: Outcome::Failed,
            one_way: 0,
        };
        self.next_serial += 1;
        let id = self.new_request(request);
        self.change_in_system(1);
        if self.model.retries.is_some() {
            self.budgets[origin as usize].deposit();
        }
        self.send_attempt(id, true);
        self.schedule_next_arrival(source);
    }

    /// Routes the request's current attempt and puts it on the wire.
    #[inline]
    fn send_attempt(&mut self, id: u32, first: bool) {
        let origin = self.requests[id as usize].origin;
        let routed = self.route(origin);
        let region = routed.unwrap_or_else(|| self.nearest[origin as usize].first().copied().unwrap_or(0));
        let pool = self.regions[region as usize].primary;
        let serving = self.pools[pool as usize].serving;
        let one_way = self.model.rtt[origin as usize][region as usize] / 2;
        let now = self.now;
        let request = &mut self.requests[id as usize];
        request.region = region;
        request.pool = pool;
        request.one_way = one_way;
        request.replica = NONE;
        if first {
            request.deadline = serving.and_then(|s| s.timeout).map_or(NO_TIME, |t| now.saturating_add(t));
            self.pools[pool as usize].metrics.interval.counts.offered += 1;
        }
        if routed.is_none() {
            // No region the router sees up: the client's connection fails at once.
            self.requests[id as usize].one_way = 0;
            self.requests[id as usize].error = Outcome::Failed;
            self.on_client_error(id);
            return;
        }
        self.regions[region as usize].assigned += 1;
        self.requests[id as usize].assigned_to = region;
        if one_way == 0 {
            self.on_reach_region(id);
        } else {
            self.events.schedule(self.now.saturating_add(one_way), Event::ReachRegion { request: id });
        }
    }

    /// The region no longer has this request to answer.
    #[inline]
    fn unassign(&mut self, id: u32) {
        let region = std::mem::replace(&mut self.requests[id as usize].assigned_to, NONE);
        if region != NONE {
            self.regions[region as usize].assigned -= 1;
        }
    }

    fn queued_per_replica_over(&self, region: u32, limit: u32) -> bool {
        let pool = &self.pools[self.regions[region as usize].primary as usize];
        pool.queued > u64::from(limit) * pool.lb.len().max(1) as u64
    }

    /// The region for a new attempt from `origin`, among those the router sees up (None if none).
    #[inline]
    fn route(&mut self, origin: u32) -> Option<u32> {
        let model = self.model;
        let order = &self.nearest[origin as usize];
        let chosen = match model.routing.policy {
            RoutingPolicy::Nearest => *order.first()?,
            RoutingPolicy::Weighted => {
                let weights = &model.routing.weights;
                let total: f64 = weights.iter().sum();
                let mut pick = self.routers[origin as usize].random::<f64>() * total;
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
                let score = |r: u32| {
                    let pool = &self.pools[self.regions[r as usize].primary as usize];
                    let serving = pool.serving.expect("routed regions serve");
                    let instances = f64::from(serving.instances) * pool.lb.len().max(1) as f64;
                    let assigned = self.regions[r as usize].assigned as f64;
                    // Work ahead of a new request per model instance, at full-batch speed.
                    model.rtt[origin as usize][r as usize] as f64 + assigned * pool.per_request_nanos / instances
                };
                let mut best = NONE;
                let mut best_score = f64::INFINITY;
                for &r in order {
                    if !self.regions[r as usize].routable {
                        continue;
                    }
                    let s = score(r);
                    if s < best_score {
                        best = r;
                        best_score = s;
                    }
                }
                if best == NONE {
                    order[0]
                } else {
                    best
                }
            }
        };
        let chosen = if self.regions[chosen as usize].routable {
            chosen
        } else {
            // Failover: the nearest region the router sees up.
            let other = *order.iter().find(|&&r| self.regions[r as usize].routable)?;
            let measured = self.now >= model.warmup;
            let metrics = &mut self.pools[self.regions[other as usize].primary as usize].metrics;
            metrics.interval.counts.failover += 1;
            if measured {
                metrics.counts.failover += 1;
            }
            other
        };
        if let Some(limit) = model.routing.spillover_queue {
            if self.queued_per_replica_over(chosen, limit) {
                if let Some(&other) = order
                    .iter()
                    .find(|&&r| self.regions[r as usize].routable && !self.queued_per_replica_over(r, limit))
                {
                    return Some(other);
                }
            }
        }
        Some(chosen)
    }

    /// The region's frontend: A/B split, then the feature-store lookup, then the model call.
    #[inline]
    fn on_reach_region(&mut self, id: u32) {
        let region = self.requests[id as usize].region;
        let state = &mut self.regions[region as usize];
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
        match &serving_of(&self.pools, pool).feature_store {
            Some(store) => {
                let state = &mut self.regions[region as usize];
                let delay = (store.latency.sample(&mut state.feature_rng) as f64 * state.feature_factor) as Nanos;
                self.events.schedule(self.now.saturating_add(delay), Event::FeatureDone { request: id });
            }
            None => self.model_call(id),
        }
    }

    #[cold]
    fn on_feature_done(&mut self, id: u32) {
        let request = self.requests[id as usize];
        let state = &mut self.regions[request.region as usize];
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
    fn model_call(&mut self, id: u32) {
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
        let request = &mut self.requests[id as usize];
        request.call_start = now;
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
        let replica = self.balance(pool);
        if self.replicas[replica as usize].phase == Phase::Down {
            // Crashed, and the load balancer has not noticed yet: connection refused.
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        self.enter_replica(id, replica);
    }

    /// With a shadow deployment, mirrors a fraction of model calls to it.
    #[inline]
    fn mirror(&mut self, id: u32) {
        let region_index = self.requests[id as usize].region as usize;
        let region = &mut self.regions[region_index];
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

    fn enter_replica(&mut self, id: u32, replica: u32) {
        let pool = self.requests[id as usize].pool;
        let generation = self.replicas[replica as usize].generation;
        let request = &mut self.requests[id as usize];
        request.replica = replica;
        request.served_by = replica;
        request.generation = generation;
        request.stage = Stage::Pre;
        self.replicas[replica as usize].outstanding += 1;
        let serving = serving_of(&self.pools, pool);
        match &serving.pre {
            Some(_) if serving.cpu_workers.is_some() => self.cpu_submit(replica, id),
            Some(pre) => {
                let delay = pre.sample(&mut self.replicas[replica as usize].overhead_rng);
                self.events.schedule(self.now.saturating_add(delay), Event::StageDone { request: id });
            }
            None => self.enqueue(replica, id),
        }
    }

    #[inline]
    fn balance(&mut self, pool: u32) -> u32 {
        let state = &mut self.pools[pool as usize];
        let n = state.lb.len() as u32;
        let index = match state.serving.expect("balanced pools serve").balancer {
            Balancer::RoundRobin => {
                let k = state.next_round_robin % n;
                state.next_round_robin = if k + 1 == n { 0 } else { k + 1 };
                k
            }
            Balancer::Random => state.balancer_rng.random_range(0..n),
            Balancer::LeastOutstanding => {
                // Scan from a rotating start, so ties spread over replicas instead of piling on the first.
                let start = state.next_round_robin % n;
                state.next_round_robin = if start + 1 == n { 0 } else { start + 1 };
                let lb = &state.lb;
                let load = |k: u32| self.replicas[lb[k as usize] as usize].outstanding;
                let mut best = start;
                let mut best_load = load(start);
                for k in (start + 1..n).chain(0..start) {
                    let l = load(k);
                    if l < best_load {
                        best = k;
                        best_load = l;
                    }
                }
                best
            }
            Balancer::PowerOfTwo => {
                if n == 1 {
                    0
                } else {
                    let a = state.balancer_rng.random_range(0..n);
                    let b = (a + state.balancer_rng.random_range(1..n)) % n;
                    let lb = &state.lb;
                    let load = |k: u32| self.replicas[lb[k as usize] as usize].outstanding;
                    if load(b) < load(a) {
                        b
                    } else {
                        a
                    }
                }
            }
        };
        state.lb[index as usize]
    }

    /// Whether an event about `id` at its replica comes from before a crash of that replica.
    #[inline]
    fn stale(&self, id: u32) -> bool {
        let request = &self.requests[id as usize];
        request.replica == NONE || self.replicas[request.replica as usize].generation != request.generation
    }

    fn on_stage_done(&mut self, id: u32) {
        if self.stale(id) {
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let request = self.requests[id as usize];
        match request.stage {
            Stage::Pre => self.enqueue(request.replica, id),
            Stage::Post => self.depart(id),
        }
    }

    fn stage_time(&mut self, replica: u32, stage: Stage) -> Nanos {
        let serving = serving_of(&self.pools, self.replicas[replica as usize].pool);
        let dist = match stage {
            Stage::Pre => serving.pre.as_ref(),
            Stage::Post => serving.post.as_ref(),
        };
        dist.map_or(0, |d| d.sample(&mut self.replicas[replica as usize].overhead_rng))
    }

    #[cold]
    fn cpu_submit(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        if state.cpu_idle > 0 {
            state.cpu_idle -= 1;
            let stage = self.requests[id as usize].stage;
            let time = self.stage_time(replica, stage);
            self.events.schedule(self.now.saturating_add(time), Event::CpuDone { request: id });
            return;
        }
        let capacity = serving_of(&self.pools, state.pool).queue_capacity as usize;
        if self.requests[id as usize].stage == Stage::Pre && state.cpu_waiting.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
        } else {
            state.cpu_waiting.push_back(id);
        }
    }

    #[cold]
    fn on_cpu_done(&mut self, id: u32) {
        // The worker is free whatever became of the request: a crash leaves requests in CPU
        // service with their replica, and `on_stage_done` fails them as stale.
        let replica = self.requests[id as usize].replica;
        self.replicas[replica as usize].cpu_idle += 1;
        while let Some(next) = self.replicas[replica as usize].cpu_waiting.pop_front() {
            let waiting = self.requests[next as usize];
            if waiting.stage == Stage::Pre && waiting.deadline <= self.now {
                self.discard(next, Outcome::TimedOut);
                continue;
            }
            self.cpu_submit(replica, next);
            break;
        }
        self.on_stage_done(id);
    }

    #[inline]
    fn enqueue(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        let capacity = serving_of(&self.pools, state.pool).queue_capacity as usize;
        if state.queue.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
            return;
        }
        state.queue.push_back(id);
        self.pools[state.pool as usize].queued += 1;
        self.requests[id as usize].enqueued = self.now;
        self.try_dispatch(replica);
    }

    /// Triton's dynamic batcher: when an instance is free, send the largest preferred size that the
    /// queue can form; failing that, send up to `max_batch` if that many wait or once the oldest
    /// request has waited `max_queue_delay`; otherwise set a timer for that moment.
    #[inline]
    fn try_dispatch(&mut self, replica: u32) {
        loop {
            let state = &mut self.replicas[replica as usize];
            if state.idle_instances == 0 || state.phase == Phase::Down {
                return;
            }
            let Some(&oldest) = state.queue.front() else {
                return;
            };
            let serving = serving_of(&self.pools, state.pool);
            let waiting = state.queue.len() as u32;
            let n = waiting.min(serving.max_batch);
            let ready_at = self.requests[oldest as usize].enqueued.saturating_add(serving.max_queue_delay);
            let take = if let Some(&preferred) = serving.preferred_batch_sizes.iter().find(|&&p| p <= n) {
                preferred
            } else if n == serving.max_batch || self.now >= ready_at {
                n
            } else {
                if state.timer_at != ready_at {
                    state.timer_at = ready_at;
                    self.events.schedule(ready_at, Event::BatchTimer { replica });
                }
                return;
            };
            self.start_batch(replica, take);
        }
    }

    #[inline]
    fn start_batch(&mut self, replica: u32, take: u32) {
        let model = self.model;
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let serving = serving_of(&self.pools, pool);
        let instance = state.free_instances.pop().expect("an idle replica has a free instance");
        let mut batch = std::mem::take(&mut self.instances[instance as usize].batch);
        self.pools[pool as usize].queued -= u64::from(take);
        let mut longest = 0;
        for _ in 0..take {
            let id = self.replicas[replica as usize].queue.pop_front().expect("take ≤ queue length");
            let request = &self.requests[id as usize];
            if request.deadline <= now {
                // The client has given up: discard instead of spending the GPU on it.
                self.discard(id, Outcome::TimedOut);
            } else {
                longest = longest.max(request.size);
                batch.push(id);
            }
        }
        let state = &mut self.replicas[replica as usize];
        if batch.is_empty() {
            self.instances[instance as usize].batch = batch;
            state.free_instances.push(instance);
            return;
        }
        let size = batch.len() as u32;
        let mut service = serving.service.sample_sized(size, longest, &mut state.service_rng);
        if state.slow_factor != 1.0 {
            service = (service as f64 * state.slow_factor) as Nanos;
        }
        if state.idle_instances == serving.instances {
            self.pools[pool as usize].busy_replicas += 1;
        }
        state.idle_instances -= 1;
        if now >= model.warmup {
            self.pools[pool as usize].metrics.batch_sizes[size as usize] += 1;
        }
        // The requests learn their batch's number, start and length when it ends (one pass, not two).
        let running = &mut self.instances[instance as usize];
        running.batch = batch;
        running.started = now;
        running.batch_id = self.next_batch;
        self.next_batch += 1;
        self.events.schedule(now.saturating_add(service), Event::BatchDone { instance });
    }

    #[inline]
    fn on_batch_done(&mut self, instance: u32) {
        let model = self.model;
        let running = &mut self.instances[instance as usize];
        let replica = running.replica;
        if running.dead {
            // Its replica crashed mid-batch; the requests already failed.
            running.dead = false;
            let state = &mut self.replicas[replica as usize];
            state.idle_instances += 1;
            if state.idle_instances == serving_of(&self.pools, state.pool).instances {
                self.pools[state.pool as usize].busy_replicas -= 1;
            }
            state.free_instances.push(instance);
            return;
        }
        let started = running.started;
        let batch_id = running.batch_id;
        let mut batch = std::mem::take(&mut running.batch);
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let serving = serving_of(&self.pools, pool);
        state.idle_instances += 1;
        let pool_state = &mut self.pools[pool as usize];
        if state.idle_instances == serving.instances {
            pool_state.busy_replicas -= 1;
        }
        pool_state.metrics.busy_nanos += overlap(started, self.now, model.warmup, model.duration);
        pool_state.window_busy += (self.now - started.max(pool_state.window_start)) as f64;
        let size = batch.len() as u32;
        for &id in &batch {
            let request = &mut self.requests[id as usize];
            request.stage = Stage::Post;
            request.batch_start = started;
            request.service = self.now - started;
            request.batch = batch_id;
            request.batch_size = size;
            match &serving.post {
                Some(_) if serving.cpu_workers.is_some() => self.cpu_submit(replica, id),
                Some(post) => {
                    let delay = post.sample(&mut self.replicas[replica as usize].overhead_rng);
                    self.events.schedule(self.now.saturating_add(delay), Event::StageDone { request: id });
                }
                None => self.depart(id),
            }
        }
        batch.clear();
        self.instances[instance as usize].batch = batch;
        self.replicas[replica as usize].free_instances.push(instance);
        self.try_dispatch(replica);
    }

    /// The replica lets go of a request (answered, refused or failed).
    #[inline]
    fn release(&mut self, id: u32) {
        let request = &mut self.requests[id as usize];
        let replica = request.replica;
        if replica == NONE {
            return;
        }
        request.replica = NONE;
        let state = &mut self.replicas[replica as usize];
        state.outstanding -= 1;
        if state.phase == Phase::Draining && state.outstanding == 0 {
            self.finish_draining(replica);
        }
    }

    /// Records the model call's outcome with the pool's circuit breaker.
    #[inline]
    fn breaker_record(&mut self, id: u32, failed: bool) {
        let request = &mut self.requests[id as usize];
        if !request.breaker_admitted {
            return;
        }
        request.breaker_admitted = false;
        let (pool, duration) = (request.pool, self.now - request.call_start);
        let model = serving_of(&self.pools, pool).breaker.as_ref().expect("admitted by a breaker");
        let now = self.now;
        let state = &mut self.pools[pool as usize];
        let breaker = state.breaker.as_mut().expect("admitted by a breaker");
        let before = breaker.opened;
        breaker.record(model, now, failed, duration);
        if breaker.opened > before {
            // Open for exactly open_duration, then half-open.
            let (warmup, end) = (self.model.warmup, self.model.duration);
            if (warmup..end).contains(&now) {
                state.metrics.breaker_opened += 1;
            }
            state.metrics.breaker_open_nanos += overlap(now, now.saturating_add(model.open_duration), warmup, end);
        }
    }

    /// The response leaves the replica for the client.
    #[inline]
    fn depart(&mut self, id: u32) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, false);
        let request = &self.requests[id as usize];
        if request.shadow {
            self.finish(id, Outcome::Completed);
            return;
        }
        if request.one_way == 0 {
            self.on_respond(id);
        } else {
            self.events.schedule(self.now.saturating_add(request.one_way), Event::Respond { request: id });
        }
    }

    #[inline]
    fn on_respond(&mut self, id: u32) {
        let request = &self.requests[id as usize];
        let outcome = if self.now > request.deadline {
            Outcome::TimedOut
        } else if request.degraded {
            Outcome::Degraded
        } else {
            Outcome::Completed
        };
        self.finish(id, outcome);
    }

    /// The attempt failed at the server side (`outcome` says how). With a fallback and `at_frontend`
    /// (the region's frontend still works) the fallback answers; otherwise the error travels back to
    /// the client.
    #[cold]
    fn server_error(&mut self, id: u32, outcome: Outcome, at_frontend: bool) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, true);
        let request = self.requests[id as usize];
        if request.shadow {
            self.finish(id, outcome);
            return;
        }
        if at_frontend {
            if let Some(fallback) = &serving_of(&self.pools, request.pool).fallback {
                let delay = fallback.latency.sample(&mut self.pools[request.pool as usize].fallback_rng);
                self.events.schedule(self.now.saturating_add(delay), Event::FallbackDone { request: id });
                return;
            }
        }
        self.requests[id as usize].error = outcome;
        self.events.schedule(self.now.saturating_add(request.one_way), Event::ClientError { request: id });
    }

    #[cold]
    fn on_fallback_done(&mut self, id: u32) {
        let request = &mut self.requests[id as usize];
        request.degraded = true;
        if request.one_way == 0 {
            self.on_respond(id);
        } else {
            let at = self.now.saturating_add(request.one_way);
            self.events.schedule(at, Event::Respond { request: id });
        }
    }

    /// The client sees an error: retry with backoff if attempts, budget and deadline allow.
    #[cold]
    fn on_client_error(&mut self, id: u32) {
        let request = self.requests[id as usize];
        if self.now >= request.deadline {
            self.finish(id, Outcome::TimedOut);
            return;
        }
        if let Some(retries) = &self.model.retries {
            let origin = request.origin as usize;
            if request.attempt < retries.max_attempts && self.budgets[origin].try_withdraw() {
                let mut wait = retries.backoff(request.attempt);
                if retries.jitter && wait > 0 {
                    wait = self.retry_rngs[origin].random_range(0..=wait);
                }
                self.requests[id as usize].attempt += 1;
                self.events.schedule(self.now.saturating_add(wait), Event::Retry { request: id });
                return;
            }
        }
        self.finish(id, request.error);
    }

    #[cold]
    fn on_retry(&mut self, id: u32) {
        if self.now >= self.requests[id as usize].deadline {
            self.finish(id, Outcome::TimedOut);
            return;
        }
        self.send_attempt(id, false);
    }

    /// A request the server discards before answering because its client has given up.
    #[cold]
    fn discard(&mut self, id: u32, outcome: Outcome) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, true);
        self.finish(id, outcome);
    }

    /// The request's end: counts (offered included, in the pool that answered or failed it), the
    /// latency of an answer, the record, the slot.
    #[inline]
    fn finish(&mut self, id: u32, outcome: Outcome) {
        self.unassign(id);
        let request = self.requests[id as usize];
        let measured = request.sent >= self.model.warmup;
        let latency = self.now - request.sent;
        let metrics = &mut self.pools[request.pool as usize].metrics;
        let (interval, total) = (&mut metrics.interval.counts, &mut metrics.counts);
        let bump = |counts: &mut Counts| match outcome {
            // Answers are counted with their latency below.
            Outcome::Completed | Outcome::Degraded => {}
            Outcome::Failed => counts.failed += 1,
            Outcome::Dropped => counts.dropped += 1,
            Outcome::TimedOut => counts.timed_out += 1,
        };
        bump(interval);
        interval.retries += u64::from(request.attempt - 1);
        if measured {
            bump(total);
            total.offered += 1;
            total.retries += u64::from(request.attempt - 1);
        }
        match outcome {
            Outcome::Completed => {
                metrics.interval.counts.completed += 1;
                metrics.interval.latency.saturating_record(latency);
                if measured {
                    metrics.record_completion(latency, request.batch_start - request.enqueued, request.service);
                }
            }
            Outcome::Degraded => {
                metrics.interval.counts.degraded += 1;
                metrics.interval.latency.saturating_record(latency);
                if measured {
                    metrics.record_degraded(latency);
                }
            }
            _ => {}
        }
        if self.record_requests && !request.shadow {
            let first = if request.served_by == NONE {
                NONE
            } else {
                request.served_by - self.pools[self.replicas[request.served_by as usize].pool as usize].first_replica
            };
            self.records.push(RequestRecord {
                serial: request.serial,
                sent: request.sent,
                size: request.size,
                region: request.region,
                replica: first,
                batch: request.batch,
                batch_size: request.batch_size,
                batch_start: request.batch_start,
                finished: self.now,
                attempts: request.attempt,
                outcome,
            });
        }
        if !request.shadow {
            self.change_in_system(-1);
        }
        self.free_requests.push(id);
    }

    /// Requests still waiting at the end (held for a replica that never came): their clients gave up.
    fn abandon_waiting(&mut self) {
        for p in 0..self.pools.len() {
            while let Some(id) = self.pools[p].pending.pop_front() {
                self.finish(id, Outcome::TimedOut);
            }
        }
    }

    #[cold]
    fn on_tick(&mut self) {
        let start = self.interval_start;
        let end = self.now;
        let seconds = nanos_to_secs(end - start);
        let warmup = start < self.model.warmup;
        let mut all = Counts::default();
        let mut all_state = PoolState::default();
        self.interval_all.reset();
        for p in 0..self.pools.len() {
            let pool = &self.pools[p];
            if pool.serving.is_none() && pool.metrics.interval.counts == Counts::default() {
                continue;
            }
            let state = self.pool_state(p as u32);
            let pool = &mut self.pools[p];
            let interval = &pool.metrics.interval;
            let counts = interval.counts;
            if pool.role != Role::Shadow {
                all.add(&counts);
                all_state.add(&state);
                self.interval_all.add(&interval.latency).expect("histograms share bounds");
            }
            self.timeseries.push(row(start, end, &pool.name, warmup, seconds, counts, &interval.latency, &state));
            pool.metrics.interval.reset();
        }
        all_state.breaker = None;
        self.timeseries.push(row(start, end, "all", warmup, seconds, all, &self.interval_all, &all_state));
        self.interval_start = end;
        if let (Some(limit), false) = (self.give_up_loss, warmup) {
            let (offered, lost) =
                self.pools.iter().filter(|p| p.role != Role::Shadow).fold((0, 0), |(offered, lost), p| {
                    let c = p.metrics.counts;
                    (offered + c.offered, lost + c.dropped + c.timed_out + c.failed)
                });
            if offered >= GIVE_UP_MIN_OFFERED && lost as f64 > limit * offered as f64 {
                self.stopped_at = Some(end);
                self.change_in_system(0);
                self.area_at_end = self.in_system_area;
                return;
            }
        }
        if end < self.model.duration {
            self.events.schedule((end + self.model.interval).min(self.model.duration), Event::Tick);
        }
    }

    fn pool_state(&mut self, pool: u32) -> PoolState {
        let now = self.now;
        let state = &mut self.pools[pool as usize];
        let breaker = state.breaker.as_mut().map(|b| b.state(now).level());
        let count = |phase: Phase| u64::from(state.phase_counts[phase as usize]);
        PoolState {
            queued: state.queued,
            busy: state.busy_replicas,
            ready: count(Phase::Ready),
            desired: u64::from(state.desired),
            starting: count(Phase::Provisioning) + count(Phase::ImagePull) + count(Phase::ModelLoad),
            draining: count(Phase::Draining),
            down: count(Phase::Down),
            breaker,
        }
    }
}

/// A deployment's replicas and queue at the end of a time-series interval.
#[derive(Clone, Copy, Debug, Default)]
struct PoolState {
    queued: u64,
    busy: u64,
    ready: u64,
    desired: u64,
    starting: u64,
    draining: u64,
    down: u64,
    breaker: Option<u8>,
}

impl PoolState {
    fn add(&mut self, other: &PoolState) {
        self.queued += other.queued;
        self.busy += other.busy;
        self.ready += other.ready;
        self.desired += other.desired;
        self.starting += other.starting;
        self.draining += other.draining;
        self.down += other.down;
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    start: Nanos,
    end: Nanos,
    region: &str,
    warmup: bool,
    seconds: f64,
    counts: Counts,
    latency: &Histogram<u64>,
    state: &PoolState,
) -> TimeseriesRow {
    let quantile = |q: f64| (!latency.is_empty()).then(|| latency.value_at_quantile(q) as f64 / 1e6);
    TimeseriesRow {
        start_s: nanos_to_secs(start),
        end_s: nanos_to_secs(end),
        region: region.to_string(),
        warmup,
        offered_rps: counts.offered as f64 / seconds,
        completed_rps: counts.completed as f64 / seconds,
        dropped: counts.dropped,
        timed_out: counts.timed_out,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        queue_depth: state.queued,
        busy_replicas: state.busy,
        ready_replicas: state.ready,
        desired_replicas: state.desired,
        starting_replicas: state.starting,
        draining_replicas: state.draining,
        down_replicas: state.down,
        degraded: counts.degraded,
        failed: counts.failed,
        retries: counts.retries,
        failover: counts.failover,
        breaker: state.breaker,
    }
}

/// Run a model once.
pub fn run(model: &Model, options: &RunOptions) -> RunOutput {
    World::new(model, options).run()
}
