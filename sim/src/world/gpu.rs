//! GPUs shared by several models (`[gpu_sharing]`): replica slot `i` of every member's deployment
//! in a region is one GPU. Each model keeps its own queue, batcher and instances; the GPU couples
//! their speed. While k models execute at once, every execution progresses at
//! [`Interference::speed`]`(k)` of its dedicated speed, so a batch's finish moves whenever k
//! changes: each execution keeps the work it has left (in dedicated nanoseconds), and its
//! `GpuBatchDone` is rescheduled; one at another time than the instance's `gpu_done_at` is stale.
//!
//! Instances of one model running side by side do not slow each other here: a model's service
//! time was measured (or estimated) with its instances as configured.

use super::kind::KindEvent;
use super::{Event, World, NONE, NO_TIME};
use crate::model::{Interference, Model};
use crate::summary::{GpuGroupSummary, GpuMemorySummary};
use crate::units::{Nanos, GIB};

pub(super) struct SharedGpu {
    group: u32,
    /// Its replicas, one per member model (a fault on one is a fault of the whole server).
    pub(super) replicas: Vec<u32>,
    interference: Interference,
    /// Executions in progress.
    running: Vec<Execution>,
    /// Per member model of the group: executions in progress.
    per_model: Vec<u32>,
    models_running: u32,
    /// Work per nanosecond of each execution now.
    speed: f64,
    updated: Nanos,
}

/// A batch executing on a shared GPU: its instance, and its work in dedicated nanoseconds.
struct Execution {
    replica: u32,
    instance: u16,
    left: f64,
    work: f64,
}

/// Per group: what executions took against their dedicated time, measured after warm-up.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SharingMetrics {
    pub executions: u64,
    pub wall_nanos: f64,
    pub work_nanos: f64,
}

impl SharedGpu {
    /// Every group's GPUs, and per replica its GPU and its model's place in the group (NONE when
    /// dedicated). `first_replica(endpoint, region)` names a member's first replica there.
    pub(super) fn all(
        model: &Model,
        replica_count: usize,
        first_replica: impl Fn(usize, usize) -> u32,
    ) -> (Vec<SharedGpu>, Vec<(u32, u32)>) {
        let mut gpus = Vec::new();
        let mut placement = vec![(NONE, NONE); replica_count];
        for (g, group) in model.gpu_groups.iter().enumerate() {
            for (r, budget) in group.memory.iter().enumerate() {
                if budget.is_none() {
                    continue;
                }
                let replicas = model.site(group.members[0], r).primary.replicas;
                for slot in 0..replicas {
                    let gpu = gpus.len() as u32;
                    let mut on_it = Vec::with_capacity(group.members.len());
                    for (place, &endpoint) in group.members.iter().enumerate() {
                        let replica = first_replica(endpoint, r) + slot;
                        placement[replica as usize] = (gpu, place as u32);
                        on_it.push(replica);
                    }
                    gpus.push(SharedGpu {
                        group: g as u32,
                        replicas: on_it,
                        interference: group.interference,
                        running: Vec::with_capacity(group.members.len() * 4),
                        per_model: vec![0; group.members.len()],
                        models_running: 0,
                        speed: 1.0,
                        updated: 0,
                    });
                }
            }
        }
        (gpus, placement)
    }

    /// Takes the work done since the last change off every running execution.
    fn advance(&mut self, now: Nanos) {
        let done = (now - self.updated) as f64 * self.speed;
        for execution in &mut self.running {
            execution.left -= done;
        }
        self.updated = now;
    }
}

impl World<'_> {
    /// A batch of `work` dedicated nanoseconds starts on `instance` of `replica`, whose model is
    /// `place` in the group of GPU `gpu`. Kept out of line: the dedicated path only tests for it.
    #[inline(never)]
    pub(super) fn gpu_start(&mut self, gpu: u32, place: u32, replica: u32, instance: u16, work: Nanos) {
        let now = self.now;
        let state = &mut self.gpus[gpu as usize];
        state.advance(now);
        state.running.push(Execution { replica, instance, left: work as f64, work: work as f64 });
        state.per_model[place as usize] += 1;
        if state.per_model[place as usize] == 1 {
            state.models_running += 1;
            self.respeed(gpu);
        } else {
            self.schedule_gpu_done(gpu, state_last(&self.gpus[gpu as usize]));
        }
    }

    /// A `GpuBatchDone`: stale unless it is at the instance's `gpu_done_at` (a rescheduled finish
    /// may land on the old one's instant: the first to arrive clears it); otherwise the execution
    /// leaves the GPU (the others speed up) and the batch ends.
    pub(super) fn on_gpu_batch_done(&mut self, replica: u32, instance: u16) {
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        let (gpu, place) = (state.gpu, state.gpu_place);
        let running = &mut state.batcher_mut().instances[instance as usize];
        if running.gpu_done_at != now {
            return;
        }
        running.gpu_done_at = NO_TIME;
        let warm = running.started >= self.model.warmup;
        let started = running.started;
        let gpu_state = &mut self.gpus[gpu as usize];
        gpu_state.advance(now);
        let at = gpu_state
            .running
            .iter()
            .position(|e| e.replica == replica && e.instance == instance)
            .expect("a running execution is on its GPU");
        let work = gpu_state.running.swap_remove(at).work;
        if warm {
            let metrics = &mut self.sharing_metrics[gpu_state.group as usize];
            metrics.executions += 1;
            metrics.wall_nanos += (now - started) as f64;
            metrics.work_nanos += work;
        }
        gpu_state.per_model[place as usize] -= 1;
        if gpu_state.per_model[place as usize] == 0 {
            gpu_state.models_running -= 1;
            self.respeed(gpu);
        }
        self.on_batch_done(replica, instance);
    }

    /// The replicas a fault on `replica` strikes: every model on its shared GPU (one server
    /// process), or itself alone.
    pub(super) fn server_of(&self, replica: u32) -> Vec<u32> {
        match self.replicas[replica as usize].gpu {
            NONE => vec![replica],
            gpu => self.gpus[gpu as usize].replicas.clone(),
        }
    }

    /// The number of models executing changed: every execution's finish moves to its new speed.
    fn respeed(&mut self, gpu: u32) {
        let state = &mut self.gpus[gpu as usize];
        state.speed = state.interference.speed(state.models_running);
        for k in 0..state.running.len() {
            self.schedule_gpu_done(gpu, k);
        }
    }

    /// (Re)schedules the end of the `k`-th running execution of `gpu` at its current speed.
    fn schedule_gpu_done(&mut self, gpu: u32, k: usize) {
        let state = &self.gpus[gpu as usize];
        let Execution { replica, instance, left, .. } = state.running[k];
        let at = self.now.saturating_add((left.max(0.0) / state.speed).ceil() as Nanos);
        self.replicas[replica as usize].batcher_mut().instances[instance as usize].gpu_done_at = at;
        self.events.schedule(at, Event::Kind(KindEvent::GpuBatchDone { replica, instance }));
    }
}

/// Each group's summary: its memory check per region and the stretch its batches measured.
pub(super) fn summaries(
    model: &Model,
    metrics: &[SharingMetrics],
) -> std::collections::BTreeMap<String, GpuGroupSummary> {
    let gib = |bytes: f64| bytes / GIB;
    model
        .gpu_groups
        .iter()
        .zip(metrics)
        .map(|(group, measured)| {
            let regions = model
                .regions
                .iter()
                .zip(&group.memory)
                .enumerate()
                .filter_map(|(r, (region, budget))| {
                    let budget = budget.as_ref()?;
                    let gpus = model.site(group.members[0], r).primary.replicas;
                    let memory = GpuMemorySummary { gpus, gpu_gib: gib(budget.gpu), needed_gib: gib(budget.needed()) };
                    Some((region.name.clone(), memory))
                })
                .collect();
            let summary = GpuGroupSummary {
                mode: match group.interference {
                    Interference::TimeSliced { .. } => "time_sliced".into(),
                    Interference::Mps { .. } => "mps".into(),
                },
                models: group.members.iter().filter_map(|&e| model.endpoint_name(e).map(String::from)).collect(),
                regions,
                executions: measured.executions,
                stretch: (measured.work_nanos > 0.0).then(|| measured.wall_nanos / measured.work_nanos),
            };
            (group.name.clone(), summary)
        })
        .collect()
}

fn state_last(state: &SharedGpu) -> usize {
    state.running.len() - 1
}
