//! Operator-profile CSV text, and predictions from whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(profile) = kernels::profile::Profile::parse(text) {
            let _ = kernels::predict::Predictor::new(&profile, "fuzz");
        }
    }
});
