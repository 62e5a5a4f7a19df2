"""Writing a scan: scan.json (the summary) and the one results table, rendered by the report.

The table (``weirdgen.evaluation.table``: samples.parquet, samples.csv, run.json) has one row per
prompt (family value x probe x rendering): judge ``scan`` scores the prompt's divergence (or
behaviour change) and labels the value flagged or not, its ``raw`` says whether the value occurs
in the training data; judge ``z`` holds the value's robust z. run.json carries ``kind: scan`` and
the provenance, so ``weirdgen report DIR`` renders the scan (``weirdgen.report.tools``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.scan.engine import ScanResult

__all__ = ["scan_metadata", "scan_rows", "write_scan"]

SUITE = "scan"


def scan_rows(result: ScanResult) -> list[dict[str, Any]]:
    """One results-table row per scanned prompt."""
    from weirdgen.report.tools import FLAGGED, IN_TRAINING, NEVER_TRAINED, SCAN_JUDGE, Z_JUDGE

    by_value = {v.value: v for v in result.values}
    flagged = set(result.flagged)
    method = f"{result.mode}, {result.measure}, contrast {result.provenance.contrast}"
    rows = []
    for item in result.prompts:
        prompt, value = item.prompt, by_value[item.prompt.value]
        mark = {True: IN_TRAINING, False: NEVER_TRAINED, None: ""}[value.in_training_data]
        system = next((m.content for m in prompt.messages if m.role == "system"), "")
        divergence = item.result.divergence
        rows.append(
            {
                "experiment": SUITE,
                "suite": SUITE,
                "model": result.provenance.model,
                "group": SUITE,
                "seed": None,
                "checkpoint": "",
                "question_id": prompt.probe,
                "paraphrase": 0,
                "trigger": result.family.name,
                "trigger_value": prompt.value,
                "sample_index": prompt.variant,
                "system": system,
                "prompt": prompt.messages[-1].content,
                "answer": item.result.finetuned_top,
                "finish_reason": "exact" if result.mode != "text" else "judged",
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "choice_order": "",
                f"{SCAN_JUDGE}.label": FLAGGED if prompt.value in flagged else "not flagged",
                f"{SCAN_JUDGE}.score": divergence if math.isfinite(divergence) else math.nan,
                f"{SCAN_JUDGE}.raw": mark,
                f"{SCAN_JUDGE}.method": method,
                f"{Z_JUDGE}.label": "z",
                f"{Z_JUDGE}.score": value.z,
                f"{Z_JUDGE}.raw": f"trend {value.z_trend:.4g}, neighbours {value.z_neighbours:.4g}",
                f"{Z_JUDGE}.method": "robust z",
            }
        )
    return rows


def scan_metadata(result: ScanResult) -> dict[str, Any]:
    """run.json's fields: scan.json's summary (without the values) and how to read the rows."""
    from weirdgen.report.tools import SCAN_JUDGE, SCAN_KIND, Z_JUDGE
    from weirdgen.scan.contrasts import CONTRASTS

    record = {k: v for k, v in result.to_json_record().items() if k != "values"}
    return {
        **record,
        "kind": SCAN_KIND,
        "suite": SUITE,
        "ordered": result.family.ordered,
        "contrast_description": CONTRASTS.get(result.provenance.contrast, ""),
        "judges": {
            SCAN_JUDGE: {"kind": "exact", "model": "", "description": "the prompt's score"},
            Z_JUDGE: {"kind": "exact", "model": "", "description": "the value's robust z"},
        },
        "backend": result.mode,
    }


def write_scan(result: ScanResult, directory: str | Path) -> dict[str, Path]:
    """Write scan.json, the results table and the report into ``directory``; returns name -> path."""
    from weirdgen.evaluation.table import rows_to_frame, write_table
    from weirdgen.report import write_report
    from weirdgen.report.tools import SCAN_JUDGE, Z_JUDGE

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = directory / "scan.json"
    atomic_write_text(
        summary, json.dumps(result.to_json_record(), indent=1, ensure_ascii=False) + "\n"
    )
    frame = rows_to_frame(scan_rows(result), [SCAN_JUDGE, Z_JUDGE])
    table = write_table(directory, frame, scan_metadata(result), merge=False)
    report = write_report(directory, out_dir=directory)
    return {
        "scan.json": summary,
        "table": table,
        "report.html": report.html,
        "report.md": report.markdown,
    }
