//! Where answered requests' latency goes: per stage (network, cache, feature store, queue, batch
//! formation, service, …) the time of every answered request, and for the slowest of them each
//! stage's share — "the p99 is 61% queueing". `world::Stages::breakdown` splits one request;
//! `BreakdownMetrics` keeps a deployment's (recording never allocates); `BreakdownStats` is what
//! `summary.json` shows.

use crate::units::Nanos;
use serde::{Deserialize, Serialize};

/// The stages, in the order a request passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Backoff waited before retries.
    RetryBackoff,
    /// Earlier attempts that failed, apart from the backoff.
    FailedAttempts,
    /// To the region and back.
    Network,
    /// The response-cache lookup (a hit's whole answer).
    Cache,
    FeatureStore,
    /// Held before a replica took it (scale from zero).
    Activator,
    /// Waiting for a CPU worker to pre-process it.
    PreWorkerWait,
    PreProcessing,
    /// In the queue while every model instance was busy.
    Queue,
    /// An instance was free, and the batcher waited for the batch to fill.
    BatchFormation,
    /// An LLM engine: until the first output token.
    Prefill,
    /// The batch's run (an LLM engine: the tokens after the first).
    Service,
    PostWorkerWait,
    PostProcessing,
    /// The model call until it failed, when the fallback answered.
    FailedCall,
    Fallback,
    /// A pipeline endpoint's stages (the calls to its endpoints).
    Pipeline,
}

pub const STAGES: usize = Stage::Pipeline as usize + 1;

pub const STAGE_NAMES: [&str; STAGES] = [
    "retry_backoff",
    "failed_attempts",
    "network",
    "cache",
    "feature_store",
    "activator",
    "pre_worker_wait",
    "pre_processing",
    "queue",
    "batch_formation",
    "prefill",
    "service",
    "post_worker_wait",
    "post_processing",
    "failed_call",
    "fallback",
    "pipeline",
];

/// Latency classes for the tail's shares: 4 per doubling (each 19% wide), from 1 ns.
const CLASSES: usize = 4 * 64;

fn class_of(latency: Nanos) -> usize {
    if latency <= 1 {
        return 0;
    }
    let octave = 63 - latency.leading_zeros() as usize;
    // The two bits after the leading one say which quarter of the octave.
    let quarter = if octave >= 2 { ((latency >> (octave - 2)) & 3) as usize } else { 0 };
    (4 * octave + quarter).min(CLASSES - 1)
}

/// The smallest latency of class `k` (the inverse of `class_of` at its lower edge).
fn class_floor(k: usize) -> Nanos {
    let (octave, quarter) = (k / 4, (k % 4) as u64);
    if octave < 2 {
        return 1 << octave;
    }
    (1u64 << octave) + quarter * (1u64 << (octave - 2))
}

/// A stage's nonzero times on a log scale: 16 classes per doubling (each 4.4% wide), exact below
/// 16 ns. 4 KB, so that the 17 of a deployment stay in cache when every answer is recorded (HDR
/// histograms at 2 digits are 5× larger and made the breakdown cost half the engine's speed).
#[derive(Clone, Debug)]
pub struct LogHistogram {
    counts: Vec<u32>,
    len: u64,
}

const SUB: u32 = 16;
const LOG_CLASSES: usize = (64 - 4 + 1) * SUB as usize;

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram { counts: vec![0; LOG_CLASSES], len: 0 }
    }
}

impl LogHistogram {
    #[inline]
    fn index(value: u64) -> usize {
        if value < u64::from(SUB) {
            return value as usize;
        }
        let octave = 63 - value.leading_zeros();
        let sub = (value >> (octave - 4)) & u64::from(SUB - 1);
        ((octave - 3) * SUB) as usize + sub as usize
    }

    /// The middle of class `k`'s values.
    fn middle(k: usize) -> f64 {
        if k < SUB as usize {
            return k as f64;
        }
        let octave = (k / SUB as usize) as u32 + 3;
        let width = (1u64 << (octave - 4)) as f64;
        let low = (1u64 << octave) as f64 + (k % SUB as usize) as f64 * width;
        low + width / 2.0
    }

    #[inline]
    pub fn record(&mut self, value: u64) {
        let count = &mut self.counts[Self::index(value)];
        *count = count.saturating_add(1);
        self.len += 1;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn add(&mut self, other: &LogHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.len += other.len;
    }

    /// The value of rank `rank` (1-based) in increasing order, to the class's middle.
    fn at_rank(&self, rank: u64) -> f64 {
        let mut seen = 0u64;
        for (k, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                return Self::middle(k);
            }
        }
        0.0
    }
}

/// A deployment's answered requests (sent after warm-up), stage by stage.
#[derive(Clone, Debug)]
pub struct BreakdownMetrics {
    pub requests: u64,
    /// Nanoseconds per stage over every answered request.
    pub sums: [f64; STAGES],
    /// Per stage, its nonzero times (a stage a request skipped counts as 0 without a record).
    pub nonzero: Vec<LogHistogram>,
    /// Per latency class: requests, and nanoseconds per stage.
    pub class_requests: Vec<u64>,
    pub class_sums: Vec<[f64; STAGES]>,
}

impl Default for BreakdownMetrics {
    fn default() -> Self {
        BreakdownMetrics {
            requests: 0,
            sums: [0.0; STAGES],
            nonzero: vec![LogHistogram::default(); STAGES],
            class_requests: vec![0; CLASSES],
            class_sums: vec![[0.0; STAGES]; CLASSES],
        }
    }
}

impl BreakdownMetrics {
    /// An answer of `latency` whose stages took `times`.
    #[inline]
    pub fn record(&mut self, times: &[Nanos; STAGES], latency: Nanos) {
        self.requests += 1;
        let class = class_of(latency);
        self.class_requests[class] += 1;
        let class_sums = &mut self.class_sums[class];
        for (k, &time) in times.iter().enumerate() {
            if time > 0 {
                let time_f = time as f64;
                self.sums[k] += time_f;
                class_sums[k] += time_f;
                self.nonzero[k].record(time);
            }
        }
    }

    pub fn merge(&mut self, other: &BreakdownMetrics) {
        self.requests += other.requests;
        for k in 0..STAGES {
            self.sums[k] += other.sums[k];
            self.nonzero[k].add(&other.nonzero[k]);
        }
        for (mine, theirs) in self.class_requests.iter_mut().zip(&other.class_requests) {
            *mine += theirs;
        }
        for (mine, theirs) in self.class_sums.iter_mut().zip(&other.class_sums) {
            for k in 0..STAGES {
                mine[k] += theirs[k];
            }
        }
    }

    /// The stage's `q`-quantile over every answered request, its zeros included.
    fn quantile(&self, stage: usize, q: f64) -> f64 {
        let histogram = &self.nonzero[stage];
        let zeros = self.requests - histogram.len();
        let rank = ((q * self.requests as f64).ceil() as u64).max(1);
        if rank <= zeros || histogram.is_empty() {
            return 0.0;
        }
        histogram.at_rank(rank - zeros)
    }

    /// What `summary.json` shows; None without answers.
    pub fn stats(&self) -> Option<BreakdownStats> {
        if self.requests == 0 {
            return None;
        }
        let n = self.requests as f64;
        let ms = |nanos: f64| nanos / 1e6;
        let stages = (0..STAGES)
            .filter(|&k| self.sums[k] > 0.0)
            .map(|k| StageStats {
                stage: STAGE_NAMES[k].to_string(),
                mean_ms: ms(self.sums[k] / n),
                p50_ms: ms(self.quantile(k, 0.5)),
                p99_ms: ms(self.quantile(k, 0.99)),
            })
            .collect();
        // The slowest 1%: latency classes from the top down, the last one in proportion to the
        // requests still wanted from it (its requests' stages taken as alike).
        let wanted = (0.01 * n).ceil() as u64;
        let (mut taken, mut lowest) = (0u64, CLASSES);
        let mut sums = [0.0; STAGES];
        for k in (0..CLASSES).rev() {
            if taken >= wanted {
                break;
            }
            let here = self.class_requests[k];
            if here == 0 {
                continue;
            }
            let part = (wanted - taken).min(here);
            let weight = part as f64 / here as f64;
            for (sum, class) in sums.iter_mut().zip(&self.class_sums[k]) {
                *sum += weight * class;
            }
            taken += part;
            lowest = k;
        }
        let total: f64 = sums.iter().sum();
        let tail = (total > 0.0).then(|| TailStats {
            share_of_requests: taken as f64 / n,
            from_ms: ms(class_floor(lowest) as f64),
            shares: (0..STAGES)
                .filter(|&k| sums[k] > 0.0)
                .map(|k| StageShare { stage: STAGE_NAMES[k].to_string(), share: sums[k] / total })
                .collect(),
        });
        Some(BreakdownStats { stages, slowest: tail })
    }
}

/// `summary.json`'s `breakdown`: per stage that took time, its mean, p50 and p99 over every
/// answered request (0 where a request skipped it); and the slowest requests' time by stage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BreakdownStats {
    pub stages: Vec<StageStats>,
    pub slowest: Option<TailStats>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageStats {
    pub stage: String,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The slowest 1% of requests and each stage's share of their time together: every request in
/// the latency classes above `from_ms` (classes 19% wide), and of the class at `from_ms` the part
/// that makes up 1%, its requests' stages taken as alike.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TailStats {
    pub share_of_requests: f64,
    pub from_ms: f64,
    pub shares: Vec<StageShare>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageShare {
    pub stage: String,
    pub share: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_classes_are_quarter_octaves() {
        // Below 4 ns an octave has too few values to split; no latency is that short.
        for latency in [4u64, 5, 6, 7, 8, 1000, 1_000_000, 123_456_789, u64::MAX / 3] {
            let k = class_of(latency);
            assert!(class_floor(k) <= latency, "{latency}: class {k} starts at {}", class_floor(k));
            if k + 1 < CLASSES {
                assert!(class_floor(k + 1) > latency, "{latency}: class {} starts at {}", k + 1, class_floor(k + 1));
            }
        }
        // 2^20 and 1.25 × 2^20 start consecutive classes.
        assert_eq!(class_of(1 << 20) + 1, class_of((1 << 20) + (1 << 18)));
    }

    #[test]
    fn log_classes_hold_their_values_within_two_percent() {
        for value in [1u64, 15, 16, 17, 31, 32, 1000, 999_999, 5_000_000, 123_456_789_012, u64::MAX / 2] {
            let middle = LogHistogram::middle(LogHistogram::index(value));
            let error = (middle - value as f64).abs() / value as f64;
            assert!(error <= 1.0 / 32.0 + 1e-12, "{value}: middle {middle}");
        }
        let mut h = LogHistogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        // The 500th of 1000, 500 µs, to within half its class.
        assert!((h.at_rank(500) / 500_000.0 - 1.0).abs() <= 1.0 / 32.0);
    }

    #[test]
    fn quantiles_count_the_requests_that_skipped_a_stage() {
        let mut m = BreakdownMetrics::default();
        // 98 requests with no queueing, 2 that queued 10 ms: p50 0, p99 10 ms.
        let mut times = [0; STAGES];
        times[Stage::Service as usize] = 5_000_000;
        for _ in 0..98 {
            m.record(&times, 5_000_000);
        }
        times[Stage::Queue as usize] = 10_000_000;
        for _ in 0..2 {
            m.record(&times, 15_000_000);
        }
        let stats = m.stats().unwrap();
        let queue = stats.stages.iter().find(|s| s.stage == "queue").unwrap();
        assert_eq!(queue.p50_ms, 0.0);
        assert!((queue.p99_ms - 10.0).abs() <= 10.0 / 32.0, "{}", queue.p99_ms);
        assert!((queue.mean_ms - 0.2).abs() < 1e-12);
        // The slowest 1% is one of the two queued ones: 10 of its 15 ms queueing.
        let slowest = stats.slowest.unwrap();
        assert_eq!(slowest.share_of_requests, 0.01);
        let share = |s: &str| slowest.shares.iter().find(|x| x.stage == s).unwrap().share;
        assert!((share("queue") - 2.0 / 3.0).abs() < 1e-12);
        assert!((share("service") - 1.0 / 3.0).abs() < 1e-12);
    }
}
