//! Checks shared by every part of the builder: limits, positive values, rates, distributions.

use super::error::{fail, ScenarioError};
use crate::dist::Sampler;
use crate::scenario::{Dist, KeyPath};
use crate::units::{Nanos, NANOS_PER_SEC};

/// Sizes beyond these are typos, not plans, and would exhaust memory before the run starts.
pub(super) const MAX_REPLICAS: u32 = 100_000;
/// Regions: the RTT matrix grows with their square.
pub(super) const MAX_REGIONS: usize = 1_000;
/// Named endpoints: each multiplies the engine's per-region state.
pub(super) const MAX_ENDPOINTS: usize = 200;
/// Model instances one deployment may hold at its largest (replica slots × instances per
/// replica): each is allocated at start.
pub(super) const MAX_DEPLOYMENT_INSTANCES: u64 = 1_000_000;
/// Shortest controller, probe and fault period: anything shorter schedules more events than the
/// traffic does and stalls the run without telling anything more.
pub(super) const MIN_PERIOD: crate::units::Nanos = 1_000_000;
pub(super) const MAX_BATCH: u32 = 65_536;
pub(super) const MAX_INSTANCES: u32 = 1_024;
pub(super) const MAX_CPU_WORKERS: u32 = 100_000;
/// Time-series rows a run may write (duration / interval).
pub(super) const MAX_INTERVALS: u64 = 1_000_000;
/// Requests a run may simulate: about an hour of computing on one core.
pub(super) const MAX_EXPECTED_REQUESTS: f64 = 1e10;

pub(super) fn positive_finite(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

pub(super) fn check_rate(path: KeyPath, rate: crate::units::Rate, allow_zero: bool) -> Result<f64, ScenarioError> {
    let per_sec = rate.per_sec();
    if !per_sec.is_finite() || per_sec < 0.0 || (!allow_zero && per_sec == 0.0) {
        let need = if allow_zero { "zero or positive" } else { "positive" };
        return fail(path, format!("rate must be {need}, got {per_sec}/s"));
    }
    Ok(per_sec / NANOS_PER_SEC)
}

pub(super) fn check_cv(path: KeyPath, cv: f64) -> Result<(), ScenarioError> {
    if !cv.is_finite() || cv < 0.0 {
        return fail(path, format!("cv (coefficient of variation) must be zero or positive, got {cv}"));
    }
    Ok(())
}

pub(super) fn check_positive(path: KeyPath, what: &str, value: Nanos) -> Result<f64, ScenarioError> {
    if value == 0 {
        return fail(path, format!("{what} must be greater than zero"));
    }
    Ok(value as f64)
}

/// A distribution for per-request overhead (tables are for batches only).
/// Longest time a distribution or latency table may give: a day. Longer is a unit typo, and a
/// run would spend its drain waiting on it.
pub(super) const MAX_DELAY: Nanos = 86_400 * 1_000_000_000;

/// `nanos`, once it is at most [`MAX_DELAY`].
pub(super) fn check_delay(path: KeyPath, name: &str, nanos: Nanos) -> Result<Nanos, ScenarioError> {
    if nanos > MAX_DELAY {
        return fail(path, format!("{name} is {} s, over the one-day limit for a delay", nanos as f64 / 1e9));
    }
    Ok(nanos)
}

/// A latency-table entry in nanoseconds: positive, finite and at most [`MAX_DELAY`].
pub(super) fn valid_latency(nanos: f64) -> bool {
    positive_finite(nanos) && nanos <= MAX_DELAY as f64
}

/// Most parts a mixture may have.
const MAX_MIXTURE_PARTS: usize = 16;

pub(super) fn sampler(path: &KeyPath, dist: &Dist) -> Result<Sampler, ScenarioError> {
    let mean = |mean: &crate::units::Duration| -> Result<f64, ScenarioError> {
        check_delay(path.join("mean"), "mean", mean.nanos())?;
        check_positive(path.join("mean"), "mean", mean.nanos())
    };
    Ok(match dist {
        Dist::Constant { value } => Sampler::constant(check_delay(path.join("value"), "value", value.nanos())?),
        Dist::Exponential { mean: m } => Sampler::exponential(mean(m)?),
        Dist::Lognormal { mean: m, cv } => {
            check_cv(path.join("cv"), *cv)?;
            Sampler::lognormal(mean(m)?, *cv)
        }
        Dist::Gamma { mean: m, cv } => {
            check_cv(path.join("cv"), *cv)?;
            Sampler::gamma(mean(m)?, *cv)
        }
        Dist::Uniform { min, max } => {
            if min > max {
                return fail(path.join("min"), format!("min ({min}) is greater than max ({max})"));
            }
            Sampler::uniform(min.nanos(), check_delay(path.join("max"), "max", max.nanos())?)
        }
        Dist::Empirical { samples } => {
            if samples.is_empty() {
                return fail(path.join("samples"), "empirical distribution needs at least one sample");
            }
            for (i, sample) in samples.iter().enumerate() {
                check_delay(path.join("samples").join(i), "a sample", sample.nanos())?;
            }
            Sampler::empirical(samples.iter().map(|d| d.nanos()).collect())
        }
        Dist::Mixture { parts } => {
            if parts.is_empty() || parts.len() > MAX_MIXTURE_PARTS {
                return fail(path.join("parts"), format!("a mixture needs 1 to {MAX_MIXTURE_PARTS} parts"));
            }
            let mut samplers = Vec::with_capacity(parts.len());
            for (i, part) in parts.iter().enumerate() {
                let at = path.join("parts").join(i);
                if !(part.weight.is_finite() && part.weight > 0.0 && part.weight <= 1e6) {
                    return fail(at.join("weight"), "a part's weight must be above 0 and at most 1e6");
                }
                if matches!(part.dist, Dist::Mixture { .. }) {
                    return fail(
                        at.join("dist").join("kind"),
                        "a mixture's parts are simple distributions, not mixtures",
                    );
                }
                samplers.push((part.weight, sampler(&at.join("dist"), &part.dist)?));
            }
            Sampler::mixture(samplers)
        }
        Dist::Table { .. } | Dist::Model { .. } => {
            return fail(
                path.join("kind"),
                "batch latency tables and models only describe batch service times; use a distribution here",
            )
        }
    })
}

/// Longest sequence a model table is computed for (BERT-class encoders stop at 512; decoders go
/// further).
pub(super) const MAX_SEQ: u32 = 1 << 20;

pub(super) fn check_seqs(path: &KeyPath, seq: u32, seq_buckets: &[u32]) -> Result<(), ScenarioError> {
    if seq == 0 || seq > MAX_SEQ {
        return fail(path.join("seq"), format!("seq must be between 1 and {MAX_SEQ}, got {seq}"));
    }
    if seq_buckets.len() > 64 {
        return fail(path.join("seq_buckets"), "at most 64 sequence-length buckets");
    }
    for (i, &bucket) in seq_buckets.iter().enumerate() {
        if bucket == 0 || bucket > MAX_SEQ || (i > 0 && bucket <= seq_buckets[i - 1]) {
            return fail(
                path.join("seq_buckets"),
                format!("buckets must increase strictly and lie between 1 and {MAX_SEQ}; got {seq_buckets:?}"),
            );
        }
    }
    Ok(())
}
