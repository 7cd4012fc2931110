//! LLM serving stacks' decode models, fitted on published decode speeds
//! (`catalog/llm-published.csv`), not on the encoder tables: a decode step is bound by reading
//! the weights and the KV cache, so what a stack changes is the share of the bandwidth it
//! sustains and its fixed cost per iteration (scheduling, sampling, launches).
//!
//! Each stack's band is judged as the graph stacks' are: leave one source out, predict it; one
//! source widens its in-sample spread to the widest measured; no source takes the stand-in's
//! model and the widest band, and says so.

use super::info;
use crate::latency::{llm_base_profiles, LatencyError};
use kernels::device_fit::{nelder_mead, Band};
use kernels::stack::{self, StackInfo};
use sim::iteration::{LlmProfile, RooflineIteration};
use sim::service::Step;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

pub const LLM_PUBLISHED: &str = include_str!("../../catalog/llm-published.csv");

/// One published decode speed.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeRow {
    pub stack: String,
    pub gpu: String,
    pub model: String,
    pub framework: String,
    pub tensor_parallel: u32,
    pub batch: u32,
    pub context: u32,
    pub seconds: f64,
    pub statistic: String,
    pub source: String,
}

/// Reads the decode table (`#` lines are comments); errors name line and column.
pub fn parse(text: &str) -> Result<Vec<DecodeRow>, String> {
    const HEADER: &str = "stack,gpu,model,precision,framework,tp,batch,context,tpot_ms,statistic,source,date";
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in text.lines().enumerate() {
        let at = |column: usize, message: String| format!("{}:{column}: {message}", index + 1);
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            if line.trim() != HEADER {
                return Err(at(1, format!("expected the header `{HEADER}`")));
            }
            header_seen = true;
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 12 {
            return Err(at(1, format!("expected 12 comma-separated fields, found {}", fields.len())));
        }
        let column_of = |i: usize| 1 + line.split(',').take(i).map(|f| f.len() + 1).sum::<usize>();
        let whole = |i: usize, name: &str| match fields[i].parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(at(column_of(i), format!("{name} must be a positive integer, not {:?}", fields[i]))),
        };
        if stack::find(fields[0]).is_none_or(|s| !s.serves_llms()) {
            return Err(at(1, format!("{:?} is not an LLM stack", fields[0])));
        }
        let ms = match fields[8].parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            _ => return Err(at(column_of(8), format!("tpot_ms must be a positive number, not {:?}", fields[8]))),
        };
        rows.push(DecodeRow {
            stack: fields[0].to_string(),
            gpu: fields[1].to_string(),
            model: fields[2].to_string(),
            framework: fields[4].to_string(),
            tensor_parallel: whole(5, "tp")?,
            batch: whole(6, "batch")?,
            context: whole(7, "context")?,
            seconds: ms * 1e-3,
            statistic: fields[9].to_string(),
            source: fields[10].to_string(),
        });
    }
    if !header_seen {
        return Err(format!("1:1: expected the header `{HEADER}`"));
    }
    Ok(rows)
}

pub fn decode_rows() -> &'static [DecodeRow] {
    static ROWS: OnceLock<Vec<DecodeRow>> = OnceLock::new();
    ROWS.get_or_init(|| parse(LLM_PUBLISHED).expect("the bundled decode table is well-formed (tested)"))
}

/// How a stack decodes relative to the roofline at the H200's measured efficiencies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LlmStackModel {
    /// Time multiplier on the memory-bound reads (weights, KV cache): 1 / the share of the
    /// calibrated bandwidth the stack sustains.
    pub bandwidth: f64,
    /// Fixed cost per iteration, seconds.
    pub iteration_overhead_s: f64,
}

impl LlmStackModel {
    /// Where a fit starts and what it is held to: the roofline's bandwidth and vLLM's 1 ms per
    /// iteration under CUDA graphs (the engine's default before stacks were fitted).
    pub const PRIOR: LlmStackModel = LlmStackModel { bandwidth: 1.0, iteration_overhead_s: 1e-3 };

    /// The profile as this stack runs it.
    pub fn apply(&self, profile: &LlmProfile) -> LlmProfile {
        LlmProfile { memory_efficiency: profile.memory_efficiency / self.bandwidth, ..profile.clone() }
    }
}

/// A decode step's time for a published row under a stack model.
fn predict(row: &DecodeRow, model: &LlmStackModel) -> Result<f64, LatencyError> {
    let profiles = base_profiles(&row.model)?;
    let profile = profiles
        .get(&row.gpu)
        .ok_or_else(|| LatencyError::Device(format!("decode table names {:?}, which is not a catalog GPU", row.gpu)))?;
    let iteration =
        RooflineIteration::new(Arc::new(model.apply(profile)), row.tensor_parallel, model.iteration_overhead_s * 1e9);
    let context = u64::from(row.context) * u64::from(row.batch);
    let step = Step {
        requests: row.batch,
        longest: row.context,
        prefill_tokens: 0,
        decode_tokens: row.batch,
        attention_pairs: context,
        kv_tokens_read: context,
    };
    Ok(iteration.seconds(&step))
}

/// A model's profiles at the reference efficiencies by GPU, once per process.
fn base_profiles(model: &str) -> Result<Arc<BTreeMap<String, LlmProfile>>, LatencyError> {
    static CACHE: Mutex<BTreeMap<String, Arc<BTreeMap<String, LlmProfile>>>> = Mutex::new(BTreeMap::new());
    if let Some(found) = CACHE.lock().expect("no panics while held").get(model) {
        return Ok(found.clone());
    }
    let profiles: BTreeMap<String, LlmProfile> = llm_base_profiles(model)?.into_iter().collect();
    let profiles = Arc::new(profiles);
    CACHE.lock().expect("no panics while held").insert(model.to_string(), profiles.clone());
    Ok(profiles)
}

/// Prior widths on the log-parameters (a 2.7× spread on bandwidth, 4.5× on the overhead)
/// against decode measurements the model misses by about 5%: few points, so the prior matters.
const PRIOR_SCALES: [f64; 2] = [1.0, 1.5];
const MEASUREMENT_SCALE: f64 = 0.05;

fn fit(rows: &[&DecodeRow]) -> Result<LlmStackModel, LatencyError> {
    let start = [LlmStackModel::PRIOR.bandwidth.ln(), LlmStackModel::PRIOR.iteration_overhead_s.ln()];
    let model_of = |x: &[f64]| LlmStackModel { bandwidth: x[0].exp(), iteration_overhead_s: x[1].exp() };
    // Check every row predicts before the search (errors are input errors, not NaNs).
    for row in rows {
        predict(row, &LlmStackModel::PRIOR)?;
    }
    let n = rows.len() as f64;
    let objective = |x: &[f64]| {
        let model = model_of(x);
        let misfit: f64 =
            rows.iter().map(|r| (predict(r, &model).expect("checked above") / r.seconds).ln().powi(2)).sum::<f64>() / n;
        let pull: f64 =
            x.iter().zip(&start).zip(PRIOR_SCALES).map(|((a, b), scale)| ((a - b) / scale).powi(2)).sum::<f64>()
                * MEASUREMENT_SCALE.powi(2)
                / n;
        misfit + pull
    };
    let mut best = start.to_vec();
    for step in [0.5, 0.25, 0.5, 0.25] {
        best = nelder_mead(&objective, &best, step, 300);
    }
    Ok(model_of(&best))
}

/// One LLM stack's fit and out-of-sample test.
#[derive(Clone, Debug)]
pub struct LlmEvaluation {
    pub name: &'static str,
    /// Indices into `decode_rows()`.
    pub rows: Vec<usize>,
    pub sources: Vec<String>,
    pub model: LlmStackModel,
    pub in_sample: Vec<(usize, f64)>,
    pub leave_one_source_out: Vec<(usize, f64)>,
}

pub fn log_errors(predictions: &[(usize, f64)]) -> Vec<f64> {
    predictions.iter().map(|&(i, p)| (decode_rows()[i].seconds / p).ln()).collect()
}

fn fit_and_predict(fit_rows: &[usize], predict_rows: &[usize]) -> Result<(LlmStackModel, Vec<f64>), LatencyError> {
    let all = decode_rows();
    let given: Vec<&DecodeRow> = fit_rows.iter().map(|&i| &all[i]).collect();
    let model = fit(&given)?;
    let predictions = predict_rows.iter().map(|&i| predict(&all[i], &model)).collect::<Result<_, _>>()?;
    Ok((model, predictions))
}

fn evaluate_uncached(name: &'static str) -> Result<LlmEvaluation, LatencyError> {
    let all = decode_rows();
    let rows: Vec<usize> = (0..all.len()).filter(|&i| all[i].stack == name).collect();
    let mut sources: Vec<String> = rows.iter().map(|&i| all[i].source.clone()).collect();
    sources.sort();
    sources.dedup();
    if rows.is_empty() {
        return Ok(LlmEvaluation {
            name,
            rows,
            sources,
            model: LlmStackModel::PRIOR,
            in_sample: Vec::new(),
            leave_one_source_out: Vec::new(),
        });
    }
    let (model, predictions) = fit_and_predict(&rows, &rows)?;
    let in_sample = rows.iter().copied().zip(predictions).collect();
    let mut leave_one_source_out = Vec::new();
    if sources.len() >= 2 {
        for source in &sources {
            let (held, kept): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| &all[i].source == source);
            let (_, predictions) = fit_and_predict(&kept, &held)?;
            leave_one_source_out.extend(held.into_iter().zip(predictions));
        }
        leave_one_source_out.sort_by_key(|&(i, _)| i);
    }
    Ok(LlmEvaluation { name, rows, sources, model, in_sample, leave_one_source_out })
}

pub fn evaluate(name: &str) -> Result<Arc<LlmEvaluation>, LatencyError> {
    static CACHE: Mutex<BTreeMap<&'static str, Arc<LlmEvaluation>>> = Mutex::new(BTreeMap::new());
    let info = info(name, true)?;
    if let Some(found) = CACHE.lock().expect("no panics while held").get(info.name) {
        return Ok(found.clone());
    }
    let evaluation = Arc::new(evaluate_uncached(info.name)?);
    CACHE.lock().expect("no panics while held").insert(info.name, evaluation.clone());
    Ok(evaluation)
}

/// A decode band judged on fewer predictions than this is widened to at least ±10%: a handful
/// of published points cannot pin a 68% interval tighter than their own rounding and harness
/// differences.
const FEW_PREDICTIONS: usize = 10;
const FLOOR: f64 = 1.10;

fn with_floor(band: Band) -> Band {
    if band.points >= FEW_PREDICTIONS {
        return band;
    }
    stack::union(&band, &Band { low: 1.0 / FLOOR, high: FLOOR, points: 0 })
}

/// How far apart the fitted stacks predict the published decode steps, as a band of factors on
/// `reference`'s predictions: what a stack with no measurements of its own might be.
fn spread_between_stacks(reference: &LlmStackModel) -> Result<Band, LatencyError> {
    let mut low: f64 = 1.0;
    let mut high: f64 = 1.0;
    for info in stack::STACKS.iter().filter(|s| s.serves_llms()) {
        let e = evaluate(info.name)?;
        if e.rows.is_empty() {
            continue;
        }
        for row in decode_rows() {
            let ratio = predict(row, &e.model)? / predict(row, reference)?;
            low = low.min(ratio);
            high = high.max(ratio);
        }
    }
    Ok(Band { low, high, points: decode_rows().len() })
}

/// The widest decode band measured: every LLM stack's leave-one-source-out band, or its
/// in-sample one when it has a single source.
fn widest_band() -> Result<Band, LatencyError> {
    let mut widest: Option<Band> = None;
    for info in stack::STACKS.iter().filter(|s| s.serves_llms()) {
        let e = evaluate(info.name)?;
        let errors = if e.leave_one_source_out.is_empty() {
            log_errors(&e.in_sample)
        } else {
            log_errors(&e.leave_one_source_out)
        };
        let Some(band) = Band::from_log_errors(&errors).map(with_floor) else { continue };
        widest = Some(widest.map_or(band.clone(), |w| stack::union(&w, &band)));
    }
    widest.ok_or_else(|| LatencyError::Stack("no LLM stack has published decode measurements".into()))
}

/// An LLM stack as an engine uses it.
#[derive(Clone, Debug)]
pub struct LlmStack {
    pub info: &'static StackInfo,
    pub model: LlmStackModel,
    pub band: Band,
    pub basis: String,
}

fn llm_stack_uncached(info: &'static StackInfo) -> Result<LlmStack, LatencyError> {
    if let Some(stand_in) = info.llm_stand_in {
        let other = llm_stack(stand_in)?;
        let band = stack::union(&stack::union(&other.band, &widest_band()?), &spread_between_stacks(&other.model)?);
        return Ok(LlmStack {
            info,
            model: other.model,
            basis: format!(
                "no published decode measurements of {}: {stand_in}'s model, with a band holding the widest decode \
                 band measured and the spread between the fitted stacks (×{:.2}–×{:.2})",
                info.name, band.low, band.high
            ),
            band,
        });
    }
    let e = evaluate(info.name)?;
    let m = &e.model;
    let fitted = format!(
        "decode at {:.0}% of the calibrated bandwidth and {:.2} ms per iteration, fitted on {} published decode speeds",
        100.0 / m.bandwidth,
        m.iteration_overhead_s * 1e3,
        e.rows.len()
    );
    let (band, basis) = match e.sources.len() {
        0 => return Err(LatencyError::Stack(format!("{} has no decode measurements and no stand-in", info.name))),
        1 => {
            let own = Band::from_log_errors(&log_errors(&e.in_sample)).expect("rows exist");
            let band = with_floor(stack::union(&own, &widest_band()?));
            let basis = format!(
                "{fitted} from one source, so its band (×{:.2}–×{:.2}) is its in-sample spread widened to the widest \
                 decode band measured",
                band.low, band.high
            );
            (band, basis)
        }
        n => {
            let band =
                with_floor(Band::from_log_errors(&log_errors(&e.leave_one_source_out)).expect("held-out predictions"));
            let basis = format!(
                "{fitted} from {n} sources; band ×{:.2}–×{:.2} from leave-one-source-out predictions",
                band.low, band.high
            );
            (band, basis)
        }
    };
    Ok(LlmStack { info, model: e.model, band, basis })
}

/// An LLM stack by name (checked to serve LLMs), computed once per process.
pub fn llm_stack(name: &str) -> Result<Arc<LlmStack>, LatencyError> {
    static CACHE: Mutex<BTreeMap<&'static str, Arc<LlmStack>>> = Mutex::new(BTreeMap::new());
    let info = info(name, true)?;
    if let Some(found) = CACHE.lock().expect("no panics while held").get(info.name) {
        return Ok(found.clone());
    }
    let fitted = Arc::new(llm_stack_uncached(info)?);
    CACHE.lock().expect("no panics while held").insert(info.name, fitted.clone());
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_decode_table_reads_and_bad_rows_are_located() {
        assert!(decode_rows().len() >= 7);
        let bad = LLM_PUBLISHED.replace("6.48,median", "-1,median");
        let error = parse(&bad).unwrap_err();
        assert!(error.contains("tpot_ms must be a positive number"), "{error}");
        let bad = LLM_PUBLISHED.replace("vllm,h100-sxm", "onnxruntime-cuda,h100-sxm");
        assert!(parse(&bad).unwrap_err().contains("not an LLM stack"));
    }
}
