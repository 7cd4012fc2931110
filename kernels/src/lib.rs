//! servesim's kernels: the operator catalog and model graphs of real architectures, with the
//! FLOPs, bytes and weights each forward pass needs. Knows nothing of queues or serving.
//!
//! Still to come here (the kernels issue): CPU and CUDA profilers that measure these operators,
//! and the batch-latency models built on the measurements.

pub mod models;
pub mod ops;
pub mod roofline;

pub use models::{catalog, find, Graph, ModelSpec, Pass};
pub use ops::{DType, Op};
pub use roofline::{estimate, Calibration, Device, Estimate};
