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

mod batcher;
mod cache;
mod frontend;
mod gpu;
mod kind;
mod llm;
mod monitor;
mod operate;
mod outcome;
mod pipeline;
mod prefix;
mod proxy;
mod replica;
mod request;
mod series;
mod shared_job;
mod stall;
mod trace;

pub use pipeline::StageMetrics;
pub use request::{Outcome, RequestRecord, Stages};
pub use shared_job::SharedJobRun;
pub use trace::{mix, TracedRequest, MAX_TRACED};

use crate::event::EventQueue;
use crate::metrics::{new_interval_histogram, Phase, RegionMetrics, TimeseriesRow, PHASES};
use crate::model::{Model, PipelineModel, ServingModel};
use crate::policy::autoscale::{Autoscaler, AutoscalingModel};
use crate::policy::balance::Balancing;
use crate::policy::breaker::{Breaker, RetryBudget};
use crate::rng::{self, Rng};
use crate::summary::{self, Role, Summary};
use crate::traffic::{Arrival, SourceState};
use crate::units::Nanos;
use hdrhistogram::Histogram;
use kind::{KindEvent, KindState};
use request::Request;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// The proxy passed a request on (`proxy.rs`).
    ProxyDone {
        request: u32,
    },
    /// A request's jitter (a delay before the server) ended (`proxy.rs`).
    JitterDone {
        request: u32,
    },
    /// A replica kind's own event (`kind.rs`).
    Kind(KindEvent),
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
    /// A job on shared capacity starts (`shared_job.rs`).
    SharedJobStart {
        job: u32,
    },
    /// A pipeline stage's timeout (`pipeline.rs`).
    StageTimeout {
        request: u32,
    },
    /// A response-cache lookup answered (`cache.rs`).
    CacheDone {
        request: u32,
    },
    /// A cache's answer reached the client.
    CachedRespond {
        request: u32,
    },
    /// Prometheus samples the clients' counters (`monitor.rs`).
    Scrape,
}

// Events are copied through the heap and its lanes: keep one in eight bytes.
const _: () = assert!(std::mem::size_of::<Event>() == 8);

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
    /// Requests in the replica: pre-processing, queued, running or post-processing.
    outstanding: u32,
    /// What the replica's kind keeps (`kind.rs`).
    kind: KindState,
    service_rng: Rng,
    overhead_rng: Rng,
    cpu_idle: u32,
    cpu_waiting: VecDeque<u32>,
    /// The proxy hop's threads, when the serving has one (`proxy.rs`).
    proxy: Option<Box<proxy::ProxyState>>,
    /// The replica's pauses, when the serving stalls (`stall.rs`).
    stalls: Option<Box<stall::StallTimeline>>,
    /// The stream of its requests' jitter, when the serving has one (`proxy.rs`).
    jitter_rng: Option<Box<Rng>>,
    /// The shared GPU it runs on and its model's place in the GPU's group (NONE: dedicated).
    gpu: u32,
    gpu_place: u32,
}

/// One deployment in one region: replica slots, load balancer, autoscaler, metrics.
struct Pool<'m> {
    region: u32,
    /// The endpoint (0: the main one).
    endpoint: u32,
    role: Role,
    name: String,
    serving: Option<&'m ServingModel>,
    /// The client's timeout for requests to this deployment (its serving's, or its pipeline's).
    timeout: Option<Nanos>,
    /// A pipeline endpoint's pool: no replicas, its requests run stages (`pipeline.rs`).
    pipeline: Option<&'m PipelineModel>,
    /// Per stage of the pipeline.
    stages: Vec<StageMetrics>,
    /// Requests of pipeline stages to this deployment, apart from its clients' (`metrics`): the
    /// endpoint's figures add them, the top level's and the region's do not. None when no
    /// pipeline calls it.
    calls: Option<Box<RegionMetrics>>,
    autoscaling: Option<&'m AutoscalingModel>,
    hpa: Autoscaler,
    first_replica: u32,
    slots: u32,
    /// Replicas receiving traffic, in slot order.
    lb: Vec<u32>,
    /// Ready decode engines of a disaggregated LLM deployment, in slot order (`llm.rs`).
    decode_lb: Vec<u32>,
    /// The endpoint picker's view per slot (requests waiting, KV cache in use), and when it was
    /// read (`llm.rs`; NO_TIME: never).
    signals: Vec<(u32, f64)>,
    signals_at: Nanos,
    desired: u32,
    phase_counts: [u32; PHASES],
    phase_since: Nanos,
    queued: u64,
    busy_replicas: u64,
    balancing: Balancing,
    lifecycle_rng: Rng,
    fallback_rng: Rng,
    metrics: RegionMetrics,
    /// Mean server time per request at full batches, for latency-aware routing.
    per_request_nanos: f64,
    /// Autoscaler window: start, model calls, instance-busy nanoseconds.
    window_start: Nanos,
    window_arrivals: u64,
    /// Output tokens LLM engines produced in the window.
    window_tokens: u64,
    window_busy: f64,
    /// Requests waiting for a first replica (scale from zero).
    pending: VecDeque<u32>,
    breaker: Option<Breaker>,
    usd_per_hour: f64,
}

/// One endpoint in one region: its deployments' pools, the router's view of it, its frontend's
/// random streams. Sites are endpoint-major (`endpoint × regions + region`), so the main
/// endpoint's sites are indexed by region as before endpoints existed.
struct Site {
    region: u32,
    endpoint: u32,
    primary: u32,
    variant: Option<u32>,
    shadow: Option<u32>,
    /// The region is out (a fault): every endpoint's site there is unreachable.
    down: bool,
    /// A dependency failure in the region: its feature store's extra errors and slowdown.
    feature_error: f64,
    feature_factor: f64,
    /// The global router's view.
    routable: bool,
    /// Requests routed here and not yet answered by a replica (on the wire, queued or running).
    assigned: u64,
    probe_failures: u32,
    probe_successes: u32,
    feature_rng: Rng,
    /// The endpoint's response cache here, if its serving has one.
    cache: Option<cache::CacheState>,
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
    /// Simulated nanoseconds of traffic done, added to every [`PROGRESS_EVENTS`] events (a caller
    /// may show progress from it; several runs may share one counter).
    pub progress: Option<Arc<AtomicU64>>,
    /// Most requests in the system at once before the run stops, saturated, with the rest counted
    /// unfinished (default [`MAX_REQUESTS_IN_SYSTEM`]): an unbounded queue under overload would
    /// otherwise grow until memory runs out.
    pub max_requests_in_system: Option<usize>,
    /// Split every answer's latency into stages (`summary.json`'s `breakdown`); sweeps leave it
    /// off for speed.
    pub breakdown: bool,
    /// Keep this share of client requests (and every failed, retried or degraded one), up to
    /// [`trace::MAX_TRACED`], as [`TracedRequest`]s; None: no tracing.
    pub trace_sample: Option<f64>,
}

/// The default bound on requests in the system at once: about 2 GB of request state.
pub const MAX_REQUESTS_IN_SYSTEM: usize = 10_000_000;

/// How often a run adds to its progress counter, in events.
pub const PROGRESS_EVENTS: u64 = 1 << 16;

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
    /// The histograms behind the summary's percentiles, for pooling replications.
    pub distributions: summary::Distributions,
    pub timeseries: Vec<TimeseriesRow>,
    pub events: u64,
    pub requests: Vec<RequestRecord>,
    /// Per region with completions (and "all" when several): `(latency ms, fraction at or below)`.
    pub latency_cdf: Vec<(String, Vec<(f64, f64)>)>,
    /// LLM deployments' TTFT and TPOT CDFs (empty without LLM engines).
    pub token_cdf: Vec<summary::TokenCdf>,
    /// The clients' counters as Prometheus would have scraped them (empty without an SLO).
    pub scrapes: crate::monitor::Scrapes,
    /// Traced requests (`RunOptions::trace_sample`), and how many more qualified past the cap.
    pub traces: Vec<TracedRequest>,
    pub traces_left_out: u64,
    /// Jobs that ran on the online replicas' idle time.
    pub shared_jobs: Vec<SharedJobRun>,
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
    /// Some replica stalls (`stall.rs`): otherwise work is scheduled without asking.
    stalls_anywhere: bool,
    /// Some serving has jitter or a proxy before its server (`proxy.rs`).
    hops_anywhere: bool,
    sources: Vec<SourceState>,
    /// Per source: its next arrival (what the request carries).
    next_arrivals: Vec<Arrival>,
    /// Per source: the stream its synthetic token counts are drawn from.
    token_rngs: Vec<Rng>,
    sites: Vec<Site>,
    /// Per source: its origin and its client (endpoint × regions + origin).
    clients: Vec<(u32, u32)>,
    pools: Vec<Pool<'m>>,
    replicas: Vec<Replica>,
    /// Per client (endpoint × regions + origin, like sites): the router's random stream.
    routers: Vec<Rng>,
    /// Per client: the regions serving its endpoint by increasing RTT (ties by name).
    nearest: Vec<Vec<u32>>,
    /// Per client: backoff jitter and the retry budget.
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
    progress: Option<Arc<AtomicU64>>,
    /// Simulated time already added to `progress`.
    progress_reported: Nanos,
    max_requests: usize,
    /// The system held `max_requests` at once: the run stopped there.
    overflowed: bool,
    /// Pipelines: a slot per request (empty without pipelines) and the last stage token given.
    calls: Vec<pipeline::CallSlot>,
    next_stage_token: u32,
    /// Batch jobs on shared capacity, and per region the one sharing it.
    shared_jobs: Vec<shared_job::SharedJob>,
    shared_by_region: Vec<Option<u32>>,
    /// GPUs shared by several models (empty without `[gpu_sharing]`), and per group what its
    /// executions took.
    gpus: Vec<gpu::SharedGpu>,
    /// Buffers the endpoint picker reuses (`llm.rs`).
    scratch_keys: Vec<u64>,
    scratch_scores: Vec<f64>,
    sharing_metrics: Vec<gpu::SharingMetrics>,
    monitor: monitor::MonitorState,
    breakdown: bool,
    tracing: trace::TraceState,
}

/// The response cache of endpoint `e`'s primary deployment in region `r` (its serving's, or its
/// pipeline's where it runs there).
fn site_cache(model: &Model, e: usize, r: usize) -> Option<&crate::model::CacheModel> {
    let site = model.site(e, r);
    match (&site.primary.serving, model.pipeline(e)) {
        (Some(serving), _) => serving.cache.as_ref(),
        (None, Some(pipeline)) if site.runs_pipeline => pipeline.cache.as_ref(),
        _ => None,
    }
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
        let n = model.regions.len();
        // The main endpoint's primaries first, one per region (index = region index), then its
        // variants and shadows, then each named endpoint's primaries (one per region).
        let mut extra: Vec<(u32, Role)> = Vec::new();
        for (r, region) in model.regions.iter().enumerate() {
            pools.push(Pool::new(model, seed, 0, r as u32, Role::Primary));
            extra.extend(region.deployments().skip(1).map(|(role, _)| (r as u32, role)));
        }
        for &(r, role) in &extra {
            pools.push(Pool::new(model, seed, 0, r, role));
        }
        for e in 1..model.endpoint_count() {
            for r in 0..n {
                pools.push(Pool::new(model, seed, e as u32, r as u32, Role::Primary));
            }
        }
        for (p, pool) in pools.iter_mut().enumerate() {
            pool.first_replica = replicas.len() as u32;
            let Some(serving) = pool.serving else { continue };
            for i in 0..pool.slots {
                let kind = KindState::new(serving, i);
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
                    outstanding: 0,
                    kind,
                    service_rng: rng::stream(seed, &format!("service/{id}")),
                    overhead_rng: rng::stream(seed, &format!("overhead/{id}")),
                    cpu_idle: serving.cpu_workers.unwrap_or(0),
                    cpu_waiting: VecDeque::new(),
                    proxy: serving.proxy.as_ref().map(|proxy| {
                        Box::new(proxy::ProxyState::new(proxy.clone(), rng::stream(seed, &format!("proxy/{id}"))))
                    }),
                    jitter_rng: serving.jitter.as_ref().map(|_| Box::new(rng::stream(seed, &format!("jitter/{id}")))),
                    stalls: serving.stalls.as_ref().map(|stalls| {
                        Box::new(stall::StallTimeline::new(stalls.clone(), rng::stream(seed, &format!("stalls/{id}"))))
                    }),
                    gpu: NONE,
                    gpu_place: NONE,
                });
            }
        }
        let main_pools = n + extra.len();
        let first_replica = |e: usize, r: usize| pools[main_pools + (e - 1) * n + r].first_replica;
        let (gpus, placement) = gpu::SharedGpu::all(model, replicas.len(), first_replica);
        for (replica, (gpu, place)) in replicas.iter_mut().zip(placement) {
            (replica.gpu, replica.gpu_place) = (gpu, place);
        }
        let mut sites = Vec::with_capacity(n * model.endpoint_count());
        for e in 0..model.endpoint_count() {
            for (r, region) in model.regions.iter().enumerate() {
                let pool_of = |role: Role| {
                    let k = extra.iter().position(|&(pr, pr_role)| pr == r as u32 && pr_role == role);
                    k.filter(|_| e == 0).map(|k| (n + k) as u32)
                };
                // The main endpoint's streams keep the names they had before endpoints.
                let id = match model.endpoint_name(e) {
                    None => region.name.clone(),
                    Some(endpoint) => format!("{endpoint}/{}", region.name),
                };
                sites.push(Site {
                    region: r as u32,
                    endpoint: e as u32,
                    primary: if e == 0 { r as u32 } else { (main_pools + (e - 1) * n + r) as u32 },
                    variant: pool_of(Role::Variant),
                    shadow: pool_of(Role::Shadow),
                    down: false,
                    feature_error: 0.0,
                    feature_factor: 1.0,
                    routable: model.site(e, r).serves(),
                    assigned: 0,
                    probe_failures: 0,
                    probe_successes: 0,
                    feature_rng: rng::stream(seed, &format!("feature_store/{id}")),
                    cache: site_cache(model, e, r)
                        .map(|c| cache::CacheState::new(c, rng::stream(seed, &format!("cache/{id}")))),
                    ab_rng: rng::stream(seed, &format!("ab/{id}")),
                    shadow_rng: rng::stream(seed, &format!("shadow/{id}")),
                });
            }
        }
        let clients = model.sources.iter().map(|s| (s.origin as u32, (s.endpoint * n + s.origin) as u32)).collect();
        let client_id = |e: usize, origin: &str| match model.endpoint_name(e) {
            None => origin.to_string(),
            Some(endpoint) => format!("{endpoint}/{origin}"),
        };
        let every_client = || (0..model.endpoint_count()).flat_map(|e| model.regions.iter().map(move |r| (e, r)));
        let routers =
            every_client().map(|(e, r)| rng::stream(seed, &format!("router/{}", client_id(e, &r.name)))).collect();
        let retry_rngs =
            every_client().map(|(e, r)| rng::stream(seed, &format!("retry/{}", client_id(e, &r.name)))).collect();
        let budgets =
            every_client().map(|_| RetryBudget::new(model.retries.as_ref().map_or(0.0, |r| r.budget))).collect();
        let fault_rngs = model.faults.iter().map(|f| rng::stream(seed, &f.stream)).collect();
        let nearest = (0..model.endpoint_count())
            .flat_map(|e| (0..n).map(move |origin| (e, origin)))
            .map(|(e, origin)| {
                let mut order: Vec<u32> = (0..n as u32).filter(|&r| model.site(e, r as usize).serves()).collect();
                order.sort_by_key(|&r| (model.rtt[origin][r as usize], r));
                order
            })
            .collect();
        let sources =
            model.sources.iter().map(|s| SourceState::new(&s.process, rng::stream(seed, &s.stream))).collect();
        let (shared_jobs, shared_by_region) = shared_job::SharedJob::all(model, seed);
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
            stalls_anywhere: replicas.iter().any(|r| r.stalls.is_some()),
            hops_anywhere: pools
                .iter()
                .filter_map(|p| p.serving)
                .any(|serving| serving.jitter.is_some() || serving.proxy.is_some()),
            next_arrivals: vec![Arrival { time: 0, size: 0, output: 0, row: NONE, group: NONE }; model.sources.len()],
            token_rngs: model.sources.iter().map(|s| rng::stream(seed, &format!("tokens/{}", s.stream))).collect(),
            sources,
            sites,
            clients,
            pools,
            replicas,
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
            progress: options.progress.clone(),
            progress_reported: 0,
            max_requests: options.max_requests_in_system.unwrap_or(MAX_REQUESTS_IN_SYSTEM),
            overflowed: false,
            calls: Vec::new(),
            next_stage_token: 0,
            shared_jobs,
            shared_by_region,
            gpus,
            scratch_keys: Vec::new(),
            scratch_scores: Vec::new(),
            sharing_metrics: vec![gpu::SharingMetrics::default(); model.gpu_groups.len()],
            monitor: monitor::MonitorState::new(model),
            breakdown: options.breakdown,
            tracing: trace::TraceState::new(options.trace_sample, seed),
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
        self.schedule_shared_jobs();
        self.schedule_scrapes();
        let drain_deadline = self.model.duration.saturating_add(summary::drain_limit(self.model));
        let mut cut = false;
        while let Some((time, event)) = self.events.pop() {
            if self.stopped_at.is_some() {
                break;
            }
            if time > drain_deadline {
                cut = true;
                self.now = drain_deadline;
                break;
            }
            self.now = time;
            self.event_count += 1;
            if self.event_count.is_multiple_of(PROGRESS_EVENTS) {
                self.report_progress(time.min(self.model.duration));
            }
            match event {
                Event::Arrival { source } => self.on_arrival(source as usize),
                Event::ReachRegion { request } => self.on_reach_region(request),
                Event::FeatureDone { request } => self.on_feature_done(request),
                Event::StageDone { request } => self.on_stage_done(request),
                Event::CpuDone { request } => self.on_cpu_done(request),
                Event::ProxyDone { request } => self.on_proxy_done(request),
                Event::JitterDone { request } => self.on_jitter_done(request),
                Event::Kind(event) => self.on_kind_event(event),
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
                Event::SharedJobStart { job } => self.on_shared_job_start(job),
                Event::StageTimeout { request } => self.on_stage_timeout(request),
                Event::CacheDone { request } => self.on_cache_done(request),
                Event::CachedRespond { request } => self.finish_cached(request),
                Event::Scrape => self.on_scrape(),
            }
        }
        self.report_progress(self.model.duration);
        self.abandon_waiting();
        if cut || self.overflowed {
            self.cut_unfinished();
        }
        let end = self.now.max(self.model.duration);
        for p in 0..self.pools.len() {
            self.account_phases(p as u32, end);
        }
        let pools: Vec<summary::PoolSummary> = self
            .pools
            .iter()
            .map(|p| {
                let region = self.model.site(p.endpoint as usize, p.region as usize);
                let (replicas, instance) =
                    region.deployment(p.role).map_or((0, None), |d| (d.replicas, d.instance.clone()));
                summary::PoolSummary {
                    region: p.region as usize,
                    endpoint: p.endpoint as usize,
                    name: p.name.clone(),
                    role: p.role,
                    metrics: &p.metrics,
                    replicas: if p.serving.is_some() { replicas } else { 0 },
                    instances: p.serving.map_or(0, |s| s.kind.instances()),
                    usd_per_hour: p.usd_per_hour,
                    has_breaker: p.breaker.is_some(),
                    has_cache: p.serving.is_some_and(|s| s.cache.is_some())
                        || p.pipeline.is_some_and(|p| p.cache.is_some()),
                    service_time_source: p.serving.map(|s| s.service.source()),
                    instance,
                    serves: p.serving.is_some() || p.pipeline.is_some(),
                    stages: &p.stages,
                    calls: p.calls.as_deref(),
                }
            })
            .collect();
        let measured_area = self.area_at_end.saturating_sub(self.area_at_warmup) as f64;
        // The drain ends when the last client request left the system (the last change of the
        // count in the system, a `Mark` at `duration` at the earliest), not at the last event: an
        // autoscaler's or a probe's tick may come later.
        let drained_at =
            if cut || self.overflowed || self.stopped_at.is_some() { self.now } else { self.in_system_since };
        let latency_cdf = summary::latency_cdfs(&pools);
        let token_cdf = summary::token_cdfs(&pools);
        let (mut summary, distributions) =
            summary::summarize(self.model, self.seed, &pools, measured_area, drained_at, self.stopped_at);
        summary.gpu_sharing = gpu::summaries(self.model, &self.sharing_metrics);
        let endpoint_names: Vec<&str> = (0..self.model.endpoint_count()).map(|e| self.model.endpoint_key(e)).collect();
        summary.monitoring = crate::monitor::summarize(
            &self.model.monitoring,
            &endpoint_names,
            &self.monitor.scrapes,
            &self.monitor.faults,
            self.model.duration,
        );
        if let (Some(drift), Some(summary)) = (&self.model.monitoring.drift, summary.monitoring.as_mut()) {
            let answers =
                crate::monitor::answers_per_window(&self.model.monitoring, &self.monitor.scrapes, drift.window);
            let mut rng = crate::rng::stream(self.seed, "monitoring/drift");
            summary.drift = Some(crate::drift::evaluate(drift, &answers, &mut rng));
        }
        RunOutput {
            summary,
            distributions,
            timeseries: self.timeseries,
            events: self.event_count,
            requests: self.records,
            latency_cdf,
            token_cdf,
            scrapes: self.monitor.scrapes,
            traces: self.tracing.traced,
            traces_left_out: self.tracing.left_out,
            shared_jobs: self.shared_jobs.into_iter().map(shared_job::SharedJob::into_run).collect(),
        }
    }

    #[inline]
    fn schedule_next_arrival(&mut self, source: usize) {
        let model = &self.model.sources[source];
        if let Some(mut arrival) = self.sources[source].next_arrival(&model.process) {
            if model.tokens.is_some() && arrival.row == NONE {
                self.draw_tokens(source, &mut arrival);
            }
            if arrival.time < self.model.duration {
                self.next_arrivals[source] = arrival;
                self.events.schedule(arrival.time, Event::Arrival { source: source as u32 });
            }
        }
    }

    /// A synthetic LLM request's prompt and output tokens, and its shared-prefix group. Out of
    /// line: other traffic only tests for it.
    #[inline(never)]
    fn draw_tokens(&mut self, source: usize, arrival: &mut Arrival) {
        let Some(tokens) = &self.model.sources[source].tokens else { return };
        let rng = &mut self.token_rngs[source];
        arrival.size = tokens.prompt.sample(rng).clamp(1, u64::from(u32::MAX)) as u32;
        arrival.output = tokens.output.sample(rng).clamp(1, u64::from(u32::MAX)) as u32;
        if let Some((_, groups)) = tokens.shared_prefix {
            arrival.group = rand::Rng::random_range(rng, 0..groups);
        }
    }

    /// Integrates the number of requests in the system over the measured window, for Little's law.
    #[inline]
    fn change_in_system(&mut self, delta: i64) {
        self.in_system_area += u128::from(self.in_system) * u128::from(self.now - self.in_system_since);
        self.in_system_since = self.now;
        self.in_system = self.in_system.wrapping_add_signed(delta);
    }

    /// Ends the run at `at`, before its time (a sweep giving up, memory's bound reached).
    #[cold]
    fn stop(&mut self, at: Nanos) {
        self.stopped_at = Some(at);
        self.change_in_system(0);
        self.area_at_end = self.in_system_area;
    }

    #[cold]
    fn overflow(&mut self) {
        self.overflowed = true;
        self.stop(self.now);
    }

    #[cold]
    fn report_progress(&mut self, done: Nanos) {
        if let Some(progress) = &self.progress {
            progress.fetch_add(done.saturating_sub(self.progress_reported), Ordering::Relaxed);
            self.progress_reported = done;
        }
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

    /// Schedules `event` `delay` from now. `constant` says the delay is one of a few fixed values (a
    /// network hop, a constant distribution): the queue keeps such events in FIFO lanes.
    #[inline]
    fn schedule_in(&mut self, delay: Nanos, constant: bool, event: Event) {
        if constant {
            self.events.schedule_after(self.now, delay, event);
        } else {
            self.events.schedule(self.now.saturating_add(delay), event);
        }
    }

    #[inline]
    fn new_request(&mut self, request: Request) -> u32 {
        match self.free_requests.pop() {
            Some(id) => {
                self.requests[id as usize] = request;
                id
            }
            None => {
                if self.requests.len() >= self.max_requests && !self.overflowed {
                    self.overflow();
                }
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        }
    }
}

/// Run a model once.
pub fn run(model: &Model, options: &RunOptions) -> RunOutput {
    World::new(model, options).run()
}
