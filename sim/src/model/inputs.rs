//! What the caller reads for the builder (this crate does no I/O): prices, latency tables, model
//! tables and traces, and the keys that name them.

pub use crate::iteration::LlmProfile;
use crate::scenario::Arrivals;
use crate::traffic::TraceData;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One row of the instance price catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogEntry {
    pub cloud: String,
    pub instance: String,
    pub gpu: String,
    pub gpus: u32,
    pub region: String,
    pub usd_per_hour: f64,
    pub spot_usd_per_hour: Option<f64>,
    /// Expected spot preemptions per instance-hour, where known.
    pub preemptions_per_hour: Option<f64>,
    /// Where the figure comes from, and its date.
    pub source: String,
}

/// File contents the scenario refers to, read by the caller (this crate does no I/O).
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Instance prices (the bundled catalog, or the user's own file).
    pub catalog: Vec<CatalogEntry>,
    /// Latency tables by the `file` string as written: `(batch size, latency in ns)`.
    pub tables: BTreeMap<String, Vec<(u32, f64)>>,
    /// Batch latency tables computed from model graphs, by [`model_key`].
    pub model_tables: BTreeMap<String, ModelTable>,
    /// Replayed traces by [`trace_key`].
    pub traces: BTreeMap<String, Arc<TraceData>>,
    /// Rate curves by [`trace_key`]: `(seconds since the first row, requests per second)`.
    pub rate_series: BTreeMap<String, Arc<Vec<(f64, f64)>>>,
    /// Memory of one GPU in bytes, by catalog GPU name (`a10g`, `h100-sxm`, …).
    pub gpu_memory: BTreeMap<String, f64>,
    /// LLM iteration profiles by [`llm_key`]: a decoder's config on a device.
    pub llm_profiles: BTreeMap<String, Arc<LlmProfile>>,
}

/// What identifies an LLM iteration profile: the model on a device under a stack (the default
/// stack when none is written).
pub fn llm_key(model: &str, device: &str, stack: Option<&str>) -> String {
    match stack {
        None => format!("{model}@{device}"),
        Some(stack) => format!("{model}@{device}/{stack}"),
    }
}

/// What identifies a model-derived latency table: the model on a device under a stack (the
/// default stack when none is written).
pub fn model_key(model: &str, device: &str, stack: Option<&str>) -> String {
    match stack {
        None => format!("{model}@{device}"),
        Some(stack) => format!("{model}@{device}/{stack}"),
    }
}

/// The sequence lengths a `kind = "model"` service time needs tables for: its buckets and its
/// default `seq`, sorted and distinct.
pub fn model_seqs(seq: u32, seq_buckets: &[u32]) -> Vec<u32> {
    let mut seqs: Vec<u32> = seq_buckets.iter().copied().chain([seq]).collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// A model's batch latency on one device: per sequence length, `(batch size, ns)` points.
#[derive(Clone, Debug, Default)]
pub struct ModelTable {
    pub by_seq: BTreeMap<u32, Vec<(u32, f64)>>,
    /// Where the numbers come from (measured, interpolated or estimated, and from what).
    pub source: String,
    /// The 68% band of the source's error, as factors (low, high) on every latency: where the
    /// true service time is likely to lie, for an estimate judged against published measurements.
    pub band: Option<(f64, f64)>,
    /// The least direct source among the table's numbers: "measured", "interpolated" or "estimated".
    pub worst_source: String,
    /// GPU memory of the model's weights, in bytes, from its graph (0 when unknown).
    pub weights_bytes: f64,
    /// Per sequence length: activation memory one request of a batch needs at the engine's peak,
    /// in bytes (a model instance holds `max_batch` of these).
    pub activation_bytes_per_request: BTreeMap<u32, f64>,
    /// The serving stack the estimate assumed (None for a measured profile).
    pub stack: Option<String>,
}

impl ModelTable {
    pub(super) fn describe(&self) -> String {
        match self.band {
            Some((low, high)) => format!("{} [68% band ×{low:.2}–×{high:.2}]", self.source),
            None => self.source.clone(),
        }
    }
}

/// What identifies a trace's or rate curve's data: its file and how it is read (not its speed-up
/// or scale, applied later).
pub fn trace_key(arrivals: &Arrivals) -> Option<String> {
    match arrivals {
        Arrivals::Trace {
            file,
            timestamp_column,
            timestamp_unit,
            format,
            size_column,
            output_column,
            hash_column,
            hash_block_tokens,
            origin,
            ..
        } => Some(format!(
            "{file}|{timestamp_column}|{timestamp_unit:?}|{format:?}|{}|{}|{}|{hash_block_tokens}|{origin}",
            size_column.as_deref().unwrap_or(""),
            output_column.as_deref().unwrap_or(""),
            hash_column.as_deref().unwrap_or("")
        )),
        Arrivals::RateTrace {
            file, timestamp_column, rate_column, timestamp_unit, format, aggregate, filter, ..
        } => Some(format!(
            "rate|{file}|{timestamp_column}|{rate_column}|{timestamp_unit:?}|{format:?}|{aggregate:?}|{filter:?}"
        )),
        _ => None,
    }
}
