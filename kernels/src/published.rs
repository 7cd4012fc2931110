//! Published whole-model measurements: latencies that GPU vendors and frameworks publish for real
//! models, with their sources. They calibrate each device's roofline (`device_fit`) and are what
//! its error band is judged against.
//!
//! ```text
//! gpu,model,precision,framework,batch,seq,latency_ms,statistic,source,date
//! t4,bert-base-uncased,fp16,TensorRT 8.4.3 (CUDA 11.6),8,128,9.09,mean,https://…,2022-08
//! ```
//!
//! The same form with the serving stack first and what was timed before the source
//! (`catalog/stack-published.csv`): `stack,gpu,…,statistic,timed,source,date`. Rows of the first
//! form are the reference stack (`tensorrt-demo`) timing the engine alone.

use crate::ops::DType;
use crate::profile::ProfileError;

pub const HEADER: &str = "gpu,model,precision,framework,batch,seq,latency_ms,statistic,source,date";
pub const STACK_HEADER: &str = "stack,gpu,model,precision,framework,batch,seq,latency_ms,statistic,timed,source,date";

/// What a published latency covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timed {
    /// The engine alone, inputs already on the device.
    Engine,
    /// The encoder layers alone (no embeddings or head), as FasterTransformer's benchmarks time.
    Encoder,
    /// A server's request, client to client over shared memory (Triton's perf_analyzer).
    Server,
    /// A framework call from Python, host-side work included.
    Framework,
}

impl Timed {
    pub fn from_name(text: &str) -> Option<Timed> {
        Some(match text {
            "engine" => Timed::Engine,
            "encoder" => Timed::Encoder,
            "server" => Timed::Server,
            "framework" => Timed::Framework,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Timed::Engine => "engine",
            Timed::Encoder => "encoder",
            Timed::Server => "server",
            Timed::Framework => "framework",
        }
    }
}

/// One published latency of one forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// The serving stack measured (`stack::STACKS`).
    pub stack: String,
    pub gpu: String,
    pub model: String,
    pub dtype: DType,
    pub framework: String,
    pub batch: u64,
    pub seq: u64,
    pub seconds: f64,
    /// `mean`, `median` or `p90`: what the publisher reports.
    pub statistic: String,
    pub timed: Timed,
    pub source: String,
    pub date: String,
}

/// Reads the table; `#` lines are comments. Errors are located (1-based line and column).
pub fn parse(text: &str) -> Result<Vec<Published>, ProfileError> {
    let mut rows = Vec::new();
    let mut with_stack: Option<bool> = None;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let fail = |column: usize, message: String| ProfileError { line: line_number, column, message };
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(with_stack) = with_stack else {
            with_stack = match line.trim() {
                HEADER => Some(false),
                STACK_HEADER => Some(true),
                _ => return Err(fail(1, format!("expected the header `{HEADER}` or `{STACK_HEADER}`"))),
            };
            continue;
        };
        let all: Vec<&str> = line.split(',').map(str::trim).collect();
        let expected = if with_stack { 12 } else { 10 };
        if all.len() != expected {
            return Err(fail(1, format!("expected {expected} comma-separated fields, found {}", all.len())));
        }
        // Field i of the common form; the stack form has `stack` before and `timed` after
        // `statistic`.
        let at = |i: usize| match (with_stack, i) {
            (false, _) => i,
            (true, 0..=7) => i + 1,
            (true, _) => i + 2,
        };
        let fields: Vec<&str> = (0..10).map(|i| all[at(i)]).collect();
        let column_of = |i: usize| 1 + line.split(',').take(i).map(|f| f.len() + 1).sum::<usize>();
        let count = |i: usize, name: &str| match fields[i].parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(fail(column_of(at(i)), format!("{name} must be a positive integer, not {:?}", fields[i]))),
        };
        let dtype = DType::parse(fields[2])
            .ok_or_else(|| fail(column_of(at(2)), format!("unknown precision {:?}", fields[2])))?;
        let milliseconds = match fields[6].parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            _ => {
                return Err(fail(
                    column_of(at(6)),
                    format!("latency_ms must be a positive number, not {:?}", fields[6]),
                ))
            }
        };
        if !matches!(fields[7], "mean" | "median" | "p90") {
            return Err(fail(column_of(at(7)), format!("statistic must be mean, median or p90, not {:?}", fields[7])));
        }
        for (i, name) in [(0, "gpu"), (1, "model"), (8, "source")] {
            if fields[i].is_empty() {
                return Err(fail(column_of(at(i)), format!("{name} is empty")));
            }
        }
        let (stack, timed) = if with_stack {
            if crate::stack::find(all[0]).is_none() {
                return Err(fail(1, format!("unknown stack {:?}; the stacks are: {}", all[0], stack_names())));
            }
            let timed = Timed::from_name(all[9]).ok_or_else(|| {
                fail(column_of(9), format!("timed must be engine, encoder, server or framework, not {:?}", all[9]))
            })?;
            (all[0].to_string(), timed)
        } else {
            (crate::stack::REFERENCE_STACK.to_string(), Timed::Engine)
        };
        rows.push(Published {
            stack,
            gpu: fields[0].to_string(),
            model: fields[1].to_string(),
            dtype,
            framework: fields[3].to_string(),
            batch: count(4, "batch")?,
            seq: count(5, "seq")?,
            seconds: milliseconds * 1e-3,
            statistic: fields[7].to_string(),
            timed,
            source: fields[8].to_string(),
            date: fields[9].to_string(),
        });
    }
    if with_stack.is_none() {
        return Err(ProfileError { line: 1, column: 1, message: format!("expected the header `{HEADER}`") });
    }
    Ok(rows)
}

fn stack_names() -> String {
    crate::stack::STACKS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_locates_errors() {
        let text =
            format!("# note\n{HEADER}\nt4,bert-base-uncased,fp16,TensorRT 8.4.3,8,128,9.09,mean,https://x,2022-08\n");
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].batch, rows[0].seq, rows[0].dtype), (8, 128, DType::F16));
        assert!((rows[0].seconds - 9.09e-3).abs() < 1e-12);

        let bad = text.replace("9.09", "-1");
        let error = parse(&bad).unwrap_err();
        assert_eq!((error.line, error.column), (3, 48), "{}", error.message);
        let error = parse(&text.replace("fp16", "fp7")).unwrap_err();
        assert_eq!((error.line, error.column), (3, 22));
        assert!(parse("gpu,model\n").is_err());
        assert_eq!(rows[0].stack, "tensorrt-demo");

        let stacked = format!(
            "{STACK_HEADER}\npytorch,t4,bert-base-uncased,fp16,PyTorch,1,16,5.4,median,framework,https://x,2021-12\n"
        );
        let rows = parse(&stacked).unwrap();
        assert_eq!((rows[0].stack.as_str(), rows[0].timed, rows[0].seq), ("pytorch", Timed::Framework, 16));
        let error = parse(&stacked.replace("framework,https", "wall,https")).unwrap_err();
        assert_eq!((error.line, error.column), (2, 59), "{}", error.message);
        let error = parse(&stacked.replace("pytorch,t4", "pytorhc,t4")).unwrap_err();
        assert!(error.message.contains("unknown stack"), "{}", error.message);
        let error = parse(&stacked.replace("5.4", "0")).unwrap_err();
        assert_eq!((error.line, error.column), (2, 48), "{}", error.message);
        assert!(parse("").is_err());
    }
}
