//! servesim's simulation core: a deterministic discrete-event engine and a model of online model
//! serving across regions. No files, no CLI, no HTML: callers hand in a parsed [`scenario::Scenario`]
//! and the contents of the files it names, and get back [`summary::Summary`] and time series.
//!
//! Data flows one way: scenario → [`model::build`] (checks, resolves) → [`world::run`] → summary.

pub mod breakdown;
pub mod dist;
pub mod drift;
pub mod event;
pub mod iteration;
pub mod job;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod policy;
pub mod replicated;
pub mod rng;
pub mod scenario;
pub mod service;
pub mod stats;
pub mod summary;
pub mod traffic;
pub mod units;
pub mod whatif;
pub mod world;

pub use model::{build, Inputs, Model, ScenarioError};
pub use world::{run, RunOptions, RunOutput};
