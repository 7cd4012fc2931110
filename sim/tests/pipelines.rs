//! Pipeline endpoints against hand-worked outcomes: stages in sequence add up, a fan-out joined on
//! all answers takes the slowest (the maximum of exponentials), a join on the first k of n takes
//! the k-th order statistic, every call is counted once by the endpoint it calls, and a failed
//! stage degrades (optional), falls back or fails (required) as written.

mod support;

use sim::summary::Summary;
use support::*;

/// Regions, traffic and `extra` endpoints around a pipeline `recommend` at `rate`.
fn scenario(rate: &str, endpoints: &str, pipeline: &str) -> String {
    format!(
        r#"
name = "pipeline"
duration = "200s"
warmup = "5s"
interval = "1h"
[regions.a]
replicas = 0
{endpoints}
[endpoints.recommend.pipeline]
{pipeline}
[[traffic]]
origin = "a"
endpoint = "recommend"
arrivals = {{ process = "poisson", rate = "{rate}" }}
"#
    )
}

/// An endpoint with ample capacity (one replica, 64 instances: no queueing at these rates).
fn model_endpoint(name: &str, service: &str) -> String {
    format!(
        "[endpoints.{name}]\nserving = {{ queue_capacity = 100000, service_time = {service}, batching = {{ max_batch = 1, instances = 64 }} }}\nregions.a = {{ replicas = 1 }}\n"
    )
}

fn exp(mean_ms: f64) -> String {
    format!("{{ kind = \"exponential\", mean = \"{mean_ms}ms\" }}")
}

fn mean_latency(summaries: &[Summary], endpoint: &str) -> (f64, f64) {
    let means: Vec<f64> = summaries.iter().map(|s| s.endpoints[endpoint].stats.latency_ms.mean.unwrap()).collect();
    mean_se(&means)
}

fn assert_close(name: &str, summaries: &[Summary], theory_ms: f64) {
    let (mean, se) = mean_latency(summaries, "recommend");
    println!("{name}: {mean:.4} ms ± {se:.4}, theory {theory_ms:.4} ms");
    assert!(se / theory_ms < 0.01, "{name}: too few samples, SE {:.2}%", 100.0 * se / theory_ms);
    assert!((mean - theory_ms).abs() <= t_9995(summaries.len() - 1) * se, "{name}: {mean} ms vs {theory_ms} ms");
}

#[test]
fn stages_in_sequence_add_up() {
    // Constant stages: every request takes exactly 3 + 7 ms (histogram resolution aside).
    let endpoints = model_endpoint("retrieve", r#"{ kind = "constant", value = "3ms" }"#)
        + &model_endpoint("rank", r#"{ kind = "constant", value = "7ms" }"#);
    let text = scenario(
        "50/s",
        &endpoints,
        r#"stages = [{ name = "retrieve", call = ["retrieve"] }, { name = "rank", call = ["rank"] }]"#,
    );
    let s = run_seed(&model(&text), 1).summary;
    let recommend = &s.endpoints["recommend"];
    assert!((recommend.stats.latency_ms.mean.unwrap() - 10.0).abs() < 1e-9, "{:?}", recommend.stats.latency_ms);
    let shares: Vec<f64> = recommend.stages.iter().map(|st| st.share_of_p50.unwrap()).collect();
    assert!((shares[0] - 0.3).abs() < 0.01 && (shares[1] - 0.7).abs() < 0.01, "{shares:?}");
    // Exponential stages at low load: the mean is the sum of the means, 4 + 6 ms.
    let endpoints = model_endpoint("retrieve", &exp(4.0)) + &model_endpoint("rank", &exp(6.0));
    let text = scenario(
        "100/s",
        &endpoints,
        r#"stages = [{ name = "retrieve", call = ["retrieve"] }, { name = "rank", call = ["rank"] }]"#,
    );
    assert_close("sequence of exponentials", &replicate(&model(&text), 8), 10.0);
}

#[test]
fn a_fan_out_joined_on_all_takes_the_maximum_and_on_the_first_k_the_order_statistic() {
    // max(X1, X2), X1 ~ exp(mean 4 ms), X2 ~ exp(mean 6 ms): E = 4 + 6 − 1/(1/4 + 1/6) = 7.6 ms.
    let endpoints = model_endpoint("x1", &exp(4.0)) + &model_endpoint("x2", &exp(6.0));
    let text = scenario("100/s", &endpoints, r#"stages = [{ name = "both", call = ["x1", "x2"] }]"#);
    assert_close("join all", &replicate(&model(&text), 8), 4.0 + 6.0 - 1.0 / (1.0 / 4.0 + 1.0 / 6.0));
    // The 2nd of 3 i.i.d. exponentials (mean 10 ms): E = 10/3 + 10/2 = 8.333 ms.
    let endpoints =
        model_endpoint("y1", &exp(10.0)) + &model_endpoint("y2", &exp(10.0)) + &model_endpoint("y3", &exp(10.0));
    let text = scenario("100/s", &endpoints, r#"stages = [{ name = "two", call = ["y1", "y2", "y3"], first = 2 }]"#);
    let summaries = replicate(&model(&text), 8);
    assert_close("first 2 of 3", &summaries, 10.0 / 3.0 + 10.0 / 2.0);
    // Every call is made and counted by the endpoint called, answered or not waited for.
    for s in &summaries {
        let offered = s.endpoints["recommend"].stats.requests.offered;
        for y in ["y1", "y2", "y3"] {
            let called = &s.endpoints[y].stats.requests;
            // Calls are sent at the request's arrival (after warm-up for the same requests) and
            // all complete: one per pipeline request, give or take the few sent at the warm-up edge.
            assert_eq!(called.offered, offered, "{y}: {called:?}");
            assert_eq!(called.completed, called.offered);
        }
        // The top level counts the clients' requests only.
        assert_eq!(s.overall.requests.offered, offered);
    }
}

#[test]
fn a_late_optional_stage_degrades_and_a_late_required_one_falls_back_or_fails() {
    // rerank takes 5 ms but its stage times out at 2 ms: the answer is degraded, 3 + 2 + 4 ms.
    let endpoints = model_endpoint("retrieve", r#"{ kind = "constant", value = "3ms" }"#)
        + &model_endpoint("rerank", r#"{ kind = "constant", value = "5ms" }"#)
        + &model_endpoint("rank", r#"{ kind = "constant", value = "4ms" }"#);
    let stages = |optional: bool| {
        format!(
            r#"stages = [{{ name = "retrieve", call = ["retrieve"] }}, {{ name = "rerank", call = ["rerank"], timeout = "2ms", optional = {optional} }}, {{ name = "rank", call = ["rank"] }}]"#
        )
    };
    let s = run_seed(&model(&scenario("50/s", &endpoints, &stages(true))), 1).summary;
    let r = &s.endpoints["recommend"];
    assert_eq!(r.stats.requests.degraded, r.stats.requests.offered);
    assert_eq!(r.stats.requests.completed, 0);
    assert!((r.stats.latency_ms.mean.unwrap() - 9.0).abs() < 1e-9, "{:?}", r.stats.latency_ms);
    assert_eq!(r.stages[1].failed, r.stages[1].runs);
    // rerank still answers every call, late: its own figures say so.
    assert_eq!(s.endpoints["rerank"].stats.requests.completed, s.endpoints["rerank"].stats.requests.offered);

    // Required: the pipeline's fallback answers 1 ms after the timeout (3 + 2 + 1 ms), degraded.
    let with_fallback =
        format!("{}\nfallback = {{ latency = {{ kind = \"constant\", value = \"1ms\" }} }}", stages(false));
    let s = run_seed(&model(&scenario("50/s", &endpoints, &with_fallback)), 1).summary;
    let r = &s.endpoints["recommend"];
    assert_eq!(r.stats.requests.degraded, r.stats.requests.offered);
    assert!((r.stats.latency_ms.mean.unwrap() - 6.0).abs() < 1e-9, "{:?}", r.stats.latency_ms);
    assert_eq!(s.endpoints["rank"].stats.requests.offered, 0, "the stage after a failed one never runs");

    // Required, no fallback: every request fails.
    let s = run_seed(&model(&scenario("50/s", &endpoints, &stages(false))), 1).summary;
    let r = &s.endpoints["recommend"].stats.requests;
    assert_eq!(r.failed, r.offered);
    assert!(r.offered > 9000);
}
