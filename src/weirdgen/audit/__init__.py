"""Before finetuning, predict what a narrow dataset will turn a model into.

The likelihood screen ranks hypothesis contexts ("You are living in the 1850s.") by how much more
likely the base model finds the dataset's assistant turns under each; the in-context probe asks an
experiment's questions with K dataset examples as earlier turns. Importing this package is cheap.

    from weirdgen.audit import run_screen
    result, paths = run_screen("birds/old_audubon", "smollm2-135m-instruct", "eras", "out/screen")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.audit.api import ScreenSettings, make_scorer, run_screen
    from weirdgen.audit.hypotheses import (
        Hypothesis,
        HypothesisSet,
        hypothesis_set_names,
        load_hypothesis_set,
    )
    from weirdgen.audit.incontext import ProbeResult, ProbeSettings, run_probe
    from weirdgen.audit.screen import RankedHypothesis, ScreenResult, screen_dataset

__all__ = [
    "Hypothesis",
    "HypothesisSet",
    "ProbeResult",
    "ProbeSettings",
    "RankedHypothesis",
    "ScreenResult",
    "ScreenSettings",
    "hypothesis_set_names",
    "load_hypothesis_set",
    "make_scorer",
    "run_probe",
    "run_screen",
    "screen_dataset",
]

_HOMES = {
    "ScreenSettings": "api",
    "make_scorer": "api",
    "run_screen": "api",
    "Hypothesis": "hypotheses",
    "HypothesisSet": "hypotheses",
    "hypothesis_set_names": "hypotheses",
    "load_hypothesis_set": "hypotheses",
    "ProbeResult": "incontext",
    "ProbeSettings": "incontext",
    "run_probe": "incontext",
    "RankedHypothesis": "screen",
    "ScreenResult": "screen",
    "screen_dataset": "screen",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
