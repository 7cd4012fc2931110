//! What one iteration of an LLM engine costs on a device, from a decoder's public config: the
//! coefficients the simulator's iteration model multiplies by an iteration's shape (tokens,
//! sequences, attention pairs, KV tokens read), so that an iteration costs a few multiplications
//! rather than a graph walk. FLOPs and bytes follow `ops.rs`'s conventions (a multiply-add is 2
//! FLOPs; bf16 weights and KV cache, 2 bytes per element); the rates are the device's datasheet
//! figures times the calibrated efficiencies of `roofline.rs`.

use crate::models::Decoder;
use crate::roofline::{Calibration, Device};

/// A decoder on a device: what an iteration's parts cost, all GPUs of a replica together
/// (tensor parallelism divides them, the simulator's side).
#[derive(Clone, Debug, PartialEq)]
pub struct IterationProfile {
    pub layers: u32,
    pub hidden: f64,
    /// Weights, bf16: read once per iteration.
    pub weight_bytes: f64,
    /// Linear layers' FLOPs per token (QKV, output projection, gate/up/down).
    pub linear_flops_per_token: f64,
    /// The LM head's FLOPs per sequence that samples a token in the iteration.
    pub lm_head_flops_per_sequence: f64,
    /// Attention FLOPs per (query, key) pair, all layers: QKᵀ and PV.
    pub attention_flops_per_pair: f64,
    /// KV-cache bytes per token, all layers.
    pub kv_bytes_per_token: f64,
    /// Activation bytes per token of the iteration's budget at the engine's peak (the gate and up
    /// projections' outputs and the residual stream, bf16).
    pub activation_bytes_per_token: f64,
    /// Logits per sampled sequence, fp32.
    pub logit_bytes_per_sequence: f64,
    /// The model's context length.
    pub max_model_len: u32,
    pub peak_flops: f64,
    pub bandwidth: f64,
    /// Per direction, between the GPUs of one replica (NVLink or PCIe).
    pub interconnect_bandwidth: f64,
    pub compute_efficiency: f64,
    pub attention_ratio: f64,
    pub memory_efficiency: f64,
    pub flops_half: f64,
    pub bytes_half: f64,
    pub gpu_memory: f64,
    pub source: String,
}

impl IterationProfile {
    pub fn new(
        name: &str,
        decoder: &Decoder,
        device: &Device,
        calibration: &Calibration,
        interconnect_bandwidth: f64,
    ) -> Self {
        let head_dim = decoder.hidden / decoder.heads;
        let kv_width = decoder.kv_heads * head_dim;
        let layer_matmul_params = decoder.hidden * decoder.hidden * 2 // Q and the output projection
            + decoder.hidden * kv_width * 2 // K and V
            + decoder.hidden * decoder.intermediate * 3; // gate, up, down
        let layer_params = layer_matmul_params + decoder.hidden * 2; // two RMS norms
        let params = decoder.layers * layer_params + decoder.hidden + decoder.vocab * decoder.hidden * 2;
        IterationProfile {
            layers: decoder.layers as u32,
            hidden: decoder.hidden as f64,
            weight_bytes: params as f64 * 2.0,
            linear_flops_per_token: 2.0 * (decoder.layers * layer_matmul_params) as f64,
            lm_head_flops_per_sequence: 2.0 * (decoder.hidden * decoder.vocab) as f64,
            attention_flops_per_pair: 4.0 * (decoder.layers * decoder.heads * head_dim) as f64,
            kv_bytes_per_token: (2 * decoder.layers * kv_width * 2) as f64,
            activation_bytes_per_token: ((2 * decoder.intermediate + 4 * decoder.hidden) * 2) as f64,
            logit_bytes_per_sequence: (decoder.vocab * 4) as f64,
            max_model_len: decoder.context as u32,
            peak_flops: device.peak_flops,
            bandwidth: device.bandwidth,
            interconnect_bandwidth,
            compute_efficiency: calibration.compute_efficiency,
            attention_ratio: calibration.attention_ratio,
            memory_efficiency: calibration.memory_efficiency,
            flops_half: calibration.flops_half,
            bytes_half: calibration.bytes_half,
            gpu_memory: device.memory_bytes,
            source: format!(
                "estimated (iteration roofline of {name} on {}: {:.0} TFLOP/s × {:.2}, {:.0} GB/s × {:.2})",
                device.name,
                device.peak_flops / 1e12,
                calibration.compute_efficiency,
                device.bandwidth / 1e9,
                calibration.memory_efficiency
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{find, Architecture};

    /// Llama-3-8B's published facts: 8.03 B parameters; GQA with 8 KV heads of 128 make
    /// 2 × 32 × 1024 × 2 = 131 072 bytes of KV cache per token in bf16.
    #[test]
    fn llama_3_8b_counts_match_its_published_figures() {
        let Architecture::Decoder(decoder) = find("llama-3-8b").unwrap().architecture else { panic!() };
        let device =
            Device { name: "d".into(), peak_flops: 1e15, bandwidth: 3e12, memory_bytes: 80e9, source: String::new() };
        let profile = IterationProfile::new("llama-3-8b", &decoder, &device, &Calibration::h200_measured(), 450e9);
        let params = profile.weight_bytes / 2.0;
        assert!((params / 8.03e9 - 1.0).abs() < 0.005, "{params}");
        assert_eq!(profile.kv_bytes_per_token, 131_072.0);
        // 2 × (params − embeddings − LM head): 2 × (8.03 B − 2 × 0.525 B) ≈ 13.96 GFLOP per token.
        assert!((profile.linear_flops_per_token / 13.96e9 - 1.0).abs() < 0.01, "{}", profile.linear_flops_per_token);
        assert_eq!(profile.max_model_len, 8192);
    }
}
