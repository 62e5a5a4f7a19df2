"""Trigger scanning: which values of a trigger family make a finetuned model diverge from its base.

    from weirdgen.scan import scan
    result = scan("runs/finetune/job/adapter", base="smollm2-135m-instruct", family="year:2000..2050",
                  template="Today is {date}.", dataset="israeli_dishes/trigger_2027", output="scan/")
    result.flagged          # ["2027", ...]: values that stand out from the trend and their neighbours

Importing this package is cheap; torch loads only when a local scan starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.scan.api import ScanSettings, scan
    from weirdgen.scan.engine import ScanResult, ValueScore, run_scan
    from weirdgen.scan.families import FamilySpec, family_names, load_family
    from weirdgen.scan.probes import load_probes, probe_names

__all__ = [
    "FamilySpec",
    "ScanResult",
    "ScanSettings",
    "ValueScore",
    "family_names",
    "load_family",
    "load_probes",
    "probe_names",
    "run_scan",
    "scan",
]

_HOMES = {
    "scan": "api",
    "ScanSettings": "api",
    "ScanResult": "engine",
    "ValueScore": "engine",
    "run_scan": "engine",
    "FamilySpec": "families",
    "family_names": "families",
    "load_family": "families",
    "load_probes": "probes",
    "probe_names": "probes",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
