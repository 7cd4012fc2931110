//! `servesim sweep` and `servesim merge` end to end: a grid whose best point is worked out by hand,
//! capacity search against the M/M/c latency distribution, determinism across threads and shards,
//! and resumption after SIGKILL.

mod common;

use common::*;

use std::path::Path;
use std::process::Command;

/// pareto.csv as (header, rows of cells).
fn pareto(dir: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("pareto.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

/// Constant arrivals at 2000/s split round robin over `replicas`, so each replica sees one every
/// replicas × 0.5 ms. Batches of b take L(b) = 2, 2.5, 3 ms for b = 1, 2, 4. With no batching
/// delay a replica keeps up exactly when some allowed size b has L(b) ≤ b × gap; otherwise its
/// queue grows until requests drop. By hand:
///   replicas 1 (gap 0.5 ms): none of 2 ≤ 0.5, 2.5 ≤ 1, 3 ≤ 2           → infeasible
///   replicas 2 (gap 1 ms):   only b = 4: 3 ≤ 4                           → feasible with max_batch 4
///   replicas 3 (gap 1.5 ms): b = 2: 2.5 ≤ 3                              → feasible with max_batch 2, 4
///   replicas 5 (gap 2.5 ms): b = 1: 2 ≤ 2.5                              → feasible with any max_batch
/// At 1 USD/h per replica the cheapest feasible point is 2 replicas with max_batch 4.
const GRID: &str = r#"
name = "hand-grid"
seed = 3
duration = "20s"
warmup = "2s"

[regions.a]
replicas = 1
instance = "box"

[instance_types.box]
usd_per_hour = 1.0

[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "2000/s" }

[serving]
queue_capacity = 100
timeout = "100ms"
balancer = "round_robin"
service_time = { kind = "table", points = [[1, "2ms"], [2, "2.5ms"], [4, "3ms"]] }
batching = { max_batch = 1 }

[slo]
latency = [{ percentile = 99, max = "20ms" }]
availability = 0.999

[sweep]
strategy = "grid"
[sweep.parameters]
"regions.a.replicas" = [1, 2, 3, 5]
"serving.batching.max_batch" = [1, 2, 4]
"#;

#[test]
fn grid_finds_the_hand_computed_best_point() {
    let dir = scratch("grid");
    let scenario = write(&dir, "grid.toml", GRID);
    let out = dir.join("out");
    let stdout = ok(servesim(&["sweep", &scenario, "--out", out.to_str().unwrap()]));
    assert!(stdout.contains("6 of 12 points meet the SLO"), "{stdout}");
    let rows = pareto(&out);
    assert_eq!(rows.len(), 12);
    let feasible: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["feasible"] == "true")
        .map(|r| (r["regions.a.replicas"].clone(), r["serving.batching.max_batch"].clone()))
        .collect();
    let expected: Vec<(String, String)> = [("2", "4"), ("3", "2"), ("3", "4"), ("5", "1"), ("5", "2"), ("5", "4")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(feasible, expected);
    let best = rows.iter().find(|r| r["rank"] == "1").unwrap();
    assert_eq!((best["regions.a.replicas"].as_str(), best["serving.batching.max_batch"].as_str()), ("2", "4"));
    assert_eq!(best["usd_per_hour"], "2");
    assert_eq!(best["on_frontier"], "true");
    for row in rows.iter().filter(|r| r["feasible"] == "false") {
        assert!(!row["reason"].is_empty(), "an infeasible point says why: {row:?}");
    }
    let best_toml = std::fs::read_to_string(out.join("best.toml")).unwrap();
    let chosen: toml::Table = toml::from_str(&best_toml).unwrap();
    assert_eq!(chosen["regions"]["a"]["replicas"].as_integer(), Some(2));
    assert_eq!(chosen["serving"]["batching"]["max_batch"].as_integer(), Some(4));
    assert!(chosen.get("sweep").is_none());
    // best.toml is itself a runnable scenario.
    let best_path = out.join("best.toml");
    ok(servesim(&["validate", best_path.to_str().unwrap()]));
    // One row per point and replication in sweep.csv (infeasible-by-construction points have one row).
    let sweep_rows = std::fs::read_to_string(out.join("sweep.csv")).unwrap().lines().count() - 1;
    assert_eq!(sweep_rows, 12);
}

/// P(T > t) for M/M/c response time T = W + S: with probability 1 − C no wait, else an
/// Exp(cμ − λ) wait; S ~ Exp(μ) independent.
fn mmc_response_tail(t: f64, c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let erlang_c = f64::from(c) * b / (f64::from(c) - a * (1.0 - b));
    let theta = f64::from(c) * mu - lambda;
    let sum_tail = (mu * (-theta * t).exp() - theta * (-mu * t).exp()) / (mu - theta);
    (1.0 - erlang_c) * (-mu * t).exp() + erlang_c * sum_tail
}

#[test]
fn capacity_search_matches_the_mmc_latency_percentile() {
    // M/M/4 with 10 ms mean service and a 60 ms p99 latency target: theory's capacity is the λ at
    // which P(T > 60 ms) = 1%.
    let (c, mu, target) = (4, 100.0, 0.060);
    let (mut low, mut high) = (1.0, f64::from(c) * mu - 1e-9);
    for _ in 0..200 {
        let middle = (low + high) / 2.0;
        if mmc_response_tail(target, c, middle, mu) > 0.01 {
            high = middle;
        } else {
            low = middle;
        }
    }
    let theory = low;
    let dir = scratch("capacity");
    let scenario = write(
        &dir,
        "mmc.toml",
        r#"
name = "capacity"
seed = 11
duration = "900s"
warmup = "30s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "100/s" }
[serving]
queue_capacity = 1000000
service_time = { kind = "exponential", mean = "10ms" }
batching = { max_batch = 1, instances = 4 }
[slo]
latency = [{ percentile = 99, max = "60ms" }]
[sweep]
strategy = "capacity"
replications = 2
capacity = { min_scale = 0.5, max_scale = 3.99, tolerance = 0.003 }
"#,
    );
    let out = dir.join("out");
    ok(servesim(&["sweep", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let rows = pareto(&out);
    assert_eq!(rows.len(), 1);
    let found: f64 = rows[0]["capacity_rps"].parse().unwrap();
    println!("capacity: search {found:.1}/s, theory {theory:.1}/s");
    assert!((found / theory - 1.0).abs() < 0.04, "search found {found}/s, theory {theory}/s");
}

#[test]
fn threads_and_shards_give_identical_files() {
    let dir = scratch("determinism");
    let scenario = write(&dir, "grid.toml", GRID);
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args =
            vec!["sweep", scenario.as_str(), "--out", out.to_str().unwrap(), "--quiet", "--replications", "2"];
        args.extend_from_slice(extra);
        ok(servesim(&args));
        out
    };
    let one = run("one", &["--threads", "1"]);
    let two = run("two", &["--threads", "2"]);
    let shard0 = run("shard0", &["--shard", "0/2"]);
    let shard1 = run("shard1", &["--shard", "1/2", "--threads", "1"]);
    assert!(!shard0.join("sweep.csv").exists(), "a shard writes only its journal");
    let merged = dir.join("merged");
    ok(servesim(&[
        "merge",
        "--out",
        merged.to_str().unwrap(),
        "--quiet",
        shard1.to_str().unwrap(),
        shard0.to_str().unwrap(),
    ]));
    for file in ["sweep.csv", "pareto.csv", "best.toml"] {
        let a = std::fs::read(one.join(file)).unwrap();
        assert_eq!(a, std::fs::read(two.join(file)).unwrap(), "{file}: 1 vs 2 threads");
        assert_eq!(a, std::fs::read(merged.join(file)).unwrap(), "{file}: single run vs merged shards");
    }
    // Merging an incomplete set is refused.
    let partial = servesim(&["merge", "--out", dir.join("partial").to_str().unwrap(), shard0.to_str().unwrap()]);
    assert_eq!(partial.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&partial.stderr).contains("missing shards 1 of 2"));
}

#[test]
fn a_killed_sweep_resumes_without_losing_finished_points() {
    let dir = scratch("resume");
    // 16 points of a few tenths of a second each.
    let slow = GRID
        .replace("duration = \"20s\"", "duration = \"120s\"")
        .replace("[1, 2, 3, 5]", "[2, 3, 5, 6, 7, 8, 9, 10]")
        .replace("[1, 2, 4]", "[2, 4]");
    let scenario = write(&dir, "slow.toml", &slow);
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(["sweep", &scenario, "--out", out.to_str().unwrap(), "--quiet", "--threads", "1"])
        .spawn()
        .unwrap();
    let journal = out.join("journal.jsonl");
    let started = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(&journal).map(|t| t.lines().count()).unwrap_or(0);
        if lines >= 4 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the sweep made no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A second sweep into the same folder while this one runs is refused, and leaves it alone.
    let concurrent = servesim(&["sweep", &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(concurrent.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&concurrent.stderr).contains("another servesim command is writing"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = std::fs::read_to_string(&journal).unwrap().lines().count() - 1;
    assert!((3..16).contains(&kept), "{kept} points journaled before the kill");
    assert!(!out.join("pareto.csv").exists());

    let resumed = servesim(&["sweep", &scenario, "--out", out.to_str().unwrap(), "--threads", "2"]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resuming"));
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sweep-run.json")).unwrap()).unwrap();
    let skipped = info["skipped_finished"].as_u64().unwrap() as usize;
    assert!(skipped >= kept, "kept {kept}, skipped {skipped}");
    assert_eq!(info["evaluated"].as_u64().unwrap() as usize + skipped, 16);

    let fresh = dir.join("fresh");
    ok(servesim(&["sweep", &scenario, "--out", fresh.to_str().unwrap(), "--quiet"]));
    for file in ["sweep.csv", "pareto.csv", "best.toml"] {
        assert_eq!(std::fs::read(out.join(file)).unwrap(), std::fs::read(fresh.join(file)).unwrap(), "{file}");
    }
    // The journal of another sweep is not reused.
    let other = write(&dir, "other.toml", &slow.replace("seed = 3", "seed = 4"));
    let refused = servesim(&["sweep", &other, "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("different sweep"));
    // A journal that is a link (here dangling, to a file outside --out) is refused, not followed.
    #[cfg(unix)]
    {
        let linked = dir.join("linked");
        std::fs::create_dir_all(&linked).unwrap();
        let outside = dir.join("outside.jsonl");
        std::os::unix::fs::symlink(&outside, linked.join("journal.jsonl")).unwrap();
        let refused = servesim(&["sweep", &scenario, "--out", linked.to_str().unwrap(), "--quiet"]);
        assert_eq!(refused.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("not a regular file"));
        assert!(!outside.exists());
    }
}

#[test]
fn right_size_finds_the_fewest_replicas() {
    // The hand grid's stability rule, L(b) ≤ b × gap with gap = replicas × 0.5 ms, per max_batch.
    let dir = scratch("right-size");
    let text = GRID
        .replace(
            "strategy = \"grid\"",
            "strategy = \"right_size\"\nright_size = { paths = [\"regions.a.replicas\"], min = 1, max = 12 }",
        )
        .replace("\"regions.a.replicas\" = [1, 2, 3, 5]\n", "");
    let scenario = write(&dir, "rs.toml", &text);
    let out = dir.join("out");
    ok(servesim(&["sweep", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let rows = pareto(&out);
    let by_batch: Vec<(String, String)> =
        rows.iter().map(|r| (r["serving.batching.max_batch"].clone(), r["replicas_searched"].clone())).collect();
    // max_batch 4 → 2 replicas; max_batch 2 → 3; max_batch 1 → 4 (gap 2 ms = batch time: D/D/1 at
    // ρ = 1 never queues) — all by the stability rule above.
    assert_eq!(by_batch, [("1", "4"), ("2", "3"), ("4", "2")].map(|(a, b)| (a.to_string(), b.to_string())));
    let best: toml::Table = toml::from_str(&std::fs::read_to_string(out.join("best.toml")).unwrap()).unwrap();
    assert_eq!(best["regions"]["a"]["replicas"].as_integer(), Some(2));
}

#[test]
fn bad_sweeps_are_rejected() {
    let dir = scratch("bad");
    let scenario = write(&dir, "grid.toml", GRID);
    let typo = servesim(&[
        "sweep",
        &scenario,
        "--set",
        "serving.batching.max_bach=1,2",
        "--out",
        dir.join("o1").to_str().unwrap(),
    ]);
    assert_eq!(typo.status.code(), Some(2));
    let message = String::from_utf8_lossy(&typo.stderr);
    assert!(message.contains("unknown field `max_bach`"), "{message}");
    assert!(message.contains("--set serving.batching.max_bach"), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1);

    // Parameters written in the file that do not fit the format point at their key there.
    let lines: Vec<&str> = GRID.lines().collect();
    let parameters = lines.iter().position(|l| l.starts_with("[sweep.parameters]")).expect("GRID sweeps");
    for (bad, expect) in [
        ("\"serving.batchin.max_batch\" = [1, 2]", "unknown field `batchin`"),
        ("\"traffic[7].origin\" = [\"a\"]", "index 7 is past the end"),
        ("\"slo.latency_pxyz\" = [\"5ms\"]", "expected slo.latency_pNN"),
        ("\"serving..max_batch\" = [1]", "bad parameter path"),
        ("\"serving.queue_capacity\" = [\"eight\"]", "invalid type"),
    ] {
        let mut text: Vec<&str> = lines.clone();
        text.insert(parameters + 1, bad);
        let file = write(&dir, "param.toml", &(text.join("\n") + "\n"));
        let failed = servesim(&["sweep", &file, "--out", dir.join("o4").to_str().unwrap()]);
        let message = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(2), "{bad}: {message}");
        let position = format!("param.toml:{}:", parameters + 2);
        assert!(message.contains(&position) && message.contains(expect), "{bad}: {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
    let random = servesim(&["sweep", &scenario, "--strategy", "random", "--out", dir.join("o2").to_str().unwrap()]);
    assert_eq!(random.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&random.stderr).contains("needs samples"));
    let range = write(&dir, "range.toml", &GRID.replace("[1, 2, 3, 5]", "{ range = [5, 1], step = 1 }"));
    let bad_range = servesim(&["sweep", &range, "--out", dir.join("o3").to_str().unwrap()]);
    assert_eq!(bad_range.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad_range.stderr).contains("range.toml:"),
        "{}",
        String::from_utf8_lossy(&bad_range.stderr)
    );
}

#[test]
fn random_sampling_is_a_reproducible_subset_of_the_grid() {
    let dir = scratch("random");
    let scenario = write(&dir, "grid.toml", GRID);
    let run = |name: &str| {
        let out = dir.join(name);
        ok(servesim(&[
            "sweep",
            &scenario,
            "--strategy",
            "random",
            "--samples",
            "5",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]));
        std::fs::read_to_string(out.join("pareto.csv")).unwrap()
    };
    let a = run("a");
    assert_eq!(a, run("b"));
    assert_eq!(a.lines().count(), 6);
}

#[test]
fn cluster_manifests_run_the_shards() {
    let dir = scratch("k8s");
    let scenario = write(&dir, "grid.toml", GRID);
    let out = dir.join("out");
    ok(servesim(&[
        "sweep",
        &scenario,
        "--emit-k8s-job",
        "--shards",
        "3",
        "--image",
        "registry.example/servesim:0.1",
        "--out",
        out.to_str().unwrap(),
    ]));
    let job = std::fs::read_to_string(out.join("k8s-sweep-job.yaml")).unwrap();
    for needle in [
        "kind: Job",
        "completionMode: Indexed",
        "completions: 3",
        "parallelism: 3",
        "image: \"registry.example/servesim:0.1\"",
        "- $(JOB_COMPLETION_INDEX)/3",
    ] {
        assert!(job.contains(needle), "{needle} missing from:\n{job}");
    }
    let slurm = std::fs::read_to_string(out.join("slurm-sweep.sh")).unwrap();
    assert!(slurm.contains("#SBATCH --array=0-2"));
    assert!(slurm.contains("--shard \"${SLURM_ARRAY_TASK_ID}/3\""));
    assert!(!out.join("journal.jsonl").exists(), "emitting manifests runs nothing");
}

/// What a hostile file name or `--set` value does to the generated manifests: nothing (a hostile
/// image is refused). The
/// Slurm script runs with a stub `servesim` that records its arguments; the Job's YAML parses to
/// the keys servesim wrote, with the arguments as data.
#[test]
fn cluster_manifests_carry_hostile_arguments_as_data() {
    let dir = scratch("k8s-hostile");
    let scenario = write(&dir, "a$(touch PWNED_FILE).toml", GRID);
    let out = dir.join("out");
    let evil_set = "description=x' ; touch PWNED_SET ; echo '";
    let evil_image = "busybox\n   securityContext: {privileged: true}\n#";
    // An image that is no image reference is refused before anything is written.
    let refused =
        servesim(&["sweep", &scenario, "--emit-k8s-job", "--image", evil_image, "--out", out.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("not a container image reference"), "{}", stderr(&refused));
    assert!(!out.join("k8s-sweep-job.yaml").exists());
    let image = "registry.example/servesim:0.1";
    ok(servesim(&[
        "sweep",
        &scenario,
        "--set",
        evil_set,
        "--emit-k8s-job",
        "--shards",
        "2",
        "--image",
        image,
        "--out",
        out.to_str().unwrap(),
    ]));
    // Run the Slurm script as sbatch would, with a stub servesim on the PATH.
    let work = dir.join("work");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("args.txt");
    let stub = bin.join("servesim");
    std::fs::write(
        &stub,
        format!("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n", record.display()),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&stub).status().unwrap();
    let status = std::process::Command::new("bash")
        .arg(out.join("slurm-sweep.sh"))
        .current_dir(&work)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("SLURM_ARRAY_TASK_ID", "1")
        .status()
        .unwrap();
    assert!(status.success());
    for marker in ["PWNED_FILE", "PWNED_SET"] {
        assert!(!work.join(marker).exists() && !dir.join(marker).exists(), "{marker}: the script ran user text");
    }
    let args = std::fs::read_to_string(&record).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..4], ["sweep", "a$(touch PWNED_FILE).toml", "--set", evil_set], "{args:?}");
    assert!(args.windows(2).any(|w| w == ["--shard", "1/2"]), "{args:?}");

    // The Job: the image is one string, the --set value one argument, no extra keys.
    let job = std::fs::read_to_string(out.join("k8s-sweep-job.yaml")).unwrap();
    let Some(python) = venv_python() else { return };
    let check = "import sys, yaml, json\nd = yaml.safe_load(open(sys.argv[1]))\nc = d['spec']['template']['spec']['containers'][0]\nprint(json.dumps([sorted(d), sorted(c), c['image'], c['args']]))";
    let parsed =
        std::process::Command::new(python).args(["-c", check]).arg(out.join("k8s-sweep-job.yaml")).output().unwrap();
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let value: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(value[0], serde_json::json!(["apiVersion", "kind", "metadata", "spec"]));
    assert_eq!(value[1], serde_json::json!(["args", "command", "image", "name", "resources", "volumeMounts"]));
    assert_eq!(value[2], image);
    assert!(value[3].as_array().unwrap().iter().any(|a| a == evil_set), "{}", value[3]);
    assert!(job.contains("servesim sweep of"), "{job}");
}

#[test]
fn catalog_instances_are_priced_from_the_bundled_catalog() {
    let dir = scratch("catalog");
    let text = GRID
        .replace("instance = \"box\"", "instance = \"g5.xlarge@us-east-1\"")
        .replace("[sweep]", "[sweep.unused]")
        .replace("[sweep.parameters]", "[unused]");
    let text = text[..text.find("[sweep.unused]").unwrap()].to_string();
    let scenario = write(&dir, "priced.toml", &text);
    let out = dir.join("out");
    ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    // AWS on-demand g5.xlarge in us-east-1: 1.006 USD/h (catalog/instances.csv).
    assert_eq!(summary["cost"]["usd_per_hour"].as_f64(), Some(1.006));
    let spot = write(
        &dir,
        "spot.toml",
        &text.replace("instance = \"g5.xlarge@us-east-1\"", "instance = \"g5.xlarge@us-east-1\"\npricing = \"spot\""),
    );
    let refused = servesim(&["validate", &spot]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no spot price"));
    let prices = write(&dir, "prices.csv", "cloud,instance,gpu,gpus,region,usd_per_hour,spot_usd_per_hour,source\naws,g5.xlarge,a10g,1,us-east-1,1.006,0.45,my quote 2026-11\n");
    ok(servesim(&["run", &spot, "--prices", &prices, "--out", dir.join("spot").to_str().unwrap(), "--quiet"]));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("spot").join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["cost"]["usd_per_hour"].as_f64(), Some(0.45));
}
