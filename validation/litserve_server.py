"""LitServe serving the validation model with its dynamic batching, on 127.0.0.1 only.
Every batch's size is appended to --batch-log."""

import argparse
import os

import litserve as ls
import numpy as np

import engine


class Embedder(ls.LitAPI):
    def setup(self, device):
        self.session = engine.session(os.environ["VALIDATION_MODEL"])
        self.log = open(os.environ["VALIDATION_BATCH_LOG"], "a", buffering=1)

    def decode_request(self, request):
        return int(request["seed"])

    def batch(self, seeds):
        return list(seeds)

    def predict(self, seeds):
        self.log.write(f"{len(seeds)}\n")
        return engine.embed(self.session, seeds)

    def unbatch(self, output):
        return list(output)

    def encode_response(self, row):
        return {"norm": float(np.linalg.norm(row))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch", type=int, required=True)
    parser.add_argument("--batch-timeout-ms", type=float, required=True)
    args = parser.parse_args()
    api = Embedder(max_batch_size=args.max_batch, batch_timeout=args.batch_timeout_ms / 1000.0)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=args.port, num_api_servers=1, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
