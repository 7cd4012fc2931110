//! Load-test results as `servesim calibrate` reads them: one load point per offered rate, with the
//! client-side latency percentiles measured there. Four forms, told apart by their header:
//!
//! - a plain summary: `offered_rps, p50_ms, p90_ms, p99_ms` and optionally `mean_ms`, `requests`;
//!   one row per load point;
//! - per-request rows: `send_time_s, latency_ms` (and optionally `ok`): one load point per file,
//!   its rate the count over the span of send times;
//! - locust's `--csv PREFIX` statistics, `PREFIX_stats.csv`: one load point, the `Aggregated` row;
//! - locust's `PREFIX_stats_history.csv`: one load point per plateau of the user count, from the
//!   `Aggregated` rows locust wrote once the plateau had run 10 s. Its percentiles are per plateau
//!   only with `--csv-full-history` (then each row's cover locust's last 10 s); without it they
//!   are cumulative, so only a single plateau can be read (from its last row).

use crate::error::CliError;
use crate::locate::{csv_error, field_error};
use std::path::Path;

/// One measured load level.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPoint {
    pub offered_rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: Option<f64>,
    pub requests: Option<u64>,
    /// `file:line` (or the file) it came from, for the results table.
    pub origin: String,
}

/// Reads every file's load points.
pub fn read_all(paths: &[std::path::PathBuf]) -> Result<Vec<LoadPoint>, CliError> {
    let mut points = Vec::new();
    for path in paths {
        points.extend(read(path)?);
    }
    Ok(points)
}

pub fn read(path: &Path) -> Result<Vec<LoadPoint>, CliError> {
    let bytes = crate::input::read(path)
        .map_err(|e| CliError::input(format!("{}: cannot read load test: {e}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
    let header = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let has = |name: &str| header.iter().any(|h| h == name);
    let points = if has("offered_rps") {
        summary_rows(path, &mut reader, &header)?
    } else if has("send_time_s") {
        per_request(path, &mut reader, &header)?
    } else if has("Timestamp") && has("User Count") {
        locust_history(path, &mut reader, &header)?
    } else if has("Request Count") && has("Name") {
        locust_stats(path, &mut reader, &header)?
    } else {
        return Err(CliError::input(format!(
            "{}:1:1: not a load-test file: expected the header of a summary (offered_rps, p50_ms, p90_ms, \
             p99_ms[, mean_ms, requests]), per-request rows (send_time_s, latency_ms[, ok]), or locust's \
             --csv stats or stats_history",
            path.display()
        )));
    };
    if points.is_empty() {
        return Err(CliError::input(format!("{}: no load points in the file", path.display())));
    }
    Ok(points)
}

/// Column positions by name; `required` ones must be present.
fn columns(
    path: &Path,
    header: &csv::StringRecord,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Option<usize>>, CliError> {
    let mut out = Vec::new();
    for (k, name) in required.iter().chain(optional).enumerate() {
        let index = header.iter().position(|h| h == *name);
        if index.is_none() && k < required.len() {
            return Err(CliError::input(format!("{}:1:1: the header has no {name} column", path.display())));
        }
        out.push(index);
    }
    Ok(out)
}

/// Positions of columns that must all be present.
fn required(path: &Path, header: &csv::StringRecord, names: &[&str]) -> Result<Vec<usize>, CliError> {
    Ok(columns(path, header, names, &[])?.into_iter().map(|i| i.expect("required columns are present")).collect())
}

fn number(path: &Path, record: &csv::StringRecord, index: usize, what: &str) -> Result<f64, CliError> {
    match record.get(index).and_then(|v| v.parse::<f64>().ok()) {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(field_error(path, record, index, &format!("{what}: expected a number ≥ 0"))),
    }
}

/// The most requests per second a load point may claim (as for a scenario's rate series).
const MAX_RATE_PER_SECOND: f64 = 1e9;
/// The longest latency a load point may report: a day, as for a scenario's delays.
const MAX_LATENCY_MS: f64 = 86_400_000.0;

/// The checks every point passes, whatever its form.
fn checked(path: &Path, record: &csv::StringRecord, at: [usize; 4], point: LoadPoint) -> Result<LoadPoint, CliError> {
    if point.offered_rps <= 0.0 {
        return Err(field_error(path, record, at[0], "offered rate: must be above 0"));
    }
    // The bounds a scenario's own rates and latencies have: a value past them is a typo in this
    // file, and must be blamed here rather than on the scenario the fit would run it through.
    if point.offered_rps > MAX_RATE_PER_SECOND {
        return Err(field_error(
            path,
            record,
            at[0],
            &format!("offered rate: at most {MAX_RATE_PER_SECOND:e} per second"),
        ));
    }
    if point.p50_ms <= 0.0 {
        return Err(field_error(path, record, at[1], "p50: must be above 0"));
    }
    for (k, value) in [point.p50_ms, point.p90_ms, point.p99_ms].into_iter().enumerate() {
        if value > MAX_LATENCY_MS {
            return Err(field_error(path, record, at[k + 1], "latency: at most a day (86400000 ms)"));
        }
    }
    if point.p90_ms < point.p50_ms {
        return Err(field_error(path, record, at[2], "p90: below p50"));
    }
    if point.p99_ms < point.p90_ms {
        return Err(field_error(path, record, at[3], "p99: below p90"));
    }
    Ok(point)
}

fn origin(path: &Path, record: &csv::StringRecord) -> String {
    format!("{}:{}", path.display(), record.position().map_or(0, |p| p.line()))
}

fn summary_rows(
    path: &Path,
    reader: &mut csv::Reader<&[u8]>,
    header: &csv::StringRecord,
) -> Result<Vec<LoadPoint>, CliError> {
    let known = ["offered_rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "requests"];
    if let Some(unknown) = header.iter().position(|h| !known.contains(&h)) {
        return Err(CliError::input(format!(
            "{}:1:{}: unknown column {:?} (a summary has offered_rps, p50_ms, p90_ms, p99_ms, mean_ms, requests)",
            path.display(),
            header.range(unknown).map_or(1, |r| r.start + unknown + 1),
            header.get(unknown).unwrap_or("")
        )));
    }
    let at = columns(path, header, &["offered_rps", "p50_ms", "p90_ms", "p99_ms"], &["mean_ms", "requests"])?;
    let mut points = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let get = |k: usize, what: &str| number(path, &record, at[k].expect("required"), what);
        let requests = match at[5] {
            Some(i) => Some(
                record
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| field_error(path, &record, i, "requests: expected a whole number"))?,
            ),
            None => None,
        };
        let point = LoadPoint {
            offered_rps: get(0, "offered_rps")?,
            p50_ms: get(1, "p50_ms")?,
            p90_ms: get(2, "p90_ms")?,
            p99_ms: get(3, "p99_ms")?,
            mean_ms: at[4].map(|i| number(path, &record, i, "mean_ms")).transpose()?,
            requests,
            origin: origin(path, &record),
        };
        let required = [at[0].unwrap(), at[1].unwrap(), at[2].unwrap(), at[3].unwrap()];
        points.push(checked(path, &record, required, point)?);
    }
    Ok(points)
}

fn per_request(
    path: &Path,
    reader: &mut csv::Reader<&[u8]>,
    header: &csv::StringRecord,
) -> Result<Vec<LoadPoint>, CliError> {
    let at = columns(path, header, &["send_time_s", "latency_ms"], &["ok"])?;
    let (send, latency) = (at[0].unwrap(), at[1].unwrap());
    let mut sends = Vec::new();
    let mut latencies = Vec::new();
    let mut first_record = None;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        if let Some(i) = at[2] {
            match record.get(i) {
                Some("true" | "1" | "True") => {}
                Some("false" | "0" | "False") => continue,
                _ => return Err(field_error(path, &record, i, "ok: expected true or false")),
            }
        }
        sends.push(number(path, &record, send, "send_time_s")?);
        latencies.push(number(path, &record, latency, "latency_ms")?);
        first_record.get_or_insert(record);
    }
    let Some(record) = first_record else {
        return Ok(Vec::new());
    };
    let (first, last) = sends.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    if latencies.len() < 100 || last <= first {
        return Err(CliError::input(format!(
            "{}: {} requests over {:.3} s: a load point needs at least 100 requests over a positive span",
            path.display(),
            latencies.len(),
            (last - first).max(0.0)
        )));
    }
    latencies.sort_by(f64::total_cmp);
    // Nearest-rank percentiles, as load-test tools report them.
    let rank = |q: f64| latencies[((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1];
    let n = latencies.len();
    let point = LoadPoint {
        // n requests over the span of n − 1 gaps.
        offered_rps: (n - 1) as f64 / (last - first),
        p50_ms: rank(0.5),
        p90_ms: rank(0.9),
        p99_ms: rank(0.99),
        mean_ms: Some(latencies.iter().sum::<f64>() / n as f64),
        requests: Some(n as u64),
        origin: path.display().to_string(),
    };
    checked(path, &record, [send, latency, latency, latency], point).map(|p| vec![p])
}

/// Locust's percentile columns and the statistics around them.
const LOCUST_PERCENTILES: [&str; 3] = ["50%", "90%", "99%"];

fn locust_stats(
    path: &Path,
    reader: &mut csv::Reader<&[u8]>,
    header: &csv::StringRecord,
) -> Result<Vec<LoadPoint>, CliError> {
    let at =
        required(path, header, &["Name", "Request Count", "Average Response Time", "Requests/s", "50%", "90%", "99%"])?;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        if record.get(at[0]) != Some("Aggregated") {
            continue;
        }
        let point = LoadPoint {
            offered_rps: number(path, &record, at[3], "Requests/s")?,
            p50_ms: number(path, &record, at[4], LOCUST_PERCENTILES[0])?,
            p90_ms: number(path, &record, at[5], LOCUST_PERCENTILES[1])?,
            p99_ms: number(path, &record, at[6], LOCUST_PERCENTILES[2])?,
            mean_ms: Some(number(path, &record, at[2], "Average Response Time")?),
            requests: Some(number(path, &record, at[1], "Request Count")? as u64),
            origin: origin(path, &record),
        };
        return checked(path, &record, [at[3], at[4], at[5], at[6]], point).map(|p| vec![p]);
    }
    Err(CliError::input(format!("{}: locust statistics without an Aggregated row", path.display())))
}

fn locust_history(
    path: &Path,
    reader: &mut csv::Reader<&[u8]>,
    header: &csv::StringRecord,
) -> Result<Vec<LoadPoint>, CliError> {
    let at = required(
        path,
        header,
        &["Timestamp", "User Count", "Name", "50%", "90%", "99%", "Total Request Count", "Total Average Response Time"],
    )?;
    struct Row {
        record: csv::StringRecord,
        time: f64,
        users: f64,
        aggregated: bool,
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        // Before any request locust writes "N/A" percentiles; such rows carry nothing to read.
        if record.get(at[3]) == Some("N/A") {
            continue;
        }
        let time = number(path, &record, at[0], "Timestamp")?;
        let users = number(path, &record, at[1], "User Count")?;
        let aggregated = record.get(at[2]) == Some("Aggregated");
        rows.push(Row { record, time, users, aggregated });
    }
    // Plateaus: maximal runs of rows with one user count.
    let mut plateaus: Vec<(usize, usize)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match plateaus.last_mut() {
            Some((_, end)) if rows[*end].users == row.users => *end = i,
            _ => plateaus.push((i, i)),
        }
    }
    let windowed = rows.iter().any(|r| !r.aggregated);
    if plateaus.len() > 1 && !windowed {
        return Err(CliError::input(format!(
            "{}: {} user-count plateaus, but its percentiles are cumulative over the whole test: rerun locust with \
             --csv-full-history (per-plateau percentiles), or give each load level its own run",
            path.display(),
            plateaus.len()
        )));
    }
    let mut points = Vec::new();
    for &(start, end) in &plateaus {
        let begin = rows[start].time;
        let steady: Vec<&Row> = rows[start..=end].iter().filter(|r| r.time >= begin + 10.0).collect();
        let aggregated: Vec<&&Row> = steady.iter().filter(|r| r.aggregated).collect();
        let (Some(first), Some(last)) = (aggregated.first(), aggregated.last()) else {
            continue;
        };
        let count = |r: &Row| number(path, &r.record, at[6], "Total Request Count");
        let span = last.time - first.time;
        if span <= 0.0 {
            continue;
        }
        let offered = (count(last)? - count(first)?) / span;
        // With full history every row's percentiles cover locust's last 10 s: average them over the
        // plateau. Without, the last row's are cumulative, which is the plateau's only when there
        // is one.
        let source: Vec<&&Row> = if windowed { aggregated.clone() } else { vec![last] };
        let mut sums = [0.0; 3];
        for row in &source {
            for (k, sum) in sums.iter_mut().enumerate() {
                *sum += number(path, &row.record, at[3 + k], LOCUST_PERCENTILES[k])?;
            }
        }
        let n = source.len().max(1) as f64;
        let point = LoadPoint {
            offered_rps: offered,
            p50_ms: sums[0] / n,
            p90_ms: sums[1] / n,
            p99_ms: sums[2] / n,
            mean_ms: None,
            requests: Some((count(last)? - count(first)?) as u64),
            origin: origin(path, &last.record),
        };
        points.push(checked(path, &last.record, [at[0], at[3], at[4], at[5]], point)?);
    }
    Ok(points)
}
