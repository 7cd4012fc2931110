//! The `servesim` binary end to end: bundled scenarios, output files, determinism, exit codes and
//! error messages for bad input.

mod common;

use common::*;

use serde_json::Value;
use std::path::Path;

fn run_to(scenario: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["run", scenario, "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    let output = servesim(&args);
    assert!(output.status.success(), "{scenario}: {}", stderr(&output));
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn every_bundled_scenario_validates_runs_and_keeps_its_books() {
    let dir = scratch("bundled");
    let scenarios = bundled_scenarios(&dir);
    assert!(scenarios.len() >= 3);
    for (name, path) in scenarios {
        let path = path.as_str();
        let validated = servesim(&["validate", path]);
        assert!(validated.status.success(), "{name}: {}", stderr(&validated));
        let out = dir.join(&name);
        // Without the uncertainty band's extra runs: tests/digests.rs runs each scenario in full.
        let summary = run_to(path, &out, &["--no-uncertainty"]);
        for file in ["summary.json", "run.json", "timeseries.csv"] {
            assert!(out.join(file).is_file(), "{name}: {file} missing");
        }
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{name}: temporary files left behind");

        // Conservation: every offered request is accounted for, overall, per region and per
        // extra deployment.
        let sections = std::iter::once(&summary)
            .chain(summary["regions"].as_object().unwrap().values())
            .chain(summary.get("deployments").and_then(Value::as_object).into_iter().flat_map(|d| d.values()));
        for section in sections {
            let r = &section["requests"];
            let n = |k: &str| r[k].as_u64().unwrap();
            assert_eq!(
                n("offered"),
                n("completed") + n("degraded") + n("failed") + n("dropped") + n("timed_out") + n("unfinished"),
                "{name}: {r}"
            );
        }
        let r = &summary["requests"];
        let n = |k: &str| r[k].as_u64().unwrap();
        // Batch jobs keep their own books: every record offered is in the output once.
        for job in summary.get("jobs").and_then(Value::as_array).into_iter().flatten() {
            assert_eq!(job["records"]["offered"], job["records"]["written_min"], "{name}: {job}");
            assert_eq!(job["records"]["lost"], 0, "{name}");
            assert!(job["runs"]["finished"].as_u64().unwrap() > 0, "{name}");
        }
        if summary.get("jobs").is_some() && n("offered") == 0 {
            continue; // a scenario of jobs alone: nothing online to check
        }
        assert!(n("completed") > 1000, "{name}: too little traffic to check anything");

        // Little's law: time-average number in system = throughput × mean latency, where every
        // request is answered; requests that failed or gave up also spent time in the system, so
        // then the answered ones alone bound it from below.
        let measured = summary["duration_s"].as_f64().unwrap() - summary["warmup_s"].as_f64().unwrap();
        let lambda = (n("completed") + n("degraded")) as f64 / measured;
        let w = summary["latency_ms"]["mean"].as_f64().unwrap() / 1e3;
        let l = summary["mean_in_system"].as_f64().unwrap();
        if n("failed") + n("dropped") + n("timed_out") == 0 {
            assert!((l / (lambda * w) - 1.0).abs() < 0.02, "{name}: L = {l}, λW = {}", lambda * w);
        } else {
            assert!(l >= 0.98 * lambda * w, "{name}: L = {l}, λW = {}", lambda * w);
        }

        let run: Value = serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
        assert!(run["events"].as_u64().unwrap() > 0);
        assert!(run["events_per_second"].as_f64().unwrap() > 0.0);

        let series = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
        assert!(series.starts_with("start_s,end_s,region,warmup,offered_rps,completed_rps"));
        assert!(series.lines().count() > 2);
    }
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_thread_count() {
    let dir = scratch("determinism");
    let scenario = repo("scenarios/quickstart.toml");
    let read = |name: &str| std::fs::read(dir.join(name).join("summary.json")).unwrap();
    run_to(&scenario, &dir.join("a"), &["--replications", "3", "--threads", "1"]);
    run_to(&scenario, &dir.join("b"), &["--replications", "3", "--threads", "2"]);
    run_to(&scenario, &dir.join("c"), &["--replications", "3", "--threads", "2", "--seed", "43"]);
    assert_eq!(read("a"), read("b"));
    assert_ne!(read("a"), read("c"));
    let file = |name: &str, file: &str| std::fs::read(dir.join(name).join(file)).unwrap();
    assert_eq!(file("a", "timeseries.csv"), file("b", "timeseries.csv"));
    // The page too: its charts once drew bars in a hash map's order.
    assert_eq!(file("a", "report.html"), file("b", "report.html"));

    run_to(&scenario, &dir.join("d"), &[]);
    run_to(&scenario, &dir.join("e"), &[]);
    assert_eq!(read("d"), read("e"));
    assert_eq!(file("d", "report.html"), file("e", "report.html"));
}

#[test]
fn replications_report_a_mean_and_confidence_interval() {
    let dir = scratch("replications");
    let summary = run_to(&repo("scenarios/mmc.toml"), &dir, &["--replications", "4"]);
    assert_eq!(summary["replications"], 4);
    assert_eq!(summary["seed"].as_array().unwrap().len(), 4);
    let wait = &summary["queue_wait_ms"]["mean"];
    let (low, mean, high) =
        (wait["ci95_low"].as_f64().unwrap(), wait["mean"].as_f64().unwrap(), wait["ci95_high"].as_f64().unwrap());
    assert!(low < mean && mean < high, "{wait}");
    // Erlang C for M/M/8 at λ = 720/s, μ = 100/s: mean wait 8.37 ms; four one-hour runs land close.
    assert!((mean - 8.37).abs() < 0.6, "mean wait {mean} ms");
}

const BASE: &str = r#"name = "bad"
duration = "10s"

[regions.a]
replicas = 2

[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "100/s" }

[serving]
service_time = { kind = "constant", value = "5ms" }
batching = { max_batch = 8, preferred_batch_sizes = [4, 8] }
"#;

/// Runs `validate` and `run` on a broken scenario; both must exit 2 with one line naming `expect`.
fn assert_rejected(dir: &Path, name: &str, text: &str, expect: &[&str]) {
    let path = write(dir, name, text);
    for command in ["validate", "run"] {
        let out_dir = dir.join(format!("{name}-out"));
        let output =
            servesim(&[command, &path, "--out", out_dir.to_str().unwrap()][..if command == "run" { 4 } else { 2 }]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{name} ({command}): {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{name}: not one line: {message}");
        assert!(!message.contains("panicked"), "{name}: {message}");
        for fragment in expect {
            assert!(message.contains(fragment), "{name} ({command}): {message:?} lacks {fragment:?}");
        }
        assert!(!out_dir.exists(), "{name}: a rejected run wrote output");
    }
}

#[test]
fn bad_operations_are_rejected_with_file_line_and_column() {
    let dir = scratch("errors-operations");
    let with = |extra: &str| format!("{BASE}{extra}");
    assert_rejected(
        &dir,
        "fault-region.toml",
        &with("\n[[faults]]\nkind = \"region_outage\"\nregion = \"mars\"\nat = \"1s\"\nduration = \"1s\"\n"),
        &[":17:", "unknown region \"mars\"", "regions are: a"],
    );
    assert_rejected(
        &dir,
        "fault-timing.toml",
        &with("\n[[faults]]\nkind = \"replica_crash\"\nregion = \"a\"\nat = \"1s\"\nmttr = \"1s\"\n"),
        &[":15:", "either `at` and `duration`, or `mtbf` and `mttr`"],
    );
    assert_rejected(
        &dir,
        "autoscaling-typo.toml",
        &BASE.replace(
            "replicas = 2\n",
            "replicas = 2\nautoscaling = { metric = \"utilization\", targett = 0.5, max_replicas = 4 }\n",
        ),
        &[":6:", "targett"],
    );
    assert_rejected(
        &dir,
        "autoscaling-bounds.toml",
        &BASE.replace("replicas = 2\n", "replicas = 2\nautoscaling = { metric = \"utilization\", target = 0.5, min_replicas = 3, max_replicas = 4 }\n"),
        &[":6:", "within [min_replicas, max_replicas] = [3, 4]"],
    );
    assert_rejected(
        &dir,
        "autoscaling-zero.toml",
        &BASE.replace("replicas = 2\n", "replicas = 2\nautoscaling = { metric = \"concurrency\", target = 4, min_replicas = 0, max_replicas = 4 }\n"),
        &[":6:", "needs a cooldown"],
    );
    assert_rejected(
        &dir,
        "retries.toml",
        &with("\n[retries]\nmultiplier = -2\n"),
        &[":16:", "multiplier must be at least 1"],
    );
    assert_rejected(
        &dir,
        "breaker.toml",
        &BASE.replace("[serving]\n", "[serving]\ncircuit_breaker = { failure_rate = 1.5 }\n"),
        &[":12:", "failure_rate must be between 0 and 1"],
    );
    assert_rejected(
        &dir,
        "dependency.toml",
        &with("\n[[faults]]\nkind = \"dependency_failure\"\nregion = \"a\"\nat = \"1s\"\nduration = \"1s\"\n"),
        &["has no feature_store to fail"],
    );
    assert_rejected(
        &dir,
        "shadow.toml",
        &with("\n[shadow]\nfraction = 2\nreplicas = 1\n"),
        &[":16:", "fraction must be in (0, 1]"],
    );
}

#[test]
fn bad_scenarios_are_rejected_with_file_line_and_column() {
    let dir = scratch("errors");
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    assert_rejected(
        &dir,
        "typo.toml",
        &BASE.replace("replicas = 2", "replcas = 2"),
        &[&format!("{}:5:1:", file("typo.toml")), "unknown field `replcas`", "replicas"],
    );
    assert_rejected(
        &dir,
        "negative.toml",
        &BASE.replace("\"100/s\"", "\"-5/s\""),
        &[&format!("{}:9:", file("negative.toml")), "rate must be positive"],
    );
    assert_rejected(&dir, "zero.toml", &BASE.replace("\"100/s\"", "0"), &["rate must be positive"]);
    assert_rejected(
        &dir,
        "region.toml",
        &BASE.replace("origin = \"a\"", "origin = \"mars\""),
        &[&format!("{}:8:10:", file("region.toml")), "unknown region \"mars\"", "regions are: a"],
    );
    assert_rejected(
        &dir,
        "preferred.toml",
        &BASE.replace("[4, 8]", "[4, 32]"),
        &[&format!("{}:13:", file("preferred.toml")), "preferred batch size 32", "max_batch (8)"],
    );
    assert_rejected(
        &dir,
        "weights.toml",
        &format!("{BASE}\n[routing]\npolicy = \"weighted\"\nweights = {{ a = 0 }}\n"),
        &[":17:", "sum to a positive number"],
    );
    assert_rejected(
        &dir,
        "weights-region.toml",
        &format!("{BASE}\n[routing]\npolicy = \"weighted\"\nweights = {{ b = 1 }}\n"),
        &["unknown region \"b\""],
    );
    assert_rejected(
        &dir,
        "huge-rate.toml",
        &BASE.replace("\"100/s\"", "\"1e10/s\""),
        &[":2:", "would send about 1.00e11 requests"],
    );
    assert_rejected(
        &dir,
        "huge-fleet.toml",
        &BASE.replace("replicas = 2", "replicas = 4000000000"),
        &[":5:", "at most 100000"],
    );
    assert_rejected(
        &dir,
        "huge-batch.toml",
        &BASE.replace("max_batch = 8,", "max_batch = 100000000,"),
        &[":13:", "between 1 and 65536"],
    );
    assert_rejected(&dir, "unit.toml", &BASE.replace("\"10s\"", "10"), &[":2:", "needs a unit"]);
    assert_rejected(&dir, "syntax.toml", &BASE.replace("[serving]", "[serving"), &[":11:"]);
    assert_rejected(&dir, "process.toml", &BASE.replace("poisson", "poison"), &[":9:", "poison"]);
    assert_rejected(
        &dir,
        "warmup.toml",
        &BASE.replace("duration = \"10s\"", "duration = \"10s\"\nwarmup = \"1min\""),
        &[":3:", "warmup"],
    );
    assert_rejected(
        &dir,
        "table-missing.toml",
        &BASE.replace(r#"{ kind = "constant", value = "5ms" }"#, r#"{ kind = "table", file = "nope.csv" }"#),
        &[":12:", "cannot read latency table"],
    );
    write(&dir, "short.csv", "batch_size,latency_ms\n1,2.0\n4,3.5\n");
    assert_rejected(
        &dir,
        "table-short.toml",
        &BASE.replace(r#"{ kind = "constant", value = "5ms" }"#, r#"{ kind = "table", file = "short.csv" }"#),
        &["stops at batch size 4 but max_batch is 8"],
    );
    write(&dir, "broken.csv", "batch_size,latency_ms\n1,2.0\n2,fast\n");
    assert_rejected(
        &dir,
        "table-broken.toml",
        &BASE.replace(r#"{ kind = "constant", value = "5ms" }"#, r#"{ kind = "table", file = "broken.csv" }"#),
        &[&format!("{}:3:3:", file("broken.csv")), "latency_ms is not a number"],
    );

    let trace = |extra: &str| {
        BASE.replace(
            r#"arrivals = { process = "poisson", rate = "100/s" }"#,
            &format!(r#"arrivals = {{ process = "trace", file = "trace.csv"{extra} }}"#),
        )
    };
    write(&dir, "trace.csv", "timestamp,tokens\n0.5,10\n1.0,20\n1.5,x\n");
    assert_rejected(
        &dir,
        "trace-column.toml",
        &trace(r#", size_column = "ContextTokens""#),
        &[":9:", "no column \"ContextTokens\"", "timestamp, tokens"],
    );
    assert_rejected(
        &dir,
        "trace-row.toml",
        &trace(r#", size_column = "tokens""#),
        &[&format!("{}:4:5:", file("trace.csv")), "not a whole number"],
    );
    assert_rejected(&dir, "trace-missing.toml", &trace("").replace("trace.csv", "missing.csv"), &["cannot read trace"]);

    let missing = servesim(&["run", &file("does-not-exist.toml")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("does-not-exist.toml: cannot read scenario"));
}

#[test]
fn the_azure_traces_replay() {
    let traces = repo("../shared/data/traces");
    if !Path::new(&traces).is_dir() {
        eprintln!("skipped: {traces} is absent (the shared data folder is not beside this checkout)");
        return;
    }
    let dir = scratch("azure");
    // Row counts from ../shared/data/traces/README.md.
    for (file, rows) in [("azure-llm-2023-conv.csv", 19_366u64), ("azure-llm-2023-code.csv", 8_819)] {
        let text = BASE
            .replace("duration = \"10s\"", "duration = \"2h\"\ninterval = \"5min\"")
            .replace(
                r#"arrivals = { process = "poisson", rate = "100/s" }"#,
                &format!(
                    r#"arrivals = {{ process = "trace", file = "{traces}/{file}", timestamp_column = "TIMESTAMP", size_column = "ContextTokens", output_column = "GeneratedTokens" }}"#
                ),
            );
        let scenario = write(&dir, &format!("{file}.toml"), &text);
        let summary = run_to(&scenario, &dir.join(file), &[]);
        assert_eq!(summary["requests"]["offered"].as_u64(), Some(rows), "{file}");
        // The traces span just under an hour: ~5.6 requests/s (conv) and ~2.6/s (code) over 2 h.
        let sped_up =
            text.replace("output_column = \"GeneratedTokens\"", "output_column = \"GeneratedTokens\", speedup = 4.0");
        let scenario = write(&dir, &format!("{file}-x4.toml"), &sped_up);
        let fast = run_to(&scenario, &dir.join(format!("{file}-x4")), &[]);
        assert_eq!(fast["requests"]["offered"].as_u64(), Some(rows));
        let series = std::fs::read_to_string(dir.join(format!("{file}-x4")).join("timeseries.csv")).unwrap();
        // Sped up 4×, the hour of traffic fits in the first 15 minutes: nothing after that.
        let late: f64 = series
            .lines()
            .skip(1)
            .filter(|l| l.contains(",all,"))
            .filter(|l| l.split(',').next().unwrap().parse::<f64>().unwrap() >= 900.0)
            .map(|l| l.split(',').nth(4).unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(late, 0.0, "{file}");
    }
}

#[test]
fn help_and_usage_errors() {
    let help = servesim(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("validate"));
    let usage = servesim(&["run"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn calibrated_gpu_estimates_print_a_band_that_holds_the_published_figure() {
    // NVIDIA's published T4 BERT-base FP16 latencies (TensorRT 8.4.3): batch 8, seq 128: 9.09 ms;
    // batch 128: 144.20 ms. The old H200-transferred estimates were 5.80 and 79.25 ms. (A 68% band
    // misses a third of the table by design; these two are inside it.) They are the demo's own
    // engines, so the estimate is made under that stack.
    for (batch, seq, published) in [("8", "128", 9.09), ("128", "128", 144.20)] {
        let out = servesim(&[
            "latency",
            "--model",
            "bert-base-uncased",
            "--device",
            "t4",
            "--stack",
            "tensorrt-demo",
            "--batch",
            batch,
            "--seq",
            seq,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap();
        let number = |after: &str| -> f64 {
            let rest = &first[first.find(after).unwrap() + after.len()..];
            rest.split(|c: char| !(c.is_ascii_digit() || c == '.')).next().unwrap().parse().unwrap()
        };
        let estimate = number(&format!("seq {seq}: "));
        let low = number("68% band ");
        let high = number(&format!("{low:.3}–"));
        assert!((estimate / published - 1.0).abs() < 0.10, "{first}");
        assert!(low <= published && published <= high, "{first}");
        assert!(text.contains("calibrated on 40 published latencies"), "{text}");
    }
    let table = servesim(&["accuracy"]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("| t4 | 40 |") && text.contains("| l4 | seq 128 → seq 384 |"), "{text}");
}

#[test]
fn latency_estimates_name_their_source_and_model_scenarios_load() {
    let estimate = servesim(&["latency", "--model", "distilbert-base-uncased", "--device", "a10g", "--batch", "8"]);
    assert!(estimate.status.success(), "{}", stderr(&estimate));
    let text = String::from_utf8_lossy(&estimate.stdout);
    // Every printed estimate names its stack: the default is a generic runtime, not the demo.
    assert!(text.starts_with("distilbert-base-uncased on a10g under onnxruntime-cuda: batch 8, seq 128:"), "{text}");
    assert!(text.contains("serving stack onnxruntime-cuda: fitted on"), "{text}");
    assert!(text.contains("source: estimated (roofline"));
    assert!(text.contains("66955010 parameters"));
    let unknown = servesim(&["latency", "--model", "gpt-9", "--device", "a10g"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("the catalog has: bert-base-uncased"));

    let dir = scratch("model-scenario");
    let with_model = BASE.replace(
        r#"{ kind = "constant", value = "5ms" }"#,
        r#"{ kind = "model", model = "distilbert-base-uncased", device = "a10g", seq = 64 }"#,
    );
    let path = write(&dir, "model.toml", &with_model);
    let out = dir.join("out");
    let summary = run_to(&path, &out, &[]);
    let source = summary["regions"]["a"]["service_time_source"].as_str().unwrap();
    assert!(
        source.starts_with("distilbert-base-uncased on a10g, seq 64: fp16: estimated (roofline on a10g"),
        "{source}"
    );
    // No published figures for the A10G: the H200 calibration, said so, with the band of its
    // error across the devices that have figures (×0.85–×1.30), combined with the default
    // stack's band: wider on both sides.
    assert!(source.contains("no published measurements for a10g"), "{source}");
    assert!(source.contains("serving stack onnxruntime-cuda"), "{source}");
    let band = &source[source.rfind("[68% band ×").expect(source) + "[68% band ×".len()..source.len() - 1];
    let (low, high) = band.split_once("–×").unwrap();
    let (low, high): (f64, f64) = (low.parse().unwrap(), high.parse().unwrap());
    assert!(low < 0.85 && high > 1.30, "{source}");
    assert_rejected(
        &dir,
        "model-device.toml",
        &with_model.replace("\"a10g\"", "\"tpu\""),
        &[":12:", "unknown device \"tpu\""],
    );
}

/// A region named like a spreadsheet formula is written so that spreadsheets show it as text,
/// and `servesim report` reads it back as written.
#[test]
fn csv_cells_cannot_start_a_spreadsheet_formula() {
    let dir = scratch("formula");
    let scenario = write(
        &dir,
        "f.toml",
        r#"
name = "formula"
duration = "5s"
["regions"."=HYPERLINK(1)"]
replicas = 1
[[traffic]]
origin = "=HYPERLINK(1)"
arrivals = { process = "poisson", rate = "50/s" }
[serving]
service_time = { kind = "constant", value = "1ms" }
"#,
    );
    let out = dir.join("out");
    run_to(&scenario, &out, &[]);
    for file in ["timeseries.csv", "latency_cdf.csv"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("'=HYPERLINK(1)"), "{file}: {text}");
        assert!(!text.lines().any(|l| l.starts_with('=') || l.contains(",=")), "{file}: {text}");
    }
    let page = std::fs::read(out.join("report.html")).unwrap();
    ok(servesim(&["report", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(out.join("report.html")).unwrap(), page, "report DIR reads the names back as written");
}

/// Inputs that used to panic, abort on allocation or hang: each is now one located line and exit 2.
#[test]
fn inputs_that_crashed_or_hung_now_get_one_line_and_exit_2() {
    let dir = scratch("crashers");
    let base = "name = \"c\"\nduration = \"5s\"\n[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\narrivals = { process = \"poisson\", rate = \"50/s\" }\n[serving]\n";
    let check = |args: &[&str], expect: &str| {
        let output = servesim(args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        // The first line says it all (clap adds a usage hint after its own errors).
        let first = message.lines().next().unwrap_or_default();
        assert!(first.contains(expect), "{args:?}: {message}");
    };
    for (seq, name) in [("0", "seq0.toml"), ("2000000", "seqbig.toml")] {
        let text = format!(
            "{base}service_time = {{ kind = \"model\", model = \"bert-base-uncased\", device = \"t4\", seq = {seq} }}\n"
        );
        let path = write(&dir, name, &text);
        check(&["validate", &path], "seq must be between 1 and");
        check(&["validate", &path], &format!("{name}:9:"));
    }
    let zero =
        write(&dir, "zero.toml", &format!("{base}service_time = {{ kind = \"table\", file = \"/dev/zero\" }}\n"));
    check(&["validate", &zero], "not a regular file");
    let ok_scenario =
        write(&dir, "ok.toml", &format!("{base}service_time = {{ kind = \"constant\", value = \"1ms\" }}\n"));
    check(&["run", &ok_scenario, "--replications", "4000000000"], "--replications");
    check(&["check", &ok_scenario, "--max-usd-per-hour", "nan"], "not a price");
    check(&["latency", "--model", "bert-base-uncased", "--device", "t4", "--batch", "0"], "--batch");
    check(&["run", "/dev/null"], "not a regular file");
}

/// Scenarios whose size or event rate would exhaust memory or stall the run are refused up front,
/// at their key.
#[test]
fn scenarios_too_large_or_too_fast_to_run_are_refused_at_their_key() {
    let dir = scratch("admission");
    let serving = "[serving]\nservice_time = { kind = \"constant\", value = \"1ms\" }\n";
    let one = "name = \"a\"\nduration = \"5s\"\n[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\narrivals = { process = \"poisson\", rate = \"50/s\" }\n";
    let check = |name: &str, text: &str, expect: &[&str]| {
        let path = write(&dir, name, text);
        let output = servesim(&["validate", &path]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {message}");
        for part in expect {
            assert!(message.contains(part), "{name}: {part:?} missing in {message}");
        }
        assert_eq!(message.trim_end().lines().count(), 1, "{name}: {message}");
    };
    let mut many = String::from("name = \"many\"\nduration = \"5s\"\n");
    for i in 0..1001 {
        many.push_str(&format!("[regions.r{i}]\nreplicas = 0\n"));
    }
    many.push_str(&format!(
        "[[traffic]]\norigin = \"r0\"\narrivals = {{ process = \"poisson\", rate = \"5/s\" }}\n{serving}"
    ));
    check("many.toml", &many, &["many.toml:", "at most 1000 regions"]);
    let huge = one.replace("replicas = 1", "replicas = 100000")
        + "[serving]\nservice_time = { kind = \"constant\", value = \"1ms\" }\nbatching = { instances = 1024 }\n";
    check("huge.toml", &huge, &["huge.toml:4:", "model instances in one deployment"]);
    let fast_faults =
        format!("{one}{serving}[[faults]]\nkind = \"replica_crash\"\nregion = \"a\"\nmtbf = \"1ns\"\nmttr = \"1s\"\n");
    check("faults.toml", &fast_faults, &["faults.toml:13:", "mtbf must be at least 1ms"]);
    let fast_scaler = one.replace("replicas = 1", "replicas = 1\nautoscaling = { metric = \"concurrency\", target = 4, max_replicas = 4, evaluation_interval = \"1ns\" }")
        + serving;
    check("scaler.toml", &fast_scaler, &["scaler.toml:5:", "evaluation_interval must be at least 1ms"]);
}
