//! Published whole-model measurements: latencies that GPU vendors and frameworks publish for real
//! models, with their sources. They calibrate each device's roofline (`device_fit`) and are what
//! its error band is judged against.
//!
//! ```text
//! gpu,model,precision,framework,batch,seq,latency_ms,statistic,source,date
//! t4,bert-base-uncased,fp16,TensorRT 8.4.3 (CUDA 11.6),8,128,9.09,mean,https://…,2022-08
//! ```

use crate::ops::DType;
use crate::profile::ProfileError;

pub const HEADER: &str = "gpu,model,precision,framework,batch,seq,latency_ms,statistic,source,date";

/// One published latency of one forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub gpu: String,
    pub model: String,
    pub dtype: DType,
    pub framework: String,
    pub batch: u64,
    pub seq: u64,
    pub seconds: f64,
    /// `mean` or `median`: what the publisher reports.
    pub statistic: String,
    pub source: String,
    pub date: String,
}

/// Reads the table; `#` lines are comments. Errors are located (1-based line and column).
pub fn parse(text: &str) -> Result<Vec<Published>, ProfileError> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let fail = |column: usize, message: String| ProfileError { line: line_number, column, message };
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            if line.trim() != HEADER {
                return Err(fail(1, format!("expected the header `{HEADER}`")));
            }
            header_seen = true;
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 10 {
            return Err(fail(1, format!("expected 10 comma-separated fields, found {}", fields.len())));
        }
        let column_of = |i: usize| 1 + line.split(',').take(i).map(|f| f.len() + 1).sum::<usize>();
        let count = |i: usize, name: &str| match fields[i].parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(fail(column_of(i), format!("{name} must be a positive integer, not {:?}", fields[i]))),
        };
        let dtype =
            DType::parse(fields[2]).ok_or_else(|| fail(column_of(2), format!("unknown precision {:?}", fields[2])))?;
        let milliseconds = match fields[6].parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            _ => return Err(fail(column_of(6), format!("latency_ms must be a positive number, not {:?}", fields[6]))),
        };
        if !matches!(fields[7], "mean" | "median") {
            return Err(fail(column_of(7), format!("statistic must be mean or median, not {:?}", fields[7])));
        }
        for (i, name) in [(0, "gpu"), (1, "model"), (8, "source")] {
            if fields[i].is_empty() {
                return Err(fail(column_of(i), format!("{name} is empty")));
            }
        }
        rows.push(Published {
            gpu: fields[0].to_string(),
            model: fields[1].to_string(),
            dtype,
            framework: fields[3].to_string(),
            batch: count(4, "batch")?,
            seq: count(5, "seq")?,
            seconds: milliseconds * 1e-3,
            statistic: fields[7].to_string(),
            source: fields[8].to_string(),
            date: fields[9].to_string(),
        });
    }
    if !header_seen {
        return Err(ProfileError { line: 1, column: 1, message: format!("expected the header `{HEADER}`") });
    }
    Ok(rows)
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
        assert!(parse("").is_err());
    }
}
