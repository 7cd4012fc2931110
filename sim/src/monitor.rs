//! SLO monitoring as Prometheus does it: the service-level indicators each endpoint's SLO implies,
//! the multi-window burn-rate alerts on them (the rules `reports::alerts` writes as PromQL), and
//! their evaluation on a run's scraped counters, with Prometheus' own `rate()` arithmetic, so that
//! a run says when each alert would have fired.
//!
//! Every endpoint's clients count their requests as cumulative counters (what an OpenTelemetry
//! HTTP client histogram exports): all requests, errors (failed, dropped, timed out), and for each
//! latency target the requests not answered within it (errors included: servesim's latency SLO is
//! over offered requests). The engine samples them every scrape interval; nothing is counted per
//! event beyond a few additions per answer.

use crate::units::{nanos_to_secs, Nanos};

/// What the engine counts and how alerts read it (`model::build` makes it from the SLOs).
#[derive(Clone, Debug, Default)]
pub struct MonitoringModel {
    pub scrape: Nanos,
    pub evaluation: Nanos,
    pub alerts: Vec<BurnRateModel>,
    /// One per availability or latency target of every endpoint.
    pub slis: Vec<SliModel>,
    /// Per endpoint: where its counters start in a scrape's row (`COUNTERS_BEFORE_TARGETS` then
    /// one per latency target), and its latency targets' maxima.
    pub endpoints: Vec<EndpointCounters>,
    /// Counters in one scrape's row, every endpoint's.
    pub width: usize,
    /// SLIs left without alerts, and why (a target too loose for the default burn rates).
    pub not_alerted: Vec<String>,
    /// A prediction-drift monitor on the main endpoint's answers.
    pub drift: Option<crate::drift::DriftModel>,
}

#[derive(Clone, Debug, Default)]
pub struct EndpointCounters {
    pub first: usize,
    pub latency_max: Vec<Nanos>,
}

/// Per endpoint, before its latency targets' counters: requests, then errors.
pub const COUNTERS_BEFORE_TARGETS: usize = 2;

impl MonitoringModel {
    /// Whether anything is watched (an SLO with availability or latency targets).
    pub fn is_on(&self) -> bool {
        !self.slis.is_empty() || self.drift.is_some()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BurnRateModel {
    pub long: Nanos,
    pub short: Nanos,
    pub burn_rate: f64,
    pub severity: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SliKind {
    Availability,
    Latency { percentile: f64, max: Nanos },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SliModel {
    pub endpoint: usize,
    pub kind: SliKind,
    /// The share of requests the SLO allows to be bad: 1 − availability, or 1 − percentile/100.
    pub budget: f64,
    /// Counter of bad requests in a scrape's row; requests are at the endpoint's `first`.
    pub bad: usize,
    pub total: usize,
}

impl SliModel {
    /// A short stable name: `availability` or `latency-p99-100ms`.
    pub fn name(&self) -> String {
        match self.kind {
            SliKind::Availability => "availability".into(),
            SliKind::Latency { percentile, max } => {
                format!("latency-p{}-{}", number_label(percentile), duration_label(max))
            }
        }
    }
}

/// `99`, `99.9`: a percentile as a label.
fn number_label(value: f64) -> String {
    let text = format!("{value}");
    text.replace('.', "_")
}

/// `100ms`, `1s`, `250us`: a duration as a label (the largest unit that divides it).
pub fn duration_label(nanos: Nanos) -> String {
    for (unit, size) in [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ] {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    if nanos.is_multiple_of(1000) {
        format!("{}us", nanos / 1000)
    } else {
        format!("{nanos}ns")
    }
}

/// Prometheus' `rate()` of a counter sampled at `samples` (time, value), over the range
/// `[end − window, end]` (Prometheus 2's closed range), extrapolated as `extrapolatedRate` does;
/// None with fewer than two samples in the range.
pub fn prometheus_rate(samples: &[(Nanos, f64)], end: Nanos, window: Nanos) -> Option<f64> {
    // The range may begin before time 0 (Prometheus' timestamps are signed).
    let start = end as i128 - window as i128;
    let first = samples.partition_point(|s| (s.0 as i128) < start);
    let last = samples.partition_point(|s| s.0 <= end);
    if last < first + 2 {
        return None;
    }
    let (first_t, first_v) = samples[first];
    let (last_t, last_v) = samples[last - 1];
    let secs = |n: Nanos| nanos_to_secs(n);
    let sampled = secs(last_t - first_t);
    let result = last_v - first_v;
    let average_gap = sampled / (last - 1 - first) as f64;
    let mut to_start = (first_t as i128 - start) as f64 / 1e9;
    let to_end = secs(end - last_t);
    if result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold { to_start } else { average_gap / 2.0 };
    interval += if to_end < threshold { to_end } else { average_gap / 2.0 };
    Some(result * (interval / sampled) / secs(window))
}

/// The recording rule's value: bad requests' rate ÷ all requests' rate (None when either has no
/// value or nothing was requested, as PromQL gives no sample for 0/0 or missing series).
pub fn error_ratio(bad: &[(Nanos, f64)], total: &[(Nanos, f64)], end: Nanos, window: Nanos) -> Option<f64> {
    let bad = prometheus_rate(bad, end, window)?;
    let total = prometheus_rate(total, end, window)?;
    (total > 0.0).then_some(bad / total)
}

/// Counters as scraped: row `k` is every endpoint's counters at `k × interval`.
#[derive(Clone, Debug, Default)]
pub struct Scrapes {
    pub interval: Nanos,
    pub width: usize,
    pub values: Vec<u64>,
}

impl Scrapes {
    /// One counter's samples as (time, value).
    pub fn series(&self, counter: usize) -> Vec<(Nanos, f64)> {
        if self.width == 0 {
            return Vec::new();
        }
        self.values
            .chunks_exact(self.width)
            .enumerate()
            .map(|(k, row)| (k as Nanos * self.interval, row[counter] as f64))
            .collect()
    }
}

/// One fault's effect in a run: from when it struck to when it was repaired or ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultOccurrence {
    /// Its index in the scenario's `[[faults]]`.
    pub fault: usize,
    pub start: Nanos,
    pub end: Nanos,
}

/// When one alert fired, from its first firing evaluation to the evaluation it stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub start: Nanos,
    /// The first evaluation no longer firing (the last evaluation's time when still firing then).
    pub end: Nanos,
}

/// An alert over one SLI: its firing episodes when evaluated every `evaluation` up to `until`.
pub fn evaluate(
    alert: &BurnRateModel,
    sli: &SliModel,
    bad: &[(Nanos, f64)],
    total: &[(Nanos, f64)],
    evaluation: Nanos,
    until: Nanos,
) -> Vec<Episode> {
    let threshold = alert.burn_rate * sli.budget;
    let mut episodes = Vec::new();
    let mut firing_since: Option<Nanos> = None;
    let mut t = 0;
    while t <= until {
        let over = |window| error_ratio(bad, total, t, window).is_some_and(|r| r > threshold);
        let firing = over(alert.long) && over(alert.short);
        match (firing, firing_since) {
            (true, None) => firing_since = Some(t),
            (false, Some(start)) => {
                episodes.push(Episode { start, end: t });
                firing_since = None;
            }
            _ => {}
        }
        t += evaluation;
    }
    if let Some(start) = firing_since {
        episodes.push(Episode { start, end: t - evaluation });
    }
    episodes
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn rate_of_a_steady_counter_is_its_slope() {
        // 10/s sampled every 30 s: rate over 5 min is 10 whatever the alignment.
        let samples: Vec<(Nanos, f64)> = (0..=40).map(|k| (k * 30 * S, 300.0 * k as f64)).collect();
        for end in [600 * S, 615 * S, 1200 * S] {
            let r = prometheus_rate(&samples, end, 300 * S).unwrap();
            assert!((r - 10.0).abs() < 1e-9, "{r} at {end}");
        }
        assert_eq!(prometheus_rate(&samples[..1], 0, 300 * S), None);
    }

    #[test]
    fn rate_extrapolates_no_further_than_zero() {
        // Samples 0, 30, 60 s: 0, 30, 60 requests; window [−240 s, 60 s]: the counter is zero at
        // its first sample, so nothing is extrapolated before it (nor after the last, at the
        // end): 60 requests over the 300 s window.
        let samples = [(0, 0.0), (30 * S, 30.0), (60 * S, 60.0)];
        let r = prometheus_rate(&samples, 60 * S, 300 * S).unwrap();
        assert!((r - 60.0 / 300.0).abs() < 1e-12, "{r}");
        // Starting at 15 instead: zero is 15 s before the first sample, past the 33 s threshold
        // (1.1 × the 30 s gap)? No: 15 < 33, so 15 s are added: 60 over 75 s of 300.
        let later = [(0, 15.0), (30 * S, 45.0), (60 * S, 75.0)];
        let r = prometheus_rate(&later, 60 * S, 300 * S).unwrap();
        assert!((r - 60.0 * (75.0 / 60.0) / 300.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn labels_name_targets_plainly() {
        assert_eq!(duration_label(100_000_000), "100ms");
        assert_eq!(duration_label(2 * S), "2s");
        assert_eq!(duration_label(90 * S), "90s");
        assert_eq!(duration_label(1_500), "1500ns");
        assert_eq!(number_label(99.9), "99_9");
    }
}

/// `summary.json`'s `monitoring`: every burn-rate alert on every SLI, when it fired, how long
/// after each fault, and how often with no fault to explain it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct MonitoringSummary {
    pub scrape_interval_s: f64,
    pub evaluation_interval_s: f64,
    pub alerts: Vec<AlertSummary>,
    /// SLIs with no burn-rate alert, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_alerted: Vec<String>,
    /// The prediction-drift monitor (`[monitoring.drift]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::DriftSummary>,
}

/// Which alert: its name and rule, as `summary.json` names it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AlertRule {
    /// The Prometheus alert's name (`reports::slo_rules` writes the rule under it).
    pub alert: String,
    /// `main` or the endpoint's name.
    pub endpoint: String,
    pub sli: String,
    pub severity: String,
    pub long_window_s: f64,
    pub short_window_s: f64,
    pub burn_rate: f64,
    /// The error ratio both windows must exceed: burn rate × error budget.
    pub threshold: f64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AlertSummary {
    #[serde(flatten)]
    pub rule: AlertRule,
    pub firing: Vec<FiringSummary>,
    /// Per fault that struck: how long after it began the alert fired (null: it did not, while
    /// the fault lasted or within one long window after).
    pub detections: Vec<Detection>,
    /// Firing episodes that began with no fault under way (nor one long window after one): false
    /// alarms, or a burn the run had without a fault (overload, a cold start).
    pub unexplained: u32,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct FiringSummary {
    pub start_s: f64,
    pub end_s: f64,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Detection {
    /// Its index in `[[faults]]`.
    pub fault: usize,
    pub fault_start_s: f64,
    pub detected_after_s: Option<f64>,
}

/// `text` as an alert-name part: its ASCII words capitalised and joined (`sentiment-api` →
/// `SentimentApi`); every alert servesim writes is named through it.
pub fn camel_case(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect()
}

/// The alert's Prometheus name: `{Endpoint}{Sli}BudgetBurn{long window}`, e.g.
/// `MainAvailabilityBudgetBurn1h`.
pub fn alert_name(endpoint: &str, sli: &SliModel, alert: &BurnRateModel) -> String {
    format!("{}{}BudgetBurn{}", camel_case(endpoint), camel_case(&sli.name()), duration_label(alert.long))
}

/// Every alert evaluated over the run's scrapes up to `until` (the end of traffic).
pub fn summarize(
    model: &MonitoringModel,
    endpoint_names: &[&str],
    scrapes: &Scrapes,
    faults: &[FaultOccurrence],
    until: Nanos,
) -> Option<MonitoringSummary> {
    if !model.is_on() && model.not_alerted.is_empty() {
        return None;
    }
    let mut alerts = Vec::new();
    for sli in &model.slis {
        let (bad, total) = (scrapes.series(sli.bad), scrapes.series(sli.total));
        for alert in &model.alerts {
            let episodes = evaluate(alert, sli, &bad, &total, model.evaluation, until);
            let explains =
                |f: &FaultOccurrence, e: &Episode| (f.start..=f.end.saturating_add(alert.long)).contains(&e.start);
            let detections = faults
                .iter()
                .map(|f| Detection {
                    fault: f.fault,
                    fault_start_s: nanos_to_secs(f.start),
                    detected_after_s: episodes
                        .iter()
                        .find(|e| explains(f, e))
                        .map(|e| nanos_to_secs(e.start - f.start)),
                })
                .collect();
            let unexplained = episodes.iter().filter(|e| !faults.iter().any(|f| explains(f, e))).count() as u32;
            alerts.push(AlertSummary {
                rule: AlertRule {
                    alert: alert_name(endpoint_names[sli.endpoint], sli, alert),
                    endpoint: endpoint_names[sli.endpoint].to_string(),
                    sli: sli.name(),
                    severity: alert.severity.clone(),
                    long_window_s: nanos_to_secs(alert.long),
                    short_window_s: nanos_to_secs(alert.short),
                    burn_rate: alert.burn_rate,
                    threshold: alert.burn_rate * sli.budget,
                },
                firing: episodes
                    .iter()
                    .map(|e| FiringSummary { start_s: nanos_to_secs(e.start), end_s: nanos_to_secs(e.end) })
                    .collect(),
                detections,
                unexplained,
            });
        }
    }
    Some(MonitoringSummary {
        scrape_interval_s: nanos_to_secs(model.scrape),
        evaluation_interval_s: nanos_to_secs(model.evaluation),
        alerts,
        not_alerted: model.not_alerted.clone(),
        drift: None,
    })
}

/// The main endpoint's answers (requests − errors) in each whole window of `window` from time 0,
/// from its scraped counters (`window` a multiple of the scrape interval).
pub fn answers_per_window(model: &MonitoringModel, scrapes: &Scrapes, window: Nanos) -> Vec<u64> {
    let Some(main) = model.endpoints.first() else { return Vec::new() };
    let (requests, errors) = (scrapes.series(main.first), scrapes.series(main.first + 1));
    let answered: Vec<f64> = requests.iter().zip(&errors).map(|(r, e)| r.1 - e.1).collect();
    let step = (window / scrapes.interval.max(1)) as usize;
    if step == 0 {
        return Vec::new();
    }
    (0..)
        .map(|w| (w * step, (w + 1) * step))
        .take_while(|&(_, end)| end < answered.len())
        .map(|(start, end)| (answered[end] - answered[start]) as u64)
        .collect()
}
