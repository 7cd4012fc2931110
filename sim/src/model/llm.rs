//! `[serving.llm]` → an LLM engine replica kind ([`LlmModel`]) and its iteration time: the
//! engine's limits checked as vLLM checks them, and the KV cache's capacity from memory —
//! refused, with the arithmetic, where weights and the smallest useful cache do not fit.

use super::error::{fail, ScenarioError};
use super::inputs::{llm_key, Inputs};
use super::ReplicaKind;
use crate::iteration::{LinearIteration, RooflineIteration};
use crate::scenario::llm::LlmEngine;
use crate::scenario::{self, KeyPath};
use crate::service::BatchLatency;
use crate::units::GIB;
use std::sync::Arc;

/// Most GPUs one replica may span.
const MAX_TENSOR_PARALLEL: u32 = 64;

/// An LLM engine's settings, checked, with its KV cache's size.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmModel {
    /// The catalog model it serves (None with an `iteration` given directly).
    pub model: Option<String>,
    pub tensor_parallel: u32,
    pub max_num_seqs: u32,
    pub max_num_batched_tokens: u32,
    pub chunked_prefill: bool,
    pub block_size: u32,
    pub gpu_memory_utilization: f64,
    pub prefix_caching: bool,
    pub max_model_len: u32,
    /// KV-cache blocks per replica.
    pub kv_blocks: u32,
    /// Prefill and decode on separate replicas.
    pub disaggregation: Option<DisaggregationModel>,
    /// llm-d's endpoint picker, when the balancer is `endpoint_picker`.
    pub picker: Option<PickerModel>,
    pub memory: LlmMemory,
}

/// The endpoint picker's scorer weights and how stale its queue and KV signals may be.
#[derive(Clone, Debug, PartialEq)]
pub struct PickerModel {
    pub prefix_weight: f64,
    pub queue_weight: f64,
    pub kv_weight: f64,
    pub refresh: crate::units::Nanos,
}

/// Disaggregated serving: the first `prefill_replicas` slots of each region prefill.
#[derive(Clone, Debug, PartialEq)]
pub struct DisaggregationModel {
    pub prefill_replicas: u32,
    /// Nanoseconds to move one token's KV cache (all layers, all GPUs) to a decode replica.
    pub transfer_nanos_per_token: f64,
}

/// Where a replica's KV-cache capacity comes from, per GPU (bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct LlmMemory {
    /// Given as `kv_cache_tokens` rather than computed.
    pub given: bool,
    pub gpu: f64,
    pub weights: f64,
    pub activations: f64,
    pub kv_bytes_per_token: f64,
    /// KV-cache capacity of the replica, in tokens (whole blocks).
    pub kv_tokens: u64,
}

impl LlmMemory {
    /// The memory check as a sentence.
    pub fn arithmetic(&self, utilization: f64, tensor_parallel: u32) -> String {
        let gib = |b: f64| b / GIB;
        format!(
            "per GPU: {:.2} GiB × {utilization} = {:.2} GiB for the engine − {:.2} GiB weights (÷ TP {tensor_parallel}) − {:.2} GiB activations = {:.2} GiB KV cache at {:.0} bytes per token",
            gib(self.gpu),
            gib(self.gpu * utilization),
            gib(self.weights),
            gib(self.activations),
            gib(self.gpu * utilization - self.weights - self.activations),
            self.kv_bytes_per_token
        )
    }
}

pub(super) fn llm_serving(
    path: &KeyPath,
    serving: &scenario::Serving,
    llm: &LlmEngine,
    inputs: &Inputs,
) -> Result<(ReplicaKind, Arc<dyn BatchLatency>), ScenarioError> {
    let at = path.join("llm");
    if serving.service_time.is_some() || !serving.variants.is_empty() {
        let key = if serving.service_time.is_some() { "service_time" } else { "variants" };
        return fail(path.join(key), "an LLM engine's iteration time comes from [serving.llm] (model or iteration): leave service_time and variants out");
    }
    if serving.batching != scenario::Batching::default() {
        return fail(path.join("batching"), "an LLM engine schedules iterations, not batches: use [serving.llm]'s max_num_seqs and max_num_batched_tokens instead of [serving.batching]");
    }
    let tp = llm.tensor_parallel_size;
    if tp == 0 || tp > MAX_TENSOR_PARALLEL {
        return fail(
            at.join("tensor_parallel_size"),
            format!("tensor_parallel_size must be between 1 and {MAX_TENSOR_PARALLEL}"),
        );
    }
    if llm.max_num_seqs == 0 || llm.max_num_seqs > super::checks::MAX_BATCH {
        return fail(
            at.join("max_num_seqs"),
            format!("max_num_seqs must be between 1 and {}", super::checks::MAX_BATCH),
        );
    }
    if llm.max_num_batched_tokens == 0 || llm.max_num_batched_tokens > 1 << 24 {
        return fail(at.join("max_num_batched_tokens"), "max_num_batched_tokens must be between 1 and 16777216");
    }
    if llm.block_size == 0 || llm.block_size > 1024 {
        return fail(at.join("block_size"), "block_size must be between 1 and 1024 tokens (vLLM uses 16)");
    }
    let utilization = llm.gpu_memory_utilization;
    if !(utilization > 0.0 && utilization <= 1.0) {
        return fail(
            at.join("gpu_memory_utilization"),
            format!("gpu_memory_utilization is a fraction in (0, 1]; got {utilization}"),
        );
    }
    let (latency, profile): (Arc<dyn BatchLatency>, _) = match (&llm.model, &llm.iteration) {
        (Some(_), Some(_)) => return fail(at.join("iteration"), "give either model (an estimate) or iteration (times given), not both"),
        (None, None) => return fail(at.clone(), "an LLM engine needs model = \"llama-3-8b\" (or another catalog decoder) or iteration = { overhead, per_token, ... }"),
        (None, Some(iteration)) => {
            if llm.iteration_overhead.is_some() {
                return fail(at.join("iteration_overhead"), "iteration_overhead goes with model; with iteration give its overhead");
            }
            if llm.stack.is_some() {
                return fail(at.join("stack"), "stack goes with model (it picks the fitted decode model); iteration times given by hand have none");
            }
            (Arc::new(LinearIteration::new(iteration)), None)
        }
        (Some(model), None) => {
            let Some(device) = &llm.device else {
                return fail(at.join("device"), format!("which GPU does {model} run on? e.g. device = \"h100-sxm\""));
            };
            if !inputs.gpu_memory.is_empty() && !inputs.gpu_memory.contains_key(device) {
                let known: Vec<&str> = inputs.gpu_memory.keys().map(String::as_str).collect();
                return fail(
                    at.join("device"),
                    format!("unknown device {device:?}; the catalog's GPUs are: {}", known.join(", ")),
                );
            }
            let Some(profile) = inputs.llm_profiles.get(&llm_key(model, device, llm.stack.as_deref())) else {
                return fail(at.join("model"), format!("no iteration profile was computed for {model} on {device}"));
            };
            if profile.heads % u64::from(tp) != 0 {
                return fail(at.join("tensor_parallel_size"), format!("{model} has {} attention heads, which tensor_parallel_size {tp} does not divide (vLLM refuses it)", profile.heads));
            }
            let overhead = llm.iteration_overhead.map_or(profile.iteration_overhead_s * 1e9, |d| d.nanos() as f64);
            (Arc::new(RooflineIteration::new(profile.clone(), tp, overhead)), Some(profile))
        }
    };
    let max_model_len = match (llm.max_model_len, profile) {
        (Some(0), _) => return fail(at.join("max_model_len"), "max_model_len must be at least 1"),
        (Some(len), Some(profile)) if len > profile.max_model_len => {
            return fail(
                at.join("max_model_len"),
                format!("max_model_len {len} is beyond the model's context of {} tokens", profile.max_model_len),
            )
        }
        (Some(len), _) => len,
        (None, Some(profile)) => profile.max_model_len,
        (None, None) => u32::MAX,
    };
    if !llm.enable_chunked_prefill && max_model_len != u32::MAX && llm.max_num_batched_tokens < max_model_len {
        return fail(at.join("max_num_batched_tokens"), format!("without chunked prefill a whole prompt runs in one iteration: max_num_batched_tokens ({}) must be at least max_model_len ({max_model_len}), as vLLM requires", llm.max_num_batched_tokens));
    }
    let memory = kv_memory(&at, llm, profile, tp)?;
    let kv_blocks = memory.kv_tokens / u64::from(llm.block_size);
    if kv_blocks == 0 {
        return fail(
            at.join("gpu_memory_utilization"),
            format!(
                "no room for a single KV block of {} tokens: {}",
                llm.block_size,
                memory.arithmetic(utilization, tp)
            ),
        );
    }
    let kv_tokens = kv_blocks * u64::from(llm.block_size);
    if max_model_len != u32::MAX && u64::from(max_model_len) > kv_tokens {
        return fail(at.join("max_model_len"), format!("the model's max seq len ({max_model_len}) is larger than the KV cache holds ({kv_tokens} tokens; {}): raise gpu_memory_utilization or tensor_parallel_size, or lower max_model_len", memory.arithmetic(utilization, tp)));
    }
    let disaggregation = match &llm.disaggregation {
        None => None,
        Some(given) => {
            let at = at.join("disaggregation");
            if !(given.kv_transfer_gbps.is_finite() && given.kv_transfer_gbps > 0.0 && given.kv_transfer_gbps <= 1e5) {
                return fail(at.join("kv_transfer_gbps"), "kv_transfer_gbps must be above 0 and at most 100000 (GB/s)");
            }
            let per_token = memory.kv_bytes_per_token * f64::from(tp);
            if per_token <= 0.0 {
                return fail(at.clone(), "the KV transfer needs kv_bytes_per_token (or a model to compute it from)");
            }
            // 0 prefill replicas is aggregated serving: one sweep compares it with P:D splits.
            (given.prefill_replicas > 0).then_some(DisaggregationModel {
                prefill_replicas: given.prefill_replicas,
                transfer_nanos_per_token: per_token / given.kv_transfer_gbps,
            })
        }
    };
    let picker = match (serving.balancer, &llm.endpoint_picker) {
        (crate::policy::balance::Balancer::EndpointPicker, given) => {
            let given = given.clone().unwrap_or(scenario::llm::EndpointPicker {
                prefix_weight: 2.0,
                queue_weight: 1.0,
                kv_weight: 1.0,
                refresh: crate::units::Duration(100_000_000),
            });
            let at = at.join("endpoint_picker");
            for (key, weight) in [
                ("prefix_weight", given.prefix_weight),
                ("queue_weight", given.queue_weight),
                ("kv_weight", given.kv_weight),
            ] {
                if !(weight.is_finite() && (0.0..=1000.0).contains(&weight)) {
                    return fail(at.join(key), format!("{key} must be between 0 and 1000"));
                }
            }
            if given.prefix_weight + given.queue_weight + given.kv_weight <= 0.0 {
                return fail(at.clone(), "give at least one scorer a positive weight");
            }
            Some(PickerModel {
                prefix_weight: given.prefix_weight,
                queue_weight: given.queue_weight,
                kv_weight: given.kv_weight,
                refresh: given.refresh.nanos(),
            })
        }
        (_, Some(_)) => {
            return fail(
                at.join("endpoint_picker"),
                "endpoint_picker's weights need balancer = \"endpoint_picker\" in [serving]",
            )
        }
        (_, None) => None,
    };
    let kind = ReplicaKind::Llm(LlmModel {
        picker,
        disaggregation,
        model: llm.model.clone(),
        tensor_parallel: tp,
        max_num_seqs: llm.max_num_seqs,
        max_num_batched_tokens: llm.max_num_batched_tokens,
        chunked_prefill: llm.enable_chunked_prefill,
        block_size: llm.block_size,
        gpu_memory_utilization: utilization,
        prefix_caching: llm.enable_prefix_caching,
        max_model_len,
        kv_blocks: u32::try_from(kv_blocks).unwrap_or(u32::MAX),
        memory: LlmMemory { kv_tokens, ..memory },
    });
    Ok((kind, latency))
}

/// The KV cache's capacity: given, or what is left of the engine's share of a GPU after weights
/// and activations, in whole tokens.
fn kv_memory(
    at: &KeyPath,
    llm: &LlmEngine,
    profile: Option<&Arc<super::inputs::LlmProfile>>,
    tp: u32,
) -> Result<LlmMemory, ScenarioError> {
    let tp_f = f64::from(tp);
    if let Some(tokens) = llm.kv_cache_tokens {
        if tokens == 0 {
            return fail(at.join("kv_cache_tokens"), "kv_cache_tokens must be at least 1");
        }
        let per_token = profile.map_or(llm.kv_bytes_per_token.unwrap_or(0) as f64, |p| p.kv_bytes_per_token);
        return Ok(LlmMemory {
            given: true,
            gpu: 0.0,
            weights: 0.0,
            activations: 0.0,
            kv_bytes_per_token: per_token / tp_f,
            kv_tokens: tokens,
        });
    }
    let gpu = match (llm.gpu_memory, profile) {
        (Some(bytes), _) => bytes.0,
        (None, Some(profile)) => profile.gpu_memory,
        (None, None) => return fail(at.join("kv_cache_tokens"), "with iteration given, say how many tokens the KV cache holds (kv_cache_tokens), or give gpu_memory, weights and kv_bytes_per_token"),
    };
    let weights = match (llm.weights, profile) {
        (Some(bytes), _) => bytes.0,
        (None, Some(profile)) => profile.weight_bytes,
        (None, None) => {
            return fail(
                at.join("weights"),
                "with iteration given and no kv_cache_tokens, give the model's weights (e.g. \"16GiB\")",
            )
        }
    };
    let kv_bytes_per_token = match (llm.kv_bytes_per_token, profile) {
        (Some(bytes), _) if bytes > 0 => bytes as f64,
        (Some(_), _) => return fail(at.join("kv_bytes_per_token"), "kv_bytes_per_token must be at least 1"),
        (None, Some(profile)) => profile.kv_bytes_per_token,
        (None, None) => {
            return fail(
                at.join("kv_bytes_per_token"),
                "with iteration given and no kv_cache_tokens, give kv_bytes_per_token",
            )
        }
    };
    let activations = match (llm.activation_reserve, profile) {
        (Some(bytes), _) => bytes.0,
        (None, Some(profile)) => {
            profile.activation_bytes_per_token * f64::from(llm.max_num_batched_tokens) / tp_f
                + profile.logit_bytes_per_sequence * f64::from(llm.max_num_seqs)
                + profile.fixed_reserve
        }
        (None, None) => 0.0,
    };
    let mut memory = LlmMemory {
        given: false,
        gpu,
        weights: weights / tp_f,
        activations,
        kv_bytes_per_token: kv_bytes_per_token / tp_f,
        kv_tokens: 0,
    };
    let left = gpu * llm.gpu_memory_utilization - memory.weights - memory.activations;
    if left <= 0.0 {
        return fail(
            at.join("gpu_memory_utilization"),
            format!("the weights and activations do not fit: {}", memory.arithmetic(llm.gpu_memory_utilization, tp)),
        );
    }
    memory.kv_tokens = (left / memory.kv_bytes_per_token).floor() as u64;
    Ok(memory)
}
