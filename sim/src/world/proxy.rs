//! What a request passes before the model server's own work: its jitter (`[serving.overhead]
//! jitter`, a pure delay outside the server), then a proxy hop (`[serving.overhead.proxy]`), whose
//! threads it passes on the way in (before pre-processing) and on the way out (after
//! post-processing), queueing FIFO for a free thread. The proxy's busy threads count among the
//! host's when cores are shared.

use super::request::{Stage, Stamp};
use super::{serving_of, Event, Outcome, World};
use crate::model::ProxyModel;
use crate::rng::Rng;
use std::collections::VecDeque;

/// One replica's proxy.
pub(super) struct ProxyState {
    model: ProxyModel,
    rng: Rng,
    pub(super) idle: u32,
    pub(super) waiting: VecDeque<u32>,
}

impl ProxyState {
    pub(super) fn new(model: ProxyModel, rng: Rng) -> Self {
        let idle = model.threads;
        ProxyState { model, rng, idle, waiting: VecDeque::new() }
    }

    /// Threads passing a request now.
    pub(super) fn busy(&self) -> u32 {
        self.model.threads - self.idle
    }
}

impl World<'_> {
    /// Request `id` reaches `replica`'s proxy, inbound (stage `Pre`) or outbound (`Post`).
    #[cold]
    pub(super) fn proxy_submit(&mut self, replica: u32, id: u32) {
        let Some(proxy) = self.replicas[replica as usize].proxy.as_mut() else {
            unreachable!("callers pass requests to a proxy only on replicas that have one")
        };
        if proxy.idle == 0 {
            proxy.waiting.push_back(id);
            return;
        }
        proxy.idle -= 1;
        let time = proxy.model.time.sample(&mut proxy.rng);
        let stretch = self.host_contention(replica);
        let time = if stretch > 1.0 { (time as f64 * stretch) as crate::units::Nanos } else { time };
        self.schedule_work(replica, time, false, Event::ProxyDone { request: id });
    }

    #[cold]
    pub(super) fn on_proxy_done(&mut self, id: u32) {
        // The thread is free whatever became of the request (see `on_cpu_done`).
        let replica = self.requests[id as usize].replica;
        let Some(proxy) = self.replicas[replica as usize].proxy.as_mut() else {
            unreachable!("only a proxy schedules ProxyDone")
        };
        proxy.idle += 1;
        if let Some(next) = proxy.waiting.pop_front() {
            self.proxy_submit(replica, next);
        }
        if self.stale(id) {
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        match self.requests[id as usize].stage {
            Stage::Pre => self.start_pre(replica, id, serving_of(&self.pools, self.requests[id as usize].pool)),
            Stage::Post => {
                self.stamp(id, Stamp::Departed);
                self.depart(id);
            }
        }
    }
}

impl World<'_> {
    #[cold]
    pub(super) fn on_jitter_done(&mut self, id: u32) {
        if self.stale(id) {
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        self.reach_server(self.requests[id as usize].replica, id);
    }
}
