//! Triton's dynamic batcher as a decision: given what waits in a replica's queue, send a batch
//! now, or wait until a time. Pure: the replica (`world/batcher.rs`) owns the queue and instances.

use crate::units::Nanos;

/// A checked `[serving.batching]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicBatching {
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
    /// With `waiting` requests queued (at least one), the oldest enqueued at `oldest_enqueued`:
    /// the largest preferred size the queue can form; failing that, up to `max_batch` if that many
    /// wait or once the oldest has waited `max_queue_delay`; otherwise wait for that moment.
    #[inline]
    pub fn decide(&self, waiting: u32, oldest_enqueued: Nanos, now: Nanos) -> Dispatch {
        let n = waiting.min(self.max_batch);
        if let Some(&preferred) = self.preferred_batch_sizes.iter().find(|&&p| p <= n) {
            return Dispatch::Send(preferred);
        }
        let ready_at = oldest_enqueued.saturating_add(self.max_queue_delay);
        if n == self.max_batch || now >= ready_at {
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
        DynamicBatching { max_batch, max_queue_delay: delay, preferred_batch_sizes: preferred.to_vec(), instances: 1 }
    }

    #[test]
    fn a_full_batch_goes_at_once() {
        assert_eq!(batching(8, 5_000, &[]).decide(8, 100, 100), Dispatch::Send(8));
        assert_eq!(batching(8, 5_000, &[]).decide(20, 100, 100), Dispatch::Send(8));
    }

    #[test]
    fn a_partial_batch_waits_for_the_oldest_requests_delay() {
        let b = batching(8, 5_000, &[]);
        assert_eq!(b.decide(3, 1_000, 2_000), Dispatch::WaitUntil(6_000));
        assert_eq!(b.decide(3, 1_000, 6_000), Dispatch::Send(3));
        // No delay: whatever waits goes.
        assert_eq!(batching(8, 0, &[]).decide(1, 1_000, 1_000), Dispatch::Send(1));
    }

    #[test]
    fn the_largest_preferred_size_the_queue_can_form_goes_at_once() {
        let b = batching(16, 5_000, &[8, 4]);
        assert_eq!(b.decide(5, 0, 0), Dispatch::Send(4));
        assert_eq!(b.decide(11, 0, 0), Dispatch::Send(8));
        assert_eq!(b.decide(3, 0, 0), Dispatch::WaitUntil(5_000));
    }
}
