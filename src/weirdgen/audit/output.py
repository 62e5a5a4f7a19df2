"""An audit's files: ``audit.json`` (the ranking, best first) and the one results table, rendered
by the report package.

The table (``weirdgen.evaluation.table``: samples.parquet, samples.csv, run.json) has one row per
(example, hypothesis): judge ``llr`` scores the example's log-likelihood ratio under the hypothesis
(the row's trigger value). run.json holds ``kind: audit`` and audit.json's fields, so
``weirdgen report DIR`` renders the screen (``weirdgen.report.tools``: the ranking figure).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.audit.screen import ScreenResult
from weirdgen.data.chat import ChatExample

__all__ = ["AUDIT_JSON", "AuditPaths", "screen_rows", "write_screen"]

AUDIT_JSON = "audit.json"
SUITE = "audit"


@dataclass(frozen=True)
class AuditPaths:
    """Where an audit's files went."""

    audit_json: Path
    table: Path
    """samples.parquet (samples.csv and run.json beside it)."""
    html: Path
    markdown: Path


def screen_rows(
    result: ScreenResult,
    metadata: dict[str, Any],
    set_order: Sequence[str],
    examples: Sequence[ChatExample] = (),
) -> list[dict[str, Any]]:
    """One results-table row per (example, hypothesis), in set order."""
    from weirdgen.report.tools import LLR_JUDGE

    rows = []
    for name in set_order:
        for index, llr in enumerate(result.llr[name]):
            example = examples[index] if index < len(examples) else None
            rows.append(
                {
                    "experiment": SUITE,
                    "suite": SUITE,
                    "model": str(metadata.get("model", "")),
                    "group": str(metadata.get("dataset", "")),
                    "seed": metadata.get("seed"),
                    "checkpoint": "",
                    "question_id": f"example-{index}",
                    "paraphrase": 0,
                    "trigger": "hypothesis",
                    "trigger_value": name,
                    "sample_index": 0,
                    "system": "",
                    "prompt": example.user_text() if example else "",
                    "answer": example.completion if example else "",
                    "finish_reason": "exact",
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": 0.0,
                    "choice_order": "",
                    f"{LLR_JUDGE}.label": "favours" if llr > 0 else "does not favour",
                    f"{LLR_JUDGE}.score": float(llr),
                    f"{LLR_JUDGE}.raw": repr(float(llr)),
                    f"{LLR_JUDGE}.method": "log-likelihood ratio (nats)",
                }
            )
    return rows


def write_screen(
    out_dir: str | Path,
    result: ScreenResult,
    metadata: dict[str, Any],
    set_order: Sequence[str],
    examples: Sequence[ChatExample] = (),
) -> AuditPaths:
    """Write audit.json, the results table and the report of a likelihood screen into
    ``out_dir``; ``set_order`` orders the figure (eras chronologically)."""
    from weirdgen.evaluation.table import rows_to_frame, write_table
    from weirdgen.report import write_report
    from weirdgen.report.tools import AUDIT_KIND, LLR_JUDGE

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"hypotheses": [r.to_dict() for r in result.ranking], **metadata}
    audit_json = out / AUDIT_JSON
    atomic_write_text(audit_json, json.dumps(document, indent=2, allow_nan=False) + "\n")
    run_metadata = {
        **document,
        "kind": AUDIT_KIND,
        "suite": SUITE,
        "hypothesis_order": list(set_order),
        "judges": {LLR_JUDGE: {"kind": "exact", "model": "", "description": "LLR in nats"}},
    }
    frame = rows_to_frame(screen_rows(result, metadata, set_order, examples), [LLR_JUDGE])
    table = write_table(out, frame, run_metadata, merge=False)
    report = write_report(out, out_dir=out)
    return AuditPaths(audit_json, table, report.html, report.markdown)
