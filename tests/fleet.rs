//! Fleet plans (`[fleet]`): an instance type and replicas per endpoint, for the whole fleet.
//!
//! The hand-worked case: three endpoints with constant arrivals and constant service, one request
//! per batch, and two instance types — A at 1.0 USD/h, B at 1.6 USD/h running every model twice as
//! fast. With constant arrivals every 1/λ and a least-loaded balancer, c replicas of service s
//! never queue when c ≥ λs, and queue without bound when c < λs: an endpoint needs ⌈λs⌉ replicas.
//!   x: λ = 250/s, s = 10 ms: A 3 × 1.0 = 3.0, B ⌈1.25⌉ = 2 × 1.6 = 3.2 → A
//!   y: λ = 90/s,  s = 20 ms: A 2 × 1.0 = 2.0, B ⌈0.9⌉ = 1 × 1.6 = 1.6  → B
//!   z: λ = 40/s,  s = 10 ms: A 1 × 1.0 = 1.0, B 1 × 1.6 = 1.6          → A
//! The cheapest fleet costs 3.0 + 1.6 + 1.0 = 5.6 USD/h; the runner-ups change one endpoint each
//! (x to B: +0.2, y to A: +0.4, z to B: +0.6).

mod common;

use common::*;

fn endpoint(name: &str, rate: u32, service_ms: u32, p99_ms: u32) -> String {
    format!(
        r#"
[endpoints.{name}]
serving = {{ queue_capacity = 100000, timeout = "5s", service_time = {{ kind = "constant", value = "{service_ms}ms" }} }}
regions.a = {{ replicas = 1, instance = "A" }}
slo = {{ latency = [{{ percentile = 99, max = "{p99_ms}ms" }}] }}
[[traffic]]
origin = "a"
endpoint = "{name}"
arrivals = {{ process = "constant", rate = "{rate}/s" }}
"#
    )
}

fn scenario() -> String {
    let mut text = r#"
name = "fleet"
duration = "40s"
warmup = "5s"
[regions.a]
replicas = 0
[instance_types.A]
usd_per_hour = 1.0
[instance_types.B]
usd_per_hour = 1.6
[fleet]
instances = [{ instance = "A" }, { instance = "B", service_scale = 0.5 }]
max_replicas = 8
replications = 1
"#
    .to_string();
    text += &endpoint("x", 250, 10, 15);
    text += &endpoint("y", 90, 20, 30);
    text += &endpoint("z", 40, 10, 15);
    text
}

#[test]
fn a_fleet_plan_finds_the_cheapest_fleet_worked_by_hand() {
    let dir = scratch("fleet-plan");
    let path = write(&dir, "s.toml", &scenario());
    let out = dir.join("plan");
    let stdout = ok(servesim(&["plan", &path, "--out", out.to_str().unwrap()]));
    let fleet = csv_rows(&out.join("fleet.csv"));
    let row = |name: &str| fleet.iter().find(|r| &r[0] == name).unwrap_or_else(|| panic!("{name}: {stdout}")).clone();
    for (name, instance, replicas, usd) in
        [("x", "A", "3", "3.000"), ("y", "B", "1", "1.600"), ("z", "A", "1", "1.000")]
    {
        let r = row(name);
        assert_eq!((&r[1], &r[4], &r[5]), (instance, replicas, usd), "{name}: {r:?}\n{stdout}");
    }
    assert_eq!(&row("total")[5], "5.600");
    // Alone: x on B needs 2, y on A 2, z on either 1.
    let sizing = csv_rows(&out.join("fleet-sizing.csv"));
    let alone = |name: &str, instance: &str| {
        let r = sizing.iter().find(|r| &r[0] == name && &r[1] == instance).unwrap();
        (r[2].to_string(), r[3].to_string())
    };
    assert_eq!(alone("x", "A"), ("3".into(), "3.000".into()));
    assert_eq!(alone("x", "B"), ("2".into(), "3.200".into()));
    assert_eq!(alone("y", "A"), ("2".into(), "2.000".into()));
    assert_eq!(alone("z", "B"), ("1".into(), "1.600".into()));
    // The runner-ups, each one endpoint off the cheapest, in order of cost.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!((summary["cost"]["usd_per_hour"].as_f64().unwrap() - 5.6).abs() < 1e-9);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("×A") || l.contains("×B")).collect();
    assert!(lines[0].contains("| chosen |") && lines[0].contains("| 5.600 |"), "{stdout}");
    for (line, usd) in lines[1..].iter().zip(["5.800", "6.000", "6.200"]) {
        assert!(line.contains(&format!("| {usd} |")), "{line}\n{stdout}");
    }
    let best = std::fs::read_to_string(out.join("best.toml")).unwrap();
    assert!(best.contains("instance = \"B\""), "{best}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("The fleet") && report.contains("Each endpoint alone on each instance type"));
}

#[test]
fn a_pipeline_slower_than_its_slo_gets_replicas_where_its_slowest_stage_runs() {
    // Each endpoint alone meets a loose SLO on 1 replica (λs = 0.6 with Poisson arrivals, M/D/1:
    // mean wait 7.5 ms); the pipeline through both must answer p99 < 40 ms, which needs the queue
    // of its slower stage (rank, 10 ms) shortened: the repair adds replicas to rank, not to embed.
    let text = r#"
name = "fleet-pipeline"
duration = "60s"
warmup = "5s"
[regions.a]
replicas = 0
[instance_types.A]
usd_per_hour = 1.0
[fleet]
instances = [{ instance = "A" }]
replications = 2
[endpoints.embed]
serving = { queue_capacity = 100000, service_time = { kind = "constant", value = "2ms" } }
regions.a = { replicas = 1, instance = "A" }
slo = { latency = [{ percentile = 99, max = "500ms" }] }
[endpoints.rank]
serving = { queue_capacity = 100000, service_time = { kind = "constant", value = "10ms" } }
regions.a = { replicas = 1, instance = "A" }
slo = { latency = [{ percentile = 99, max = "500ms" }] }
[endpoints.flow.pipeline]
stages = [{ name = "embed", call = ["embed"] }, { name = "rank", call = ["rank"] }]
[endpoints.flow.slo]
latency = [{ percentile = 99, max = "40ms" }]
[[traffic]]
origin = "a"
endpoint = "flow"
arrivals = { process = "poisson", rate = "60/s" }
"#;
    let dir = scratch("fleet-pipeline");
    let path = write(&dir, "s.toml", text);
    let out = dir.join("plan");
    let stdout = ok(servesim(&["plan", &path, "--out", out.to_str().unwrap()]));
    let fleet = csv_rows(&out.join("fleet.csv"));
    let replicas = |name: &str| fleet.iter().find(|r| &r[0] == name).map(|r| r[4].parse::<u32>().unwrap()).unwrap();
    // Alone each fits on one replica (the pipeline's 60/s reach both as their own traffic).
    let sizing = csv_rows(&out.join("fleet-sizing.csv"));
    assert!(sizing.iter().all(|r| &r[2] == "1"), "{sizing:?}");
    assert_eq!(replicas("embed"), 1, "{stdout}");
    assert!(replicas("rank") >= 2, "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["endpoints"]["flow"]["slo"]["met"]["fraction_true"], 1.0, "{stdout}");
}

#[test]
fn the_plan_risks_size_the_fleet_and_hold_for_it() {
    // With 15% more traffic to hold at, y needs ⌈1.15 · 1.8⌉ = 3 replicas on A (3.0 USD/h) or
    // ⌈1.15 · 0.9⌉ = 2 on B (3.2): it moves to A. x stays on A (⌈2.875⌉ = 3), z too: 7.0 USD/h.
    let text = scenario() + "[plan]\ntraffic_margin = 0.15\n";
    let dir = scratch("fleet-risks");
    let path = write(&dir, "s.toml", &text);
    let out = dir.join("plan");
    let stdout = ok(servesim(&["plan", &path, "--out", out.to_str().unwrap()]));
    let fleet = csv_rows(&out.join("fleet.csv"));
    let row = |name: &str| fleet.iter().find(|r| &r[0] == name).unwrap().clone();
    assert_eq!((&row("y")[1], &row("y")[4]), ("A", "3"), "{stdout}");
    assert_eq!(&row("total")[5], "7.000", "{stdout}");
    assert!(stdout.contains("risks: 15% more traffic than forecast"), "{stdout}");
}
