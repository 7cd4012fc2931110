//! The `servesim` command line's library: reading scenarios and their files, running, sweeping,
//! planning and writing results. `src/main.rs` is only the argument parser over these modules;
//! they are a library so that fuzz targets and in-process property tests can call the readers.

pub mod accuracy;
pub mod calibrate;
pub mod compare;
pub mod error;
pub mod fleet;
pub mod input;
pub mod jobs;
pub mod latency;
pub mod load;
pub mod locate;
pub mod output;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod run;
pub mod stacks;
pub mod sweep;
pub mod trace;
pub mod uncertainty;
