//! Model latency from the kernels crate: the device catalog, `servesim latency`, and the batch
//! latency tables that scenarios with `service_time = { kind = "model", ... }` run on.

use crate::error::CliError;
use kernels::device_fit::{self, Band};
use kernels::predict::{self, Source};
use kernels::published::Published;
use kernels::{models, Calibration, DType, Device, Pass, Prediction, Predictor, Profile};
use sim::model::ModelTable;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// GPU datasheet figures (catalog/gpus.csv, copied from the shared catalog with sources).
const GPUS: &str = include_str!("../catalog/gpus.csv");
/// Published whole-model latencies the catalog devices are calibrated on (catalog/gpu-published.csv).
pub const PUBLISHED: &str = include_str!("../catalog/gpu-published.csv");

/// A catalog device and the device whose published latencies calibrate it (itself, or a sibling
/// on the same chip, such as the 80 GB A100 for the 40 GB one).
struct CatalogEntry {
    device: Device,
    calibrated_by: String,
    /// GPU-to-GPU bandwidth per direction, bytes/s.
    interconnect: f64,
}

fn catalog_entries() -> Vec<CatalogEntry> {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(GPUS.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.expect("the bundled GPU catalog is well-formed");
            let number = |i: usize| r.get(i).and_then(|v| v.parse::<f64>().ok()).expect("bundled figures are numbers");
            let device = Device {
                name: r[0].to_string(),
                peak_flops: number(1) * 1e12,
                bandwidth: number(4) * 1e9,
                memory_bytes: number(3) * 1e9,
                source: r[5].to_string(),
            };
            let calibrated_by = r.get(6).filter(|v| !v.is_empty()).unwrap_or(&r[0]).to_string();
            let interconnect = number(7) * 1e9;
            CatalogEntry { device, calibrated_by, interconnect }
        })
        .collect()
}

/// The device whose published latencies calibrate `gpu` (itself, or its same-chip sibling).
pub fn calibrated_by(gpu: &str) -> String {
    catalog_entries().into_iter().find(|e| e.device.name == gpu).map_or(gpu.to_string(), |e| e.calibrated_by)
}

pub fn devices() -> Vec<Device> {
    catalog_entries().into_iter().map(|e| e.device).collect()
}

/// A catalog decoder's LLM iteration profile on every catalog GPU, by GPU name: its config's
/// FLOPs and bytes against each datasheet at the efficiencies measured on an H200 (large GEMMs at
/// 79% of peak, large copies at 90% of bandwidth; raw hardware rates rather than the
/// encoder-engine fits of `calibrated`), before any serving stack.
pub fn llm_base_profiles(model: &str) -> Result<Vec<(String, sim::model::LlmProfile)>, LatencyError> {
    let Some(spec) = kernels::find(model) else {
        let decoders: Vec<&str> = kernels::catalog()
            .iter()
            .filter(|m| matches!(m.architecture, kernels::models::Architecture::Decoder(_)))
            .map(|m| m.name)
            .collect();
        return Err(LatencyError::Model(format!(
            "unknown LLM {model:?}; the catalog's decoders are: {}",
            decoders.join(", ")
        )));
    };
    let kernels::models::Architecture::Decoder(decoder) = &spec.architecture else {
        return Err(LatencyError::Model(format!("{model} is not a decoder: an LLM engine serves decoders")));
    };
    let calibration = Calibration::h200_measured();
    Ok(catalog_entries()
        .into_iter()
        .map(|entry| {
            let p = kernels::llm::IterationProfile::new(
                spec.name,
                decoder,
                &entry.device,
                &calibration,
                entry.interconnect,
            );
            let profile = sim::model::LlmProfile {
                layers: p.layers,
                hidden: p.hidden,
                heads: decoder.heads,
                weight_bytes: p.weight_bytes,
                linear_flops_per_token: p.linear_flops_per_token,
                lm_head_flops_per_sequence: p.lm_head_flops_per_sequence,
                attention_flops_per_pair: p.attention_flops_per_pair,
                kv_bytes_per_token: p.kv_bytes_per_token,
                activation_bytes_per_token: p.activation_bytes_per_token,
                logit_bytes_per_sequence: p.logit_bytes_per_sequence,
                fixed_reserve: LLM_FIXED_RESERVE_BYTES,
                max_model_len: p.max_model_len,
                peak_flops: p.peak_flops,
                bandwidth: p.bandwidth,
                interconnect_bandwidth: p.interconnect_bandwidth,
                compute_efficiency: p.compute_efficiency,
                attention_ratio: p.attention_ratio,
                memory_efficiency: p.memory_efficiency,
                flops_half: p.flops_half,
                bytes_half: p.bytes_half,
                gpu_memory: p.gpu_memory,
                iteration_overhead_s: crate::stacks::llm::LlmStackModel::PRIOR.iteration_overhead_s,
                band: None,
                stack: None,
                source: p.source,
            };
            (entry.device.name, profile)
        })
        .collect())
}

/// A catalog decoder's profiles on every catalog GPU under a serving stack (the default when
/// none), by `sim::model::llm_key`: the stack's decode bandwidth and iteration overhead, its band,
/// and where they come from.
pub fn llm_profiles(model: &str, stack: Option<&str>) -> Result<Vec<(String, sim::model::LlmProfile)>, LatencyError> {
    let fitted = crate::stacks::llm::llm_stack(stack.unwrap_or(kernels::stack::DEFAULT_LLM_STACK))?;
    Ok(llm_base_profiles(model)?
        .into_iter()
        .map(|(gpu, base)| {
            let mut profile = fitted.model.apply(&base);
            profile.iteration_overhead_s = fitted.model.iteration_overhead_s;
            profile.band = Some((fitted.band.low, fitted.band.high));
            profile.stack = Some(fitted.info.name.to_string());
            profile.source = format!("{}; serving stack {}: {}", base.source, fitted.info.name, fitted.basis);
            (sim::model::llm_key(model, &gpu, stack), profile)
        })
        .collect())
}

/// Memory an LLM engine keeps per GPU beside weights, KV cache and activations: CUDA graphs,
/// cuBLAS workspaces and the framework (an assumption, about what vLLM's start-up log reports).
const LLM_FIXED_RESERVE_BYTES: f64 = 1.0 * 1024.0 * 1024.0 * 1024.0;

pub fn published() -> Vec<Published> {
    kernels::published::parse(PUBLISHED).expect("the bundled published table is well-formed (tested)")
}

/// Why a latency cannot be predicted: the device (or profile) side, the model side, or the
/// kernels' own error.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Stack(String),
    #[error(transparent)]
    Kernel(#[from] kernels::KernelError),
}

impl LatencyError {
    /// The scenario key a `kind = "model"` service time's error is about.
    pub fn key(&self) -> &'static str {
        match self {
            LatencyError::Model(_) => "model",
            LatencyError::Stack(_) => "stack",
            LatencyError::Device(_) | LatencyError::Kernel(_) => "device",
        }
    }
}

impl From<LatencyError> for CliError {
    fn from(error: LatencyError) -> Self {
        CliError::input(error.to_string())
    }
}

/// A catalog device by name; `a10g` also finds `a10g`, `h200` finds `h200-sxm`.
pub fn device(name: &str) -> Result<Device, LatencyError> {
    let all = devices();
    let wanted = name.to_lowercase();
    all.iter()
        .find(|d| d.name == wanted)
        .or_else(|| all.iter().find(|d| d.name.starts_with(&format!("{wanted}-"))))
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
            LatencyError::Device(format!("unknown device {name:?}; the catalog has: {}", names.join(", ")))
        })
}

/// A catalog device with the roofline calibration its estimates use and the 68% band of their
/// error.
#[derive(Clone, Debug)]
pub struct Calibrated {
    pub device: Device,
    pub calibration: Calibration,
    pub band: Band,
}

/// Fits on first use (a device's fit and its hold-out refits take tens of milliseconds) and
/// keeps the result for the process.
pub fn calibrated(device: &Device) -> Result<Arc<Calibrated>, LatencyError> {
    static CACHE: Mutex<BTreeMap<String, Arc<Calibrated>>> = Mutex::new(BTreeMap::new());
    if let Some(found) = CACHE.lock().expect("no panics while held").get(&device.name) {
        return Ok(found.clone());
    }
    let calibrated = Arc::new(calibrate_on(device, &published())?);
    CACHE.lock().expect("no panics while held").insert(device.name.clone(), calibrated.clone());
    Ok(calibrated)
}

/// A device's calibration alone (its fit on every reference row, or its sibling's, or the H200
/// one), without the hold-out refits that judge its band: what a stack's samples are predicted
/// with. Computed once per process.
pub fn calibration_of(device: &Device) -> Result<Calibration, LatencyError> {
    static CACHE: Mutex<BTreeMap<String, Calibration>> = Mutex::new(BTreeMap::new());
    if let Some(found) = CACHE.lock().expect("no panics while held").get(&device.name) {
        return Ok(found.clone());
    }
    let entries = catalog_entries();
    let by = entries.iter().find(|e| e.device.name == device.name).map_or(device.name.as_str(), |e| &e.calibrated_by);
    let sibling = entries.iter().find(|e| e.device.name == by).map_or(device, |e| &e.device);
    let rows: Vec<Published> = published().into_iter().filter(|r| r.gpu == sibling.name).collect();
    let calibration = if rows.is_empty() {
        Calibration::h200_measured()
    } else {
        let models = kernels::catalog();
        let points = rows.iter().map(|r| device_fit::point(r, &models)).collect::<Result<Vec<_>, _>>()?;
        device_fit::fit(&points, sibling, &Calibration::h200_measured(), String::new())
    };
    CACHE.lock().expect("no panics while held").insert(device.name.clone(), calibration.clone());
    Ok(calibration)
}

/// A device's calibration on the given reference-stack rows (all of them, or all but one source
/// when judging a source out of sample): its own fit, its sibling's on its peaks, or the H200
/// calibration with the band of that calibration's error on every row given.
pub fn calibrate_on(device: &Device, rows: &[Published]) -> Result<Calibrated, LatencyError> {
    let entries = catalog_entries();
    let models = kernels::catalog();
    let by = entries.iter().find(|e| e.device.name == device.name).map_or(device.name.as_str(), |e| &e.calibrated_by);
    let sibling = entries.iter().find(|e| e.device.name == by).map_or(device, |e| &e.device);
    Ok(match device_fit::calibrate_device(sibling, rows, &models)? {
        Some(fitted) => {
            let mut calibration = fitted.calibration;
            if sibling.name != device.name {
                calibration.source = format!(
                    "efficiencies of {} (same chip), {}",
                    sibling.name,
                    calibration.source.replacen("calibrated on", "which is calibrated on", 1)
                );
            }
            Calibrated { device: device.clone(), calibration, band: fitted.band }
        }
        None => {
            let (_, band) = device_fit::fallback(&devices(), rows, &models)?;
            let mut calibration = Calibration::h200_measured();
            let mut gpus: Vec<&str> = rows.iter().map(|r| r.gpu.as_str()).collect();
            gpus.sort_unstable();
            gpus.dedup();
            calibration.source = format!(
                "no published measurements for {}: {}; 68% band ×{:.2}–×{:.2} from that calibration's error on {} \
                 published latencies of {} devices",
                device.name,
                calibration.source,
                band.low,
                band.high,
                band.points,
                gpus.len()
            );
            Calibrated { device: device.clone(), calibration, band }
        }
    })
}

pub fn model(name: &str) -> Result<models::ModelSpec, LatencyError> {
    models::find(name).ok_or_else(|| {
        let names: Vec<&str> = models::catalog().iter().map(|m| m.name).collect();
        LatencyError::Model(format!("unknown model {name:?}; the catalog has: {}", names.join(", ")))
    })
}

/// What a model's latency is predicted on: a catalog device under a serving stack (roofline
/// estimate) or a measured profile (measured, interpolated, or estimated from the profile's own
/// fitted roofline: the profile's runtime is its stack).
pub enum Target {
    Catalog { calibrated: Arc<Calibrated>, stack: Arc<crate::stacks::GraphStack> },
    Profile { predictor: Box<Predictor>, dtype: DType, path: String, device: String },
}

/// A device name is a profile when it looks like a path.
pub fn is_profile(device: &str) -> bool {
    device.ends_with(".csv") || device.contains('/') || device.contains('\\')
}

pub fn read_profile(path: &Path) -> Result<Profile, LatencyError> {
    let text = crate::input::read_to_string(path)
        .map_err(|e| LatencyError::Device(format!("cannot read profile {}: {e}", path.display())))?;
    Profile::parse(&text)
        .map_err(|e| LatencyError::Device(format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)))
}

impl Target {
    /// `device` as written under `stack` (the default stack when none); profile paths are
    /// relative to `base`, and a profile takes no stack.
    pub fn resolve(device: &str, stack: Option<&str>, base: &Path) -> Result<Target, LatencyError> {
        if !is_profile(device) {
            let stack = crate::stacks::graph_stack(stack.unwrap_or(kernels::stack::DEFAULT_GRAPH_STACK))?;
            return Ok(Target::Catalog { calibrated: calibrated(&self::device(device)?)?, stack });
        }
        if let Some(stack) = stack {
            return Err(LatencyError::Stack(format!(
                "stack {stack:?} goes with a catalog device: a measured profile ({device}) is timed on its own runtime; \
                 drop stack"
            )));
        }
        let path = base.join(device);
        let profile = read_profile(&path)?;
        if profile.measurements.is_empty() {
            return Err(LatencyError::Device(format!("profile {} has no measurements", path.display())));
        }
        // The dtype most of the profile was measured in.
        let mut counts: Vec<(DType, usize)> = Vec::new();
        for m in &profile.measurements {
            match counts.iter_mut().find(|(d, _)| *d == m.op.dtype()) {
                Some(entry) => entry.1 += 1,
                None => counts.push((m.op.dtype(), 1)),
            }
        }
        let dtype = counts.iter().max_by_key(|(_, n)| *n).map(|(d, _)| *d).expect("not empty");
        Ok(Target::Profile {
            predictor: Box::new(Predictor::new(&profile, device)),
            dtype,
            path: device.to_string(),
            device: profile.device().to_string(),
        })
    }

    /// The 68% band of an estimate's error: the device's combined with the stack's; profiles
    /// have none yet.
    pub fn band(&self) -> Option<Band> {
        match self {
            Target::Catalog { calibrated, stack } => Some(
                stack.band.as_ref().map_or(calibrated.band.clone(), |s| kernels::stack::combine(&calibrated.band, s)),
            ),
            Target::Profile { .. } => None,
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Target::Catalog { .. } => DType::F16,
            Target::Profile { dtype, .. } => *dtype,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Target::Catalog { calibrated, stack } => format!("{} under {}", calibrated.device.name, stack.info.name),
            Target::Profile { path, device, .. } => format!("{device} (profile {path})"),
        }
    }

    /// Refuses models whose weights do not fit one catalog device.
    pub fn check_fit(&self, spec: &models::ModelSpec) -> Result<(), LatencyError> {
        let Target::Catalog { calibrated, .. } = self else { return Ok(()) };
        let device = &calibrated.device;
        let weights = spec.graph(1, 8, Pass::Prefill, DType::F16).weight_bytes() as f64;
        if weights > device.memory_bytes {
            return Err(LatencyError::Device(format!(
                "{} needs {:.1} GB of fp16 weights; {} has {:.0} GB",
                spec.name,
                weights / 1e9,
                device.name,
                device.memory_bytes / 1e9
            )));
        }
        Ok(())
    }

    pub fn predict(
        &self,
        spec: &models::ModelSpec,
        batch: u64,
        seq: u64,
        pass: Pass,
    ) -> Result<Prediction, LatencyError> {
        let graph = spec.graph(batch.max(1), seq.max(1), pass, self.dtype());
        match self {
            Target::Catalog { calibrated: c, stack } => {
                let mut prediction = predict::estimated_with(&graph, &c.device, &c.calibration, &stack.model);
                prediction.description =
                    format!("{}; serving stack {}: {}", prediction.description, stack.info.name, stack.basis);
                Ok(prediction)
            }
            Target::Profile { predictor, .. } => Ok(predictor.graph(&graph)?),
        }
    }
}

/// Latency (ns) of batches 1..=max_batch at each of `seqs`, and where it comes from.
pub fn model_table(
    model_name: &str,
    device_name: &str,
    stack: Option<&str>,
    base: &Path,
    seqs: &[u32],
    max_batch: u32,
) -> Result<ModelTable, LatencyError> {
    let spec = model(model_name)?;
    let target = Target::resolve(device_name, stack, base)?;
    target.check_fit(&spec)?;
    let mut table = ModelTable::default();
    let mut worst = Source::Measured;
    let mut description = String::new();
    for &seq in seqs {
        let mut points = Vec::with_capacity(max_batch as usize);
        for batch in 1..=max_batch {
            let prediction = target.predict(&spec, u64::from(batch), u64::from(seq), Pass::Prefill)?;
            points.push((batch, prediction.seconds * 1e9));
            if prediction.source >= worst {
                worst = prediction.source;
                description = prediction.description;
            }
        }
        table.by_seq.insert(seq, points);
    }
    // Memory for sharing a GPU: weights once; activations per request (linear in the batch).
    let one = spec.graph(1, u64::from(seqs.iter().copied().max().unwrap_or(1).max(1)), Pass::Prefill, target.dtype());
    table.weights_bytes = one.weight_bytes() as f64;
    for &seq in seqs {
        let graph = spec.graph(1, u64::from(seq.max(1)), Pass::Prefill, target.dtype());
        table.activation_bytes_per_request.insert(seq, graph.peak_activation_bytes() as f64);
    }
    table.source = format!("{}: {description}", target.dtype().name());
    table.band = target.band().map(|b| (b.low, b.high));
    table.stack = match &target {
        Target::Catalog { stack, .. } => Some(stack.info.name.to_string()),
        Target::Profile { .. } => None,
    };
    table.worst_source = worst.to_string();
    Ok(table)
}

#[derive(clap::Args)]
pub struct LatencyArgs {
    /// Catalog model (bert-base-uncased, distilbert-base-uncased, all-MiniLM-L6-v2, dlrm-criteo-style, mlp-churn, llama-3-8b).
    #[arg(long)]
    model: String,
    /// Catalog device (h200, h100, a100, l4, t4, a10g) or a profile CSV written by `servesim profile`.
    #[arg(long)]
    device: String,
    /// Requests per batch (1–65536).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    batch: u64,
    /// Tokens per request (prompt length for a decoder's prefill; 1–1048576).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    seq: u64,
    /// Serving stack for a catalog device (tensorrt-demo, tensorrt, onnxruntime-tensorrt,
    /// onnxruntime-cuda, fastertransformer, pytorch, torchscript, torch-compile, tensorflow;
    /// default onnxruntime-cuda). Not with a profile.
    #[arg(long)]
    stack: Option<String>,
    /// Predict one decoder step with this many tokens cached instead of the prefill.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    decode_kv: Option<u64>,
    /// Compare with measured whole-model latencies (CSV with batch,seq,median_ms columns, such as
    /// kernels/accuracy/minilm-ort.csv): print a table and the mean absolute percentage error.
    #[arg(long)]
    compare: Option<PathBuf>,
}

pub fn latency(args: &LatencyArgs) -> Result<(), CliError> {
    let spec = model(&args.model)?;
    let target = Target::resolve(&args.device, args.stack.as_deref(), Path::new("."))?;
    if let Some(path) = &args.compare {
        return compare(&spec, &target, path);
    }
    if args.decode_kv.is_some() && !matches!(spec.architecture, models::Architecture::Decoder(_)) {
        // Only a decoder generates token by token: for any other model the "step" would be the
        // whole forward pass, labelled as something it is not.
        return Err(CliError::input(format!(
            "--decode-kv: {} is not a decoder (it answers in one forward pass, with no tokens to decode); \
             drop --decode-kv, or name a decoder such as llama-3-8b",
            spec.name
        )));
    }
    let pass = args.decode_kv.map_or(Pass::Prefill, |kv_len| Pass::Decode { kv_len });
    let prediction = target.predict(&spec, args.batch, args.seq, pass)?;
    let ms = prediction.seconds * 1e3;
    let band = target.band().map_or(String::new(), |b| {
        format!(
            ", 68% band {:.3}–{:.3} ms from {} checks against published latencies",
            b.low * ms,
            b.high * ms,
            b.points
        )
    });
    println!(
        "{} on {}: batch {}, seq {}{}: {ms:.3} ms ({}){band}",
        spec.name,
        target.name(),
        args.batch,
        args.seq,
        args.decode_kv.map_or(String::new(), |kv| format!(", one decode step over {kv} cached tokens")),
        prediction.source
    );
    println!("source: {}", prediction.description);
    if let Err(warning) = target.check_fit(&spec) {
        println!("warning: {warning}");
    }
    let graph = spec.graph(args.batch.max(1), args.seq.max(1), pass, target.dtype());
    println!(
        "graph: {:.3} GFLOP, {:.1} MB moved, {:.1} MB of {} weights ({} parameters)",
        graph.flops() as f64 / 1e9,
        graph.bytes() as f64 / 1e6,
        graph.weight_bytes() as f64 / 1e6,
        target.dtype().name(),
        graph.params()
    );
    // Operators of the same kind and shape, summed, largest first.
    let mut groups: Vec<(String, String, usize, f64, Source)> = Vec::new();
    for op in &prediction.ops {
        let (name, shape) = (op.op.name(), op.op.shape());
        match groups.iter_mut().find(|g| g.0 == name && g.1 == shape) {
            Some(group) => {
                group.2 += 1;
                group.3 += op.seconds;
            }
            None => groups.push((name, shape, 1, op.seconds, op.source)),
        }
    }
    groups.sort_by(|a, b| b.3.total_cmp(&a.3));
    println!("{:>9} {:>6} {:>6}  {:<12} {:<9} {:<18} shape", "ms", "share", "count", "source", "bound", "operator");
    for (name, shape, count, seconds, source) in groups {
        let op = prediction.ops.iter().find(|o| o.op.name() == name && o.op.shape() == shape).expect("grouped");
        println!(
            "{:>9.4} {:>5.1}% {:>6}  {:<12} {:<9} {:<18} {}",
            seconds * 1e3,
            100.0 * seconds / prediction.seconds,
            count,
            source.to_string(),
            if predict::is_matrix(&op.op) { "compute" } else { "memory" },
            name,
            shape
        );
    }
    if prediction.overhead_seconds > 0.0 {
        let (source, what) = match target {
            Target::Catalog { .. } => ("estimated", "the stack's fixed cost per call"),
            Target::Profile { .. } => ("measured", "per-batch overhead"),
        };
        println!(
            "{:>9.4} {:>5.1}% {:>6}  {:<12} {:<9} {what}",
            prediction.overhead_seconds * 1e3,
            100.0 * prediction.overhead_seconds / prediction.seconds,
            1,
            source,
            "-"
        );
    }
    Ok(())
}

/// Predicted against measured whole-model latency: a Markdown table and the MAPE.
/// The 1-based column (in characters) where field `i` of an unquoted record starts: the fields
/// before it and one delimiter after each.
fn text_column(record: &csv::StringRecord, i: usize) -> usize {
    (0..i).map(|j| record.get(j).map_or(0, |f| f.chars().count()) + 1).sum::<usize>() + 1
}

fn compare(spec: &models::ModelSpec, target: &Target, path: &Path) -> Result<(), CliError> {
    let text = crate::input::read_to_string(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| crate::locate::csv_error(path, &e))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            CliError::input(format!(
                "{}:1:1: needs a `{name}` column (batch,seq,median_ms); its columns are: {}",
                path.display(),
                crate::locate::shown_columns(&headers)
            ))
        })
    };
    let (batch_at, seq_at, median_at) = (column("batch")?, column("seq")?, column("median_ms")?);
    println!("| batch | seq | measured ms | predicted ms | error | predicted from |");
    println!("|---:|---:|---:|---:|---:|---|");
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| crate::locate::csv_error(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        // The cell's own column (1-based characters), as every other CSV error gives it.
        let cell = |i: usize, name: &str, rule: &str| {
            let column = text_column(&record, i);
            CliError::input(format!(
                "{}:{line}:{column}: {name} must be {rule}, got {:?}",
                path.display(),
                record.get(i).unwrap_or("")
            ))
        };
        let whole = |i: usize, name: &str, max: u64| {
            record
                .get(i)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.fract() == 0.0 && *v >= 1.0 && *v <= max as f64)
                .map(|v| v as u64)
                .ok_or_else(|| cell(i, name, &format!("a whole number from 1 to {max}")))
        };
        let batch = whole(batch_at, "batch", 65_536)?;
        let seq = whole(seq_at, "seq", 1 << 20)?;
        let measured = record
            .get(median_at)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= 86_400_000.0)
            .ok_or_else(|| cell(median_at, "median_ms", "a latency in milliseconds, more than 0 and at most a day"))?;
        let prediction = target.predict(spec, batch, seq, Pass::Prefill)?;
        let predicted = prediction.seconds * 1e3;
        let error = (predicted - measured) / measured;
        errors.push(error.abs());
        println!(
            "| {batch} | {seq} | {measured:.2} | {predicted:.2} | {:+.1}% | {} |",
            100.0 * error,
            prediction.source
        );
    }
    if errors.is_empty() {
        return Err(CliError::input(format!("{}: no measurements", path.display())));
    }
    let mape = 100.0 * errors.iter().sum::<f64>() / errors.len() as f64;
    println!();
    println!("MAPE: {mape:.1}% over {} shapes ({} on {})", errors.len(), spec.name, target.name());
    Ok(())
}

#[cfg(test)]
mod llm_tests {
    use sim::iteration::RooflineIteration;
    use sim::service::Step;
    use std::sync::Arc;

    /// One request decoding alone, `context` tokens cached: the time per output token the roofline
    /// predicts, in ms.
    fn decode_ms(device: &str, context: u64) -> f64 {
        let profiles = super::llm_base_profiles("llama-3-8b").unwrap();
        let (_, profile) = profiles.into_iter().find(|(gpu, _)| gpu == device).unwrap();
        let iteration = RooflineIteration::new(Arc::new(profile), 1, 1e6);
        let step = Step {
            requests: 1,
            longest: context as u32,
            prefill_tokens: 0,
            decode_tokens: 1,
            attention_pairs: context,
            kv_tokens_read: context,
        };
        iteration.seconds(&step) * 1e3
    }

    /// docs/accuracy.md's LLM table: published vLLM decode speeds of Llama-3.1-8B (Llama-3-8B's
    /// architecture) with one request running, against the roofline's time per output token.
    #[test]
    fn single_request_decode_matches_published_vllm_measurements() {
        // H100 80GB, vLLM 0.21, concurrency 1: TPOT p50 6.48 ms (InferenceBench's concurrency sweep,
        // a short chat prompt; ~200 tokens of context assumed).
        let h100 = decode_ms("h100-sxm", 200) / 6.48 - 1.0;
        // A100 40GB, vLLM 0.23, 1024 in / 128 out, one request at a time: about 75 output tokens/s
        // (johnmusgrave.com's sweep), 13.3 ms; context 1024 + 64 on average.
        let a100 = decode_ms("a100-40g-sxm", 1088) / (1000.0 / 75.0) - 1.0;
        assert!(h100.abs() < 0.03, "H100: {h100:+.3}");
        assert!(a100.abs() < 0.07, "A100: {a100:+.3}");
    }

    /// Tensor parallelism halves the weights each GPU reads and adds two all-reduces per layer:
    /// a decode on two H100s, by hand.
    #[test]
    fn tensor_parallelism_splits_the_weights_and_adds_all_reduces() {
        let profiles = super::llm_base_profiles("llama-3-8b").unwrap();
        let (_, p) = profiles.into_iter().find(|(gpu, _)| gpu == "h100-sxm").unwrap();
        let step = Step {
            requests: 1,
            longest: 1,
            prefill_tokens: 0,
            decode_tokens: 1,
            attention_pairs: 1,
            kv_tokens_read: 1,
        };
        let p = Arc::new(p);
        let one = RooflineIteration::new(p.clone(), 1, 0.0).seconds(&step);
        let two = RooflineIteration::new(p.clone(), 2, 0.0).seconds(&step);
        // Memory-bound: the weights at 3350 GB/s × 0.896 (the bytes per layer are far past the
        // half-efficiency size, so efficiency is within 0.1% of its maximum).
        let weights = p.weight_bytes / (p.bandwidth * p.memory_efficiency);
        assert!((one / weights - 1.0).abs() < 0.01, "{one} vs {weights}");
        // Two GPUs: half the weights, plus 2 × 32 all-reduces of 4096 × 2 bytes, each moving half
        // over 450 GB/s and costing 8 µs.
        let all_reduce = 64.0 * (4096.0 * 2.0 * 0.5 * 2.0 / 450e9 + 8e-6);
        assert!((two / (weights / 2.0 + all_reduce) - 1.0).abs() < 0.01, "{two}");
    }
}
