//! A Grafana dashboard for an online plan (`deploy/monitoring/grafana-dashboard.json`): per
//! endpoint, request rate, p50/p99, errors and degraded answers, burn rate of every SLI, and per
//! deployment replicas (ready, desired) and queue depth, on the metric names `slo_rules` uses.
//! Importable as is: the Prometheus data source is a dashboard variable.

use crate::slo_rules::{ratio_record, service_name};
use serde_json::{json, Value};
use sim::model::Model;

const PANEL_WIDTH: u64 = 12;
const PANEL_HEIGHT: u64 = 8;

struct Panels {
    panels: Vec<Value>,
}

impl Panels {
    fn row(&mut self, title: &str) {
        let id = self.panels.len() as u64 + 1;
        let y = self.next_y();
        self.panels.push(json!({
            "id": id, "type": "row", "title": title, "collapsed": false,
            "gridPos": { "h": 1, "w": 24, "x": 0, "y": y }, "panels": []
        }));
    }

    fn next_y(&self) -> u64 {
        self.panels
            .iter()
            .map(|p| p["gridPos"]["y"].as_u64().unwrap_or(0) + p["gridPos"]["h"].as_u64().unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// A time-series panel, two to a row.
    fn timeseries(&mut self, title: &str, unit: &str, targets: &[(&str, String)]) {
        let id = self.panels.len() as u64 + 1;
        let last = self.panels.last();
        let beside = last.is_some_and(|p| p["type"] == "timeseries" && p["gridPos"]["x"] == 0);
        let (x, y) = match last {
            Some(p) if beside => (PANEL_WIDTH, p["gridPos"]["y"].as_u64().unwrap_or(0)),
            _ => (0, self.next_y()),
        };
        let targets: Vec<Value> = targets
            .iter()
            .enumerate()
            .map(|(i, (legend, expr))| {
                json!({
                    "refId": ((b'A' + i as u8) as char).to_string(),
                    "datasource": { "type": "prometheus", "uid": "${datasource}" },
                    "expr": expr,
                    "legendFormat": legend,
                })
            })
            .collect();
        self.panels.push(json!({
            "id": id,
            "type": "timeseries",
            "title": title,
            "datasource": { "type": "prometheus", "uid": "${datasource}" },
            "gridPos": { "h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": x, "y": y },
            "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
            "options": { "legend": { "displayMode": "list", "placement": "bottom" } },
            "targets": targets,
        }));
    }
}

/// The dashboard's JSON, or None when the plan has nothing online.
pub fn render(model: &Model) -> Option<String> {
    if !model.has_online() {
        return None;
    }
    let mut panels = Panels { panels: Vec::new() };
    let windows: Vec<_> = model.monitoring.alerts.iter().map(|a| a.long).collect();
    for endpoint in 0..=model.endpoints.len() {
        let name = model.endpoint_name(endpoint);
        let regions = model.endpoint_regions(endpoint);
        if !regions.iter().any(|r| r.serves()) {
            continue;
        }
        let service = service_name(&model.name, name);
        let count = format!("http_client_request_duration_seconds_count{{server_address=\"{service}\"}}");
        let bucket = format!("http_client_request_duration_seconds_bucket{{server_address=\"{service}\"}}");
        panels.row(&format!("{} ({service})", name.unwrap_or("main endpoint")));
        panels.timeseries("Request rate", "reqps", &[("requests/s", format!("sum(rate({count}[5m]))"))]);
        panels.timeseries(
            "Latency (client-observed)",
            "s",
            &[
                ("p50", format!("histogram_quantile(0.5, sum by (le) (rate({bucket}[5m])))")),
                ("p99", format!("histogram_quantile(0.99, sum by (le) (rate({bucket}[5m])))")),
            ],
        );
        let apps: Vec<String> = regions
            .iter()
            .filter(|r| r.primary.serving.is_some())
            .map(|r| crate::deploy::app_name(&model.name, name, &r.name))
            .collect();
        let apps_regex = apps.join("|");
        let mut errors = vec![(
            "errors/s",
            format!(
                "sum(rate(http_client_request_duration_seconds_count{{server_address=\"{service}\", error_type!=\"\"}}[5m]))"
            ),
        )];
        let breakers = regions.iter().any(|r| r.primary.serving.as_ref().is_some_and(|s| s.fallback.is_some()));
        if breakers {
            errors.push((
                "degraded (fallback)/s",
                format!(
                    "sum(rate(resilience4j_circuitbreaker_not_permitted_calls_total{{name=~\"{apps_regex}\"}}[5m])) + \
                     sum(rate(resilience4j_circuitbreaker_calls_seconds_count{{name=~\"{apps_regex}\", kind=\"failed\"}}[5m]))"
                ),
            ));
        }
        panels.timeseries("Errors and degraded answers", "reqps", &errors);
        let burn: Vec<(String, String)> = model
            .monitoring
            .slis
            .iter()
            .filter(|s| s.endpoint == endpoint)
            .flat_map(|sli| {
                let service = service.clone();
                windows.iter().map(move |&w| {
                    (
                        format!("{} over {}", sli.name(), sim::monitor::duration_label(w)),
                        format!(
                            "{}{{service=\"{service}\", slo=\"{}\"}} / {}",
                            ratio_record(w),
                            sli.name(),
                            (sli.budget * 1e12).round() / 1e12
                        ),
                    )
                })
            })
            .collect();
        if !burn.is_empty() {
            let burn: Vec<(&str, String)> = burn.iter().map(|(l, e)| (l.as_str(), e.clone())).collect();
            panels.timeseries("Error-budget burn rate (1 = on budget)", "none", &burn);
        }
        panels.timeseries(
            "Replicas",
            "none",
            &[
                (
                    "ready {{deployment}}",
                    format!(
                        "sum by (deployment) (kube_deployment_status_replicas_ready{{deployment=~\"{apps_regex}\"}})"
                    ),
                ),
                (
                    "desired {{deployment}}",
                    format!("sum by (deployment) (kube_deployment_spec_replicas{{deployment=~\"{apps_regex}\"}})"),
                ),
            ],
        );
        if let (0, Some(drift)) = (endpoint, &model.monitoring.drift) {
            let what = match drift.test {
                sim::drift::DriftTest::Psi { .. } => "PSI",
                sim::drift::DriftTest::Ks => "KS p-value",
            };
            panels.timeseries(
                &format!("Prediction drift ({what}; alarm at {})", drift.threshold),
                "none",
                &[(what, format!("max({}{{service=\"{service}\"}})", crate::slo_rules::DRIFT_METRIC))],
            );
        }
        let llm = regions.iter().any(|r| r.primary.serving.as_ref().is_some_and(|s| s.kind.llm().is_some()));
        let queue_metric = if llm { "vllm:num_requests_waiting" } else { "nv_inference_pending_request_count" };
        panels.timeseries(
            "Queued requests",
            "none",
            &[("{{service}}", format!("sum by (service) ({queue_metric}{{service=~\"{apps_regex}\"}})"))],
        );
    }
    let dashboard = json!({
        "title": format!("servesim: {}", model.name),
        "uid": crate::kubernetes::dns_name(&format!("servesim-{}", model.name)).chars().take(40).collect::<String>(),
        "tags": ["servesim"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0
        }]},
        "annotations": { "list": [] },
        "panels": panels.panels,
    });
    Some(serde_json::to_string_pretty(&dashboard).expect("a dashboard is JSON") + "\n")
}
