//! An LLM engine as a replica kind, scheduling as vLLM's V1 engine does: every iteration the
//! running sequences come first (each decode takes one token of the budget; a prompt still being
//! prefilled takes up to what is left), then waiting requests in arrival order while there are
//! sequence slots, budget and KV blocks. A prompt longer than the budget's room is prefilled in
//! chunks across iterations (`enable_chunked_prefill`), or waits until it fits whole. KV blocks
//! are allocated as tokens are computed; when a running sequence needs a block and none is free,
//! the most recently admitted sequence is preempted: its blocks are freed and it goes back to the
//! front of the queue, to recompute its prompt and its output so far. With prefix caching, the
//! leading prompt blocks whose hashes are cached (the trace's `hash_ids`, or the traffic's
//! shared prefix) are not computed again: the request starts with them as context. A prompt's
//! blocks are cached when its prefill completes. Cached blocks live in the KV pool, as vLLM's
//! do: running sequences that share them count them once, and cached blocks no sequence uses
//! are free blocks that the engine evicts (least recently released first) when it needs them.
//!
//! A sequence produces a token in every iteration that computes its last known token: the
//! first when its prompt's prefill completes (the time to first token), then one per decode.

use super::kind::{KindEvent, KindState};
use super::prefix::PrefixCache;
use super::request::Stamp;
use super::{overlap, serving_of, Event, Outcome, Replica, World, NO_TIME};
use crate::metrics::Phase;
use crate::model::{LlmModel, ServingModel};
use crate::service::Step;
use crate::traffic::Process;
use crate::units::Nanos;
use std::collections::VecDeque;

/// A sequence the engine is running.
#[derive(Clone, Copy, Debug)]
struct Sequence {
    request: u32,
    prompt: u32,
    output: u32,
    generated: u32,
    /// Tokens whose KV is computed (prompt and outputs so far, recomputed after a preemption).
    computed: u32,
    /// KV blocks of its own.
    blocks: u32,
    /// Its leading prompt blocks it uses from the prefix cache (hashed blocks, and the KV blocks
    /// they cover), shared with any other sequence that uses them.
    shared: u32,
    shared_blocks: u32,
    /// Tokens it computes in the iteration running now.
    scheduled: u32,
    last_token_at: Nanos,
}

impl Sequence {
    /// Tokens it still has to compute before it produces its next token.
    fn pending(&self) -> u32 {
        self.prompt + self.generated - self.computed
    }

    /// Blocks of its own it needs to hold the KV of its first `tokens`.
    fn blocks_needed(&self, tokens: u32, block_size: u32) -> u32 {
        blocks_for(tokens, block_size).saturating_sub(self.shared_blocks + self.blocks)
    }
}

/// One replica's engine.
pub(super) struct LlmState {
    waiting: VecDeque<u32>,
    running: Vec<Sequence>,
    /// Blocks no running sequence uses (cached ones among them: see `prefix`).
    free_blocks: u32,
    /// An iteration is running.
    busy: bool,
    /// Its number, so that a crash makes its end stale.
    step: u16,
    step_started: Nanos,
    prefix: Option<PrefixCache>,
    role: Role,
}

/// What a replica of a disaggregated deployment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Prefill and decode (aggregated serving).
    Both,
    /// Prefills prompts and hands each request on with its first token.
    Prefill,
    /// Decodes requests a prefill replica handed over.
    Decode,
}

impl Replica {
    #[inline]
    fn llm(&mut self) -> &mut LlmState {
        match &mut self.kind {
            KindState::Llm(state) => state,
            // Every kind is named: a new one is a compile error here, not a silent wildcard.
            KindState::Batcher(_) => unreachable!("kind.rs dispatches LLM calls to LLM replicas only"),
        }
    }
}

fn engine(serving: &ServingModel) -> &LlmModel {
    serving.kind.llm().expect("LLM replicas belong to LLM deployments")
}

fn blocks_for(tokens: u32, block_size: u32) -> u32 {
    tokens.div_ceil(block_size)
}

impl LlmState {
    pub(super) fn new(serving: &ServingModel, slot: u32) -> LlmState {
        let engine = engine(serving);
        let role = match &engine.disaggregation {
            None => Role::Both,
            Some(split) if slot < split.prefill_replicas => Role::Prefill,
            Some(_) => Role::Decode,
        };
        LlmState {
            waiting: VecDeque::with_capacity(serving.queue_capacity.min(4096) as usize),
            running: Vec::with_capacity(engine.max_num_seqs as usize),
            free_blocks: engine.kv_blocks,
            busy: false,
            step: 0,
            step_started: 0,
            role,
            prefix: engine.prefix_caching.then(|| PrefixCache::new(engine.kv_blocks)),
        }
    }

    /// Takes `blocks` of the free ones for a sequence's own use, evicting cached blocks no one
    /// uses where the uncached ones are too few.
    fn allocate(&mut self, blocks: u32) {
        debug_assert!(blocks <= self.free_blocks);
        if blocks == 0 {
            return; // most decodes: the last block has room
        }
        if let Some(prefix) = self.prefix.as_mut() {
            let uncached = self.free_blocks - prefix.evictable_blocks();
            if blocks > uncached {
                prefix.evict(blocks - uncached);
            }
        }
        self.free_blocks -= blocks;
    }

    /// The fraction of its `kv_blocks` in use.
    pub(super) fn kv_usage(&self, kv_blocks: u32) -> f64 {
        1.0 - f64::from(self.free_blocks) / f64::from(kv_blocks.max(1))
    }

    pub(super) fn decodes_only(&self) -> bool {
        self.role == Role::Decode
    }

    pub(super) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    pub(super) fn is_idle(&self) -> bool {
        !self.busy
    }

    pub(super) fn running(&self) -> u32 {
        u32::from(self.busy)
    }
}

impl World<'_> {
    /// Pre-processing done: refused if it can never fit the model's context, else queued.
    pub(super) fn llm_admit(&mut self, replica: u32, id: u32) {
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        if state.llm().role == Role::Prefill && self.pools[pool as usize].decode_lb.is_empty() {
            // Disaggregated with no decode replica ready: llm-d's endpoint picker finds no decode
            // pod and answers 503 before any prefill is spent on the request.
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let serving = serving_of(&self.pools, pool);
        let engine = engine(serving);
        let request = &mut self.requests[id as usize];
        let total = u64::from(request.size.max(1)) + u64::from(request.output_tokens.max(1));
        let capacity = u64::from(engine.kv_blocks) * u64::from(engine.block_size);
        if total > u64::from(engine.max_model_len).min(capacity) {
            // vLLM answers 400: the request can never run here (longer than the model's context,
            // or than the whole KV cache when no max_model_len bounds it).
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        request.stamps[Stamp::FirstOutput as usize] = 0;
        request.generated = 0;
        request.batch = u64::MAX;
        let llm = state.llm();
        if llm.waiting.len() >= serving.queue_capacity as usize {
            self.server_error(id, Outcome::Dropped, true);
            return;
        }
        llm.waiting.push_back(id);
        self.pools[pool as usize].queued += 1;
        self.stamp(id, Stamp::Enqueued);
        self.llm_try_step(replica);
    }

    /// With no iteration running, schedule the next one (if there is work).
    fn llm_try_step(&mut self, replica: u32) {
        let now = self.now;
        let state = &mut self.replicas[replica as usize];
        if state.phase == Phase::Down || state.llm().busy {
            return;
        }
        let pool = state.pool;
        let serving = serving_of(&self.pools, pool);
        let engine = engine(serving);
        let mut budget = engine.max_num_batched_tokens;
        let mut step = Step::default();
        let mut preempted = false;
        // Running sequences first, oldest first.
        let mut i = 0;
        let mut llm = self.replicas[replica as usize].llm();
        while i < llm.running.len() && budget > 0 {
            let pending = llm.running[i].pending();
            if !engine.chunked_prefill && pending > budget {
                i += 1;
                continue;
            }
            let take = pending.min(budget);
            let needed = llm.running[i].blocks_needed(llm.running[i].computed + take, engine.block_size);
            if needed > llm.free_blocks {
                self.preempt_for(replica, i, needed);
                preempted = true;
                llm = self.replicas[replica as usize].llm();
                if llm.running.len() <= i {
                    break;
                }
            }
            llm.allocate(needed);
            let sequence = &mut llm.running[i];
            sequence.blocks += needed;
            sequence.scheduled = take;
            add_to_step(&mut step, sequence.computed, take);
            budget -= take;
            i += 1;
        }
        // Then waiting requests, unless this iteration had to preempt.
        while !preempted && budget > 0 {
            let llm = self.replicas[replica as usize].llm();
            if llm.running.len() as u32 >= engine.max_num_seqs {
                break;
            }
            let Some(&id) = llm.waiting.front() else { break };
            let request = &self.requests[id as usize];
            if request.deadline <= now {
                llm.waiting.pop_front();
                self.pools[pool as usize].queued -= 1;
                self.discard(id, Outcome::TimedOut);
                continue;
            }
            let prompt = request.size.max(1);
            let output = request.output_tokens.max(1);
            // A preempted request resumes with what it had generated.
            let generated = request.generated;
            let total = prompt + generated;
            let first_time = request.batch == u64::MAX;
            // A request handed over after its prefill brings its KV; others look in the cache.
            let handed = request.kv_tokens;
            let hits = if engine.prefix_caching && handed == 0 {
                self.prefix_hits(replica, id, engine.block_size)
            } else {
                PrefixHits::default()
            };
            // vLLM computes at least the last token again to produce the next one.
            let cached = hits.tokens.max(handed).min(total - 1);
            let take = (total - cached).min(budget);
            if !engine.chunked_prefill && take < total - cached {
                break;
            }
            let needed = blocks_for(cached + take, engine.block_size).saturating_sub(hits.blocks);
            let llm = self.replicas[replica as usize].llm();
            if needed + hits.cost > llm.free_blocks {
                break;
            }
            llm.waiting.pop_front();
            self.pools[pool as usize].queued -= 1;
            self.use_prefix(replica, id, hits.count);
            let llm = self.replicas[replica as usize].llm();
            llm.allocate(needed);
            // A request handed over after its prefill: its next token's gap counts from its first.
            let last_token_at = if handed > 0 { self.requests[id as usize].at(Stamp::FirstOutput) } else { NO_TIME };
            let llm = self.replicas[replica as usize].llm();
            llm.running.push(Sequence {
                request: id,
                prompt,
                output,
                generated,
                computed: cached,
                blocks: needed,
                shared: hits.count,
                shared_blocks: hits.blocks,
                scheduled: take,
                last_token_at,
            });
            self.requests[id as usize].kv_tokens = 0;
            add_to_step(&mut step, cached, take);
            if first_time && engine.prefix_caching && now >= self.model.warmup {
                if let Some(llm_metrics) = self.pools[pool as usize].metrics.llm.as_mut() {
                    llm_metrics.prefix_lookup_tokens += u64::from(prompt);
                    llm_metrics.prefix_hit_tokens += u64::from(cached);
                }
            }
            budget -= take;
            // Its first iteration (a preempted request resuming keeps its first).
            if self.requests[id as usize].batch == u64::MAX {
                self.requests[id as usize].batch = self.next_batch;
                self.stamp(id, Stamp::BatchStarted);
                self.stamp(id, Stamp::BatchReady);
            }
        }
        let state = &mut self.replicas[replica as usize];
        let llm = state.llm();
        if step.requests == 0 {
            return;
        }
        let used_tokens = f64::from(engine.kv_blocks - llm.free_blocks) * f64::from(engine.block_size);
        llm.busy = true;
        llm.step = llm.step.wrapping_add(1);
        llm.step_started = now;
        let step_number = llm.step;
        self.next_batch += 1;
        self.pools[pool as usize].busy_replicas += 1;
        let mut time = serving.service.sample_step(&step, &mut state.service_rng);
        if state.slow_factor != 1.0 {
            time = (time as f64 * state.slow_factor) as Nanos;
        }
        if now >= self.model.warmup {
            let metrics = &mut self.pools[pool as usize].metrics;
            metrics.batch_sizes[step.requests as usize] += 1;
            if let Some(llm_metrics) = metrics.llm.as_mut() {
                let end = now.saturating_add(time);
                llm_metrics.kv_token_nanos += used_tokens * overlap(now, end, self.model.warmup, self.model.duration);
                llm_metrics.iterations += 1;
                llm_metrics.prefill_tokens += u64::from(step.prefill_tokens);
                llm_metrics.decode_tokens += u64::from(step.decode_tokens);
            }
        }
        self.schedule_work(replica, time, false, Event::Kind(KindEvent::LlmStepDone { replica, step: step_number }));
    }

    /// Preempts the newest running sequences, as long as there are more than `keep`, until
    /// `needed` blocks are free: their blocks go back, they return to the front of the queue, and
    /// their work is recomputed later.
    fn preempt_for(&mut self, replica: u32, keep: usize, needed: u32) {
        let pool = self.replicas[replica as usize].pool;
        let measured = self.now >= self.model.warmup;
        while needed > self.replicas[replica as usize].llm().free_blocks
            && self.replicas[replica as usize].llm().running.len() > keep
        {
            let victim = self.replicas[replica as usize].llm().running.pop().expect("more than `keep` run");
            self.release_blocks(replica, &victim);
            self.requests[victim.request as usize].generated = victim.generated;
            self.replicas[replica as usize].llm().waiting.push_front(victim.request);
            let pool_state = &mut self.pools[pool as usize];
            pool_state.queued += 1;
            if let Some(llm_metrics) = pool_state.metrics.llm.as_mut().filter(|_| measured) {
                llm_metrics.preemptions += 1;
                llm_metrics.recomputed_tokens += u64::from(victim.computed);
            }
        }
    }

    /// An iteration ended: every scheduled sequence computed its tokens; those at their last
    /// known token produce the next, and those with every output leave.
    pub(super) fn on_llm_step_done(&mut self, replica: u32, step: u16) {
        let now = self.now;
        let model = self.model;
        let state = &mut self.replicas[replica as usize];
        let pool = state.pool;
        let llm = state.llm();
        if !llm.busy || llm.step != step {
            return; // a crash ended it
        }
        llm.busy = false;
        let started = llm.step_started;
        let pool_state = &mut self.pools[pool as usize];
        pool_state.busy_replicas -= 1;
        pool_state.metrics.busy_nanos += overlap(started, now, model.warmup, model.duration);
        pool_state.window_busy += (now - started.max(pool_state.window_start)) as f64;
        let mut i = 0;
        while i < self.replicas[replica as usize].llm().running.len() {
            let llm = self.replicas[replica as usize].llm();
            let sequence = &mut llm.running[i];
            if sequence.scheduled == 0 {
                i += 1;
                continue;
            }
            sequence.computed += std::mem::take(&mut sequence.scheduled);
            if sequence.pending() > 0 {
                i += 1;
                continue;
            }
            sequence.generated += 1;
            let id = sequence.request;
            let pool_state = &mut self.pools[pool as usize];
            pool_state.window_tokens += 1;
            if let Some(interval) = pool_state.metrics.interval.llm.as_mut() {
                interval.output_tokens += 1;
            }
            if sequence.generated == 1 {
                self.cache_prompt(replica, i);
            }
            let llm = self.replicas[replica as usize].llm();
            if llm.role == Role::Prefill {
                // The first token is out: the request moves on to a decode replica.
                let prefilled = llm.running.remove(i);
                self.release_blocks(replica, &prefilled);
                let request = &mut self.requests[id as usize];
                request.generated = 1;
                if request.at(Stamp::FirstOutput) == 0 {
                    request.stamps[Stamp::FirstOutput as usize] = now;
                }
                if prefilled.output <= 1 {
                    self.stamp(id, Stamp::ServiceDone);
                    self.leave_service(replica, id);
                } else {
                    self.hand_to_decoder(replica, id, prefilled.prompt + prefilled.generated - 1);
                }
                continue;
            }
            let sequence = &mut llm.running[i];
            let previous = std::mem::replace(&mut sequence.last_token_at, now);
            let done = sequence.generated >= sequence.output;
            let generated = sequence.generated;
            let request = &mut self.requests[id as usize];
            request.generated = generated;
            request.batch_size = generated;
            let measured = request.sent >= model.warmup;
            if request.at(Stamp::FirstOutput) == 0 {
                request.stamps[Stamp::FirstOutput as usize] = now;
            } else if measured && previous != NO_TIME {
                if let Some(llm_metrics) = self.pools[pool as usize].metrics.llm.as_mut() {
                    llm_metrics.inter_token.saturating_record(now - previous);
                    llm_metrics.inter_token_sum += (now - previous) as f64;
                }
            }
            if done {
                let llm = self.replicas[replica as usize].llm();
                let finished = llm.running.remove(i);
                self.release_blocks(replica, &finished);
                self.stamp(id, Stamp::ServiceDone);
                self.leave_service(replica, id);
            } else {
                i += 1;
            }
        }
        self.llm_try_step(replica);
    }

    /// A prefill replica's request, `tokens` of KV computed, goes to the least loaded decode
    /// replica once its KV cache has crossed the link.
    fn hand_to_decoder(&mut self, replica: u32, id: u32, tokens: u32) {
        let pool = self.replicas[replica as usize].pool;
        let serving = serving_of(&self.pools, pool);
        let split = engine(serving).disaggregation.as_ref().expect("prefill replicas are disaggregated");
        let transfer = (f64::from(tokens) * split.transfer_nanos_per_token).round() as Nanos;
        if self.pools[pool as usize].decode_lb.is_empty() {
            // No decode replica is ready: the request fails as a server error would.
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let state = &mut self.pools[pool as usize];
        let decoders = &state.decode_lb;
        let replicas = &self.replicas;
        let pick = state
            .balancing
            .pick(serving.balancer, decoders.len() as u32, |k| replicas[decoders[k as usize] as usize].outstanding);
        let decoder = state.decode_lb[pick as usize];
        self.release(id);
        let generation = self.replicas[decoder as usize].generation;
        self.replicas[decoder as usize].outstanding += 1;
        let request = &mut self.requests[id as usize];
        request.replica = decoder;
        request.served_by = decoder;
        request.generation = generation;
        request.kv_tokens = tokens;
        self.events.schedule(self.now.saturating_add(transfer), Event::Kind(KindEvent::KvTransferDone { request: id }));
    }

    /// The KV cache arrived: the request waits for its decode replica's next iteration.
    pub(super) fn on_kv_transfer_done(&mut self, id: u32) {
        if self.stale(id) {
            self.server_error(id, Outcome::Failed, true);
            return;
        }
        let replica = self.requests[id as usize].replica;
        let pool = self.replicas[replica as usize].pool;
        let capacity = serving_of(&self.pools, pool).queue_capacity as usize;
        let llm = self.replicas[replica as usize].llm();
        if llm.waiting.len() >= capacity {
            self.server_error(id, Outcome::Dropped, true);
            return;
        }
        llm.waiting.push_back(id);
        self.pools[pool as usize].queued += 1;
        self.llm_try_step(replica);
    }

    /// A crash: the queued requests fail.
    pub(super) fn llm_fail_waiting(&mut self, replica: u32) {
        let pool = self.replicas[replica as usize].pool;
        while let Some(id) = self.replicas[replica as usize].llm().waiting.pop_front() {
            self.pools[pool as usize].queued -= 1;
            self.server_error(id, Outcome::Failed, true);
        }
    }

    /// A crash: the running sequences fail and their blocks are gone with the process; the
    /// iteration in flight is stale.
    pub(super) fn llm_fail_running(&mut self, replica: u32) {
        let pool = self.replicas[replica as usize].pool;
        let kv_blocks = engine(serving_of(&self.pools, pool)).kv_blocks;
        let llm = self.replicas[replica as usize].llm();
        if llm.busy {
            llm.busy = false;
            self.pools[pool as usize].busy_replicas -= 1;
        }
        let llm = self.replicas[replica as usize].llm();
        llm.free_blocks = kv_blocks;
        if let Some(prefix) = llm.prefix.as_mut() {
            prefix.clear();
        }
        while let Some(sequence) = self.replicas[replica as usize].llm().running.pop() {
            self.server_error(sequence.request, Outcome::Failed, true);
        }
    }

    /// `total` plus the running iteration's time since `since`.
    pub(super) fn llm_busy_nanos_since(&self, replica: u32, since: Nanos, total: f64) -> f64 {
        match &self.replicas[replica as usize].kind {
            KindState::Llm(llm) if llm.busy => total + (self.now - llm.step_started.max(since)) as f64,
            _ => total,
        }
    }
}

impl World<'_> {
    /// llm-d's endpoint picker: the position in the pool's load balancer whose replica scores
    /// best for request `id` — prefix-cache hits read live, queue and KV usage from the signals
    /// of the last refresh.
    pub(super) fn pick_endpoint(&mut self, pool: u32, id: u32, picker: &crate::model::PickerModel) -> u32 {
        let now = self.now;
        let (first, slots) = (self.pools[pool as usize].first_replica, self.pools[pool as usize].slots);
        let at = self.pools[pool as usize].signals_at;
        if at == NO_TIME || now >= at.saturating_add(picker.refresh) {
            let mut signals = std::mem::take(&mut self.pools[pool as usize].signals);
            signals.clear();
            signals.extend((first..first + slots).map(|r| (self.waiting(r) as u32, self.kv_usage(r))));
            let state = &mut self.pools[pool as usize];
            state.signals = signals;
            state.signals_at = now;
        }
        let block_size = engine(serving_of(&self.pools, pool)).block_size;
        let (count, _) = self.prompt_blocks(id, block_size);
        let mut keys = std::mem::take(&mut self.scratch_keys);
        keys.clear();
        keys.extend((0..count).map(|k| self.prompt_block_key(id, k)));
        let state = &self.pools[pool as usize];
        let most_waiting = state.lb.iter().map(|&r| state.signals[(r - first) as usize].0).max().unwrap_or(0);
        let mut scores = std::mem::take(&mut self.scratch_scores);
        scores.clear();
        for &replica in &state.lb {
            let (waiting, kv) = state.signals[(replica - first) as usize];
            let hits = match &self.replicas[replica as usize].kind {
                KindState::Llm(llm) => {
                    llm.prefix.as_ref().map_or(0, |cache| keys.iter().take_while(|&&key| cache.contains(key)).count())
                }
                KindState::Batcher(_) => 0,
            };
            let prefix = if keys.is_empty() { 0.0 } else { hits as f64 / keys.len() as f64 };
            let queue = if most_waiting == 0 { 1.0 } else { 1.0 - f64::from(waiting) / f64::from(most_waiting) };
            scores.push(picker.prefix_weight * prefix + picker.queue_weight * queue + picker.kv_weight * (1.0 - kv));
        }
        let state = &mut self.pools[pool as usize];
        let position = state.balancing.pick_best(scores.len() as u32, |k| scores[k as usize]);
        let replica = state.lb[position as usize];
        self.scratch_keys = keys;
        self.scratch_scores = scores;
        replica
    }

    /// The request's prompt blocks with hashes: how many (whole blocks within its prompt), the
    /// tokens each covers, and the `k`-th block's key.
    fn prompt_blocks(&self, id: u32, block_size: u32) -> (u32, u32) {
        let request = &self.requests[id as usize];
        if request.source == u32::MAX || request.prefix == u32::MAX {
            return (0, 0);
        }
        let source = &self.model.sources[request.source as usize];
        let prompt = request.size.max(1);
        match (&source.process, source.tokens.as_ref().and_then(|t| t.shared_prefix)) {
            (Process::Trace(trace), _) => match &trace.hashes {
                Some(hashes) => {
                    let listed = hashes.of(request.prefix as usize).len() as u32;
                    (listed.min(prompt / hashes.block_tokens), hashes.block_tokens)
                }
                None => (0, 0),
            },
            (_, Some((tokens, _))) => (tokens.min(prompt) / block_size, block_size),
            _ => (0, 0),
        }
    }

    fn prompt_block_key(&self, id: u32, k: u32) -> u64 {
        let request = &self.requests[id as usize];
        let source = &self.model.sources[request.source as usize];
        match &source.process {
            Process::Trace(trace) => {
                trace.hashes.as_ref().expect("counted blocks have hashes").of(request.prefix as usize)[k as usize]
            }
            _ => ((u64::from(request.source) + 1) << 56) ^ (u64::from(request.prefix) << 24) ^ u64::from(k),
        }
    }

    /// The leading blocks of `id`'s prompt cached on `replica`, and what using them would take.
    fn prefix_hits(&self, replica: u32, id: u32, block_size: u32) -> PrefixHits {
        let (count, tokens) = self.prompt_blocks(id, block_size);
        let mut hits = PrefixHits::default();
        if count == 0 {
            return hits;
        }
        let KindState::Llm(llm) = &self.replicas[replica as usize].kind else { return hits };
        let Some(prefix) = llm.prefix.as_ref() else { return hits };
        for k in 0..count {
            let Some(cost) = prefix.cost_to_use(self.prompt_block_key(id, k)) else { break };
            hits.count += 1;
            hits.tokens += tokens;
            hits.blocks += blocks_for(tokens, block_size);
            hits.cost += cost;
        }
        hits
    }

    /// `id` uses the first `count` of its prompt's blocks from `replica`'s cache.
    fn use_prefix(&mut self, replica: u32, id: u32, count: u32) {
        for k in 0..count {
            let key = self.prompt_block_key(id, k);
            let llm = self.replicas[replica as usize].llm();
            let prefix = llm.prefix.as_mut().expect("hits come from a cache");
            let taken = prefix.use_block(key);
            llm.free_blocks -= taken;
        }
    }

    /// A sequence leaves the engine: its own blocks are free, and the cached ones it used are
    /// free once no other sequence uses them (they stay cached). The prompt's tail is released
    /// first, so that it is evicted before the head that other prompts share.
    fn release_blocks(&mut self, replica: u32, sequence: &Sequence) {
        for k in (0..sequence.shared).rev() {
            let key = self.prompt_block_key(sequence.request, k);
            let llm = self.replicas[replica as usize].llm();
            let freed = llm.prefix.as_mut().expect("shared blocks come from a cache").release(key);
            llm.free_blocks += freed;
        }
        self.replicas[replica as usize].llm().free_blocks += sequence.blocks;
    }

    /// The prompt of the `index`-th running sequence is computed: its whole blocks are cached,
    /// shared from now on (those cached already by another sequence stay its own, as in vLLM).
    fn cache_prompt(&mut self, replica: u32, index: usize) {
        let block_size = match &self.replicas[replica as usize].kind {
            KindState::Llm(llm) if llm.prefix.is_some() => {
                engine(serving_of(&self.pools, self.replicas[replica as usize].pool)).block_size
            }
            _ => return,
        };
        let sequence = self.replicas[replica as usize].llm().running[index];
        let (count, tokens) = self.prompt_blocks(sequence.request, block_size);
        let blocks = blocks_for(tokens, block_size);
        for k in sequence.shared..count {
            let key = self.prompt_block_key(sequence.request, k);
            let llm = self.replicas[replica as usize].llm();
            if llm.running[index].blocks < blocks {
                break;
            }
            if !llm.prefix.as_mut().expect("checked above").insert_used(key, blocks) {
                break;
            }
            let own = &mut llm.running[index];
            own.blocks -= blocks;
            own.shared += 1;
            own.shared_blocks += blocks;
        }
    }
}

/// The leading prompt blocks found in a prefix cache: how many, the tokens and KV blocks they
/// cover, and the blocks that using them takes from the free ones (those no sequence uses yet).
#[derive(Clone, Copy, Debug, Default)]
struct PrefixHits {
    count: u32,
    tokens: u32,
    blocks: u32,
    cost: u32,
}

/// Adds `take` tokens of a sequence with `computed` tokens already cached to an iteration: causal
/// attention over its context and itself, its KV read once.
fn add_to_step(step: &mut Step, computed: u32, take: u32) {
    step.requests += 1;
    if computed > 0 && take == 1 {
        step.decode_tokens += 1;
    } else {
        step.prefill_tokens += take;
    }
    let (c, n) = (u64::from(computed), u64::from(take));
    step.attention_pairs += n * c + n * (n + 1) / 2;
    step.kv_tokens_read += c + n;
    step.longest = step.longest.max(computed + take);
}
