//! `servesim profile`: measures operators on this host (CPU) or its GPU (CUDA, default feature `cuda`)
//! and writes a profile CSV with its provenance.

use crate::error::CliError;
use crate::output::write_atomic;
use kernels::models::Architecture;
use kernels::{cpu, profile, DType, Measurement, Op, Pass, Profile};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Cpu,
    Cuda,
}

#[derive(clap::Args)]
pub struct ProfileArgs {
    /// Where to measure: this host's CPU (one thread) or its GPU (CUDA, loaded at run time).
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// Catalog model whose operators to measure over the batch × sequence grid (repeatable).
    #[arg(long = "model", required_unless_present = "ops")]
    models: Vec<String>,
    /// CSV of operators to measure: columns `op,shape,dtype` (a profile works too).
    #[arg(long, conflicts_with = "models")]
    ops: Option<PathBuf>,
    /// Profile CSV to write.
    #[arg(long)]
    out: PathBuf,
    /// Small grid (batch 1, 8, 32 × seq 32, 128) and short timing: minutes become seconds.
    #[arg(long)]
    quick: bool,
    /// Batch sizes of the grid (default 1,2,4,8,16,32,64; quick 1,8,32).
    #[arg(long, value_delimiter = ',')]
    batches: Option<Vec<u64>>,
    /// Sequence lengths of the grid, and KV lengths of decoder steps (default 16,32,64,128,256,512; quick 32,128).
    #[arg(long, value_delimiter = ',')]
    seqs: Option<Vec<u64>>,
    /// Largest batch × sequence (tokens per forward pass) the grid measures.
    #[arg(long, default_value_t = 8192)]
    max_tokens: u64,
    /// Data type (default: fp32 on the CPU, bf16 on CUDA).
    #[arg(long)]
    dtype: Option<String>,
}

pub fn run(args: &ProfileArgs) -> Result<(), CliError> {
    let dtype = match &args.dtype {
        None if args.backend == Backend::Cpu => DType::F32,
        None => DType::BF16,
        Some(name) => {
            DType::parse(name).ok_or_else(|| CliError::input(format!("--dtype {name:?}: use fp32, fp16 or bf16")))?
        }
    };
    if args.backend == Backend::Cpu && dtype != DType::F32 {
        return Err(CliError::input(format!("--dtype {}: the CPU backend measures fp32 only", dtype.name())));
    }
    let (ops, grid) = match &args.ops {
        Some(path) => (read_ops(path)?, format!("operators from {}", path.display())),
        None => grid_ops(args, dtype)?,
    };
    if ops.is_empty() {
        return Err(CliError::input("nothing to measure: the grid or the --ops file is empty"));
    }
    // Check the output folder before spending minutes measuring.
    let out_dir = args.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let out_name = args
        .out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CliError::input(format!("--out {}: not a file name", args.out.display())))?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| CliError::input(format!("{}: cannot create: {e}", out_dir.display())))?;

    let bar = indicatif::ProgressBar::new(ops.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} shapes · {elapsed} elapsed · ETA {eta} · {msg}")
            .expect("valid template"),
    );
    let mut profile = match args.backend {
        Backend::Cpu => measure_cpu(&ops, args.quick, &bar)?,
        Backend::Cuda => measure_cuda(&ops, args.quick, &bar)?,
    };
    bar.finish_and_clear();
    profile.provenance.push(("grid".into(), grid));
    profile.provenance.push(("date".into(), today()));
    profile.provenance.push(("servesim_version".into(), env!("CARGO_PKG_VERSION").into()));
    write_atomic(out_dir, out_name, profile.to_csv().as_bytes())?;
    eprintln!("{} shapes measured on {} → {}", profile.measurements.len(), profile.device(), args.out.display());
    Ok(())
}

fn grid_ops(args: &ProfileArgs, dtype: DType) -> Result<(Vec<Op>, String), CliError> {
    let (default_batches, default_seqs): (&[u64], &[u64]) =
        if args.quick { (&[1, 8, 32], &[32, 128]) } else { (&[1, 2, 4, 8, 16, 32, 64], &[16, 32, 64, 128, 256, 512]) };
    let batches = args.batches.clone().unwrap_or_else(|| default_batches.to_vec());
    let seqs = args.seqs.clone().unwrap_or_else(|| default_seqs.to_vec());
    if batches.contains(&0) || seqs.contains(&0) {
        return Err(CliError::input("--batches and --seqs take positive sizes"));
    }
    let mut ops = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in &args.models {
        let spec = crate::latency::model(name)?;
        let mut passes = vec![Pass::Prefill];
        if matches!(spec.architecture, Architecture::Decoder(_)) {
            passes.extend(seqs.iter().map(|&kv_len| Pass::Decode { kv_len }));
        }
        for &batch in &batches {
            for &seq in &seqs {
                let sequence_model = matches!(spec.architecture, Architecture::Encoder(_) | Architecture::Decoder(_));
                if sequence_model && batch * seq > args.max_tokens {
                    continue;
                }
                for &pass in &passes {
                    for op in profile::model_ops(&spec, &[batch], &[seq], pass, dtype) {
                        if seen.insert((op.name(), op.shape())) {
                            ops.push(op);
                        }
                    }
                }
            }
        }
    }
    let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let grid = format!(
        "models {}; batches {}; seqs {}; at most {} tokens per pass; {}",
        args.models.join(" "),
        list(&batches),
        list(&seqs),
        args.max_tokens,
        dtype.name()
    );
    Ok((ops, grid))
}

/// Operators from a CSV with `op`, `shape` and `dtype` columns (other columns are ignored, so a
/// profile can be measured again).
fn read_ops(path: &Path) -> Result<Vec<Op>, CliError> {
    let text = crate::input::read_to_string(path).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut header: Option<Vec<&str>> = None;
    let mut ops = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = |column: usize, message: String| {
            CliError::input(format!("{}:{}:{column}: {message}", path.display(), index + 1))
        };
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let Some(columns) = &header else {
            for wanted in ["op", "shape", "dtype"] {
                if !fields.iter().any(|f| f.trim() == wanted) {
                    return Err(at(1, format!("the header needs an `{wanted}` column (op,shape,dtype)")));
                }
            }
            header = Some(fields);
            continue;
        };
        let column = |name: &str| columns.iter().position(|c| c.trim() == name).expect("checked in the header");
        let (op_at, shape_at, dtype_at) = (column("op"), column("shape"), column("dtype"));
        if fields.len() != columns.len() {
            return Err(at(1, format!("expected {} fields, found {}", columns.len(), fields.len())));
        }
        if fields[op_at].trim() == profile::BATCH_OVERHEAD {
            continue;
        }
        let op_column = 1 + fields[..op_at].iter().map(|f| f.len() + 1).sum::<usize>();
        let op = Op::parse(fields[op_at].trim(), fields[shape_at], fields[dtype_at].trim())
            .map_err(|error| at(op_column, error.to_string()))?;
        ops.push(op);
    }
    if header.is_none() {
        return Err(CliError::input(format!("{}:1:1: empty: expected a header op,shape,dtype", path.display())));
    }
    Ok(ops)
}

fn measure_cpu(ops: &[Op], quick: bool, bar: &indicatif::ProgressBar) -> Result<Profile, CliError> {
    let l2 = cache_bytes(2).unwrap_or(2 << 20);
    let settings = if quick { cpu::Settings::quick(2 * l2) } else { cpu::Settings::full(2 * l2) };
    let mut profile = Profile { provenance: host_provenance(l2), ..Profile::default() };
    for (i, op) in ops.iter().enumerate() {
        bar.set_message(format!("{} {}", op.name(), op.shape()));
        let stat = cpu::measure(op, &settings, i as u64)
            .map_err(|message| CliError::input(format!("{} {}: {message}", op.name(), op.shape())))?;
        profile.measurements.push(Measurement { op: op.clone(), stat });
        bar.inc(1);
    }
    profile.batch_overhead = Some(cpu::measure_batch_overhead(&settings.timing));
    Ok(profile)
}

#[cfg(feature = "cuda")]
fn measure_cuda(ops: &[Op], quick: bool, bar: &indicatif::ProgressBar) -> Result<Profile, CliError> {
    let mut gpu = kernels::cuda::Gpu::open().map_err(|e| CliError::input(format!("cuda backend: {e}")))?;
    let timing = if quick { kernels::cuda::quick_timing() } else { kernels::cuda::full_timing() };
    let mut profile = Profile { provenance: gpu.provenance(), ..Profile::default() };
    for op in ops {
        bar.set_message(format!("{} {}", op.name(), op.shape()));
        let stat = gpu
            .measure(op, &timing)
            .map_err(|message| CliError::input(format!("{} {} on {}: {message}", op.name(), op.shape(), gpu.name())))?;
        profile.measurements.push(Measurement { op: op.clone(), stat });
        bar.inc(1);
    }
    profile.batch_overhead =
        Some(gpu.measure_batch_overhead(&timing).map_err(|e| CliError::input(format!("cuda backend: {e}")))?);
    Ok(profile)
}

#[cfg(not(feature = "cuda"))]
fn measure_cuda(_: &[Op], _: bool, _: &indicatif::ProgressBar) -> Result<Profile, CliError> {
    Err(CliError::input(
        "--backend cuda: this servesim was built without CUDA support; rebuild with `cargo build --release --features cuda`",
    ))
}

/// This host as profile provenance: CPU model, cores, clock, caches, what ran the kernels.
fn host_provenance(l2: u64) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vector = if cpu::has_avx2() { "avx2+fma" } else { "baseline" };
    vec![
        ("device".into(), field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string())),
        ("backend".into(), "cpu".into()),
        ("threads".into(), format!("1 (of {cores} available)")),
        ("clocks".into(), field("cpu MHz").map_or("not readable".into(), |mhz| format!("{mhz} MHz at start"))),
        (
            "caches".into(),
            format!(
                "L2 {} KiB, last level {} KiB; weights rotate over {} KiB",
                l2 / 1024,
                cache_bytes(3).unwrap_or(0) / 1024,
                2 * l2 / 1024
            ),
        ),
        ("kernels".into(), format!("matrixmultiply 0.3 sgemm; servesim loops ({vector})")),
        ("os".into(), format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)),
    ]
}

/// Cache size at `level` from sysfs (`4096K`, `2M`).
fn cache_bytes(level: u32) -> Option<u64> {
    for index in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{index}");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).ok().map(|s| s.trim().to_string());
        if read("level")?.parse::<u32>().ok()? != level || read("type").as_deref() == Some("Instruction") {
            continue;
        }
        let size = read("size")?;
        let (digits, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit()).unwrap_or(size.len()));
        let n: u64 = digits.parse().ok()?;
        return Some(match unit {
            "K" => n << 10,
            "M" => n << 20,
            "G" => n << 30,
            _ => n,
        });
    }
    None
}

/// Today's UTC date, `YYYY-MM-DD` (days-to-civil conversion of the Unix clock).
pub fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's algorithm: days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_by_hand() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        // 2026-11-30 is 20 787 days after the epoch; 2000-03-01 is 11 017 (a leap century).
        assert_eq!(super::civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
