//! Monitoring: the SLO's burn-rate alerts fire in simulation when hand-worked arithmetic says they
//! must; the rules a plan writes pass `promtool check rules`, and `promtool test rules` — fed the
//! simulated clients' counters — fires them exactly when the simulation said (and never on a
//! fault-free run that meets its SLO); a broken rule is caught; the Grafana dashboard is valid.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// One region at 100 requests/s, 5 ms each on 4 replicas (never queueing), down from 600 s to
/// 900 s: every request in the outage fails, none before it.
const OUTAGE: &str = r#"
name = "outage"
duration = "30min"
warmup = "1min"
interval = "30s"
[regions.east]
replicas = 4
instance = "g5.xlarge@us-east-1"
[[traffic]]
origin = "east"
arrivals = { process = "poisson", rate = "100/s" }
[serving]
service_time = { kind = "constant", value = "5ms" }
[[faults]]
kind = "region_outage"
region = "east"
at = "10min"
duration = "5min"
[slo]
latency = [{ percentile = 99, max = "100ms" }]
availability = 0.999
"#;

/// When each alert must first fire, by hand. With a constant rate and no errors before the outage
/// at T = 600 s, the error ratio over any window reaching back to time 0 at time t is (t − T)/t
/// (the latency SLI counts failures as too slow, so it is the same ratio). Every window of 1 h or
/// 6 h reaches back to 0 here; the short windows (5 min, 30 min) see a larger ratio, so the long
/// one decides. The alert fires at the first 30 s evaluation where (t − T)/t > burn × budget:
/// - availability, 14.4 × 0.001 = 0.0144: t > 600 / (1 − 0.0144) = 608.8 → 630 s;
/// - availability, 6 × 0.001 = 0.006: t > 603.6 → 630 s;
/// - latency p99, 14.4 × 0.01 = 0.144: t > 700.9 → 720 s (at 690 s the ratio is 0.130);
/// - latency p99, 6 × 0.01 = 0.06: t > 638.3 → 660 s (at 630 s, 0.048).
/// - the tickets (burn 1 over 3 days and 6 hours): any ratio over the budget, 0.001 or 0.01, at
///   the first evaluation with failures → 630 s.
///
/// Poisson noise moves the ratios by about 0.002 at most, far from every boundary above.
#[test]
fn outage_fires_each_burn_rate_alert_when_its_windows_imply() {
    let dir = scratch("monitoring-outage");
    let scenario = write(&dir, "outage.toml", OUTAGE);
    let out = dir.join("out");
    ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet", "--no-uncertainty"]));
    let summary = json(&out.join("summary.json"));
    let monitoring = &summary["monitoring"];
    assert_eq!(monitoring["scrape_interval_s"], 30.0);
    let expected = [
        ("MainAvailabilityBudgetBurn1h", 630.0, 0.0144),
        ("MainAvailabilityBudgetBurn6h", 630.0, 0.006),
        ("MainAvailabilityBudgetBurn3d", 630.0, 0.001),
        ("MainLatencyP99100msBudgetBurn1h", 720.0, 0.144),
        ("MainLatencyP99100msBudgetBurn6h", 660.0, 0.06),
        ("MainLatencyP99100msBudgetBurn3d", 630.0, 0.01),
    ];
    let alerts = monitoring["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), expected.len());
    for (alert, (name, first, threshold)) in alerts.iter().zip(expected) {
        assert_eq!(alert["alert"], name);
        assert!((alert["threshold"].as_f64().unwrap() - threshold).abs() < 1e-12, "{name}");
        let firing = alert["firing"].as_array().unwrap();
        assert_eq!(firing.len(), 1, "{name}: {firing:?}");
        assert_eq!(firing[0]["start_s"], first, "{name}");
        assert_eq!(alert["detections"][0]["fault_start_s"], 600.0);
        assert_eq!(alert["detections"][0]["detected_after_s"], first - 600.0, "{name}");
        assert_eq!(alert["unexplained"], 0, "{name}");
    }
    // The counters behind it: requests grow at about 100/s, errors only from 600 s.
    let scrapes = std::fs::read_to_string(out.join("slo_scrapes.csv")).unwrap();
    let at = |time: &str| -> (f64, f64) {
        let line = scrapes.lines().find(|l| l.starts_with(&format!("{time},main,availability,"))).unwrap();
        let f: Vec<f64> = line.split(',').skip(3).map(|v| v.parse().unwrap()).collect();
        (f[0], f[1])
    };
    assert_eq!(at("600").0, 0.0);
    let (errors, requests) = at("630");
    assert!((requests - 63_000.0).abs() < 4.0 * 63_000f64.sqrt(), "{requests}");
    assert!((errors - 3_000.0).abs() < 4.0 * 3_000f64.sqrt(), "{errors}");
}

/// A sweep compares alert settings by detection time and false alarms: the outage above with one
/// alert, its burn rate swept. By the same arithmetic as above (the 1 h window reaches back to 0,
/// the 5 min one sees more), the alert fires at the first evaluation with (t − 600)/t > burn ×
/// budget, while the outage lasts (to 900 s, where the ratio peaks at 1/3):
/// - availability (budget 0.001): burn 6 → 630 s, burn 30 → 630 s, burn 60 → t > 638.3 → 660 s (at 630 s, 0.048);
/// - latency p99 (budget 0.01): burn 6 → 660 s, burn 30 → t > 857.1 → 870 s (at 840 s, 0.286),
///   burn 60 → a threshold of 0.6, never: missed.
#[test]
fn sweep_compares_alert_settings_by_detection_and_false_alarms() {
    let dir = scratch("monitoring-sweep");
    let text = format!(
        "{OUTAGE}\n[monitoring]\nburn_rate_alerts = [{{ long_window = \"1h\", short_window = \"5min\", burn_rate = 14.4 }}]\n\
         [sweep]\nearly_stop = false\n[sweep.parameters]\n\"monitoring.burn_rate_alerts[0].burn_rate\" = [6.0, 30.0, 60.0]\n"
    );
    let scenario = write(&dir, "outage-sweep.toml", &text);
    let out = dir.join("sweep");
    ok(servesim(&["sweep", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let table = out.join("sweep.csv");
    let rows = csv_rows(&table);
    let column = |name: &str| csv_column(&table, name);
    let (burn, availability, latency) = (
        column("monitoring.burn_rate_alerts[0].burn_rate"),
        "main.availability.burn_rate_alerts[0]",
        "main.latency-p99-100ms.burn_rate_alerts[0]",
    );
    let expected = [(6.0, Some(30.0), Some(60.0)), (30.0, Some(30.0), Some(270.0)), (60.0, Some(60.0), None)];
    assert_eq!(rows.len(), expected.len());
    for (row, (rate, available_after, latency_after)) in rows.iter().zip(expected) {
        assert_eq!(row[burn].parse::<f64>().unwrap(), rate);
        for (slot, after) in [(availability, available_after), (latency, latency_after)] {
            let cell = |name: &str| row[column(&format!("{slot}.{name}"))].to_string();
            assert_eq!(cell("detection_s").parse::<f64>().ok(), after, "{slot} at burn {rate}");
            assert_eq!(cell("missed"), if after.is_some() { "0" } else { "1" }, "{slot} at burn {rate}");
            assert_eq!(cell("unexplained"), "0", "{slot} at burn {rate}");
        }
    }
}

/// A copy of sentiment-api that meets its SLO: the scenario's own suggestion, ten warm replicas.
fn sentiment_meeting_slo(dir: &Path, fault: &str) -> String {
    let text = std::fs::read_to_string(repo("scenarios/sentiment-api.toml"))
        .unwrap()
        .replace("min_replicas = 2", "min_replicas = 10")
        .replace("replicas = 2\n", "replicas = 10\n");
    assert!(text.contains("min_replicas = 10"));
    let name = if fault.is_empty() { "sentiment.toml" } else { "sentiment-fault.toml" };
    write(dir, name, &format!("{text}\n{fault}"))
}

/// [`sentiment_meeting_slo`] cut to 12 simulated minutes (the ramp, the plateau and one drift
/// window) for a plan whose rules and dashboard are read: they come from the configuration, not
/// from how long it was simulated, and the 30-minute runs are the tests' longest.
fn sentiment_to_plan(dir: &Path, extra: &str) -> String {
    let scenario = sentiment_meeting_slo(dir, extra);
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(text.contains("duration = \"30min\""));
    std::fs::write(&scenario, text.replace("duration = \"30min\"", "duration = \"12min\"")).unwrap();
    scenario
}

/// The input series promtool reads: the clients' histogram as the OpenTelemetry exporter would
/// write it, from the run's scraped counters.
fn input_series(scrapes: &str, service: &str) -> String {
    let mut requests = Vec::new();
    let mut errors = Vec::new();
    let mut within = Vec::new();
    for line in scrapes.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (bad, total): (u64, u64) = (f[3].parse().unwrap(), f[4].parse().unwrap());
        match f[2] {
            "availability" => {
                requests.push(total);
                errors.push(bad);
            }
            "latency-p99-200ms" => within.push(total - bad),
            other => panic!("unexpected SLI {other}"),
        }
    }
    let values = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let ok: Vec<u64> = requests.iter().zip(&errors).map(|(r, e)| r - e).collect();
    format!(
        "      - series: 'http_client_request_duration_seconds_count{{server_address=\"{service}\", error_type=\"\"}}'\n        values: '{}'\n\
         \x20     - series: 'http_client_request_duration_seconds_count{{server_address=\"{service}\", error_type=\"500\"}}'\n        values: '{}'\n\
         \x20     - series: 'http_client_request_duration_seconds_bucket{{server_address=\"{service}\", error_type=\"\", le=\"0.2\"}}'\n        values: '{}'\n",
        values(&ok),
        values(&errors),
        values(&within)
    )
}

/// `exp_labels` and `exp_annotations` of an alert, from the rule file.
fn expected_alert(rules: &Yaml, alert: &str) -> String {
    let rule = rules["groups"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap())
        .find(|r| r["alert"].as_str() == Some(alert))
        .unwrap_or_else(|| panic!("no rule {alert}"));
    let pairs = |map: &Yaml| -> String {
        map.as_hash()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{}: {:?}", k.as_str().unwrap(), v.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "          - exp_labels: {{{}}}\n            exp_annotations: {{{}}}\n",
        pairs(&rule["labels"]),
        pairs(&rule["annotations"])
    )
}

fn promtool_test(dir: &Path, rules_path: &Path, name: &str, series: &str, checks: &str) -> std::process::Output {
    let test = format!(
        "rule_files: [{}]\nevaluation_interval: 30s\ntests:\n  - interval: 30s\n    input_series:\n{series}    alert_rule_test:\n{checks}",
        rules_path.display()
    );
    let path = write(dir, name, &test);
    Command::new("promtool").args(["test", "rules", &path]).output().unwrap()
}

#[test]
fn rules_pass_promtool_and_fire_when_the_simulation_says() {
    let dir = scratch("monitoring-promtool");
    // The plan writes the rules; a fault-free run of its choice and the same with eu… one
    // region lost for 5 minutes give the counters.
    let plan = dir.join("plan");
    ok(servesim(&["plan", &sentiment_to_plan(&dir, ""), "--out", plan.to_str().unwrap(), "--quiet"]));
    let rules_path = plan.join("deploy/monitoring/slo-rules.yaml");
    let rules_text = std::fs::read_to_string(&rules_path).unwrap();
    let rules = &YamlLoader::load_from_str(&rules_text).unwrap()[0];
    let faulty = dir.join("faulty");
    let fault = "[[faults]]\nkind = \"region_outage\"\nregion = \"us-east\"\nat = \"12min\"\nduration = \"4min\"\n";
    ok(servesim(&[
        "run",
        &sentiment_meeting_slo(&dir, fault),
        "--out",
        faulty.to_str().unwrap(),
        "--quiet",
        "--no-uncertainty",
    ]));
    let Some(promtool) = promtool() else { return };
    let checked = Command::new(promtool).args(["check", "rules"]).arg(&rules_path).output().unwrap();
    assert!(checked.status.success(), "{}{}", stderr(&checked), String::from_utf8_lossy(&checked.stdout));

    let service = "sentiment-api";
    let summary = json(&faulty.join("summary.json"));
    let alerts = summary["monitoring"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 6);
    let mut checks = String::new();
    for alert in alerts {
        let name = alert["alert"].as_str().unwrap();
        let firing = alert["firing"].as_array().unwrap();
        assert!(!firing.is_empty(), "{name} never fired on a 4-minute outage of the only region");
        assert!(alert["detections"][0]["detected_after_s"].as_f64().is_some(), "{name}");
        for episode in firing {
            let (start, end) = (episode["start_s"].as_f64().unwrap(), episode["end_s"].as_f64().unwrap());
            // Silent one evaluation before, firing from the start to the last evaluation before its end.
            if start >= 30.0 {
                checks.push_str(&format!(
                    "      - eval_time: {}s\n        alertname: {name}\n        exp_alerts: []\n",
                    start - 30.0
                ));
            }
            for t in [start, (end - 30.0).max(start)] {
                checks.push_str(&format!(
                    "      - eval_time: {t}s\n        alertname: {name}\n        exp_alerts:\n{}",
                    expected_alert(rules, name)
                ));
            }
        }
    }
    let scrapes = std::fs::read_to_string(faulty.join("slo_scrapes.csv")).unwrap();
    let tested = promtool_test(&dir, &rules_path, "faulty-test.yaml", &input_series(&scrapes, service), &checks);
    assert!(tested.status.success(), "{}{}", String::from_utf8_lossy(&tested.stdout), stderr(&tested));

    // The plan's own run: nothing fires in simulation, nor in Prometheus at any evaluation.
    let quiet = json(&plan.join("summary.json"));
    let mut silent = String::new();
    for alert in quiet["monitoring"]["alerts"].as_array().unwrap() {
        assert_eq!(alert["firing"].as_array().unwrap().len(), 0, "{}", alert["alert"]);
        for t in (60..=1800).step_by(60) {
            silent.push_str(&format!(
                "      - eval_time: {t}s\n        alertname: {}\n        exp_alerts: []\n",
                alert["alert"].as_str().unwrap()
            ));
        }
    }
    let scrapes = std::fs::read_to_string(plan.join("slo_scrapes.csv")).unwrap();
    let tested = promtool_test(&dir, &rules_path, "quiet-test.yaml", &input_series(&scrapes, service), &silent);
    assert!(tested.status.success(), "{}{}", String::from_utf8_lossy(&tested.stdout), stderr(&tested));

    // A deliberately broken rule is caught: a threshold ten times too high fails the firing test,
    // a misspelt function fails the check.
    let loose = rules_text.replace("> 0.0144", "> 0.144");
    assert_ne!(loose, rules_text);
    let loose_path = Path::new(&write(&dir, "loose-rules.yaml", &loose)).to_path_buf();
    let tested = promtool_test(
        &dir,
        &loose_path,
        "loose-test.yaml",
        &input_series(&std::fs::read_to_string(faulty.join("slo_scrapes.csv")).unwrap(), service),
        &checks,
    );
    assert!(!tested.status.success(), "promtool passed a rule with a wrong threshold");
    let broken = write(&dir, "broken-rules.yaml", &rules_text.replacen("sum(rate(", "sum(rat(", 1));
    let checked = Command::new(promtool).args(["check", "rules", &broken]).output().unwrap();
    assert!(!checked.status.success(), "promtool passed a misspelt function");
}

#[test]
fn grafana_dashboard_is_importable_and_its_queries_parse() {
    let dir = scratch("monitoring-dashboard");
    let plan = dir.join("plan");
    let drift = "[monitoring.drift]\nsample = 0.01\nwindow = \"10min\"\nthreshold = 0.1\n";
    ok(servesim(&["plan", &sentiment_to_plan(&dir, drift), "--out", plan.to_str().unwrap(), "--quiet"]));
    let dashboard = json(&plan.join("deploy/monitoring/grafana-dashboard.json"));
    assert_eq!(dashboard["schemaVersion"], 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables
        .iter()
        .any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"));
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids repeat");
    let mut exprs = Vec::new();
    for panel in panels {
        let grid = &panel["gridPos"];
        assert!(grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24, "{panel}");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["type"], "timeseries");
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${datasource}");
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    // What the issue asks for, on the rules' metric names.
    let titles: Vec<&str> = panels.iter().map(|p| p["title"].as_str().unwrap()).collect();
    for wanted in [
        "Request rate",
        "Latency (client-observed)",
        "Errors and degraded answers",
        "Replicas",
        "Queued requests",
        "Prediction drift (PSI; alarm at 0.1)",
    ] {
        assert!(titles.contains(&wanted), "no {wanted} panel in {titles:?}");
    }
    let rules = std::fs::read_to_string(plan.join("deploy/monitoring/slo-rules.yaml")).unwrap();
    let burn: Vec<&String> = exprs.iter().filter(|e| e.contains("slo:sli_error:ratio_rate")).collect();
    assert_eq!(burn.len(), 6, "two SLIs × three long windows");
    for expr in &burn {
        let record = expr.split('{').next().unwrap();
        assert!(
            rules.contains(&format!("record: \"{record}\"")) || rules.contains(&format!("record: {record}")),
            "{record} is not recorded"
        );
    }
    // Every query parses as PromQL: promtool checks them as recording rules.
    let Some(promtool) = promtool() else { return };
    let file: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!("      - record: dashboard:query_{i}\n        expr: {}\n", serde_json::to_string(e).unwrap())
        })
        .collect();
    let path = write(&dir, "dashboard-queries.yaml", &format!("groups:\n  - name: dashboard\n    rules:\n{file}"));
    let checked = Command::new(promtool).args(["check", "rules", &path]).output().unwrap();
    assert!(checked.status.success(), "{}{}", String::from_utf8_lossy(&checked.stdout), stderr(&checked));
    // The rules with the drift alert pass too.
    let rules_path = plan.join("deploy/monitoring/slo-rules.yaml");
    assert!(rules.contains("SentimentApiPredictionDrift"), "no drift alert");
    let checked = Command::new(promtool).args(["check", "rules"]).arg(&rules_path).output().unwrap();
    assert!(checked.status.success(), "{}{}", String::from_utf8_lossy(&checked.stdout), stderr(&checked));
}

/// The bundled realtime-personalization outage (eu-west down at 25 min), cut right after it. By
/// hand: eu-west's clients send 21 000 → 35 000 requests/s over the first 30 min, 32 667/s at
/// 25 min; they fail until the health check marks the region down after 3 failed probes 5 s apart
/// (10–15 s), then fail over. So the outage costs 10–15 s × 32 667 ≈ 0.33–0.49 M errors. All
/// regions together have sent ∫₀¹⁵³⁰ (60 000 + 40 000 t/1800) dt = 117.8 M requests by the first
/// evaluation after the outage: an error ratio of 0.0028–0.0042 over every long window (each
/// reaches back to time 0). That is over the ticket's threshold (1 × 0.001) — it fires at 1530 s,
/// 30 s after the outage began — and under both pages' (14.4 × 0.001 and 6 × 0.001): failover
/// holds this outage to a 3–4× burn, which the workbook does not page for.
#[test]
fn personalization_outage_opens_a_ticket_and_does_not_page() {
    let dir = scratch("monitoring-personalization");
    let text = std::fs::read_to_string(repo("scenarios/realtime-personalization.toml"))
        .unwrap()
        .replace("duration = \"1h\"", "duration = \"26min\"");
    let scenario = write(&dir, "personalization.toml", &text);
    let out = dir.join("out");
    ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet", "--no-uncertainty"]));
    let scrapes = std::fs::read_to_string(out.join("slo_scrapes.csv")).unwrap();
    let row = |time: &str| -> (f64, f64) {
        let line = scrapes.lines().find(|l| l.starts_with(&format!("{time},main,availability,"))).unwrap();
        let f: Vec<f64> = line.split(',').skip(3).map(|v| v.parse().unwrap()).collect();
        (f[0], f[1])
    };
    assert_eq!(row("1500").0, 0.0, "errors before the outage");
    let (errors, requests) = row("1530");
    assert!((requests / 117.8e6 - 1.0).abs() < 0.01, "{requests}");
    assert!((0.8 * 10.0 * 32_667.0..=15.0 * 32_667.0).contains(&errors), "{errors}");
    let summary = json(&out.join("summary.json"));
    for alert in summary["monitoring"]["alerts"].as_array().unwrap() {
        let name = alert["alert"].as_str().unwrap();
        let firing = alert["firing"].as_array().unwrap();
        match name {
            "MainAvailabilityBudgetBurn3d" => {
                assert_eq!(firing[0]["start_s"], 1530.0, "{firing:?}");
                assert_eq!(alert["detections"][0]["detected_after_s"], 30.0);
            }
            // The latency SLI's ticket: 0.0028–0.0042 < its budget of 0.01.
            _ => assert!(firing.is_empty(), "{name} fired: {firing:?}"),
        }
        assert_eq!(alert["unexplained"], 0, "{name}");
    }
}

/// `--trace-sample`: the sampled requests and every failed one, as OTLP/JSON that the official
/// OpenTelemetry protobuf definitions parse, each request's stage spans tiling it; the same seed
/// gives the same file whatever the thread count.
#[test]
fn request_traces_parse_as_otlp_and_keep_every_failure() {
    let dir = scratch("monitoring-traces");
    // 10 minutes at 100/s (60 000 requests); the region out for 30 s at 5 min: 3 000 failures.
    let text = OUTAGE
        .replace("duration = \"30min\"", "duration = \"10min\"")
        .replace("at = \"10min\"", "at = \"5min\"")
        .replace("duration = \"5min\"", "duration = \"30s\"");
    let scenario = write(&dir, "traced.toml", &text);
    let run = |name: &str, threads: &str| {
        let out = dir.join(name);
        ok(servesim(&[
            "run",
            &scenario,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--no-uncertainty",
            "--trace-sample",
            "0.01",
            "--replications",
            "2",
            "--threads",
            threads,
        ]));
        out
    };
    let (one, two) = (run("one", "1"), run("two", "2"));
    let traces = std::fs::read(one.join("traces.otlp.json")).unwrap();
    assert_eq!(traces, std::fs::read(two.join("traces.otlp.json")).unwrap(), "traces depend on the thread count");
    let rejected = servesim(&["run", &scenario, "--out", dir.join("bad").to_str().unwrap(), "--trace-sample", "1.5"]);
    assert_eq!(rejected.status.code(), Some(2));

    let Some(python) = venv_python() else { return };
    let checked =
        Command::new(python).arg(repo("tests/validate_otlp.py")).arg(one.join("traces.otlp.json")).output().unwrap();
    assert!(checked.status.success(), "{}", stderr(&checked));
    let facts: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(facts["service"], "servesim-outage");
    // Every failure is traced (all of them sent after the warm-up, so the summary counts them all
    // too); about 1% of the rest, drawn by each request's hash: 570 ± 4σ.
    let summary = json(&one.join("summary.json"));
    let failed = summary["requests"]["failed"]["mean"]
        .as_f64()
        .unwrap_or_else(|| summary["requests"]["failed"].as_f64().unwrap());
    let outcomes = &facts["outcomes"];
    let first_failed = outcomes["failed"].as_u64().unwrap();
    assert!(
        (2_700..=3_300).contains(&first_failed),
        "{first_failed} failures traced (the two replications' mean: {failed})"
    );
    let completed = outcomes["completed"].as_u64().unwrap() as f64;
    assert!((completed - 570.0).abs() < 4.0 * 570f64.sqrt(), "{completed} completed requests sampled");
    for stage in facts["stages"].as_object().unwrap().keys() {
        assert!(
            ["network", "queue", "batch_formation", "service", "until_failure"].contains(&stage.as_str()),
            "unexpected stage span {stage}"
        );
    }
    assert!(facts["stages"]["service"].as_u64().unwrap() >= completed as u64);
}

/// `[monitoring.drift]` against the tests' known figures. 100 requests/s, 5% of predictions
/// logged, 10-minute windows: about 3 000 scores per window, 12 windows in 2 hours, 400
/// repetitions — 4 800 windows, so a 5% rate is known to ±0.63% (one σ).
/// - No drift, KS at p < 0.05: a window alarms with probability 0.05 (the p-value is uniform under
///   the null), 144 windows a day: 7.2 false alarms per day.
/// - No drift, PSI over 10 deciles: n·PSI tends to Pearson's χ² with 9 degrees of freedom, whose
///   95% point is 16.919; at 16.919 / 3 000 = 0.00564 about 5% of windows alarm.
/// - A 0.2σ shift from 60 min (a window boundary): the KS distance becomes 2Φ(0.1) − 1 = 0.0797,
///   √3000 × 0.0797 = 4.4 against the 5% point 1.36, so the first drifted window catches it in
///   every repetition: the delay is exactly one window, 600 s.
#[test]
fn drift_monitor_meets_its_false_alarm_rate_and_catches_a_clear_drift_in_one_window() {
    let dir = scratch("monitoring-drift");
    let base = |test: &str, threshold: f64, inject: &str| {
        format!(
            "name = \"drift\"\nduration = \"2h\"\ninterval = \"1min\"\n[regions.east]\nreplicas = 2\n[[traffic]]\n\
             origin = \"east\"\narrivals = {{ process = \"poisson\", rate = \"100/s\" }}\n[serving]\n\
             service_time = {{ kind = \"constant\", value = \"2ms\" }}\n[monitoring.drift]\nsample = 0.05\n\
             window = \"10min\"\ntest = \"{test}\"\nthreshold = {threshold}\nrepetitions = 400\n{inject}"
        )
    };
    let drift_of = |name: &str, text: String| -> Value {
        let out = dir.join(name);
        ok(servesim(&[
            "run",
            &write(&dir, &format!("{name}.toml"), &text),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--no-uncertainty",
        ]));
        json(&out.join("summary.json"))["monitoring"]["drift"].clone()
    };
    let sigma = (0.05f64 * 0.95 / 4800.0).sqrt();
    let ks = drift_of("ks", base("ks", 0.05, ""));
    assert_eq!(ks["windows"], 12);
    assert!((ks["logged_per_window"].as_f64().unwrap() - 3000.0).abs() < 30.0);
    let rate = ks["false_alarm_rate"].as_f64().unwrap();
    assert!((rate - 0.05).abs() < 4.0 * sigma, "KS false-alarm rate {rate}");
    assert!((ks["false_alarms_per_day"].as_f64().unwrap() - 144.0 * rate).abs() < 1e-9);
    assert!(ks["detected"].is_null());
    let psi = drift_of("psi", base("psi", 16.919 / 3000.0, ""));
    let rate = psi["false_alarm_rate"].as_f64().unwrap();
    // The χ² limit and the per-window count's spread (±55) add about 0.3% to the sampling error.
    assert!((rate - 0.05).abs() < 4.0 * sigma + 0.003, "PSI false-alarm rate {rate}");
    let caught = drift_of("caught", base("ks", 0.05, "inject = { at = \"60min\", shift = 0.2 }\n"));
    assert_eq!(caught["detected"], 1.0);
    for key in ["p50", "p90", "max"] {
        assert_eq!(caught["detection_delay_s"][key], 600.0, "{key}");
    }
    // The six windows before the drift still alarm at their rate.
    assert!((caught["false_alarm_rate"].as_f64().unwrap() - 0.05).abs() < 4.0 * (0.05f64 * 0.95 / 2400.0).sqrt());
}
