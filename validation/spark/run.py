"""Real Spark runs for servesim's job model (docs/validation.md, "Batch scoring on Spark").

PySpark in local mode on this machine scores records with an ONNX MLP (the catalog's mlp-churn
shape: 64 -> 256 -> 128 -> 1, seeded random weights: timings depend on shapes, not values)
through mapInPandas, at three sizes and two partition counts, with and without an injected task
failure (partition 0's first attempt fails after half its batches). Per run it writes one CSV of
task attempts as Spark's own REST API reports them, with the run's makespan (the noop write's
wall time, from submission to the last task).

Usage: validation/spark/venv/bin/python validation/spark/run.py OUT_DIR
(venv: pip install -r validation/spark/requirements.txt; Java 17 on the PATH).
"""

import csv
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SLOTS = 2
BATCH = 1024
SIZES = [2_000_000, 4_000_000, 8_000_000]
PARTITIONS = [4, 12]
MAX_FAILURES = 4
REPEATS = 3
UI_PORT = 4050
# Spark's Python workers run this interpreter (the venv's), not the first python3 on the PATH.
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


def build_model(path):
    rng = np.random.default_rng(20261207)
    shapes = [(64, 256), (256, 128), (128, 1)]
    inits, nodes, x = [], [], "features"
    for i, (n_in, n_out) in enumerate(shapes):
        w, b = f"w{i}", f"b{i}"
        inits.append(numpy_helper.from_array((rng.standard_normal((n_in, n_out)) * 0.1).astype(np.float32), w))
        inits.append(numpy_helper.from_array(np.zeros(n_out, np.float32), b))
        nodes.append(helper.make_node("MatMul", [x, w], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", b], [f"add{i}"]))
        act = "Relu" if i < len(shapes) - 1 else "Sigmoid"
        nodes.append(helper.make_node(act, [f"add{i}"], [f"h{i}"]))
        x = f"h{i}"
    graph = helper.make_graph(
        nodes, "mlp_churn",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [None, 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def scorer(model_path, fail_after):
    """The mapInPandas function: one ONNX Runtime session per Python worker, one model call per
    Arrow batch; partition 0's first attempt raises after `fail_after` batches when set."""

    def score(batches):
        import numpy as np
        import onnxruntime as ort
        import pandas as pd
        from pyspark import TaskContext

        global _SESSION
        try:
            session = _SESSION
        except NameError:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = _SESSION = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        context = TaskContext.get()
        failing = fail_after is not None and context.partitionId() == 0 and context.attemptNumber() == 0
        frequencies = np.arange(1, 65, dtype=np.float32) / 64.0
        for done, batch in enumerate(batches):
            if failing and done == fail_after:
                raise RuntimeError("servesim validation: injected task failure")
            ids = batch["id"].to_numpy()
            features = np.sin(np.outer(ids.astype(np.float32), frequencies)).astype(np.float32)
            scores = session.run(None, {"features": features})[0][:, 0]
            yield pd.DataFrame({"id": ids, "score": scores})

    return score


def rest(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{UI_PORT}/api/v1{path}", timeout=30) as response:
        return json.load(response)


def run(spark_module, model_path, records, partitions, fail):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{SLOTS},{MAX_FAILURES}]")
        .appName(f"servesim-validation-{records}-{partitions}-{int(fail)}")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", str(UI_PORT))
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH))
        .config("spark.python.worker.reuse", "true")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    per_partition = records // partitions
    fail_after = (per_partition // BATCH) // 2 if fail else None
    frame = spark.range(0, records, 1, numPartitions=partitions)
    scored = frame.mapInPandas(scorer(model_path, fail_after), "id long, score float")
    started = time.perf_counter()
    scored.write.format("noop").mode("overwrite").save()
    makespan = time.perf_counter() - started
    app = rest("/applications")[0]["id"]
    stages = [s for s in rest(f"/applications/{app}/stages?details=true") if s["numTasks"] == partitions]
    rows = []
    for stage in stages:
        submitted = stage["submissionTime"]
        for task in stage["tasks"].values():
            rows.append({
                "partition": task["index"],
                "attempt": task["attempt"],
                "status": task["status"],
                "duration_s": task["duration"] / 1000.0,
                "launch_s": (iso_ms(task["launchTime"]) - iso_ms(submitted)) / 1000.0,
            })
    spark.stop()
    rows.sort(key=lambda r: (r["partition"], r["attempt"]))
    return makespan, rows


def iso_ms(text):
    # "2026-12-07T05:20:01.123GMT"
    from datetime import datetime, timezone
    stamp = datetime.strptime(text.replace("GMT", ""), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return stamp.timestamp() * 1000.0


def main(out):
    os.makedirs(out, exist_ok=True)
    model_path = os.path.abspath(os.path.join(out, "..", "tmp", "mlp-churn.onnx"))
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    build_model(model_path)
    import pyspark
    import onnxruntime

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    with open(os.path.join(out, "spark-environment.txt"), "w") as f:
        f.write(f"pyspark {pyspark.__version__}, onnxruntime {onnxruntime.__version__}, {java}\n")
        f.write(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, local[{SLOTS},{MAX_FAILURES}]\n")
        f.write(f"batch {BATCH} records (spark.sql.execution.arrow.maxRecordsPerBatch)\n")
    # A warm-up run: the JVM's and Python's first imports are not a run's cost.
    run(pyspark, model_path, SIZES[0], PARTITIONS[0], False)
    # Each configuration three times, interleaved (a slow minute of the host touches every
    # configuration alike); the run whose makespan is the median of the three is the run's file,
    # the others are kept under repeats/.
    configurations = [(r, p, f) for r in SIZES for p in PARTITIONS for f in (False, True)]
    measured = {c: [] for c in configurations}
    for repeat in range(REPEATS):
        for configuration in configurations:
            measured[configuration].append(run(pyspark, model_path, *configuration))
    os.makedirs(os.path.join(out, "repeats"), exist_ok=True)
    for (records, partitions, fail), runs in measured.items():
        order = sorted(range(len(runs)), key=lambda k: runs[k][0])
        name = f"spark-{records}-{partitions}{'-fail' if fail else ''}"
        for rank, k in enumerate(order):
            path = os.path.join(out, f"{name}.csv") if rank == len(runs) // 2 else os.path.join(
                out, "repeats", f"{name}-repeat{k + 1}.csv")
            write_run(path, records, partitions, fail, *runs[k])
        makespans = ", ".join(f"{runs[k][0]:.2f}" for k in range(len(runs)))
        failed = sum(r["status"] == "FAILED" for r in runs[order[len(runs) // 2]][1])
        print(f"{name}: makespans {makespans} s (median kept), {failed} failed attempts", flush=True)


def write_run(path, records, partitions, fail, makespan, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["records", "partitions", "slots", "batch_records", "injected_failure",
                         "makespan_s", "partition", "attempt", "status", "duration_s", "launch_s"])
        for r in rows:
            writer.writerow([records, partitions, SLOTS, BATCH, int(fail), f"{makespan:.4f}",
                             r["partition"], r["attempt"], r["status"], f"{r['duration_s']:.3f}",
                             f"{r['launch_s']:.3f}"])

if __name__ == "__main__":
    if "--quick" in sys.argv[2:]:  # a smoke test of the harness, not a measurement
        SIZES, PARTITIONS, REPEATS = [40_000], [4], 1
    main(sys.argv[1])
