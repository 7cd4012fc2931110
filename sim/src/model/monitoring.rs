//! `[monitoring]` → `monitor::MonitoringModel`: the counters every served endpoint's SLO needs and
//! the burn-rate alerts on them, refused where an alert could never fire or Prometheus could not
//! compute it.

use super::error::{fail, ScenarioError};
use super::{EndpointModel, RegionModel, SloModel};
use crate::drift::{DriftModel, DriftTest};
use crate::monitor::{BurnRateModel, EndpointCounters, MonitoringModel, SliKind, SliModel, COUNTERS_BEFORE_TARGETS};
use crate::path;
use crate::scenario::monitoring::{Drift, DriftTest as DriftTestAsWritten, Monitoring};
use crate::scenario::KeyPath;
use crate::units::Nanos;

/// Longest alert window: Prometheus keeps 15 days by default, and SLOs are set over 28–30.
const MAX_WINDOW: Nanos = 30 * 86_400 * 1_000_000_000;
/// Scrapes a run may keep (duration ÷ scrape interval).
const MAX_SCRAPES: u64 = 1_000_000;

fn build_drift(given: &Drift, scrape: Nanos, duration: Nanos) -> Result<DriftModel, ScenarioError> {
    let at = path!["monitoring", "drift"];
    if !(given.sample > 0.0 && given.sample <= 1.0) {
        return fail(at.join("sample"), format!("sample is a share in (0, 1], e.g. 0.01; got {}", given.sample));
    }
    let window = given.window.nanos();
    if window == 0 || !window.is_multiple_of(scrape) {
        return fail(
            at.join("window"),
            format!(
                "window ({}) must be a whole number of scrape intervals ({}): the monitor counts the logged predictions per scrape",
                given.window,
                crate::units::Duration(scrape)
            ),
        );
    }
    if window > duration {
        return fail(
            at.join("window"),
            format!("window ({}) is longer than duration: no window would end", given.window),
        );
    }
    if duration / window > 10_000 {
        return fail(
            at.join("window"),
            format!("window gives {} windows over duration; at most 10000", duration / window),
        );
    }
    let test = match given.test {
        DriftTestAsWritten::Psi => {
            if !(2..=1000).contains(&given.bins) {
                return fail(at.join("bins"), format!("bins must be between 2 and 1000, got {}", given.bins));
            }
            if !(given.threshold.is_finite() && given.threshold > 0.0) {
                return fail(
                    at.join("threshold"),
                    format!("a PSI threshold is positive (0.1–0.25 are usual), got {}", given.threshold),
                );
            }
            DriftTest::Psi { bins: given.bins }
        }
        DriftTestAsWritten::Ks => {
            if !(given.threshold > 0.0 && given.threshold < 1.0) {
                return fail(
                    at.join("threshold"),
                    format!(
                        "a KS threshold is the p-value below which it alarms, in (0, 1) (e.g. 0.01), got {}",
                        given.threshold
                    ),
                );
            }
            DriftTest::Ks
        }
    };
    if !(1..=10_000).contains(&given.repetitions) {
        return fail(
            at.join("repetitions"),
            format!("repetitions must be between 1 and 10000, got {}", given.repetitions),
        );
    }
    let inject = match &given.inject {
        None => None,
        Some(inject) => {
            if inject.at.nanos() >= duration {
                return fail(
                    at.join("inject").join("at"),
                    format!("the drift starts at {}, after the traffic ends", inject.at),
                );
            }
            if !inject.shift.is_finite() || inject.shift.abs() > 100.0 {
                return fail(
                    at.join("inject").join("shift"),
                    format!("shift is in standard deviations of the score, within ±100; got {}", inject.shift),
                );
            }
            Some((inject.at.nanos(), inject.shift))
        }
    };
    Ok(DriftModel {
        sample: given.sample,
        window,
        test,
        threshold: given.threshold,
        inject,
        repetitions: given.repetitions,
    })
}

pub(super) fn build_monitoring(
    given: Option<&Monitoring>,
    duration: Nanos,
    main: (&[RegionModel], &SloModel),
    endpoints: &[EndpointModel],
) -> Result<MonitoringModel, ScenarioError> {
    let defaults = Monitoring::default();
    let explicit = given.is_some_and(|g| g.burn_rate_alerts != defaults.burn_rate_alerts);
    let given = given.unwrap_or(&defaults);
    let at = path!["monitoring"];
    let scrape = given.scrape_interval.nanos();
    let evaluation = given.evaluation_interval.nanos();
    for (key, value) in [("scrape_interval", scrape), ("evaluation_interval", evaluation)] {
        if value < 1_000_000_000 {
            return fail(at.join(key), format!("{key} must be at least 1s (Prometheus' are 15s–1m), got {value} ns"));
        }
    }
    if duration / scrape > MAX_SCRAPES {
        return fail(
            at.join("scrape_interval"),
            format!("scrape_interval gives {} scrapes over duration; at most {MAX_SCRAPES}", duration / scrape),
        );
    }
    let mut alerts = Vec::new();
    for (i, alert) in given.burn_rate_alerts.iter().enumerate() {
        let at = at.join("burn_rate_alerts").join(i);
        let (long, short) = (alert.long_window.nanos(), alert.short_window.nanos());
        if !(alert.burn_rate.is_finite() && alert.burn_rate > 0.0) {
            return fail(at.join("burn_rate"), format!("burn_rate must be positive, got {}", alert.burn_rate));
        }
        if short >= long {
            return fail(
                at.join("short_window"),
                format!(
                    "short_window ({}) must be shorter than long_window ({})",
                    alert.short_window, alert.long_window
                ),
            );
        }
        if long > MAX_WINDOW {
            return fail(at.join("long_window"), format!("long_window ({}) is over 30 days", alert.long_window));
        }
        // rate() needs two samples in the window.
        if short < 2 * scrape {
            return fail(
                at.join("short_window"),
                format!(
                    "short_window ({}) must hold two scrapes (2 × scrape_interval = {}); rate() gives nothing otherwise",
                    alert.short_window,
                    crate::units::Duration(2 * scrape)
                ),
            );
        }
        if !is_label(&alert.severity) {
            return fail(
                at.join("severity"),
                format!("severity {:?} must be a plain word (a label value)", alert.severity),
            );
        }
        alerts.push(BurnRateModel { long, short, burn_rate: alert.burn_rate, severity: alert.severity.clone() });
    }

    let drift = given.drift.as_ref().map(|d| build_drift(d, scrape, duration)).transpose()?;
    let mut model = MonitoringModel { scrape, evaluation, alerts, drift, ..MonitoringModel::default() };
    let served = std::iter::once((main.0, main.1, path!["slo"]))
        .chain(endpoints.iter().map(|e| (e.regions.as_slice(), &e.slo, path!["endpoints", &e.name, "slo"])));
    for (endpoint, (regions, slo, slo_at)) in served.enumerate() {
        let first = model.width;
        model.width += COUNTERS_BEFORE_TARGETS + slo.latency.len();
        model.endpoints.push(EndpointCounters { first, latency_max: slo.latency.iter().map(|t| t.max).collect() });
        if !regions.iter().any(|r| r.serves()) {
            continue;
        }
        let mut slis = Vec::new();
        if let Some(availability) = slo.availability {
            slis.push(SliModel {
                endpoint,
                kind: SliKind::Availability,
                budget: 1.0 - availability,
                bad: first + 1,
                total: first,
            });
        }
        for (k, target) in slo.latency.iter().enumerate() {
            slis.push(SliModel {
                endpoint,
                kind: SliKind::Latency { percentile: target.percentile, max: target.max },
                budget: 1.0 - target.percentile / 100.0,
                bad: first + COUNTERS_BEFORE_TARGETS + k,
                total: first,
            });
        }
        for sli in slis {
            match (can_fire(&slo_at, &sli, &model.alerts), explicit) {
                (Ok(()), _) => model.slis.push(sli),
                (Err(refused), true) => return Err(refused),
                // Burn-rate alerts suit tight targets; a p50 target's budget of half the requests
                // cannot burn 14.4 times over. Said in the summary, not refused: the user did not
                // ask for these alerts.
                (Err(_), false) => model.not_alerted.push(format!(
                    "{}: the error budget {} is too large for the burn-rate alerts (burn rate × budget ≥ 1)",
                    sli.name(),
                    round(sli.budget)
                )),
            }
        }
    }
    Ok(model)
}

/// An alert whose threshold (burn rate × budget) is 1 or more can never fire: even every request
/// failing is an error ratio of 1. A planner would otherwise ship a silent alert.
fn can_fire(slo_at: &KeyPath, sli: &SliModel, alerts: &[BurnRateModel]) -> Result<(), ScenarioError> {
    for (i, alert) in alerts.iter().enumerate() {
        let threshold = alert.burn_rate * sli.budget;
        if threshold >= 1.0 {
            return fail(
                path!["monitoring", "burn_rate_alerts", i, "burn_rate"],
                format!(
                    "burn_rate {} × the {} SLO's error budget {} (at {slo_at}) = {threshold}: the alert would need \
                     more than every request to fail and could never fire; lower burn_rate or tighten the SLO",
                    alert.burn_rate,
                    sli.name(),
                    round(sli.budget)
                ),
            );
        }
    }
    Ok(())
}

fn round(value: f64) -> f64 {
    (value * 1e9).round() / 1e9
}

fn is_label(value: &str) -> bool {
    !value.is_empty() && value.len() <= 63 && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
