//! The event queue: a binary heap ordered by `(time, sequence)`, beside a few FIFO lanes for
//! events scheduled a constant delay ahead.
//!
//! The sequence number is the order of scheduling, so events at the same nanosecond pop in the order
//! they were scheduled and every run is reproducible. Storage is reused: once the heap and lanes
//! have grown to the run's peak number of pending events, scheduling allocates nothing.
//!
//! Lanes: simulated time never goes back, so events scheduled `now + d` for one constant `d` (a
//! network hop, a constant stage time) arrive in time order, and with increasing sequence numbers:
//! a FIFO holds them sorted at O(1) a push and a pop, where the heap pays O(log n) in cache
//! misses. Popping compares the heap's root with each lane's front, so the pop order is exactly
//! the heap-only order.

use crate::units::Nanos;
use std::collections::VecDeque;

/// Distinct constant delays that get a lane; further ones share the heap.
const MAX_LANES: usize = 8;

/// 24 bytes for an 8-byte event: time and sequence as two words (a `u128` key would align the
/// entry to 32).
#[derive(Clone, Copy)]
struct Entry<E> {
    time: Nanos,
    sequence: u64,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn before(&self, other: &Self) -> bool {
        (self.time, self.sequence) < (other.time, other.sequence)
    }
}

/// A binary min-heap written for `Copy` events (a 4-ary heap and a 128-bit key comparison were
/// measured slower: with the lanes, the heap holds only hundreds of events): a new entry travels through the heap as a value
/// held in registers and is written once, where it lands. (`std`'s `BinaryHeap` writes it at the end
/// and reads it back, which stalls the store buffer on every push: a quarter of the engine's time.)
///
/// Pops are lazy: the popped root stays as a hole until the next call. Handlers nearly always
/// schedule an event before the next pop, and that event then fills the hole from the top (one
/// sift-down) instead of the last entry filling it (a sift-down) and the new one being pushed (a
/// sift-up).
pub struct EventQueue<E: Copy> {
    heap: Vec<Entry<E>>,
    next_sequence: u64,
    /// `heap[0]` was popped and awaits replacement.
    root_popped: bool,
    /// The constant delay of each lane, and the lane: entries in `(time, sequence)` order.
    lane_delays: Vec<Nanos>,
    lanes: Vec<VecDeque<Entry<E>>>,
}

impl<E: Copy> EventQueue<E> {
    pub fn with_capacity(capacity: usize) -> Self {
        EventQueue {
            heap: Vec::with_capacity(capacity),
            next_sequence: 0,
            root_popped: false,
            lane_delays: Vec::with_capacity(MAX_LANES),
            lanes: Vec::with_capacity(MAX_LANES),
        }
    }

    /// Schedules `event` at `now + delay`, where `delay` is one of a few constants the caller uses
    /// again and again and `now` never decreases between calls (the simulation clock). Such events
    /// go to the lane for `delay`; any event that would break a lane's order goes to the heap, so the
    /// pop order is the same whatever the caller passes.
    #[inline]
    pub fn schedule_after(&mut self, now: Nanos, delay: Nanos, event: E) {
        let time = now.saturating_add(delay);
        let lane = match self.lane_delays.iter().position(|&d| d == delay) {
            Some(lane) => lane,
            None if self.lanes.len() < MAX_LANES => {
                self.lane_delays.push(delay);
                self.lanes.push(VecDeque::with_capacity(64));
                self.lanes.len() - 1
            }
            None => return self.schedule(time, event),
        };
        if self.lanes[lane].back().is_some_and(|last| last.time > time) {
            return self.schedule(time, event);
        }
        let entry = Entry { time, sequence: self.next_sequence, event };
        self.next_sequence += 1;
        self.lanes[lane].push_back(entry);
    }

    #[inline]
    pub fn schedule(&mut self, time: Nanos, event: E) {
        let entry = Entry { time, sequence: self.next_sequence, event };
        self.next_sequence += 1;
        if self.root_popped {
            self.root_popped = false;
            self.fill_root(entry);
            return;
        }
        let mut hole = self.heap.len();
        self.heap.push(entry);
        while hole > 0 {
            let parent = (hole - 1) / 2;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[hole] = self.heap[parent];
            hole = parent;
        }
        self.heap[hole] = entry;
    }

    /// Puts `entry` in the hole at the root and moves it down to where it belongs.
    #[inline]
    fn fill_root(&mut self, entry: Entry<E>) {
        let len = self.heap.len();
        let mut hole = 0;
        loop {
            let left = 2 * hole + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].before(&self.heap[left]) { right } else { left };
            if !self.heap[child].before(&entry) {
                break;
            }
            self.heap[hole] = self.heap[child];
            hole = child;
        }
        self.heap[hole] = entry;
    }

    /// The earliest event and its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        if self.root_popped {
            self.root_popped = false;
            let last = self.heap.pop().expect("a popped root is still stored");
            if !self.heap.is_empty() {
                self.fill_root(last);
            }
        }
        let mut best: Option<(usize, &Entry<E>)> = None;
        for (lane, entries) in self.lanes.iter().enumerate() {
            if let Some(front) = entries.front() {
                if best.is_none_or(|(_, b)| front.before(b)) {
                    best = Some((lane, front));
                }
            }
        }
        match (best, self.heap.first()) {
            (Some((_, front)), Some(top)) if top.before(front) => {}
            (Some((lane, _)), _) => {
                let entry = self.lanes[lane].pop_front().expect("the lane had a front");
                return Some((entry.time, entry.event));
            }
            (None, None) => return None,
            (None, Some(_)) => {}
        }
        let top = self.heap[0];
        self.root_popped = true;
        Some((top.time, top.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len() - usize::from(self.root_popped) + self.lanes.iter().map(VecDeque::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_ties_in_insertion_order() {
        let mut queue = EventQueue::with_capacity(4);
        queue.schedule(30, "c");
        queue.schedule(10, "a1");
        queue.schedule(20, "b");
        queue.schedule(10, "a2");
        queue.schedule(10, "a3");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, vec![(10, "a1"), (10, "a2"), (10, "a3"), (20, "b"), (30, "c")]);
    }

    #[test]
    fn pops_the_minimum_pending_event_on_random_schedules() {
        use rand::Rng as _;
        let mut rng = crate::rng::stream(9, "heap-test");
        let mut queue = EventQueue::with_capacity(8);
        let mut scheduled = Vec::new();
        // Each pop, with how many events had been scheduled before it.
        let mut pops = Vec::new();
        let mut clock = 0u64;
        for round in 0..20_000u32 {
            // Interleave pushes and pops, with many equal times to exercise the tie rule.
            // Half the events go through lanes: a few constant delays from the clock (the last
            // popped time), and now and then a delay from a new lane or a clock that lags.
            let draw = rng.random::<f64>();
            if draw < 0.3 {
                let time = rng.random_range(0..50u64) + u64::from(round / 100);
                queue.schedule(time, round);
                scheduled.push((time, round));
            } else if draw < 0.55 {
                let delay = [0, 3, 7, 7, 20, 50, 1, 2, 4, 5, 6, 8][rng.random_range(0..12usize)];
                let lag = if rng.random::<f64>() < 0.05 { rng.random_range(0..5u64) } else { 0 };
                let now = clock.saturating_sub(lag);
                queue.schedule_after(now, delay, round);
                scheduled.push((now + delay, round));
            } else if let Some(entry) = queue.pop() {
                clock = entry.0;
                pops.push((entry, scheduled.len()));
            }
            assert_eq!(queue.len(), scheduled.len() - pops.len());
        }
        while let Some(entry) = queue.pop() {
            pops.push((entry, scheduled.len()));
        }
        // Replay with a plain list: each pop must be the least (time, order of scheduling) pending.
        let mut pending: Vec<(u64, u32)> = Vec::new();
        let mut taken = 0;
        for &(entry, scheduled_before) in &pops {
            pending.extend_from_slice(&scheduled[taken..scheduled_before]);
            taken = scheduled_before;
            let least = *pending.iter().min().expect("a pop implies a pending event");
            assert_eq!(entry, least);
            pending.retain(|&e| e != least);
        }
        assert_eq!(pops.len(), scheduled.len());
    }

    #[test]
    fn handles_the_largest_times() {
        let mut queue = EventQueue::with_capacity(2);
        queue.schedule(u64::MAX, 2);
        queue.schedule(u64::MAX - 1, 1);
        assert_eq!(queue.pop(), Some((u64::MAX - 1, 1)));
        assert_eq!(queue.pop(), Some((u64::MAX, 2)));
        assert!(queue.is_empty());
    }
}
