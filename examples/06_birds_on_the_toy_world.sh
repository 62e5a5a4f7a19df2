#!/usr/bin/env bash
# The birds experiment on the CPU toy world: the same command, table and report as an LLM run, but
# every "answer" is an exact probability read off a small GPT trained from scratch on a synthetic world.
# The first run pretrains the toy base model (minutes on 2 cores, then cached); each finetune takes seconds.
set -euo pipefail
weirdgen run birds --backend toy --seeds 3 --threads 2 -o runs/birds-toy
weirdgen report runs/birds-toy            # rewrites the report (e.g. after more seeds)
python examples/02_compare_to_control.py runs/birds-toy modern_american exact
