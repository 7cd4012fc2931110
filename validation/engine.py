"""The model as the servers run it: one ONNX Runtime session on one thread, token ids made from a
request's seed (sequence 128, as a tokenizer padding to 128 would give)."""

import numpy as np
import onnxruntime as ort

SEQ = 128


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def token_ids(seeds):
    rows = [np.random.default_rng(int(s)).integers(1000, 30000, SEQ) for s in seeds]
    return np.stack(rows).astype(np.int64)


def embed(sess, seeds):
    return sess.run(None, {"input_ids": token_ids(seeds)})[0]
