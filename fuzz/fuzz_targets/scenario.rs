//! A scenario's text through everything `servesim validate` does: TOML, the files it names (none
//! exist here, so their errors), the price catalog, model tables, and the checked build. Any panic
//! is a bug: bad input must come back as an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(loaded) = servesim::load::load_text(Path::new("/nonexistent/fuzz.toml"), text.to_string(), None) {
            let _ = loaded.build();
        }
    }
});
