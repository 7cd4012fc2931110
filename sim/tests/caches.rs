//! Response caches against hand-worked figures: a fixed hit ratio h leaves the model (1 − h)λ of
//! the traffic; a cache that never forgets misses exactly once per distinct key (the expected
//! number of distinct keys among m Zipf draws is Σ 1 − (1 − p_k)^m); a TTL cache of one key hits
//! λT/(1 + λT) of Poisson lookups; a region's outage leaves its cache cold.

mod support;

use support::*;

fn cached(cache: &str, rate: &str, duration: &str) -> String {
    format!(
        r#"
name = "cache"
duration = "{duration}"
interval = "1h"
[regions.a]
replicas = 4
[[traffic]]
origin = "a"
arrivals = {{ process = "poisson", rate = "{rate}" }}
[serving]
queue_capacity = 100000
service_time = {{ kind = "exponential", mean = "2ms" }}
batching = {{ max_batch = 1, instances = 4 }}
cache = {cache}
"#
    )
}

#[test]
fn a_hit_ratio_leaves_the_model_the_misses() {
    // h = 0.3 of 1000/s over 100 s: the model answers the misses, 70 000 ± binomial noise
    // (σ = √(10⁵ · 0.3 · 0.7) ≈ 145); every hit is answered at the cache's 0.5 ms.
    let text = cached(r#"{ hit_ratio = 0.3, latency = { kind = "constant", value = "0.5ms" } }"#, "1000/s", "100s");
    let s = run_seed(&model(&text), 2).summary;
    let offered = s.overall.requests.offered as f64;
    let cache = s.overall.cache.as_ref().unwrap();
    assert_eq!(cache.hits + cache.misses, s.overall.requests.offered);
    let model_calls = s.overall.service_time_ms.count as f64;
    assert_eq!(model_calls as u64, cache.misses);
    let sigma = (offered * 0.3 * 0.7).sqrt();
    assert!((model_calls - 0.7 * offered).abs() < 5.0 * sigma, "{model_calls} of {offered}");
    assert_eq!(s.overall.requests.completed, s.overall.requests.offered);
    // Every answer takes the 0.5 ms lookup; only misses add the model's queue wait and service
    // (no network, no overheads): mean latency = 0.5 + (misses / offered) × (wait + service).
    let o = &s.overall;
    let model_ms = o.queue_wait_ms.mean.unwrap() + o.service_time_ms.mean.unwrap();
    let expected = 0.5 + cache.misses as f64 / offered * model_ms;
    let mean = o.latency_ms.mean.unwrap();
    assert!((mean - expected).abs() < 1e-6 * expected, "mean latency {mean} ms vs {expected} ms");
}

#[test]
fn a_cache_that_never_forgets_misses_once_per_distinct_key() {
    // 1000 keys, Zipf exponent 1, no TTL, room for all: a lookup misses exactly when its key is
    // asked for the first time. Over m requests the expected distinct keys is Σ_k 1 − (1 − p_k)^m.
    let keys = 1000usize;
    let harmonic: f64 = (1..=keys).map(|k| 1.0 / k as f64).sum();
    let text =
        cached(r#"{ keys = 1000, zipf = 1.0, latency = { kind = "constant", value = "0.2ms" } }"#, "200/s", "20s");
    let summaries = replicate(&model(&text), 12);
    let misses: Vec<f64> = summaries.iter().map(|s| s.overall.cache.as_ref().unwrap().misses as f64).collect();
    let (mean, se) = mean_se(&misses);
    let m = summaries.iter().map(|s| s.overall.requests.offered as f64).sum::<f64>() / summaries.len() as f64;
    let expected: f64 = (1..=keys).map(|k| 1.0 - (1.0 - 1.0 / (k as f64 * harmonic)).powf(m)).sum();
    println!("distinct keys: simulated {mean:.1} ± {se:.1}, expected {expected:.1} over {m:.0} requests");
    // The offered count varies between runs (Poisson): allow its effect on the expectation too.
    assert!((mean - expected).abs() <= t_9995(misses.len() - 1) * se + 0.01 * expected, "{mean} vs {expected}");
}

#[test]
fn a_ttl_cache_of_one_key_hits_lambda_t_over_one_plus_lambda_t() {
    // One key, TTL 20 ms, Poisson lookups at 100/s: each miss opens a 20 ms window in which the
    // Poisson(λT = 2) next lookups hit, so the hit ratio is λT / (1 + λT) = 2/3.
    let text = cached(
        r#"{ keys = 1, zipf = 1.0, ttl = "20ms", latency = { kind = "constant", value = "0.1ms" } }"#,
        "100/s",
        "200s",
    );
    let summaries = replicate(&model(&text), 8);
    let ratios: Vec<f64> = summaries.iter().map(|s| s.overall.cache.as_ref().unwrap().hit_ratio.unwrap()).collect();
    let (mean, se) = mean_se(&ratios);
    println!("TTL hit ratio {mean:.4} ± {se:.4}, theory {:.4}", 2.0 / 3.0);
    assert!((mean - 2.0 / 3.0).abs() <= t_9995(ratios.len() - 1) * se, "{mean}");
}

#[test]
fn an_outage_empties_the_regions_cache() {
    // 10 keys that stay cached: after warm-up everything hits, until a's outage empties its cache;
    // the first lookup of each key after it comes back misses again (10 more misses at most and
    // at least one).
    let base =
        cached(r#"{ keys = 10, zipf = 0.5, latency = { kind = "constant", value = "0.1ms" } }"#, "100/s", "120s")
            .replace("interval = \"1h\"", "interval = \"10s\"\nwarmup = \"10s\"");
    let calm = run_seed(&model(&base), 1).summary;
    let with_outage =
        format!("{base}\n[[faults]]\nkind = \"region_outage\"\nregion = \"a\"\nat = \"50s\"\nduration = \"20s\"\n");
    let stormy = run_seed(&model(&with_outage), 1).summary;
    assert_eq!(calm.overall.cache.as_ref().unwrap().misses, 0, "warm before the window");
    let misses = stormy.overall.cache.as_ref().unwrap().misses;
    assert!((1..=10).contains(&misses), "{misses} misses after the outage");
}
