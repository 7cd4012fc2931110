//! Batch service time: the one interface through which the engine learns how long a batch runs.
//!
//! The engine calls [`BatchLatency::sample`] once per batch. Implementations here cover a plain
//! distribution and a batch-size → latency table; profile-based models from `kernels/` plug in by
//! implementing the same trait.

use crate::dist::Sampler;
use crate::rng::Rng;
use crate::units::Nanos;
use rand_distr::{Distribution, LogNormal};
use std::fmt::Debug;
use std::sync::Arc;

/// The shape of one unit of work a replica runs — a batch, or one iteration of an LLM engine —
/// as far as its latency depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Requests (sequences) in it.
    pub requests: u32,
    /// The longest request's size (tokens, say; 0 when the traffic gives no sizes).
    pub longest: u32,
    /// Prompt tokens prefilled in it (an LLM iteration's chunks).
    pub prefill_tokens: u32,
    /// Tokens decoded in it: one per decoding sequence.
    pub decode_tokens: u32,
    /// Query × key pairs its attention computes (causal prefill chunks and decodes together).
    pub attention_pairs: u64,
    /// KV-cache tokens its attention reads from memory.
    pub kv_tokens_read: u64,
}

impl Step {
    /// A batch of `requests` whose longest has size `longest`.
    #[inline]
    pub fn batch(requests: u32, longest: u32) -> Step {
        Step { requests, longest, ..Step::default() }
    }
}

pub trait BatchLatency: Send + Sync + Debug {
    /// One draw of the time to run a batch of `batch_size` requests.
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos;
    /// One draw of the time to run a step of this shape. Models that know only batch sizes read
    /// its `requests`; sequence-bucketed ones its `longest` too.
    #[inline]
    fn sample_step(&self, step: &Step, rng: &mut Rng) -> Nanos {
        self.sample(step.requests, rng)
    }
    /// The mean time for a batch of `batch_size`, in nanoseconds (for routing estimates and reports).
    fn mean(&self, batch_size: u32) -> f64;
    /// Where the numbers come from, for provenance in results.
    fn source(&self) -> String;
}

/// The same distribution whatever the batch size.
#[derive(Debug)]
pub struct DistLatency {
    pub sampler: Sampler,
    pub description: String,
}

impl BatchLatency for DistLatency {
    #[inline]
    fn sample(&self, _batch_size: u32, rng: &mut Rng) -> Nanos {
        self.sampler.sample(rng)
    }
    fn mean(&self, _batch_size: u32) -> f64 {
        self.sampler.mean()
    }
    fn source(&self) -> String {
        self.description.clone()
    }
}

/// Another batch latency scaled, with multiplicative lognormal spread of mean 1: what a calibration
/// against a real server found (`[serving.calibration]`).
#[derive(Debug)]
pub struct ScaledLatency {
    pub inner: Arc<dyn BatchLatency>,
    pub scale: f64,
    pub jitter: Option<LogNormal<f64>>,
}

impl ScaledLatency {
    pub fn new(inner: Arc<dyn BatchLatency>, scale: f64, cv: f64) -> Self {
        let jitter = (cv > 0.0).then(|| {
            let sigma2 = (1.0 + cv * cv).ln();
            LogNormal::new(-sigma2 / 2.0, sigma2.sqrt()).expect("validated: cv > 0")
        });
        ScaledLatency { inner, scale, jitter }
    }
}

impl BatchLatency for ScaledLatency {
    #[inline]
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos {
        self.sample_step(&Step::batch(batch_size, 0), rng)
    }
    #[inline]
    fn sample_step(&self, step: &Step, rng: &mut Rng) -> Nanos {
        let base = self.inner.sample_step(step, rng) as f64 * self.scale;
        let spread = self.jitter.as_ref().map_or(1.0, |j| j.sample(rng));
        (base * spread).min(1e15) as Nanos
    }
    fn mean(&self, batch_size: u32) -> f64 {
        self.inner.mean(batch_size) * self.scale
    }
    fn source(&self) -> String {
        self.inner.source()
    }
}

/// Latency by batch size from measured points, as perf_analyzer or a team's own benchmark gives it.
/// Sizes between points are interpolated linearly; sizes below the first point take its latency.
/// The table is expanded to every size up to `max_batch` at build time, so a draw is one lookup.
#[derive(Debug)]
pub struct TableLatency {
    /// `by_size[b]` is the mean latency of a batch of `b` (index 0 unused).
    by_size: Vec<f64>,
    jitter: Option<LogNormal<f64>>,
    description: String,
}

impl TableLatency {
    /// `points` must be sorted by strictly increasing size with the last size ≥ `max_batch`
    /// (checked by [`crate::model::build`]).
    pub fn new(points: &[(u32, f64)], max_batch: u32, cv: f64, description: String) -> Self {
        let by_size = (0..=max_batch).map(|size| interpolate(points, size)).collect();
        let jitter = (cv > 0.0).then(|| {
            let sigma2 = (1.0 + cv * cv).ln();
            LogNormal::new(-sigma2 / 2.0, sigma2.sqrt()).expect("validated: cv > 0")
        });
        TableLatency { by_size, jitter, description }
    }
}

/// Linear interpolation in `points` (sorted by size), clamped to the first point below it.
pub fn interpolate(points: &[(u32, f64)], size: u32) -> f64 {
    let after = points.partition_point(|&(s, _)| s < size);
    if after == 0 {
        return points[0].1;
    }
    if after == points.len() {
        // Past the last point: continue the last segment's slope (validation keeps this out of runs).
        let (s1, l1) = points[points.len() - 1];
        if points.len() == 1 {
            return l1;
        }
        let (s0, l0) = points[points.len() - 2];
        return l1 + (l1 - l0) * f64::from(size - s1) / f64::from(s1 - s0);
    }
    let (s1, l1) = points[after];
    if s1 == size {
        return l1;
    }
    let (s0, l0) = points[after - 1];
    l0 + (l1 - l0) * f64::from(size - s0) / f64::from(s1 - s0)
}

impl BatchLatency for TableLatency {
    #[inline]
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos {
        let mean = self.by_size[batch_size as usize];
        match &self.jitter {
            Some(jitter) => (mean * jitter.sample(rng)) as Nanos,
            None => mean as Nanos,
        }
    }
    fn mean(&self, batch_size: u32) -> f64 {
        self.by_size[batch_size as usize]
    }
    fn source(&self) -> String {
        self.description.clone()
    }
}

/// Batch latency by batch size and sequence-length bucket, as a model's profile gives it: a batch
/// runs at the smallest bucket holding its longest request (padding to the bucket, as serving
/// runtimes with fixed-shape engines do).
#[derive(Debug)]
pub struct BucketedLatency {
    /// Sorted by sequence length.
    buckets: Vec<(u32, TableLatency)>,
    /// The bucket of requests without a size.
    default: usize,
    ignore_sizes: bool,
    description: String,
}

impl BucketedLatency {
    /// `buckets` sorted by sequence length and containing `default_seq`; with `ignore_sizes`,
    /// every batch runs at `default_seq`.
    pub fn new(buckets: Vec<(u32, TableLatency)>, default_seq: u32, ignore_sizes: bool, description: String) -> Self {
        let default = buckets.iter().position(|(seq, _)| *seq == default_seq).expect("the default seq has a table");
        BucketedLatency { buckets, default, ignore_sizes, description }
    }

    fn bucket(&self, longest: u32) -> &TableLatency {
        let index = if longest == 0 || self.ignore_sizes {
            self.default
        } else {
            self.buckets.partition_point(|(seq, _)| *seq < longest).min(self.buckets.len() - 1)
        };
        &self.buckets[index].1
    }
}

impl BatchLatency for BucketedLatency {
    #[inline]
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos {
        self.buckets[self.default].1.sample(batch_size, rng)
    }
    #[inline]
    fn sample_step(&self, step: &Step, rng: &mut Rng) -> Nanos {
        self.bucket(step.longest).sample(step.requests, rng)
    }
    fn mean(&self, batch_size: u32) -> f64 {
        self.buckets[self.default].1.mean(batch_size)
    }
    fn source(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_measured_sizes() {
        let points = [(1, 4.0), (8, 11.0), (16, 27.0)];
        assert_eq!(interpolate(&points, 1), 4.0);
        assert_eq!(interpolate(&points, 4), 7.0); // 4 + 7 * 3/7
        assert_eq!(interpolate(&points, 8), 11.0);
        assert_eq!(interpolate(&points, 12), 19.0); // 11 + 16 * 4/8
        assert_eq!(interpolate(&[(2, 6.0), (4, 8.0)], 1), 6.0);
        assert_eq!(interpolate(&[(2, 6.0), (4, 8.0)], 6), 10.0);
        let table = TableLatency::new(&points, 16, 0.0, String::new());
        let mut rng = crate::rng::stream(1, "t");
        assert_eq!(table.sample(12, &mut rng), 19);
        assert_eq!(table.mean(16), 27.0);
    }

    #[test]
    fn batches_run_at_the_bucket_of_their_longest_request() {
        let table = |ms: f64| TableLatency::new(&[(1, ms), (4, 4.0 * ms)], 4, 0.0, String::new());
        let model = BucketedLatency::new(
            vec![(32, table(1.0)), (128, table(3.0)), (512, table(10.0))],
            128,
            false,
            String::new(),
        );
        let mut rng = crate::rng::stream(1, "t");
        assert_eq!(model.sample_step(&Step::batch(1, 0), &mut rng), 3); // no size: the default seq
        assert_eq!(model.sample_step(&Step::batch(1, 20), &mut rng), 1);
        assert_eq!(model.sample_step(&Step::batch(1, 32), &mut rng), 1);
        assert_eq!(model.sample_step(&Step::batch(1, 33), &mut rng), 3);
        assert_eq!(model.sample_step(&Step::batch(4, 500), &mut rng), 40);
        assert_eq!(model.sample_step(&Step::batch(1, 4000), &mut rng), 10); // truncated to the last bucket
        assert_eq!(model.mean(4), 12.0);
        let blind = BucketedLatency::new(vec![(64, table(2.0))], 64, true, String::new());
        assert_eq!(blind.sample_step(&Step::batch(1, 4000), &mut rng), 2);
    }
}
