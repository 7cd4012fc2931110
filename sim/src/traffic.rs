//! Arrival processes. The parameters ([`Process`]) live in the model and are shared by every run;
//! each run keeps a [`SourceState`] per traffic source, with its own random stream.

use crate::rng::Rng;
use crate::units::Nanos;
use rand::Rng as _;
use rand_distr::{Distribution, Exp1};
use std::f64::consts::PI;
use std::sync::Arc;

/// A replayed trace: arrival offsets from the time origin (already divided by the speed-up),
/// sorted, with optional per-request sizes.
#[derive(Clone, Debug, Default)]
pub struct TraceData {
    pub offsets: Vec<Nanos>,
    pub sizes: Option<Vec<u32>>,
    pub outputs: Option<Vec<u32>>,
    /// Per request, the hashes of its prompt's blocks (Mooncake's `hash_ids`).
    pub hashes: Option<BlockHashes>,
}

/// Requests' prompt-block hashes, flattened: request `i`'s are `values[starts[i]..starts[i + 1]]`,
/// each naming `block_tokens` tokens of the prompt in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockHashes {
    pub starts: Vec<u32>,
    pub values: Vec<u64>,
    pub block_tokens: u32,
}

impl BlockHashes {
    pub fn of(&self, request: usize) -> &[u64] {
        &self.values[self.starts[request] as usize..self.starts[request + 1] as usize]
    }
}

/// One arrival of a source: when, and what the request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub time: Nanos,
    /// Its size (an LLM's prompt tokens), 0 when the process gives none.
    pub size: u32,
    /// Output tokens it asks for, 0 when the process gives none.
    pub output: u32,
    /// Its row in a trace (u32::MAX for synthetic arrivals).
    pub row: u32,
    /// Its shared-prefix group (synthetic LLM traffic; u32::MAX for none).
    pub group: u32,
}

/// Rates are per nanosecond here.
#[derive(Clone, Debug)]
pub enum Process {
    /// Mean gap between arrivals, in ns (kept rather than the rate: a multiply per draw, not a divide).
    Poisson {
        mean_gap: f64,
    },
    Constant {
        gap: f64,
    },
    Diurnal {
        base: f64,
        peak: f64,
        period: f64,
        phase: f64,
    },
    /// Piecewise-linear through `(time, rate)` points sorted by time, the first at time 0; constant
    /// after the last point. Build it with [`Process::schedule`].
    Schedule {
        points: Vec<(f64, f64)>,
    },
    Mmpp {
        low_rate: f64,
        high_rate: f64,
        mean_low: f64,
        mean_high: f64,
    },
    Trace(Arc<TraceData>),
}

impl Process {
    /// A schedule through `points` (sorted by time); the first point's rate also holds before it.
    pub fn schedule(mut points: Vec<(f64, f64)>) -> Self {
        if let Some(&(t0, r0)) = points.first() {
            if t0 > 0.0 {
                points.insert(0, (0.0, r0));
            }
        }
        Process::Schedule { points }
    }

    /// The long-run mean rate per second, for reports and routing estimates (None for traces, whose
    /// rate the caller measures from the data).
    pub fn mean_rate_per_sec(&self) -> Option<f64> {
        let per_ns = match self {
            Process::Poisson { mean_gap } => 1.0 / mean_gap,
            Process::Constant { gap } => 1.0 / gap,
            Process::Diurnal { base, peak, .. } => (base + peak) / 2.0,
            Process::Schedule { .. } | Process::Trace(_) => return None,
            Process::Mmpp { low_rate, high_rate, mean_low, mean_high } => {
                (low_rate * mean_low + high_rate * mean_high) / (mean_low + mean_high)
            }
        };
        Some(per_ns * 1e9)
    }
}

/// Per-run state of one traffic source.
pub struct SourceState {
    rng: Rng,
    /// Time of the previous candidate arrival, in ns, kept in f64 so that tiny gaps do not round away.
    clock: f64,
    /// Arrivals so far (the index into a trace; the multiple of the gap for constant traffic).
    count: u64,
    /// Schedule: the segment the clock is in. MMPP: 1 in the high state.
    segment: usize,
    /// MMPP: when the current state ends.
    switch_at: f64,
}

fn exp1(rng: &mut Rng) -> f64 {
    Exp1.sample(rng)
}

impl SourceState {
    pub fn new(process: &Process, mut rng: Rng) -> Self {
        let (segment, switch_at) = match process {
            Process::Mmpp { mean_low, mean_high, .. } => {
                // Start in the stationary distribution, so the first dwell is not biased.
                let high = rng.random::<f64>() < mean_high / (mean_low + mean_high);
                let mean = if high { mean_high } else { mean_low };
                (usize::from(high), exp1(&mut rng) * mean)
            }
            _ => (0, 0.0),
        };
        SourceState { rng, clock: 0.0, count: 0, segment, switch_at }
    }

    /// The next arrival, or None when the source has no more arrivals.
    pub fn next_arrival(&mut self, process: &Process) -> Option<Arrival> {
        let time = match process {
            Process::Poisson { mean_gap } => {
                self.clock += exp1(&mut self.rng) * mean_gap;
                self.clock
            }
            Process::Constant { gap } => {
                // Multiply rather than accumulate, so the k-th arrival is exactly k × gap.
                let time = self.count as f64 * gap;
                self.count += 1;
                time
            }
            Process::Diurnal { base, peak, period, phase } => loop {
                self.clock += exp1(&mut self.rng) / peak;
                let rate = base + (peak - base) * (1.0 - (2.0 * PI * (self.clock - phase) / period).cos()) / 2.0;
                if self.rng.random::<f64>() * peak < rate {
                    break self.clock;
                }
            },
            Process::Schedule { points } => self.next_scheduled(points)?,
            Process::Mmpp { low_rate, high_rate, mean_low, mean_high } => loop {
                let rate = if self.segment == 1 { *high_rate } else { *low_rate };
                if rate > 0.0 {
                    let candidate = self.clock + exp1(&mut self.rng) / rate;
                    if candidate < self.switch_at {
                        self.clock = candidate;
                        break candidate;
                    }
                }
                // Memorylessness lets the search restart at the switch in the new state.
                self.clock = self.switch_at;
                self.segment ^= 1;
                let mean = if self.segment == 1 { mean_high } else { mean_low };
                self.switch_at = self.clock + exp1(&mut self.rng) * mean;
            },
            Process::Trace(trace) => {
                let index = self.count as usize;
                let time = *trace.offsets.get(index)?;
                self.count += 1;
                let size = trace.sizes.as_ref().map_or(0, |sizes| sizes[index]);
                let output = trace.outputs.as_ref().map_or(0, |outputs| outputs[index]);
                return Some(Arrival { time, size, output, row: index as u32, group: u32::MAX });
            }
        };
        if !time.is_finite() || time >= u64::MAX as f64 {
            return None;
        }
        Some(Arrival { time: time as Nanos, size: 0, output: 0, row: u32::MAX, group: u32::MAX })
    }

    /// Thinning (Lewis–Shedler) segment by segment, bounded by the larger end rate of the segment
    /// the clock is in; past a segment's end the search restarts there, which memorylessness allows.
    /// Points start at time 0 (see [`Process::schedule`]).
    fn next_scheduled(&mut self, points: &[(f64, f64)]) -> Option<f64> {
        loop {
            let (bound, segment_end) = match points.get(self.segment + 1) {
                Some(&(end, end_rate)) => (points[self.segment].1.max(end_rate), end),
                None => (points[self.segment].1, f64::INFINITY),
            };
            let candidate = if bound > 0.0 { self.clock + exp1(&mut self.rng) / bound } else { f64::INFINITY };
            // A schedule held at rate zero after its last point sends nothing more (there is no
            // segment past the last to move to).
            if candidate.is_infinite() && segment_end.is_infinite() {
                return None;
            }
            if candidate >= segment_end {
                self.clock = segment_end;
                self.segment += 1;
                continue;
            }
            if candidate.is_infinite() {
                return None;
            }
            self.clock = candidate;
            if self.rng.random::<f64>() * bound < schedule_rate(points, self.segment, candidate) {
                return Some(candidate);
            }
        }
    }
}

fn schedule_rate(points: &[(f64, f64)], segment: usize, time: f64) -> f64 {
    let (t0, r0) = points[segment];
    if time <= t0 {
        return r0;
    }
    match points.get(segment + 1) {
        Some(&(t1, r1)) => r0 + (r1 - r0) * (time - t0) / (t1 - t0),
        None => r0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn count_until(process: &Process, horizon_s: f64) -> (u64, Vec<u64>) {
        let mut state = SourceState::new(process, stream(11, "traffic-test"));
        let mut per_second = vec![0u64; horizon_s as usize];
        let mut n = 0;
        while let Some(Arrival { time: t, .. }) = state.next_arrival(process) {
            if t as f64 >= horizon_s * 1e9 {
                break;
            }
            per_second[(t / 1_000_000_000) as usize] += 1;
            n += 1;
        }
        (n, per_second)
    }

    #[test]
    fn poisson_and_constant_rates() {
        // 1000/s for 200 s: 200k arrivals, Poisson count std = sqrt(200k) ≈ 447, so ±1% is > 4 sigma.
        let (n, _) = count_until(&Process::Poisson { mean_gap: 1e6 }, 200.0);
        assert!((n as f64 / 200_000.0 - 1.0).abs() < 0.01, "{n}");
        let (n, _) = count_until(&Process::Constant { gap: 1e6 }, 200.0);
        assert_eq!(n, 200_000);
    }

    #[test]
    fn schedule_follows_its_ramp() {
        // 0 → 2000/s over 100 s, then flat: expected 100 000 in the ramp, 200 000 in the next 100 s.
        let process = Process::schedule(vec![(0.0, 0.0), (100e9, 2e-6)]);
        let (_, per_second) = count_until(&process, 200.0);
        let ramp: u64 = per_second[..100].iter().sum();
        let flat: u64 = per_second[100..].iter().sum();
        assert!((ramp as f64 / 100_000.0 - 1.0).abs() < 0.015, "{ramp}");
        assert!((flat as f64 / 200_000.0 - 1.0).abs() < 0.015, "{flat}");
        // The second quarter of the ramp carries 3× the first quarter: (25²−0)/(50²−25²)…  = 1:3.
        let q1: u64 = per_second[..25].iter().sum();
        let q2: u64 = per_second[25..50].iter().sum();
        assert!((q2 as f64 / q1 as f64 - 3.0).abs() < 0.15, "{q1} {q2}");
    }

    #[test]
    fn schedule_starting_late_is_silent_then_ramps() {
        let process = Process::schedule(vec![(50e9, 1e-6), (60e9, 1e-6)]);
        let (n, per_second) = count_until(&process, 100.0);
        // Before the first point the first point's rate holds.
        assert!((n as f64 / 100_000.0 - 1.0).abs() < 0.02, "{n}");
        assert!(per_second[10] > 800);
    }

    #[test]
    fn diurnal_peaks_half_a_period_after_its_phase() {
        let process = Process::Diurnal { base: 1e-7, peak: 1e-6, period: 100e9, phase: 0.0 };
        let (n, per_second) = count_until(&process, 100.0);
        // Mean rate (base + peak)/2 = 550/s.
        assert!((n as f64 / 55_000.0 - 1.0).abs() < 0.02, "{n}");
        let trough: u64 = per_second[..5].iter().sum::<u64>() + per_second[95..].iter().sum::<u64>();
        let crest: u64 = per_second[45..55].iter().sum();
        assert!(crest > 5 * trough, "{crest} vs {trough}");
    }

    #[test]
    fn mmpp_mean_rate_matches_the_stationary_mix() {
        let process = Process::Mmpp { low_rate: 1e-7, high_rate: 1e-6, mean_low: 3e9, mean_high: 1e9 };
        // Stationary rate: (100 × 3 + 1000 × 1) / 4 = 325/s.
        assert!((process.mean_rate_per_sec().unwrap() - 325.0).abs() < 1e-9);
        let (n, per_second) = count_until(&process, 2000.0);
        assert!((n as f64 / 650_000.0 - 1.0).abs() < 0.03, "{n}");
        // Burstiness: the index of dispersion of per-second counts is far above Poisson's 1.
        let mean = n as f64 / 2000.0;
        let var = per_second.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / 1999.0;
        assert!(var / mean > 10.0, "dispersion {}", var / mean);
    }

    #[test]
    fn trace_replays_offsets_and_sizes() {
        let trace = TraceData { offsets: vec![0, 5, 9], sizes: Some(vec![10, 20, 30]), outputs: None, hashes: None };
        let process = Process::Trace(Arc::new(trace));
        let mut state = SourceState::new(&process, stream(1, "x"));
        let got: Vec<_> = std::iter::from_fn(|| state.next_arrival(&process)).map(|a| (a.time, a.size)).collect();
        assert_eq!(got, vec![(0, 10), (5, 20), (9, 30)]);
    }
}
