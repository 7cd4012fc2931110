//! A replica's side of a request that every replica kind shares: balancing onto a replica,
//! pre- and post-processing (delays or a CPU worker pool), letting go of the request. What
//! happens between pre- and post-processing is the replica kind's (`batcher.rs`).

use super::request::{Stage, Stamp};
use super::{serving_of, Event, Outcome, World, NONE};
use crate::metrics::Phase;
use crate::model::ServingModel;
use crate::units::Nanos;

impl World<'_> {
    pub(super) fn enter_replica(&mut self, id: u32, replica: u32) {
        let pool = self.requests[id as usize].pool;
        let generation = self.replicas[replica as usize].generation;
        let request = &mut self.requests[id as usize];
        request.replica = replica;
        request.served_by = replica;
        request.generation = generation;
        request.stage = Stage::Pre;
        self.stamp(id, Stamp::EnteredReplica);
        self.replicas[replica as usize].outstanding += 1;
        let serving = serving_of(&self.pools, pool);
        if !self.hops_anywhere {
            return self.start_pre(replica, id, serving);
        }
        if let Some(jitter) = &serving.jitter {
            let rng = self.replicas[replica as usize].jitter_rng.as_mut().expect("a jittered replica has its stream");
            let delay = jitter.sample(rng);
            // Outside the server: no pause of its delays this.
            self.events.schedule(self.now.saturating_add(delay), Event::JitterDone { request: id });
        } else {
            self.reach_server(replica, id);
        }
    }

    /// The request reaches the server process: its proxy, or pre-processing.
    #[inline]
    pub(super) fn reach_server(&mut self, replica: u32, id: u32) {
        let serving = serving_of(&self.pools, self.requests[id as usize].pool);
        if self.replicas[replica as usize].proxy.is_some() {
            self.proxy_submit(replica, id);
        } else {
            self.start_pre(replica, id, serving);
        }
    }

    /// Pre-processing begins (past the proxy, if any).
    #[inline]
    pub(super) fn start_pre(&mut self, replica: u32, id: u32, serving: &ServingModel) {
        match &serving.pre {
            Some(_) if serving.cpu_workers.is_some() => self.cpu_submit(replica, id),
            Some(pre) => {
                self.stamp(id, Stamp::PreStarted);
                let delay = pre.sample(&mut self.replicas[replica as usize].overhead_rng);
                self.schedule_work(replica, delay, pre.is_constant(), Event::StageDone { request: id });
            }
            None => {
                self.stamp(id, Stamp::PreStarted);
                self.admit(replica, id);
            }
        }
    }

    /// The replica in the pool's load balancer that takes request `id`.
    #[inline]
    pub(super) fn balance(&mut self, pool: u32, id: u32) -> u32 {
        let state = &mut self.pools[pool as usize];
        let serving = state.serving.expect("balanced pools serve");
        let balancer = serving.balancer;
        if balancer == crate::policy::balance::Balancer::EndpointPicker {
            if let Some(picker) = serving.kind.llm().and_then(|engine| engine.picker.as_ref()) {
                return self.pick_endpoint(pool, id, picker);
            }
        }
        let state = &mut self.pools[pool as usize];
        let lb = &state.lb;
        let replicas = &self.replicas;
        let index = state.balancing.pick(balancer, lb.len() as u32, |k| replicas[lb[k as usize] as usize].outstanding);
        state.lb[index as usize]
    }

    /// Whether an event about `id` at its replica comes from before a crash of that replica.
    #[inline]
    pub(super) fn stale(&self, id: u32) -> bool {
        let request = &self.requests[id as usize];
        request.replica == NONE || self.replicas[request.replica as usize].generation != request.generation
    }

    pub(super) fn on_stage_done(&mut self, id: u32) {
        if self.stale(id) {
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let request = self.requests[id as usize];
        match request.stage {
            Stage::Pre => self.admit(request.replica, id),
            Stage::Post => self.post_done(request.replica, id),
        }
    }

    /// Post-processing is done: the answer leaves, through the proxy if there is one.
    #[inline]
    fn post_done(&mut self, replica: u32, id: u32) {
        if self.hops_anywhere && self.replicas[replica as usize].proxy.is_some() {
            self.proxy_submit(replica, id);
        } else {
            self.stamp(id, Stamp::Departed);
            self.depart(id);
        }
    }

    /// A stage's time on a CPU worker, and whether it is a constant.
    pub(super) fn stage_time(&mut self, replica: u32, stage: Stage) -> (Nanos, bool) {
        let serving = serving_of(&self.pools, self.replicas[replica as usize].pool);
        let dist = match stage {
            Stage::Pre => serving.pre.as_ref(),
            Stage::Post => serving.post.as_ref(),
        };
        dist.map_or((0, true), |d| (d.sample(&mut self.replicas[replica as usize].overhead_rng), d.is_constant()))
    }

    #[cold]
    pub(super) fn cpu_submit(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        if state.cpu_idle > 0 {
            state.cpu_idle -= 1;
            let stage = self.requests[id as usize].stage;
            self.stamp(id, if stage == Stage::Pre { Stamp::PreStarted } else { Stamp::PostStarted });
            let (time, constant) = self.stage_time(replica, stage);
            let stretch = self.host_contention(replica);
            if stretch > 1.0 {
                self.schedule_work(replica, (time as f64 * stretch) as Nanos, false, Event::CpuDone { request: id });
            } else {
                self.schedule_work(replica, time, constant, Event::CpuDone { request: id });
            }
            return;
        }
        let capacity = serving_of(&self.pools, state.pool).queue_capacity as usize;
        if self.requests[id as usize].stage == Stage::Pre && state.cpu_waiting.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
        } else {
            state.cpu_waiting.push_back(id);
        }
    }

    /// How much longer work that starts now on `replica` takes because its host's cores are shared
    /// (`host_cores`): running threads (batches and busy CPU workers, the starting one already
    /// counted) over cores, at least 1. Processor sharing, fixed when the work starts.
    pub(super) fn host_contention(&self, replica: u32) -> f64 {
        let state = &self.replicas[replica as usize];
        let serving = serving_of(&self.pools, state.pool);
        let Some(cores) = serving.host_cores else {
            return 1.0;
        };
        let batches = self.units_running(replica);
        let workers = serving.cpu_workers.unwrap_or(0) - state.cpu_idle;
        let proxies = state.proxy.as_ref().map_or(0, |proxy| proxy.busy());
        (f64::from(batches + workers + proxies) / f64::from(cores)).max(1.0)
    }

    #[cold]
    pub(super) fn on_cpu_done(&mut self, id: u32) {
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

    /// The replica lets go of a request (answered, refused or failed).
    #[inline]
    pub(super) fn release(&mut self, id: u32) {
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

    /// The replica kind is done with the request: post-processing, then the answer departs.
    #[inline]
    pub(super) fn leave_service(&mut self, replica: u32, id: u32) {
        self.requests[id as usize].stage = Stage::Post;
        let serving = serving_of(&self.pools, self.replicas[replica as usize].pool);
        match &serving.post {
            Some(_) if serving.cpu_workers.is_some() => self.cpu_submit(replica, id),
            Some(post) => {
                self.stamp(id, Stamp::PostStarted);
                let delay = post.sample(&mut self.replicas[replica as usize].overhead_rng);
                self.schedule_work(replica, delay, post.is_constant(), Event::StageDone { request: id });
            }
            None => {
                self.stamp(id, Stamp::PostStarted);
                self.post_done(replica, id);
            }
        }
    }
}
