//! What a Python server's tail is made of (`[serving.overhead]`'s `proxy` and `stalls`, and
//! `mixture` distributions), against hand-worked timelines and closed-form results.

mod support;

use support::*;

/// One replica and two sources that each send one request at t = 0.
const TWO_AT_ONCE: &str = "[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\n\
                           arrivals = { process = \"constant\", rate = \"1/s\" }\n[[traffic]]\norigin = \"a\"\n\
                           arrivals = { process = \"constant\", rate = \"1/s\" }\n";

fn proxied(threads: u32, host: &str) -> String {
    format!(
        "name = \"proxy\"\nduration = \"1ms\"\n{TWO_AT_ONCE}[serving]\n\
         service_time = {{ kind = \"constant\", value = \"1ms\" }}\n\
         batching = {{ max_batch = 1, max_queue_delay = \"0ms\" }}\n\
         overhead = {{ proxy = {{ time = {{ kind = \"constant\", value = \"3ms\" }}, threads = {threads} }}{host} }}\n"
    )
}

#[test]
fn a_proxy_is_passed_on_the_way_in_and_out_and_queues_for_its_threads() {
    // One proxy thread, 3 ms a pass, 1 ms batches of one; two requests at t = 0. By hand:
    //   r0 in 0–3, r1 queues for the thread: in 3–6.   r0's batch 3–4; its way out waits for the
    //   thread (r1's way in until 6): out 6–9.          r1's batch 6–7; out after r0's, 9–12.
    let got = records(&proxied(1, ""), 1);
    let times: Vec<(u64, u64)> = got.iter().map(|r| (r.batch_start / MS, r.finished / MS)).collect();
    assert_eq!(times, [(3, 9), (6, 12)]);
    // Two threads: both in 0–3; batches 3–4 and 4–5; out 4–7 and 5–8.
    let got = records(&proxied(2, ""), 1);
    let times: Vec<(u64, u64)> = got.iter().map(|r| (r.batch_start / MS, r.finished / MS)).collect();
    assert_eq!(times, [(3, 7), (4, 8)]);
}

#[test]
fn a_proxy_shares_the_host_cores() {
    // Two proxy threads and the model on one core (work that starts while more threads run than
    // cores takes threads ÷ cores longer, the starting one counted). By hand:
    //   t=0  r0 in alone: 3 ms, to 3. r1 in beside it (2 threads): 6 ms, to 6.
    //   t=3  r0's batch beside r1's pass (2): 2 ms, to 5.
    //   t=5  r0 out beside r1's pass (2): 6 ms, to 11.
    //   t=6  r1's batch beside r0's pass (2): 2 ms, to 8.   t=8  r1 out beside r0's (2): 6 ms, to 14.
    let got = records(&proxied(2, ", cpu_workers = 1, host_cores = 1"), 1);
    let times: Vec<(u64, u64)> = got.iter().map(|r| (r.batch_start / MS, r.finished / MS)).collect();
    assert_eq!(times, [(3, 11), (6, 14)]);
}

#[test]
fn stalls_lengthen_work_as_an_interrupted_server_does() {
    // Pure-delay pre-processing of x = 20 ms (no queueing: as many at once as arrive) and 10 µs
    // batches on 64 instances, under pauses with exponential gaps of mean 1/ν = 0.5 s and
    // exponential lengths of mean r = 50 ms. Poisson arrivals see time averages: a request
    // arrives during a pause with probability νr / (1 + νr) and then waits its residual (mean r,
    // memoryless); its x + s of work meets Poisson(ν·(x + s)) pauses, each r on average:
    //   E[T] = νr/(1 + νr) · r + (x + s)(1 + νr).
    let (x, s, nu, r) = (20e-3, 10e-6, 2.0, 50e-3);
    let theory = nu * r / (1.0 + nu * r) * r + (x + s) * (1.0 + nu * r);
    let text = "name = \"stalls\"\nduration = \"1000s\"\nwarmup = \"10s\"\ninterval = \"1h\"\n\
                [regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\n\
                arrivals = { process = \"poisson\", rate = \"20/s\" }\n[serving]\n\
                service_time = { kind = \"constant\", value = \"10us\" }\n\
                batching = { max_batch = 1, max_queue_delay = \"0ms\", instances = 64 }\n\
                [serving.overhead]\npre = { kind = \"constant\", value = \"20ms\" }\n\
                stalls = { rate = \"2/s\", duration = { kind = \"exponential\", mean = \"50ms\" } }\n";
    let summaries = replicate(&model(text), 12);
    let means: Vec<f64> = summaries.iter().map(|s| s.overall.latency_ms.mean.unwrap() / 1e3).collect();
    let (mean, se) = mean_se(&means);
    let band = t_9995(means.len() - 1) * se;
    println!("stalls: simulated {:.4} ms ± {:.4}, theory {:.4} ms", mean * 1e3, band * 1e3, theory * 1e3);
    assert!((mean - theory).abs() <= band, "simulated {mean} ± {band}, theory {theory}");
    // Without pauses every request takes x + s exactly: the pauses are what adds the 6.5 ms.
    let calm = run_seed(&model(&text.replace("stalls = ", "# stalls = ")), 1);
    let calm_mean = calm.summary.overall.latency_ms.mean.unwrap() / 1e3;
    assert!((calm_mean - (x + s)).abs() < 1e-5, "{calm_mean}");
}

#[test]
fn a_mixture_draws_each_part_by_its_weight() {
    // Pure-delay pre-processing: 1 ms with weight 9, 11 ms with weight 1 (10%); 10 µs batches.
    let text = "name = \"mixture\"\nduration = \"2000s\"\ninterval = \"1h\"\n\
                [regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\n\
                arrivals = { process = \"poisson\", rate = \"20/s\" }\n[serving]\n\
                service_time = { kind = \"constant\", value = \"10us\" }\n\
                batching = { max_batch = 1, max_queue_delay = \"0ms\", instances = 64 }\n\
                [serving.overhead]\npre = { kind = \"mixture\", parts = [\
                { weight = 9, dist = { kind = \"constant\", value = \"1ms\" } }, \
                { weight = 1, dist = { kind = \"constant\", value = \"11ms\" } }] }\n";
    let got = records(text, 3);
    let n = got.len() as f64;
    let slow = got.iter().filter(|r| r.finished - r.sent > 5 * MS).count() as f64;
    // Binomial: the share of 11 ms draws is 0.1 within 4.5 standard errors (n ≈ 40 000).
    let share = slow / n;
    let se = (0.1 * 0.9 / n).sqrt();
    assert!((share - 0.1).abs() < 4.5 * se, "{share} over {n}");
    // Every latency is one of the two parts' (plus the 10 µs batch).
    assert!(got.iter().all(|r| [1_010_000, 11_010_000].contains(&(r.finished - r.sent))));
}

#[test]
fn jitter_delays_a_request_before_the_server_without_holding_a_thread() {
    // 2 ms of jitter, then one CPU worker with 1 ms of pre-processing, 1 ms batches of one; two
    // requests at t = 0. Both reach the server at 2 (jitter occupies no thread): pre 2–3 and
    // 3–4 on the worker; batches 3–4 and 4–5.
    let text = format!(
        "name = \"jitter\"\nduration = \"1ms\"\n{TWO_AT_ONCE}[serving]\n\
         service_time = {{ kind = \"constant\", value = \"1ms\" }}\n\
         batching = {{ max_batch = 1, max_queue_delay = \"0ms\" }}\n\
         overhead = {{ jitter = {{ kind = \"constant\", value = \"2ms\" }}, \
         pre = {{ kind = \"constant\", value = \"1ms\" }}, cpu_workers = 1 }}\n"
    );
    let got = records(&text, 1);
    let times: Vec<(u64, u64, u64)> =
        got.iter().map(|r| (r.stages.pre_started / MS, r.batch_start / MS, r.finished / MS)).collect();
    assert_eq!(times, [(2, 3, 4), (3, 4, 5)]);
}
