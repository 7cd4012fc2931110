//! Model latency from the kernels crate: the device catalog, `servesim latency`, and the batch
//! latency tables that scenarios with `service_time = { kind = "model", ... }` run on.

use crate::error::CliError;
use kernels::{models, roofline, Calibration, DType, Device, Pass};

/// GPU datasheet figures (catalog/gpus.csv, copied from the shared catalog with sources).
const GPUS: &str = include_str!("../catalog/gpus.csv");

pub fn devices() -> Vec<Device> {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(GPUS.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.expect("the bundled GPU catalog is well-formed");
            let number = |i: usize| r.get(i).and_then(|v| v.parse::<f64>().ok()).expect("bundled figures are numbers");
            Device {
                name: r[0].to_string(),
                peak_flops: number(1) * 1e12,
                bandwidth: number(4) * 1e9,
                memory_bytes: number(3) * 1e9,
                source: r[5].to_string(),
            }
        })
        .collect()
}

/// A catalog device by name; `a10g` also finds `a10g`, `h200` finds `h200-sxm`.
pub fn device(name: &str) -> Result<Device, String> {
    let all = devices();
    let wanted = name.to_lowercase();
    all.iter()
        .find(|d| d.name == wanted)
        .or_else(|| all.iter().find(|d| d.name.starts_with(&format!("{wanted}-"))))
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
            format!("unknown device {name:?}; the catalog has: {}", names.join(", "))
        })
}

pub fn model(name: &str) -> Result<models::ModelSpec, String> {
    models::find(name).ok_or_else(|| {
        let names: Vec<&str> = models::catalog().iter().map(|m| m.name).collect();
        format!("unknown model {name:?}; the catalog has: {}", names.join(", "))
    })
}

/// Estimated latency (ns) of batches 1..=max_batch of `seq` tokens, and where it comes from.
pub fn model_table(
    model_name: &str,
    device_name: &str,
    seq: u32,
    max_batch: u32,
) -> Result<(Vec<(u32, f64)>, String), String> {
    let spec = model(model_name)?;
    let device = device(device_name)?;
    let calibration = Calibration::h200_measured();
    let weights = spec.graph(1, u64::from(seq), Pass::Prefill, DType::F16).weight_bytes() as f64;
    if weights > device.memory_bytes {
        return Err(format!(
            "{model_name} needs {:.1} GB of fp16 weights; {} has {:.0} GB",
            weights / 1e9,
            device.name,
            device.memory_bytes / 1e9
        ));
    }
    let mut points = Vec::with_capacity(max_batch as usize);
    let mut source = String::new();
    for batch in 1..=max_batch {
        let graph = spec.graph(u64::from(batch), u64::from(seq), Pass::Prefill, DType::F16);
        let estimate = roofline::estimate(&graph, &device, &calibration);
        points.push((batch, estimate.seconds * 1e9));
        source = estimate.source;
    }
    Ok((points, format!("{model_name}, seq {seq}, fp16: {source}")))
}

#[derive(clap::Args)]
pub struct LatencyArgs {
    /// Catalog model (bert-base-uncased, distilbert-base-uncased, all-MiniLM-L6-v2, dlrm-criteo-style, mlp-churn, llama-3-8b).
    #[arg(long)]
    model: String,
    /// Catalog device (h200, h100, a100, l4, t4, a10g).
    #[arg(long)]
    device: String,
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Tokens per request (prompt length for a decoder's prefill).
    #[arg(long, default_value_t = 128)]
    seq: u64,
    /// Estimate one decoder step with this many tokens cached instead of the prefill.
    #[arg(long)]
    decode_kv: Option<u64>,
}

pub fn latency(args: &LatencyArgs) -> Result<(), CliError> {
    let spec = model(&args.model).map_err(CliError::input)?;
    let device = device(&args.device).map_err(CliError::input)?;
    let pass = args.decode_kv.map_or(Pass::Prefill, |kv_len| Pass::Decode { kv_len });
    let graph = spec.graph(args.batch.max(1), args.seq.max(1), pass, DType::F16);
    let estimate = roofline::estimate(&graph, &device, &Calibration::h200_measured());
    println!(
        "{} on {}: batch {}, seq {}{}: {:.3} ms",
        spec.name,
        device.name,
        args.batch,
        args.seq,
        args.decode_kv.map_or(String::new(), |kv| format!(", one decode step over {kv} cached tokens")),
        estimate.seconds * 1e3
    );
    println!("source: {}", estimate.source);
    if graph.weight_bytes() as f64 > device.memory_bytes {
        println!(
            "warning: {:.1} GB of fp16 weights do not fit in the {:.0} GB of one {}",
            graph.weight_bytes() as f64 / 1e9,
            device.memory_bytes / 1e9,
            device.name
        );
    }
    println!(
        "graph: {:.3} GFLOP, {:.1} MB moved, {:.1} MB of fp16 weights ({} parameters)",
        graph.flops() as f64 / 1e9,
        graph.bytes() as f64 / 1e6,
        graph.weight_bytes() as f64 / 1e6,
        graph.params()
    );
    // Operators of the same kind and shape, summed, largest first.
    let mut groups: Vec<(String, String, usize, f64, &'static str)> = Vec::new();
    for op in &estimate.ops {
        let bound = match op.bound {
            roofline::Bound::Compute => "compute",
            roofline::Bound::Memory => "memory",
            roofline::Bound::Overhead => "overhead",
        };
        match groups.iter_mut().find(|g| g.0 == op.op && g.1 == op.shape) {
            Some(group) => {
                group.2 += 1;
                group.3 += op.seconds;
            }
            None => groups.push((op.op.clone(), op.shape.clone(), 1, op.seconds, bound)),
        }
    }
    groups.sort_by(|a, b| b.3.total_cmp(&a.3));
    println!("{:>9} {:>6} {:>6}  {:<10} {:<18} shape", "ms", "share", "count", "bound", "operator");
    for (name, shape, count, seconds, bound) in groups {
        println!(
            "{:>9.4} {:>5.1}% {:>6}  {:<10} {:<18} {}",
            seconds * 1e3,
            100.0 * seconds / estimate.seconds,
            count,
            bound,
            name,
            shape
        );
    }
    Ok(())
}
