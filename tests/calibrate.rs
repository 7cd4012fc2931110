//! `servesim calibrate`: recovering a known overhead from load points simulated with it, the load
//! test forms it reads, and its bad-input errors (`calibrate_locust.rs`: locust's own CSV).

mod common;

use common::*;

/// The server under test as its team would describe it before calibrating: one replica, a
/// measured batch table, no overhead.
const BARE: &str = r#"
name = "bare"
seed = 7
duration = "60s"
warmup = "5s"
[regions.local]
replicas = 1
[[traffic]]
origin = "local"
arrivals = { process = "poisson", rate = "10/s" }
[serving]
service_time = { kind = "table", points = [[1, "10ms"], [4, "25ms"], [8, "45ms"]] }
batching = { max_batch = 8, max_queue_delay = "5ms" }
"#;

/// Simulates `truth` at `rates` with another seed than calibrate's and writes the summary CSV.
fn measure(dir: &std::path::Path, truth: &str, rates: &[f64]) -> String {
    let mut rows = String::from("offered_rps,p50_ms,p90_ms,p99_ms,mean_ms\n");
    for rate in rates {
        let text = truth
            .replace("rate = \"10/s\"", &format!("rate = \"{rate}/s\""))
            .replace("duration = \"60s\"", "duration = \"600s\"");
        let scenario = write(dir, &format!("truth-{rate}.toml"), &text);
        let out = dir.join(format!("truth-{rate}"));
        ok(servesim(&["run", &scenario, "--seed", "99", "--out", out.to_str().unwrap(), "--no-uncertainty", "-q"]));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let l = &summary["latency_ms"];
        rows.push_str(&format!("{rate},{},{},{},{}\n", l["p50"], l["p90"], l["p99"], l["mean"]));
    }
    write(dir, "measured.csv", &rows)
}

#[test]
fn a_known_overhead_is_recovered_and_the_hold_out_predicted() {
    // "Measure" a server whose true overhead is 6 ms (lognormal, cv 0.6) on 2 threads: simulate it
    // at four rates with another seed, fit on the lowest and highest, predict the middle two.
    let dir = scratch("calibrate-known");
    let truth = BARE.replace(
        "batching = {",
        "overhead = { pre = { kind = \"lognormal\", mean = \"3ms\", cv = 0.6 }, post = { kind = \"lognormal\", \
         mean = \"3ms\", cv = 0.6 }, cpu_workers = 2 }\nbatching = {",
    );
    let measured = measure(&dir, &truth, &[15.0, 45.0, 75.0, 100.0]);
    let bare = write(&dir, "bare.toml", BARE);
    let out = dir.join("fit");
    let stdout = ok(servesim(&["calibrate", &bare, &measured, "--out", out.to_str().unwrap()]));
    assert!(stdout.contains("hold-out"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("calibration.json")).unwrap()).unwrap();
    let overhead = report["fitted"]["overhead_ms"].as_f64().unwrap();
    assert!((overhead / 6.0 - 1.0).abs() < 0.25, "fitted overhead {overhead} ms, true 6 ms: {report}");
    assert!(report["holdout_max_abs_error_p50"].as_f64().unwrap() < 0.05, "{report}");
    assert!(report["holdout_max_abs_error_p99"].as_f64().unwrap() < 0.12, "{report}");
    // Without calibration the bare scenario is far off.
    assert!(report["uncalibrated_max_abs_error_p50"].as_f64().unwrap() > 0.2, "{report}");
    // The calibrated scenario is a scenario servesim runs.
    let calibrated = out.join("calibrated.toml");
    ok(servesim(&["validate", calibrated.to_str().unwrap()]));
    let text = std::fs::read_to_string(&calibrated).unwrap();
    assert!(text.contains("[serving.calibration]") && text.contains("cpu_workers"), "{text}");
    let table = out.join("calibration.csv");
    let roles: Vec<String> = csv_rows(&table).iter().map(|r| r[csv_column(&table, "role")].to_string()).collect();
    assert_eq!(roles, ["fit", "hold-out", "hold-out", "fit"]);
}

#[test]
fn server_wide_stalls_are_chosen_by_cross_validation_and_predict_the_tail() {
    // A server that pauses (1 per second, exponential lengths of mean 60 ms: a garbage collector)
    // has a tail at light load that no overhead spread gives without also moving its median.
    let dir = scratch("calibrate-stalls");
    let truth = BARE.replace(
        "batching = {",
        "overhead = { pre = { kind = \"lognormal\", mean = \"3ms\", cv = 0.5 }, post = { kind = \"lognormal\", \
         mean = \"3ms\", cv = 0.5 }, cpu_workers = 1, stalls = { rate = \"1/s\", duration = { kind = \
         \"exponential\", mean = \"60ms\" } } }\nbatching = {",
    );
    let measured = measure(&dir, &truth, &[10.0, 30.0, 50.0, 70.0]);
    let bare = write(&dir, "bare.toml", BARE);
    let out = dir.join("fit");
    let stdout = ok(servesim(&["calibrate", &bare, &measured, "--out", out.to_str().unwrap()]));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("calibration.json")).unwrap()).unwrap();
    // The structure is reported, with every mechanism's fit and cross-validation losses.
    assert!(stdout.contains("chosen by cross-validation"), "{stdout}");
    assert_eq!(report["structure"], "stalls", "{report}");
    assert_eq!(report["fitted"]["tail"]["mechanism"], "stalls", "{report}");
    let mechanisms: Vec<&str> =
        report["structures"].as_array().unwrap().iter().map(|s| s["mechanism"].as_str().unwrap()).collect();
    assert_eq!(mechanisms, ["none", "slow_path", "jitter", "stalls", "proxy"]);
    // What chose it is how it predicted each fitted point when fitted without it.
    let loss = |i: usize, key: &str| report["structures"][i][key].as_f64().unwrap();
    assert!(loss(3, "cross_validation_loss") < 0.9 * loss(0, "cross_validation_loss"), "{report}");
    assert!(report["holdout_max_abs_error_p50"].as_f64().unwrap() < 0.10, "{report}");
    assert!(report["holdout_max_abs_error_p99"].as_f64().unwrap() < 0.20, "{report}");
    // The calibrated scenario carries the stalls.
    let text = std::fs::read_to_string(out.join("calibrated.toml")).unwrap();
    assert!(text.contains("[serving.overhead.stalls]"), "{text}");
    ok(servesim(&["validate", out.join("calibrated.toml").to_str().unwrap()]));
}

#[test]
fn per_request_rows_become_one_point_with_nearest_rank_percentiles() {
    // 200 requests sent every 50 ms (20 req/s over 9.95 s): latencies 1..=200 ms, so the
    // nearest-rank p50, p90, p99 are 100, 180, 198 ms.
    let dir = scratch("calibrate-per-request");
    let mut slow = String::from("send_time_s,latency_ms\n");
    let mut fast = String::from("send_time_s,latency_ms,ok\n");
    for i in 0..200 {
        slow.push_str(&format!("{},{}\n", i as f64 * 0.05, 200 - i));
        fast.push_str(&format!("{},{},true\n", i as f64 * 0.02, 50.0 + (i % 10) as f64));
    }
    fast.push_str("4.1,99999,false\n");
    let a = write(&dir, "slow.csv", &slow);
    let b = write(&dir, "fast.csv", &fast);
    let bare = write(&dir, "bare.toml", BARE);
    let out = dir.join("fit");
    ok(servesim(&["calibrate", &bare, &a, &b, "--out", out.to_str().unwrap(), "-q"]));
    let table = out.join("calibration.csv");
    let rows = csv_rows(&table);
    let get = |row: &csv::StringRecord, name: &str| row[csv_column(&table, name)].parse::<f64>().unwrap();
    // Rate order: 20 req/s (the slow file) first, then 50 req/s.
    assert!((get(&rows[0], "offered_rps") - 199.0 / 9.95).abs() < 1e-9);
    assert_eq!(
        (get(&rows[0], "measured_p50_ms"), get(&rows[0], "measured_p90_ms"), get(&rows[0], "measured_p99_ms")),
        (100.0, 180.0, 198.0)
    );
    // The failed request is left out of the second point.
    assert!((get(&rows[1], "offered_rps") - 199.0 / 3.98).abs() < 1e-9);
    assert_eq!(get(&rows[1], "measured_p99_ms"), 59.0);
}

#[test]
fn bad_load_tests_get_one_line_with_file_line_and_column() {
    let dir = scratch("calibrate-bad");
    let bare = write(&dir, "bare.toml", BARE);
    let good = "offered_rps,p50_ms,p90_ms,p99_ms\n5,20,30,40\n";
    let cases: [(&str, &str, &str); 6] = [
        ("unknown.csv", "rate,latency\n1,2\n", ":1:1: not a load-test file"),
        ("column.csv", "offered_rps,p50_ms,p90_ms,p99_ms,p95_ms\n5,20,30,40,35\n", ":1:34: unknown column \"p95_ms\""),
        ("order.csv", "offered_rps,p50_ms,p90_ms,p99_ms\n5,20,30,40\n9,30,25,60\n", ":3:6: p90: below p50"),
        ("text.csv", "offered_rps,p50_ms,p90_ms,p99_ms\n5,20,30,40\n9,x,25,60\n", ":3:3: p50_ms: expected a number"),
        (
            "negative.csv",
            "offered_rps,p50_ms,p90_ms,p99_ms\n-5,20,30,40\n9,30,35,60\n",
            ":2:1: offered_rps: expected a number",
        ),
        ("short.csv", "send_time_s,latency_ms\n0,10\n1,12\n", "at least 100 requests"),
    ];
    for (name, text, expected) in cases {
        let path = write(&dir, name, text);
        let output = servesim(&["calibrate", &bare, &path, "--out", dir.join("o").to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains(expected), "{name}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{name}: {message}");
    }
    // One point is not enough to fit; a missing file is named.
    let one = write(&dir, "one.csv", good);
    let output = servesim(&["calibrate", &bare, &one]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("at least two load points"), "{}", stderr(&output));
    let output = servesim(&["calibrate", &bare, dir.join("missing.csv").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.csv: cannot read load test"), "{}", stderr(&output));
    // A scenario whose traffic cannot be set to a load test's rate is refused at its key.
    let diurnal = write(
        &dir,
        "diurnal.toml",
        &BARE.replace(
            "arrivals = { process = \"poisson\", rate = \"10/s\" }",
            "arrivals = { process = \"diurnal\", base = \"5/s\", peak = \"10/s\", period = \"60s\" }",
        ),
    );
    let two = write(&dir, "two.csv", "offered_rps,p50_ms,p90_ms,p99_ms\n5,20,30,40\n9,30,35,60\n");
    let output = servesim(&["calibrate", &diurnal, &two]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("diurnal.toml:10:"), "{}", stderr(&output));
    // A declared tail mechanism is a batching server's: an LLM engine's calibration refuses it,
    // and an unknown name is refused with the ones there are.
    let llm = repo("validation/results/vllm-cpu.toml");
    let output = servesim(&["calibrate", &llm, &two, &two, "--tail", "proxy"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--tail chooses a dynamic-batching server's tail"), "{}", stderr(&output));
    let output = servesim(&["calibrate", &bare, &two, &two, "--tail", "gc"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("slow_path"), "{}", stderr(&output));
}
