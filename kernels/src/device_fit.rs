//! Per-device roofline calibration fitted to published whole-model latencies, and the error band
//! that follows from how well it predicts what it was not fitted on.
//!
//! A datasheet peak says little about what a part sustains: a 70 W T4 runs BERT at about half the
//! rate its 65 TFLOP/s suggests. So each device with published measurements gets its own
//! calibration — sustained compute and memory efficiency, the sizes at which operators reach half
//! of them, and a per-operator overhead — fitted by least squares on log latency (relative error,
//! so batch 1 and batch 128 count alike), with a weak pull towards the H200 calibration so that
//! parameters the data cannot see (memory terms, for compute-bound BERT) stay where they were.
//!
//! The band is judged out of sample: the device is refitted on one sequence length and predicts
//! the other, and on one model and predicts the other; the 16th and 84th percentiles of
//! ln(published / predicted) over those predictions give a 68% band. A device without published
//! figures keeps the H200 calibration, and its band is that calibration's error over every
//! published figure of every device.

use crate::error::KernelError;
use crate::models::{Graph, ModelSpec, Pass};
use crate::ops::Op;
use crate::published::{Published, Timed};
use crate::roofline::{work_seconds, Calibration, Device, WorkKind};
use crate::stack::StackModel;

/// One published measurement as the distinct operators of its graph (a BERT's layers repeat).
#[derive(Clone, Debug)]
pub struct Point {
    work: Vec<Work>,
    pub seconds: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Work {
    count: f64,
    flops: f64,
    bytes: f64,
    kind: WorkKind,
}

impl Point {
    pub fn new(graph: &Graph, seconds: f64) -> Point {
        let mut work: Vec<Work> = Vec::new();
        for op in &graph.ops {
            let item = Work { count: 1.0, flops: op.flops() as f64, bytes: op.bytes() as f64, kind: WorkKind::of(op) };
            match work.iter_mut().find(|w| w.flops == item.flops && w.bytes == item.bytes && w.kind == item.kind) {
                Some(existing) => existing.count += 1.0,
                None => work.push(item),
            }
        }
        Point { work, seconds }
    }

    /// The roofline's latency for this graph (what `roofline::estimate` gives, summed by kind).
    pub fn predict(&self, device: &Device, calibration: &Calibration) -> f64 {
        self.predict_with(device, calibration, &StackModel::IDENTITY)
    }

    /// The latency under a serving stack (`stack::StackModel`): what `roofline::estimate_with`
    /// gives.
    pub fn predict_with(&self, device: &Device, calibration: &Calibration, stack: &StackModel) -> f64 {
        let operators: f64 = self
            .work
            .iter()
            .map(|w| {
                let (compute, memory) = work_seconds(w.flops, w.bytes, w.kind, device, calibration);
                w.count
                    * (stack.factor(w.kind) * compute.max(memory)
                        + calibration.launch_overhead_s
                        + stack.per_operator_s)
            })
            .sum();
        operators + stack.per_call_s
    }
}

/// The graph a published row measured, on the catalog model it names.
pub fn point(row: &Published, models: &[ModelSpec]) -> Result<Point, KernelError> {
    let spec = models
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(&row.model))
        .ok_or_else(|| KernelError::Catalog(format!("published row names unknown model {:?}", row.model)))?;
    let graph = spec.graph(row.batch, row.seq, Pass::Prefill, row.dtype);
    Ok(Point::new(&timed_part(graph, row.timed), row.seconds))
}

/// The part of a graph a published latency covers: an encoder-only timing leaves out the
/// embeddings before the first layer's first matrix product and the head after the last layer's
/// normalisation.
pub fn timed_part(graph: Graph, timed: Timed) -> Graph {
    if timed != Timed::Encoder {
        return graph;
    }
    let first = graph.ops.iter().position(|op| matches!(op, Op::Gemm { .. }));
    let last = graph.ops.iter().rposition(|op| matches!(op, Op::LayerNorm { .. }));
    match (first, last) {
        (Some(first), Some(last)) if first <= last => Graph { ops: graph.ops[first..=last].to_vec() },
        _ => graph,
    }
}

/// A 68% band as factors on a prediction: the truth lies in `[low·p, high·p]` for 68% of the
/// predictions it was judged on.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    /// How many out-of-sample predictions it was judged on.
    pub points: usize,
}

impl Band {
    /// From ln(measured / predicted) of out-of-sample predictions (16th and 84th percentiles,
    /// linearly interpolated). `None` without errors.
    pub fn from_log_errors(errors: &[f64]) -> Option<Band> {
        if errors.is_empty() {
            return None;
        }
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            let position = q * (sorted.len() - 1) as f64;
            let below = position.floor() as usize;
            let above = (below + 1).min(sorted.len() - 1);
            let fraction = position - below as f64;
            sorted[below] + fraction * (sorted[above] - sorted[below])
        };
        Some(Band { low: quantile(0.16).exp(), high: quantile(0.84).exp(), points: errors.len() })
    }

    pub fn contains(&self, predicted: f64, measured: f64) -> bool {
        measured >= self.low * predicted && measured <= self.high * predicted
    }
}

/// Mean absolute percentage error of predictions against measurements.
pub fn mape(pairs: &[(f64, f64)]) -> f64 {
    pairs.iter().map(|(predicted, measured)| ((predicted - measured) / measured).abs()).sum::<f64>()
        / pairs.len() as f64
}

/// The prior as a Gaussian on the log-parameters, of standard deviation e^3 ≈ 20×, against
/// measurements whose log latency the model misses by about 0.1 (10%): the pull only decides
/// what the data cannot.
const PRIOR_SCALE: f64 = 3.0;
const MEASUREMENT_SCALE: f64 = 0.1;

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn to_parameters(c: &Calibration) -> [f64; 6] {
    [
        logit(c.compute_efficiency),
        logit(c.attention_ratio),
        logit(c.memory_efficiency),
        c.flops_half.ln(),
        c.bytes_half.ln(),
        c.launch_overhead_s.ln(),
    ]
}

fn from_parameters(x: &[f64], source: String) -> Calibration {
    Calibration {
        compute_efficiency: sigmoid(x[0]),
        attention_ratio: sigmoid(x[1]),
        memory_efficiency: sigmoid(x[2]),
        flops_half: x[3].exp(),
        bytes_half: x[4].exp(),
        launch_overhead_s: x[5].exp(),
        source,
    }
}

/// Fits `device`'s calibration to `points`, starting from and weakly held to `prior`.
pub fn fit(points: &[Point], device: &Device, prior: &Calibration, source: String) -> Calibration {
    assert!(!points.is_empty(), "a fit needs points");
    // The prior's attention runs as fast as its GEMMs (ratio 1, which no logit reaches): start the
    // ratio at one half, as likely lower as higher.
    let start = to_parameters(&Calibration { attention_ratio: prior.attention_ratio.min(0.5), ..prior.clone() });
    let n = points.len() as f64;
    let objective = |x: &[f64]| {
        let calibration = from_parameters(x, String::new());
        let misfit: f64 =
            points.iter().map(|p| (p.predict(device, &calibration) / p.seconds).ln().powi(2)).sum::<f64>() / n;
        let pull: f64 = x.iter().zip(&start).map(|(a, b)| ((a - b) / PRIOR_SCALE).powi(2)).sum::<f64>()
            * MEASUREMENT_SCALE.powi(2)
            / n;
        misfit + pull
    };
    // Restarting from the best vertex lets the simplex escape the kinks that max(compute, memory)
    // puts in the objective.
    let mut best = start.to_vec();
    for step in [2.0, 1.0, 0.5, 2.0, 1.0, 0.5] {
        best = nelder_mead(&objective, &best, step, 500);
    }
    from_parameters(&best, source)
}

/// Nelder–Mead minimisation (reflection 1, expansion 2, contraction ½, shrink ½) from `start`
/// with an initial simplex of `step` along each axis, for a fixed number of iterations, so the
/// result is the same on every machine.
pub fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, start: &[f64], step: f64, iterations: usize) -> Vec<f64> {
    let dims = start.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = (0..=dims)
        .map(|i| {
            let mut x = start.to_vec();
            if i > 0 {
                x[i - 1] += step;
            }
            let value = f(&x);
            (x, value)
        })
        .collect();
    let along =
        |from: &[f64], to: &[f64], t: f64| -> Vec<f64> { from.iter().zip(to).map(|(a, b)| a + t * (b - a)).collect() };
    for _ in 0..iterations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let worst = simplex[dims].clone();
        let mut centroid = vec![0.0; dims];
        for (x, _) in &simplex[..dims] {
            for (c, v) in centroid.iter_mut().zip(x) {
                *c += v / dims as f64;
            }
        }
        let reflected = along(&centroid, &worst.0, -1.0);
        let reflected_value = f(&reflected);
        if reflected_value < simplex[0].1 {
            let expanded = along(&centroid, &worst.0, -2.0);
            let expanded_value = f(&expanded);
            simplex[dims] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[dims - 1].1 {
            simplex[dims] = (reflected, reflected_value);
        } else {
            let contracted = if reflected_value < worst.1 {
                along(&centroid, &reflected, 0.5)
            } else {
                along(&centroid, &worst.0, 0.5)
            };
            let contracted_value = f(&contracted);
            if contracted_value < worst.1.min(reflected_value) {
                simplex[dims] = (contracted, contracted_value);
            } else {
                let best = simplex[0].0.clone();
                for vertex in simplex.iter_mut().skip(1) {
                    vertex.0 = along(&best, &vertex.0, 0.5);
                    vertex.1 = f(&vertex.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

/// One out-of-sample test: fitted on the rows whose `key` is `fitted_on`, predicting the others.
#[derive(Clone, Debug)]
pub struct Holdout {
    /// e.g. `seq 128 → seq 384`.
    pub name: String,
    /// (row index, predicted seconds) for every row not fitted on.
    pub predictions: Vec<(usize, f64)>,
}

/// Fits on each value of each key in turn and predicts the rows with other values. Keys with a
/// single value give no test.
pub fn holdouts(
    rows: &[Published],
    points: &[Point],
    device: &Device,
    prior: &Calibration,
    keys: &[fn(&Published) -> String],
) -> Vec<Holdout> {
    let mut tests = Vec::new();
    for key in keys {
        let mut values: Vec<String> = rows.iter().map(key).collect();
        values.sort();
        values.dedup();
        if values.len() < 2 {
            continue;
        }
        for value in &values {
            let train: Vec<Point> =
                rows.iter().zip(points).filter(|(r, _)| key(r) == *value).map(|(_, p)| p.clone()).collect();
            let calibration = fit(&train, device, prior, String::new());
            let predictions = rows
                .iter()
                .zip(points)
                .enumerate()
                .filter(|(_, (r, _))| key(r) != *value)
                .map(|(i, (_, p))| (i, p.predict(device, &calibration)))
                .collect();
            let others: Vec<&str> = values.iter().filter(|v| *v != value).map(String::as_str).collect();
            tests.push(Holdout { name: format!("fit on {value} → {}", others.join(", ")), predictions });
        }
    }
    tests
}

/// A device's fitted calibration and the evidence behind it.
#[derive(Clone, Debug)]
pub struct DeviceFit {
    pub calibration: Calibration,
    /// Judged on `holdouts`' predictions.
    pub band: Band,
    /// Indices of the published rows it was fitted on, with the fitted calibration's predictions.
    pub in_sample: Vec<(usize, f64)>,
    pub holdouts: Vec<Holdout>,
}

/// Hold-out keys: one sequence length predicts the other, one model predicts the other.
fn by_seq(row: &Published) -> String {
    format!("seq {}", row.seq)
}
fn by_model(row: &Published) -> String {
    row.model.clone()
}

/// Fits `device` to the published rows that name it (`None` when none do).
pub fn calibrate_device(
    device: &Device,
    rows: &[Published],
    models: &[ModelSpec],
) -> Result<Option<DeviceFit>, KernelError> {
    let indices: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].gpu == device.name).collect();
    if indices.is_empty() {
        return Ok(None);
    }
    let own_rows: Vec<Published> = indices.iter().map(|&i| rows[i].clone()).collect();
    let own_points = own_rows.iter().map(|r| point(r, models)).collect::<Result<Vec<_>, _>>()?;
    let prior = Calibration::h200_measured();
    let keys: [fn(&Published) -> String; 2] = [by_seq, by_model];
    let mut holdouts = holdouts(&own_rows, &own_points, device, &prior, &keys);
    for test in &mut holdouts {
        for (index, _) in &mut test.predictions {
            *index = indices[*index];
        }
    }
    let mut calibration = fit(&own_points, device, &prior, String::new());
    let in_sample: Vec<(usize, f64)> =
        indices.iter().zip(&own_points).map(|(&i, p)| (i, p.predict(device, &calibration))).collect();
    let log_errors = |predictions: &[(usize, f64)]| -> Vec<f64> {
        predictions.iter().map(|&(i, predicted)| (rows[i].seconds / predicted).ln()).collect()
    };
    let out_of_sample: Vec<(usize, f64)> = holdouts.iter().flat_map(|t| t.predictions.iter().copied()).collect();
    // A device published at one sequence length and one model has no out-of-sample test: its
    // band is judged in sample, and says so.
    let (band, judged) = match Band::from_log_errors(&log_errors(&out_of_sample)) {
        Some(band) => (band, "out-of-sample predictions"),
        None => (Band::from_log_errors(&log_errors(&in_sample)).expect("rows exist"), "in-sample predictions"),
    };
    let mut frameworks: Vec<&str> = own_rows.iter().map(|r| r.framework.as_str()).collect();
    frameworks.sort_unstable();
    frameworks.dedup();
    calibration.source = format!(
        "calibrated on {} published latencies ({}): {:.0}% of peak compute ({:.0}% for attention), \
         {:.0}% of peak bandwidth, {:.1} µs per operator; 68% band ×{:.2}–×{:.2} from {} {judged}",
        own_rows.len(),
        frameworks.join("; "),
        100.0 * calibration.compute_efficiency,
        100.0 * calibration.compute_efficiency * calibration.attention_ratio,
        100.0 * calibration.memory_efficiency,
        calibration.launch_overhead_s * 1e6,
        band.low,
        band.high,
        band.points
    );
    Ok(Some(DeviceFit { calibration, band, in_sample, holdouts }))
}

/// The H200 calibration's predictions of every published row (each on its own device's peaks)
/// and the band they give: what a device without published figures can expect.
pub fn fallback(
    devices: &[Device],
    rows: &[Published],
    models: &[ModelSpec],
) -> Result<(Vec<(usize, f64)>, Band), KernelError> {
    let prior = Calibration::h200_measured();
    let mut predictions = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let device = devices
            .iter()
            .find(|d| d.name == row.gpu)
            .ok_or_else(|| KernelError::Catalog(format!("published rows name unknown device {:?}", row.gpu)))?;
        predictions.push((i, point(row, models)?.predict(device, &prior)));
    }
    let errors: Vec<f64> = predictions.iter().map(|&(i, p)| (rows[i].seconds / p).ln()).collect();
    let band =
        Band::from_log_errors(&errors).ok_or_else(|| KernelError::Catalog("the published table is empty".into()))?;
    Ok((predictions, band))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::find;
    use crate::ops::DType;

    fn device() -> Device {
        Device { name: "test".into(), peak_flops: 100e12, bandwidth: 1000e9, memory_bytes: 16e9, source: "test".into() }
    }

    #[test]
    fn point_predictions_equal_the_roofline_estimate() {
        let graph = find("bert-base-uncased").unwrap().graph(8, 128, Pass::Prefill, DType::F16);
        let calibration = Calibration::h200_measured();
        let by_kind = Point::new(&graph, 1.0).predict(&device(), &calibration);
        let by_op = crate::roofline::estimate(&graph, &device(), &calibration).seconds;
        assert!((by_kind / by_op - 1.0).abs() < 1e-12, "{by_kind} vs {by_op}");
    }

    #[test]
    fn a_fit_recovers_a_known_calibration() {
        // Latencies made by a known calibration (a part sustaining 40% of peak) are fitted back to
        // within 1%, from the H200's 79% start.
        let truth = Calibration {
            compute_efficiency: 0.4,
            attention_ratio: 0.3,
            memory_efficiency: 0.7,
            flops_half: 5e8,
            bytes_half: 1e6,
            launch_overhead_s: 8e-6,
            source: String::new(),
        };
        let spec = find("bert-base-uncased").unwrap();
        let points: Vec<Point> = [1, 4, 16, 64, 128]
            .iter()
            .flat_map(|&b| [128, 384].map(|s| (b, s)))
            .map(|(b, s)| {
                let graph = spec.graph(b, s, Pass::Prefill, DType::F16);
                let seconds = Point::new(&graph, 0.0).predict(&device(), &truth);
                Point::new(&graph, seconds)
            })
            .collect();
        let fitted = fit(&points, &device(), &Calibration::h200_measured(), String::new());
        for p in &points {
            let error = p.predict(&device(), &fitted) / p.seconds - 1.0;
            assert!(error.abs() < 0.01, "{error} {fitted:?}");
        }
        assert!((fitted.compute_efficiency / 0.4 - 1.0).abs() < 0.05, "{}", fitted.compute_efficiency);
    }

    #[test]
    fn an_encoder_timing_covers_the_layers_alone() {
        // BERT-base: 12 layers of 10 operators each; the 3 embedding gathers, their 2 adds, the
        // embedding norm and the pooler's 2 are left out.
        let graph = find("bert-base-uncased").unwrap().graph(1, 128, Pass::Prefill, DType::F16);
        let whole = graph.ops.len();
        let layers = timed_part(graph, Timed::Encoder);
        assert_eq!(layers.ops.len(), 120);
        assert_eq!(whole, 120 + 6 + 2);
        assert!(matches!(layers.ops[0], Op::Gemm { n: 2304, .. }));
    }

    #[test]
    fn nelder_mead_finds_the_minimum_of_a_bowl() {
        let f = |x: &[f64]| (x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2);
        let x = nelder_mead(&f, &[0.0, 0.0], 1.0, 400);
        assert!((x[0] - 3.0).abs() < 1e-6 && (x[1] + 1.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn band_is_the_16th_to_84th_percentile_of_the_errors() {
        // 101 errors −0.50, −0.49, …, 0.50: the 16th percentile is −0.34, the 84th 0.34.
        let errors: Vec<f64> = (0..=100).map(|i| (i as f64 - 50.0) / 100.0).collect();
        let band = Band::from_log_errors(&errors).unwrap();
        assert!((band.low - (-0.34f64).exp()).abs() < 1e-12 && (band.high - 0.34f64.exp()).abs() < 1e-12);
        assert_eq!(band.points, 101);
        assert!(band.contains(1.0, 1.2) && !band.contains(1.0, 1.5));
        assert!(Band::from_log_errors(&[]).is_none());
        assert!((mape(&[(1.1, 1.0), (0.8, 1.0)]) - 0.15).abs() < 1e-12);
    }
}
