#!/usr/bin/env bash
# Builds servesim with the CUDA backend and profiles the catalog models on this machine's GPU in
# one call (meant for the H200 device machine; well under 10 minutes):
#   kernels/profiles/gpu.csv      the catalog models' operators, bf16, quick grid for Llama-3-8B
#   kernels/profiles/gemm-8192.csv  the 8192³ bf16 GEMM, whose rate is printed against the
#                                 770–800 TFLOP/s an H200 is known to reach
# Everything it writes also goes to $OUT when that is set (the device tool brings $OUT back).
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv || true
cargo build --release --features cuda --quiet
bin=./target/release/servesim
$bin profile --backend cuda --ops <(printf 'op,shape,dtype\ngemm,m=8192 n=8192 k=8192,bf16\n') \
  --out kernels/profiles/gemm-8192.csv
median_ns=$(awk -F, '$1=="gemm" {print $4}' kernels/profiles/gemm-8192.csv)
awk -v ns="$median_ns" 'BEGIN { printf "bf16 GEMM 8192^3: %.3f ms median, %.0f TFLOP/s (known: 770-800)\n", ns/1e6, 2*8192^3/(ns*1e-9)/1e12 }'
$bin profile --backend cuda --dtype bf16 \
  --model all-MiniLM-L6-v2 --model distilbert-base-uncased --model bert-base-uncased \
  --model dlrm-criteo-style --model mlp-churn --out kernels/profiles/gpu-encoders.csv
$bin profile --backend cuda --dtype bf16 --model llama-3-8b --quick --out kernels/profiles/gpu-llama.csv
# One profile file: the encoders' rows plus Llama's (provenance from the first).
{ cat kernels/profiles/gpu-encoders.csv; grep -v '^#\|^op,\|^batch_overhead' kernels/profiles/gpu-llama.csv; } \
  > kernels/profiles/gpu.csv
rm kernels/profiles/gpu-encoders.csv kernels/profiles/gpu-llama.csv
$bin latency --model bert-base-uncased --device kernels/profiles/gpu.csv --batch 8 --seq 128 | head -3
if [ -n "${OUT:-}" ]; then cp kernels/profiles/gpu.csv kernels/profiles/gemm-8192.csv "$OUT"/; fi
