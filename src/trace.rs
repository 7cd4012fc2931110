//! Request traces and rate series, in CSV or JSON lines: a timestamp column (a number in the
//! scenario's `timestamp_unit`, or `YYYY-MM-DD HH:MM:SS.fff` in UTC as in the Azure LLM inference
//! traces) and optional size columns, or a rate column.

use crate::error::CliError;
use crate::locate::csv_error;
use sim::scenario::{TimeUnit, TraceFormat};
use sim::traffic::TraceData;
use std::path::Path;

pub struct Columns<'a> {
    pub timestamp: &'a str,
    pub size: Option<&'a str>,
    pub output: Option<&'a str>,
    /// Prompt-block hashes and the tokens each covers.
    pub hashes: Option<(&'a str, u32)>,
    pub unit: TimeUnit,
    pub format: Option<TraceFormat>,
}

pub enum TraceError {
    /// Something the scenario said about the trace is wrong; `key` names the scenario key.
    Scenario { key: &'static str, message: String },
    /// The trace file itself is malformed; the error names its line and column.
    File(CliError),
}

fn scenario_error(key: &'static str, message: String) -> TraceError {
    TraceError::Scenario { key, message }
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

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Nanoseconds since the Unix epoch of a date (`YYYY-MM-DD HH:MM:SS.fff`, `T` and a trailing `Z`
/// allowed; years 1–9999, calendar-valid days), or of a plain number in `unit` since 0.
pub fn parse_timestamp(text: &str, unit: TimeUnit) -> Option<i64> {
    let text = text.trim();
    if let Ok(whole) = text.parse::<i64>() {
        // Exactly, where f64 would round epoch milliseconds.
        return whole.checked_mul(unit.nanos() as i64);
    }
    if let Ok(number) = text.parse::<f64>() {
        let nanos = number * unit.nanos();
        // Within ±290 years of the origin, as i64 nanoseconds hold.
        return (nanos.is_finite() && nanos.abs() < 9.2e18).then(|| nanos.round() as i64);
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
    if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    if !(0..=23).contains(&hour) || !(0..=59).contains(&minute) || !(0..=60).contains(&second) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    let nanos: i64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().ok()? };
    let days = days_from_civil(year, month, day);
    // Years 1–9999 are within i64 nanoseconds only up to 2262: check rather than wrap.
    let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// A request count (tokens, items): a whole number, also when written with a zero fraction (`512.0`).
fn parse_count(text: &str) -> Option<u32> {
    let text = text.trim();
    text.parse::<u32>().ok().or_else(|| {
        let value: f64 = text.parse().ok()?;
        (value.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&value)).then_some(value as u32)
    })
}

/// One value read from a trace, with where it was.
struct Field {
    text: String,
    line: u64,
    column: usize,
}

impl Field {
    fn error(&self, path: &Path, what: &str) -> TraceError {
        TraceError::File(CliError::input(format!(
            "{}:{}:{}: {what}: {:?}",
            path.display(),
            self.line,
            self.column,
            self.text
        )))
    }
}

fn format_of(path: &Path, format: Option<TraceFormat>) -> TraceFormat {
    format.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "ndjson") => TraceFormat::Jsonl,
        _ => TraceFormat::Csv,
    })
}

/// Every row's values of the `wanted` columns (None: the column is not wanted), from CSV or JSON
/// lines. `keys` names the scenario key of each wanted column, for a missing column's error.
fn read_rows(
    path: &Path,
    bytes: &[u8],
    format: TraceFormat,
    wanted: &[(&'static str, Option<&str>)],
) -> Result<Vec<Vec<Option<Field>>>, TraceError> {
    match format {
        TraceFormat::Csv => csv_rows(path, bytes, wanted),
        TraceFormat::Jsonl => jsonl_rows(path, bytes, wanted),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TraceError> {
    crate::input::read(path).map_err(|e| scenario_error("file", format!("cannot read trace {}: {e}", path.display())))
}

fn csv_rows(
    path: &Path,
    bytes: &[u8],
    wanted: &[(&'static str, Option<&str>)],
) -> Result<Vec<Vec<Option<Field>>>, TraceError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(bytes);
    let headers = reader.headers().map_err(|e| TraceError::File(csv_error(path, &e)))?.clone();
    let known = || crate::locate::shown_columns(&headers);
    let mut indices = Vec::with_capacity(wanted.len());
    for &(key, name) in wanted {
        indices.push(match name {
            None => None,
            Some(name) => Some(headers.iter().position(|h| h == name).ok_or_else(|| {
                scenario_error(
                    key,
                    format!("trace {} has no column {name:?}; its columns are: {}", path.display(), known()),
                )
            })?),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TraceError::File(csv_error(path, &e)))?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push(
            indices
                .iter()
                .map(|index| {
                    index.map(|i| Field {
                        text: record.get(i).unwrap_or("").to_string(),
                        line,
                        // Field ranges exclude the delimiters: add one per field before this one.
                        column: record.range(i).map_or(1, |r| r.start + i + 1),
                    })
                })
                .collect(),
        );
    }
    Ok(rows)
}

fn jsonl_rows(
    path: &Path,
    bytes: &[u8],
    wanted: &[(&'static str, Option<&str>)],
) -> Result<Vec<Vec<Option<Field>>>, TraceError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        TraceError::File(CliError::input(format!(
            "{}: not UTF-8 text: invalid byte at byte offset {}",
            path.display(),
            e.valid_up_to()
        )))
    })?;
    // A byte-order mark is accepted, as the TOML and CSV readers accept it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line_number = number as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |column: usize, message: String| {
            TraceError::File(CliError::input(format!("{}:{line_number}:{column}: {message}", path.display())))
        };
        let UniqueKeys(object) = serde_json::from_str(line).map_err(|e| {
            // serde_json's own "at line 1 column N" counts within this one line: the column is
            // already in the position.
            let reason = e.to_string();
            let reason = reason.rsplit_once(" at line ").map_or(reason.as_str(), |(r, _)| r).to_string();
            at(e.column().max(1), format!("not a JSON object: {}", crate::locate::one_line(&reason)))
        })?;
        let mut row = Vec::with_capacity(wanted.len());
        for &(key, name) in wanted {
            let Some(name) = name else {
                row.push(None);
                continue;
            };
            let Some(value) = object.get(name) else {
                let keys: Vec<&str> = object.keys().map(String::as_str).collect();
                return Err(if rows.is_empty() {
                    scenario_error(
                        key,
                        format!("trace {} has no key {name:?}; its first row has: {}", path.display(), keys.join(", ")),
                    )
                } else {
                    at(1, format!("this row has no key {name:?}"))
                });
            };
            let column = line.find(&format!("\"{name}\"")).map_or(1, |i| line[..i].chars().count() + 1);
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                // A list of whole numbers, for the prompt-block hashes' column only.
                serde_json::Value::Array(items)
                    if key == "hash_column" && items.iter().all(serde_json::Value::is_u64) =>
                {
                    let numbers: Vec<String> = items.iter().map(ToString::to_string).collect();
                    format!("[{}]", numbers.join(","))
                }
                other => return Err(at(column, format!("{name:?} is neither a number nor a string: {other}"))),
            };
            row.push(Some(Field { text, line: line_number, column }));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A JSON object that refuses a key written twice: serde_json's map would keep the last value
/// silently, and which of two timestamps a row meant is not for servesim to guess.
struct UniqueKeys(serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<UniqueKeys, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, value)) = access.next_entry::<String, serde_json::Value>()? {
                    if object.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("key {key:?} appears twice")));
                    }
                    object.insert(key, value);
                }
                Ok(UniqueKeys(object))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

pub fn read(path: &Path, columns: &Columns, origin: &str) -> Result<TraceData, TraceError> {
    parse(path, &read_file(path)?, columns, origin)
}

/// A trace from its bytes; `path` names it in errors and gives its format by extension.
pub fn parse(path: &Path, bytes: &[u8], columns: &Columns, origin: &str) -> Result<TraceData, TraceError> {
    let format = format_of(path, columns.format);
    let wanted = [
        ("timestamp_column", Some(columns.timestamp)),
        ("size_column", columns.size),
        ("output_column", columns.output),
        ("hash_column", columns.hashes.map(|(name, _)| name)),
    ];
    let table = read_rows(path, bytes, format, &wanted)?;
    let (has_size, has_output) = (columns.size.is_some(), columns.output.is_some());
    let mut rows: Vec<(i64, u32, u32)> = Vec::with_capacity(table.len());
    let mut hashes: Vec<Vec<u64>> = Vec::new();
    for row in &table {
        let [time, size, output, hash] = &row[..] else { unreachable!("four wanted columns") };
        if let Some(field) = hash {
            hashes.push(parse_hashes(&field.text).ok_or_else(|| {
                field.error(
                    path,
                    "not a list of block hashes (whole numbers, as a JSON array or separated by spaces or semicolons)",
                )
            })?);
        }
        let time = time.as_ref().expect("the timestamp is always wanted");
        let nanos = parse_timestamp(&time.text, columns.unit).ok_or_else(|| {
            time.error(path, "not a timestamp (a number in timestamp_unit, or a valid date YYYY-MM-DD HH:MM:SS.fff)")
        })?;
        let count = |field: &Option<Field>| -> Result<u32, TraceError> {
            match field {
                None => Ok(0),
                Some(f) => parse_count(&f.text).ok_or_else(|| f.error(path, "not a whole number")),
            }
        };
        rows.push((nanos, count(size)?, count(output)?));
    }
    if rows.is_empty() {
        return Err(scenario_error("file", format!("trace {} has no rows", path.display())));
    }
    // Sorted by time, each row's hashes going with it.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].0);
    let rows: Vec<(i64, u32, u32)> = order.iter().map(|&i| rows[i]).collect();
    let hashes: Vec<Vec<u64>> =
        if hashes.is_empty() { hashes } else { order.iter().map(|&i| std::mem::take(&mut hashes[i])).collect() };
    let origin_time = if origin == "first" {
        rows[0].0
    } else {
        parse_timestamp(origin, columns.unit).ok_or_else(|| {
            scenario_error("origin", format!("origin {origin:?} is neither \"first\" nor a timestamp like the trace's"))
        })?
    };
    let first_kept = rows.partition_point(|&(time, _, _)| time < origin_time);
    let kept: Vec<_> = rows[first_kept..].to_vec();
    let hashes = columns.hashes.map(|(_, block_tokens)| {
        let mut flat = sim::traffic::BlockHashes { starts: vec![0], values: Vec::new(), block_tokens };
        for list in &hashes[first_kept..] {
            flat.values.extend_from_slice(list);
            flat.starts.push(flat.values.len() as u32);
        }
        flat
    });
    Ok(TraceData {
        hashes,
        offsets: kept.iter().map(|&(time, _, _)| time.abs_diff(origin_time)).collect(),
        sizes: has_size.then(|| kept.iter().map(|&(_, size, _)| size).collect()),
        outputs: has_output.then(|| kept.iter().map(|&(_, _, output)| output).collect()),
    })
}

/// A list of block hashes: `[1, 2, 3]` (how JSON lines hand an array over), or `1 2 3`, `1;2;3`.
fn parse_hashes(text: &str) -> Option<Vec<u64>> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<u64>().ok())
        .collect()
}

/// A rate beyond any service: a typo (the scenario's request budget refuses smaller ones that run
/// too long).
const MAX_RATE_PER_SECOND: f64 = 1e9;

/// The columns of a rate series.
pub struct RateColumns<'a> {
    pub timestamp: &'a str,
    pub rate: &'a str,
    pub unit: TimeUnit,
    pub format: Option<TraceFormat>,
    /// `aggregate = "sum"`: rows sharing a time are added up, in any order.
    pub sum_shared_times: bool,
    /// `filter`: only rows whose (column, value) matches are read.
    pub filter: Option<(&'a str, &'a str)>,
}

/// A rate series: `(seconds since its first row, requests per second)`, in time order.
pub fn read_rate_series(path: &Path, columns: &RateColumns) -> Result<Vec<(f64, f64)>, TraceError> {
    parse_rate_series(path, &read_file(path)?, columns)
}

/// A rate series from its bytes, as [`parse`].
pub fn parse_rate_series(path: &Path, bytes: &[u8], columns: &RateColumns) -> Result<Vec<(f64, f64)>, TraceError> {
    let format = format_of(path, columns.format);
    let table = read_rows(
        path,
        bytes,
        format,
        &[
            ("timestamp_column", Some(columns.timestamp)),
            ("rate_column", Some(columns.rate)),
            ("filter", columns.filter.map(|(column, _)| column)),
        ],
    )?;
    let mut points: Vec<(i64, f64, &Field)> = Vec::with_capacity(table.len());
    for row in &table {
        let (Some(time), Some(rate)) = (&row[0], &row[1]) else { unreachable!("both columns are wanted") };
        if let (Some(kept), Some((_, value))) = (&row[2], columns.filter) {
            if kept.text != value {
                continue;
            }
        }
        let nanos = parse_timestamp(&time.text, columns.unit).ok_or_else(|| {
            time.error(path, "not a timestamp (a number in timestamp_unit, or a valid date YYYY-MM-DD HH:MM:SS.fff)")
        })?;
        let per_second = rate
            .text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 0.0 && *r <= MAX_RATE_PER_SECOND)
            .ok_or_else(|| {
                rate.error(path, &format!("not a rate in requests per second (0 to {:e})", MAX_RATE_PER_SECOND))
            })?;
        if !columns.sum_shared_times {
            if let Some(&(previous, _, previous_field)) = points.last() {
                if nanos == previous {
                    return Err(time.error(
                        path,
                        &format!(
                            "this time is also on line {}: a rate series has one row per time; if the file has one row \
                             per container or instance, set aggregate = \"sum\" to add rows sharing a time (and filter \
                             = {{ column, value }} to keep one service's rows)",
                            previous_field.line
                        ),
                    ));
                }
                if nanos < previous {
                    return Err(time.error(
                        path,
                        &format!(
                            "rows of a rate series must be in increasing time order, and this one is earlier than line \
                             {}; if the file holds one series per container or instance, one after another, set \
                             aggregate = \"sum\"",
                            previous_field.line
                        ),
                    ));
                }
            }
        }
        points.push((nanos, per_second, time));
    }
    if points.is_empty() {
        let kept = columns.filter.map_or(String::new(), |(column, value)| format!(" whose {column} is {value:?}"));
        return Err(scenario_error("file", format!("rate series {} has no rows{kept}", path.display())));
    }
    if columns.sum_shared_times {
        // Stable: rows of one time keep their file order, so the sum is the same whatever the order
        // of the times.
        points.sort_by_key(|&(nanos, _, _)| nanos);
    }
    let mut summed: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    for &(nanos, rate, field) in &points {
        match summed.last_mut() {
            Some((previous, total)) if *previous == nanos => {
                *total += rate;
                if *total > MAX_RATE_PER_SECOND {
                    return Err(field.error(
                        path,
                        &format!(
                            "the rows at this time add up to more than {:e} requests per second",
                            MAX_RATE_PER_SECOND
                        ),
                    ));
                }
            }
            _ => summed.push((nanos, rate)),
        }
    }
    let first = summed[0].0;
    Ok(summed.into_iter().map(|(nanos, rate)| ((nanos - first) as f64 / 1e9, rate)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_unix_nanoseconds() {
        let s = TimeUnit::Seconds;
        // 2023-11-16 18:17:03 UTC is 1700158623 s after the epoch.
        assert_eq!(parse_timestamp("2023-11-16 18:17:03.9799600", s), Some(1_700_158_623_979_960_000));
        assert_eq!(parse_timestamp("2023-11-16T18:17:03Z", s), Some(1_700_158_623_000_000_000));
        assert_eq!(parse_timestamp("1970-01-01 00:00:00", s), Some(0));
        assert_eq!(parse_timestamp("2000-03-01 00:00:00", s), Some(951_868_800_000_000_000));
        assert_eq!(parse_timestamp("2000-02-29 00:00:00", s), Some(951_782_400_000_000_000));
        assert_eq!(parse_timestamp("12.5", s), Some(12_500_000_000));
        assert_eq!(parse_timestamp("12.5", TimeUnit::Milliseconds), Some(12_500_000));
        assert_eq!(parse_timestamp("1700158623979", TimeUnit::Milliseconds), Some(1_700_158_623_979_000_000));
        assert_eq!(parse_timestamp("7", TimeUnit::Microseconds), Some(7_000));
        assert_eq!(parse_timestamp("7", TimeUnit::Nanoseconds), Some(7));
        // Not calendar dates, or out of range: refused rather than wrapped or rolled over.
        for bad in [
            "2023-13-01 00:00:00",
            "2023-02-30 00:00:00",
            "2023-02-29 00:00:00",
            "1900-02-29 00:00:00",
            "2023-04-31 00:00:00",
            "1000000000403-01-01 00:00:00",
            "0000-01-01 00:00:00",
            "9999-12-31 00:00:00",
            "2023-01-01 24:00:00",
            "yesterday",
            "1e300",
            "NaN",
        ] {
            assert_eq!(parse_timestamp(bad, s), None, "{bad}");
        }
    }

    #[test]
    fn counts_accept_integral_decimals_only() {
        assert_eq!(parse_count("512"), Some(512));
        assert_eq!(parse_count("512.0"), Some(512));
        assert_eq!(parse_count("5e2"), Some(500));
        assert_eq!(parse_count("512.5"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("1e20"), None);
    }
}
