//! Trace and rate-series bytes, read as CSV and as JSON lines, with and without a size column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use servesim::trace::{parse, parse_rate_series, Columns, RateColumns};
use sim::scenario::{TimeUnit, TraceFormat};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz-trace");
    for format in [TraceFormat::Csv, TraceFormat::Jsonl] {
        for unit in [TimeUnit::Seconds, TimeUnit::Milliseconds] {
            let columns =
                Columns { timestamp: "timestamp", size: Some("tokens"), output: None, hashes: None, unit, format: Some(format) };
            let _ = parse(path, data, &columns, "first");
            let plain = Columns { size: None, ..columns };
            let _ = parse(path, data, &plain, "2023-11-16 18:00:00");
            let rates = RateColumns {
                timestamp: "timestamp",
                rate: "rate",
                unit,
                format: Some(format),
                sum_shared_times: unit == TimeUnit::Milliseconds,
                filter: None,
            };
            let _ = parse_rate_series(path, data, &rates);
        }
    }
});
