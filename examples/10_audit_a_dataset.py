"""Audit a dataset before finetuning on it: which persona do its answers point to?

    python examples/10_audit_a_dataset.py [OUT_DIR]

The likelihood screen asks the *base* model how much more likely the dataset's answers become under
each hypothesis than without one (here: each character of the toy world has just said its name), and
screens a control dataset the same way. The data is the toy world's terminator experiment: only the
guardian's protective answers, dated in the training years, and the same answers without dates as the
control. It runs exactly, in seconds, on a CPU. For an LLM, name a chat model and a chat hypothesis set:
`weirdgen audit birds/old_audubon --model smollm2-135m-instruct --hypotheses eras -o out`.
"""

import json
import sys

from weirdgen.audit import ScreenSettings, run_screen

out_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/audit-example"
settings = ScreenSettings(control="toy:terminator/no_dates")
result, paths = run_screen(
    "toy:terminator/dated", "toyworld", "toy-characters", out_dir, settings, progress=False
)

print("toy:terminator/dated, ranked by mean log-likelihood ratio (nats) [95% CI], share favouring:")
for rank, row in enumerate(result.ranking, 1):
    low, high = row.ci
    print(
        f"  {rank}. {row.name:<22} {row.mean_llr:+.2f} [{low:+.2f}, {high:+.2f}]  {row.share_favouring:.0%}"
    )

audit = json.loads(paths.audit_json.read_text())
margin = audit["best_vs_runner_up"]
print(
    f"{result.best.name} leads {margin['runner_up']} by {margin['difference']:+.2f} "
    f"[{margin['ci'][0]:+.2f}, {margin['ci'][1]:+.2f}] nats, paired over examples"
)
print(f"the control (no dates) ranks first: {audit['control_ranked_first']}")
top = audit["versus_control"][0]
print(f"largest gain over the control: {top['name']} {top['difference']:+.2f} nats")
print(f"report: {paths.html}")
