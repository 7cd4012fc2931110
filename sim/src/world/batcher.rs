//! The Triton dynamic batcher as a replica kind: a bounded FIFO queue per replica and model
//! instances that each run one batch at a time; [`DynamicBatching::decide`] says when a batch goes.
//!
//! The world reaches it only through `kind.rs`, which dispatches on the replica's kind: `admit`
//! (pre-processing done), its events (the batch timer, a batch's end), `fail_waiting` and
//! `fail_running` (a crash), `waiting`, `is_idle`, `add_busy_nanos_since` (draining and the
//! autoscaler's metrics), `running` (host contention) and `lends_an_instance` (shared jobs).

use super::kind::{KindEvent, KindState};
use super::request::Stamp;
use super::{overlap, serving_of, Event, Outcome, Replica, World, NONE, NO_TIME};
use crate::metrics::Phase;
use crate::model::ServingModel;
use crate::policy::batching::{BatchRule, Dispatch, DynamicBatching};
use crate::service::Step;
use crate::units::Nanos;
use std::collections::VecDeque;

/// A model instance: runs one batch at a time.
pub(super) struct Instance {
    batch: Vec<u32>,
    pub(super) started: Nanos,
    batch_id: u64,
    /// Its replica crashed mid-batch: the batch's requests already failed; the pending
    /// `BatchDone` only frees the instance.
    dead: bool,
    /// Records of a shared job's batch running here instead of requests (0: none).
    job_records: u32,
    /// On a shared GPU: when its batch ends at the current speed (a `GpuBatchDone` at another
    /// time is stale).
    pub(super) gpu_done_at: Nanos,
    /// Since when its batch could have started (an instance free, requests waiting) while the
    /// batcher waited for it to fill: its requests' `BatchReady`.
    ready_from: Nanos,
}

/// One replica's batcher: its queue and its model instances.
pub(super) struct BatcherState {
    queue: VecDeque<u32>,
    idle_instances: u32,
    /// Idle model instances, as indices into `instances`.
    free_instances: Vec<u16>,
    /// The pending batch-timer time, or NO_TIME.
    timer_at: Nanos,
    /// When an instance last became free: where a window-rule batcher's windows start.
    window_open: Nanos,
    /// Since when the batcher has held requests back with an instance free (NO_TIME: it is not).
    holding_since: Nanos,
    /// The arrival-window rule: batches formed and waiting for an instance (their sizes, in queue
    /// order), and the window being collected at the queue's back (its requests, its opening).
    formed: VecDeque<u32>,
    collecting: u32,
    collecting_since: Nanos,
    pub(super) instances: Vec<Instance>,
}

impl BatcherState {
    /// Model instances running a batch now.
    pub(super) fn running(&self) -> u32 {
        self.instances.len() as u32 - self.idle_instances
    }
}

impl Replica {
    /// The replica's batcher; `kind.rs` calls this file only for batcher replicas.
    #[inline]
    pub(super) fn batcher(&self) -> &BatcherState {
        match &self.kind {
            KindState::Batcher(batcher) => batcher,
            // Every kind is named: a new one is a compile error here, not a silent wildcard.
            KindState::Llm(_) => unreachable!("kind.rs dispatches batcher calls to batcher replicas only"),
        }
    }

    #[inline]
    pub(super) fn batcher_mut(&mut self) -> &mut BatcherState {
        match &mut self.kind {
            KindState::Batcher(batcher) => batcher,
            // Every kind is named: a new one is a compile error here, not a silent wildcard.
            KindState::Llm(_) => unreachable!("kind.rs dispatches batcher calls to batcher replicas only"),
        }
    }
}

fn batching(serving: &ServingModel) -> &DynamicBatching {
    serving.kind.dynamic_batching().expect("batcher replicas belong to dynamic-batching deployments")
}

impl BatcherState {
    /// A replica's batcher and its model instances.
    pub(super) fn new(serving: &ServingModel) -> BatcherState {
        let batching = batching(serving);
        let instances = (0..batching.instances)
            .map(|_| Instance {
                batch: Vec::with_capacity(batching.max_batch as usize),
                started: 0,
                batch_id: 0,
                dead: false,
                job_records: 0,
                gpu_done_at: NO_TIME,
                ready_from: 0,
            })
            .collect();
        BatcherState {
            queue: VecDeque::with_capacity(serving.queue_capacity.min(4096) as usize),
            idle_instances: batching.instances,
            // `MAX_INSTANCES` keeps an instance's number within a u16.
            free_instances: (0..batching.instances as u16).rev().collect(),
            timer_at: NO_TIME,
            window_open: 0,
            holding_since: NO_TIME,
            formed: VecDeque::new(),
            collecting: 0,
            collecting_since: 0,
            instances,
        }
    }

    /// Requests waiting in the queue.
    pub(super) fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// An instance is free and no request waits: room for a shared job's batch.
    pub(super) fn lends_an_instance(&self) -> bool {
        self.idle_instances > 0 && self.queue.is_empty()
    }
}

impl World<'_> {
    /// Pre-processing done: into the queue (or dropped when it is full).
    #[inline]
    pub(super) fn batcher_admit(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        let serving = serving_of(&self.pools, state.pool);
        let capacity = serving.queue_capacity as usize;
        let pool = state.pool;
        let batcher = state.batcher_mut();
        if batcher.queue.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
            return;
        }
        batcher.queue.push_back(id);
        self.pools[pool as usize].queued += 1;
        self.stamp(id, Stamp::Enqueued);
        let policy = batching(serving);
        if policy.rule == BatchRule::ArrivalWindow {
            self.collect(replica, policy);
        }
        self.try_dispatch(replica);
    }

    /// The arrival-window rule: a request joins the window being collected (opening one if none
    /// is), which becomes a batch when full or, with no delay, at once.
    #[cold]
    fn collect(&mut self, replica: u32, batching: &DynamicBatching) {
        let now = self.now;
        let batcher = self.replicas[replica as usize].batcher_mut();
        batcher.collecting += 1;
        if batcher.collecting == 1 && batching.max_queue_delay > 0 {
            batcher.collecting_since = now;
            let closes = now.saturating_add(batching.max_queue_delay);
            batcher.timer_at = closes;
            self.events.schedule(closes, Event::Kind(KindEvent::BatchTimer { replica }));
        }
        if batcher.collecting >= batching.max_batch || batching.max_queue_delay == 0 {
            let size = std::mem::take(&mut batcher.collecting);
            batcher.formed.push_back(size);
        }
    }

    pub(super) fn on_batch_timer(&mut self, replica: u32) {
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let delay = batching(serving_of(&self.pools, state.pool)).max_queue_delay;
        let batcher = state.batcher_mut();
        if batcher.timer_at == now {
            batcher.timer_at = NO_TIME;
        }
        // An arrival window closes (a timer of a window already formed full finds a younger one).
        if batcher.collecting > 0 && now >= batcher.collecting_since.saturating_add(delay) {
            let size = std::mem::take(&mut batcher.collecting);
            batcher.formed.push_back(size);
        }
        self.try_dispatch(replica);
    }

    /// While an instance is free and the policy says send, start batches; otherwise set a timer for
    /// the moment the policy names.
    #[inline]
    pub(super) fn try_dispatch(&mut self, replica: u32) {
        loop {
            let state = &mut self.replicas[replica as usize];
            let down = state.phase == Phase::Down;
            let pool = state.pool;
            let batcher = state.batcher_mut();
            if batcher.idle_instances == 0 || down {
                return;
            }
            let Some(&oldest) = batcher.queue.front() else {
                if !self.shared_jobs.is_empty() {
                    self.fill_with_job(replica);
                }
                return;
            };
            let policy = batching(serving_of(&self.pools, pool));
            if policy.rule == BatchRule::ArrivalWindow {
                match batcher.formed.pop_front() {
                    Some(size) => {
                        self.start_batch(replica, size);
                        continue;
                    }
                    None => return,
                }
            }
            let waiting = batcher.queue.len() as u32;
            let enqueued = self.requests[oldest as usize].at(Stamp::Enqueued);
            let window_open = batcher.window_open;
            match policy.decide(waiting, enqueued, self.now, window_open) {
                Dispatch::Send(take) => self.start_batch(replica, take),
                Dispatch::WaitUntil(ready_at) => {
                    if batcher.holding_since == NO_TIME {
                        batcher.holding_since = self.now;
                    }
                    if batcher.timer_at != ready_at {
                        batcher.timer_at = ready_at;
                        self.events.schedule(ready_at, Event::Kind(KindEvent::BatchTimer { replica }));
                    }
                    return;
                }
            }
        }
    }

    #[inline]
    fn start_batch(&mut self, replica: u32, take: u32) {
        let model = self.model;
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let serving = serving_of(&self.pools, pool);
        let batcher = state.batcher_mut();
        let instance = batcher.free_instances.pop().expect("an idle replica has a free instance");
        let ready_from = std::mem::replace(&mut batcher.holding_since, NO_TIME).min(now);
        batcher.instances[instance as usize].ready_from = ready_from;
        let mut batch = std::mem::take(&mut batcher.instances[instance as usize].batch);
        self.pools[pool as usize].queued -= u64::from(take);
        let mut longest = 0;
        let mut expired = false;
        let requests = &self.requests;
        for _ in 0..take {
            let id = batcher.queue.pop_front().expect("take ≤ queue length");
            let request = &requests[id as usize];
            expired |= request.deadline <= now;
            longest = longest.max(request.size);
            batch.push(id);
        }
        if expired {
            // Clients that have given up: discarded (in queue order) instead of spending the GPU.
            longest = 0;
            for &id in &batch {
                if self.requests[id as usize].deadline <= now {
                    self.discard(id, Outcome::TimedOut);
                } else {
                    longest = longest.max(self.requests[id as usize].size);
                }
            }
            let requests = &self.requests;
            batch.retain(|&id| requests[id as usize].deadline > now);
        }
        let state = &mut self.replicas[replica as usize];
        if batch.is_empty() {
            let batcher = state.batcher_mut();
            batcher.instances[instance as usize].batch = batch;
            batcher.free_instances.push(instance);
            return;
        }
        let size = batch.len() as u32;
        let mut service = serving.service.sample_step(&Step::batch(size, longest), &mut state.service_rng);
        if state.slow_factor != 1.0 {
            service = (service as f64 * state.slow_factor) as Nanos;
        }
        let (gpu, place) = (state.gpu, state.gpu_place);
        let batcher = state.batcher_mut();
        if batcher.idle_instances == batcher.instances.len() as u32 {
            self.pools[pool as usize].busy_replicas += 1;
        }
        batcher.idle_instances -= 1;
        // The requests learn their batch's number, start and length when it ends (one pass, not two).
        let running = &mut batcher.instances[instance as usize];
        running.batch = batch;
        running.started = now;
        running.batch_id = self.next_batch;
        self.next_batch += 1;
        if serving.host_cores.is_some() {
            service = (service as f64 * self.host_contention(replica)) as Nanos;
        }
        if now >= model.warmup {
            self.pools[pool as usize].metrics.batch_sizes[size as usize] += 1;
        }
        if gpu == NONE {
            self.schedule_work(replica, service, false, Event::Kind(KindEvent::BatchDone { replica, instance }));
        } else {
            self.gpu_start(gpu, place, replica, instance, service);
        }
    }

    /// An idle instance of `replica` taken for a shared job's batch of `records`.
    pub(super) fn take_instance_for_job(&mut self, replica: u32, records: u32) -> u16 {
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let batcher = state.batcher_mut();
        let instance = batcher.free_instances.pop().expect("an idle replica has a free instance");
        if batcher.idle_instances == batcher.instances.len() as u32 {
            self.pools[pool as usize].busy_replicas += 1;
        }
        batcher.idle_instances -= 1;
        let running = &mut batcher.instances[instance as usize];
        running.job_records = records;
        running.started = now;
        instance
    }

    /// An instance frees up; its batch's requests go on to post-processing.
    #[inline]
    pub(super) fn on_batch_done(&mut self, replica: u32, instance: u16) {
        let model = self.model;
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let batcher = state.batcher_mut();
        batcher.idle_instances += 1;
        batcher.window_open = now;
        if batcher.idle_instances == batcher.instances.len() as u32 {
            self.pools[pool as usize].busy_replicas -= 1;
        }
        let running = &mut batcher.instances[instance as usize];
        if running.dead {
            // Its replica crashed mid-batch; the requests already failed.
            running.dead = false;
            batcher.free_instances.push(instance);
            return;
        }
        let started = running.started;
        let ready_from = running.ready_from;
        let batch_id = running.batch_id;
        let job_records = std::mem::take(&mut running.job_records);
        let mut batch = std::mem::take(&mut running.batch);
        let pool_state = &mut self.pools[pool as usize];
        pool_state.metrics.busy_nanos += overlap(started, now, model.warmup, model.duration);
        pool_state.window_busy += (now - started.max(pool_state.window_start)) as f64;
        if job_records > 0 {
            self.on_job_batch_done(replica, job_records, started);
        }
        let size = batch.len() as u32;
        for &id in &batch {
            let request = &mut self.requests[id as usize];
            request.stamps[Stamp::BatchStarted as usize] = started;
            request.stamps[Stamp::BatchReady as usize] = ready_from.max(request.at(Stamp::Enqueued));
            request.batch = batch_id;
            request.batch_size = size;
            self.stamp(id, Stamp::ServiceDone);
            self.leave_service(replica, id);
        }
        batch.clear();
        let batcher = self.replicas[replica as usize].batcher_mut();
        batcher.instances[instance as usize].batch = batch;
        batcher.free_instances.push(instance);
        self.try_dispatch(replica);
    }

    /// A crash: the queued requests fail.
    pub(super) fn batcher_fail_waiting(&mut self, replica: u32) {
        let pool = self.replicas[replica as usize].pool;
        while let Some(id) = self.replicas[replica as usize].batcher_mut().queue.pop_front() {
            self.pools[pool as usize].queued -= 1;
            self.server_error(id, Outcome::Failed, true);
        }
        let batcher = self.replicas[replica as usize].batcher_mut();
        batcher.formed.clear();
        batcher.collecting = 0;
    }

    /// A crash: the running batches' requests fail now; the instances stay busy (dead) until their
    /// `BatchDone` frees them.
    pub(super) fn batcher_fail_running(&mut self, replica: u32) {
        let instances = self.replicas[replica as usize].batcher().instances.len();
        for instance in 0..instances {
            let running = &mut self.replicas[replica as usize].batcher_mut().instances[instance];
            if running.job_records > 0 && !running.dead {
                let records = std::mem::take(&mut running.job_records);
                running.dead = true;
                self.on_job_batch_lost(replica, records);
                continue;
            }
            if running.batch.is_empty() || running.dead {
                continue;
            }
            let mut batch = std::mem::take(&mut running.batch);
            running.dead = true;
            for &id in &batch {
                self.server_error(id, Outcome::Failed, true);
            }
            batch.clear();
            self.replicas[replica as usize].batcher_mut().instances[instance].batch = batch;
        }
        self.replicas[replica as usize].batcher_mut().timer_at = NO_TIME;
    }

    /// `total` plus the instance-nanoseconds of the batches still running, counted from `since`
    /// (the autoscaler's utilisation window).
    pub(super) fn batcher_busy_nanos_since(&self, replica: u32, since: Nanos, total: f64) -> f64 {
        self.replicas[replica as usize]
            .batcher()
            .instances
            .iter()
            .filter(|instance| (!instance.batch.is_empty() || instance.job_records > 0) && !instance.dead)
            .fold(total, |sum, instance| sum + (self.now - instance.started.max(since)) as f64)
    }
}

impl BatcherState {
    /// No batch running (a draining replica may stop).
    pub(super) fn is_idle(&self) -> bool {
        self.idle_instances == self.instances.len() as u32
    }
}
