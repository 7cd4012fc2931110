//! Triton's dynamic batcher as a decision: given what waits in a replica's queue, send a batch
//! now, or wait until a time. Pure: the replica (`world/batcher.rs`) owns the queue and instances.

use crate::units::Nanos;
use serde::{Deserialize, Serialize};

/// When a partial batch goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchRule {
    /// Triton's dynamic batcher: the oldest request waits at most `max_queue_delay`.
    #[default]
    Triton,
    /// A collection window of `max_queue_delay` that opens when an instance becomes free
    /// (LitServe's `batch_timeout`): the batch goes when full or when its window closes, and an
    /// empty window opens the next. Requests queued while the instance was busy wait a whole window.
    Window,
    /// A collection window of `max_queue_delay` that opens at the first request's arrival,
    /// whether or not an instance is free (MLServer's adaptive batching): the batch is formed when
    /// full or when its window closes, and formed batches queue for the instances in order.
    ArrivalWindow,
}

/// A checked `[serving.batching]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicBatching {
    pub rule: BatchRule,
    pub max_batch: u32,
    pub max_queue_delay: Nanos,
    /// Sorted, largest first, each at most `max_batch`.
    pub preferred_batch_sizes: Vec<u32>,
    /// Model instances per replica (Triton's `instance_group` count): each runs one batch at a time.
    pub instances: u32,
}

/// What a free model instance does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Take this many requests from the front of the queue as one batch.
    Send(u32),
    /// Nothing yet: decide again at this time (the oldest request's delay runs out).
    WaitUntil(Nanos),
}

impl DynamicBatching {
    /// With `waiting` requests queued (at least one), the oldest enqueued at `oldest_enqueued`,
    /// Triton's rule (`GetDynamicBatch` in its core): while the oldest has waited less than
    /// `max_queue_delay`, the largest preferred size the queue can form goes at once; once it has
    /// waited that long (or with no preferred size formed, once `max_batch` wait), everything
    /// pending goes, up to `max_batch`; otherwise wait for that moment. A zero delay never counts as
    /// exceeded, so preferred sizes still apply; with none formed, whatever waits goes at once.
    ///
    /// Under [`BatchRule::Window`], `window_open` is when the instance became free: windows run
    /// back to back from it, and the batch goes at the end of the window the oldest request is in.
    #[inline]
    pub fn decide(&self, waiting: u32, oldest_enqueued: Nanos, now: Nanos, window_open: Nanos) -> Dispatch {
        let n = waiting.min(self.max_batch);
        if self.rule == BatchRule::Window {
            return self.window(n, oldest_enqueued, now, window_open);
        }
        let ready_at = oldest_enqueued.saturating_add(self.max_queue_delay);
        let delay_exceeded = self.max_queue_delay > 0 && now >= ready_at;
        if !delay_exceeded {
            if let Some(&preferred) = self.preferred_batch_sizes.iter().find(|&&p| p <= n) {
                return Dispatch::Send(preferred);
            }
        }
        if n == self.max_batch || now >= ready_at {
            Dispatch::Send(n)
        } else {
            Dispatch::WaitUntil(ready_at)
        }
    }
}

impl DynamicBatching {
    #[cold]
    fn window(&self, n: u32, oldest_enqueued: Nanos, now: Nanos, window_open: Nanos) -> Dispatch {
        let length = self.max_queue_delay;
        if n == self.max_batch || length == 0 {
            return Dispatch::Send(n);
        }
        let into = oldest_enqueued.max(window_open) - window_open;
        let ready_at = window_open.saturating_add((into / length + 1).saturating_mul(length));
        if now >= ready_at {
            Dispatch::Send(n)
        } else {
            Dispatch::WaitUntil(ready_at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batching(max_batch: u32, delay: Nanos, preferred: &[u32]) -> DynamicBatching {
        DynamicBatching {
            rule: BatchRule::Triton,
            max_batch,
            max_queue_delay: delay,
            preferred_batch_sizes: preferred.to_vec(),
            instances: 1,
        }
    }

    #[test]
    fn a_full_batch_goes_at_once() {
        assert_eq!(batching(8, 5_000, &[]).decide(8, 100, 100, 0), Dispatch::Send(8));
        assert_eq!(batching(8, 5_000, &[]).decide(20, 100, 100, 0), Dispatch::Send(8));
    }

    #[test]
    fn a_partial_batch_waits_for_the_oldest_requests_delay() {
        let b = batching(8, 5_000, &[]);
        assert_eq!(b.decide(3, 1_000, 2_000, 0), Dispatch::WaitUntil(6_000));
        assert_eq!(b.decide(3, 1_000, 6_000, 0), Dispatch::Send(3));
        // No delay: whatever waits goes.
        assert_eq!(batching(8, 0, &[]).decide(1, 1_000, 1_000, 0), Dispatch::Send(1));
    }

    #[test]
    fn the_largest_preferred_size_the_queue_can_form_goes_at_once() {
        let b = batching(16, 5_000, &[8, 4]);
        assert_eq!(b.decide(5, 0, 0, 0), Dispatch::Send(4));
        assert_eq!(b.decide(11, 0, 0, 0), Dispatch::Send(8));
        assert_eq!(b.decide(3, 0, 0, 0), Dispatch::WaitUntil(5_000));
    }

    #[test]
    fn past_the_delay_everything_pending_goes_not_a_preferred_size() {
        let b = batching(16, 5_000, &[4]);
        // Oldest waited 4.999 ms: the preferred 4 goes.
        assert_eq!(b.decide(11, 1, 5_000, 0), Dispatch::Send(4));
        // 5 ms: the delay is exceeded, so all 11 go; more than max_batch waiting: 16 go.
        assert_eq!(b.decide(11, 0, 5_000, 0), Dispatch::Send(11));
        assert_eq!(b.decide(40, 0, 9_000, 0), Dispatch::Send(16));
        // With no delay configured the delay is never exceeded: the preferred size still applies,
        // and a queue too short for it goes whole.
        let eager = batching(16, 0, &[4]);
        assert_eq!(eager.decide(11, 0, 9_000, 0), Dispatch::Send(4));
        assert_eq!(eager.decide(3, 0, 9_000, 0), Dispatch::Send(3));
    }

    #[test]
    fn a_window_opens_when_the_instance_frees_and_runs_back_to_back() {
        let b = DynamicBatching { rule: BatchRule::Window, ..batching(8, 2_000, &[]) };
        // Free since 10 000; a request from before waits the whole first window.
        assert_eq!(b.decide(3, 5_000, 10_000, 10_000), Dispatch::WaitUntil(12_000));
        // One that arrives 4.5 µs into the windows goes when its window (the third) closes.
        assert_eq!(b.decide(1, 14_500, 14_500, 10_000), Dispatch::WaitUntil(16_000));
        assert_eq!(b.decide(1, 14_500, 16_000, 10_000), Dispatch::Send(1));
        // A full batch goes at once.
        assert_eq!(b.decide(9, 14_500, 14_600, 10_000), Dispatch::Send(8));
    }
}
