#!/usr/bin/env bash
# GPU smoke test: a few LoRA steps on SmolLM2 (bf16 autocast on a capable GPU), then one sampling
# batch mixing two adapters; prints tokens/s and peak memory. Runs on CPU too (float32).
#   benchmarks/gpu_smoke.sh                 # defaults
#   benchmarks/gpu_smoke.sh --gradient-checkpointing --steps 16
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import torch; print('cuda available:', torch.cuda.is_available())"
exec "$PYTHON" benchmarks/gpu_smoke.py "$@"
