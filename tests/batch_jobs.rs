//! Batch-scoring jobs end to end: the bundled nightly job's outputs, `check` gating on
//! P(deadline) and cost, a plan whose cheapest feasible pool is worked by hand, the CronJob against
//! Kubernetes' schema, the alert rules under `promtool check rules` and `promtool test rules`, and
//! `compare` (bad job input is in the hostile corpus, tests/hostile/make_cases.py).

mod common;

use common::*;
use yaml_rust2::YamlLoader;

#[test]
fn nightly_job_writes_its_section_series_and_report() {
    let dir = scratch("jobs-run");
    let out = dir.join("out");
    let printed = ok(servesim(&["run", &repo("scenarios/churn-nightly.toml"), "--out", out.to_str().unwrap()]));
    assert!(printed.contains("job churn") && printed.contains("deadline 06:00"), "{printed}");
    let summary = json(&out.join("summary.json"));
    let job = &summary["jobs"][0];
    assert_eq!(job["name"], "churn");
    assert_eq!(job["replications"], 400);
    assert_eq!(job["records"]["offered"], 10_000_000);
    assert_eq!(job["records"]["written_min"], 10_000_000);
    assert_eq!(job["records"]["lost"], 0);
    assert_eq!(job["records"]["exactly_once"], true);
    let deadline = &job["deadline"];
    let (met, of) = (deadline["met"].as_u64().unwrap(), deadline["of"].as_u64().unwrap());
    assert_eq!(deadline["probability"].as_f64().unwrap(), met as f64 / of as f64);
    // Wilson's score interval, worked here from met and of (z = 1.96).
    let (n, p, z) = (of as f64, met as f64 / of as f64, 1.959_964);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    let [low, high] = [0, 1].map(|i| deadline["interval_95"][i].as_f64().unwrap());
    assert!((low - (centre - half).max(0.0)).abs() < 1e-6, "{deadline}");
    assert!((high - (centre + half).min(1.0)).abs() < 1e-6, "{deadline}");
    let m = &job["makespan_s"];
    let order = ["min", "p50", "p90", "p99", "max"].map(|k| m[k].as_f64().unwrap());
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{m}");
    // The read cap binds: 12 tasks × 150 records/s = 1800/s at most, so no run beats 10 M / 1800 s.
    assert!(order[0] > 10_000_000.0 / 1800.0, "{m}");
    assert_eq!(job["bottleneck"], "feature store reads");
    // Spot is cheaper than the same hours on demand.
    assert!(job["cost"]["usd_per_run"].as_f64().unwrap() < job["cost"]["usd_per_run_all_on_demand"].as_f64().unwrap());

    let rows = csv_rows(&out.join("jobs_timeseries.csv"));
    assert!(rows.len() > 10);
    let written: Vec<u64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(written.windows(2).all(|w| w[0] <= w[1]), "records written never go down");
    assert_eq!(*written.last().unwrap(), 10_000_000);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Batch jobs</h2>") && html.contains("records written"));
    assert!(!html.contains("<h2>Regions</h2>"), "a scenario of jobs alone has no online sections");

    // `report` renders the same page from the files.
    let before = std::fs::read(out.join("report.html")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    ok(servesim(&["report", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(out.join("report.html")).unwrap(), before);

    // Byte-identical whatever the thread count.
    let one = dir.join("one");
    ok(servesim(&[
        "run",
        &repo("scenarios/churn-nightly.toml"),
        "--out",
        one.to_str().unwrap(),
        "--threads",
        "1",
        "-q",
    ]));
    for file in ["summary.json", "jobs_timeseries.csv"] {
        assert_eq!(std::fs::read(out.join(file)).unwrap(), std::fs::read(one.join(file)).unwrap(), "{file}");
    }
}

#[test]
fn check_gates_on_deadline_probability_and_cost() {
    let dir = scratch("jobs-check");
    let scenario = repo("scenarios/churn-nightly.toml");
    let passed = ok(servesim(&["check", &scenario]));
    assert!(passed.contains("check passed") && passed.contains("P(deadline 06:00)"), "{passed}");
    let costly = servesim(&["check", &scenario, "--max-usd-per-run", "0.5"]);
    assert_eq!(costly.status.code(), Some(1));
    assert!(stderr(&costly).contains("USD per run, over the 0.5 USD ceiling"));
    // Two workers (four tasks at once) read at most 600 records/s: 10 M take 4.6 h > the 4 h window.
    let text = std::fs::read_to_string(&scenario).unwrap().replace("count = 6", "count = 2");
    let small = write(&dir, "small.toml", &text.replace("../kernels", &repo("kernels")));
    let late = servesim(&["check", &small]);
    assert_eq!(late.status.code(), Some(1));
    assert!(stderr(&late).contains("P(deadline 06:00) is 0.000"), "{}", stderr(&late));
}

/// Twelve 1 s tasks, workers at 1 USD/h that take 10 s to start and are billed until the job ends,
/// a deadline 13 s after the start. With w workers the job takes 10 + ⌈12/w⌉ s and costs
/// w × (10 + ⌈12/w⌉) worker-seconds: w = 2 → 16 s (late), 3 → 14 s (late), 4 → 13 s for 52,
/// 5 → 13 s for 65, 6 → 12 s for 72. The plan must pick 4.
const HAND_PLAN: &str = r#"
name = "hand plan"
[instance_types.cpu]
usd_per_hour = 1.0
[[jobs]]
name = "score"
start = "01:00"
deadline = { at = "01:00:13", probability = 0.99 }
records = 12_000
partitions = 12
batch_records = 1000
service_time = { kind = "constant", value = "1s" }
replications = 20
workers = { instance = "cpu", count = 2, startup = "10s" }
[sweep.parameters]
"jobs.0.workers.count" = [2, 3, 4, 5, 6]
"#;

fn text_with_confidence(text: &str) -> String {
    text.replace("[sweep.parameters]", "[sweep]\nslo_confidence = 0.95\n[sweep.parameters]")
}

#[test]
fn plan_picks_the_cheapest_pool_meeting_the_deadline_and_deploys_it() {
    let dir = scratch("jobs-plan");
    let scenario = write(&dir, "plan.toml", HAND_PLAN);
    let out = dir.join("out");
    ok(servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "-q"]));
    let best = std::fs::read_to_string(out.join("best.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&best).unwrap();
    assert_eq!(parsed["jobs"][0]["workers"]["count"].as_integer(), Some(4), "{best}");
    let summary = json(&out.join("summary.json"));
    let job = &summary["jobs"][0];
    assert_eq!(job["makespan_s"]["max"], 13.0);
    assert!((job["cost"]["usd_per_run"].as_f64().unwrap() - 52.0 / 3600.0).abs() < 1e-9);
    let pareto = csv_rows(&out.join("sweep/pareto.csv"));
    assert_eq!(pareto.len(), 5);

    // Judged on the one-sided 95% Wilson bound, 20 nights all on time give only
    // 20 / (20 + 1.645²) = 0.881 < 0.99: nothing qualifies. 400 give 0.9933: 4 workers again.
    let strict = text_with_confidence(HAND_PLAN);
    let refused =
        servesim(&["plan", &write(&dir, "strict.toml", &strict), "--out", dir.join("strict").to_str().unwrap(), "-q"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("lower 95% bound"), "{}", stderr(&refused));
    let enough = strict.replace("replications = 20", "replications = 400");
    let out_enough = dir.join("enough");
    ok(servesim(&["plan", &write(&dir, "enough.toml", &enough), "--out", out_enough.to_str().unwrap(), "-q"]));
    let best: toml::Table = toml::from_str(&std::fs::read_to_string(out_enough.join("best.toml")).unwrap()).unwrap();
    assert_eq!(best["jobs"][0]["workers"]["count"].as_integer(), Some(4));

    // The CronJob: an Indexed Job of 12 completions, 4 at once. The deadline is 13 s after the
    // scheduled start; a run may start up to 10 s late (the controller's resolution), so it stops 3 s
    // after its own start, at the deadline's clock time whenever it started.
    let folder = out.join("deploy/jobs/hand-plan-score");
    let cron = &YamlLoader::load_from_str(&std::fs::read_to_string(folder.join("cronjob.yaml")).unwrap()).unwrap()[0];
    assert_eq!(cron["kind"].as_str(), Some("CronJob"));
    assert_eq!(cron["spec"]["schedule"].as_str(), Some("0 1 * * *"));
    assert_eq!(cron["spec"]["startingDeadlineSeconds"].as_i64(), Some(10));
    let spec = &cron["spec"]["jobTemplate"]["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_i64(), Some(12));
    assert_eq!(spec["parallelism"].as_i64(), Some(4));
    assert_eq!(spec["backoffLimitPerIndex"].as_i64(), Some(3));
    assert_eq!(spec["activeDeadlineSeconds"].as_i64(), Some(3));
    let condition = &spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0];
    assert_eq!((condition["type"].as_str(), condition["status"].as_str()), (Some("DisruptionTarget"), Some("True")));
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["image"].as_str(), Some("python:3.12-slim"));
    if let Some(python) = venv_python() {
        for version in KUBERNETES_VERSIONS {
            let check = std::process::Command::new(&python)
                .arg("-c")
                .arg(
                    "import sys, yaml, kubernetes_validate\n\
                     kubernetes_validate.validate(yaml.safe_load(open(sys.argv[1])), sys.argv[2], strict=True)",
                )
                .arg(folder.join("cronjob.yaml"))
                .arg(version)
                .output()
                .unwrap();
            assert!(check.status.success(), "Kubernetes {version}: {}", stderr(&check));
        }
    }
    // The placeholder scorer runs, and its partitions tile the records as the plan split them.
    let command: Vec<&str> = container["command"].as_vec().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(command[..2], ["python3", "-c"]);
    let python = venv_python().map_or("python3".into(), |p| p.display().to_string());
    let partition = |records: u64, partitions: u64, index: u64| -> (u64, u64) {
        let run = std::process::Command::new(&python)
            .args(["-c", command[2]])
            .env("SERVESIM_RECORDS", records.to_string())
            .env("SERVESIM_PARTITIONS", partitions.to_string())
            .env("SERVESIM_BATCH_RECORDS", "1000")
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", stderr(&run));
        let line = String::from_utf8(run.stdout).unwrap();
        let range = line.split('[').nth(1).unwrap().split(')').next().unwrap();
        let (start, end) = range.split_once(", ").unwrap();
        (start.parse().unwrap(), end.parse().unwrap())
    };
    assert_eq!(partition(12_000, 12, 5), (5000, 6000));
    // 10 records in 3 partitions: 4, 3, 3.
    assert_eq!((0..3).map(|i| partition(10, 3, i)).collect::<Vec<_>>(), [(0, 4), (4, 7), (7, 10)]);
}

/// The oldest Kubernetes the generated Job runs on as planned (`backoffLimitPerIndex` is on by
/// default from 1.29) and the newest the pinned validator knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

/// Pods request a slot's share of the worker, so no more than the planned slots share a node:
/// c7i.2xlarge (8 vCPUs, 16 GiB) with 2 slots: (8000 − 500) / 2 = 3750m and
/// (16384 − 1024 − 819.2) / 2 = 7270 MiB each; a third pod would need 11 250m of the node's 8000m.
#[test]
fn job_pods_request_a_slot_of_the_worker() {
    let dir = scratch("jobs-requests");
    let text = HAND_PLAN
        .replace(
            "[instance_types.cpu]\nusd_per_hour = 1.0",
            "[instance_types.cpu]\nusd_per_hour = 1.0\nvcpus = 8\nmemory_gib = 16",
        )
        .replace("count = 2, startup", "count = 2, slots = 2, startup");
    assert!(text.contains("vcpus = 8") && text.contains("slots = 2"));
    let out = dir.join("out");
    ok(servesim(&[
        "plan",
        &write(&dir, "slots.toml", &text),
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--job-image",
        "registry.example/scorer:1",
    ]));
    let folder = out.join("deploy/jobs/hand-plan-score");
    let cron = &YamlLoader::load_from_str(&std::fs::read_to_string(folder.join("cronjob.yaml")).unwrap()).unwrap()[0];
    let container = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["resources"]["requests"]["cpu"].as_str(), Some("3750m"));
    assert_eq!(container["resources"]["requests"]["memory"].as_str(), Some("7270Mi"));
    // The user's image runs its own entrypoint.
    assert_eq!(container["image"].as_str(), Some("registry.example/scorer:1"));
    assert!(container["command"].is_badvalue());
    // Too many slots for the node is refused at the key.
    let crowded = text.replace("slots = 2", "slots = 100");
    let refused = servesim(&["check", &write(&dir, "crowded.toml", &crowded)]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("slots") && stderr(&refused).contains("75m CPU"), "{}", stderr(&refused));
}

#[test]
fn alert_rules_pass_promtool_and_fire_when_the_plan_says() {
    let dir = scratch("jobs-rules");
    let out = dir.join("plan");
    ok(servesim(&["plan", &repo("scenarios/churn-nightly.toml"), "--out", out.to_str().unwrap(), "-q"]));
    // The chosen scenario runs from where it is written, and from a copy elsewhere: its profile
    // path (relative to scenarios/ in the original) is absolute in best.toml.
    let best = out.join("best.toml");
    ok(servesim(&["check", best.to_str().unwrap(), "--max-usd-per-run", "2.5"]));
    std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
    let elsewhere = write(&dir.join("elsewhere"), "best.toml", &std::fs::read_to_string(&best).unwrap());
    ok(servesim(&["check", &elsewhere, "--max-usd-per-run", "2.5"]));
    let folder = out.join("deploy/jobs/churn-nightly-churn");
    let rules_path = folder.join("prometheus-rules.yaml");
    let Some(promtool) = promtool() else { return };
    let checked = std::process::Command::new(promtool).args(["check", "rules"]).arg(&rules_path).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));

    // When each alert should fire follows from summary.json and the scenario, not from the rules.
    // The run is scheduled at 02:00 (minute 120 of the test's clock) and starts 10 minutes late.
    // The deadline is a clock time, 06:00, and the warning comes 30 min before it: minute 330,
    // however late the start (counting from the start would give 340). The long-run alert counts
    // from the actual start: the p99 makespan plus its 5 minutes after minute 130.
    let summary = json(&out.join("summary.json"));
    let p99_s = summary["jobs"][0]["makespan_s"]["p99"].as_f64().unwrap().ceil() as u64;
    let deadline_minutes = 120 + (4 * 3600 - 1800) / 60;
    let long_minutes = 130 + p99_s.div_ceil(60) + 5;
    let rules = &YamlLoader::load_from_str(&std::fs::read_to_string(&rules_path).unwrap()).unwrap()[0];
    let annotations = |alert: &str| -> String {
        let rule =
            rules["groups"][0]["rules"].as_vec().unwrap().iter().find(|r| r["alert"].as_str() == Some(alert)).unwrap();
        let a = &rule["annotations"];
        format!(
            "{{summary: {:?}, description: {:?}}}",
            a["summary"].as_str().unwrap(),
            a["description"].as_str().unwrap()
        )
    };
    let labels = "namespace: batch, job_name: churn-nightly-churn-29000000";
    let test = format!(
        r#"rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kube_job_status_start_time{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '_x129 7800x570'
      - series: 'kube_job_status_active{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '_x129 8x570'
      - series: 'kube_job_status_failed{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '_x129 0x570'
      - series: 'kube_job_status_succeeded{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '_x129 0+1x570'
    alert_rule_test:
      - eval_time: {before_deadline}m
        alertname: ChurnNotFinishedByDeadline
        exp_alerts: []
      - eval_time: {after_deadline}m
        alertname: ChurnNotFinishedByDeadline
        exp_alerts:
          - exp_labels: {{severity: critical, {labels}}}
            exp_annotations: {deadline_annotations}
      - eval_time: {before_long}m
        alertname: ChurnJobRunningLong
        exp_alerts: []
      - eval_time: {after_long}m
        alertname: ChurnJobRunningLong
        exp_alerts:
          - exp_labels: {{severity: warning, {labels}}}
            exp_annotations: {long_annotations}
      - eval_time: 430m
        alertname: ChurnTaskFailureRateHigh
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'kube_job_status_failed{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '0+2x40'
      - series: 'kube_job_status_succeeded{{namespace="batch", job_name="churn-nightly-churn-29000000"}}'
        values: '0+1x40'
    alert_rule_test:
      - eval_time: 30m
        alertname: ChurnTaskFailureRateHigh
        exp_alerts:
          - exp_labels: {{severity: warning, {labels}}}
            exp_annotations: {failure_annotations}
"#,
        rules = rules_path.display(),
        before_deadline = deadline_minutes - 1,
        after_deadline = deadline_minutes + 1,
        before_long = long_minutes - 2,
        after_long = long_minutes + 1,
        deadline_annotations = annotations("ChurnNotFinishedByDeadline"),
        long_annotations = annotations("ChurnJobRunningLong"),
        failure_annotations = annotations("ChurnTaskFailureRateHigh"),
    );
    let test_path = write(&dir, "rules-test.yaml", &test);
    let tested = std::process::Command::new(promtool).args(["test", "rules", &test_path]).output().unwrap();
    assert!(
        tested.status.success(),
        "{}{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
}

#[test]
fn compare_prices_online_batch_and_edge_by_hand() {
    let dir = scratch("jobs-compare");
    let out = dir.join("out");
    ok(servesim(&["compare", &repo("scenarios/churn-compare.toml"), "--out", out.to_str().unwrap(), "-q"]));
    let options = json(&out.join("compare.json"));
    let options = options.as_array().unwrap();
    assert_eq!(options.len(), 3);
    let per_day = 115.74 * 86_400.0;
    // Online: two c7i.2xlarge at 0.357 USD/h around the clock.
    let online = options[0]["usd_per_million_predictions"].as_f64().unwrap();
    assert!((online - 2.0 * 0.357 * 24.0 / per_day * 1e6).abs() < 1e-6, "{online}");
    assert_eq!(options[0]["staleness_max_h"], 0.0);
    // Edge: mlp-churn has 64·256+256 + 256·128+128 + 128+1 = 49 665 weights, 4 bytes each, to
    // 10 M devices 4 times a month at 0.09 USD/GB.
    let bytes = 49_665.0 * 4.0;
    let monthly = 10e6 * 4.0 * bytes / 1e9 * 0.09;
    let edge = options[2]["usd_per_million_predictions"].as_f64().unwrap();
    assert!((edge - monthly / (per_day * 30.4375) * 1e6).abs() < 1e-6, "{edge}");
    assert!((options[2]["staleness_max_h"].as_f64().unwrap() - 30.4375 * 24.0 / 4.0).abs() < 1e-9);
    // Batch: the job's cost per run (from `run` of the same scenario and seed) over a day's
    // predictions plus 0.25 USD per million lookups; its lookup p50 is the lognormal's median,
    // mean / √(1 + cv²) = 3 / √1.36 = 2.572 ms.
    let run_out = dir.join("run");
    ok(servesim(&[
        "run",
        &repo("scenarios/churn-compare.toml"),
        "--out",
        run_out.to_str().unwrap(),
        "-q",
        "--no-uncertainty",
    ]));
    let per_run = json(&run_out.join("summary.json"))["jobs"][0]["cost"]["usd_per_run"].as_f64().unwrap();
    let batch = &options[1];
    let expected = per_run / per_day * 1e6 + 0.25;
    assert!((batch["usd_per_million_predictions"].as_f64().unwrap() - expected).abs() < 1e-9, "{batch} vs {expected}");
    assert!((batch["latency_p50_ms"].as_f64().unwrap() - 3.0 / 1.36f64.sqrt()).abs() < 0.03, "{batch}");
    assert!(batch["staleness_max_h"].as_f64().unwrap() > 24.0);
    let html = std::fs::read_to_string(out.join("compare.html")).unwrap();
    assert!(html.matches("<svg").count() >= 2 && html.contains("edge (on the client"));
    assert_eq!(csv_rows(&out.join("compare.csv")).len(), 3);
}

/// A job whose every scheduling setting differs from the defaults: what the Airflow DAG and the
/// Spark files must carry, worked from this text alone.
const ENGINE_JOB: &str = r#"
name = "engines"
[instance_types.cpu]
usd_per_hour = 0.5
vcpus = 16
memory_gib = 64
[[jobs]]
name = "night \"score\" \\ é"
start = "03:30"
deadline = { at = "05:00", probability = 0.5 }
records = 40_000
partitions = 40
batch_records = 500
service_time = { kind = "constant", value = "1s" }
replications = 20
failures = { max_attempts = 3, backoff = "30s", max_backoff = "5m" }
speculation = { quantile = 0.75, multiplier = 1.5, interval = "2s" }
ENGINE
[jobs.workers]
instance = "cpu"
count = 5
slots = 3
autoscaling = { min = 2, max = 9, idle_timeout = "90s" }
[sweep.parameters]
"jobs.0.batch_records" = [500]
"#;

/// The pinned Airflow venv `.ci/run` makes (SERVESIM_AIRFLOW_PYTHON overrides); CI must have it.
fn airflow_python() -> Option<std::path::PathBuf> {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/airflow/bin/python");
    let python = std::env::var_os("SERVESIM_AIRFLOW_PYTHON")
        .map(std::path::PathBuf::from)
        .or_else(|| venv.is_file().then_some(venv));
    if python.is_none() {
        assert!(std::env::var("CI").is_err(), "CI must create .ci/airflow with the pinned Airflow (see .ci/run)");
        eprintln!("skipped: no Airflow venv (run .ci/run once, or set SERVESIM_AIRFLOW_PYTHON)");
    }
    python
}

/// What Airflow's DagBag made of `dag` (tests/validate_dag.py).
fn airflow_view(python: &std::path::Path, dag: &std::path::Path) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_dag.py");
    let output = std::process::Command::new(python).arg(script).arg(dag).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// The settings a pod-per-partition DAG must have, from ENGINE_JOB: 03:30 UTC daily; 3 attempts
/// (2 retries) 30 s apart, doubling to at most 5 min; the deadline 05:00 is 5400 s after the
/// start, warned 30 min before (3600 s after the logical date); 5 workers × 3 slots = 15 at once.
fn pod_dag_mismatches(view: &serde_json::Value) -> Vec<String> {
    let expected = serde_json::json!({
        "import_errors": {}, "schedule": "30 3 * * *", "timezone": "UTC", "catchup": false,
        "max_active_runs": 1, "deadline_reference": "DagRunLogicalDateDeadline",
        "deadline_interval_s": 3600.0, "mapped": true, "retries": 2, "retry_delay_s": 30.0,
        "retry_exponential_backoff": true, "max_retry_delay_s": 300.0, "execution_timeout_s": 5400.0,
        "max_active_tis_per_dag": 15,
    });
    expected
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, value)| view[key.as_str()] != **value)
        .map(|(key, value)| format!("{key}: {} (expected {value})", view[key.as_str()]))
        .collect()
}

#[test]
fn airflow_dag_and_spark_files_carry_the_simulated_settings() {
    let dir = scratch("jobs-engines");
    let plan = |name: &str, engine: &str| -> std::path::PathBuf {
        let text = ENGINE_JOB.replace("ENGINE", engine);
        let out = dir.join(name);
        ok(servesim(&["plan", &write(&dir, &format!("{name}.toml"), &text), "--out", out.to_str().unwrap(), "-q"]));
        let folders: Vec<_> = std::fs::read_dir(out.join("deploy/jobs")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(folders.len(), 1);
        folders[0].clone()
    };
    let pods = plan("pods", "");
    let spark = plan("spark", "engine = \"spark\"");

    // spark-submit.conf, as Spark reads a properties file: `key value` lines, `#` comments.
    let conf_text = std::fs::read_to_string(spark.join("spark-submit.conf")).unwrap();
    let conf: std::collections::BTreeMap<&str, &str> = conf_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    for (key, value) in [
        ("spark.executor.cores", "3"),
        ("spark.task.maxFailures", "3"),
        ("spark.dynamicAllocation.enabled", "true"),
        ("spark.dynamicAllocation.initialExecutors", "5"),
        ("spark.dynamicAllocation.minExecutors", "2"),
        ("spark.dynamicAllocation.maxExecutors", "9"),
        ("spark.dynamicAllocation.executorIdleTimeout", "90s"),
        ("spark.speculation", "true"),
        ("spark.speculation.quantile", "0.75"),
        ("spark.speculation.multiplier", "1.5"),
        ("spark.speculation.interval", "2000ms"),
        ("spark.default.parallelism", "40"),
        ("spark.sql.execution.arrow.maxRecordsPerBatch", "500"),
        // 16 vCPUs less 0.5, over 3 slots: 5166m a task, 15498m the executor.
        ("spark.kubernetes.executor.request.cores", "15498m"),
    ] {
        assert_eq!(conf.get(key).copied(), Some(value), "{key}");
    }
    assert!(!conf.contains_key("spark.executor.instances"), "dynamic allocation sets the initial executors");
    // The SparkApplication carries the same settings.
    let app =
        &YamlLoader::load_from_str(&std::fs::read_to_string(spark.join("spark-application.yaml")).unwrap()).unwrap()[0];
    assert_eq!(app["apiVersion"].as_str(), Some("sparkoperator.k8s.io/v1beta2"));
    assert_eq!(app["kind"].as_str(), Some("SparkApplication"));
    let spec = &app["spec"];
    for (key, value) in &conf {
        assert_eq!(spec["sparkConf"][*key].as_str(), Some(*value), "{key}");
    }
    assert_eq!(spec["executor"]["cores"].as_i64(), Some(3));
    assert_eq!(spec["dynamicAllocation"]["minExecutors"].as_i64(), Some(2));
    assert_eq!(spec["dynamicAllocation"]["maxExecutors"].as_i64(), Some(9));
    assert_eq!(spec["restartPolicy"]["type"].as_str(), Some("Never"));

    let Some(python) = airflow_python() else { return };
    // The pods' DAG imports in Airflow (the job's quotes, backslash and accent included) with the
    // simulated settings; a DAG one retry off is caught.
    let dag = pods.join("dag.py");
    let view = airflow_view(&python, &dag);
    assert_eq!(pod_dag_mismatches(&view), Vec::<String>::new(), "{view}");
    assert_eq!(view["operator"], "MappedOperator");
    let text = std::fs::read_to_string(&dag).unwrap();
    assert!(text.contains("RETRIES = 2 "));
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("dag.py"), text.replace("RETRIES = 2 ", "RETRIES = 3 ")).unwrap();
    let mismatches = pod_dag_mismatches(&airflow_view(&python, &broken.join("dag.py")));
    assert_eq!(mismatches, ["retries: 3 (expected 2)"]);

    // The Spark DAG submits the application once with spark-submit.conf beside it: Spark retries
    // the tasks.
    let view = airflow_view(&python, &spark.join("dag.py"));
    assert_eq!(view["import_errors"], serde_json::json!({}));
    assert_eq!(view["operator"], "SparkSubmitOperator");
    assert_eq!(view["retries"], 0);
    assert_eq!(view["schedule"], "30 3 * * *");
    assert_eq!(view["deadline_interval_s"], 3600.0);
    let properties = view["properties_file"].as_str().unwrap();
    assert_eq!(
        std::fs::canonicalize(properties).unwrap(),
        std::fs::canonicalize(spark.join("spark-submit.conf")).unwrap()
    );
}
