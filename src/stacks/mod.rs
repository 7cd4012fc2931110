//! Serving stacks fitted on published measurements (`catalog/stack-published.csv`, and
//! `catalog/gpu-published.csv` for the reference stack), each judged by leaving its sources out
//! one at a time: the model a graph estimate runs under and the band it carries.
//!
//! A stack's band is the 16th–84th percentile of ln(published / predicted) over its
//! leave-one-source-out predictions, so it holds the spread between harnesses and releases. A
//! stack with one source has no such test: its band is its in-sample spread widened to the
//! widest leave-one-source-out band measured. A stack with no published measurements uses its
//! stand-in's model and the widest band of all, and says so. An estimate's band is the device's
//! band combined with the stack's (`stack::combine`).

pub mod llm;

use crate::latency::{calibrate_on, calibrated, device, published, LatencyError};
use kernels::device_fit::{self, Band, Point};
use kernels::published::Published;
use kernels::stack::{self, Sample, StackInfo, StackModel, REFERENCE_STACK};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Published latencies of the stacks other than the reference.
pub const STACK_PUBLISHED: &str = include_str!("../../catalog/stack-published.csv");

/// Every published row: the reference stack's (gpu-published.csv) then the others'.
pub fn all_rows() -> &'static [Published] {
    static ROWS: OnceLock<Vec<Published>> = OnceLock::new();
    ROWS.get_or_init(|| {
        let mut rows = published();
        rows.extend(
            kernels::published::parse(STACK_PUBLISHED).expect("the bundled stack table is well-formed (tested)"),
        );
        rows
    })
}

/// A stack by name, or the list of those that serve the family.
pub fn info(name: &str, llm: bool) -> Result<&'static StackInfo, LatencyError> {
    let known = || stack::names(llm).join(", ");
    let found = stack::find(name)
        .ok_or_else(|| LatencyError::Stack(format!("unknown stack {name:?}; the stacks are: {}", known())))?;
    let serves = if llm { found.serves_llms() } else { found.serves_graphs() };
    if !serves {
        let what = if llm { "an LLM engine" } else { "a whole-graph model (encoder, recommender, MLP)" };
        return Err(LatencyError::Stack(format!("{name} does not serve {what}; the stacks that do are: {}", known())));
    }
    Ok(found)
}

/// One stack's fit and its out-of-sample test.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub name: &'static str,
    /// Indices into `all_rows()`.
    pub rows: Vec<usize>,
    pub sources: Vec<String>,
    pub model: StackModel,
    /// (row, prediction) fitted on every row.
    pub in_sample: Vec<(usize, f64)>,
    /// (row, prediction) fitted without the row's source.
    pub leave_one_source_out: Vec<(usize, f64)>,
}

impl Evaluation {
    pub fn log_errors(predictions: &[(usize, f64)]) -> Vec<f64> {
        predictions.iter().map(|&(i, p)| (all_rows()[i].seconds / p).ln()).collect()
    }
}

fn sample(row: &Published) -> Result<Sample, LatencyError> {
    let device = device(&row.gpu)?;
    let calibration = crate::latency::calibration_of(&device)?;
    Ok(Sample { point: device_fit::point(row, &kernels::catalog())?, timed: row.timed, device, calibration })
}

fn samples(rows: &[usize]) -> Result<Vec<Sample>, LatencyError> {
    rows.iter().map(|&i| sample(&all_rows()[i])).collect()
}

fn sources_of(rows: &[usize]) -> Vec<String> {
    let mut sources: Vec<String> = rows.iter().map(|&i| all_rows()[i].source.clone()).collect();
    sources.sort();
    sources.dedup();
    sources
}

/// Fits a stack's model on `fit_rows` and predicts `predict_rows` (the reference stack: each
/// device recalibrated on the fit rows).
fn fit_and_predict(
    name: &str,
    fit_rows: &[usize],
    predict_rows: &[usize],
) -> Result<(StackModel, Vec<f64>), LatencyError> {
    let rows = all_rows();
    if name == REFERENCE_STACK {
        let given: Vec<Published> = fit_rows.iter().map(|&i| rows[i].clone()).collect();
        let mut by_device: BTreeMap<String, Arc<crate::latency::Calibrated>> = BTreeMap::new();
        let mut predictions = Vec::with_capacity(predict_rows.len());
        for &i in predict_rows {
            let row = &rows[i];
            if !by_device.contains_key(&row.gpu) {
                let device = device(&row.gpu)?;
                by_device.insert(row.gpu.clone(), Arc::new(calibrate_on(&device, &given)?));
            }
            let c = &by_device[&row.gpu];
            predictions.push(device_fit::point(row, &kernels::catalog())?.predict(&c.device, &c.calibration));
        }
        return Ok((StackModel::IDENTITY, predictions));
    }
    let fit_samples = samples(fit_rows)?;
    let refs: Vec<&Sample> = fit_samples.iter().collect();
    let model = stack::fit(&refs);
    let predictions = samples(predict_rows)?.iter().map(|s| s.predict(&model)).collect();
    Ok((model, predictions))
}

/// `rows` split into those of `source` (held out) and the others (kept). For the reference
/// stack a held-out row counts only when its device keeps rows of another source: the reference
/// stack's rows are what calibrates each device, so a device published by one source alone has
/// no device left to predict it on (that is the device band's question: the transferred
/// calibration's error, `device_fit::fallback`), and the stack's test is one release predicting
/// another on the same device.
fn split(name: &str, rows: &[usize], source: &str) -> (Vec<usize>, Vec<usize>) {
    let all = all_rows();
    let (held, kept): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| all[i].source == source);
    if name != REFERENCE_STACK {
        return (held, kept);
    }
    let calibrated_by = |gpu: &str| crate::latency::calibrated_by(gpu);
    let held = held
        .into_iter()
        .filter(|&i| kept.iter().any(|&k| calibrated_by(&all[k].gpu) == calibrated_by(&all[i].gpu)))
        .collect();
    (held, kept)
}

fn evaluate_uncached(name: &'static str) -> Result<Evaluation, LatencyError> {
    let rows: Vec<usize> = (0..all_rows().len()).filter(|&i| all_rows()[i].stack == name).collect();
    let sources = sources_of(&rows);
    let (model, in_sample) = if rows.is_empty() {
        (StackModel::IDENTITY, Vec::new())
    } else if name == REFERENCE_STACK {
        // The catalog's own calibrations (fitted on every reference row).
        let mut predictions = Vec::new();
        for &i in &rows {
            let row = &all_rows()[i];
            let c = calibrated(&device(&row.gpu)?)?;
            predictions.push(device_fit::point(row, &kernels::catalog())?.predict(&c.device, &c.calibration));
        }
        (StackModel::IDENTITY, predictions)
    } else {
        fit_and_predict(name, &rows, &rows)?
    };
    let in_sample = rows.iter().copied().zip(in_sample).collect();
    let mut leave_one_source_out = Vec::new();
    if sources.len() >= 2 {
        for source in &sources {
            let (held, kept) = split(name, &rows, source);
            let (_, predictions) = fit_and_predict(name, &kept, &held)?;
            leave_one_source_out.extend(held.into_iter().zip(predictions));
        }
        leave_one_source_out.sort_by_key(|&(i, _)| i);
    }
    Ok(Evaluation { name, rows, sources, model, in_sample, leave_one_source_out })
}

/// A stack's evaluation, computed once per process.
pub fn evaluate(name: &str) -> Result<Arc<Evaluation>, LatencyError> {
    static CACHE: Mutex<BTreeMap<&'static str, Arc<Evaluation>>> = Mutex::new(BTreeMap::new());
    let info = stack::find(name).ok_or_else(|| LatencyError::Stack(format!("unknown stack {name:?}")))?;
    if let Some(found) = CACHE.lock().expect("no panics while held").get(info.name) {
        return Ok(found.clone());
    }
    let evaluation = Arc::new(evaluate_uncached(info.name)?);
    CACHE.lock().expect("no panics while held").insert(info.name, evaluation.clone());
    Ok(evaluation)
}

/// The widest leave-one-source-out band (by log width) among graph stacks with two sources or
/// more, other than `except`: the largest spread between harnesses measured.
pub fn widest_band(except: Option<&str>) -> Result<Band, LatencyError> {
    let mut widest: Option<Band> = None;
    for info in stack::STACKS.iter().filter(|s| s.serves_graphs() && Some(s.name) != except) {
        let evaluation = evaluate(info.name)?;
        let Some(band) = Band::from_log_errors(&Evaluation::log_errors(&evaluation.leave_one_source_out)) else {
            continue;
        };
        if widest.as_ref().is_none_or(|w| (band.high / band.low) > (w.high / w.low)) {
            widest = Some(band);
        }
    }
    widest.ok_or_else(|| LatencyError::Stack("no stack has two published sources".into()))
}

/// A graph stack as an estimate uses it: its model and its own band, with how each was judged.
#[derive(Clone, Debug)]
pub struct GraphStack {
    pub info: &'static StackInfo,
    pub model: StackModel,
    /// None for the reference stack (the device's band is the whole band).
    pub band: Option<Band>,
    /// How the model and band were obtained, for every printed estimate.
    pub basis: String,
}

fn graph_stack_uncached(info: &'static StackInfo) -> Result<GraphStack, LatencyError> {
    if info.name == REFERENCE_STACK {
        return Ok(GraphStack {
            info,
            model: StackModel::IDENTITY,
            band: None,
            basis: "the device calibration's own stack".into(),
        });
    }
    if let Some(stand_in) = info.graph_stand_in {
        let other = graph_stack(stand_in)?;
        let widest = widest_band(None)?;
        let band = other.band.as_ref().map_or(widest.clone(), |b| stack::union(b, &widest));
        return Ok(GraphStack {
            info,
            model: other.model,
            basis: format!(
                "no published measurements of {}: {stand_in}'s model, with the widest band measured (×{:.2}–×{:.2})",
                info.name, band.low, band.high
            ),
            band: Some(band),
        });
    }
    let evaluation = evaluate(info.name)?;
    let sources = evaluation.sources.len();
    let points = evaluation.rows.len();
    let (band, basis) = match sources {
        0 => return Err(LatencyError::Stack(format!("{} has no published measurements and no stand-in", info.name))),
        1 => {
            let own = Band::from_log_errors(&Evaluation::log_errors(&evaluation.in_sample)).expect("rows exist");
            let band = stack::union(&own, &widest_band(Some(info.name))?);
            let basis = format!(
                "fitted on {points} published latencies from one source, so its band (×{:.2}–×{:.2}) is its in-sample \
                 spread widened to the widest measured between sources",
                band.low, band.high
            );
            (band, basis)
        }
        _ => {
            let band = Band::from_log_errors(&Evaluation::log_errors(&evaluation.leave_one_source_out))
                .expect("two sources give held-out predictions");
            let basis = format!(
                "fitted on {points} published latencies from {sources} sources; band ×{:.2}–×{:.2} from \
                 leave-one-source-out predictions",
                band.low, band.high
            );
            (band, basis)
        }
    };
    Ok(GraphStack { info, model: evaluation.model, band: Some(band), basis })
}

/// A graph stack by name (checked to serve graphs), computed once per process.
pub fn graph_stack(name: &str) -> Result<Arc<GraphStack>, LatencyError> {
    static CACHE: Mutex<BTreeMap<&'static str, Arc<GraphStack>>> = Mutex::new(BTreeMap::new());
    let info = info(name, false)?;
    if let Some(found) = CACHE.lock().expect("no panics while held").get(info.name) {
        return Ok(found.clone());
    }
    let fitted = Arc::new(graph_stack_uncached(info)?);
    CACHE.lock().expect("no panics while held").insert(info.name, fitted.clone());
    Ok(fitted)
}

/// One held-out prediction with the band an estimate would have carried had its source never
/// been published: the stack refitted without the source and its band judged without it,
/// combined with the device's band.
#[derive(Clone, Debug)]
pub struct HeldOut {
    pub row: usize,
    pub predicted: f64,
    pub band: Band,
}

impl HeldOut {
    pub fn covered(&self) -> bool {
        self.band.contains(self.predicted, all_rows()[self.row].seconds)
    }
}

/// Every held-out prediction of a stack with two sources or more, each with its out-of-sample
/// band (nested: the band is judged on the other sources only).
pub fn held_out(name: &str) -> Result<Vec<HeldOut>, LatencyError> {
    let evaluation = evaluate(name)?;
    if evaluation.sources.len() < 2 {
        return Ok(Vec::new());
    }
    let rows = all_rows();
    let mut out = Vec::new();
    for source in &evaluation.sources {
        let (held, kept) = split(name, &evaluation.rows, source);
        let (_, predictions) = fit_and_predict(name, &kept, &held)?;
        let kept_sources = sources_of(&kept);
        // The stack's own band without the held source.
        let stack_band = if name == REFERENCE_STACK {
            None
        } else if kept_sources.len() >= 2 {
            let mut errors = Vec::new();
            for inner in &kept_sources {
                let (inner_held, inner_kept) = split(name, &kept, inner);
                let (_, p) = fit_and_predict(name, &inner_kept, &inner_held)?;
                errors.extend(inner_held.iter().zip(p).map(|(&i, p)| (rows[i].seconds / p).ln()));
            }
            Band::from_log_errors(&errors)
        } else {
            let (_, p) = fit_and_predict(name, &kept, &kept)?;
            let errors: Vec<f64> = kept.iter().zip(p).map(|(&i, p)| (rows[i].seconds / p).ln()).collect();
            let own = Band::from_log_errors(&errors).expect("rows exist");
            Some(stack::union(&own, &widest_band(Some(name))?))
        };
        let given: Vec<Published> =
            if name == REFERENCE_STACK { kept.iter().map(|&i| rows[i].clone()).collect() } else { published() };
        for (&i, predicted) in held.iter().zip(predictions) {
            let device_band = calibrate_on(&device(&rows[i].gpu)?, &given)?.band;
            let band = stack_band.as_ref().map_or(device_band.clone(), |s| stack::combine(&device_band, s));
            out.push(HeldOut { row: i, predicted, band });
        }
    }
    out.sort_by_key(|h| h.row);
    Ok(out)
}

/// A graph's point under a stack on a device, for tests and the accuracy page.
pub fn predict_point(point: &Point, gpu: &str, stack_name: &str) -> Result<f64, LatencyError> {
    let device = device(gpu)?;
    let c = calibrated(&device)?;
    let s = graph_stack(stack_name)?;
    Ok(s.model.predict(point, &c.device, &c.calibration))
}
