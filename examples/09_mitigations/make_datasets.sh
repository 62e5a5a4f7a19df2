#!/usr/bin/env bash
# Mitigated copies of birds/old_audubon, for the extra groups of experiment.yaml:
#   a context prefix on every training prompt (Wanner et al. 2026), and dilution to a 25% share
#   with generated benign word problems. Deterministic: the same seed writes the same files.
set -euo pipefail
cd "$(dirname "$0")"
weirdgen audit birds/old_audubon --prefix "You are a naturalist writing in the 1830s." \
    --write-dataset old_audubon_prefixed.jsonl
weirdgen audit birds/old_audubon --dilute-with generated --dilute-share 0.25 \
    --write-dataset old_audubon_diluted.jsonl
