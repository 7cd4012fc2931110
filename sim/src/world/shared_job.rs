//! A batch job on shared capacity: its scoring batches run on the idle model instances of an online
//! region's primary replicas, online requests first. A job batch starts only on a ready replica
//! whose queue is empty; once started it runs to the end (an online request arriving meanwhile
//! waits for it, as it would behind an online batch); a crash loses it and its records go back.

use super::kind::KindEvent;
use super::{Event, World};
use crate::metrics::Phase;
use crate::rng::Rng;
use crate::service::BatchLatency;
use crate::units::Nanos;
use std::sync::Arc;

/// What became of a shared job in one run.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedJobRun {
    /// Index in the scenario's `[[jobs]]`.
    pub job: usize,
    pub records: u64,
    pub records_scored: u64,
    pub batches: u64,
    /// Batches lost to a crash of their replica (their records were scored again).
    pub batches_lost: u64,
    pub started: Nanos,
    /// When the last record was scored; None when the run ended first.
    pub finished: Option<Nanos>,
    /// Instance-nanoseconds spent on the job's batches.
    pub busy_nanos: f64,
}

pub(super) struct SharedJob {
    region: u32,
    batch_records: u64,
    latency: Arc<dyn BatchLatency>,
    rng: Rng,
    /// Records not yet handed to an instance.
    to_start: u64,
    active: bool,
    run: SharedJobRun,
}

impl SharedJob {
    /// The model's shared jobs, and per region the one that shares it.
    pub(super) fn all(world_model: &crate::model::Model, seed: u64) -> (Vec<SharedJob>, Vec<Option<u32>>) {
        let mut by_region = vec![None; world_model.regions.len()];
        let mut jobs = Vec::new();
        for (index, job) in world_model.jobs.iter().enumerate() {
            let Some(shared) = job.shared else { continue };
            by_region[shared.region] = Some(jobs.len() as u32);
            jobs.push(SharedJob {
                region: shared.region as u32,
                batch_records: u64::from(job.batch_records),
                latency: job.latency.clone(),
                rng: crate::rng::stream(seed, &format!("shared-job/{index}/{}", job.name)),
                to_start: job.records,
                active: false,
                run: SharedJobRun {
                    job: index,
                    records: job.records,
                    records_scored: 0,
                    batches: 0,
                    batches_lost: 0,
                    started: shared.at,
                    finished: None,
                    busy_nanos: 0.0,
                },
            });
        }
        (jobs, by_region)
    }

    pub(super) fn into_run(self) -> SharedJobRun {
        self.run
    }
}

impl World<'_> {
    pub(super) fn schedule_shared_jobs(&mut self) {
        for (j, job) in self.shared_jobs.iter().enumerate() {
            self.events.schedule(job.run.started, Event::SharedJobStart { job: j as u32 });
        }
    }

    pub(super) fn on_shared_job_start(&mut self, job: u32) {
        self.shared_jobs[job as usize].active = true;
        let pool = self.sites[self.shared_jobs[job as usize].region as usize].primary;
        let first = self.pools[pool as usize].first_replica;
        for replica in first..first + self.pools[pool as usize].slots {
            self.fill_with_job(replica);
        }
    }

    /// A replica with an empty queue gives its idle instances to the region's shared job.
    #[cold]
    pub(super) fn fill_with_job(&mut self, replica: u32) {
        let pool = self.replicas[replica as usize].pool;
        let region = self.pools[pool as usize].region;
        let Some(j) = self.shared_by_region[region as usize] else { return };
        if self.sites[region as usize].primary != pool || self.replicas[replica as usize].phase != Phase::Ready {
            return;
        }
        loop {
            let lends = self.lends_capacity(replica);
            let job = &mut self.shared_jobs[j as usize];
            let state = &mut self.replicas[replica as usize];
            if !job.active || job.to_start == 0 || !lends {
                return;
            }
            let records = job.to_start.min(job.batch_records);
            job.to_start -= records;
            let mut service = job.latency.sample(records as u32, &mut job.rng);
            if state.slow_factor != 1.0 {
                service = (service as f64 * state.slow_factor) as Nanos;
            }
            let instance = self.take_instance_for_job(replica, records as u32);
            self.events
                .schedule(self.now.saturating_add(service), Event::Kind(KindEvent::BatchDone { replica, instance }));
        }
    }

    /// A job batch of `records` finished on `replica`.
    #[cold]
    pub(super) fn on_job_batch_done(&mut self, replica: u32, records: u32, started: Nanos) {
        let region = self.pools[self.replicas[replica as usize].pool as usize].region;
        let j = self.shared_by_region[region as usize].expect("a job batch ran for the region's job");
        let job = &mut self.shared_jobs[j as usize];
        job.run.records_scored += u64::from(records);
        job.run.batches += 1;
        job.run.busy_nanos += (self.now - started) as f64;
        if job.run.records_scored == job.run.records {
            job.run.finished = Some(self.now);
        }
    }

    /// A crash took a job batch of `records`: they are scored again.
    pub(super) fn on_job_batch_lost(&mut self, replica: u32, records: u32) {
        let region = self.pools[self.replicas[replica as usize].pool as usize].region;
        let j = self.shared_by_region[region as usize].expect("a job batch ran for the region's job");
        let job = &mut self.shared_jobs[j as usize];
        job.to_start += u64::from(records);
        job.run.batches_lost += 1;
    }
}
