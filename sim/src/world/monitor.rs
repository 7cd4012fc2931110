//! What Prometheus would scrape from the endpoints' clients: cumulative request, error and
//! slow-request counters per endpoint (`monitor::MonitoringModel` says which), sampled every
//! scrape interval, and when each fault began and ended, so that `monitor::summarize` can say
//! when each burn-rate alert fired and which fault it caught.

use super::request::Outcome;
use super::{Event, World};
use crate::monitor::{FaultOccurrence, Scrapes, COUNTERS_BEFORE_TARGETS};
use crate::units::Nanos;

/// The engine's side of monitoring (empty and never touched when nothing is watched).
#[derive(Default)]
pub(super) struct MonitorState {
    pub on: bool,
    /// Every endpoint's counters now (`MonitoringModel::width`).
    pub counters: Vec<u64>,
    pub scrapes: Scrapes,
    pub faults: Vec<FaultOccurrence>,
}

impl MonitorState {
    pub fn new(model: &crate::model::Model) -> Self {
        let monitoring = &model.monitoring;
        if !monitoring.is_on() {
            return MonitorState::default();
        }
        let rows = (model.duration / monitoring.scrape) as usize + 1;
        MonitorState {
            on: true,
            counters: vec![0; monitoring.width],
            scrapes: Scrapes {
                interval: monitoring.scrape,
                width: monitoring.width,
                values: Vec::with_capacity(rows * monitoring.width),
            },
            faults: Vec::new(),
        }
    }
}

impl World<'_> {
    /// A client request of `endpoint` ended with `outcome` after `latency` (answers and errors;
    /// a request cut unfinished at the end is not counted, as a client would not have logged it).
    #[inline]
    pub(super) fn count_for_monitoring(&mut self, endpoint: usize, outcome: Outcome, latency: Nanos) {
        if !self.monitor.on {
            return;
        }
        let at = &self.model.monitoring.endpoints[endpoint];
        let counters = &mut self.monitor.counters[at.first..at.first + COUNTERS_BEFORE_TARGETS + at.latency_max.len()];
        let error = match outcome {
            Outcome::Completed | Outcome::Degraded => false,
            Outcome::Failed | Outcome::Dropped | Outcome::TimedOut => true,
            Outcome::Unfinished => return,
        };
        counters[0] += 1;
        counters[1] += u64::from(error);
        for (slow, &max) in counters[COUNTERS_BEFORE_TARGETS..].iter_mut().zip(&at.latency_max) {
            *slow += u64::from(error || latency > max);
        }
    }

    /// Scrapes from time 0 to the end of traffic.
    pub(super) fn schedule_scrapes(&mut self) {
        if self.monitor.on {
            self.events.schedule(0, Event::Scrape);
        }
    }

    #[cold]
    pub(super) fn on_scrape(&mut self) {
        let MonitorState { counters, scrapes, .. } = &mut self.monitor;
        scrapes.values.extend_from_slice(counters);
        let next = self.now + scrapes.interval;
        if next <= self.model.duration {
            self.events.schedule(next, Event::Scrape);
        }
    }

    /// A fault took effect now, until `end` (its repair, or its scheduled end).
    #[cold]
    pub(super) fn log_fault(&mut self, fault: usize, end: Nanos) {
        if self.monitor.on {
            self.monitor.faults.push(FaultOccurrence { fault, start: self.now, end });
        }
    }
}
