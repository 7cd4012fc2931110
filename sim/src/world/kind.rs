//! The one place the world dispatches on a replica's kind. Everything between pre- and
//! post-processing belongs to the kind: how requests wait, what runs together, when a unit of
//! work ends, what a crash fails. A new kind is a variant in [`KindState`] (and in
//! `model::ReplicaKind`), its events under [`KindEvent`], and an arm in every match below: the
//! compiler lists each place.

use super::batcher::BatcherState;
use super::llm::LlmState;
use super::World;
use crate::model::{ReplicaKind, ServingModel};
use crate::units::Nanos;

/// What a replica of each kind keeps.
pub(super) enum KindState {
    /// Triton's dynamic batcher (`batcher.rs`).
    Batcher(BatcherState),
    /// An LLM engine (`llm.rs`).
    Llm(LlmState),
}

/// The replica kinds' own events, nested under `Event::Kind`.
#[derive(Clone, Copy, Debug)]
pub(super) enum KindEvent {
    /// The dynamic batcher's delay for the oldest request ran out.
    BatchTimer { replica: u32 },
    /// A batch on a dedicated instance ended.
    BatchDone { replica: u32, instance: u16 },
    /// A batch on a shared GPU ends, unless its finish has moved since (`gpu.rs`).
    GpuBatchDone { replica: u32, instance: u16 },
    /// An LLM engine's iteration ended (stale unless `step` is still its current one).
    LlmStepDone { replica: u32, step: u16 },
    /// A prefilled request's KV cache reached its decode replica (disaggregated serving).
    KvTransferDone { request: u32 },
}

impl KindState {
    /// The state of slot `slot` of a deployment serving `serving`.
    pub(super) fn new(serving: &ServingModel, slot: u32) -> KindState {
        match &serving.kind {
            ReplicaKind::DynamicBatcher(_) => KindState::Batcher(BatcherState::new(serving)),
            ReplicaKind::Llm(_) => KindState::Llm(LlmState::new(serving, slot)),
        }
    }
}

impl World<'_> {
    /// Pre-processing done: the request is the kind's.
    #[inline(always)]
    pub(super) fn admit(&mut self, replica: u32, id: u32) {
        match self.replicas[replica as usize].kind {
            KindState::Batcher(_) => self.batcher_admit(replica, id),
            KindState::Llm(_) => self.llm_admit(replica, id),
        }
    }

    #[inline(always)]
    pub(super) fn on_kind_event(&mut self, event: KindEvent) {
        match event {
            KindEvent::BatchTimer { replica } => self.on_batch_timer(replica),
            KindEvent::BatchDone { replica, instance } => self.on_batch_done(replica, instance),
            KindEvent::GpuBatchDone { replica, instance } => self.on_gpu_batch_done(replica, instance),
            KindEvent::LlmStepDone { replica, step } => self.on_llm_step_done(replica, step),
            KindEvent::KvTransferDone { request } => self.on_kv_transfer_done(request),
        }
    }

    /// A crash: the requests waiting for the kind fail.
    pub(super) fn fail_waiting(&mut self, replica: u32) {
        match self.replicas[replica as usize].kind {
            KindState::Batcher(_) => self.batcher_fail_waiting(replica),
            KindState::Llm(_) => self.llm_fail_waiting(replica),
        }
    }

    /// A crash: the requests running fail now; their units of work end as scheduled, doing nothing.
    pub(super) fn fail_running(&mut self, replica: u32) {
        match self.replicas[replica as usize].kind {
            KindState::Batcher(_) => self.batcher_fail_running(replica),
            KindState::Llm(_) => self.llm_fail_running(replica),
        }
    }

    /// Nothing running (a draining replica may stop).
    pub(super) fn is_idle(&self, replica: u32) -> bool {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(batcher) => batcher.is_idle(),
            KindState::Llm(llm) => llm.is_idle(),
        }
    }

    /// `total` plus the busy unit-nanoseconds of the work still running, counted from `since` (the
    /// autoscaler's utilisation window; units as `ReplicaKind::instances` counts them).
    pub(super) fn add_busy_nanos_since(&self, replica: u32, since: Nanos, total: f64) -> f64 {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(_) => self.batcher_busy_nanos_since(replica, since, total),
            KindState::Llm(_) => self.llm_busy_nanos_since(replica, since, total),
        }
    }

    /// Requests waiting to be scheduled (the autoscaler's queue depth).
    pub(super) fn waiting(&self, replica: u32) -> usize {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(batcher) => batcher.waiting(),
            KindState::Llm(llm) => llm.waiting(),
        }
    }

    /// Units of work running now (threads on the host, for host-core contention).
    pub(super) fn units_running(&self, replica: u32) -> u32 {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(batcher) => batcher.running(),
            KindState::Llm(llm) => llm.running(),
        }
    }

    /// The fraction of the replica's KV cache in use (0 for kinds without one).
    pub(super) fn kv_usage(&self, replica: u32) -> f64 {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(_) => 0.0,
            KindState::Llm(llm) => {
                let serving = super::serving_of(&self.pools, self.replicas[replica as usize].pool);
                llm.kv_usage(serving.kind.llm().map_or(0, |engine| engine.kv_blocks))
            }
        }
    }

    /// Whether the replica serves only what another replica hands it (a disaggregated decode
    /// engine): it joins its pool's decode list, not the load balancer.
    pub(super) fn is_handed_work(&self, replica: u32) -> bool {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(_) => false,
            KindState::Llm(llm) => llm.decodes_only(),
        }
    }

    /// Whether the replica has capacity to lend a batch job now (nothing of its own waits).
    pub(super) fn lends_capacity(&self, replica: u32) -> bool {
        match &self.replicas[replica as usize].kind {
            KindState::Batcher(batcher) => batcher.lends_an_instance(),
            // An engine's idle iterations are not lent to batch jobs.
            KindState::Llm(_) => false,
        }
    }
}
