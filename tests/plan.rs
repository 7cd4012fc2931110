//! `servesim plan`, `servesim report` and `servesim check` end to end.

mod common;

use common::*;

/// Constant 900 requests/s, 1 ms requests one at a time, 60 ms p99 target: a replica serves at
/// most 1000/s, so 1 replica runs at ρ = 0.9 with no queueing (constant gaps, constant service)
/// and meets the SLO; the cheapest plan is 1 replica of the cheap instance, whatever the scenario says.
const SCENARIO: &str = r#"
name = "plan-test"
description = "two instance prices, one load"
duration = "30s"
warmup = "2s"
[regions.a]
replicas = 3
instance = "dear"
[instance_types.cheap]
usd_per_hour = 1.25
[instance_types.dear]
usd_per_hour = 2.0
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "900/s" }
[serving]
queue_capacity = 64
timeout = "200ms"
balancer = "round_robin"
service_time = { kind = "constant", value = "1ms" }
[slo]
latency = [{ percentile = 99, max = "60ms" }]
availability = 0.999
[sweep.parameters]
"regions.a.replicas" = [1, 2, 3]
"regions.a.instance" = ["cheap", "dear"]
"#;

#[test]
fn plan_chooses_reports_and_checks() {
    let dir = scratch("plan");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.join("out");
    let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    for file in [
        "report.html",
        "report.json",
        "best.toml",
        "summary.json",
        "timeseries.csv",
        "latency_cdf.csv",
        "sweep/pareto.csv",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let best: toml::Table = toml::from_str(&std::fs::read_to_string(out.join("best.toml")).unwrap()).unwrap();
    assert_eq!(best["regions"]["a"]["replicas"].as_integer(), Some(1));
    assert_eq!(best["regions"]["a"]["instance"].as_str(), Some("cheap"));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["cost"]["usd_per_hour"].as_f64(), Some(1.25));

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("How this configuration was chosen"));
    assert!(html.contains("6 configurations simulated; 6 meet the SLO"), "{}", &html[..2000.min(html.len())]);
    // The scenario's 3 "dear" replicas against the chosen 1 "cheap" one.
    assert!(html.contains("<td class=text>regions.a.replicas</td><td class=text>3</td><td class=text>1</td>"));
    assert!(html.contains("<td class=text>regions.a.instance</td><td class=text>dear</td><td class=text>cheap</td>"));

    // `report DIR` renders the same page from the saved files.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let again = servesim(&["report", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(out.join("report.html")).unwrap(), html);

    // The plan passes its own check; a cost ceiling below it fails with the reason.
    let best_path = out.join("best.toml");
    let check = servesim(&["check", best_path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("check passed"));
    let ceiling = servesim(&["check", best_path.to_str().unwrap(), "--max-usd-per-hour", "1"]);
    assert_eq!(ceiling.status.code(), Some(1));
    assert!(stderr(&ceiling).contains("cost is 1.250 USD/h, over the 1 USD/h ceiling"), "{}", stderr(&ceiling));

    // When traffic grows past what the plan bought, the check fails on the SLO.
    let grown = std::fs::read_to_string(&best_path).unwrap().replace("\"900/s\"", "\"1500/s\"");
    let grown_path = dir.join("grown.toml");
    std::fs::write(&grown_path, grown).unwrap();
    let failed = servesim(&["check", grown_path.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    let reason = stderr(&failed);
    assert!(reason.contains("check failed") && reason.contains("availability"), "{reason}");
    assert_eq!(reason.trim_end().lines().count(), 1);
}

#[test]
fn plan_without_a_feasible_configuration_exits_1() {
    let dir = scratch("infeasible");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO.replace("max = \"60ms\"", "max = \"0.5ms\"")).unwrap();
    let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap(), "--quiet"]);
    assert_eq!(plan.status.code(), Some(1));
    assert!(stderr(&plan).contains("no configuration in the sweep meets the SLO"), "{}", stderr(&plan));
}

/// Region names that become one Kubernetes name or one deploy/ folder are refused before anything
/// is written, naming both regions; scenario and region names cannot inject lines into the Triton
/// config.
#[test]
fn colliding_region_names_are_refused_and_names_stay_inside_comments() {
    let dir = scratch("plan-names");
    let two = r#"
name = "names"
duration = "5s"
[regions.US_EAST]
replicas = 1
[regions.us-east]
replicas = 1
[network]
links = [{ from = "US_EAST", to = "us-east", rtt = "2ms" }]
[[traffic]]
origin = "US_EAST"
arrivals = { process = "constant", rate = "100/s" }
[serving]
service_time = { kind = "constant", value = "1ms" }
[slo]
latency = [{ percentile = 99, max = "100ms" }]
[sweep.parameters]
"serving.queue_capacity" = [64]
"#;
    let scenario = write(&dir, "two.toml", two);
    let plan = servesim(&["plan", &scenario, "--out", dir.join("two").to_str().unwrap(), "--quiet"]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let message = stderr(&plan);
    assert!(
        message.contains("\"US_EAST\"") && message.contains("\"us-east\"") && message.contains("us-east"),
        "{message}"
    );
    assert!(!dir.join("two/deploy").exists(), "nothing is deployed for a refused plan");

    let hostile = SCENARIO
        .replace("name = \"plan-test\"", "name = \"plan-test\\ninstance_group: [ { count: 64 kind: KIND_CPU } ]\\n#\"");
    let scenario = write(&dir, "hostile.toml", &hostile);
    let out = dir.join("hostile");
    ok(servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let pbtxt = std::fs::read_to_string(out.join("deploy/a/config.pbtxt")).unwrap();
    assert_eq!(pbtxt.lines().filter(|l| l.starts_with("instance_group")).count(), 1, "{pbtxt}");
    assert!(pbtxt.lines().filter(|l| l.contains("KIND_CPU")).all(|l| l.starts_with('#')), "{pbtxt}");
    let deployment = std::fs::read_to_string(out.join("deploy/a/deployment.yaml")).unwrap();
    assert!(deployment.lines().filter(|l| l.contains("KIND_CPU")).all(|l| l.starts_with('#')), "{deployment}");
}
