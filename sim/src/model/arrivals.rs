//! A traffic source's `arrivals` → the arrival [`Process`] the engine draws from.

use super::checks::{check_positive, check_rate, positive_finite};
use super::error::{fail, ScenarioError};
use super::inputs::{trace_key, Inputs};
use crate::scenario::{Arrivals, KeyPath, TimeUnit};
use crate::traffic::{Process, TraceData};
use crate::units::Nanos;
use std::sync::Arc;

/// `duration`: the run's length, which a replayed trace must fit unless it asks to be truncated;
/// `warmup`: the unmeasured start, which a trace or rate series must outlast.
pub(super) fn process(
    path: &KeyPath,
    arrivals: &Arrivals,
    inputs: &Inputs,
    duration: Nanos,
    warmup: Nanos,
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
        Arrivals::Trace { speedup, truncate, timestamp_unit, .. } => {
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
            if let Some(message) = too_short(last as f64, duration, warmup, *timestamp_unit, Replayed::Trace) {
                return fail(path.join("file"), message);
            }
            Process::Trace(process)
        }
        Arrivals::RateTrace { scale, timestamp_unit, .. } => {
            if !(scale.is_finite() && *scale >= 0.0) {
                return fail(path.join("scale"), format!("scale must be zero or more, got {scale}"));
            }
            let Some(series) = trace_key(arrivals).and_then(|key| inputs.rate_series.get(&key)) else {
                return fail(path.join("file"), "rate series was not loaded");
            };
            let span = series.last().map_or(0.0, |&(seconds, _)| seconds * 1e9);
            if let Some(message) = too_long(span, duration, *timestamp_unit)
                .or_else(|| too_short(span, duration, warmup, *timestamp_unit, Replayed::RateSeries))
            {
                return fail(path.join("file"), message);
            }
            let points: Vec<(f64, f64)> =
                series.iter().map(|&(seconds, per_second)| (seconds * 1e9, per_second * scale / 1e9)).collect();
            if points.iter().all(|&(_, rate)| rate == 0.0) {
                return fail(path.join("file"), "every rate in the series is zero");
            }
            Process::schedule(points)
        }
    })
}

/// How far apart a file's span and the run's `duration` may be before the file is taken to be in
/// the wrong time unit: two orders of magnitude.
const UNIT_MISMATCH: f64 = 100.0;

/// The other `timestamp_unit` under which numbers spanning `span` nanoseconds (read in `unit`)
/// would come closest to `duration`, when it brings them within [`UNIT_MISMATCH`] of it.
fn fitting_unit(span: f64, duration: Nanos, unit: TimeUnit) -> Option<(TimeUnit, f64)> {
    let raw = span / unit.nanos();
    [TimeUnit::Seconds, TimeUnit::Milliseconds, TimeUnit::Microseconds, TimeUnit::Nanoseconds]
        .into_iter()
        .filter(|&other| other != unit)
        .map(|other| (other, raw * other.nanos()))
        .filter(|&(_, nanos)| nanos > 0.0 && mismatch(nanos, duration as f64) < UNIT_MISMATCH)
        .min_by(|a, b| mismatch(a.1, duration as f64).total_cmp(&mismatch(b.1, duration as f64)))
}

fn mismatch(a: f64, b: f64) -> f64 {
    a.max(b) / a.min(b)
}

fn unit_hint(span: f64, duration: Nanos, unit: TimeUnit) -> String {
    match fitting_unit(span, duration, unit) {
        Some((fits, nanos)) => format!(
            "; if its timestamps are numbers in {}, set timestamp_unit = \"{}\" (it then spans {} s)",
            fits.plural(),
            fits.symbol(),
            crate::units::nanos_to_secs(nanos as Nanos)
        ),
        None => String::new(),
    }
}

/// A rate series spanning orders of magnitude more than the run: almost surely numbers in a
/// smaller unit read as seconds (a thousandth of the load for milliseconds), so it is refused.
fn too_long(span: f64, duration: Nanos, unit: TimeUnit) -> Option<String> {
    (span > UNIT_MISMATCH * duration as f64).then(|| {
        format!(
            "the rate series spans {} s, more than {UNIT_MISMATCH} times duration ({} s): the run would see only its \
             first {:.2}%{}; or shorten the series to the part to simulate",
            crate::units::nanos_to_secs(span as Nanos),
            crate::units::nanos_to_secs(duration),
            100.0 * duration as f64 / span,
            unit_hint(span, duration, unit)
        )
    })
}

/// What a file replays, for the words of [`too_short`].
#[derive(Clone, Copy)]
enum Replayed {
    Trace,
    RateSeries,
}

/// A file whose last row comes inside the warm-up or the first 1/[`UNIT_MISMATCH`] of `duration`:
/// the measured window would hold no traffic from it, or a rate held from its last row that
/// nobody wrote.
fn too_short(span: f64, duration: Nanos, warmup: Nanos, unit: TimeUnit, replayed: Replayed) -> Option<String> {
    let floor = (duration as f64 / UNIT_MISMATCH).max(warmup as f64);
    (span <= floor).then(|| {
        let inside = if warmup as f64 >= duration as f64 / UNIT_MISMATCH {
            format!("inside the warm-up ({} s)", crate::units::nanos_to_secs(warmup))
        } else {
            format!("in the first {}% of duration ({} s)", 100.0 / UNIT_MISMATCH, crate::units::nanos_to_secs(duration))
        };
        let (what, seen, fixes) = match replayed {
            Replayed::Trace => ("trace", "none of its requests", "shorten duration or lower speedup"),
            Replayed::RateSeries => ("rate series", "only its last rate, held", "shorten duration"),
        };
        format!(
            "the {what} ends at {} s, {inside}: the measured window would see {seen}{}; or {fixes}",
            crate::units::nanos_to_secs(span as Nanos),
            unit_hint(span.max(1.0), duration, unit),
        )
    })
}
