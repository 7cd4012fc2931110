//! Writing results: atomic files, replication aggregates and the table printed at the end of a run.

use crate::error::CliError;
use serde_json::{Map, Value};
use sim::metrics::TimeseriesRow;
use sim::stats::mean_ci95;
use sim::summary::Summary;
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `dir/name` through a temporary file and a rename, so a killed run never leaves
/// a half-written file under the final name.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::input(format!("{}: cannot write {name}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temporary).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name)).map_err(fail)
}

pub fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("results serialise to JSON");
    bytes.push(b'\n');
    bytes
}

/// A text cell as spreadsheets will not run it: one that would start a formula (`=`, `+`, `-`,
/// `@`, tab or carriage return first, and not a number) gets a leading `'` (OWASP's advice for
/// CSV injection). Numbers, negative ones included, stay as they are.
pub fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    if formula {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// [`csv_text`] undone, for files servesim reads back (`servesim report`).
pub fn csv_text_read(text: String) -> String {
    match text.strip_prefix('\'') {
        Some(rest) if csv_text(rest).starts_with('\'') => rest.to_string(),
        _ => text,
    }
}

pub fn timeseries_csv(rows: &[TimeseriesRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        match csv_text(&row.region) {
            std::borrow::Cow::Borrowed(_) => writer.serialize(row),
            std::borrow::Cow::Owned(region) => writer.serialize(TimeseriesRow { region, ..row.clone() }),
        }
        .expect("time-series rows serialise to CSV");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// `latency_cdf.csv`: `region, latency_ms, fraction` rows.
pub fn latency_cdf_csv(cdfs: &[(String, Vec<(f64, f64)>)]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["region", "latency_ms", "fraction"]).expect("writing to memory");
    for (region, points) in cdfs {
        for (ms, fraction) in points {
            writer
                .write_record([&csv_text(region), ms.to_string().as_str(), &fraction.to_string()])
                .expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// Every numeric leaf of the replications' summaries becomes `{mean, ci95_low, ci95_high, n}`;
/// booleans become the fraction of replications where they held; other values are the first
/// replication's.
pub fn aggregate_replications(summaries: &[Summary]) -> Value {
    let values: Vec<Value> = summaries.iter().map(|s| serde_json::to_value(s).expect("summary is JSON")).collect();
    let mut aggregated = aggregate(&values.iter().collect::<Vec<_>>());
    if let Value::Object(map) = &mut aggregated {
        map.insert("seed".into(), Value::from(summaries.iter().map(|s| s.seed).collect::<Vec<_>>()));
        map.insert("replications".into(), Value::from(summaries.len()));
    }
    aggregated
}

fn aggregate(values: &[&Value]) -> Value {
    let first = values[0];
    match first {
        Value::Object(map) => {
            let mut out = Map::new();
            for key in map.keys() {
                let children: Vec<&Value> = values.iter().filter_map(|v| v.get(key)).collect();
                out.insert(key.clone(), aggregate(&children));
            }
            Value::Object(out)
        }
        Value::Number(_) | Value::Null if values.iter().any(|v| v.is_number()) => {
            let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
            let (mean, half) = mean_ci95(&numbers);
            let mut out = Map::new();
            out.insert("mean".into(), Value::from(mean));
            out.insert("ci95_low".into(), Value::from(mean - half));
            out.insert("ci95_high".into(), Value::from(mean + half));
            out.insert("n".into(), Value::from(numbers.len()));
            Value::Object(out)
        }
        Value::Bool(_) => {
            let held = values.iter().filter(|v| v.as_bool() == Some(true)).count();
            let mut out = Map::new();
            out.insert("fraction_true".into(), Value::from(held as f64 / values.len() as f64));
            Value::Object(out)
        }
        Value::Array(items)
            if !items.iter().all(Value::is_array)
                && values.iter().all(|v| v.as_array().is_some_and(|a| a.len() == items.len())) =>
        {
            let elements =
                (0..items.len()).map(|i| aggregate(&values.iter().map(|v| &v[i]).collect::<Vec<_>>())).collect();
            Value::Array(elements)
        }
        _ => first.clone(),
    }
}

/// The table printed after a run.
pub fn print_table(summary: &Summary) {
    let operational = summary
        .regions
        .values()
        .map(|r| &r.stats)
        .chain(summary.deployments.values().map(|d| &d.stats))
        .any(|s| s.requests.failed + s.requests.degraded + s.requests.retries > 0 || s.replicas_peak != s.replicas);
    let widths = [8, 11, 11, 9, 9, 9, 9, 11, 9];
    let mut header = format!("{:<20}", "region");
    for (title, width) in reports::table::HEADERS.iter().zip(widths) {
        header.push_str(&format!(" {title:>width$}"));
    }
    if operational {
        header.push_str(&format!(" {:>9} {:>9} {:>9} {:>7} {:>7}", "failed", "degraded", "retries", "mean", "peak"));
    }
    println!("{header}");
    for row in reports::table::rows(summary) {
        let s = row.section;
        let mut line = format!("{:<20}", row.name);
        for (cell, width) in row.cells().iter().zip(widths) {
            line.push_str(&format!(" {cell:>width$}"));
        }
        if operational {
            line.push_str(&format!(
                " {:>9} {:>9} {:>9} {:>7.1} {:>7}",
                s.requests.failed, s.requests.degraded, s.requests.retries, s.replicas_mean, s.replicas_peak
            ));
        }
        if s.saturated {
            line.push_str("  SATURATED");
        }
        println!("{line}");
    }
    if let Some(slo) = &summary.slo {
        let mut parts = Vec::new();
        for target in &slo.latency {
            parts.push(format!(
                "p{} {} ≤ {} ms {}",
                target.percentile,
                reports::table::ms(target.observed_ms),
                target.target_ms,
                if target.met { "✓" } else { "✗" }
            ));
        }
        if let Some(a) = &slo.availability {
            parts.push(format!("availability {:.5} ≥ {} {}", a.observed, a.target, if a.met { "✓" } else { "✗" }));
        }
        println!("SLO {}: {}", if slo.met { "met" } else { "NOT met" }, parts.join("; "));
    }
}

/// Peak resident memory of this process, from Linux's /proc.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_read_back() {
        for (cell, written) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+cmd", "'+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-5", "-5"),
            ("1e-3", "1e-3"),
            ("us-east", "us-east"),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(csv_text(cell), written, "{cell}");
            assert_eq!(csv_text_read(written.to_string()), cell, "{cell}");
        }
    }
}
