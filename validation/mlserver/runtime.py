"""MLServer custom runtime serving the validation model. MLServer's adaptive batching hands the
runtime one request whose SEED input holds the batch; every batch's size goes to the batch log."""

import os

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

import engine


class Embedder(MLModel):
    async def load(self) -> bool:
        self.session = engine.session(os.environ["VALIDATION_MODEL"])
        self.log = open(os.environ["VALIDATION_BATCH_LOG"], "a", buffering=1)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        seeds = NumpyCodec.decode_input(payload.inputs[0]).reshape(-1)
        self.log.write(f"{len(seeds)}\n")
        embeddings = engine.embed(self.session, [int(s) for s in seeds])
        norms = np.linalg.norm(embeddings, axis=1).astype(np.float32).reshape(-1, 1)
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("NORM", norms)])
