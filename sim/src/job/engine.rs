//! One run of a batch-scoring job, event by event at the granularity of a scoring batch.
//!
//! A task (a partition) is scored in batches: each batch is one feature-store read, one model
//! call and one sink write, one after the other; a task that reaches its last record commits.
//! Shared throughput caps (the store's, the warehouse's) are split evenly among the tasks running
//! when a batch starts. Writes are idempotent upserts keyed by record: an attempt that redoes
//! records already written (after a lost attempt, or as a speculative copy) writes duplicates
//! that the warehouse discards, and the run counts them, so the output holds every record once.

use super::JobRun;
use crate::event::EventQueue;
use crate::model::jobs::{JobModel, JOB_HORIZON};
use crate::rng::{stream, Rng};
use crate::scenario::jobs::Replacement;
use crate::units::Nanos;
use rand::Rng as _;
use rand_distr::{Distribution, Exp1};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads of one batch that fail in a row before the attempt gives up with a task failure.
const MAX_READ_RETRIES: u32 = 20;

#[derive(Clone, Copy, Debug)]
enum Event {
    WorkerUp(u32),
    BatchDone(u32),
    Committed(u32),
    RetryReady(u32),
    Notice(u32),
    Lost {
        worker: u32,
        crash: bool,
    },
    /// The `k`-th fixed preemption (`workers.preempt_at`).
    Preempt,
    Speculate,
    IdleCheck {
        worker: u32,
        since: Nanos,
    },
    Series,
    Horizon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkerState {
    Starting,
    Up,
    /// Noticed of its preemption: finishing what it runs, taking nothing new.
    Draining,
    Gone,
}

#[derive(Clone, Debug)]
struct Worker {
    spot: bool,
    /// Multiplies every batch's time (a straggler's is above 1).
    slowdown: f64,
    state: WorkerState,
    /// Live attempts on it.
    attempts: Vec<u32>,
    billed_from: Nanos,
    idle_since: Nanos,
}

#[derive(Clone, Debug, Default)]
struct Task {
    records: u64,
    /// Where a new attempt resumes.
    checkpoint: u64,
    /// The highest record written (writes go in record order, so everything below was written).
    written: u64,
    failures: u32,
    live: u32,
    /// Attempts started (the first may carry an injected failure).
    started: u32,
    done: bool,
    /// Has a speculative copy been launched (one per task).
    copied: bool,
}

#[derive(Clone, Debug)]
struct Attempt {
    task: u32,
    worker: u32,
    start_position: u64,
    position: u64,
    started: Nanos,
    /// Batches this attempt still completes before it fails (None: it does not fail).
    fails_after: Option<u64>,
    live: bool,
    speculative: bool,
    /// Records the current batch covers.
    batch: u64,
}

struct Job<'m> {
    model: &'m JobModel,
    queue: EventQueue<Event>,
    workers: Vec<Worker>,
    tasks: Vec<Task>,
    attempts: Vec<Attempt>,
    pending: VecDeque<u32>,
    /// One entry per free slot: the worker's number (entries of workers no longer up are skipped).
    free_slots: Vec<u32>,
    live_attempts: usize,
    done: usize,
    durations: Vec<Nanos>,
    scratch: Vec<Nanos>,
    /// Workers in each state (by `WorkerState as usize`), and spot workers starting or up: kept as
    /// workers change state, so that scaling and the series never count the whole pool.
    in_state: [u32; 4],
    spot_alive: u32,
    speculating: bool,
    next_preemption: usize,
    worker_rng: Rng,
    task_rng: Rng,
    latency_rng: Rng,
    run: JobRun,
    ended: Option<Nanos>,
    last_series: (Nanos, u64),
    /// Batches done, added to a caller's counter [`PROGRESS_BATCHES`] at a time.
    progress: Option<&'m AtomicU64>,
    unreported: u64,
}

/// Batches a run scores between additions to the progress counter (an atomic add per batch would
/// contend between threads).
pub const PROGRESS_BATCHES: u64 = 4096;

/// One run of `model`; `seed` is the replication's.
pub fn run(model: &JobModel, seed: u64) -> JobRun {
    run_counted(model, seed, None)
}

/// [`run`], adding the batches it scores to `progress` (a caller may show progress from it;
/// replications may share one counter).
pub fn run_counted(model: &JobModel, seed: u64, progress: Option<&AtomicU64>) -> JobRun {
    let id = format!("job/{}/{}", model.index, model.name);
    let mut job = Job {
        model,
        queue: EventQueue::with_capacity(64),
        workers: Vec::with_capacity(model.workers.count as usize),
        tasks: model.task_records.iter().map(|&records| Task { records, ..Task::default() }).collect(),
        attempts: Vec::with_capacity(model.task_records.len()),
        pending: (0..model.task_records.len() as u32).collect(),
        free_slots: Vec::new(),
        live_attempts: 0,
        done: 0,
        durations: Vec::with_capacity(model.task_records.len()),
        scratch: Vec::new(),
        in_state: [0; 4],
        spot_alive: 0,
        speculating: false,
        next_preemption: 0,
        worker_rng: stream(seed, &format!("{id}/workers")),
        task_rng: stream(seed, &format!("{id}/tasks")),
        latency_rng: stream(seed, &format!("{id}/latency")),
        run: JobRun { records_offered: model.records, ..JobRun::default() },
        ended: None,
        last_series: (0, 0),
        progress,
        unreported: 0,
    };
    let pool = &model.workers;
    for i in 0..pool.count {
        job.add_worker(0, i < pool.spot, pool.startup);
    }
    // Every task waits at the start: dynamic allocation asks for workers then, not once the
    // first worker is up.
    job.autoscale(0);
    if let Some(&first) = pool.preempt_at.first() {
        job.queue.schedule(first, Event::Preempt);
    }
    job.queue.schedule(JOB_HORIZON, Event::Horizon);
    job.series_row(0);
    job.queue.schedule(model.interval, Event::Series);
    while let Some((now, event)) = job.queue.pop() {
        job.handle(now, event);
        if let Some(end) = job.ended {
            job.finish(end);
            break;
        }
    }
    job.report_progress();
    job.run
}

impl Job<'_> {
    fn handle(&mut self, now: Nanos, event: Event) {
        match event {
            Event::WorkerUp(w) => self.worker_up(now, w),
            Event::BatchDone(a) => self.batch_done(now, a),
            Event::Committed(a) => self.committed(now, a),
            Event::RetryReady(t) => {
                self.pending.push_back(t);
                self.dispatch(now);
            }
            Event::Notice(w) => self.notice(now, w),
            Event::Lost { worker, crash } => self.lost(now, worker, crash),
            Event::Preempt => {
                let pool = &self.model.workers;
                let victim = self
                    .workers
                    .iter()
                    .position(|w| w.spot && matches!(w.state, WorkerState::Up | WorkerState::Starting));
                if let Some(w) = victim {
                    self.notice(now, w as u32);
                }
                self.next_preemption += 1;
                if let Some(&next) = pool.preempt_at.get(self.next_preemption) {
                    self.queue.schedule(next.max(now), Event::Preempt);
                }
            }
            Event::Speculate => self.speculate(now),
            Event::IdleCheck { worker, since } => self.idle_check(now, worker, since),
            Event::Series => {
                self.series_row(now);
                self.queue.schedule(now + self.model.interval, Event::Series);
            }
            Event::Horizon => self.ended = Some(now),
        }
    }

    fn add_worker(&mut self, now: Nanos, spot: bool, startup: Nanos) {
        let pool = &self.model.workers;
        let slowdown = if pool.straggler_fraction > 0.0 && self.worker_rng.random::<f64>() < pool.straggler_fraction {
            pool.straggler_slowdown
        } else {
            1.0
        };
        let w = self.workers.len() as u32;
        self.in_state[WorkerState::Starting as usize] += 1;
        self.spot_alive += u32::from(spot);
        self.workers.push(Worker {
            spot,
            slowdown,
            state: WorkerState::Starting,
            attempts: Vec::with_capacity(pool.slots as usize),
            billed_from: now,
            idle_since: now,
        });
        self.run.peak_workers = self.run.peak_workers.max(self.workers_alive());
        self.queue.schedule(now + startup, Event::WorkerUp(w));
    }

    fn workers_alive(&self) -> u32 {
        self.in_state[WorkerState::Starting as usize] + self.in_state[WorkerState::Up as usize]
    }

    /// Moves worker `w` to `state`, keeping the counts.
    fn set_state(&mut self, w: u32, state: WorkerState) {
        let worker = &mut self.workers[w as usize];
        let alive = |s: WorkerState| matches!(s, WorkerState::Starting | WorkerState::Up);
        if worker.spot && alive(worker.state) != alive(state) {
            if alive(state) {
                self.spot_alive += 1;
            } else {
                self.spot_alive -= 1;
            }
        }
        self.in_state[worker.state as usize] -= 1;
        self.in_state[state as usize] += 1;
        worker.state = state;
    }

    fn exponential(rng: &mut Rng, per_nanosecond: f64) -> Option<Nanos> {
        (per_nanosecond > 0.0).then(|| {
            let draw: f64 = Exp1.sample(rng);
            (draw / per_nanosecond).min(JOB_HORIZON as f64) as Nanos
        })
    }

    fn report_progress(&mut self) {
        if let Some(counter) = self.progress {
            counter.fetch_add(self.unreported, Ordering::Relaxed);
        }
        self.unreported = 0;
    }

    fn worker_up(&mut self, now: Nanos, w: u32) {
        let pool = &self.model.workers;
        let worker = &mut self.workers[w as usize];
        if worker.state != WorkerState::Starting {
            return;
        }
        worker.idle_since = now;
        let spot = worker.spot;
        self.set_state(w, WorkerState::Up);
        for _ in 0..pool.slots {
            self.free_slots.push(w);
        }
        if spot {
            if let Some(after) = Self::exponential(&mut self.worker_rng, pool.preemptions_per_nanosecond) {
                self.queue.schedule(now + after, Event::Notice(w));
            }
        }
        if let Some(after) = Self::exponential(&mut self.worker_rng, pool.crashes_per_nanosecond) {
            self.queue.schedule(now + after, Event::Lost { worker: w, crash: true });
        }
        self.dispatch(now);
        self.maybe_idle(now, w);
    }

    /// A free slot on a worker that is up, other than `not_on`.
    fn take_slot(&mut self, not_on: Option<u32>) -> Option<u32> {
        let mut skipped = None;
        let mut found = None;
        while let Some(w) = self.free_slots.pop() {
            let worker = &self.workers[w as usize];
            if worker.state != WorkerState::Up || worker.attempts.len() >= self.model.workers.slots as usize {
                continue;
            }
            if Some(w) == not_on {
                skipped = Some(skipped.map_or(1, |n| n + 1));
                continue;
            }
            found = Some(w);
            break;
        }
        for _ in 0..skipped.unwrap_or(0) {
            self.free_slots.push(not_on.expect("skipped only that worker"));
        }
        found
    }

    fn dispatch(&mut self, now: Nanos) {
        while !self.pending.is_empty() {
            let Some(w) = self.take_slot(None) else { break };
            let t = self.pending.pop_front().expect("not empty");
            if self.tasks[t as usize].done {
                self.free_slots.push(w);
                continue;
            }
            self.start_attempt(now, t, w, false);
        }
        self.autoscale(now);
    }

    fn start_attempt(&mut self, now: Nanos, t: u32, w: u32, speculative: bool) {
        let model = self.model;
        let task = &mut self.tasks[t as usize];
        task.live += 1;
        let position = task.checkpoint;
        let batches = (task.records - position).div_ceil(u64::from(model.batch_records));
        // A first attempt starts at record 0 (nothing is checkpointed before it).
        let injected = (task.started == 0)
            .then(|| model.injected_failures.iter().find(|(task, _)| *task == t).map(|(_, after)| *after))
            .flatten();
        task.started += 1;
        let fails_after = injected.or_else(|| {
            (model.failure_probability > 0.0 && self.task_rng.random::<f64>() < model.failure_probability)
                .then(|| self.task_rng.random_range(0..batches.max(1)))
        });
        let a = self.attempts.len() as u32;
        self.attempts.push(Attempt {
            task: t,
            worker: w,
            start_position: position,
            position,
            started: now,
            fails_after,
            live: true,
            speculative,
            batch: 0,
        });
        let worker = &mut self.workers[w as usize];
        worker.attempts.push(a);
        worker.idle_since = Nanos::MAX;
        self.live_attempts += 1;
        self.run.attempts += 1;
        if speculative {
            self.run.speculative_copies += 1;
        }
        self.next_batch(now, a);
    }

    /// Schedules the attempt's next batch: read, score, write.
    fn next_batch(&mut self, now: Nanos, a: u32) {
        let model = self.model;
        let attempt = &self.attempts[a as usize];
        let task = &self.tasks[attempt.task as usize];
        let n = (task.records - attempt.position).min(u64::from(model.batch_records));
        let sharing = self.live_attempts.max(1) as f64;
        let mut read = 0.0;
        if let Some(reads) = &model.reads {
            let rate = reads.max.map_or(reads.per_task, |max| reads.per_task.min(max / sharing));
            let once = reads.latency as f64 + n as f64 / rate;
            let mut tries = 1;
            while reads.error_rate > 0.0 && self.task_rng.random::<f64>() < reads.error_rate {
                tries += 1;
                self.run.read_errors += 1;
                if tries > MAX_READ_RETRIES {
                    break;
                }
            }
            read = once * f64::from(tries);
        }
        let score = model.latency.sample(n as u32, &mut self.latency_rng) as f64;
        let write = model.sink.map_or(0.0, |sink| {
            let rate = sink.max.map_or(sink.per_writer, |max| sink.per_writer.min(max / sharing));
            n as f64 / rate
        });
        let slowdown = self.workers[attempt.worker as usize].slowdown;
        self.run.read_s += read * slowdown / 1e9;
        self.run.score_s += score * slowdown / 1e9;
        self.run.write_s += write * slowdown / 1e9;
        // Pipelined, an attempt's first batch fills the pipe (all three stages) and every later
        // one leaves it at the pace of the slowest stage.
        let first = attempt.position == attempt.start_position;
        let stages = if model.pipelined && !first { read.max(score).max(write) } else { read + score + write };
        let overhead = if first { model.task_overhead as f64 } else { 0.0 };
        let took = ((stages + overhead) * slowdown).round().max(1.0) as Nanos;
        self.attempts[a as usize].batch = n;
        self.queue.schedule(now + took, Event::BatchDone(a));
    }

    fn batch_done(&mut self, now: Nanos, a: u32) {
        if !self.attempts[a as usize].live {
            return;
        }
        self.unreported += 1;
        if self.unreported == PROGRESS_BATCHES {
            self.report_progress();
        }
        let attempt = &mut self.attempts[a as usize];
        if let Some(left) = attempt.fails_after.as_mut() {
            if *left == 0 {
                self.attempt_failed(now, a);
                return;
            }
            *left -= 1;
        }
        let (start, end) = (attempt.position, attempt.position + attempt.batch);
        attempt.position = end;
        let task = &mut self.tasks[attempt.task as usize];
        let duplicates = task.written.min(end).saturating_sub(start);
        self.run.duplicates_discarded += duplicates;
        if end > task.written {
            self.run.records_written += end - task.written;
            task.written = end;
        }
        if let Some(every) = self.model.checkpoint_records {
            task.checkpoint = task.checkpoint.max(end / every * every);
        }
        if end == task.records {
            let commit = self.model.sink.map_or(0, |s| s.commit_latency);
            self.run.commit_s += commit as f64 / 1e9;
            self.queue.schedule(now + commit, Event::Committed(a));
        } else {
            self.next_batch(now, a);
        }
    }

    /// Ends a live attempt and frees its slot; returns its task.
    fn end_attempt(&mut self, now: Nanos, a: u32) -> u32 {
        let attempt = &mut self.attempts[a as usize];
        attempt.live = false;
        let (t, w) = (attempt.task, attempt.worker);
        self.tasks[t as usize].live -= 1;
        self.live_attempts -= 1;
        let worker = &mut self.workers[w as usize];
        if let Some(i) = worker.attempts.iter().position(|&x| x == a) {
            worker.attempts.swap_remove(i);
        }
        if worker.state == WorkerState::Up {
            self.free_slots.push(w);
            self.maybe_idle(now, w);
        }
        t
    }

    fn committed(&mut self, now: Nanos, a: u32) {
        if !self.attempts[a as usize].live {
            return;
        }
        let t = self.end_attempt(now, a);
        let attempt = &self.attempts[a as usize];
        if attempt.speculative {
            self.run.speculative_wins += 1;
        }
        self.durations.push(now - attempt.started);
        let task = &mut self.tasks[t as usize];
        task.done = true;
        self.done += 1;
        // The other copy, if any, is killed: its work is wasted.
        while let Some(other) = self.live_attempt_of(t) {
            self.end_attempt(now, other);
        }
        if self.done == self.tasks.len() {
            self.run.finished = true;
            self.run.makespan = Some(now);
            self.ended = Some(now);
            return;
        }
        if let Some(spec) = self.model.speculation {
            let threshold = (spec.quantile * self.tasks.len() as f64).ceil() as usize;
            if !self.speculating && self.done >= threshold.max(1) {
                self.speculating = true;
                self.queue.schedule(now, Event::Speculate);
            }
        }
        self.dispatch(now);
    }

    /// A live attempt of task `t`, if any (a task has at most two: the original and one copy).
    fn live_attempt_of(&self, t: u32) -> Option<u32> {
        if self.tasks[t as usize].live == 0 {
            return None;
        }
        self.workers
            .iter()
            .flat_map(|w| w.attempts.iter().copied())
            .find(|&x| self.attempts[x as usize].task == t && self.attempts[x as usize].live)
    }

    fn attempt_failed(&mut self, now: Nanos, a: u32) {
        let attempt = &self.attempts[a as usize];
        let resume = self.tasks[attempt.task as usize].checkpoint.max(attempt.start_position).min(attempt.position);
        self.run.records_redone += attempt.position - resume;
        let t = self.end_attempt(now, a);
        self.run.failed_attempts += 1;
        let model = self.model;
        let task = &mut self.tasks[t as usize];
        task.failures += 1;
        if task.failures >= model.max_attempts {
            self.run.failed = true;
            self.ended = Some(now);
            return;
        }
        if task.live == 0 {
            let doublings = (task.failures - 1).min(62);
            let backoff = model.backoff.saturating_mul(1u64 << doublings).min(model.max_backoff);
            self.queue.schedule(now + backoff, Event::RetryReady(t));
        }
        self.dispatch(now);
    }

    fn notice(&mut self, now: Nanos, w: u32) {
        let pool = &self.model.workers;
        let worker = &mut self.workers[w as usize];
        if !matches!(worker.state, WorkerState::Up | WorkerState::Starting) {
            return;
        }
        self.run.preemptions += 1;
        let was_starting = worker.state == WorkerState::Starting;
        self.set_state(w, WorkerState::Draining);
        if was_starting {
            self.queue.schedule(now, Event::Lost { worker: w, crash: false });
        } else {
            self.queue.schedule(now + pool.preemption_notice, Event::Lost { worker: w, crash: false });
        }
        match pool.on_preemption {
            Replacement::Spot => self.add_worker(now, true, pool.replacement_startup),
            Replacement::OnDemand => self.add_worker(now, false, pool.replacement_startup),
            Replacement::None => {}
        }
    }

    fn lost(&mut self, now: Nanos, w: u32, crash: bool) {
        let worker = &mut self.workers[w as usize];
        if worker.state == WorkerState::Gone {
            return;
        }
        let replace = crash && worker.state != WorkerState::Draining;
        let spot = worker.spot;
        self.set_state(w, WorkerState::Gone);
        self.bill(w, now);
        if crash {
            self.run.crashes += 1;
        }
        let attempts = std::mem::take(&mut self.workers[w as usize].attempts);
        for &a in &attempts {
            let attempt = &self.attempts[a as usize];
            let task = &self.tasks[attempt.task as usize];
            self.run.records_redone +=
                attempt.position - task.checkpoint.max(attempt.start_position).min(attempt.position);
            self.run.lost_attempts += 1;
            let t = self.end_attempt(now, a);
            let task = &self.tasks[t as usize];
            if task.live == 0 && !task.done {
                self.pending.push_front(t);
            }
        }
        self.workers[w as usize].attempts = attempts;
        self.workers[w as usize].attempts.clear();
        if replace {
            self.add_worker(now, spot, self.model.workers.replacement_startup);
        }
        self.dispatch(now);
    }

    fn bill(&mut self, w: u32, now: Nanos) {
        let pool = &self.model.workers;
        let worker = &self.workers[w as usize];
        let hours = (now - worker.billed_from) as f64 / 3.6e12;
        if worker.spot {
            self.run.spot_worker_hours += hours;
            self.run.cost_usd += hours * pool.spot_usd_per_hour;
        } else {
            self.run.on_demand_worker_hours += hours;
            self.run.cost_usd += hours * pool.on_demand_usd_per_hour;
        }
    }

    /// Spark's dynamic allocation: ask for workers while tasks wait and no slot is coming.
    fn autoscale(&mut self, now: Nanos) {
        let Some((_, max, _)) = self.model.workers.autoscaling else { return };
        let slots = self.model.workers.slots as usize;
        let starting = self.in_state[WorkerState::Starting as usize] as usize;
        let waiting = self.pending.len().saturating_sub(starting * slots);
        let alive = self.workers_alive() as usize;
        let wanted = waiting.div_ceil(slots).min((max as usize).saturating_sub(alive));
        let pool = &self.model.workers;
        let spot_share = f64::from(pool.spot) / f64::from(pool.count);
        for _ in 0..wanted {
            let alive = self.workers_alive();
            let spot = f64::from(self.spot_alive) < (spot_share * f64::from(alive + 1)).round();
            self.add_worker(now, spot, pool.startup);
        }
    }

    fn maybe_idle(&mut self, now: Nanos, w: u32) {
        let Some((_, _, idle)) = self.model.workers.autoscaling else { return };
        let worker = &mut self.workers[w as usize];
        if worker.state == WorkerState::Up && worker.attempts.is_empty() {
            worker.idle_since = now;
            self.queue.schedule(now + idle, Event::IdleCheck { worker: w, since: now });
        }
    }

    fn idle_check(&mut self, now: Nanos, w: u32, since: Nanos) {
        let Some((min, _, _)) = self.model.workers.autoscaling else { return };
        let worker = &self.workers[w as usize];
        if worker.state != WorkerState::Up || worker.idle_since != since || !self.pending.is_empty() {
            return;
        }
        if self.workers_alive() <= min {
            return;
        }
        self.set_state(w, WorkerState::Gone);
        self.bill(w, now);
    }

    fn speculate(&mut self, now: Nanos) {
        let Some(spec) = self.model.speculation else { return };
        if self.ended.is_some() || self.durations.is_empty() {
            return;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.durations);
        let middle = self.scratch.len() / 2;
        let (_, &mut median, _) = self.scratch.select_nth_unstable(middle);
        let limit = (median as f64 * spec.multiplier) as Nanos;
        for w in 0..self.workers.len() {
            for i in 0..self.workers[w].attempts.len() {
                let a = self.workers[w].attempts[i];
                let attempt = &self.attempts[a as usize];
                let task = &self.tasks[attempt.task as usize];
                if task.copied || task.live != 1 || attempt.position == task.records || now - attempt.started <= limit {
                    continue;
                }
                let t = attempt.task;
                let Some(slot) = self.take_slot(Some(w as u32)) else {
                    self.queue.schedule(now + spec.interval, Event::Speculate);
                    return;
                };
                self.tasks[t as usize].copied = true;
                self.start_attempt(now, t, slot, true);
            }
        }
        self.queue.schedule(now + spec.interval, Event::Speculate);
    }

    fn series_row(&mut self, now: Nanos) {
        let (last_time, last_written) = self.last_series;
        let seconds = (now - last_time) as f64 / 1e9;
        let rate = if seconds > 0.0 { (self.run.records_written - last_written) as f64 / seconds } else { 0.0 };
        let count = |state: WorkerState| self.in_state[state as usize];
        self.run.series.push(super::JobSeriesRow {
            time_s: now as f64 / 1e9,
            records_written: self.run.records_written,
            records_per_s: rate,
            workers_up: count(WorkerState::Up) + count(WorkerState::Draining),
            workers_starting: count(WorkerState::Starting),
            tasks_running: self.live_attempts as u32,
            tasks_done: self.done as u32,
            tasks_waiting: self.pending.len() as u32,
            failed_attempts: self.run.failed_attempts,
            preemptions: self.run.preemptions,
            crashes: self.run.crashes,
        });
        self.last_series = (now, self.run.records_written);
    }

    fn finish(&mut self, end: Nanos) {
        self.run.ended = end;
        for w in 0..self.workers.len() {
            if self.workers[w].state != WorkerState::Gone {
                self.bill(w as u32, end);
                self.set_state(w as u32, WorkerState::Gone);
            }
        }
        if self.run.series.last().is_none_or(|row| row.time_s < end as f64 / 1e9) {
            self.series_row(end);
        }
        // Counted from the tasks, apart from the written count the batches added up: the two must
        // add up to the records offered.
        self.run.records_unwritten = self.tasks.iter().map(|t| t.records - t.written).sum();
        self.run.met_deadline = self.model.deadline.map(|d| self.run.makespan.is_some_and(|m| m <= d.after_start));
    }
}
