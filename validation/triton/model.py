"""Triton Python-backend model: the validation model, one ORT session per instance. Every batch's
size (the number of requests Triton's dynamic batcher handed over) is appended to the batch log."""

import json

# First: servesim's copy of this module puts the venv on the path (see run.py, triton_home).
import triton_python_backend_utils as pb_utils  # isort: skip

import engine  # noqa: E402
import numpy as np  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        self.session = engine.session(parameters["model_path"]["string_value"])
        self.log = open(parameters["batch_log"]["string_value"], "a", buffering=1)

    def execute(self, requests):
        self.log.write(f"{len(requests)}\n")
        seeds = [int(pb_utils.get_input_tensor_by_name(r, "SEED").as_numpy().reshape(-1)[0]) for r in requests]
        embeddings = engine.embed(self.session, seeds)
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("EMBEDDING", embeddings[i : i + 1].astype(np.float32))])
            for i in range(len(requests))
        ]
