//! Request traces in CSV: a timestamp column (seconds as a number, or `YYYY-MM-DD HH:MM:SS.fff` in
//! UTC as in the Azure LLM inference traces) and optional size columns.

use crate::error::CliError;
use crate::locate::{csv_error, field_error};
use sim::traffic::TraceData;
use std::path::Path;

pub struct Columns<'a> {
    pub timestamp: &'a str,
    pub size: Option<&'a str>,
    pub output: Option<&'a str>,
}

pub enum TraceError {
    /// Something the scenario said about the trace is wrong; `key` names the scenario key.
    Scenario { key: &'static str, message: String },
    /// The trace file itself is malformed; the error names its line and column.
    File(CliError),
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse, after
/// Howard Hinnant's published derivation).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12; // March = 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Nanoseconds since the Unix epoch (or since 0 for plain numbers of seconds).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 9e9).then(|| (seconds * 1e9).round() as i64);
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (time, ""),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = clock_parts.next()?.parse().ok()?;
    let minute: i64 = clock_parts.next()?.parse().ok()?;
    let second: i64 = clock_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000_000 + second * 1_000_000_000 + nanos)
}

pub fn read(path: &Path, columns: &Columns, origin: &str) -> Result<TraceData, TraceError> {
    let file = crate::input::open(path).map_err(|e| TraceError::Scenario {
        key: "file",
        message: format!("cannot read trace {}: {e}", path.display()),
    })?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(file);
    let headers = reader.headers().map_err(|e| TraceError::File(csv_error(path, &e)))?.clone();
    let known = || headers.iter().collect::<Vec<_>>().join(", ");
    let find = |key: &'static str, name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| TraceError::Scenario {
            key,
            message: format!("trace {} has no column {name:?}; its columns are: {}", path.display(), known()),
        })
    };
    let time_index = find("timestamp_column", columns.timestamp)?;
    let size_index = columns.size.map(|name| find("size_column", name)).transpose()?;
    let output_index = columns.output.map(|name| find("output_column", name)).transpose()?;

    let mut rows: Vec<(i64, u32, u32)> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TraceError::File(csv_error(path, &e)))?;
        let bad = |index: usize, what: &str| TraceError::File(field_error(path, &record, index, what));
        let time = record
            .get(time_index)
            .and_then(parse_timestamp)
            .ok_or_else(|| bad(time_index, "not a timestamp (seconds, or YYYY-MM-DD HH:MM:SS.fff)"))?;
        let count = |index: Option<usize>| -> Result<u32, TraceError> {
            match index {
                None => Ok(0),
                Some(i) => record.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| bad(i, "not a whole number")),
            }
        };
        rows.push((time, count(size_index)?, count(output_index)?));
    }
    if rows.is_empty() {
        return Err(TraceError::Scenario { key: "file", message: format!("trace {} has no rows", path.display()) });
    }
    rows.sort_by_key(|&(time, _, _)| time);
    let origin_time = if origin == "first" {
        rows[0].0
    } else {
        parse_timestamp(origin).ok_or_else(|| TraceError::Scenario {
            key: "origin",
            message: format!("origin {origin:?} is neither \"first\" nor a timestamp like the trace's"),
        })?
    };
    let kept: Vec<_> = rows.into_iter().filter(|&(time, _, _)| time >= origin_time).collect();
    Ok(TraceData {
        offsets: kept.iter().map(|&(time, _, _)| (time - origin_time) as u64).collect(),
        sizes: size_index.map(|_| kept.iter().map(|&(_, size, _)| size).collect()),
        outputs: output_index.map(|_| kept.iter().map(|&(_, _, output)| output).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_unix_nanoseconds() {
        // 2023-11-16 18:17:03 UTC is 1700158623 s after the epoch.
        assert_eq!(parse_timestamp("2023-11-16 18:17:03.9799600"), Some(1_700_158_623_979_960_000));
        assert_eq!(parse_timestamp("2023-11-16T18:17:03Z"), Some(1_700_158_623_000_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_timestamp("2000-03-01 00:00:00"), Some(951_868_800_000_000_000));
        assert_eq!(parse_timestamp("12.5"), Some(12_500_000_000));
        assert_eq!(parse_timestamp("2023-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
