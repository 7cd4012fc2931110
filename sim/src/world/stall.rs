//! Server-wide stalls (`[serving.overhead.stalls]`): a replica's pauses, drawn ahead of the work
//! they delay. The pauses are a renewal process of their own (exponential gaps, then a drawn
//! length) that no request changes, so a piece of work's finish is its length of running time
//! counted around the pauses it meets: work under way when one starts finishes that much later,
//! and work started during one starts when it ends.

use super::{Event, World};
use crate::model::StallModel;
use crate::rng::Rng;
use crate::units::Nanos;
use std::collections::VecDeque;

/// One replica's pauses from now on.
pub(super) struct StallTimeline {
    model: StallModel,
    rng: Rng,
    /// Pauses that had not ended at the last query, in time order: (start, end).
    ahead: VecDeque<(Nanos, Nanos)>,
    /// The end of the last pause drawn: the next starts a gap after it.
    drawn_until: Nanos,
}

impl StallTimeline {
    pub(super) fn new(model: StallModel, rng: Rng) -> Self {
        StallTimeline { model, rng, ahead: VecDeque::with_capacity(16), drawn_until: 0 }
    }

    fn draw(&mut self) {
        let start = self.drawn_until.saturating_add(self.model.gap.sample(&mut self.rng));
        let end = start.saturating_add(self.model.duration.sample(&mut self.rng));
        self.ahead.push_back((start, end));
        self.drawn_until = end;
    }

    /// When `work` nanoseconds of running time that may start at `now` are done.
    pub(super) fn finish(&mut self, now: Nanos, work: Nanos) -> Nanos {
        while self.ahead.front().is_some_and(|&(_, end)| end <= now) {
            self.ahead.pop_front();
        }
        let (mut at, mut left) = (now, work);
        let mut i = 0;
        loop {
            if i == self.ahead.len() {
                self.draw();
                // Pauses drawn for a stretch nobody worked through (an idle replica) are past.
                if self.ahead[i].1 <= now {
                    self.ahead.pop_back();
                    continue;
                }
            }
            let (start, end) = self.ahead[i];
            if start >= at.saturating_add(left) {
                return at.saturating_add(left);
            }
            if start > at {
                left -= start - at;
            }
            at = at.max(end);
            i += 1;
        }
    }
}

impl World<'_> {
    /// Schedules `event` for when `work` nanoseconds of `replica`'s work, starting now, are done:
    /// later by the pauses it meets when the replica stalls.
    #[inline]
    pub(super) fn schedule_work(&mut self, replica: u32, work: Nanos, constant: bool, event: Event) {
        if !self.stalls_anywhere {
            return self.schedule_in(work, constant, event);
        }
        match self.replicas[replica as usize].stalls.as_mut() {
            None => self.schedule_in(work, constant, event),
            Some(stalls) => {
                let at = stalls.finish(self.now, work);
                self.events.schedule(at, event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Sampler;

    #[test]
    fn work_is_counted_around_the_pauses() {
        // Constant gaps of 100 ms and pauses of 20 ms: paused 100–120, 220–240, 340–360, …
        let model = StallModel { gap: Sampler::constant(100 * MS), duration: Sampler::constant(20 * MS) };
        let mut timeline = StallTimeline::new(model, crate::rng::stream(1, "test"));
        // Work that ends before the first pause is untouched; one that reaches it waits it out.
        assert_eq!(timeline.finish(0, 100 * MS), 100 * MS);
        assert_eq!(timeline.finish(90 * MS, 30 * MS), 140 * MS);
        // Started during a pause: from its end.
        assert_eq!(timeline.finish(105 * MS, 10 * MS), 130 * MS);
        // Long work crosses three pauses: 120–220, 240–340, then 50 ms from 360.
        assert_eq!(timeline.finish(120 * MS, 250 * MS), 410 * MS);
        // Much later (an idle replica): the pauses keep their schedule, 1300–1320 is one.
        assert_eq!(timeline.finish(1290 * MS, 20 * MS), 1330 * MS);
    }

    const MS: Nanos = 1_000_000;
}
