//! Latency predictions from a measured profile: exact shapes are measured, nearby shapes are
//! interpolated in log-log space, anything else is a roofline estimate calibrated on the profile.
//! Every prediction says which.
//!
//! Interpolation follows the axis batching moves. Each operator splits into a fixed part (a GEMM's
//! `n` and `k`, a norm's width, attention's heads and sequence) and a scale that grows with the
//! batch (a GEMM's `m`, a norm's rows, attention's batch). Shapes that share the fixed part are
//! interpolated along the scale; when no measured shape shares it, along the operator's work
//! (FLOPs for matrix operators, bytes for the rest) among shapes of the same operator and dtype.
//! Between points the curve is a straight line in log-log space; below the first point it keeps
//! the first segment's slope clamped to [0, 1] (time never falls faster than work); past the last
//! it continues the last segment linearly (time = fixed cost + work / rate, which large operators
//! follow).

use crate::error::KernelError;
use crate::models::Graph;
use crate::ops::{DType, Op};
use crate::profile::Profile;
use crate::roofline::{self, Calibration, Device};
use std::collections::HashMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Measured,
    Interpolated,
    Estimated,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Measured => "measured",
            Source::Interpolated => "interpolated",
            Source::Estimated => "estimated",
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpPrediction {
    pub op: Op,
    pub seconds: f64,
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub seconds: f64,
    /// Part of `seconds`: the per-batch cost that is no operator.
    pub overhead_seconds: f64,
    pub ops: Vec<OpPrediction>,
    /// The least trustworthy source among the operators.
    pub source: Source,
    pub description: String,
}

/// Matrix operators are timed against compute, the rest against memory.
pub fn is_matrix(op: &Op) -> bool {
    matches!(op, Op::Gemm { .. } | Op::BatchedGemm { .. } | Op::AttentionPrefill { .. } | Op::AttentionDecode { .. })
}

/// The work an operator's time is interpolated over when no shape shares its fixed part.
fn work(op: &Op) -> f64 {
    if is_matrix(op) {
        op.flops() as f64
    } else {
        op.bytes() as f64
    }
}

/// `(fixed part, scale)`: shapes with the same fixed part differ only along the batch axis.
fn split(op: &Op) -> (String, u64) {
    match *op {
        Op::Gemm { m, n, k, .. } => (format!("n={n} k={k}"), m),
        Op::BatchedGemm { batch, m, n, k, .. } => (format!("m={m} n={n} k={k}"), batch),
        Op::Softmax { rows, cols, .. } | Op::LayerNorm { rows, cols, .. } | Op::RmsNorm { rows, cols, .. } => {
            (format!("cols={cols}"), rows)
        }
        Op::Activation { elements, .. } | Op::Add { elements, .. } | Op::Mul { elements, .. } => {
            (String::new(), elements)
        }
        Op::EmbeddingGather { lookups, dim, table_rows, .. } => (format!("dim={dim} table={table_rows}"), lookups),
        Op::EmbeddingBag { bags, bag_size, dim, table_rows, .. } => {
            (format!("bag_size={bag_size} dim={dim} table={table_rows}"), bags)
        }
        Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, causal, .. } => {
            (format!("heads={heads} kv_heads={kv_heads} seq={seq} head_dim={head_dim} causal={causal}"), batch)
        }
        Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
            (format!("heads={heads} kv_heads={kv_heads} kv_len={kv_len} head_dim={head_dim}"), batch)
        }
    }
}

/// Interpolates `points` (sorted by x, distinct x, positive values) at `x` as the module doc says.
pub fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    assert!(!points.is_empty());
    let after = points.partition_point(|&(px, _)| px < x);
    if after < points.len() && points[after].0 == x {
        return points[after].1;
    }
    if points.len() == 1 {
        // One point: proportional to work above it, its own time below it.
        let (x0, t0) = points[0];
        return if x > x0 { t0 * x / x0 } else { t0 };
    }
    if after == 0 {
        let ((x0, t0), (x1, t1)) = (points[0], points[1]);
        let slope = ((t1 / t0).ln() / (x1 / x0).ln()).clamp(0.0, 1.0);
        return t0 * (x / x0).powf(slope);
    }
    if after == points.len() {
        let ((x0, t0), (x1, t1)) = (points[points.len() - 2], points[points.len() - 1]);
        let rate = ((t1 - t0) / (x1 - x0)).max(0.0);
        return t1 + rate * (x - x1);
    }
    let ((x0, t0), (x1, t1)) = (points[after - 1], points[after]);
    let fraction = (x / x0).ln() / (x1 / x0).ln();
    (t0.ln() + fraction * (t1 / t0).ln()).exp()
}

/// `time = fixed + work / rate`, fitted to measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub fixed_s: f64,
    /// FLOP/s or bytes/s.
    pub rate: f64,
    pub points: usize,
}

/// Least squares on relative error (weights 1/t²), so small and large operators count alike.
pub fn fit_line(points: &[(f64, f64)]) -> Option<Line> {
    if points.len() < 2 {
        return None;
    }
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, t) in points {
        let w = 1.0 / (t * t);
        sw += w;
        sx += w * x;
        sy += w * t;
        sxx += w * x * x;
        sxy += w * x * t;
    }
    let det = sw * sxx - sx * sx;
    if det <= 0.0 {
        return None;
    }
    let slope = (sw * sxy - sx * sy) / det;
    let fixed = (sy - slope * sx) / sw;
    (slope > 0.0).then(|| Line { fixed_s: fixed.max(0.0), rate: 1.0 / slope, points: points.len() })
}

/// What a profile says about its device as a roofline: effective compute and memory rates and
/// the smallest per-operator cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    pub compute: Option<Line>,
    pub memory: Option<Line>,
    pub floor_s: f64,
}

pub fn fit(profile: &Profile) -> Fit {
    let mut compute = Vec::new();
    let mut memory = Vec::new();
    let mut floor = f64::INFINITY;
    for m in &profile.measurements {
        let seconds = m.stat.median_ns * 1e-9;
        if seconds <= 0.0 {
            continue;
        }
        floor = floor.min(seconds);
        if is_matrix(&m.op) {
            compute.push((m.op.flops() as f64, seconds));
        } else {
            memory.push((m.op.bytes() as f64, seconds));
        }
    }
    Fit { compute: fit_line(&compute), memory: fit_line(&memory), floor_s: if floor.is_finite() { floor } else { 0.0 } }
}

impl Calibration {
    /// The roofline calibration a fit implies for `device`: efficiency is the fitted rate over the
    /// device's peak, the half-efficiency size turns the fitted fixed cost (above the per-operator
    /// floor) into the curve's ramp.
    pub fn from_fit(fit: &Fit, device: &Device, what: &str) -> Option<Calibration> {
        let (compute, memory) = (fit.compute?, fit.memory?);
        // The launch cost is what every operator pays; each curve's fixed cost above it becomes
        // its ramp, so the calibrated roofline reproduces both fitted lines.
        let launch = fit.floor_s.min(compute.fixed_s).min(memory.fixed_s);
        Some(Calibration {
            compute_efficiency: compute.rate / device.peak_flops,
            attention_ratio: 1.0,
            memory_efficiency: memory.rate / device.bandwidth,
            flops_half: ((compute.fixed_s - launch) * compute.rate).max(1.0),
            bytes_half: ((memory.fixed_s - launch) * memory.rate).max(1.0),
            launch_overhead_s: launch,
            source: format!(
                "fitted to {what}: {:.1} GFLOP/s over {} matrix shapes, {:.1} GB/s over {} others, {:.2} µs floor",
                compute.rate / 1e9,
                compute.points,
                memory.rate / 1e9,
                memory.points,
                fit.floor_s * 1e6
            ),
        })
    }
}

/// Latency of operators and graphs from one profile, with a fitted roofline behind it.
pub struct Predictor {
    name: String,
    exact: HashMap<(String, String, DType), f64>,
    /// (operator, dtype, fixed part) → sorted (scale, seconds).
    by_scale: HashMap<(String, DType, String), Vec<(f64, f64)>>,
    /// (operator, dtype) → sorted (work, seconds), one per work value.
    by_work: HashMap<(String, DType), Vec<(f64, f64)>>,
    overhead_s: f64,
    roofline: Option<(Device, Calibration)>,
}

fn sorted_distinct(mut points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // Same x measured twice (different shapes of equal work): keep the faster (sorted first).
    points.dedup_by(|b, a| a.0 == b.0);
    points
}

impl Predictor {
    /// `name` names the profile in descriptions (its path, say).
    pub fn new(profile: &Profile, name: &str) -> Predictor {
        let mut exact = HashMap::new();
        let mut by_scale: HashMap<_, Vec<(f64, f64)>> = HashMap::new();
        let mut by_work: HashMap<_, Vec<(f64, f64)>> = HashMap::new();
        for m in &profile.measurements {
            let seconds = m.stat.median_ns * 1e-9;
            let (fixed, scale) = split(&m.op);
            let dtype = m.op.dtype();
            exact.insert((m.op.name(), m.op.shape(), dtype), seconds);
            by_scale.entry((m.op.name(), dtype, fixed)).or_default().push((scale as f64, seconds));
            by_work.entry((m.op.name(), dtype)).or_default().push((work(&m.op), seconds));
        }
        let by_scale = by_scale.into_iter().map(|(k, v)| (k, sorted_distinct(v))).collect();
        let by_work = by_work.into_iter().map(|(k, v)| (k, sorted_distinct(v))).collect();
        let fitted = fit(profile);
        let roofline = match (fitted.compute, fitted.memory) {
            (Some(compute), Some(memory)) => {
                // The profile's own device as a roofline whose peaks are the fitted rates.
                let device = Device {
                    name: profile.device().to_string(),
                    peak_flops: compute.rate,
                    bandwidth: memory.rate,
                    memory_bytes: f64::INFINITY,
                    source: format!("profile {name}"),
                };
                Calibration::from_fit(&fitted, &device, &format!("profile {name}")).map(|c| (device, c))
            }
            _ => None,
        };
        Predictor {
            name: name.to_string(),
            exact,
            by_scale,
            by_work,
            overhead_s: profile.batch_overhead.map_or(0.0, |s| s.median_ns * 1e-9),
            roofline,
        }
    }

    pub fn op(&self, op: &Op) -> Result<OpPrediction, KernelError> {
        let kernel = op.kernel();
        let dtype = kernel.dtype();
        let (name, shape) = (kernel.name(), kernel.shape());
        if let Some(&seconds) = self.exact.get(&(name.clone(), shape.clone(), dtype)) {
            return Ok(OpPrediction { op: op.clone(), seconds, source: Source::Measured });
        }
        let (fixed, scale) = split(&kernel);
        if let Some(points) = self.by_scale.get(&(name.clone(), dtype, fixed)) {
            let seconds = interpolate(points, scale as f64);
            return Ok(OpPrediction { op: op.clone(), seconds, source: Source::Interpolated });
        }
        if let Some(points) = self.by_work.get(&(name.clone(), dtype)).filter(|p| p.len() >= 2) {
            let seconds = interpolate(points, work(&kernel));
            return Ok(OpPrediction { op: op.clone(), seconds, source: Source::Interpolated });
        }
        match &self.roofline {
            Some((device, calibration)) => {
                let estimate = roofline::estimate_op(&kernel, device, calibration);
                Ok(OpPrediction { op: op.clone(), seconds: estimate.seconds, source: Source::Estimated })
            }
            None => Err(KernelError::Unpredictable(format!(
                "profile {} has no {name} ({}) measurements and too few others to fit a roofline",
                self.name,
                dtype.name()
            ))),
        }
    }

    pub fn graph(&self, graph: &Graph) -> Result<Prediction, KernelError> {
        let ops = graph.ops.iter().map(|op| self.op(op)).collect::<Result<Vec<_>, _>>()?;
        let source = ops.iter().map(|o| o.source).max().unwrap_or(Source::Measured);
        let seconds = ops.iter().map(|o| o.seconds).sum::<f64>() + self.overhead_s;
        let count = |s: Source| ops.iter().filter(|o| o.source == s).count();
        let mut description = format!(
            "{source} from profile {}: {} operators measured, {} interpolated, {} estimated",
            self.name,
            count(Source::Measured),
            count(Source::Interpolated),
            count(Source::Estimated)
        );
        if count(Source::Estimated) > 0 {
            if let Some((_, calibration)) = &self.roofline {
                description.push_str(&format!(" (roofline {})", calibration.source));
            }
        }
        description.push_str(&format!(", plus {:.1} µs per batch", self.overhead_s * 1e6));
        Ok(Prediction { seconds, overhead_seconds: self.overhead_s, ops, source, description })
    }
}

/// A catalog device's roofline estimate in the same shape as a profile prediction.
pub fn estimated(graph: &Graph, device: &Device, calibration: &Calibration) -> Prediction {
    estimated_with(graph, device, calibration, &crate::stack::StackModel::IDENTITY)
}

/// The estimate under a serving stack; the stack's per-call cost is the prediction's overhead.
pub fn estimated_with(
    graph: &Graph,
    device: &Device,
    calibration: &Calibration,
    stack: &crate::stack::StackModel,
) -> Prediction {
    let estimate = roofline::estimate_with(graph, device, calibration, stack);
    let ops = graph
        .ops
        .iter()
        .zip(&estimate.ops)
        .map(|(op, e)| OpPrediction { op: op.clone(), seconds: e.seconds, source: Source::Estimated })
        .collect();
    Prediction {
        seconds: estimate.seconds,
        overhead_seconds: estimate.per_call_seconds,
        ops,
        source: Source::Estimated,
        description: estimate.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Measurement, Stat};

    fn stat(ns: f64) -> Stat {
        Stat { median_ns: ns, p10_ns: ns, p90_ns: ns, runs: 5 }
    }

    fn gemm(m: u64, n: u64, k: u64) -> Op {
        Op::Gemm { m, n, k, dtype: DType::F32, weight_params: 0 }
    }

    #[test]
    fn log_log_interpolation_by_hand() {
        // t = x² between (1, 1) and (4, 16): at x = 2 the log-log line gives exactly 4.
        let points = [(1.0, 1.0), (4.0, 16.0), (8.0, 40.0)];
        assert!((interpolate(&points, 2.0) - 4.0).abs() < 1e-12);
        assert_eq!(interpolate(&points, 4.0), 16.0);
        // Past the last point: linear along the last segment, 40 + 6·(10 − 8).
        assert!((interpolate(&points, 10.0) - 52.0).abs() < 1e-12);
        // Below the first: the slope of 2 is clamped to 1, so time halves with work.
        assert!((interpolate(&points, 0.5) - 0.5).abs() < 1e-12);
        // A flat start stays flat below (fixed cost dominates).
        assert_eq!(interpolate(&[(2.0, 5.0), (4.0, 5.0)], 1.0), 5.0);
        // One point: proportional above, constant below.
        assert_eq!(interpolate(&[(2.0, 3.0)], 4.0), 6.0);
        assert_eq!(interpolate(&[(2.0, 3.0)], 1.0), 3.0);
    }

    #[test]
    fn fits_a_line_exactly() {
        // t = 2 µs + x / 1e9
        let points: Vec<(f64, f64)> = [1e3, 1e4, 1e5, 1e6].iter().map(|&x| (x, 2e-6 + x / 1e9)).collect();
        let line = fit_line(&points).unwrap();
        assert!((line.fixed_s - 2e-6).abs() < 1e-12, "{line:?}");
        assert!((line.rate / 1e9 - 1.0).abs() < 1e-9, "{line:?}");
        assert!(fit_line(&points[..1]).is_none());
    }

    fn synthetic_profile() -> Profile {
        // Compute: 1 µs + flops / 100 GFLOP/s; memory: 1 µs + bytes / 10 GB/s.
        let mut measurements = Vec::new();
        for m in [1u64, 8, 64] {
            let op = gemm(m, 256, 256);
            measurements.push(Measurement { op: op.clone(), stat: stat(1e3 + op.flops() as f64 / 100.0) });
        }
        for elements in [1_000u64, 100_000] {
            let op = Op::Add { elements, dtype: DType::F32 };
            measurements.push(Measurement { op: op.clone(), stat: stat(1e3 + op.bytes() as f64 / 10.0) });
        }
        Profile {
            provenance: vec![("device".into(), "synthetic".into())],
            measurements,
            batch_overhead: Some(stat(500.0)),
        }
    }

    #[test]
    fn sources_say_how_each_prediction_was_made() {
        let predictor = Predictor::new(&synthetic_profile(), "synthetic.csv");
        let measured = predictor.op(&gemm(8, 256, 256)).unwrap();
        assert_eq!(measured.source, Source::Measured);
        assert!((measured.seconds - (1e-6 + 2.0 * 8.0 * 256.0 * 256.0 / 100e9)).abs() < 1e-12);
        // A weighted GEMM is the same kernel.
        let weighted = Op::Gemm { m: 8, n: 256, k: 256, dtype: DType::F32, weight_params: 65_792 };
        assert_eq!(predictor.op(&weighted).unwrap().source, Source::Measured);
        // m = 16 between 8 and 64, same n and k: along m.
        let between = predictor.op(&gemm(16, 256, 256)).unwrap();
        assert_eq!(between.source, Source::Interpolated);
        let (t8, t64) = (measured.seconds, predictor.op(&gemm(64, 256, 256)).unwrap().seconds);
        assert!(between.seconds > t8 && between.seconds < t64);
        // Other n, k: along FLOPs among GEMMs.
        assert_eq!(predictor.op(&gemm(8, 512, 256)).unwrap().source, Source::Interpolated);
        // No softmax measured: the roofline fitted to the profile.
        let softmax = Op::Softmax { rows: 100, cols: 100, dtype: DType::F32 };
        let estimate = predictor.op(&softmax).unwrap();
        assert_eq!(estimate.source, Source::Estimated);
        // The calibrated roofline reproduces the memory line, 1 µs + bytes / 10 GB/s.
        let line = 1e-6 + softmax.bytes() as f64 / 10e9;
        assert!((estimate.seconds / line - 1.0).abs() < 1e-4, "{} vs {line}", estimate.seconds);
        let graph = Graph { ops: vec![gemm(8, 256, 256), gemm(16, 256, 256), softmax] };
        let prediction = predictor.graph(&graph).unwrap();
        assert_eq!(prediction.source, Source::Estimated);
        let sum: f64 = prediction.ops.iter().map(|o| o.seconds).sum();
        assert!((prediction.seconds - sum - 500e-9).abs() < 1e-15);
        assert!(prediction.description.contains("1 operators measured, 1 interpolated, 1 estimated"));
    }

    #[test]
    fn the_fit_recovers_the_rates_it_was_made_from() {
        let fitted = fit(&synthetic_profile());
        let compute = fitted.compute.unwrap();
        let memory = fitted.memory.unwrap();
        assert!((compute.rate / 100e9 - 1.0).abs() < 1e-9);
        assert!((memory.rate / 10e9 - 1.0).abs() < 1e-9);
        assert!((compute.fixed_s - 1e-6).abs() < 1e-12);
        // On a device with 4× the fitted rate, the calibration says 25% efficiency.
        let device =
            Device { name: "d".into(), peak_flops: 400e9, bandwidth: 40e9, memory_bytes: 1e9, source: String::new() };
        let calibration = Calibration::from_fit(&fitted, &device, "test").unwrap();
        assert!((calibration.compute_efficiency - 0.25).abs() < 1e-9);
        assert!((calibration.memory_efficiency - 0.25).abs() < 1e-9);
    }
}
