//! The serving model in motion: one run of a [`Model`], event by event.
//!
//! A request's path: the client sends it → it crosses half the RTT to the region the global router
//! chose → the regional balancer picks a replica → pre-processing (a delay, or a turn on one of the
//! replica's CPU workers) → the replica's bounded queue → a batch on a free model instance →
//! post-processing → half the RTT back → the client records the latency.
//!
//! Requests live in a slab and are named by index; queues and batches hold indices in buffers
//! sized at start, so the event loop allocates nothing once the run has reached its peak load.

use crate::event::EventQueue;
use crate::metrics::{new_interval_histogram, Counts, RegionMetrics, TimeseriesRow};
use crate::model::{Model, ServingModel};
use crate::rng::{self, Rng};
use crate::scenario::{Balancer, RoutingPolicy};
use crate::summary::{self, Summary};
use crate::traffic::SourceState;
use crate::units::{nanos_to_secs, Nanos};
use hdrhistogram::Histogram;
use rand::Rng as _;
use std::collections::VecDeque;

const NO_TIME: Nanos = Nanos::MAX;

#[derive(Clone, Copy, Debug)]
enum Event {
    Arrival {
        source: u32,
    },
    ReachRegion {
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
    batch: u64,
    region: u32,
    replica: u32,
    size: u32,
    batch_size: u32,
    stage: Stage,
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
    pub replica: u32,
    /// Batch number within the run, from 0 (u64::MAX if it never ran).
    pub batch: u64,
    pub batch_size: u32,
    pub batch_start: Nanos,
    /// When the client had its answer or gave up (the time of the drop or discard otherwise).
    pub finished: Nanos,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Dropped,
    TimedOut,
}

struct Replica {
    region: u32,
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
}

/// A model instance: runs one batch at a time.
struct Instance {
    replica: u32,
    batch: Vec<u32>,
    started: Nanos,
    batch_id: u64,
}

struct Region {
    first_replica: u32,
    replicas: u32,
    queued: u64,
    /// Requests routed here and not yet answered by a replica (on the wire, queued or running).
    assigned: u64,
    busy_replicas: u64,
    balancer_rng: Rng,
    next_round_robin: u32,
    metrics: RegionMetrics,
    /// Mean server time per request at full batches, for latency-aware routing.
    per_request_nanos: f64,
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
    replicas: Vec<Replica>,
    instances: Vec<Instance>,
    routers: Vec<Rng>,
    /// Per origin: serving regions by increasing RTT (ties by name).
    nearest: Vec<Vec<u32>>,
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

fn serving_of(model: &Model, region: u32) -> &ServingModel {
    model.regions[region as usize].serving.as_deref().expect("only regions with replicas receive requests")
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
        let mut regions = Vec::with_capacity(model.regions.len());
        let mut replicas = Vec::new();
        let mut instances = Vec::new();
        for (r, region) in model.regions.iter().enumerate() {
            let first_replica = replicas.len() as u32;
            let max_batch = region.serving.as_ref().map_or(1, |s| s.max_batch);
            if let Some(serving) = &region.serving {
                for i in 0..region.replicas {
                    let slots = serving.instances as usize;
                    let replica = replicas.len() as u32;
                    let first_instance = instances.len() as u32;
                    instances.extend((0..slots).map(|_| Instance {
                        replica,
                        batch: Vec::with_capacity(serving.max_batch as usize),
                        started: 0,
                        batch_id: 0,
                    }));
                    replicas.push(Replica {
                        region: r as u32,
                        queue: VecDeque::with_capacity(serving.queue_capacity.min(4096) as usize),
                        outstanding: 0,
                        idle_instances: serving.instances,
                        free_instances: (first_instance..first_instance + slots as u32).rev().collect(),
                        timer_at: NO_TIME,
                        service_rng: rng::stream(seed, &format!("service/{}/{}", region.name, i)),
                        overhead_rng: rng::stream(seed, &format!("overhead/{}/{}", region.name, i)),
                        cpu_idle: serving.cpu_workers.unwrap_or(0),
                        cpu_waiting: VecDeque::new(),
                    });
                }
            }
            regions.push(Region {
                first_replica,
                replicas: region.replicas,
                queued: 0,
                assigned: 0,
                busy_replicas: 0,
                balancer_rng: rng::stream(seed, &format!("balancer/{}", region.name)),
                next_round_robin: 0,
                metrics: RegionMetrics::new(max_batch),
                per_request_nanos: region.serving.as_ref().map_or(0.0, |s| s.per_request_nanos()),
            });
        }
        let routers = model.regions.iter().map(|r| rng::stream(seed, &format!("router/{}", r.name))).collect();
        let nearest = (0..model.regions.len())
            .map(|origin| {
                let mut order: Vec<u32> =
                    (0..model.regions.len() as u32).filter(|&r| model.regions[r as usize].replicas > 0).collect();
                order.sort_by_key(|&r| (model.rtt[origin][r as usize], r));
                order
            })
            .collect();
        let sources =
            model.sources.iter().map(|s| SourceState::new(&s.process, rng::stream(seed, &s.stream))).collect();
        World {
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
            replicas,
            instances,
            routers,
            nearest,
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
        }
    }

    /// Run to the end: arrivals stop at the scenario's duration, then in-flight requests drain.
    pub fn run(mut self) -> RunOutput {
        // Marks first, so that they pop before other events at the same time.
        self.events.schedule(self.model.warmup, Event::Mark);
        self.events.schedule(self.model.duration, Event::Mark);
        for source in 0..self.sources.len() {
            self.schedule_next_arrival(source);
        }
        self.events.schedule(self.model.interval.min(self.model.duration), Event::Tick);
        while let Some((time, event)) = self.events.pop() {
            if self.stopped_at.is_some() {
                break;
            }
            self.now = time;
            self.event_count += 1;
            match event {
                Event::Arrival { source } => self.on_arrival(source as usize),
                Event::ReachRegion { request } => self.on_reach_region(request),
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
                Event::Tick => self.on_tick(),
                Event::Mark => self.on_mark(),
            }
        }
        let metrics: Vec<&RegionMetrics> = self.regions.iter().map(|r| &r.metrics).collect();
        let measured_area = self.area_at_end.saturating_sub(self.area_at_warmup) as f64;
        let summary = summary::summarize(self.model, self.seed, &metrics, measured_area, self.now, self.stopped_at);
        let latency_cdf = summary::latency_cdfs(self.model, &metrics);
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

    #[inline]
    fn on_arrival(&mut self, source: usize) {
        let origin = self.model.sources[source].origin as u32;
        let region = self.route(origin);
        let serving = serving_of(self.model, region);
        let one_way = self.model.rtt[origin as usize][region as usize] / 2;
        let request = Request {
            serial: self.next_serial,
            sent: self.now,
            deadline: serving.timeout.map_or(NO_TIME, |t| self.now.saturating_add(t)),
            enqueued: 0,
            batch_start: 0,
            service: 0,
            batch: u64::MAX,
            region,
            replica: 0,
            size: self.next_sizes[source],
            batch_size: 0,
            stage: Stage::Pre,
            one_way,
        };
        self.next_serial += 1;
        let id = match self.free_requests.pop() {
            Some(id) => {
                self.requests[id as usize] = request;
                id
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        };
        self.regions[region as usize].assigned += 1;
        let metrics = &mut self.regions[region as usize].metrics;
        metrics.interval.counts.offered += 1;
        if self.now >= self.model.warmup {
            metrics.counts.offered += 1;
        }
        self.change_in_system(1);
        if one_way == 0 {
            self.on_reach_region(id);
        } else {
            self.events.schedule(self.now.saturating_add(one_way), Event::ReachRegion { request: id });
        }
        self.schedule_next_arrival(source);
    }

    fn queued_per_replica_over(&self, region: u32, limit: u32) -> bool {
        let state = &self.regions[region as usize];
        state.queued > u64::from(limit) * u64::from(state.replicas)
    }

    #[inline]
    fn route(&mut self, origin: u32) -> u32 {
        let model = self.model;
        let order = &self.nearest[origin as usize];
        let chosen = match model.routing.policy {
            RoutingPolicy::Nearest => order[0],
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
                    let state = &self.regions[r as usize];
                    let instances = f64::from(serving_of(model, r).instances) * f64::from(state.replicas);
                    // Work ahead of a new request per model instance, at full-batch speed.
                    model.rtt[origin as usize][r as usize] as f64
                        + state.assigned as f64 * state.per_request_nanos / instances
                };
                let mut best = order[0];
                let mut best_score = score(best);
                for &r in &order[1..] {
                    let s = score(r);
                    if s < best_score {
                        best = r;
                        best_score = s;
                    }
                }
                best
            }
        };
        if let Some(limit) = model.routing.spillover_queue {
            if self.queued_per_replica_over(chosen, limit) {
                if let Some(&other) = order.iter().find(|&&r| !self.queued_per_replica_over(r, limit)) {
                    return other;
                }
            }
        }
        chosen
    }

    #[inline]
    fn balance(&mut self, region: u32) -> u32 {
        let state = &mut self.regions[region as usize];
        let n = state.replicas;
        let first = state.first_replica;
        let offset = match serving_of(self.model, region).balancer {
            Balancer::RoundRobin => {
                let k = state.next_round_robin;
                state.next_round_robin = if k + 1 == n { 0 } else { k + 1 };
                k
            }
            Balancer::Random => state.balancer_rng.random_range(0..n),
            Balancer::LeastOutstanding => {
                // Scan from a rotating start, so ties spread over replicas instead of piling on the first.
                let start = state.next_round_robin;
                state.next_round_robin = if start + 1 == n { 0 } else { start + 1 };
                let replicas = &self.replicas[first as usize..(first + n) as usize];
                let mut best = start;
                let mut best_load = replicas[start as usize].outstanding;
                for (k, replica) in replicas
                    .iter()
                    .enumerate()
                    .skip(start as usize + 1)
                    .chain(replicas.iter().enumerate().take(start as usize))
                {
                    if replica.outstanding < best_load {
                        best = k as u32;
                        best_load = replica.outstanding;
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
                    let load = |k: u32| self.replicas[(first + k) as usize].outstanding;
                    if load(b) < load(a) {
                        b
                    } else {
                        a
                    }
                }
            }
        };
        first + offset
    }

    #[inline]
    fn on_reach_region(&mut self, id: u32) {
        let region = self.requests[id as usize].region;
        let replica = self.balance(region);
        self.requests[id as usize].replica = replica;
        self.replicas[replica as usize].outstanding += 1;
        let serving = serving_of(self.model, region);
        match &serving.pre {
            Some(_) if serving.cpu_workers.is_some() => self.cpu_submit(replica, id),
            Some(pre) => {
                let delay = pre.sample(&mut self.replicas[replica as usize].overhead_rng);
                self.events.schedule(self.now.saturating_add(delay), Event::StageDone { request: id });
            }
            None => self.enqueue(replica, id),
        }
    }

    fn on_stage_done(&mut self, id: u32) {
        let request = self.requests[id as usize];
        match request.stage {
            Stage::Pre => self.enqueue(request.replica, id),
            Stage::Post => self.depart(id),
        }
    }

    fn stage_time(&mut self, replica: u32, stage: Stage) -> Nanos {
        let serving = serving_of(self.model, self.replicas[replica as usize].region);
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
        let capacity = serving_of(self.model, state.region).queue_capacity as usize;
        if self.requests[id as usize].stage == Stage::Pre && state.cpu_waiting.len() >= capacity {
            self.discard(id, Outcome::Dropped);
        } else {
            state.cpu_waiting.push_back(id);
        }
    }

    #[cold]
    fn on_cpu_done(&mut self, id: u32) {
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
        let capacity = serving_of(self.model, state.region).queue_capacity as usize;
        if state.queue.len() >= capacity {
            self.discard(id, Outcome::Dropped);
            return;
        }
        state.queue.push_back(id);
        self.regions[state.region as usize].queued += 1;
        self.requests[id as usize].enqueued = self.now;
        self.try_dispatch(replica);
    }

    /// Triton's dynamic batcher: when an instance is free, send the largest preferred size that the
    /// queue can form; failing that, send up to `max_batch` if that many wait or once the oldest
    /// request has waited `max_queue_delay`; otherwise set a timer for that moment.
    #[inline]
    fn try_dispatch(&mut self, replica: u32) {
        let model = self.model;
        loop {
            let state = &mut self.replicas[replica as usize];
            if state.idle_instances == 0 {
                return;
            }
            let Some(&oldest) = state.queue.front() else {
                return;
            };
            let serving = serving_of(model, state.region);
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
        let region = state.region;
        let serving = serving_of(model, region);
        let instance = state.free_instances.pop().expect("an idle replica has a free instance");
        let mut batch = std::mem::take(&mut self.instances[instance as usize].batch);
        self.regions[region as usize].queued -= u64::from(take);
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
        let service = serving.service.sample_sized(size, longest, &mut state.service_rng);
        if state.idle_instances == serving.instances {
            self.regions[region as usize].busy_replicas += 1;
        }
        state.idle_instances -= 1;
        if now >= model.warmup {
            self.regions[region as usize].metrics.batch_sizes[size as usize] += 1;
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
        let started = running.started;
        let batch_id = running.batch_id;
        let mut batch = std::mem::take(&mut running.batch);
        let state = &mut self.replicas[replica as usize];
        let region = state.region;
        let serving = serving_of(model, region);
        state.idle_instances += 1;
        if state.idle_instances == serving.instances {
            self.regions[region as usize].busy_replicas -= 1;
        }
        self.regions[region as usize].metrics.busy_nanos += overlap(started, self.now, model.warmup, model.duration);
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

    /// The response leaves the replica for the client.
    #[inline]
    fn depart(&mut self, id: u32) {
        let request = &self.requests[id as usize];
        self.replicas[request.replica as usize].outstanding -= 1;
        self.regions[request.region as usize].assigned -= 1;
        if request.one_way == 0 {
            self.on_respond(id);
        } else {
            self.events.schedule(self.now.saturating_add(request.one_way), Event::Respond { request: id });
        }
    }

    #[inline]
    fn on_respond(&mut self, id: u32) {
        let request = &self.requests[id as usize];
        let latency = self.now - request.sent;
        let timed_out = self.now > request.deadline;
        let measured = request.sent >= self.model.warmup;
        let metrics = &mut self.regions[request.region as usize].metrics;
        if timed_out {
            metrics.interval.counts.timed_out += 1;
            if measured {
                metrics.counts.timed_out += 1;
            }
        } else {
            metrics.interval.counts.completed += 1;
            metrics.interval.latency.saturating_record(latency);
            if measured {
                metrics.record_completion(latency, request.batch_start - request.enqueued, request.service);
            }
        }
        self.finish(id, if timed_out { Outcome::TimedOut } else { Outcome::Completed });
    }

    /// A request the server drops (full queue) or discards (past its deadline) before answering.
    #[cold]
    fn discard(&mut self, id: u32, outcome: Outcome) {
        let request = &self.requests[id as usize];
        self.replicas[request.replica as usize].outstanding -= 1;
        self.regions[request.region as usize].assigned -= 1;
        let measured = request.sent >= self.model.warmup;
        let metrics = &mut self.regions[request.region as usize].metrics;
        let (interval, total) = match outcome {
            Outcome::Dropped => (&mut metrics.interval.counts.dropped, &mut metrics.counts.dropped),
            _ => (&mut metrics.interval.counts.timed_out, &mut metrics.counts.timed_out),
        };
        *interval += 1;
        if measured {
            *total += 1;
        }
        self.finish(id, outcome);
    }

    #[inline]
    fn finish(&mut self, id: u32, outcome: Outcome) {
        if self.record_requests {
            let request = self.requests[id as usize];
            self.records.push(RequestRecord {
                serial: request.serial,
                sent: request.sent,
                size: request.size,
                region: request.region,
                replica: request.replica - self.regions[request.region as usize].first_replica,
                batch: request.batch,
                batch_size: request.batch_size,
                batch_start: request.batch_start,
                finished: self.now,
                outcome,
            });
        }
        self.change_in_system(-1);
        self.free_requests.push(id);
    }

    #[cold]
    fn on_tick(&mut self) {
        let start = self.interval_start;
        let end = self.now;
        let seconds = nanos_to_secs(end - start);
        let warmup = start < self.model.warmup;
        let mut all = Counts::default();
        let (mut queued, mut busy, mut ready) = (0, 0, 0);
        self.interval_all.reset();
        for (r, region) in self.regions.iter_mut().enumerate() {
            if region.replicas == 0 && region.metrics.interval.counts == Counts::default() {
                continue;
            }
            let interval = &region.metrics.interval;
            let counts = interval.counts;
            all.offered += counts.offered;
            all.completed += counts.completed;
            all.dropped += counts.dropped;
            all.timed_out += counts.timed_out;
            queued += region.queued;
            busy += region.busy_replicas;
            ready += u64::from(region.replicas);
            self.interval_all.add(&interval.latency).expect("histograms share bounds");
            self.timeseries.push(row(
                start,
                end,
                &self.model.regions[r].name,
                warmup,
                seconds,
                counts,
                &interval.latency,
                (region.queued, region.busy_replicas, u64::from(region.replicas)),
            ));
            region.metrics.interval.reset();
        }
        self.timeseries.push(row(start, end, "all", warmup, seconds, all, &self.interval_all, (queued, busy, ready)));
        self.interval_start = end;
        if let (Some(limit), false) = (self.give_up_loss, warmup) {
            let (offered, lost) = self.regions.iter().fold((0, 0), |(offered, lost), r| {
                let c = r.metrics.counts;
                (offered + c.offered, lost + c.dropped + c.timed_out)
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
    (queue_depth, busy_replicas, ready_replicas): (u64, u64, u64),
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
        queue_depth,
        busy_replicas,
        ready_replicas,
    }
}

/// Run a model once.
pub fn run(model: &Model, options: &RunOptions) -> RunOutput {
    World::new(model, options).run()
}
