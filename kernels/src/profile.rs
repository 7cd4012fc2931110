//! Measured operator profiles: what `servesim profile` writes and the latency models read.
//!
//! A profile is a CSV file with one row per (operator, shape, dtype), preceded by provenance lines
//! `# key: value` (device, backend, versions, clocks, date). Times are nanoseconds:
//!
//! ```text
//! # device: Intel(R) Xeon(R) Processor
//! # backend: cpu
//! op,shape,dtype,median_ns,p10_ns,p90_ns,runs
//! gemm,m=128 n=384 k=384,fp32,81234.5,80012.0,83001.2,41
//! batch_overhead,,-,2100.0,1900.0,2500.0,200
//! ```
//!
//! `batch_overhead` is the per-forward-call cost that is no operator (handing the batch to the
//! worker, copying inputs and outputs), measured separately and added once per batch.

use crate::models::{ModelSpec, Pass};
use crate::ops::{DType, Op};

pub const HEADER: &str = "op,shape,dtype,median_ns,p10_ns,p90_ns,runs";
pub const BATCH_OVERHEAD: &str = "batch_overhead";

/// The spread of one measured quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median_ns: f64,
    pub p10_ns: f64,
    pub p90_ns: f64,
    pub runs: u32,
}

impl Stat {
    /// Median, 10th and 90th percentiles (nearest rank) of `samples`, which this sorts.
    pub fn from_samples(samples: &mut [f64]) -> Stat {
        assert!(!samples.is_empty(), "a measurement has at least one run");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let median = if n % 2 == 1 { samples[n / 2] } else { (samples[n / 2 - 1] + samples[n / 2]) / 2.0 };
        Stat { median_ns: median, p10_ns: rank(0.1), p90_ns: rank(0.9), runs: n as u32 }
    }
}

/// How often and how long a backend times each shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub warmup_runs: u32,
    pub min_runs: u32,
    pub max_runs: u32,
    /// Keep timing until this much time has been spent (and `min_runs` reached).
    pub min_seconds: f64,
    /// Stop after this much time even short of `min_runs` (slow shapes), once 3 runs are in.
    pub max_seconds: f64,
}

impl Timing {
    /// Whether `runs` timed runs over `elapsed` seconds are enough.
    pub fn done(&self, runs: usize, elapsed: f64) -> bool {
        let enough = runs >= self.min_runs as usize && elapsed >= self.min_seconds;
        let too_long = runs >= 3 && elapsed >= self.max_seconds;
        runs >= self.max_runs as usize || enough || too_long
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub op: Op,
    pub stat: Stat,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// `(key, value)` in file order: device, backend, versions, clocks, date, servesim version.
    pub provenance: Vec<(String, String)>,
    pub measurements: Vec<Measurement>,
    pub batch_overhead: Option<Stat>,
}

/// A problem in a profile file, located for `file:line:column` messages (both 1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Profile {
    pub fn provenance(&self, key: &str) -> Option<&str> {
        self.provenance.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The device the profile was measured on.
    pub fn device(&self) -> &str {
        self.provenance("device").unwrap_or("unknown device")
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.provenance {
            // One line per entry: a newline in a value would end the header.
            out.push_str(&format!("# {key}: {}\n", value.replace(['\n', '\r'], " ")));
        }
        out.push_str(HEADER);
        out.push('\n');
        let row = |out: &mut String, op: &str, shape: &str, dtype: &str, s: &Stat| {
            out.push_str(&format!(
                "{op},{shape},{dtype},{:.1},{:.1},{:.1},{}\n",
                s.median_ns, s.p10_ns, s.p90_ns, s.runs
            ));
        };
        for m in &self.measurements {
            row(&mut out, &m.op.name(), &m.op.shape(), m.op.dtype().name(), &m.stat);
        }
        if let Some(overhead) = &self.batch_overhead {
            row(&mut out, BATCH_OVERHEAD, "", "-", overhead);
        }
        out
    }

    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let mut profile = Profile::default();
        let mut header_seen = false;
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let fail = |column: usize, message: String| ProfileError { line: line_number, column, message };
            if let Some(comment) = line.strip_prefix('#') {
                if let Some((key, value)) = comment.split_once(':') {
                    profile.provenance.push((key.trim().to_string(), value.trim().to_string()));
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            if !header_seen {
                if line.trim() != HEADER {
                    return Err(fail(1, format!("expected the header `{HEADER}`")));
                }
                header_seen = true;
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != 7 {
                return Err(fail(1, format!("expected 7 comma-separated fields, found {}", fields.len())));
            }
            let column_of = |i: usize| 1 + fields[..i].iter().map(|f| f.len() + 1).sum::<usize>();
            let number = |i: usize, name: &str| -> Result<f64, ProfileError> {
                match fields[i].trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(fail(column_of(i), format!("{name} must be a non-negative number, not {:?}", fields[i]))),
                }
            };
            let median_ns = number(3, "median_ns")?;
            let p10_ns = number(4, "p10_ns")?;
            let p90_ns = number(5, "p90_ns")?;
            let runs = match fields[6].trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(fail(column_of(6), format!("runs must be a positive integer, not {:?}", fields[6]))),
            };
            if !(p10_ns <= median_ns && median_ns <= p90_ns) {
                return Err(fail(column_of(3), "expected p10_ns ≤ median_ns ≤ p90_ns".into()));
            }
            let stat = Stat { median_ns, p10_ns, p90_ns, runs };
            if fields[0] == BATCH_OVERHEAD {
                profile.batch_overhead = Some(stat);
                continue;
            }
            let op = Op::parse(fields[0].trim(), fields[1], fields[2].trim()).map_err(|e| fail(1, e.to_string()))?;
            profile.measurements.push(Measurement { op, stat });
        }
        if !header_seen {
            return Err(ProfileError {
                line: text.lines().count().max(1),
                column: 1,
                message: format!("no `{HEADER}` header: not a servesim profile"),
            });
        }
        Ok(profile)
    }
}

/// The distinct operators (as kernels: GEMM weights and activations alike) of `spec`'s forward
/// passes over every batch size × sequence length, in first-seen order.
pub fn model_ops(spec: &ModelSpec, batches: &[u64], seqs: &[u64], pass: Pass, dtype: DType) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &batch in batches {
        for &seq in seqs {
            for op in spec.graph(batch, seq, pass, dtype).ops {
                let kernel = op.kernel();
                if seen.insert((kernel.name(), kernel.shape(), kernel.dtype())) {
                    ops.push(kernel);
                }
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_nearest_rank() {
        let mut samples: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let stat = Stat::from_samples(&mut samples);
        assert_eq!((stat.median_ns, stat.p10_ns, stat.p90_ns, stat.runs), (5.5, 1.0, 9.0, 10));
        let stat = Stat::from_samples(&mut [3.0, 1.0, 2.0]);
        assert_eq!((stat.median_ns, stat.p10_ns, stat.p90_ns), (2.0, 1.0, 3.0));
    }

    #[test]
    fn csv_round_trip_keeps_provenance_rows_and_overhead() {
        let profile = Profile {
            provenance: vec![
                ("device".into(), "Test CPU, 2 cores".into()),
                ("backend".into(), "cpu".into()),
                ("date".into(), "2026-11-30".into()),
            ],
            measurements: vec![
                Measurement {
                    op: Op::Gemm { m: 8, n: 384, k: 384, dtype: DType::F32, weight_params: 0 },
                    stat: Stat { median_ns: 1234.5, p10_ns: 1200.0, p90_ns: 1300.25, runs: 41 },
                },
                Measurement {
                    op: Op::AttentionPrefill {
                        batch: 2,
                        heads: 12,
                        kv_heads: 12,
                        seq: 128,
                        head_dim: 32,
                        causal: false,
                        dtype: DType::BF16,
                    },
                    stat: Stat { median_ns: 5.0, p10_ns: 4.0, p90_ns: 6.0, runs: 3 },
                },
            ],
            batch_overhead: Some(Stat { median_ns: 2000.0, p10_ns: 1900.0, p90_ns: 2500.0, runs: 200 }),
        };
        let text = profile.to_csv();
        assert!(text.starts_with("# device: Test CPU, 2 cores\n# backend: cpu\n"), "{text}");
        let back = Profile::parse(&text).unwrap();
        // Medians print with one decimal: 1300.25 comes back as 1300.2 or 1300.3.
        assert_eq!(back.provenance, profile.provenance);
        assert_eq!(back.measurements[0].op, profile.measurements[0].op);
        assert!((back.measurements[0].stat.p90_ns - 1300.25).abs() <= 0.05);
        assert_eq!(back.measurements[1], profile.measurements[1]);
        assert_eq!(back.batch_overhead, profile.batch_overhead);
        assert_eq!(back.device(), "Test CPU, 2 cores");
        assert_eq!(Profile::parse(&back.to_csv()).unwrap().to_csv(), back.to_csv());
    }

    #[test]
    fn bad_rows_are_located() {
        let bad = |text: &str| Profile::parse(text).unwrap_err();
        let e = bad("# device: x\nop,shape,dtype,median_ns,p10_ns,p90_ns,runs\ngemm,m=1 n=2 k=3,fp32,abc,1,2,3\n");
        assert_eq!((e.line, e.column), (3, 23));
        assert!(e.message.contains("median_ns"), "{}", e.message);
        let e = bad("op,shape,dtype,median_ns,p10_ns,p90_ns,runs\ngemm,m=1 n=2,fp32,1,1,1,3\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("k="), "{}", e.message);
        let e = bad("op,shape,dtype,median_ns,p10_ns,p90_ns,runs\nadd,elements=4,fp32,5,6,7,3\n");
        assert!(e.message.contains("p10_ns ≤ median_ns"), "{}", e.message);
        let e = bad("op,shape,dtype,median_ns,p10_ns,p90_ns,runs\nadd,elements=4,fp32,5,4,7,0\n");
        assert_eq!(e.column, 27);
        assert!(bad("batch_size,latency_ms\n1,2\n").message.contains("header"));
        assert!(bad("").message.contains("not a servesim profile"));
    }

    #[test]
    fn model_ops_are_distinct_kernels() {
        let spec = crate::models::find("all-MiniLM-L6-v2").unwrap();
        let ops = model_ops(&spec, &[1, 8], &[32, 128], Pass::Prefill, DType::F32);
        // Per (batch, seq): 3 gathers, add, layer norm, QKV / out / up / down GEMMs, attention,
        // GELU, then the pooler GEMM and tanh at m = batch (shared across seqs).
        let tokens = [32u64, 128, 256, 1024];
        for t in tokens {
            assert!(ops.contains(&Op::Gemm { m: t, n: 1152, k: 384, dtype: DType::F32, weight_params: 0 }));
        }
        let unique: std::collections::HashSet<String> =
            ops.iter().map(|op| format!("{} {}", op.name(), op.shape())).collect();
        assert_eq!(unique.len(), ops.len());
    }
}
