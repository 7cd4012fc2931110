//! Roofline estimates for devices without a measured profile: each operator takes
//! `max(FLOPs / effective peak, bytes / effective bandwidth)` plus a launch overhead, and a model
//! is the sum of its operators. Every estimate says it is one.
//!
//! Efficiency grows with operator size and saturates at the calibrated large-operator efficiency:
//! `eff(x) = eff_max · x / (x + x_half)`. `eff_max` comes from measurements (the H200's 8192³ bf16
//! GEMM and large copy); `x_half` and the launch overhead are stated assumptions until measured
//! profiles calibrate them. The curve gives every operator a floor of `x_half / (peak · eff_max)`
//! on top of the launch overhead (0.25 µs compute and 0.06 µs memory on an H200; 2 µs and 0.5 µs
//! on an A10G). Only matrix operators (GEMMs, attention) are timed against the compute peak.

use crate::models::Graph;
use crate::ops::Op;
use crate::stack::StackModel;

#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub name: String,
    /// Dense fp16/bf16 peak, FLOP/s.
    pub peak_flops: f64,
    /// Memory bandwidth, bytes/s.
    pub bandwidth: f64,
    pub memory_bytes: f64,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Fraction of peak FLOP/s large GEMMs reach.
    pub compute_efficiency: f64,
    /// Attention's compute efficiency as a fraction of `compute_efficiency`: fused attention
    /// kernels (softmax between two small matrix products) sustain less than a GEMM does.
    pub attention_ratio: f64,
    /// Fraction of peak bandwidth large copies reach.
    pub memory_efficiency: f64,
    /// FLOPs at which an operator reaches half of `compute_efficiency`.
    pub flops_half: f64,
    /// Bytes at which an operator reaches half of `memory_efficiency`.
    pub bytes_half: f64,
    /// Fixed cost per operator (kernel launch and framework dispatch), seconds.
    pub launch_overhead_s: f64,
    pub source: String,
}

impl Calibration {
    /// From the measured H200 figures in catalog/gpu-measured.csv: 770–800 TFLOP/s of 989 for an
    /// 8192³ bf16 GEMM (0.79 at the midpoint), 4300 GB/s of 4800 for a large copy (0.90).
    pub fn h200_measured() -> Self {
        Calibration {
            compute_efficiency: 785.0 / 989.0,
            attention_ratio: 1.0,
            memory_efficiency: 4300.0 / 4800.0,
            flops_half: 2e8,
            bytes_half: 2.5e5,
            launch_overhead_s: 5e-6,
            source: "efficiency from H200 measurements (bf16 GEMM 8192³ at 770–800 TFLOP/s, copy at 4300 GB/s); \
                     half-efficiency sizes (200 MFLOP, 250 kB) and 5 µs per-operator overhead assumed"
                .into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Compute,
    Memory,
    Overhead,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpEstimate {
    pub op: String,
    pub shape: String,
    pub flops: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub bound: Bound,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    /// Part of `seconds`: the stack's fixed cost per forward pass.
    pub per_call_seconds: f64,
    pub ops: Vec<OpEstimate>,
    /// `estimated (roofline …)`: never a measurement.
    pub source: String,
}

/// What an operator's time is bound by: matrix products and attention run on the tensor cores
/// whose peak the datasheet gives; the rest are elementwise or gathers, bound by memory long
/// before their few FLOPs matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkKind {
    Matrix,
    Attention,
    Memory,
}

impl WorkKind {
    pub fn of(op: &Op) -> WorkKind {
        match op {
            Op::Gemm { .. } | Op::BatchedGemm { .. } => WorkKind::Matrix,
            Op::AttentionPrefill { .. } | Op::AttentionDecode { .. } => WorkKind::Attention,
            _ => WorkKind::Memory,
        }
    }
}

/// Seconds of compute and of memory traffic for `flops` and `bytes` of work (each zero when
/// there is none), before the launch overhead.
pub fn work_seconds(flops: f64, bytes: f64, kind: WorkKind, device: &Device, calibration: &Calibration) -> (f64, f64) {
    let efficiency = |x: f64, half: f64, max: f64| max * x / (x + half);
    let peak_efficiency = match kind {
        WorkKind::Matrix => calibration.compute_efficiency,
        WorkKind::Attention => calibration.compute_efficiency * calibration.attention_ratio,
        WorkKind::Memory => 0.0,
    };
    let compute = if flops == 0.0 || kind == WorkKind::Memory {
        0.0
    } else {
        flops / (device.peak_flops * efficiency(flops, calibration.flops_half, peak_efficiency))
    };
    let memory = if bytes == 0.0 {
        0.0
    } else {
        bytes / (device.bandwidth * efficiency(bytes, calibration.bytes_half, calibration.memory_efficiency))
    };
    (compute, memory)
}

pub fn estimate_op(op: &Op, device: &Device, calibration: &Calibration) -> OpEstimate {
    estimate_op_with(op, device, calibration, &StackModel::IDENTITY)
}

/// An operator's time under a serving stack: its kind's factor on the roofline work, the
/// device's launch overhead and the stack's own per-operator cost.
pub fn estimate_op_with(op: &Op, device: &Device, calibration: &Calibration, stack: &StackModel) -> OpEstimate {
    let flops = op.flops();
    let bytes = op.bytes();
    let kind = WorkKind::of(op);
    let (compute, memory) = work_seconds(flops as f64, bytes as f64, kind, device, calibration);
    let work = stack.factor(kind) * compute.max(memory);
    let overhead = calibration.launch_overhead_s + stack.per_operator_s;
    let bound = if work < overhead {
        Bound::Overhead
    } else if compute >= memory {
        Bound::Compute
    } else {
        Bound::Memory
    };
    OpEstimate { op: op.name(), shape: op.shape(), flops, bytes, seconds: work + overhead, bound }
}

pub fn estimate(graph: &Graph, device: &Device, calibration: &Calibration) -> Estimate {
    estimate_with(graph, device, calibration, &StackModel::IDENTITY)
}

/// A graph's time under a serving stack: its operators plus the stack's per-call cost
/// (`per_call_seconds`, part of `seconds`).
pub fn estimate_with(graph: &Graph, device: &Device, calibration: &Calibration, stack: &StackModel) -> Estimate {
    let ops: Vec<OpEstimate> = graph.ops.iter().map(|op| estimate_op_with(op, device, calibration, stack)).collect();
    Estimate {
        seconds: ops.iter().map(|o| o.seconds).sum::<f64>() + stack.per_call_s,
        per_call_seconds: stack.per_call_s,
        ops,
        source: format!(
            "estimated (roofline on {} datasheet peaks: {}; {})",
            device.name, device.source, calibration.source
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::DType;

    fn h200() -> Device {
        Device {
            name: "h200-sxm".into(),
            peak_flops: 989e12,
            bandwidth: 4800e9,
            memory_bytes: 141e9,
            source: "datasheet".into(),
        }
    }

    #[test]
    fn large_gemm_reproduces_the_calibration_measurement() {
        // The 8192³ bf16 GEMM the calibration comes from: 1.1 TFLOP at ~785 TFLOP/s ≈ 1.40 ms.
        let gemm = Op::Gemm { m: 8192, n: 8192, k: 8192, dtype: DType::BF16, weight_params: 0 };
        let estimate = estimate_op(&gemm, &h200(), &Calibration::h200_measured());
        let rate = gemm.flops() as f64 / (estimate.seconds - 5e-6);
        assert!((rate / 785e12 - 1.0).abs() < 0.01, "{rate:e}");
        assert_eq!(estimate.bound, Bound::Compute);
    }

    #[test]
    fn a_large_copy_reproduces_the_bandwidth_measurement() {
        // 8.6 GB moved at ~4300 GB/s ≈ 2.0 ms, as measured.
        let add = Op::Add { elements: 8_600_000_000 / 6, dtype: DType::BF16 };
        let estimate = estimate_op(&add, &h200(), &Calibration::h200_measured());
        let rate = add.bytes() as f64 / (estimate.seconds - 5e-6);
        assert!((rate / 4300e9 - 1.0).abs() < 0.01, "{rate:e}");
        assert_eq!(estimate.bound, Bound::Memory);
    }

    #[test]
    fn tiny_operators_cost_their_launch_overhead() {
        let add = Op::Add { elements: 16, dtype: DType::F16 };
        let estimate = estimate_op(&add, &h200(), &Calibration::h200_measured());
        assert_eq!(estimate.bound, Bound::Overhead);
        // An add is memory-bound: the launch overhead plus the memory curve's floor and the bytes,
        // (96 + 250 000) / (4800e9 × 0.896).
        let floor = (96.0 + 2.5e5) / 4300e9;
        assert!((estimate.seconds - 5e-6 - floor).abs() < 1e-8, "{}", estimate.seconds);
    }
}
