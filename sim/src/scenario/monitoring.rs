//! `[monitoring]` as written: how Prometheus would watch the deployment (scrape and evaluation
//! intervals) and the multi-window, multi-burn-rate alerts put on every SLO.

use crate::units::Duration;
use serde::{Deserialize, Serialize};

/// Prometheus' view of the deployment. Absent, it is kube-prometheus-stack's 30 s scrape and
/// evaluation with the SRE workbook's alerts (two that page, one that opens a ticket).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// How often Prometheus samples the counters.
    #[serde(default = "thirty_seconds")]
    pub scrape_interval: Duration,
    /// How often Prometheus evaluates the rules.
    #[serde(default = "thirty_seconds")]
    pub evaluation_interval: Duration,
    /// Burn-rate alerts on every availability and latency target; each fires when the error
    /// budget burns at `burn_rate`× its sustainable pace over both its windows.
    #[serde(default = "workbook_alerts")]
    pub burn_rate_alerts: Vec<BurnRateAlert>,
    /// A prediction-drift monitor to size before deploying one (Evidently- or Arize-style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// A drift monitor: a share of predictions logged, compared window by window with the reference
/// score distribution; and a drift to inject, to see how soon it is caught and how often the
/// monitor cries wolf before.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// Share of answered requests whose prediction is logged for the monitor.
    pub sample: f64,
    /// Each window's logged predictions are tested against the reference (tumbling windows from
    /// time 0; a whole number of `interval`s).
    pub window: crate::units::Duration,
    /// `psi` (population stability index over the reference's quantile bins) or `ks` (one-sample
    /// Kolmogorov–Smirnov against the reference).
    #[serde(default)]
    pub test: DriftTest,
    /// `psi`: alarm when the index exceeds it (0.1–0.25 are usual). `ks`: alarm when the p-value
    /// falls below it (e.g. 0.01).
    pub threshold: f64,
    /// `psi`: bins, each holding an equal share of the reference.
    #[serde(default = "ten")]
    pub bins: u32,
    /// The drift to inject: from `at`, scores shift by `shift` reference standard deviations.
    pub inject: Option<DriftInjection>,
    /// Independent draws of the logged scores over the run's traffic, for the detection delay's
    /// distribution and the false-alarm rate.
    #[serde(default = "hundred")]
    pub repetitions: u32,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftTest {
    #[default]
    Psi,
    Ks,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftInjection {
    pub at: crate::units::Duration,
    pub shift: f64,
}

fn ten() -> u32 {
    10
}

fn hundred() -> u32 {
    100
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            scrape_interval: thirty_seconds(),
            evaluation_interval: thirty_seconds(),
            burn_rate_alerts: workbook_alerts(),
            drift: None,
        }
    }
}

/// One multi-window burn-rate alert (Google SRE workbook, "Alerting on SLOs", table 5-8).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurnRateAlert {
    /// The window whose burn rate says the budget is at risk.
    pub long_window: Duration,
    /// The window that says it is still burning (so the alert resets soon after a fix).
    pub short_window: Duration,
    /// How many times the sustainable pace (error ratio ÷ error budget) both windows must exceed.
    pub burn_rate: f64,
    /// The alert's `severity` label.
    #[serde(default = "page")]
    pub severity: String,
}

fn thirty_seconds() -> Duration {
    Duration(30_000_000_000)
}

fn page() -> String {
    "page".into()
}

/// The workbook's three: 2% of a 30-day budget spent in 1 hour or 5% in 6 hours page; 10% in 3
/// days opens a ticket (a burn a failover contains is often only that).
fn workbook_alerts() -> Vec<BurnRateAlert> {
    let minutes = |m: u64| Duration(m * 60_000_000_000);
    vec![
        BurnRateAlert { long_window: minutes(60), short_window: minutes(5), burn_rate: 14.4, severity: page() },
        BurnRateAlert { long_window: minutes(360), short_window: minutes(30), burn_rate: 6.0, severity: page() },
        BurnRateAlert {
            long_window: minutes(3 * 24 * 60),
            short_window: minutes(360),
            burn_rate: 1.0,
            severity: "ticket".into(),
        },
    ]
}
