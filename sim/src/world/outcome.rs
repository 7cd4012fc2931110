//! How an attempt ends and what the client does about it: the answer's way back, server errors
//! and the fallback, client retries with backoff, discards, and `finish`, where every request's
//! counts, latency and record are kept in one place.

use super::request::{Outcome, Request, RequestRecord, Stamp};
use super::{overlap, serving_of, Event, World, NONE};
use crate::metrics::Counts;
use crate::units::Nanos;
use rand::Rng as _;

impl World<'_> {
    /// Records the model call's outcome with the pool's circuit breaker.
    #[inline]
    pub(super) fn breaker_record(&mut self, id: u32, failed: bool) {
        let request = &mut self.requests[id as usize];
        if !request.breaker_admitted {
            return;
        }
        request.breaker_admitted = false;
        let (pool, duration) = (request.pool, self.now - request.at(Stamp::CallStarted));
        let model = serving_of(&self.pools, pool).breaker.as_ref().expect("admitted by a breaker");
        let now = self.now;
        let state = &mut self.pools[pool as usize];
        let breaker = state.breaker.as_mut().expect("admitted by a breaker");
        let before = breaker.opened;
        breaker.record(model, now, failed, duration);
        if breaker.opened > before {
            // Open for exactly open_duration, then half-open.
            let (warmup, end) = (self.model.warmup, self.model.duration);
            if (warmup..end).contains(&now) {
                state.metrics.breaker_opened += 1;
            }
            state.metrics.breaker_open_nanos += overlap(now, now.saturating_add(model.open_duration), warmup, end);
        }
    }

    /// The response leaves the replica for the client.
    #[inline]
    pub(super) fn depart(&mut self, id: u32) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, false);
        let request = &self.requests[id as usize];
        if request.shadow {
            self.finish(id, Outcome::Completed);
            return;
        }
        if request.one_way == 0 {
            self.on_respond(id);
        } else {
            self.schedule_in(request.one_way, true, Event::Respond { request: id });
        }
    }

    #[inline]
    pub(super) fn on_respond(&mut self, id: u32) {
        let request = &self.requests[id as usize];
        let outcome = if self.now > request.deadline {
            Outcome::TimedOut
        } else if request.degraded {
            Outcome::Degraded
        } else {
            Outcome::Completed
        };
        self.finish(id, outcome);
    }

    /// The attempt failed at the server side (`outcome` says how). With a fallback and `at_frontend`
    /// (the region's frontend still works) the fallback answers; otherwise the error travels back to
    /// the client.
    #[cold]
    pub(super) fn server_error(&mut self, id: u32, outcome: Outcome, at_frontend: bool) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, true);
        let request = self.requests[id as usize];
        if request.shadow {
            self.finish(id, outcome);
            return;
        }
        if at_frontend {
            let pool = &self.pools[request.pool as usize];
            let fallback = match pool.pipeline {
                Some(pipeline) => pipeline.fallback.as_ref(),
                None => serving_of(&self.pools, request.pool).fallback.as_ref(),
            };
            if let Some(fallback) = fallback {
                self.stamp(id, Stamp::FallbackStarted);
                let delay = fallback.latency.sample(&mut self.pools[request.pool as usize].fallback_rng);
                self.schedule_in(delay, fallback.latency.is_constant(), Event::FallbackDone { request: id });
                return;
            }
        }
        self.requests[id as usize].error = outcome;
        self.schedule_in(request.one_way, true, Event::ClientError { request: id });
    }

    #[cold]
    pub(super) fn on_fallback_done(&mut self, id: u32) {
        self.stamp(id, Stamp::FallbackDone);
        let request = &mut self.requests[id as usize];
        request.degraded = true;
        if request.one_way == 0 {
            self.on_respond(id);
        } else {
            let one_way = request.one_way;
            self.schedule_in(one_way, true, Event::Respond { request: id });
        }
    }

    /// The client sees an error: retry with backoff if attempts, budget and deadline allow.
    #[cold]
    pub(super) fn on_client_error(&mut self, id: u32) {
        let request = self.requests[id as usize];
        if request.call {
            // A stage's call: its pipeline, not a client, decides what a failure means.
            self.finish(id, request.error);
            return;
        }
        if self.now >= request.deadline {
            self.finish(id, Outcome::TimedOut);
            return;
        }
        if let Some(retries) = &self.model.retries {
            let client = self.client(id);
            if request.attempt < retries.max_attempts && self.budgets[client].try_withdraw() {
                let mut wait = retries.backoff(request.attempt);
                if retries.jitter && wait > 0 {
                    wait = self.retry_rngs[client].random_range(0..=wait);
                }
                let request = &mut self.requests[id as usize];
                request.attempt += 1;
                request.retry_wait += wait;
                self.events.schedule(self.now.saturating_add(wait), Event::Retry { request: id });
                return;
            }
        }
        self.finish(id, request.error);
    }

    #[cold]
    pub(super) fn on_retry(&mut self, id: u32) {
        if self.now >= self.requests[id as usize].deadline {
            self.finish(id, Outcome::TimedOut);
            return;
        }
        self.send_attempt(id, false);
    }

    /// A request the server discards before answering because its client has given up.
    #[cold]
    pub(super) fn discard(&mut self, id: u32, outcome: Outcome) {
        self.release(id);
        self.unassign(id);
        self.breaker_record(id, true);
        self.finish(id, outcome);
    }

    /// The request's end: counts (offered included, in the pool that answered or failed it), the
    /// latency of an answer, the record, the slot.
    #[inline]
    pub(super) fn finish(&mut self, id: u32, outcome: Outcome) {
        let request = self.requests[id as usize];
        if request.call {
            self.finish_call(id, outcome);
            return;
        }
        self.unassign(id);
        let measured = request.sent >= self.model.warmup;
        let latency = self.now - request.sent;
        let model = self.model;
        let endpoint = self.pools[request.pool as usize].endpoint;
        if !request.shadow {
            self.count_for_monitoring(endpoint as usize, outcome, latency);
            self.trace(&request, outcome);
        }
        let metrics = &mut self.pools[request.pool as usize].metrics;
        let (interval, total) = (&mut metrics.interval.counts, &mut metrics.counts);
        let bump = |counts: &mut Counts| match outcome {
            // Answers are counted with their latency below.
            Outcome::Completed | Outcome::Degraded => {}
            Outcome::Failed => counts.failed += 1,
            Outcome::Dropped => counts.dropped += 1,
            Outcome::TimedOut => counts.timed_out += 1,
            Outcome::Unfinished => counts.unfinished += 1,
        };
        bump(interval);
        interval.retries += u64::from(request.attempt - 1);
        if measured {
            bump(total);
            total.offered += 1;
            total.retries += u64::from(request.attempt - 1);
        }
        match outcome {
            Outcome::Completed => {
                metrics.interval.counts.completed += 1;
                if (self.model.warmup..=self.model.duration).contains(&self.now) {
                    metrics.completed_in_window += 1;
                }
                metrics.interval.latency.saturating_record(latency);
                // An LLM engine's pools keep both: the interval's and the measured window's.
                if let (Some(interval), Some(llm)) = (metrics.interval.llm.as_mut(), metrics.llm.as_mut()) {
                    let (ttft, tpot) = request.token_times();
                    interval.ttft.saturating_record(ttft);
                    if let Some(tpot) = tpot {
                        interval.tpot.saturating_record(tpot);
                    }
                    if measured {
                        llm_completion(llm, &request, ttft, tpot, model.endpoint_slo(endpoint as usize));
                    }
                }
                if measured {
                    metrics.record_completion(latency, request.queue_wait(), request.service());
                }
            }
            Outcome::Degraded => {
                metrics.interval.counts.degraded += 1;
                metrics.interval.latency.saturating_record(latency);
                if measured {
                    metrics.record_degraded(latency);
                }
            }
            _ => {}
        }
        if self.breakdown && measured && !request.shadow && matches!(outcome, Outcome::Completed | Outcome::Degraded) {
            self.record_breakdown(&request, request.pool);
        }
        if self.record_requests && !request.shadow {
            let first = if request.served_by == NONE {
                NONE
            } else {
                request.served_by - self.pools[self.replicas[request.served_by as usize].pool as usize].first_replica
            };
            self.record(&request, first, outcome);
        }
        if !request.shadow {
            self.change_in_system(-1);
        }
        self.free_requests.push(id);
    }

    /// An answer's latency by stage, in its deployment's breakdown.
    fn record_breakdown(&mut self, request: &Request, pool: u32) {
        let metrics = &mut self.pools[pool as usize].metrics;
        request.record_breakdown(self.now, metrics.breakdown.get_or_insert_with(Default::default));
    }

    /// Keeps a finished request's record (`RunOptions::record_requests`); `replica` is its slot in
    /// its deployment, or NONE.
    fn record(&mut self, request: &Request, replica: u32, outcome: Outcome) {
        self.records.push(RequestRecord {
            serial: request.serial,
            sent: request.sent,
            size: request.size,
            output_tokens: request.output_tokens,
            region: request.region,
            replica,
            batch: request.batch,
            batch_size: request.batch_size,
            batch_start: request.at(Stamp::BatchStarted),
            finished: self.now,
            attempts: request.attempt,
            outcome,
            stages: request.stages(),
        });
    }

    /// An answer from the response cache reaches the client: it neither queued nor ran, so it is
    /// counted apart from `finish`'s model answers (and never passes through it).
    #[cold]
    pub(super) fn finish_cached(&mut self, id: u32) {
        let request = self.requests[id as usize];
        let outcome = if self.now > request.deadline { Outcome::TimedOut } else { Outcome::Completed };
        self.unassign(id);
        self.count_apart(&request, outcome, true);
        if !request.call && !request.shadow {
            let endpoint = self.pools[request.pool as usize].endpoint as usize;
            self.count_for_monitoring(endpoint, outcome, self.now - request.sent);
            if self.breakdown && outcome == Outcome::Completed && request.sent >= self.model.warmup {
                self.record_breakdown(&request, request.pool);
            }
            self.trace(&request, outcome);
        }
        if self.record_requests && !request.shadow && !request.call {
            self.record(&request, NONE, outcome);
        }
        if request.call {
            // A stage's call answered from its endpoint's cache.
            let call = std::mem::take(&mut self.calls[id as usize]);
            self.free_requests.push(id);
            self.on_call_done(call, outcome);
            return;
        }
        self.change_in_system(-1);
        self.free_requests.push(id);
    }

    /// A stage's call ends: counted by the endpoint called (apart from its clients' requests, in
    /// the deployment's load per interval), then its stage learns the outcome.
    #[cold]
    fn finish_call(&mut self, id: u32, outcome: Outcome) {
        self.unassign(id);
        let call = std::mem::take(&mut self.calls[id as usize]);
        let request = self.requests[id as usize];
        self.count_apart(&request, outcome, false);
        self.free_requests.push(id);
        self.on_call_done(call, outcome);
    }

    /// Counts what `finish` does not: a stage's call (in its endpoint's `calls`, apart from its
    /// clients' requests) or a cache's answer (`cached`: a completion without queue wait or
    /// service time). The deployment's interval counts both as load.
    fn count_apart(&mut self, request: &Request, outcome: Outcome, cached: bool) {
        let measured = request.sent >= self.model.warmup;
        let latency = self.now - request.sent;
        let in_window = (self.model.warmup..=self.model.duration).contains(&self.now);
        let pool = &mut self.pools[request.pool as usize];
        let interval = &mut pool.metrics.interval;
        count_outcome(&mut interval.counts, outcome);
        interval.counts.retries += u64::from(request.attempt - 1);
        if matches!(outcome, Outcome::Completed | Outcome::Degraded) {
            interval.latency.saturating_record(latency);
        }
        let metrics = match &mut pool.calls {
            Some(calls) if request.call => calls.as_mut(),
            _ => &mut pool.metrics,
        };
        if outcome == Outcome::Completed && in_window {
            metrics.completed_in_window += 1;
        }
        if measured {
            metrics.counts.offered += 1;
            metrics.counts.retries += u64::from(request.attempt - 1);
            match outcome {
                Outcome::Completed if cached => metrics.record_cached(latency),
                Outcome::Completed => metrics.record_completion(latency, request.queue_wait(), request.service()),
                Outcome::Degraded => metrics.record_degraded(latency),
                _ => count_outcome(&mut metrics.counts, outcome),
            }
        }
    }

    /// Requests still in the system when the drain limit cut the run: neither answered nor failed.
    pub(super) fn cut_unfinished(&mut self) {
        let mut free = vec![false; self.requests.len()];
        for &id in &self.free_requests {
            free[id as usize] = true;
        }
        for id in 0..self.requests.len() as u32 {
            if !free[id as usize] {
                self.finish(id, Outcome::Unfinished);
            }
        }
    }

    /// Requests still waiting at the end (held for a replica that never came): their clients gave up.
    pub(super) fn abandon_waiting(&mut self) {
        for p in 0..self.pools.len() {
            while let Some(id) = self.pools[p].pending.pop_front() {
                self.finish(id, Outcome::TimedOut);
            }
        }
    }
}

/// A completed LLM request's figures in the measured window, and whether it met every TTFT and
/// TPOT target (goodput).
fn llm_completion(
    llm: &mut crate::metrics::LlmMetrics,
    request: &Request,
    ttft: Nanos,
    tpot: Option<Nanos>,
    slo: &crate::model::SloModel,
) {
    llm.ttft.saturating_record(ttft);
    llm.ttft_sum += ttft as f64;
    llm.prompt_tokens += u64::from(request.size.max(1));
    llm.output_tokens += u64::from(request.generated);
    if let Some(tpot) = tpot {
        llm.tpot.saturating_record(tpot);
        llm.tpot_sum += tpot as f64;
    }
    let good = slo.ttft.iter().all(|t| ttft <= t.max) && slo.tpot.iter().all(|t| tpot.is_none_or(|tpot| tpot <= t.max));
    llm.good += u64::from(good);
}

/// One more request ended with `outcome` in `counts` (answers included).
fn count_outcome(counts: &mut Counts, outcome: Outcome) {
    match outcome {
        Outcome::Completed => counts.completed += 1,
        Outcome::Degraded => counts.degraded += 1,
        Outcome::Failed => counts.failed += 1,
        Outcome::Dropped => counts.dropped += 1,
        Outcome::TimedOut => counts.timed_out += 1,
        Outcome::Unfinished => counts.unfinished += 1,
    }
}
