//! The LLM engine against hand-worked iteration timelines: one request's first token and decodes,
//! chunked prefill beside decodes, preemption when KV blocks run out (and the work recomputed),
//! and the KV cache's memory arithmetic; and queueing theory: one sequence at a time under Poisson
//! arrivals, aggregated or as a disaggregated prefill pool, is an M/D/1 queue whose TTFT
//! distribution Erlang's formula gives.

mod support;

use sim::world::{run, Outcome, RequestRecord, RunOptions};
use support::*;

const MS: u64 = 1_000_000;

fn records(text: &str) -> (Vec<RequestRecord>, sim::summary::Summary) {
    let model = model(text);
    let out = run(&model, &RunOptions { seed: 1, record_requests: true, ..Default::default() });
    let mut records = out.requests;
    records.sort_by_key(|r| r.serial);
    (records, out.summary)
}

/// Every iteration takes 10 ms plus 1 ms per token; one replica; `requests` are `(prompt,
/// output)` pairs, each its own source sending once at t = 0 (in this order).
fn engine(requests: &[(u32, u32)], llm: &str) -> String {
    let mut text = String::from(
        "name = \"llm\"\nduration = \"1s\"\ninterval = \"1s\"\n[regions.local]\nreplicas = 1\n\
         [serving.llm]\niteration = { overhead = \"10ms\", per_token = \"1ms\" }\n",
    );
    text.push_str(llm);
    text.push('\n');
    for (prompt, output) in requests {
        text.push_str(&format!(
            "[[traffic]]\norigin = \"local\"\narrivals = {{ process = \"constant\", rate = \"0.5/s\" }}\n\
             tokens = {{ prompt = {{ kind = \"constant\", value = {prompt} }}, output = {{ kind = \"constant\", value = {output} }} }}\n"
        ));
    }
    text
}

fn tpot(r: &RequestRecord) -> u64 {
    (r.stages.service_done - r.stages.first_output) / u64::from(r.output_tokens - 1)
}

#[test]
fn one_request_prefills_then_decodes_a_token_per_iteration() {
    // t=0 prefill of 4 tokens: 10 + 4 = 14 ms → first token at 14; two decodes of 11 ms → 25, 36.
    let (got, summary) = records(&engine(&[(4, 3)], "kv_cache_tokens = 1024"));
    let r = &got[0];
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(r.stages.first_output, 14 * MS);
    assert_eq!(r.stages.service_done, 36 * MS);
    assert_eq!(tpot(r), 11 * MS);
    let llm = summary.overall.llm.expect("an LLM engine's figures");
    assert_eq!(llm.iterations, 3);
    // The histograms' buckets are within 0.1%.
    assert!((llm.ttft_ms.p50.unwrap() / 14.0 - 1.0).abs() < 1e-3);
    assert!((llm.tpot_ms.p50.unwrap() / 11.0 - 1.0).abs() < 1e-3);
    assert_eq!(llm.kv_capacity_tokens, 1024);
}

#[test]
fn attention_costs_grow_with_context_and_with_a_prompt_squared() {
    // 10 ms + 1 ms per token + 0.1 ms per KV token read + 0.01 ms per query × key pair.
    let iteration = "iteration = { overhead = \"10ms\", per_token = \"1ms\", per_kv_token = \"100us\", per_attention_pair = \"10us\" }";
    let timeline = |prompt: u32, output: u32| {
        let text = engine(&[(prompt, output)], "kv_cache_tokens = 1024")
            .replace("iteration = { overhead = \"10ms\", per_token = \"1ms\" }", iteration);
        records(&text).0.remove(0)
    };
    // Prefill of 4: 4 tokens, 4 KV tokens, 4·5/2 = 10 pairs: 10 + 4 + 0.4 + 0.1 = 14.5 ms. The
    // decodes read 5 then 6 tokens (the context and the new one), as many pairs: 11.55 and
    // 11.66 ms, so the last token at 14.5 + 11.55 + 11.66 = 37.71 ms.
    let r = timeline(4, 3);
    assert_eq!(r.stages.first_output, 14_500_000);
    assert_eq!(r.stages.service_done, 37_710_000);
    // Prefill of 20: 20 + 2 (KV) + 210 pairs · 0.01 = 2.1 → 34.1 ms; one decode over 21 tokens:
    // 10 + 1 + 2.1 + 0.21 = 13.31 → 47.41 ms.
    let r = timeline(20, 2);
    assert_eq!(r.stages.first_output, 34_100_000);
    assert_eq!(r.stages.service_done, 47_410_000);
}

#[test]
fn chunked_prefill_shares_the_token_budget_with_decodes() {
    // Budget 4 tokens. A (prompt 2, output 3) and B (prompt 6, output 2) arrive at 0; A starts alone.
    //   0→12   A prefills 2                          → A's first token at 12
    //   12→26  A decodes 1 + B's first chunk of 3     (4 tokens)  → A token 2
    //   26→40  A decodes 1 + B's last chunk of 3      (4 tokens)  → A token 3 (done), B's first
    //   40→51  B decodes 1                                         → B token 2 (done)
    let (got, _) = records(&engine(&[(2, 3), (6, 2)], "kv_cache_tokens = 1024\nmax_num_batched_tokens = 4"));
    let (a, b) = (&got[0], &got[1]);
    assert_eq!((a.stages.first_output, a.stages.service_done), (12 * MS, 40 * MS));
    assert_eq!(tpot(a), 14 * MS);
    assert_eq!((b.stages.first_output, b.stages.service_done), (40 * MS, 51 * MS));
    assert_eq!(b.stages.batch_started, 12 * MS, "B's first chunk runs in the second iteration");
}

#[test]
fn without_chunked_prefill_a_prompt_waits_for_room_for_all_of_it() {
    // Budget 10. A and B (prompt 5, output 3) and C (prompt 9, output 1) arrive at 0; A starts alone.
    //   0→15   A prefills 5                               → A token 1
    //   15→31  A decodes 1 + B prefills 5; C's 9 > 4 left  → A token 2, B token 1
    //   31→43  A and B decode; C's 9 > 8 left              → A token 3 (done), B token 2
    //   43→63  B decodes 1 + C prefills 9                   → B token 3 (done), C token 1 (done)
    let (got, _) = records(&engine(
        &[(5, 3), (5, 3), (9, 1)],
        "kv_cache_tokens = 1024\nmax_num_batched_tokens = 10\nenable_chunked_prefill = false\nmax_model_len = 10",
    ));
    assert_eq!((got[0].stages.first_output, got[0].stages.service_done), (15 * MS, 43 * MS));
    assert_eq!((got[1].stages.first_output, got[1].stages.service_done), (31 * MS, 63 * MS));
    assert_eq!((got[2].stages.first_output, got[2].stages.service_done), (63 * MS, 63 * MS));
    // Chunked, C's first 4 tokens join the second iteration (10 tokens, 20 ms): it ends at 35.
    let (chunked, _) =
        records(&engine(&[(5, 3), (5, 3), (9, 1)], "kv_cache_tokens = 1024\nmax_num_batched_tokens = 10"));
    assert_eq!(chunked[2].stages.batch_started, 15 * MS);
    assert_eq!(chunked[0].stages.first_output + 20 * MS, 35 * MS);
}

#[test]
fn running_out_of_kv_blocks_preempts_the_newest_and_recomputes_it() {
    // 4 blocks of 2 tokens. A and B: prompt 2, output 4 each (5 tokens of KV at the end: 3 blocks).
    //   0→12   A prefill 2 (1 block)                           → A token 1
    //   12→25  A decode (2nd block) + B prefill 2 (1 block)     → A token 2, B token 1
    //   25→37  A decode + B decode (B's 2nd block; none free)   → A token 3, B token 2
    //   37→48  A needs a 3rd block, none free: B is preempted (3 tokens of KV lost); A decodes
    //                                                           → A token 4 (done, 3 blocks back)
    //   48→62  B recomputes prompt + 2 outputs = 4 tokens      → B token 3
    //   62→73  B decodes                                       → B token 4 (done)
    let (got, summary) = records(&engine(&[(2, 4), (2, 4)], "kv_cache_tokens = 8\nblock_size = 2"));
    let (a, b) = (&got[0], &got[1]);
    assert_eq!((a.stages.first_output, a.stages.service_done), (12 * MS, 48 * MS));
    assert_eq!((b.stages.first_output, b.stages.service_done), (25 * MS, 73 * MS));
    assert_eq!(tpot(b), 16 * MS);
    let llm = summary.overall.llm.unwrap();
    assert_eq!(llm.preemptions, 1);
    assert_eq!(llm.recomputed_tokens, 3);
}

#[test]
fn a_request_longer_than_max_model_len_is_refused() {
    let (got, _) = records(&engine(&[(10, 10)], "kv_cache_tokens = 1024\nmax_model_len = 16"));
    assert_eq!(got[0].outcome, Outcome::Failed);
}

fn build_error(llm: &str) -> String {
    let text = engine(&[(4, 4)], llm);
    let scenario: sim::scenario::Scenario = toml::from_str(&text).unwrap();
    sim::model::build(&scenario, &sim::model::Inputs::default()).unwrap_err().to_string()
}

#[test]
fn the_kv_cache_is_what_memory_leaves_after_weights_and_activations() {
    // 20 GiB × 0.9 = 18 GiB − 16 GiB weights − 1 GiB activations = 1 GiB = 8192 tokens of 128 KiB.
    let memory =
        "gpu_memory = \"20GiB\"\nweights = \"16GiB\"\nactivation_reserve = \"1GiB\"\nkv_bytes_per_token = 131072\n";
    let model = model(&engine(&[(4, 4)], memory));
    let engine_model = model.regions[0].primary.serving.as_ref().unwrap().kind.llm().unwrap().clone();
    assert_eq!(engine_model.memory.kv_tokens, 8192);
    assert_eq!(engine_model.kv_blocks, 512);
    let refused = build_error(&format!("{memory}max_model_len = 9000"));
    assert!(refused.contains("max seq len (9000)") && refused.contains("8192 tokens"), "{refused}");
    assert!(refused.contains("18.00 GiB for the engine − 16.00 GiB weights"), "{refused}");
    let too_big = build_error("gpu_memory = \"20GiB\"\nweights = \"18GiB\"\nkv_bytes_per_token = 131072");
    assert!(too_big.contains("do not fit"), "{too_big}");
    // Two GPUs split the weights and the KV bytes per token: 18 − 8 − 1 = 9 GiB at 64 KiB = 147 456.
    let tp = model_of(&format!("{memory}tensor_parallel_size = 2"));
    assert_eq!(tp.memory.kv_tokens, 147_456);
}

fn model_of(llm: &str) -> sim::model::LlmModel {
    model(&engine(&[(4, 4)], llm)).regions[0].primary.serving.as_ref().unwrap().kind.llm().unwrap().clone()
}

#[test]
fn a_prefix_hit_saves_exactly_its_blocks_prefill() {
    // One source: a request at 0 and one at 100 ms, both of group 0 of a 32-token shared prefix;
    // prompts of 40 tokens, 2 outputs; 16-token blocks.
    //   A: 0→50 prefill 40 (first token), 50→61 decode. Its two prefix blocks are cached at 50.
    //   B: at 100 finds both blocks: prefills 8 tokens, 100→118; without the cache 100→150.
    let text = |caching: bool| {
        format!(
            "name = \"prefix\"\nduration = \"150ms\"\ninterval = \"150ms\"\n[regions.local]\nreplicas = 1\n\
             [serving.llm]\niteration = {{ overhead = \"10ms\", per_token = \"1ms\" }}\nkv_cache_tokens = 1024\n\
             enable_prefix_caching = {caching}\n\
             [[traffic]]\norigin = \"local\"\narrivals = {{ process = \"constant\", rate = \"10/s\" }}\n\
             tokens = {{ prompt = {{ kind = \"constant\", value = 40 }}, output = {{ kind = \"constant\", value = 2 }}, \
             shared_prefix = {{ tokens = 32, groups = 1 }} }}\n"
        )
    };
    let (cached, summary) = records(&text(true));
    assert_eq!((cached[0].stages.first_output, cached[0].stages.service_done), (50 * MS, 61 * MS));
    assert_eq!(cached[1].stages.first_output - cached[1].sent, 18 * MS);
    let llm = summary.overall.llm.unwrap();
    assert_eq!(llm.prefix_hit_rate, Some(32.0 / 80.0));
    let (uncached, _) = records(&text(false));
    assert_eq!(uncached[1].stages.first_output - uncached[1].sent, 50 * MS);
}

#[test]
fn running_sequences_share_their_cached_prefix_blocks() {
    // Four 16-token blocks of KV. Requests 20 ms apart from one source, each of group 0 of a 32-token
    // shared prefix (two blocks); prompts of 40 tokens (3 blocks), 3 outputs (42 tokens: 3 blocks).
    //   A: 0→50 prefills 40 → token 1; its two prefix blocks are cached, in use by A.
    //   B (arrived at 20): at 50 finds both blocks in use by A: it needs 1 block of its own, and
    //      1 of the 4 is free. 50→69 A decodes + B prefills 8 (9 tokens) → A token 2, B token 1;
    //      69→81 both decode → A token 3 (done), B token 2; 81→92 B decodes → token 3 (done).
    // Counting the shared blocks twice, B would need 3 blocks and wait for A to finish at 72:
    // first token at 72 + 18 = 90.
    let text = "name = \"share\"\nduration = \"40ms\"\ninterval = \"40ms\"\n[regions.local]\nreplicas = 1\n\
         [serving.llm]\niteration = { overhead = \"10ms\", per_token = \"1ms\" }\nkv_cache_tokens = 64\n\
         [[traffic]]\norigin = \"local\"\narrivals = { process = \"constant\", rate = \"50/s\" }\n\
         tokens = { prompt = { kind = \"constant\", value = 40 }, output = { kind = \"constant\", value = 3 }, \
         shared_prefix = { tokens = 32, groups = 1 } }\n";
    let (got, summary) = records(text);
    assert_eq!(got.len(), 2);
    let (a, b) = (&got[0], &got[1]);
    assert_eq!((a.stages.first_output, a.stages.service_done), (50 * MS, 81 * MS));
    assert_eq!((b.stages.first_output, b.stages.service_done), (69 * MS, 92 * MS));
    let llm = summary.overall.llm.unwrap();
    assert_eq!(llm.prefix_hit_rate, Some(32.0 / 80.0));
    assert_eq!(llm.preemptions, 0);
}

#[test]
fn disaggregated_prefill_hands_the_kv_cache_to_a_decode_replica() {
    // Two replicas: the first prefills, the second decodes. 4 prompt tokens × 1 MB of KV each over
    // 1 GB/s take 4 ms to cross.
    //   prefill replica: 0→14 prefill 4 → first token at 14; the KV crosses 14→18
    //   decode replica:  18→29 decode → token 2; 29→40 → token 3 (done)
    let split = "kv_cache_tokens = 1024\nkv_bytes_per_token = 1000000\n\
                 disaggregation = { prefill_replicas = 1, kv_transfer_gbps = 1.0 }";
    let text = engine(&[(4, 3)], split).replace("[regions.local]\nreplicas = 1", "[regions.local]\nreplicas = 2");
    let (got, summary) = records(&text);
    let r = &got[0];
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!((r.stages.first_output, r.stages.service_done), (14 * MS, 40 * MS));
    assert_eq!(r.replica, 1, "the decode replica answers");
    let llm = summary.overall.llm.unwrap();
    // The first gap holds the transfer: 18 − 14 + 11 = 15 ms, the second 11 ms.
    assert!((llm.inter_token_ms.max.unwrap() / 15.0 - 1.0).abs() < 1e-3);
    // 0 prefill replicas is aggregated serving: the first replica does it all, 0→14→25→36.
    let aggregated = text.replace("prefill_replicas = 1", "prefill_replicas = 0");
    let (got, _) = records(&aggregated);
    assert_eq!((got[0].replica, got[0].stages.first_output, got[0].stages.service_done), (0, 14 * MS, 36 * MS));
    // Every replica prefilling leaves none to decode.
    let refused = build_error(split);
    assert!(refused.contains("leaves none to decode"), "{refused}");
}

#[test]
fn with_every_decode_replica_down_a_prefill_replica_refuses_at_once() {
    // One prefill and one decode replica; one of the two crashes at 100 ms for the rest of the
    // run, and probes every 10 ms take it out of its load balancer at the first failure. Which
    // one crashes is drawn, so the seeds that crash the decode replica are the cases: from then
    // on, a request the prefill replica takes fails at once (no prefill: 14 ms of work wasted
    // otherwise) rather than after its prefill, when there is nowhere to hand it.
    let split = "kv_cache_tokens = 1024\nkv_bytes_per_token = 1000\n\
                 disaggregation = { prefill_replicas = 1, kv_transfer_gbps = 1.0 }";
    let text = engine(&[(4, 3)], split)
        .replace("[regions.local]\nreplicas = 1", "[regions.local]\nreplicas = 2")
        .replace("rate = \"0.5/s\"", "rate = \"20/s\"")
        .replace("[serving.llm]", "[serving]\nhealth_check = { interval = \"10ms\", failure_threshold = 1 }\n[serving.llm]")
        + "[[faults]]\nkind = \"replica_crash\"\nregion = \"local\"\nat = \"100ms\"\nduration = \"10s\"\nreplicas = 1\n";
    let mut decode_crashes = 0;
    for seed in 1..=16 {
        let model = model(&text);
        let out = run(&model, &RunOptions { seed, record_requests: true, ..Default::default() });
        let refused: Vec<&RequestRecord> = out
            .requests
            .iter()
            .filter(|r| r.replica == 0 && r.outcome == Outcome::Failed && r.sent > 150 * MS)
            .collect();
        let served_after: Vec<&RequestRecord> =
            out.requests.iter().filter(|r| r.outcome == Outcome::Completed && r.sent > 150 * MS).collect();
        if refused.is_empty() {
            continue;
        }
        decode_crashes += 1;
        assert!(served_after.is_empty(), "seed {seed}: nothing completes without a decode replica");
        for r in refused {
            assert_eq!(r.stages.first_output, 0, "seed {seed}: no prefill was run for it: {r:?}");
            assert_eq!(r.finished, r.sent, "seed {seed}: refused as it arrived: {r:?}");
        }
    }
    assert!(decode_crashes > 0, "some of 16 seeds crash the decode replica");
}

#[test]
fn the_endpoint_picker_sends_a_prefix_where_it_is_cached() {
    // Two replicas; four requests 100 ms apart sharing one 32-token prefix (two 16-token blocks)
    // of 40-token prompts. Each finishes in 61 ms, so every pick sees idle replicas: the picker
    // sends all four to the replica that cached the prefix first (three hits of 32 tokens), round
    // robin alternates (the second visit to each replica hits: two).
    let text = |balancer: &str| {
        format!(
            "name = \"picker\"\nduration = \"350ms\"\ninterval = \"350ms\"\n[regions.local]\nreplicas = 2\n\
             [serving]\nbalancer = \"{balancer}\"\n\
             [serving.llm]\niteration = {{ overhead = \"10ms\", per_token = \"1ms\" }}\nkv_cache_tokens = 1024\n\
             [[traffic]]\norigin = \"local\"\narrivals = {{ process = \"constant\", rate = \"10/s\" }}\n\
             tokens = {{ prompt = {{ kind = \"constant\", value = 40 }}, output = {{ kind = \"constant\", value = 2 }}, \
             shared_prefix = {{ tokens = 32, groups = 1 }} }}\n"
        )
    };
    let (picked, summary) = records(&text("endpoint_picker"));
    assert_eq!(picked.iter().map(|r| r.replica).collect::<Vec<_>>(), [0, 0, 0, 0]);
    assert_eq!(summary.overall.llm.unwrap().prefix_hit_rate, Some(96.0 / 160.0));
    let (rotated, summary) = records(&text("round_robin"));
    assert_eq!(rotated.iter().map(|r| r.replica).collect::<Vec<_>>(), [0, 1, 0, 1]);
    assert_eq!(summary.overall.llm.unwrap().prefix_hit_rate, Some(64.0 / 160.0));
}

/// One sequence at a time under Poisson arrivals at `lambda`: iterations of 2 ms + 0.1 ms per
/// token, constant prompts of 100 tokens and `output` tokens, and `extra` engine settings.
fn poisson_one_sequence(name: &str, lambda: f64, replicas: u32, output: u32, duration_s: u32, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nduration = \"{duration_s}s\"\nwarmup = \"20s\"\ninterval = \"1h\"\n[regions.local]\n\
         replicas = {replicas}\n[serving]\nqueue_capacity = 1000000\n\
         [serving.llm]\niteration = {{ overhead = \"2ms\", per_token = \"0.1ms\" }}\nkv_cache_tokens = 65536\n\
         max_num_seqs = 1\nmax_num_batched_tokens = 2048\n{extra}\n\
         [[traffic]]\norigin = \"local\"\narrivals = {{ process = \"poisson\", rate = \"{lambda}/s\" }}\n\
         tokens = {{ prompt = {{ kind = \"constant\", value = 100 }}, output = {{ kind = \"constant\", value = {output} }} }}\n"
    )
}

/// A figure's name, how to read it off a replication's summary, and its theory (ms).
type TheoryCheck<'a> = (&'a str, &'a dyn Fn(&sim::summary::Summary) -> f64, f64);

/// Each figure's mean over the replications against its theory: within a 99.9% t-band of the
/// replication noise plus the histograms' 0.1% buckets, and that band itself within 3% of the
/// theory, so the check can fail.
fn assert_near_theory(label: &str, summaries: &[sim::summary::Summary], checks: &[TheoryCheck]) {
    for (name, get, theory) in checks {
        let samples: Vec<f64> = summaries.iter().map(get).collect();
        let (mean, se) = mean_se(&samples);
        let band = t_9995(samples.len() - 1) * se + 2e-3 * theory;
        println!("{label} {name}: simulated {mean:.3} ms ± {se:.3} (SE), theory {theory:.3} ms");
        assert!((mean - theory).abs() <= band, "{label} {name}: {mean:.3} vs {theory:.3} (band {band:.3})");
        assert!(band < 0.03 * theory, "{label} {name}: band {band:.3} too wide for {theory:.3}");
    }
}

fn ttft(s: &sim::summary::Summary) -> &sim::summary::Percentiles {
    &s.overall.llm.as_ref().expect("an LLM engine's figures").ttft_ms
}

#[test]
fn one_sequence_at_a_time_is_an_md1_queue() {
    // With max_num_seqs = 1 every request holds the engine alone for a fixed time: a prefill of
    // 100 tokens (2 + 100 × 0.1 = 12 ms) and 19 decodes of 2.1 ms, S = 51.9 ms, so Poisson
    // arrivals make an M/D/1 queue and TTFT = W + 12 ms with W from Erlang's formula (mean ρS /
    // 2(1 − ρ), Pollaczek–Khinchine; p90 and p99 from the distribution). An engine that waited
    // for an iteration tick when idle, or admitted a request into a running sequence's iteration,
    // would not match it.
    let service_s = 0.0519;
    for rho in [0.5, 0.8] {
        let lambda = rho / service_s;
        let summaries = replicate(&model(&poisson_one_sequence("md1", lambda, 1, 20, 3000, "")), 64);
        let wait = |q: f64| md1_wait_quantile(q, lambda, service_s) * 1e3;
        let mean_wait = pk_mean_wait(lambda, service_s, service_s * service_s) * 1e3;
        assert_near_theory(
            &format!("M/D/1 LLM rho={rho} TTFT"),
            &summaries,
            &[
                ("mean", &|s| ttft(s).mean.unwrap(), mean_wait + 12.0),
                ("p90", &|s| ttft(s).p90.unwrap(), wait(0.9) + 12.0),
                ("p99", &|s| ttft(s).p99.unwrap(), wait(0.99) + 12.0),
            ],
        );
    }
}

#[test]
fn a_prefill_pool_of_one_sequence_is_an_md1_queue_and_its_decodes_never_wait() {
    // Disaggregated: one replica prefills one prompt at a time (100 tokens: 12 ms), hands its KV
    // cache over (100 × 40 kB at 1 GB/s: 4 ms) and is free again, as vLLM's prefill instance is
    // once its one-token request returns. So the prefill pool is an M/D/1 queue with S = 12 ms
    // and TTFT = W + 12 ms. The decode replica's one decode (2.1 ms) is shorter than the gap
    // between the prefill pool's departures (at least 12 ms), so nothing waits there and the
    // end-to-end time is TTFT + 4 ms + 2.1 ms.
    let service_s = 0.012;
    let split = "kv_bytes_per_token = 40000\ndisaggregation = { prefill_replicas = 1, kv_transfer_gbps = 1.0 }";
    for rho in [0.5, 0.8] {
        let lambda = rho / service_s;
        let summaries = replicate(&model(&poisson_one_sequence("pd", lambda, 2, 2, 1200, split)), 64);
        let wait = |q: f64| md1_wait_quantile(q, lambda, service_s) * 1e3;
        let mean_wait = pk_mean_wait(lambda, service_s, service_s * service_s) * 1e3;
        assert_near_theory(
            &format!("P/D M/D/1 rho={rho}"),
            &summaries,
            &[
                ("TTFT mean", &|s| ttft(s).mean.unwrap(), mean_wait + 12.0),
                ("TTFT p90", &|s| ttft(s).p90.unwrap(), wait(0.9) + 12.0),
                ("TTFT p99", &|s| ttft(s).p99.unwrap(), wait(0.99) + 12.0),
                ("end-to-end mean", &|s| s.overall.latency_ms.mean.unwrap(), mean_wait + 12.0 + 4.0 + 2.1),
            ],
        );
    }
}
