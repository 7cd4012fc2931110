//! `[serving.llm]` as written: an LLM engine scheduling iterations as vLLM does. The keys are
//! vLLM's engine arguments by the same names, with vLLM's defaults (V1 engine).

use crate::units::{Bytes, Duration};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmEngine {
    /// A decoder in the kernels catalog (`llama-3-8b`, `qwen2.5-7b`, `mistral-7b`): iteration
    /// times from its config on the instance's GPU (the calibrated roofline), its weights and KV
    /// bytes per token from the config. Either this or `iteration`.
    pub model: Option<String>,
    /// The GPU the model's iteration times are estimated on (default: the instance's GPU in the
    /// catalog).
    pub device: Option<String>,
    /// An iteration's time given directly (instead of a model's estimate).
    pub iteration: Option<IterationTime>,
    /// The serving stack whose decode model and band the estimate uses (`vllm`, `tensorrt-llm`,
    /// `llama.cpp`, `torch-compile`; default `vllm`), each fitted on published decode speeds.
    /// With `model` only.
    #[serde(default)]
    pub stack: Option<String>,
    /// With `model`: each iteration's fixed cost beside the roofline's (scheduling, sampling,
    /// kernel launches under CUDA graphs); default 1 ms, an assumption until calibrated.
    pub iteration_overhead: Option<Duration>,
    /// GPUs per replica; weights and KV cache split across them, two all-reduces per layer.
    #[serde(default = "one")]
    pub tensor_parallel_size: u32,
    /// Most sequences running at once.
    #[serde(default = "default_max_num_seqs")]
    pub max_num_seqs: u32,
    /// Most tokens (prefill chunks and decodes) in one iteration.
    #[serde(default = "default_max_num_batched_tokens")]
    pub max_num_batched_tokens: u32,
    /// Prompts longer than the token budget's room are prefilled in chunks across iterations,
    /// beside the decodes; without it a prompt is prefilled whole in one iteration.
    #[serde(default = "yes")]
    pub enable_chunked_prefill: bool,
    /// Tokens per KV-cache block.
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    /// Fraction of the GPU's memory the engine takes (weights, activations, KV cache).
    #[serde(default = "default_gpu_memory_utilization")]
    pub gpu_memory_utilization: f64,
    /// Reuse the KV blocks of prompt prefixes computed before (from the trace's block hashes, or
    /// the traffic's `shared_prefix`). Cached blocks live in the KV cache: shared by the running
    /// sequences that use them, evicted least recently released first when a sequence needs one.
    #[serde(default = "yes")]
    pub enable_prefix_caching: bool,
    /// llm-d's endpoint picker's scorer weights and refresh, for `balancer = "endpoint_picker"`.
    pub endpoint_picker: Option<EndpointPicker>,
    /// Prefill and decode on separate replicas (llm-d's and Dynamo's disaggregated serving).
    pub disaggregation: Option<Disaggregation>,
    /// Longest prompt plus output a request may have; longer ones are refused (HTTP 400) as vLLM
    /// does. Default: the model's context length (or unbounded with `iteration`).
    pub max_model_len: Option<u32>,
    /// KV-cache capacity in tokens, instead of computing it from memory (required with `iteration`
    /// unless `weights` and `kv_bytes_per_token` are given).
    pub kv_cache_tokens: Option<u64>,
    /// One GPU's memory (default: the catalog's figure for the instance's GPU).
    pub gpu_memory: Option<Bytes>,
    /// Model weights, all GPUs together (default: from the model's config, 2 bytes per parameter).
    pub weights: Option<Bytes>,
    /// KV-cache bytes per token, all GPUs together (default: from the model's config).
    pub kv_bytes_per_token: Option<u64>,
    /// Memory per GPU kept for activations and the CUDA graphs (default: from the model's config
    /// at `max_num_batched_tokens`).
    pub activation_reserve: Option<Bytes>,
}

/// Weighted scorers over each replica: the share of the request's prompt blocks in its prefix
/// cache, its queue (fewest waiting scores 1), its free KV cache; queue and KV read from signals
/// refreshed every `refresh` (stale between refreshes), the prefix from the replica's cache.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPicker {
    #[serde(default = "two")]
    pub prefix_weight: f64,
    #[serde(default = "unit")]
    pub queue_weight: f64,
    #[serde(default = "unit")]
    pub kv_weight: f64,
    /// How often the queue and KV signals are read (default 100 ms).
    #[serde(default = "default_refresh")]
    pub refresh: Duration,
}

fn two() -> f64 {
    2.0
}
fn unit() -> f64 {
    1.0
}
fn default_refresh() -> Duration {
    Duration(100_000_000)
}

/// A region's replicas split into prefill and decode engines: a request's prompt runs on a
/// prefill replica, which produces its first token; its KV cache then crosses to a decode
/// replica (prompt tokens × KV bytes per token ÷ the link's bandwidth), which produces the rest.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disaggregation {
    /// Replicas of each region that prefill (the first ones); the others decode. The P:D ratio
    /// a sweep varies; 0 is aggregated serving (every replica prefills and decodes).
    pub prefill_replicas: u32,
    /// The KV transfer link between a prefill and a decode replica, GB/s (e.g. 50 for 400 Gb/s
    /// RDMA, 25 for 200 Gb/s).
    pub kv_transfer_gbps: f64,
}

/// One iteration's time as a sum of its parts (all default to 0): what a hand-worked timeline or
/// a calibration against a real engine gives.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IterationTime {
    /// Per iteration (scheduling, sampling, kernel launches).
    #[serde(default)]
    pub overhead: Duration,
    /// Per token processed (a prefill token or a decode).
    #[serde(default)]
    pub per_token: Duration,
    /// Per sequence in the iteration.
    #[serde(default)]
    pub per_sequence: Duration,
    /// Per KV-cache token its attention reads.
    #[serde(default)]
    pub per_kv_token: Duration,
    /// Per query × key pair its attention computes: a prompt's causal attention grows with the
    /// square of its length, which matters where attention is compute-bound (a CPU engine's
    /// prefill). Left out of a written scenario when zero, so older outputs keep their bytes.
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub per_attention_pair: Duration,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_max_num_seqs() -> u32 {
    256
}
fn default_max_num_batched_tokens() -> u32 {
    8192
}
fn default_block_size() -> u32 {
    16
}
fn default_gpu_memory_utilization() -> f64 {
    0.9
}

/// Prompt and output lengths of synthetic requests (`[[traffic]] tokens`); a trace's columns give
/// them per request instead.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// Prompt tokens.
    pub prompt: TokenCount,
    /// Output tokens (at least 1 is generated).
    pub output: TokenCount,
    /// A shared prompt prefix (a system prompt, few-shot examples): each request belongs to one
    /// of `groups` at random, and its first `tokens` prompt tokens are its group's.
    pub shared_prefix: Option<SharedPrefix>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefix {
    pub tokens: u32,
    #[serde(default = "one")]
    pub groups: u32,
}

/// A token count's distribution, rounded to whole tokens.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenCount {
    Constant {
        value: u32,
    },
    Uniform {
        min: u32,
        max: u32,
    },
    Exponential {
        mean: f64,
    },
    /// Parameterised by mean and coefficient of variation (std / mean).
    Lognormal {
        mean: f64,
        cv: f64,
    },
}
