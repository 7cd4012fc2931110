//! servesim's kernels: the operator catalog and model graphs of real architectures, the profilers
//! that measure their operators, and the latency models built on the measurements. Knows nothing
//! of queues or serving.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device_fit;
pub mod error;
pub mod llm;
pub mod models;
pub mod ops;
pub mod predict;
pub mod profile;
pub mod published;
pub mod roofline;
pub mod stack;

pub use error::KernelError;
pub use models::{catalog, find, Graph, ModelSpec, Pass};
pub use ops::{DType, Op};
pub use predict::{Prediction, Predictor, Source};
pub use profile::{Measurement, Profile, Stat};
pub use roofline::{estimate, Calibration, Device, Estimate};
