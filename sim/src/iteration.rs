//! An LLM engine's iteration time: the [`BatchLatency`] of a step's shape (prefill and decode
//! tokens, sequences, attention pairs, KV tokens read). Two forms: a sum of given parts
//! ([`LinearIteration`], what a hand-worked timeline or a calibration gives) and a roofline from
//! a model's config on a device ([`RooflineIteration`], coefficients computed by the caller from
//! the kernels crate), so that an iteration costs a few multiplications, not a graph walk.

use crate::rng::Rng;
use crate::scenario::llm::IterationTime;
use crate::service::{BatchLatency, Step};
use crate::units::Nanos;

/// overhead + per_token × tokens + per_sequence × sequences + per_kv_token × KV tokens read +
/// per_attention_pair × attention pairs.
#[derive(Debug)]
pub struct LinearIteration {
    overhead: f64,
    per_token: f64,
    per_sequence: f64,
    per_kv_token: f64,
    per_attention_pair: f64,
}

impl LinearIteration {
    pub fn new(given: &IterationTime) -> Self {
        LinearIteration {
            overhead: given.overhead.nanos() as f64,
            per_token: given.per_token.nanos() as f64,
            per_sequence: given.per_sequence.nanos() as f64,
            per_kv_token: given.per_kv_token.nanos() as f64,
            per_attention_pair: given.per_attention_pair.nanos() as f64,
        }
    }

    fn nanos(&self, step: &Step) -> f64 {
        self.overhead
            + self.per_token * f64::from(step.prefill_tokens + step.decode_tokens)
            + self.per_sequence * f64::from(step.requests)
            + self.per_kv_token * step.kv_tokens_read as f64
            + self.per_attention_pair * step.attention_pairs as f64
    }
}

impl BatchLatency for LinearIteration {
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos {
        self.sample_step(&decode_step(batch_size), rng)
    }
    #[inline]
    fn sample_step(&self, step: &Step, _rng: &mut Rng) -> Nanos {
        self.nanos(step).round() as Nanos
    }
    fn mean(&self, batch_size: u32) -> f64 {
        self.nanos(&decode_step(batch_size))
    }
    fn source(&self) -> String {
        "iteration time given (scenario)".into()
    }
}

/// A decode iteration of `sequences` at a nominal 1024 tokens of context each: the mean used for
/// routing estimates and reports.
fn decode_step(sequences: u32) -> Step {
    Step {
        requests: sequences,
        longest: 1024,
        prefill_tokens: 0,
        decode_tokens: sequences,
        attention_pairs: 1024 * u64::from(sequences),
        kv_tokens_read: 1024 * u64::from(sequences),
    }
}

/// A decoder on a device, as the caller computed it from the model's config (kernels'
/// `llm::IterationProfile`): totals over the replica's GPUs.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmProfile {
    pub layers: u32,
    pub hidden: f64,
    pub heads: u64,
    pub weight_bytes: f64,
    pub linear_flops_per_token: f64,
    pub lm_head_flops_per_sequence: f64,
    pub attention_flops_per_pair: f64,
    pub kv_bytes_per_token: f64,
    pub activation_bytes_per_token: f64,
    pub logit_bytes_per_sequence: f64,
    /// Memory kept per GPU whatever the load (CUDA graphs, the framework's workspace).
    pub fixed_reserve: f64,
    pub max_model_len: u32,
    pub peak_flops: f64,
    pub bandwidth: f64,
    pub interconnect_bandwidth: f64,
    pub compute_efficiency: f64,
    pub attention_ratio: f64,
    pub memory_efficiency: f64,
    pub flops_half: f64,
    pub bytes_half: f64,
    pub gpu_memory: f64,
    /// The serving stack's fixed cost per iteration (scheduling, sampling, launches), seconds:
    /// the engine's overhead unless the scenario gives one.
    pub iteration_overhead_s: f64,
    /// The 68% band of the stack's decode estimates, as factors (low, high) on iteration times.
    pub band: Option<(f64, f64)>,
    /// The serving stack the profile assumes (None before one is applied).
    pub stack: Option<String>,
    pub source: String,
}

/// One all-reduce's fixed cost between GPUs (launch and synchronisation), seconds.
const ALL_REDUCE_LATENCY_S: f64 = 8e-6;

/// An iteration on `tensor_parallel` GPUs: overhead + the linear layers (weights read once, FLOPs
/// per token) + attention (FLOPs per pair, the KV read) + two all-reduces per layer of the
/// iteration's activations (ring: 2(tp − 1)/tp of the bytes over the interconnect). Each part
/// is the larger of its compute and memory times at the calibrated efficiencies.
#[derive(Debug)]
pub struct RooflineIteration {
    profile: std::sync::Arc<LlmProfile>,
    tensor_parallel: f64,
    overhead: f64,
}

impl RooflineIteration {
    pub fn new(profile: std::sync::Arc<LlmProfile>, tensor_parallel: u32, overhead_nanos: f64) -> Self {
        RooflineIteration { profile, tensor_parallel: f64::from(tensor_parallel), overhead: overhead_nanos }
    }

    /// Seconds of one iteration of this shape.
    pub fn seconds(&self, step: &Step) -> f64 {
        let p = &*self.profile;
        let tp = self.tensor_parallel;
        let efficiency = |x: f64, half: f64, max: f64| if x > 0.0 { max * x / (x + half) } else { max };
        let part = |flops: f64, bytes: f64, compute_max: f64| {
            let layer_flops = flops / f64::from(p.layers);
            let layer_bytes = bytes / f64::from(p.layers);
            let compute = if flops > 0.0 {
                flops / (p.peak_flops * efficiency(layer_flops, p.flops_half, compute_max))
            } else {
                0.0
            };
            let memory = if bytes > 0.0 {
                bytes / (p.bandwidth * efficiency(layer_bytes, p.bytes_half, p.memory_efficiency))
            } else {
                0.0
            };
            compute.max(memory)
        };
        let tokens = f64::from(step.prefill_tokens + step.decode_tokens);
        let linear = part(
            (p.linear_flops_per_token * tokens + p.lm_head_flops_per_sequence * f64::from(step.requests)) / tp,
            p.weight_bytes / tp,
            p.compute_efficiency,
        );
        let attention = part(
            p.attention_flops_per_pair * step.attention_pairs as f64 / tp,
            p.kv_bytes_per_token * step.kv_tokens_read as f64 / tp,
            p.compute_efficiency * p.attention_ratio,
        );
        let all_reduce = if tp > 1.0 {
            let bytes = tokens * p.hidden * 2.0;
            2.0 * f64::from(p.layers)
                * (2.0 * (tp - 1.0) / tp * bytes / p.interconnect_bandwidth + ALL_REDUCE_LATENCY_S)
        } else {
            0.0
        };
        self.overhead / 1e9 + linear + attention + all_reduce
    }
}

impl BatchLatency for RooflineIteration {
    fn sample(&self, batch_size: u32, rng: &mut Rng) -> Nanos {
        self.sample_step(&decode_step(batch_size), rng)
    }
    #[inline]
    fn sample_step(&self, step: &Step, _rng: &mut Rng) -> Nanos {
        (self.seconds(step) * 1e9).round() as Nanos
    }
    fn mean(&self, batch_size: u32) -> f64 {
        self.seconds(&decode_step(batch_size)) * 1e9
    }
    fn source(&self) -> String {
        format!("{}, tensor parallel {}", self.profile.source, self.tensor_parallel)
    }
}
