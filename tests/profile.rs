//! `servesim profile`, profile-based latency and its use in scenarios, and the accuracy of
//! profile predictions against ONNX Runtime.

mod common;

use common::{ok, repo, scratch, servesim, stderr, write};
use serde_json::Value;

#[test]
fn cpu_profiles_carry_provenance_and_sane_spreads() {
    let dir = scratch("profile-ops");
    let ops = write(
        &dir,
        "ops.csv",
        "# extra columns are ignored, so a profile can be measured again\nop,shape,dtype,note\n\
         gemm,m=8 n=64 k=32,fp32,x\nsoftmax,rows=16 cols=64,fp32,y\nembedding_bag,bags=4 bag_size=3 dim=8 table=1000,fp32,z\n\
         attention_prefill,batch=1 heads=4 kv_heads=2 seq=16 head_dim=8 causal=true,fp32,w\n",
    );
    let out = dir.join("profile.csv");
    let output = servesim(&["profile", "--ops", &ops, "--quick", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&out).unwrap();
    let profile = kernels::Profile::parse(&text).unwrap();
    for key in ["device", "backend", "threads", "clocks", "caches", "kernels", "grid", "date", "servesim_version"] {
        assert!(profile.provenance(key).is_some_and(|v| !v.is_empty()), "no {key} in\n{text}");
    }
    assert_eq!(profile.provenance("backend"), Some("cpu"));
    assert_eq!(profile.measurements.len(), 4);
    for m in &profile.measurements {
        assert!(m.stat.median_ns > 0.0 && m.stat.p10_ns <= m.stat.median_ns && m.stat.median_ns <= m.stat.p90_ns);
        assert!(m.stat.runs >= 3, "{m:?}");
    }
    assert!(profile.batch_overhead.is_some());
    // A GEMM with 64× the work of another takes longer (sanity, not a benchmark).
    let ops = write(&dir, "gemms.csv", "op,shape,dtype\ngemm,m=4 n=64 k=64,fp32\ngemm,m=256 n=64 k=64,fp32\n");
    ok(servesim(&["profile", "--ops", &ops, "--quick", "--out", out.to_str().unwrap()]));
    let profile = kernels::Profile::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(profile.measurements[1].stat.median_ns > profile.measurements[0].stat.median_ns);
}

#[test]
fn bad_profiler_input_exits_2_with_one_line() {
    let dir = scratch("profile-bad");
    let out = dir.join("never.csv");
    let out = out.to_str().unwrap();
    let bad_row = write(&dir, "bad.csv", "op,shape,dtype\ngemm,m=8 n=64 k=32,fp32\ngemm,m=8 n=64,fp32\n");
    let no_header = write(&dir, "noheader.csv", "gemm,m=8 n=64 k=32,fp32\n");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["profile", "--ops", &bad_row, "--out", out], "bad.csv:3:1: gemm needs `k=`"),
        (vec!["profile", "--ops", &no_header, "--out", out], "needs an `op` column"),
        (vec!["profile", "--ops", "/nonexistent.csv", "--out", out], "/nonexistent.csv"),
        (vec!["profile", "--model", "gpt-9", "--out", out], "unknown model \"gpt-9\""),
        (vec!["profile", "--model", "mlp-churn", "--dtype", "bf16", "--out", out], "fp32 only"),
        (vec!["profile", "--model", "mlp-churn", "--batches", "0,8", "--out", out], "positive"),
        #[cfg(not(feature = "cuda"))]
        (vec!["profile", "--backend", "cuda", "--model", "mlp-churn", "--out", out], "--features cuda"),
        // With the feature on a machine without a GPU the driver is missing; with one, this test
        // does not run the CUDA case.
    ];
    for (args, expect) in cases {
        let output = servesim(&args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert_eq!(message.trim_end().lines().count(), 1, "{args:?}: not one line: {message}");
        assert!(message.contains(expect), "{args:?}: {message:?} lacks {expect:?}");
        assert!(!message.contains("panicked"));
    }
    assert!(!dir.join("never.csv").exists());
}

#[cfg(feature = "cuda")]
#[test]
fn the_cuda_backend_without_a_driver_says_so() {
    // SAFETY: only tries to load the library.
    if unsafe { cudarc_present() } {
        return;
    }
    let dir = scratch("profile-cuda");
    let out = dir.join("gpu.csv");
    let output =
        servesim(&["profile", "--backend", "cuda", "--model", "mlp-churn", "--quick", "--out", out.to_str().unwrap()]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    assert!(message.contains("no NVIDIA driver found"), "{message}");
    assert!(!out.exists());
}

#[cfg(feature = "cuda")]
unsafe fn cudarc_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
}

/// mlp-churn at batch 1 is six operators; a hand-made profile gives each a round time.
const MLP_PROFILE: &str = "# device: hand-made\n# backend: test\n\
op,shape,dtype,median_ns,p10_ns,p90_ns,runs\n\
gemm,m=1 n=256 k=64,fp32,100000,90000,110000,5\n\
relu,elements=256,fp32,10000,9000,11000,5\n\
gemm,m=1 n=128 k=256,fp32,200000,190000,210000,5\n\
relu,elements=128,fp32,20000,19000,21000,5\n\
gemm,m=1 n=1 k=128,fp32,300000,290000,310000,5\n\
sigmoid,elements=1,fp32,30000,29000,31000,5\n\
gemm,m=4 n=256 k=64,fp32,400000,390000,410000,5\n\
batch_overhead,,-,40000,39000,41000,5\n";

#[test]
fn a_scenario_on_a_profile_serves_in_the_summed_operator_time() {
    let dir = scratch("profile-scenario");
    write(&dir, "mlp.csv", MLP_PROFILE);
    // One request every 100 ms, max batch 1, no network: every latency is the batch-1 forward
    // pass, by hand 100 + 10 + 200 + 20 + 300 + 30 µs of operators + 40 µs per batch = 700 µs.
    let scenario = write(
        &dir,
        "mlp.toml",
        r#"name = "profiled"
duration = "10s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = { process = "constant", rate = "10/s" }
[serving]
service_time = { kind = "model", model = "mlp-churn", device = "mlp.csv" }
"#,
    );
    let out = dir.join("out");
    ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let summary: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let latency = &summary["latency_ms"];
    // HDR histograms keep 3 significant figures.
    for key in ["p50", "max"] {
        assert!((latency[key].as_f64().unwrap() / 0.7 - 1.0).abs() < 1e-3, "{latency}");
    }
    let source = summary["regions"]["a"]["service_time_source"].as_str().unwrap();
    assert!(source.contains("mlp-churn on mlp.csv"), "{source}");
    assert!(source.contains("measured from profile mlp.csv"), "{source}");

    // `servesim latency` shows the same sum, operator by operator, each measured.
    let text = ok(servesim(&["latency", "--model", "mlp-churn", "--device", &dir.join("mlp.csv").to_string_lossy()]));
    assert!(text.contains(": 0.700 ms (measured)"), "{text}");
    assert_eq!(text.matches("  measured ").count(), 7, "{text}"); // six operators and the overhead
                                                                  // Batch 2: the first GEMM's m = 2 lies between the measured m = 1 and m = 4, the others
                                                                  // scale from their single measured shape → interpolated, nothing estimated.
    let text = ok(servesim(&[
        "latency",
        "--model",
        "mlp-churn",
        "--device",
        &dir.join("mlp.csv").to_string_lossy(),
        "--batch",
        "2",
    ]));
    assert!(text.contains("(interpolated)") && !text.contains("  estimated "), "{text}");
    // Between m = 1 (100 µs) and m = 4 (400 µs) in log-log space: 100 · 4^(1/2) = 200 µs.
    assert!(text.contains("   0.2000 ") && text.contains("m=2 n=256 k=64"), "{text}");

    // A broken profile is named with its own line and column, behind the scenario's.
    write(&dir, "broken.csv", &MLP_PROFILE.replace("200000,190000", "fast,190000"));
    let broken =
        write(&dir, "broken.toml", &std::fs::read_to_string(&scenario).unwrap().replace("mlp.csv", "broken.csv"));
    let output = servesim(&["validate", &broken]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("broken.toml:9:") && message.contains("broken.csv:6:"), "{message}");
    let missing =
        write(&dir, "missing.toml", &std::fs::read_to_string(&scenario).unwrap().replace("mlp.csv", "gone.csv"));
    let message = stderr(&servesim(&["validate", &missing]));
    assert!(message.contains("cannot read profile") && message.contains("gone.csv"), "{message}");
}

#[test]
fn sequence_buckets_follow_the_trace_sizes() {
    let dir = scratch("profile-buckets");
    let profile = repo("kernels/profiles/cpu-xeon-1thread.csv");
    let predicted = |seq: &str| -> f64 {
        let text = ok(servesim(&["latency", "--model", "all-MiniLM-L6-v2", "--device", &profile, "--seq", seq]));
        let first = text.lines().next().unwrap();
        let ms = first.rsplit(": ").next().unwrap().split(" ms").next().unwrap();
        ms.parse().unwrap()
    };
    let (short, long) = (predicted("32"), predicted("128"));
    assert!(long > 2.0 * short, "{short} {long}");
    for (size, expected) in [(20, short), (100, long)] {
        // Requests every 200 ms, batch 1: each is served alone at its bucket.
        let rows: String = (0..20).map(|i| format!("{:.1},{size}\n", 0.2 * f64::from(i))).collect();
        write(&dir, "trace.csv", &format!("timestamp,tokens\n{rows}"));
        let scenario = write(
            &dir,
            "buckets.toml",
            &format!(
                r#"name = "buckets"
duration = "5s"
[regions.a]
replicas = 1
[[traffic]]
origin = "a"
arrivals = {{ process = "trace", file = "trace.csv", size_column = "tokens" }}
[serving]
service_time = {{ kind = "model", model = "all-MiniLM-L6-v2", device = "{profile}", seq = 128, seq_buckets = [32, 128] }}
"#
            ),
        );
        let out = dir.join(format!("out-{size}"));
        ok(servesim(&["run", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
        let summary: Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let p50 = summary["latency_ms"]["p50"].as_f64().unwrap();
        // HDR histograms keep 3 significant figures.
        assert!((p50 / expected - 1.0).abs() < 0.002, "size {size}: {p50} ms vs {expected} ms");
    }
}

/// The acceptance bar of docs/accuracy.md: the shipped CPU profile predicts all-MiniLM-L6-v2
/// under ONNX Runtime (measured on the same machine class) within 35% MAPE.
#[test]
fn minilm_predictions_stay_within_35_percent_of_onnx_runtime() {
    let text = ok(servesim(&[
        "latency",
        "--model",
        "all-MiniLM-L6-v2",
        "--device",
        &repo("kernels/profiles/cpu-xeon-1thread.csv"),
        "--compare",
        &repo("kernels/accuracy/minilm-ort.csv"),
    ]));
    let line = text.lines().find(|l| l.starts_with("MAPE: ")).expect("a MAPE line");
    let mape: f64 = line["MAPE: ".len()..].split('%').next().unwrap().parse().unwrap();
    assert!(mape <= 35.0, "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| batch")).count(), 6, "{text}");
    // The comparison must be able to fail: predictions scaled by two would not pass.
    let doubled = scratch("profile-doubled");
    let profile =
        kernels::Profile::parse(&std::fs::read_to_string(repo("kernels/profiles/cpu-xeon-1thread.csv")).unwrap())
            .unwrap();
    let mut slow = profile.clone();
    for m in &mut slow.measurements {
        m.stat.median_ns *= 2.0;
        m.stat.p10_ns *= 2.0;
        m.stat.p90_ns *= 2.0;
    }
    let path = write(&doubled, "slow.csv", &slow.to_csv());
    let text = ok(servesim(&[
        "latency",
        "--model",
        "all-MiniLM-L6-v2",
        "--device",
        &path,
        "--compare",
        &repo("kernels/accuracy/minilm-ort.csv"),
    ]));
    let line = text.lines().find(|l| l.starts_with("MAPE: ")).unwrap();
    let doubled_mape: f64 = line["MAPE: ".len()..].split('%').next().unwrap().parse().unwrap();
    assert!(doubled_mape > 35.0, "{text}");
}
