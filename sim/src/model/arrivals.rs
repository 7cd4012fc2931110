//! A traffic source's `arrivals` → the arrival [`Process`] the engine draws from.

use super::checks::{check_positive, check_rate, positive_finite};
use super::error::{fail, ScenarioError};
use super::inputs::{trace_key, Inputs};
use crate::scenario::{Arrivals, KeyPath};
use crate::traffic::{Process, TraceData};
use crate::units::Nanos;
use std::sync::Arc;

/// `duration`: the run's length, which a replayed trace must fit unless it asks to be truncated.
pub(super) fn process(
    path: &KeyPath,
    arrivals: &Arrivals,
    inputs: &Inputs,
    duration: Nanos,
) -> Result<Process, ScenarioError> {
    Ok(match arrivals {
        Arrivals::Poisson { rate } => Process::Poisson { mean_gap: 1.0 / check_rate(path.join("rate"), *rate, false)? },
        Arrivals::Constant { rate } => Process::Constant { gap: 1.0 / check_rate(path.join("rate"), *rate, false)? },
        Arrivals::Diurnal { base, peak, period, phase } => {
            let base = check_rate(path.join("base"), *base, true)?;
            let peak = check_rate(path.join("peak"), *peak, false)?;
            if peak < base {
                return fail(path.join("peak"), "peak rate must be at least the base rate");
            }
            let period = check_positive(path.join("period"), "period", period.nanos())?;
            Process::Diurnal { base, peak, period, phase: phase.nanos() as f64 }
        }
        Arrivals::Schedule { points } => {
            let points_path = path.join("points");
            if points.is_empty() {
                return fail(points_path, "a schedule needs at least one [time, rate] point");
            }
            let mut converted = Vec::with_capacity(points.len());
            for (i, (time, rate)) in points.iter().enumerate() {
                if let Some(&(previous, _)) = converted.last() {
                    if (time.nanos() as f64) < previous {
                        return fail(points_path.join(i), "schedule points must be in time order");
                    }
                }
                converted.push((time.nanos() as f64, check_rate(points_path.join(i), *rate, true)?));
            }
            if converted.iter().all(|&(_, r)| r == 0.0) {
                return fail(points_path, "every rate in the schedule is zero");
            }
            Process::schedule(converted)
        }
        Arrivals::Mmpp { low_rate, high_rate, mean_low_duration, mean_high_duration } => {
            let low_rate = check_rate(path.join("low_rate"), *low_rate, true)?;
            let high_rate = check_rate(path.join("high_rate"), *high_rate, false)?;
            let mean_low =
                check_positive(path.join("mean_low_duration"), "mean_low_duration", mean_low_duration.nanos())?;
            let mean_high =
                check_positive(path.join("mean_high_duration"), "mean_high_duration", mean_high_duration.nanos())?;
            Process::Mmpp { low_rate, high_rate, mean_low, mean_high }
        }
        Arrivals::Trace { speedup, truncate, .. } => {
            if !positive_finite(*speedup) {
                return fail(path.join("speedup"), format!("speedup must be positive, got {speedup}"));
            }
            let Some(trace) = trace_key(arrivals).and_then(|key| inputs.traces.get(&key)) else {
                return fail(path.join("file"), "trace was not loaded");
            };
            if trace.offsets.is_empty() {
                return fail(path.join("file"), "trace has no rows after its origin");
            }
            let process = if *speedup == 1.0 {
                trace.clone()
            } else {
                let mut scaled = TraceData::clone(trace);
                for offset in &mut scaled.offsets {
                    *offset = (*offset as f64 / speedup) as Nanos;
                }
                Arc::new(scaled)
            };
            let last = process.offsets.last().copied().unwrap_or(0);
            if last >= duration && !truncate {
                let inside = process.offsets.partition_point(|&o| o < duration);
                return fail(
                    path.join("file"),
                    format!(
                        "the trace runs to {} s but duration is {} s: only {inside} of its {} requests would be replayed; \
                         lengthen duration, raise speedup, set truncate = true to replay only what fits, or set \
                         timestamp_unit if its numbers are not seconds",
                        crate::units::nanos_to_secs(last),
                        crate::units::nanos_to_secs(duration),
                        process.offsets.len()
                    ),
                );
            }
            Process::Trace(process)
        }
        Arrivals::RateTrace { scale, .. } => {
            if !(scale.is_finite() && *scale >= 0.0) {
                return fail(path.join("scale"), format!("scale must be zero or more, got {scale}"));
            }
            let Some(series) = trace_key(arrivals).and_then(|key| inputs.rate_series.get(&key)) else {
                return fail(path.join("file"), "rate series was not loaded");
            };
            let points: Vec<(f64, f64)> =
                series.iter().map(|&(seconds, per_second)| (seconds * 1e9, per_second * scale / 1e9)).collect();
            if points.iter().all(|&(_, rate)| rate == 0.0) {
                return fail(path.join("file"), "every rate in the series is zero");
            }
            Process::schedule(points)
        }
    })
}
