#!/usr/bin/env bash
# The third real server (Seldon's MLServer with adaptive batching): its own pinned venv, then
# measure.py (bounded to 30 minutes). Needs an idle machine. Results go to validation/results/mlserver-*.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
exec timeout 30m .venv/bin/python measure.py "$@"
