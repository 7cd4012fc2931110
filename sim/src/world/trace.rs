//! Request traces (`RunOptions::trace_sample`): a deterministic sample of client requests, plus
//! every failed, retried or degraded one, kept with their stamps up to a cap, for `reports::otlp`
//! to write as OpenTelemetry spans. Off, it costs one branch per request.

use super::request::{Outcome, Request, Stages};
use super::{World, NONE};
use crate::units::Nanos;

/// Requests a run keeps at most: about 5 MB here and 40 MB of OTLP/JSON.
pub const MAX_TRACED: usize = 10_000;

/// One traced request: what its spans are made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TracedRequest {
    pub serial: u64,
    pub sent: Nanos,
    pub finished: Nanos,
    pub outcome: Outcome,
    pub stages: Stages,
    /// 0 for the main endpoint, `k` for `Model::endpoints[k − 1]`.
    pub endpoint: u32,
    pub origin: u32,
    /// The region of its last attempt.
    pub region: u32,
    /// Its replica's slot in its deployment, or NONE.
    pub replica: u32,
    pub batch_size: u32,
    pub attempts: u32,
    /// Drawn by the sample (false: kept for failing, retrying or degrading).
    pub sampled: bool,
}

#[derive(Default)]
pub(super) struct TraceState {
    /// A request is sampled when its hash is below this (0: tracing off).
    threshold: u64,
    on: bool,
    seed: u64,
    pub traced: Vec<TracedRequest>,
    /// Requests that qualified after the cap was reached.
    pub left_out: u64,
}

/// SplitMix64's finalizer: a request's serial and the seed to a uniform 64-bit draw, without
/// touching any random stream (tracing on or off, every other draw is the same).
pub fn mix(seed: u64, value: u64) -> u64 {
    let mut z = seed ^ value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl TraceState {
    pub fn new(sample: Option<f64>, seed: u64) -> Self {
        match sample {
            None => TraceState::default(),
            Some(rate) => TraceState {
                threshold: (rate.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
                on: true,
                seed,
                traced: Vec::with_capacity(MAX_TRACED),
                left_out: 0,
            },
        }
    }
}

impl World<'_> {
    /// A client request ended: kept if sampled, retried, or not a plain answer.
    #[inline]
    pub(super) fn trace(&mut self, request: &Request, outcome: Outcome) {
        if !self.tracing.on || outcome == Outcome::Unfinished {
            return;
        }
        self.keep_trace(request, outcome);
    }

    #[cold]
    fn keep_trace(&mut self, request: &Request, outcome: Outcome) {
        let state = &mut self.tracing;
        let sampled = mix(state.seed, request.serial) < state.threshold;
        if !(sampled || request.attempt > 1 || outcome != Outcome::Completed) {
            return;
        }
        if state.traced.len() >= MAX_TRACED {
            state.left_out += 1;
            return;
        }
        let pool = &self.pools[request.pool as usize];
        let replica = if request.served_by == NONE {
            NONE
        } else {
            request.served_by - self.pools[self.replicas[request.served_by as usize].pool as usize].first_replica
        };
        self.tracing.traced.push(TracedRequest {
            serial: request.serial,
            sent: request.sent,
            finished: self.now,
            outcome,
            stages: request.stages(),
            endpoint: pool.endpoint,
            origin: request.origin,
            region: request.region,
            replica,
            batch_size: request.batch_size,
            attempts: request.attempt,
            sampled,
        });
    }
}
