#!/usr/bin/env bash
# CI step: inspect_ai and llmcomp (clients nobody here wrote) each run a small sample-and-judge task
# against `weirdgen serve` (tests/serve/test_clients.py). They live in their own venv so their pins never
# touch weirdgen's. llmcomp is installed without its tinker, tinker-cookbook and streamlit dependencies
# (tinker-cookbook pulls a CUDA torch); its sampling, judging and caching need none of them.
# Usage: .ci/clients.sh  (after ./setup.sh; reuses .venv-clients when present). 1.6 min with an empty venv here, 25 s with a built one.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS_VENV="${CLIENTS_VENV:-.venv-clients}"
if ! "$CLIENTS_VENV/bin/python" -c "import inspect_ai, llmcomp" >/dev/null 2>&1; then
  python3 -m venv "$CLIENTS_VENV"
  "$CLIENTS_VENV/bin/pip" install -q "inspect_ai==0.3.285"
  "$CLIENTS_VENV/bin/pip" install -q backoff filelock matplotlib numpy openai pandas pyyaml requests tiktoken tqdm
  "$CLIENTS_VENV/bin/pip" install -q --no-deps "llmcomp==1.6.0"
fi

WEIRDGEN_CLIENTS_PYTHON="$(cd "$(dirname "$CLIENTS_VENV")" && pwd)/$(basename "$CLIENTS_VENV")/bin/python" \
  "${WEIRDGEN_PYTHON:-.venv/bin/python}" -m pytest tests/serve/test_clients.py -q -p no:cacheprovider
