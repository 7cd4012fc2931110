#!/usr/bin/env bash
# The validation harness: a pinned venv, then run.py (bounded to 45 minutes). Needs an idle
# machine: the timings are the point. Results go to validation/results/.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
exec timeout 45m .venv/bin/python run.py "$@"
