"""The validation harness: builds the model, measures its in-process batch table, and load-tests
real dynamic-batching servers (LitServe, and Triton from nvidia-pytriton) at 10–90% of their
measured capacity. Writes validation/results/. Loopback only; every step is bounded in time.

    validation/run.sh [--servers litserve,triton] [--quick]
"""

import argparse
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

import engine
import loadgen
import model

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
WORK = os.path.join(HERE, ".work")
FRACTIONS = [0.1, 0.3, 0.5, 0.7, 0.9]
# (name, max batch, batch delay ms, preferred sizes — Triton only)
CONFIGS = [("b8-d10", 8, 10.0, []), ("b4-d2", 4, 2.0, [])]
TRITON_EXTRA = [("b8-d10-p4", 8, 10.0, [4])]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_table(model_path, sizes, repeats):
    session = engine.session(model_path)
    rows = []
    for b in sizes:
        seeds = list(range(b))
        engine.embed(session, seeds)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            engine.embed(session, seeds)
            times.append((time.perf_counter() - start) * 1e3)
        rows.append((b, float(np.median(times)), float(np.percentile(times, 90))))
    return rows


def wait_ready(url, process, limit_s=180):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready in {limit_s} s")


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_litserve(model_path, max_batch, delay_ms, preferred, batch_log):
    assert not preferred, "LitServe has no preferred batch sizes"
    port = free_port()
    env = dict(os.environ, VALIDATION_MODEL=model_path, VALIDATION_BATCH_LOG=batch_log, PYTHONPATH=HERE)
    process = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "litserve_server.py"), "--port", str(port), "--max-batch", str(max_batch),
         "--batch-timeout-ms", str(delay_ms)],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=open(batch_log + ".stderr", "w"),
    )
    wait_ready(f"http://127.0.0.1:{port}/health", process)
    return process, port, "/predict", lambda i: {"seed": i}


def triton_home():
    import pytriton

    site = os.path.dirname(os.path.dirname(pytriton.__file__))
    home = os.path.join(WORK, "tritonserver")
    if not os.path.exists(home):
        shutil.copytree(os.path.join(os.path.dirname(pytriton.__file__), "tritonserver"), home, symlinks=True)
        stub = os.path.join(home, "python_backend_stubs", "3.11", "triton_python_backend_stub")
        shutil.copy(stub, os.path.join(home, "backends", "python"))
        # The stub embeds the system's libpython with the environment ignored (PYTHONPATH is not
        # read), and its utilities import numpy first: put the venv on the path in our copy.
        utils = os.path.join(home, "backends", "python", "triton_python_backend_utils.py")
        with open(utils) as f:
            text = f.read()
        with open(utils, "w") as f:
            f.write(f"import sys\nsys.path[:0] = [{HERE!r}, {site!r}]\n" + text)
    return home, site


def start_triton(model_path, max_batch, delay_ms, preferred, batch_log):
    home, site = triton_home()
    repo = os.path.join(WORK, "triton-repo")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.join(repo, "minilm", "1"))
    shutil.copy(os.path.join(HERE, "triton", "model.py"), os.path.join(repo, "minilm", "1", "model.py"))
    preferred_text = f" preferred_batch_size: [{', '.join(map(str, preferred))}]" if preferred else ""
    with open(os.path.join(repo, "minilm", "config.pbtxt"), "w") as f:
        f.write(
            f'name: "minilm"\nbackend: "python"\nmax_batch_size: {max_batch}\n'
            'input [{ name: "SEED" data_type: TYPE_INT64 dims: [1] }]\n'
            'output [{ name: "EMBEDDING" data_type: TYPE_FP32 dims: [384] }]\n'
            'instance_group [{ count: 1 kind: KIND_CPU }]\n'
            f"dynamic_batching {{ max_queue_delay_microseconds: {int(delay_ms * 1000)}{preferred_text} }}\n"
            f'parameters: {{ key: "model_path" value: {{ string_value: "{model_path}" }} }}\n'
            f'parameters: {{ key: "batch_log" value: {{ string_value: "{batch_log}" }} }}\n'
        )
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(site, "nvidia_pytriton.libs"), PYTHONPATH=f"{HERE}:{site}")
    process = subprocess.Popen(
        [os.path.join(home, "bin", "tritonserver"), f"--model-repository={repo}",
         f"--backend-directory={os.path.join(home, 'backends')}", "--http-address=127.0.0.1",
         f"--http-port={http}", "--grpc-address=127.0.0.1", f"--grpc-port={grpc}", "--allow-metrics=false",
         f"--metrics-port={metrics}", "--log-verbose=0"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=open(batch_log + ".stderr", "w"),
    )
    wait_ready(f"http://127.0.0.1:{http}/v2/models/minilm/ready", process)

    def body(i):
        return {"inputs": [{"name": "SEED", "shape": [1, 1], "datatype": "INT64", "data": [i]}]}

    return process, http, "/v2/models/minilm/infer", body


def batch_sizes_since(batch_log, offset):
    with open(batch_log) as f:
        sizes = [int(line) for line in f.read().split()]
    return sizes[offset:], len(sizes)


def measure(server, config, model_path, quick, start=None):
    name, max_batch, delay_ms, preferred = config
    tag = f"{server}-{name}"
    batch_log = os.path.join(WORK, f"{tag}.batches")
    open(batch_log, "w").close()
    start = start or (start_litserve if server == "litserve" else start_triton)
    process, port, path, body = start(model_path, max_batch, delay_ms, preferred, batch_log)
    try:
        for i in range(20):  # warm-up, one at a time
            loadgen.run("127.0.0.1", port, path, body, rate=20.0, duration=0.05, seed=i)
        # Capacity as a user measures it: completions per second under overload.
        overload = loadgen.run("127.0.0.1", port, path, body, rate=150.0, duration=6 if quick else 12, seed=99)
        done = [latency for _, latency, ok in overload if ok]
        span = max(s + l / 1e3 for s, l, ok in overload if ok) - overload[0][0]
        capacity = len(done) / span
        print(f"{tag}: capacity {capacity:.1f} req/s", flush=True)
        time.sleep(3)
        _, offset = batch_sizes_since(batch_log, 0)
        rows, details = [], []
        fractions = FRACTIONS if config in CONFIGS else [0.3, 0.6, 0.9]
        for k, fraction in enumerate(fractions):
            rate = fraction * capacity
            duration = (10 if quick else min(60.0, max(30.0, 600.0 / rate)))
            got = loadgen.run("127.0.0.1", port, path, body, rate=rate, duration=duration, seed=1000 + k)
            latencies = np.array([latency for _, latency, ok in got if ok])
            errors = sum(1 for _, _, ok in got if not ok)
            time.sleep(1)
            sizes, offset = batch_sizes_since(batch_log, offset)
            p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
            rows.append((round(rate, 3), round(p50, 2), round(p90, 2), round(p99, 2), round(latencies.mean(), 2), len(latencies)))
            histogram = np.bincount(sizes, minlength=max_batch + 1)[1:]
            details.append((round(rate, 3), round(duration, 1), len(got), errors, round(float(np.mean(sizes)), 3),
                            " ".join(map(str, histogram))))
            print(f"  {rate:6.2f} req/s: p50 {p50:6.1f} p90 {p90:6.1f} p99 {p99:6.1f} ms, {len(latencies)} ok, "
                  f"{errors} errors, mean batch {np.mean(sizes):.2f}", flush=True)
            time.sleep(2)
    finally:
        stop(process)
    with open(os.path.join(RESULTS, f"{tag}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["offered_rps", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "requests"])
        w.writerows(rows)
    with open(os.path.join(RESULTS, f"{tag}-details.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["offered_rps", "duration_s", "sent", "errors", "mean_batch", "batches_of_size_1_to_max"])
        w.writerows(details)
    return capacity


def scenario(tag, table, max_batch, delay_ms, preferred):
    points = ", ".join(f'[{b}, "{ms:.3f}ms"]' for b, ms, _ in table if b <= max_batch)
    preferred_text = f", preferred_batch_sizes = [{', '.join(map(str, preferred))}]" if preferred else ""
    # LitServe collects a batch in a window that opens when its worker frees (batch_timeout);
    # MLServer's adaptive batching in one that opens at the first arrival, worker free or not.
    rule = 'rule = "window", ' if tag.startswith("litserve") else ""
    rule = 'rule = "arrival_window", ' if tag.startswith("mlserver") else rule
    return (
        f'# {tag}: one replica with one model instance; the batch table measured in process\n'
        f'# (validation/results/batch-table.csv). servesim calibrate sets the rate per load point.\n'
        f'name = "{tag}"\nduration = "300s"\nwarmup = "10s"\n\n[regions.local]\nreplicas = 1\n\n'
        f'[[traffic]]\norigin = "local"\narrivals = {{ process = "poisson", rate = "10/s" }}\n\n'
        f'[serving]\nservice_time = {{ kind = "table", points = [{points}] }}\n'
        f'batching = {{ {rule}max_batch = {max_batch}, max_queue_delay = "{delay_ms:g}ms"{preferred_text} }}\n'
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", default="litserve,triton")
    parser.add_argument("--quick", action="store_true", help="short load points: checks the harness, not the server")
    args = parser.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)
    model_path = os.path.join(WORK, "minilm-l6-int8.onnx")
    if not os.path.exists(model_path):
        model.main(model_path)
    table = batch_table(model_path, [1, 2, 4, 8], 5 if args.quick else 30)
    with open(os.path.join(RESULTS, "batch-table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["batch", "median_ms", "p90_ms"])
        w.writerows((b, round(m, 3), round(p, 3)) for b, m, p in table)
    print("batch table (ms):", ", ".join(f"{b}: {m:.1f}" for b, m, _ in table), flush=True)
    for server in args.servers.split(","):
        for config in CONFIGS + (TRITON_EXTRA if server == "triton" else []):
            tag = f"{server}-{config[0]}"
            measure(server, config, model_path, args.quick)
            with open(os.path.join(RESULTS, f"{tag}.toml"), "w") as f:
                f.write(scenario(tag, table, *config[1:]))
    versions = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    with open(os.path.join(RESULTS, "environment.txt"), "w") as f:
        f.write(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
        f.write(f"cpus: {os.cpu_count()}\n")
        f.write(f"cpu: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}\n")
        f.write(f"python: {sys.version.split()[0]}\n")
        f.write(versions)


if __name__ == "__main__":
    main()
