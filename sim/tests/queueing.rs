//! The engine against queueing theory: Erlang C for M/M/c, Pollaczek–Khinchine for M/D/1 and M/G/1,
//! Little's law. Every figure compared here comes from a closed-form formula, not from the code.

mod support;

use support::*;

/// A single-region scenario with one replica of `c` instances sharing one queue: an M/·/c system.
fn single_queue(c: u32, lambda_per_s: f64, service: &str, duration_s: u64, warmup_s: u64) -> String {
    format!(
        r#"
name = "theory"
duration = "{duration_s}s"
warmup = "{warmup_s}s"
interval = "1h"
[regions.local]
replicas = 1
[[traffic]]
origin = "local"
arrivals = {{ process = "poisson", rate = "{lambda_per_s}/s" }}
[serving]
queue_capacity = 10000000
service_time = {service}
batching = {{ max_batch = 1, instances = {c} }}
"#
    )
}

struct Case {
    c: u32,
    rho: f64,
    /// Simulated seconds per replication, chosen so the standard error is a few percent.
    duration_s: u64,
}

#[test]
fn mmc_mean_wait_matches_erlang_c() {
    let mu = 1000.0; // 1 ms mean service
    let cases = [
        Case { c: 1, rho: 0.5, duration_s: 200 },
        Case { c: 1, rho: 0.9, duration_s: 1000 },
        Case { c: 1, rho: 0.95, duration_s: 2000 },
        Case { c: 8, rho: 0.9, duration_s: 200 },
        Case { c: 8, rho: 0.95, duration_s: 300 },
        Case { c: 32, rho: 0.7, duration_s: 40 },
        Case { c: 32, rho: 0.95, duration_s: 100 },
    ];
    let replications = 16;
    for case in cases {
        let lambda = case.rho * f64::from(case.c) * mu;
        let warmup = case.duration_s / 20;
        let model =
            model(&single_queue(case.c, lambda, r#"{ kind = "exponential", mean = "1ms" }"#, case.duration_s, warmup));
        let summaries = replicate(&model, replications);
        let waits: Vec<f64> = summaries.iter().map(|s| s.overall.queue_wait_ms.mean.unwrap() / 1e3).collect();
        let (mean, se) = mean_se(&waits);
        let theory = mmc_mean_wait(case.c, lambda, mu);
        let band = t_9995(waits.len() - 1) * se;
        println!(
            "M/M/{} rho={}: simulated {:.4} ms ± {:.4} (SE), Erlang C {:.4} ms",
            case.c,
            case.rho,
            mean * 1e3,
            se * 1e3,
            theory * 1e3
        );
        assert!(
            se / theory < 0.03,
            "M/M/{} ρ={}: too few samples, SE is {:.1}% of the mean",
            case.c,
            case.rho,
            100.0 * se / theory
        );
        assert!(
            (mean - theory).abs() <= band,
            "M/M/{} ρ={}: mean wait {:.5} s is {:.1} SE from Erlang C's {:.5} s",
            case.c,
            case.rho,
            mean,
            (mean - theory).abs() / se,
            theory
        );
    }
}

#[test]
fn mmc_wait_tail_matches_erlang_c() {
    // P(Wq > t) = C e^{-(cμ-λ)t}, so the 99th percentile of the wait is ln(100 C) / (cμ − λ).
    let (c, mu, rho) = (8, 1000.0, 0.9);
    let lambda = rho * f64::from(c) * mu;
    let model = model(&single_queue(c, lambda, r#"{ kind = "exponential", mean = "1ms" }"#, 400, 20));
    let summaries = replicate(&model, 8);
    let p99: Vec<f64> = summaries.iter().map(|s| s.overall.queue_wait_ms.p99.unwrap() / 1e3).collect();
    let (mean, se) = mean_se(&p99);
    let theory = (100.0 * erlang_c(c, lambda / mu)).ln() / (f64::from(c) * mu - lambda);
    println!("M/M/8 p99 wait: simulated {mean:.6} s ± {se:.6}, theory {theory:.6} s");
    // HDR quantisation adds at most 0.1% on top of sampling noise.
    assert!((mean - theory).abs() <= t_9995(7) * se + 0.001 * theory, "p99 wait {mean} vs {theory}");
    assert!(se / theory < 0.03);
}

#[test]
fn md1_and_mg1_match_pollaczek_khinchine() {
    let s = 1e-3; // mean service, seconds
                  // (service distribution, ρ, E[S²] in s²)
    let cases = [
        (r#"{ kind = "constant", value = "1ms" }"#, 0.8, s * s),
        (r#"{ kind = "gamma", mean = "1ms", cv = 0.5 }"#, 0.7, (1.0 + 0.25) * s * s),
        (r#"{ kind = "lognormal", mean = "1ms", cv = 1.5 }"#, 0.6, (1.0 + 2.25) * s * s),
        (r#"{ kind = "uniform", min = "0.5ms", max = "1.5ms" }"#, 0.85, s * s + (1e-3f64).powi(2) / 12.0),
    ];
    for (service, rho, second_moment) in cases {
        let lambda = rho / s;
        let model = model(&single_queue(1, lambda, service, 600, 30));
        let summaries = replicate(&model, 16);
        let waits: Vec<f64> = summaries.iter().map(|x| x.overall.queue_wait_ms.mean.unwrap() / 1e3).collect();
        let (mean, se) = mean_se(&waits);
        let theory = pk_mean_wait(lambda, s, second_moment);
        println!(
            "M/G/1 {service} rho={rho}: simulated {:.5} ms ± {:.5}, P-K {:.5} ms",
            mean * 1e3,
            se * 1e3,
            theory * 1e3
        );
        assert!(se / theory < 0.03, "{service}: SE {:.1}%", 100.0 * se / theory);
        assert!((mean - theory).abs() <= t_9995(15) * se, "{service}: {mean} vs P-K {theory}");
    }
}

#[test]
fn littles_law_holds_with_network_and_overheads() {
    // L = λ W, with L integrated over time and W averaged over requests: two different measurements.
    let text = r#"
name = "little"
duration = "300s"
warmup = "20s"
[regions.a]
replicas = 3
[regions.b]
replicas = 2
[network]
same_region_rtt = "1ms"
links = [{ from = "a", to = "b", rtt = "30ms" }]
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "900/s" }
[[traffic]]
origin = "b"
arrivals = { process = "mmpp", low_rate = "100/s", high_rate = "600/s", mean_low_duration = "5s", mean_high_duration = "2s" }
[routing]
policy = "latency_aware"
[serving]
queue_capacity = 100000
service_time = { kind = "table", points = [[1, "2ms"], [8, "6ms"]], cv = 0.2 }
batching = { max_batch = 8, max_queue_delay = "1ms", preferred_batch_sizes = [4] }
overhead = { pre = { kind = "lognormal", mean = "0.5ms", cv = 1.0 }, post = { kind = "exponential", mean = "0.2ms" }, cpu_workers = 2 }
"#;
    let model = model(text);
    let summary = run_seed(&model, 5).summary;
    let lambda = summary.overall.throughput.completed_rps;
    let w = summary.overall.latency_ms.mean.unwrap() / 1e3;
    assert_eq!(summary.overall.requests.dropped + summary.overall.requests.timed_out, 0);
    let little = lambda * w;
    println!("L = {:.4}, λW = {:.4}", summary.mean_in_system, little);
    assert!((summary.mean_in_system / little - 1.0).abs() < 0.01, "L {} vs λW {}", summary.mean_in_system, little);
}

#[test]
fn bounded_queue_drops_match_mm1k_blocking() {
    // M/M/1/K with K = 5 (4 waiting + 1 in service), ρ = 0.9:
    // P(block) = (1 − ρ) ρ^K / (1 − ρ^(K+1)).
    let (rho, k) = (0.9f64, 5);
    let theory = (1.0 - rho) * rho.powi(k) / (1.0 - rho.powi(k + 1));
    let text = single_queue(1, rho * 1000.0, r#"{ kind = "exponential", mean = "1ms" }"#, 200, 5)
        .replace("queue_capacity = 10000000", "queue_capacity = 4");
    let summaries = replicate(&model(&text), 16);
    let fractions: Vec<f64> =
        summaries.iter().map(|s| s.overall.requests.dropped as f64 / s.overall.requests.offered as f64).collect();
    let (mean, se) = mean_se(&fractions);
    println!("M/M/1/5 blocking: simulated {mean:.5} ± {se:.5}, theory {theory:.5}");
    assert!(se / theory < 0.03);
    assert!((mean - theory).abs() <= t_9995(15) * se, "blocking {mean} vs {theory}");
}
