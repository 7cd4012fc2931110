//! Pipeline endpoints: a request that reaches a region where its endpoint is a pipeline runs the
//! stages in order. Each stage calls its endpoints in the same region as requests of their own
//! (children: counted, queued and served by the callee like any request, but never retried by a
//! client, never in `mean_in_system` and never in the request records) and joins on all answers or
//! the first `needed`. A stage ends when it has enough answers, when too many calls failed for it
//! to get them, or at its timeout (or the client's deadline, whichever is first). A failed optional
//! stage degrades the answer; a failed required one is a server error (the pipeline's fallback, or
//! the client's retry). A child that answers after its stage ended is counted by its endpoint and
//! otherwise ignored: each stage has a token, and only its own children and timeout match it.

use super::request::{Outcome, Request, Stamp};
use super::{Event, World, NONE, NO_TIME};
use crate::metrics::new_interval_histogram;
use crate::model::PipelineModel;
use crate::units::Nanos;
use hdrhistogram::Histogram;

/// Per request slot, for pipeline scenarios only: a parent's stage in progress, or a child's
/// parent. Kept beside the requests (not in them) so that other scenarios' requests stay small.
#[derive(Clone, Copy, Debug)]
pub(super) struct CallSlot {
    /// A child's parent, its serial (the slot may hold another request by the time the child
    /// ends) and the token of the stage that called it (NONE: not a child).
    pub(super) parent: u32,
    pub(super) parent_serial: u64,
    pub(super) parent_token: u32,
    /// A parent's serial when its stage started: a timeout for a request gone is stale.
    serial: u64,
    /// A parent's current stage and its token (0: no stage running).
    stage: u32,
    token: u32,
    answers: u32,
    failures: u32,
    started: Nanos,
    /// When the first stage started: the pipeline's own time runs from here to its last stage.
    pipeline_started: Nanos,
    /// When the stage times out (NO_TIME: never); a `StageTimeout` at another time is stale.
    deadline: Nanos,
}

impl Default for CallSlot {
    fn default() -> Self {
        CallSlot {
            parent: NONE,
            parent_serial: 0,
            parent_token: 0,
            serial: 0,
            stage: 0,
            token: 0,
            answers: 0,
            failures: 0,
            started: 0,
            pipeline_started: 0,
            deadline: NO_TIME,
        }
    }
}

/// What a pipeline's stage measured in one region: how long it took when it ended (answered,
/// failed or timed out) and how often it failed, over the measured window.
#[derive(Clone, Debug)]
pub struct StageMetrics {
    pub latency: Histogram<u64>,
    pub latency_sum: f64,
    /// Stages run (by requests sent in the measured window).
    pub runs: u64,
    /// Of those, stages that failed or timed out.
    pub failed: u64,
}

impl StageMetrics {
    /// One per stage, then one for the whole run of the stages (first start to last end, for
    /// requests that got through every stage).
    pub(super) fn for_pipeline(pipeline: &PipelineModel) -> Vec<StageMetrics> {
        (0..=pipeline.stages.len())
            .map(|_| StageMetrics { latency: new_interval_histogram(), latency_sum: 0.0, runs: 0, failed: 0 })
            .collect()
    }

    pub fn merge(&mut self, other: &StageMetrics) {
        self.latency.add(&other.latency).expect("histograms share bounds");
        self.latency_sum += other.latency_sum;
        self.runs += other.runs;
        self.failed += other.failed;
    }
}

impl<'m> World<'m> {
    fn pipeline_of(&self, id: u32) -> &'m PipelineModel {
        self.pools[self.requests[id as usize].pool as usize].pipeline.expect("a pipeline's request")
    }

    /// Runs stage `k` of the pipeline request `id`: a token, a timeout, a call per endpoint.
    pub(super) fn start_stage(&mut self, id: u32, k: usize) {
        if self.calls.len() < self.requests.len() {
            self.calls.resize(self.requests.len(), CallSlot::default());
        }
        let pipeline = self.pipeline_of(id);
        let stage = &pipeline.stages[k];
        self.next_stage_token = self.next_stage_token.wrapping_add(1).max(1);
        let token = self.next_stage_token;
        let (client_deadline, serial) = (self.requests[id as usize].deadline, self.requests[id as usize].serial);
        let deadline = stage.timeout.map_or(NO_TIME, |t| self.now.saturating_add(t)).min(client_deadline);
        let slot = &mut self.calls[id as usize];
        slot.serial = serial;
        slot.stage = k as u32;
        slot.token = token;
        slot.answers = 0;
        slot.failures = 0;
        slot.started = self.now;
        if k == 0 {
            slot.pipeline_started = self.now;
        }
        slot.deadline = deadline;
        if deadline != NO_TIME {
            self.events.schedule(deadline, Event::StageTimeout { request: id });
        }
        for c in 0..stage.calls.len() {
            let callee = self.pipeline_of(id).stages[k].calls[c];
            // The parent's slot may have moved on if an earlier call ended the stage at once.
            if self.calls[id as usize].token != token {
                return;
            }
            self.call_endpoint(id, callee, token);
        }
    }

    /// A child request to `callee` in the parent's region, through that endpoint's frontend.
    fn call_endpoint(&mut self, parent: u32, callee: usize, token: u32) {
        let p = self.requests[parent as usize];
        let site = callee as u32 * self.model.regions.len() as u32 + p.region;
        let pool = self.sites[site as usize].primary;
        let timeout = self.pools[pool as usize].timeout;
        let mut child = Request::new(self.next_serial, p.origin, p.size, p.output_tokens, self.now);
        child.source = p.source;
        child.prefix = p.prefix;
        self.next_serial += 1;
        child.client = callee as u32 * self.model.regions.len() as u32 + p.origin;
        child.region = p.region;
        child.site = site;
        child.pool = pool;
        child.one_way = 0;
        child.call = true;
        child.deadline = timeout.map_or(NO_TIME, |t| self.now.saturating_add(t));
        let id = self.new_request(child);
        if self.calls.len() < self.requests.len() {
            self.calls.resize(self.requests.len(), CallSlot::default());
        }
        self.calls[id as usize] =
            CallSlot { parent, parent_serial: p.serial, parent_token: token, ..CallSlot::default() };
        self.stamp(id, Stamp::AttemptSent);
        self.pools[pool as usize].metrics.interval.counts.offered += 1;
        self.sites[site as usize].assigned += 1;
        self.requests[id as usize].assigned_to = site;
        self.on_reach_region(id);
    }

    /// A child ended (`finish` calls this after freeing it): its stage counts the answer or the
    /// failure, and ends when the join has enough of either.
    pub(super) fn on_call_done(&mut self, call: CallSlot, outcome: Outcome) {
        let parent = call.parent;
        let slot = &self.calls[parent as usize];
        if slot.token != call.parent_token || self.requests[parent as usize].serial != call.parent_serial {
            return; // its stage is over, or its request is gone
        }
        let answered = matches!(outcome, Outcome::Completed | Outcome::Degraded);
        if outcome == Outcome::Degraded {
            self.requests[parent as usize].degraded = true;
        }
        let slot = &mut self.calls[parent as usize];
        if answered {
            slot.answers += 1;
        } else {
            slot.failures += 1;
        }
        let (answers, failures, k) = (slot.answers, slot.failures, slot.stage as usize);
        let stage = &self.pipeline_of(parent).stages[k];
        let calls = stage.calls.len() as u32;
        if answers >= stage.needed {
            self.end_stage(parent, true);
        } else if failures > calls - stage.needed {
            self.end_stage(parent, false);
        }
    }

    #[cold]
    pub(super) fn on_stage_timeout(&mut self, id: u32) {
        let slot = self.calls[id as usize];
        if slot.token == 0 || slot.deadline != self.now || slot.serial != self.requests[id as usize].serial {
            return; // the stage ended before, or the slot holds another request now
        }
        if self.now >= self.requests[id as usize].deadline {
            // The client gave up: nothing is waited for any more.
            self.record_stage(id, false);
            self.calls[id as usize].token = 0;
            self.finish(id, Outcome::TimedOut);
            return;
        }
        self.end_stage(id, false);
    }

    fn record_stage(&mut self, id: u32, answered: bool) {
        let slot = self.calls[id as usize];
        let request = &self.requests[id as usize];
        if request.sent < self.model.warmup {
            return;
        }
        let stages = &mut self.pools[request.pool as usize].stages;
        let metrics = &mut stages[slot.stage as usize];
        let took = self.now - slot.started;
        metrics.latency.saturating_record(took);
        metrics.latency_sum += took as f64;
        metrics.runs += 1;
        metrics.failed += u64::from(!answered);
    }

    /// The stage is over: the next one, the answer, or (a required stage failed) a server error.
    fn end_stage(&mut self, id: u32, answered: bool) {
        self.record_stage(id, answered);
        let slot = &mut self.calls[id as usize];
        slot.token = 0;
        slot.deadline = NO_TIME;
        let k = slot.stage as usize;
        let pipeline = self.pipeline_of(id);
        if !answered {
            if !pipeline.stages[k].optional {
                self.server_error(id, Outcome::Failed, true);
                return;
            }
            self.requests[id as usize].degraded = true;
        }
        if k + 1 < pipeline.stages.len() {
            self.start_stage(id, k + 1);
            return;
        }
        let request = &self.requests[id as usize];
        if request.sent >= self.model.warmup {
            let took = self.now - self.calls[id as usize].pipeline_started;
            let pool = &mut self.pools[request.pool as usize];
            let total = pool.stages.last_mut().expect("a pipeline's pool keeps its whole run last");
            total.latency.saturating_record(took);
            total.latency_sum += took as f64;
            total.runs += 1;
        }
        let one_way = self.requests[id as usize].one_way;
        self.unassign(id);
        if one_way == 0 {
            self.on_respond(id);
        } else {
            self.schedule_in(one_way, true, Event::Respond { request: id });
        }
    }
}
