//! Policies: pure decisions with engine-owned types and hand-worked unit tests. The world asks
//! them; they never see the world. Observations in, a decision out.

pub mod autoscale;
pub mod balance;
pub mod batching;
pub mod breaker;
pub mod routing;
