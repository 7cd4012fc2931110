//! Latency-table CSV bytes (`batch_size,latency_ms`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = servesim::load::parse_latency_table(std::path::Path::new("fuzz-table.csv"), data);
});
