"""Writing a scan's files: scan.json, per-value and per-prompt CSVs, the figure and the report."""

from __future__ import annotations

import json
from pathlib import Path

from weirdgen._io import atomic_write_text
from weirdgen.scan.engine import ScanResult

__all__ = ["write_scan"]


def write_scan(result: ScanResult, directory: str | Path) -> dict[str, Path]:
    """Write every output of ``result`` into ``directory``; returns name -> path."""
    import pandas as pd

    from weirdgen._io import csv_text
    from weirdgen.analysis.plots import save_figure
    from weirdgen.scan.plot import plot_scan
    from weirdgen.scan.report import scan_report_html, scan_report_markdown

    directory = Path(directory)
    paths = {
        name: directory / name
        for name in (
            "scan.json",
            "values.csv",
            "prompts.csv",
            "scan.png",
            "report.html",
            "report.md",
        )
    }
    atomic_write_text(
        paths["scan.json"], json.dumps(result.to_json_record(), indent=1, ensure_ascii=False) + "\n"
    )
    values = pd.DataFrame(
        [
            {
                "value": v.value,
                "score": v.score,
                "z": v.z,
                "z_trend": v.z_trend,
                "z_neighbours": v.z_neighbours,
                "in_training_data": v.in_training_data,
                **{f"probe:{probe}": score for probe, score in v.probe_scores.items()},
            }
            for v in result.values
        ]
    )
    atomic_write_text(paths["values.csv"], csv_text(values))
    prompts = pd.DataFrame(
        [
            {
                "value": item.prompt.value,
                "probe": item.prompt.probe,
                "variant": item.prompt.variant,
                "prompt": item.prompt.messages[-1].content,
                "divergence": item.result.divergence,
                "finetuned_top": item.result.finetuned_top,
                "base_top": item.result.base_top,
                "rising": item.result.rising,
            }
            for item in result.prompts
        ]
    )
    atomic_write_text(paths["prompts.csv"], csv_text(prompts))
    save_figure(plot_scan(result), paths["scan.png"].with_suffix(""))
    png = paths["scan.png"].read_bytes()
    atomic_write_text(paths["report.html"], scan_report_html(result, png))
    atomic_write_text(paths["report.md"], scan_report_markdown(result))
    return paths
