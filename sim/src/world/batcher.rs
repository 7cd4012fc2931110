//! The Triton dynamic batcher as a replica kind: a bounded FIFO queue per replica and model
//! instances that each run one batch at a time; [`DynamicBatching::decide`] says when a batch goes.
//!
//! The replica kind's interface to the rest of the world (`replica.rs` calls these):
//! `admit` (pre-processing done), `on_batch_timer`, `on_batch_done` (which hands each request to
//! `leave_service`), `fail_waiting` and `fail_running` (a crash), `waiting`, `is_idle` and
//! `busy_nanos_since` (draining and the autoscaler's metrics).

use super::request::Stamp;
use super::{overlap, serving_of, Event, Outcome, World, NONE, NO_TIME};
use crate::metrics::Phase;
use crate::model::ServingModel;
use crate::policy::batching::{Dispatch, DynamicBatching};
use crate::units::Nanos;
use std::collections::VecDeque;

/// A model instance: runs one batch at a time.
pub(super) struct Instance {
    pub(super) replica: u32,
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
}

/// One replica's batcher: its queue and its model instances.
pub(super) struct BatcherState {
    queue: VecDeque<u32>,
    idle_instances: u32,
    /// Idle model instances, as indices into `World::instances`.
    free_instances: Vec<u32>,
    /// The pending batch-timer time, or NO_TIME.
    timer_at: Nanos,
    /// When an instance last became free: where a window-rule batcher's windows start.
    window_open: Nanos,
    first_instance: u32,
}

impl BatcherState {
    /// Model instances running a batch now, out of `instances`.
    pub(super) fn running(&self, instances: u32) -> u32 {
        instances - self.idle_instances
    }
}

fn batching(serving: &ServingModel) -> &DynamicBatching {
    serving.kind.dynamic_batching().expect("batcher replicas belong to dynamic-batching deployments")
}

impl BatcherState {
    /// A replica's batcher, its instances appended to `instances`.
    pub(super) fn new(serving: &ServingModel, replica: u32, instances: &mut Vec<Instance>) -> BatcherState {
        let batching = batching(serving);
        let first_instance = instances.len() as u32;
        instances.extend((0..batching.instances).map(|_| Instance {
            replica,
            batch: Vec::with_capacity(batching.max_batch as usize),
            started: 0,
            batch_id: 0,
            dead: false,
            job_records: 0,
            gpu_done_at: NO_TIME,
        }));
        BatcherState {
            queue: VecDeque::with_capacity(serving.queue_capacity.min(4096) as usize),
            idle_instances: batching.instances,
            free_instances: (first_instance..first_instance + batching.instances).rev().collect(),
            timer_at: NO_TIME,
            window_open: 0,
            first_instance,
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
    pub(super) fn admit(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        let capacity = serving_of(&self.pools, state.pool).queue_capacity as usize;
        if state.batcher.queue.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
            return;
        }
        state.batcher.queue.push_back(id);
        self.pools[state.pool as usize].queued += 1;
        self.stamp(id, Stamp::Enqueued);
        self.try_dispatch(replica);
    }

    pub(super) fn on_batch_timer(&mut self, replica: u32) {
        let batcher = &mut self.replicas[replica as usize].batcher;
        if batcher.timer_at == self.now {
            batcher.timer_at = NO_TIME;
        }
        self.try_dispatch(replica);
    }

    /// While an instance is free and the policy says send, start batches; otherwise set a timer for
    /// the moment the policy names.
    #[inline]
    pub(super) fn try_dispatch(&mut self, replica: u32) {
        loop {
            let state = &mut self.replicas[replica as usize];
            if state.batcher.idle_instances == 0 || state.phase == Phase::Down {
                return;
            }
            let Some(&oldest) = state.batcher.queue.front() else {
                if !self.shared_jobs.is_empty() {
                    self.fill_with_job(replica);
                }
                return;
            };
            let waiting = state.batcher.queue.len() as u32;
            let enqueued = self.requests[oldest as usize].at(Stamp::Enqueued);
            let window_open = state.batcher.window_open;
            match batching(serving_of(&self.pools, state.pool)).decide(waiting, enqueued, self.now, window_open) {
                Dispatch::Send(take) => self.start_batch(replica, take),
                Dispatch::WaitUntil(ready_at) => {
                    if state.batcher.timer_at != ready_at {
                        state.batcher.timer_at = ready_at;
                        self.events.schedule(ready_at, Event::BatchTimer { replica });
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
        let instance = state.batcher.free_instances.pop().expect("an idle replica has a free instance");
        let mut batch = std::mem::take(&mut self.instances[instance as usize].batch);
        self.pools[pool as usize].queued -= u64::from(take);
        let mut longest = 0;
        for _ in 0..take {
            let id = self.replicas[replica as usize].batcher.queue.pop_front().expect("take ≤ queue length");
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
            state.batcher.free_instances.push(instance);
            return;
        }
        let size = batch.len() as u32;
        let mut service = serving.service.sample_sized(size, longest, &mut state.service_rng);
        if state.slow_factor != 1.0 {
            service = (service as f64 * state.slow_factor) as Nanos;
        }
        if state.batcher.idle_instances == serving.kind.instances() {
            self.pools[pool as usize].busy_replicas += 1;
        }
        state.batcher.idle_instances -= 1;
        let gpu = state.gpu;
        if serving.host_cores.is_some() {
            service = (service as f64 * self.host_contention(replica)) as Nanos;
        }
        if now >= model.warmup {
            self.pools[pool as usize].metrics.batch_sizes[size as usize] += 1;
        }
        // The requests learn their batch's number, start and length when it ends (one pass, not two).
        let running = &mut self.instances[instance as usize];
        running.batch = batch;
        running.started = now;
        running.batch_id = self.next_batch;
        self.next_batch += 1;
        if gpu == NONE {
            self.events.schedule(now.saturating_add(service), Event::BatchDone { instance });
        } else {
            self.gpu_start(gpu, self.replicas[replica as usize].gpu_place, instance, service);
        }
    }

    /// An idle instance of `replica` taken for a shared job's batch of `records`.
    pub(super) fn take_instance_for_job(&mut self, replica: u32, records: u32) -> u32 {
        let state = &mut self.replicas[replica as usize];
        let instances = serving_of(&self.pools, state.pool).kind.instances();
        let instance = state.batcher.free_instances.pop().expect("an idle replica has a free instance");
        if state.batcher.idle_instances == instances {
            self.pools[state.pool as usize].busy_replicas += 1;
        }
        state.batcher.idle_instances -= 1;
        let running = &mut self.instances[instance as usize];
        running.job_records = records;
        running.started = self.now;
        instance
    }

    /// An instance frees up; its batch's requests go on to post-processing.
    #[inline]
    pub(super) fn on_batch_done(&mut self, instance: u32) {
        let model = self.model;
        let running = &mut self.instances[instance as usize];
        let replica = running.replica;
        let state = &mut self.replicas[replica as usize];
        let instances = serving_of(&self.pools, state.pool).kind.instances();
        state.batcher.idle_instances += 1;
        state.batcher.window_open = self.now;
        if state.batcher.idle_instances == instances {
            self.pools[state.pool as usize].busy_replicas -= 1;
        }
        if running.dead {
            // Its replica crashed mid-batch; the requests already failed.
            running.dead = false;
            state.batcher.free_instances.push(instance);
            return;
        }
        let started = running.started;
        let batch_id = running.batch_id;
        let job_records = std::mem::take(&mut running.job_records);
        let mut batch = std::mem::take(&mut running.batch);
        let pool_state = &mut self.pools[state.pool as usize];
        pool_state.metrics.busy_nanos += overlap(started, self.now, model.warmup, model.duration);
        pool_state.window_busy += (self.now - started.max(pool_state.window_start)) as f64;
        if job_records > 0 {
            self.on_job_batch_done(replica, job_records, started);
        }
        let size = batch.len() as u32;
        for &id in &batch {
            let request = &mut self.requests[id as usize];
            request.stamps[Stamp::BatchStarted as usize] = started;
            request.batch = batch_id;
            request.batch_size = size;
            self.stamp(id, Stamp::ServiceDone);
            self.leave_service(replica, id);
        }
        batch.clear();
        self.instances[instance as usize].batch = batch;
        self.replicas[replica as usize].batcher.free_instances.push(instance);
        self.try_dispatch(replica);
    }

    /// A crash: the queued requests fail.
    pub(super) fn fail_waiting(&mut self, replica: u32) {
        let pool = self.replicas[replica as usize].pool;
        while let Some(id) = self.replicas[replica as usize].batcher.queue.pop_front() {
            self.pools[pool as usize].queued -= 1;
            self.server_error(id, Outcome::Failed, true);
        }
    }

    /// A crash: the running batches' requests fail now; the instances stay busy (dead) until their
    /// `BatchDone` frees them.
    pub(super) fn fail_running(&mut self, replica: u32) {
        let batcher = &self.replicas[replica as usize].batcher;
        let first = batcher.first_instance;
        let instances = serving_of(&self.pools, self.replicas[replica as usize].pool).kind.instances();
        for instance in first..first + instances {
            if self.instances[instance as usize].job_records > 0 && !self.instances[instance as usize].dead {
                let records = std::mem::take(&mut self.instances[instance as usize].job_records);
                self.instances[instance as usize].dead = true;
                self.on_job_batch_lost(replica, records);
                continue;
            }
            if self.instances[instance as usize].batch.is_empty() || self.instances[instance as usize].dead {
                continue;
            }
            let mut batch = std::mem::take(&mut self.instances[instance as usize].batch);
            self.instances[instance as usize].dead = true;
            for &id in &batch {
                self.server_error(id, Outcome::Failed, true);
            }
            batch.clear();
            self.instances[instance as usize].batch = batch;
        }
        self.replicas[replica as usize].batcher.timer_at = NO_TIME;
    }

    /// No batch running (a draining replica may stop).
    pub(super) fn is_idle(&self, replica: u32) -> bool {
        let state = &self.replicas[replica as usize];
        state.batcher.idle_instances == serving_of(&self.pools, state.pool).kind.instances()
    }

    /// `total` plus the instance-nanoseconds of the batches still running, counted from `since`
    /// (the autoscaler's utilisation window).
    pub(super) fn add_busy_nanos_since(&self, replica: u32, since: Nanos, total: f64) -> f64 {
        let state = &self.replicas[replica as usize];
        let first = state.batcher.first_instance;
        let instances = serving_of(&self.pools, state.pool).kind.instances();
        self.instances[first as usize..(first + instances) as usize]
            .iter()
            .filter(|instance| (!instance.batch.is_empty() || instance.job_records > 0) && !instance.dead)
            .fold(total, |sum, instance| sum + (self.now - instance.started.max(since)) as f64)
    }
}
