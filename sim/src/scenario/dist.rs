//! Latency distributions as written: shared by the serving and the operational sections.

use crate::units::Duration;
use serde::{Deserialize, Serialize};

fn default_seq() -> u32 {
    128
}

/// A latency distribution, or for batch service times a batch-size → latency table.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    Constant {
        value: Duration,
    },
    Exponential {
        mean: Duration,
    },
    /// Parameterised by mean and coefficient of variation (std / mean).
    Lognormal {
        mean: Duration,
        cv: f64,
    },
    Gamma {
        mean: Duration,
        cv: f64,
    },
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Draws uniformly from measured samples.
    Empirical {
        samples: Vec<Duration>,
    },
    /// A weighted mixture of simple distributions (a fast path and a rare slow one: the heavy tail
    /// of a Python server's per-request work): `{ kind = "mixture", parts = [{ weight = 0.97,
    /// dist = { kind = "lognormal", mean = "3ms", cv = 0.5 } }, { weight = 0.03, dist = { kind =
    /// "exponential", mean = "40ms" } }] }`. Weights are relative (normalised to 1).
    Mixture {
        parts: Vec<MixturePart>,
    },
    /// Batch latency of a catalog model, computed at scenario load from the model's operator graph
    /// on a catalog device (roofline estimate) or from a measured profile (a path to a profile CSV,
    /// relative to the scenario): `{ kind = "model", model = "distilbert-base-uncased",
    /// device = "a10g", seq = 128 }`.
    Model {
        model: String,
        device: String,
        /// Tokens per request when requests carry no size (synthetic traffic).
        #[serde(default = "default_seq")]
        seq: u32,
        /// Sequence-length buckets: a batch runs at the smallest bucket that holds its longest
        /// request (sizes from a trace's `size_column`); longer requests are truncated to the last.
        #[serde(default)]
        seq_buckets: Vec<u32>,
        /// The serving stack running the model on a catalog device (`tensorrt-demo`, `tensorrt`,
        /// `onnxruntime-tensorrt`, `onnxruntime-cuda`, `fastertransformer`, `pytorch`,
        /// `torchscript`, `torch-compile`, `tensorflow`): each is fitted on published measurements
        /// and carries its own band. Default `onnxruntime-cuda`, a generic runtime (what the
        /// deployed Triton config runs), not the hand-fused TensorRT demo the devices are calibrated
        /// on. Not with a measured profile, which is timed on its own runtime.
        #[serde(default)]
        stack: Option<String>,
    },
    /// Batch latency by batch size, linearly interpolated between listed sizes: inline `points`
    /// (`[[1, "4ms"], [8, "9ms"]]`) or a CSV `file` with columns `batch_size,latency_ms`.
    Table {
        file: Option<String>,
        points: Option<Vec<(u32, Duration)>>,
        /// Multiplicative lognormal jitter with mean 1 and this coefficient of variation.
        #[serde(default)]
        cv: f64,
    },
}

/// One part of a [`Dist::Mixture`].
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixturePart {
    pub weight: f64,
    pub dist: Dist,
}

impl Dist {
    /// The same distribution with every time `factor` times longer (what-if analyses); None for
    /// the forms whose times live elsewhere (a model's table, a table file): scale those through
    /// `[serving.calibration]`.
    pub fn scaled(&self, factor: f64) -> Option<Dist> {
        let s = |d: &Duration| Duration::from_secs_f64(d.0 as f64 * factor / 1e9);
        Some(match self {
            Dist::Constant { value } => Dist::Constant { value: s(value) },
            Dist::Exponential { mean } => Dist::Exponential { mean: s(mean) },
            Dist::Lognormal { mean, cv } => Dist::Lognormal { mean: s(mean), cv: *cv },
            Dist::Gamma { mean, cv } => Dist::Gamma { mean: s(mean), cv: *cv },
            Dist::Uniform { min, max } => Dist::Uniform { min: s(min), max: s(max) },
            Dist::Empirical { samples } => Dist::Empirical { samples: samples.iter().map(s).collect() },
            Dist::Mixture { parts } => Dist::Mixture {
                parts: parts
                    .iter()
                    .map(|p| Some(MixturePart { weight: p.weight, dist: p.dist.scaled(factor)? }))
                    .collect::<Option<_>>()?,
            },
            Dist::Table { file: None, points: Some(points), cv } => {
                Dist::Table { file: None, points: Some(points.iter().map(|(b, d)| (*b, s(d))).collect()), cv: *cv }
            }
            Dist::Model { .. } | Dist::Table { .. } => return None,
        })
    }
}
