//! servesim's planner: sweeps over scenario parameters and the plan chosen from them. Expands a `[sweep]` section into points,
//! evaluates each (a plain run, a capacity search or a right-sizing search, with replications),
//! and judges them: feasibility against the SLO, ranking by the objective, the cost–latency Pareto
//! frontier. Like `sim`, it does no I/O: the CLI reads files, journals results and writes outputs.

pub mod apply;
pub mod choice;
pub mod error;
pub mod evaluate;
pub mod fleet;
pub mod frontier;
pub mod report;
pub mod robust;
pub mod space;

pub use choice::{choose, Choice, ChoiceError, Ranking};
pub use error::PlanError;
pub use evaluate::{resolved_values, JobMetrics, Plan, PointResult, QualityMetrics, RunMetrics};
pub use frontier::{judge, Judged};
pub use robust::{Headroom, Risk, Stressed};
pub use space::{expand, Axis, Grid, Point, MAX_POINTS};
