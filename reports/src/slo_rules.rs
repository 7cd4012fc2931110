//! Prometheus rules for an online plan (`deploy/monitoring/slo-rules.yaml`): per endpoint, the
//! error ratio of every SLI over each alert window as recording rules and the multi-window,
//! multi-burn-rate alerts on them (`sim::monitor`'s, which the run evaluated); per deployment,
//! saturation alerts (queue depth, replicas at their maximum, breaker open, fallback rate).
//!
//! Metric names are those the deployment exports:
//! - the SLIs read the endpoint's clients' OpenTelemetry HTTP client histogram
//!   (`http.client.request.duration`, exported to Prometheus as
//!   `http_client_request_duration_seconds_{bucket,count}` with `server_address` and
//!   `error_type`): it sees what the SLO is about — errors and latency as clients see them,
//!   including the network and a region that is down, which the server's own counters cannot;
//! - queue depth: Triton's `nv_inference_pending_request_count`, vLLM's `vllm:num_requests_waiting`,
//!   with the `service` label a ServiceMonitor adds;
//! - replicas: kube-state-metrics' HPA series; breaker and fallbacks: resilience4j's Micrometer
//!   metrics (`resilience4j_circuitbreaker_state`, `…_not_permitted_calls_total`,
//!   `…_calls_seconds_count`).

use crate::kubernetes::{dns_name, document, list, map, text};
use sim::model::Model;
use sim::monitor::{alert_name, camel_case, duration_label, BurnRateModel, SliKind, SliModel};
use sim::units::nanos_to_secs;
use yaml_rust2::Yaml;

/// The gauge the drift monitor (an Evidently or Arize job, not servesim) must export per window:
/// the PSI, or the KS test's p-value, of the last window's logged predictions.
pub const DRIFT_METRIC: &str = "ml_prediction_drift_score";

/// The name clients call an endpoint by (`server_address`): the scenario's, or scenario-endpoint.
pub fn service_name(scenario: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        None => dns_name(scenario),
        Some(endpoint) => dns_name(&format!("{scenario}-{endpoint}")),
    }
}

/// A latency target's bucket bound as the Prometheus exporters write `le`: seconds, shortest form.
pub fn bucket_bound(max: sim::units::Nanos) -> String {
    format!("{}", nanos_to_secs(max))
}

/// `slo:sli_error:ratio_rate5m`: a recorded error ratio's name for a window.
pub fn ratio_record(window: sim::units::Nanos) -> String {
    format!("slo:sli_error:ratio_rate{}", duration_label(window))
}

/// The PromQL of an SLI's error ratio over `window`.
pub fn sli_ratio(service: &str, sli: &SliModel, window: sim::units::Nanos) -> String {
    let w = duration_label(window);
    let count = format!("http_client_request_duration_seconds_count{{server_address=\"{service}\"}}");
    let all = format!("sum(rate({count}[{w}]))");
    match sli.kind {
        SliKind::Availability => format!(
            "sum(rate(http_client_request_duration_seconds_count{{server_address=\"{service}\", error_type!=\"\"}}[{w}])) / {all}"
        ),
        SliKind::Latency { max, .. } => format!(
            "1 - sum(rate(http_client_request_duration_seconds_bucket{{server_address=\"{service}\", error_type=\"\", le=\"{}\"}}[{w}])) / {all}",
            bucket_bound(max)
        ),
    }
}

fn labels(service: &str, sli: &SliModel) -> Yaml {
    map([("service", text(service)), ("slo", text(sli.name()))])
}

fn selector(service: &str, sli: &SliModel) -> String {
    format!("{{service=\"{service}\", slo=\"{}\"}}", sli.name())
}

fn burn_alert(endpoint: &str, service: &str, sli: &SliModel, alert: &BurnRateModel) -> Yaml {
    let threshold = alert.burn_rate * sli.budget;
    // The threshold's shortest decimal form: 14.4 × 0.001 is written 0.0144, not 0.014400000000000001.
    let threshold_text = format!("{}", (threshold * 1e12).round() / 1e12);
    let condition = |window| format!("{}{} > {threshold_text}", ratio_record(window), selector(service, sli));
    let what = match sli.kind {
        SliKind::Availability => "errors".to_string(),
        SliKind::Latency { max, .. } => format!("requests slower than {} (or failed)", duration_label(max)),
    };
    map([
        ("alert", text(alert_name(endpoint, sli, alert))),
        ("expr", text(format!("{}\n  and\n{}", condition(alert.long), condition(alert.short)))),
        (
            "labels",
            map([
                ("severity", text(alert.severity.as_str())),
                ("service", text(service)),
                ("slo", text(sli.name())),
                ("long_window", text(duration_label(alert.long))),
            ]),
        ),
        (
            "annotations",
            map([
                (
                    "summary",
                    text(format!("{service}: {} error budget burning at over {}×", sli.name(), alert.burn_rate)),
                ),
                (
                    "description",
                    text(format!(
                        "Over both the last {} and {}, {what} exceeded {threshold_text} of requests: {}× the \
                         budget of {} the SLO allows. At this pace the budget lasts {:.1} days of a 30-day window.",
                        duration_label(alert.long),
                        duration_label(alert.short),
                        alert.burn_rate,
                        (sli.budget * 1e12).round() / 1e12,
                        30.0 / alert.burn_rate
                    )),
                ),
            ]),
        ),
    ])
}

/// Every window an endpoint's alerts read, shortest first.
fn windows(alerts: &[BurnRateModel]) -> Vec<sim::units::Nanos> {
    let mut windows: Vec<_> = alerts.iter().flat_map(|a| [a.long, a.short]).collect();
    windows.sort_unstable();
    windows.dedup();
    windows
}

fn saturation_alerts(model: &Model, endpoint: usize, rules: &mut Vec<Yaml>) {
    let endpoint_name = model.endpoint_name(endpoint);
    let regions = model.endpoint_regions(endpoint);
    for region in regions {
        let Some(serving) = region.primary.serving.as_deref() else { continue };
        let app = crate::deploy::app_name(&model.name, endpoint_name, &region.name);
        let camel = camel_case(&app);
        let labels = |severity: &str| map([("severity", text(severity)), ("deployment", text(app.as_str()))]);
        let annotations = |summary: String, description: String| {
            map([("summary", text(summary)), ("description", text(description))])
        };
        let (queue_metric, server) = match serving.kind.llm() {
            Some(_) => ("vllm:num_requests_waiting", "vLLM"),
            None => ("nv_inference_pending_request_count", "Triton"),
        };
        let half = (serving.queue_capacity / 2).max(1);
        rules.push(map([
            ("alert", text(format!("{camel}QueueDeep"))),
            ("expr", text(format!("avg(sum by (pod) ({queue_metric}{{service=\"{app}\"}})) > {half}"))),
            ("for", text("5m")),
            ("labels", labels("warning")),
            (
                "annotations",
                annotations(
                    format!("{app}: requests queue deeper than half the queue's capacity"),
                    format!(
                        "{server}'s pending requests per pod averaged over {half} (queue capacity {}) for 5 minutes: \
                         requests are about to be dropped.",
                        serving.queue_capacity
                    ),
                ),
            ),
        ]));
        if let Some(autoscaling) = &region.primary.autoscaling {
            let hpa = format!("horizontalpodautoscaler=\"{app}\"");
            rules.push(map([
                ("alert", text(format!("{camel}AtMaxReplicas"))),
                (
                    "expr",
                    text(format!(
                        "kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}} >= kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}}"
                    )),
                ),
                ("for", text("15m")),
                ("labels", labels("warning")),
                (
                    "annotations",
                    annotations(
                        format!("{app}: at its maximum of {} replicas", autoscaling.max_replicas),
                        "The autoscaler wants more replicas than it may have: more load will queue.".to_string(),
                    ),
                ),
            ]));
        }
        if serving.breaker.is_some() {
            rules.push(map([
                ("alert", text(format!("{camel}CircuitBreakerOpen"))),
                (
                    "expr",
                    text(format!("max(resilience4j_circuitbreaker_state{{name=\"{app}\", state=\"open\"}}) == 1")),
                ),
                ("for", text("1m")),
                ("labels", labels("warning")),
                (
                    "annotations",
                    annotations(
                        format!("{app}: circuit breaker open"),
                        "Calls to the model are refused and answered by the fallback (degraded).".to_string(),
                    ),
                ),
            ]));
            if serving.fallback.is_some() {
                let rate = |selector: &str, metric: &str| format!("sum(rate({metric}{{{selector}}}[5m]))");
                let name = format!("name=\"{app}\"");
                let fell_back = format!(
                    "({} + {})",
                    rate(&name, "resilience4j_circuitbreaker_not_permitted_calls_total"),
                    rate(&format!("{name}, kind=\"failed\""), "resilience4j_circuitbreaker_calls_seconds_count")
                );
                let calls = format!(
                    "({} + {})",
                    rate(&name, "resilience4j_circuitbreaker_not_permitted_calls_total"),
                    rate(&name, "resilience4j_circuitbreaker_calls_seconds_count")
                );
                rules.push(map([
                    ("alert", text(format!("{camel}FallbackRateHigh"))),
                    ("expr", text(format!("{fell_back} / {calls} > 0.05"))),
                    ("for", text("5m")),
                    ("labels", labels("warning")),
                    (
                        "annotations",
                        annotations(
                            format!("{app}: over 5% of answers come from the fallback"),
                            "Failed or refused model calls answered by the fallback: users get degraded answers."
                                .to_string(),
                        ),
                    ),
                ]));
            }
        }
    }
}

/// The rule file, or None when the plan has nothing online to watch.
pub fn render(model: &Model) -> Option<String> {
    let monitoring = &model.monitoring;
    let endpoints = 1 + model.endpoints.len();
    let mut groups = Vec::new();
    let interval = duration_label(monitoring.evaluation);
    for endpoint in 0..endpoints {
        let slis: Vec<&SliModel> = monitoring.slis.iter().filter(|s| s.endpoint == endpoint).collect();
        let service = service_name(&model.name, model.endpoint_name(endpoint));
        let name = model.endpoint_key(endpoint);
        let mut rules = Vec::new();
        for sli in &slis {
            for window in windows(&monitoring.alerts) {
                rules.push(map([
                    ("record", text(ratio_record(window))),
                    ("expr", text(sli_ratio(&service, sli, window))),
                    ("labels", labels(&service, sli)),
                ]));
            }
        }
        for sli in &slis {
            for alert in &monitoring.alerts {
                rules.push(burn_alert(name, &service, sli, alert));
            }
        }
        if !rules.is_empty() {
            groups.push(map([
                ("name", text(format!("servesim-slo-{service}"))),
                ("interval", text(interval.as_str())),
                ("rules", list(rules)),
            ]));
        }
        let mut saturation = Vec::new();
        saturation_alerts(model, endpoint, &mut saturation);
        if let (0, Some(drift)) = (endpoint, &model.monitoring.drift) {
            let (comparison, what) = match drift.test {
                sim::drift::DriftTest::Psi { .. } => (">", "the PSI of the last window's logged predictions"),
                sim::drift::DriftTest::Ks => ("<", "the KS p-value of the last window's logged predictions"),
            };
            saturation.push(map([
                ("alert", text(format!("{}PredictionDrift", camel_case(&service)))),
                ("expr", text(format!("max({DRIFT_METRIC}{{service=\"{service}\"}}) {comparison} {}", drift.threshold))),
                ("labels", map([("severity", text("ticket")), ("service", text(service.as_str()))])),
                (
                    "annotations",
                    map([
                        ("summary", text(format!("{service}: prediction drift"))),
                        (
                            "description",
                            text(format!(
                                "{what} crossed {} ({DRIFT_METRIC}, exported by the drift job). servesim sized this \
                                 monitor: summary.json's monitoring.drift has its false alarms per day and detection delay.",
                                drift.threshold
                            )),
                        ),
                    ]),
                ),
            ]));
        }
        if !saturation.is_empty() {
            groups.push(map([
                ("name", text(format!("servesim-saturation-{service}"))),
                ("interval", text(interval.as_str())),
                ("rules", list(saturation)),
            ]));
        }
    }
    if groups.is_empty() {
        return None;
    }
    let comments = format!(
        "Prometheus rules for {:?} from servesim's plan: SLO burn-rate alerts (Google SRE workbook, multiwindow \
         multi-burn-rate) and saturation alerts.\n\
         SLIs read the clients' OpenTelemetry HTTP client histogram (http_client_request_duration_seconds, \
         server_address = the endpoint's name); its buckets must include each latency target's bound (le).\n\
         servesim evaluated these alerts on the simulated run: summary.json's monitoring section says when they fired.",
        model.name
    );
    Some(document(&comments, &map([("groups", list(groups))])))
}
