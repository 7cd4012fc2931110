"""Load-tests Seldon's MLServer (adaptive batching, the model in a parallel worker process behind
the HTTP process) with the validation model, as validation/run.py does for LitServe and Triton:
the in-process batch table re-measured in the same run, capacity under overload, then open-loop
Poisson at 10-90% of it. Writes validation/results/mlserver-*.

    validation/mlserver/run.sh [--quick]
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.dirname(HERE)
sys.path[:0] = [HARNESS]  # before this folder: the harness is run.py there

import run as harness  # noqa: E402  (the harness's helpers: batch table, readiness, load points)

# (name, max batch, max batch time ms)
CONFIGS = [("b8-d10", 8, 10.0), ("b4-d2", 4, 2.0)]


def start_mlserver(model_path, max_batch, delay_ms, preferred, batch_log):
    assert not preferred, "MLServer has no preferred batch sizes"
    folder = os.path.join(harness.WORK, "mlserver-models")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "minilm"))
    http, grpc, metrics = harness.free_port(), harness.free_port(), harness.free_port()
    with open(os.path.join(folder, "settings.json"), "w") as f:
        # One parallel worker (MLServer's default): the model runs in a child process, so every
        # request crosses from the HTTP process to the worker and back.
        json.dump({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics,
                   "parallel_workers": 1, "metrics_endpoint": None, "debug": False}, f)
    with open(os.path.join(folder, "minilm", "model-settings.json"), "w") as f:
        json.dump({"name": "minilm", "implementation": "runtime.Embedder", "max_batch_size": max_batch,
                   "max_batch_time": delay_ms / 1e3}, f)
    env = dict(os.environ, VALIDATION_MODEL=model_path, VALIDATION_BATCH_LOG=batch_log,
               PYTHONPATH=f"{HERE}:{HARNESS}")
    mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
    process = subprocess.Popen([mlserver, "start", folder], cwd=folder, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=open(batch_log + ".stderr", "w"))
    harness.wait_ready(f"http://127.0.0.1:{http}/v2/models/minilm/ready", process)

    def body(i):
        return {"inputs": [{"name": "SEED", "shape": [1, 1], "datatype": "INT64", "data": [i]}]}

    return process, http, "/v2/models/minilm/infer", body


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short load points: checks the harness, not the server")
    args = parser.parse_args()
    os.makedirs(harness.RESULTS, exist_ok=True)
    os.makedirs(harness.WORK, exist_ok=True)
    model_path = os.path.join(harness.WORK, "minilm-l6-int8.onnx")
    if not os.path.exists(model_path):
        harness.model.main(model_path)
    table = harness.batch_table(model_path, [1, 2, 4, 8], 5 if args.quick else 30)
    with open(os.path.join(harness.RESULTS, "mlserver-batch-table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["batch", "median_ms", "p90_ms"])
        w.writerows((b, round(m, 3), round(p, 3)) for b, m, p in table)
    print("batch table (ms):", ", ".join(f"{b}: {m:.1f}" for b, m, _ in table), flush=True)
    for name, max_batch, delay_ms in CONFIGS:
        config = (name, max_batch, delay_ms, [])
        harness.CONFIGS.append(config)
        harness.measure("mlserver", config, model_path, args.quick, start=start_mlserver)
        tag = f"mlserver-{name}"
        with open(os.path.join(harness.RESULTS, f"{tag}.toml"), "w") as f:
            f.write(harness.scenario(tag, table, max_batch, delay_ms, []).replace(
                "(validation/results/batch-table.csv)", "(validation/results/mlserver-batch-table.csv)"))
    versions = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    with open(os.path.join(harness.RESULTS, "mlserver-environment.txt"), "w") as f:
        f.write(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\ncpus: {os.cpu_count()}\n")
        f.write(f"python: {sys.version.split()[0]}\n{versions}")


if __name__ == "__main__":
    main()
