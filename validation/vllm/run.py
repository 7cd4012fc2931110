"""Open-loop load tests of a real vLLM (the CPU build) serving the tiny Llama, driven by the Azure
LLM conversation trace's arrivals and token counts (../shared/data/traces, CC-BY 4.0): for each
target rate, the trace's first rate × WINDOW_S requests with their inter-arrival gaps rescaled to
a mean of 1/rate (the burstiness kept); prompts are their ContextTokens ÷ 4 (16–1024) random token
ids (seeded, distinct per load point, so the prefix cache finds nothing), outputs their
GeneratedTokens ÷ 4 (4–128, ignore_eos). Per request: TTFT, TPOT, end-to-end, from the streamed
token chunks.

Writes validation/results/vllm-cpu-r<rate>.csv (or under $RESULTS; per request) and
vllm-cpu-r<rate>-workload.csv (the requests as a trace servesim replays), vllm-cpu-loadtest.csv (one row per load point) and
vllm-cpu-reference.csv (a fixed lone request's TTFT and TPOT before each point and at the end) and
vllm-cpu-engine.csv (per point, the engine's own mean TTFT, queue, prefill, decode and inter-token
times from /metrics, and the iterations it ran with their tokens).
Needs an idle machine; bounded by run.sh's timeout."""
import asyncio
import csv
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
# RESULTS=folder writes a run beside the committed one (validation/results/vllm-cpu-run<N>/).
RESULTS = Path(os.environ.get("RESULTS", HERE.parent / "results")).resolve()
TRACE = HERE.parents[2] / "shared" / "data" / "traces" / "azure-llm-2023-conv.csv"
PORT = 8011
RATES = [float(r) for r in os.environ.get("RATES", "1 3 5 7").split()]
WINDOW_S = float(os.environ.get("WINDOW_S", "120"))
ENGINE_ARGS = ["--dtype", "float32", "--max-model-len", "2048", "--max-num-seqs", "16",
               "--max-num-batched-tokens", "2048", "--enable-chunked-prefill", "--enable-prefix-caching",
               "--block-size", "32", "--seed", "0"]


def start_server():
    env = dict(os.environ, VLLM_TARGET_DEVICE="cpu", VLLM_CPU_KVCACHE_SPACE="2",
               VLLM_CACHE_ROOT=str(HERE / "cache" / "vllm"), TORCHINDUCTOR_CACHE_DIR=str(HERE / "cache" / "inductor"),
               TMPDIR=str(HERE / "tmp"), VLLM_USE_AOT_COMPILE="0", VLLM_NO_USAGE_STATS="1", HF_HUB_OFFLINE="1",
               VLLM_HOST_IP="127.0.0.1")
    (HERE / "tmp").mkdir(exist_ok=True)
    log = open(HERE / "tmp" / "server.log", "w")
    server = subprocess.Popen([str(HERE / "venv" / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
                               "--model", str(HERE / "model"), "--served-model-name", "tiny-llama",
                               "--host", "127.0.0.1", "--port", str(PORT), *ENGINE_ARGS],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(2)
        if server.poll() is not None:
            sys.exit(f"vLLM exited while starting: see {HERE / 'tmp' / 'server.log'}")
    os.killpg(server.pid, signal.SIGTERM)
    sys.exit("vLLM did not start in 5 minutes")


def workload(rate, seed, window_s):
    """The trace's first rate × window_s requests, their gaps rescaled to a mean of 1/rate (the
    trace's burstiness kept), from t = 0."""
    with open(TRACE) as f:
        rows = list(csv.DictReader(f))
    count = max(2, round(rate * window_s))
    rows = rows[:count]
    stamps = [time.mktime(time.strptime(r["TIMESTAMP"][:19], "%Y-%m-%d %H:%M:%S")) + float("0." + r["TIMESTAMP"][20:])
              for r in rows]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    scale = (1.0 / rate) / statistics.mean(gaps)
    rng = random.Random(seed)
    out, t = [], 0.0
    for row, gap in zip(rows, [0.0] + gaps):
        t += gap * scale
        prompt = min(max(int(row["ContextTokens"]) // 4, 16), 1024)
        output = min(max(int(row["GeneratedTokens"]) // 4, 4), 128)
        out.append((t, [rng.randrange(3, 32000) for _ in range(prompt)], output))
    return out


async def one(session, start, at, ids, output, results):
    await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
    sent = time.perf_counter()
    body = {"model": "tiny-llama", "prompt": ids, "max_tokens": output, "ignore_eos": True, "temperature": 0,
            "stream": True, "return_token_ids": True, "stream_options": {"include_usage": True}}
    times = []
    async with session.post(f"http://127.0.0.1:{PORT}/v1/completions", json=body) as response:
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            now = time.perf_counter()
            for choice in chunk.get("choices", []):
                times.extend([now] * len(choice.get("token_ids") or []))
    if len(times) < 1:
        results.append((at, len(ids), output, None, None, None))
        return
    ttft = times[0] - sent
    tpot = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None
    results.append((at, len(ids), len(times), ttft, tpot, times[-1] - sent))


async def load_point(rate, seed, window_s=None):
    requests = workload(rate, seed, WINDOW_S if window_s is None else window_s)
    results = []
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        start = time.perf_counter() + 0.5
        await asyncio.gather(*(one(session, start, at, ids, out, results) for at, ids, out in requests))
    return requests, sorted(results)


async def reference(label):
    """Eight lone requests of one fixed shape (256 prompt tokens, 32 outputs), one after another:
    the engine's speed at that moment. Taken before every load point and after the last, so a
    machine whose speed drifts during the run says so (vllm-cpu-reference.csv)."""
    rng = random.Random(f"reference {label}")  # new prompts each time: no prefix-cache hits
    results = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        for _ in range(8):
            await asyncio.sleep(0.3)
            start = time.perf_counter()
            await one(session, start, 0.0, [rng.randrange(3, 32000) for _ in range(256)], 32, results)
    return {"before": label, "ttft_ms": statistics.median(r[3] for r in results) * 1000,
            "tpot_ms": statistics.median(r[4] for r in results) * 1000}


ENGINE_SERIES = ["time_to_first_token_seconds", "request_queue_time_seconds", "request_prefill_time_seconds",
                 "request_decode_time_seconds", "inter_token_latency_seconds", "iteration_tokens_total"]


def engine_counters():
    """The engine's own histograms from /metrics, as {series: (sum, count)}: the time a request
    spends queued, prefilling and decoding as the engine sees it (the rest of a client's TTFT is
    the API server's and the wire's), and the iterations run with their tokens."""
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=10) as response:
        text = response.read().decode()
    out = {name: [0.0, 0.0] for name in ENGINE_SERIES}
    for line in text.splitlines():
        for name in ENGINE_SERIES:
            for k, suffix in enumerate(("_sum", "_count")):
                if line.startswith(f"vllm:{name}{suffix}"):
                    out[name][k] += float(line.rsplit(" ", 1)[1])
    return out


def engine_row(rate, before, after):
    """One load point's engine-side means (ms) and iteration totals, from counters around it."""
    delta = {n: (after[n][0] - before[n][0], after[n][1] - before[n][1]) for n in ENGINE_SERIES}
    mean_ms = lambda n: delta[n][0] / delta[n][1] * 1000 if delta[n][1] else None
    return {"rate": rate, "requests": delta["time_to_first_token_seconds"][1],
            "engine_ttft_ms": mean_ms("time_to_first_token_seconds"), "queue_ms": mean_ms("request_queue_time_seconds"),
            "prefill_ms": mean_ms("request_prefill_time_seconds"), "decode_ms": mean_ms("request_decode_time_seconds"),
            "inter_token_ms": mean_ms("inter_token_latency_seconds"),
            "iterations": delta["iteration_tokens_total"][1], "iteration_tokens": delta["iteration_tokens_total"][0]}


def quantile(values, q):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not (HERE / "model").exists():
        subprocess.run([str(HERE / "venv" / "bin" / "python"), str(HERE / "make_model.py"), str(HERE / "model")],
                       check=True)
    server = start_server()
    try:
        # Warm-up (compile caches, first-request costs) on prompts of its own: the prefix cache must
        # not hold any load point's prompts.
        asyncio.run(load_point(1.0, seed=1, window_s=30))
        summary, references, engine = [], [], []
        for rate in RATES:
            references.append(asyncio.run(reference(f"{rate:g}")))
            print(references[-1], flush=True)
            before = engine_counters()
            requests, results = asyncio.run(load_point(rate, seed=1000 + int(rate * 1000)))
            engine.append(engine_row(rate, before, engine_counters()))
            print(engine[-1], flush=True)
            name = f"vllm-cpu-r{rate:g}"
            with open(RESULTS / f"{name}-workload.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["timestamp", "prompt_tokens", "output_tokens"])
                for at, ids, output in requests:
                    w.writerow([f"{at:.6f}", len(ids), output])
            with open(RESULTS / f"{name}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["sent_s", "prompt_tokens", "output_tokens", "ttft_ms", "tpot_ms", "e2e_ms"])
                for at, prompt, n, ttft, tpot, e2e in results:
                    ms = lambda v: "" if v is None else f"{v * 1000:.3f}"
                    w.writerow([f"{at:.6f}", prompt, n, ms(ttft), ms(tpot), ms(e2e)])
            ttfts = [r[3] for r in results]
            tpots = [r[4] for r in results]
            row = {"rate": rate, "requests": len(results),
                   "ttft_p50_ms": quantile(ttfts, 0.5) * 1000, "ttft_p99_ms": quantile(ttfts, 0.99) * 1000,
                   "tpot_p50_ms": quantile(tpots, 0.5) * 1000, "tpot_p99_ms": quantile(tpots, 0.99) * 1000}
            summary.append(row)
            print(row, flush=True)
        references.append(asyncio.run(reference("end")))
        print(references[-1], flush=True)
        with open(RESULTS / "vllm-cpu-engine.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(engine[0]))
            w.writeheader()
            w.writerows(engine)
        with open(RESULTS / "vllm-cpu-reference.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(references[0]))
            w.writeheader()
            w.writerows(references)
        with open(RESULTS / "vllm-cpu-loadtest.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(summary[0]))
            w.writeheader()
            w.writerows(summary)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
