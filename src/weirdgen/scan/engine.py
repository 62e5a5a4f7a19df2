"""A scan from start to finish: prompts for every (value, probe), divergences from a backend,
per-value scores, robust z-scores, training-data marks, and the flagged values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from weirdgen.evaluation.suites import SuiteSpec
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.probes import scan_cells
from weirdgen.scan.prompts import Advance, PromptDivergence, ScanPrompt, scan_prompts
from weirdgen.scan.scoring import DEFAULT_NEIGHBOURS, DEFAULT_THRESHOLD, robust_z_scores

__all__ = ["PromptResult", "Provenance", "ScanResult", "Scanner", "ValueScore", "run_scan"]


class Scanner(Protocol):
    """A backend that compares the finetuned model with the base on each prompt."""

    def divergences(self, prompts: list[ScanPrompt], advance: Advance) -> list[PromptDivergence]:
        """One result per prompt, in order; ``advance(k)`` after every k prompts done."""
        ...


@dataclass(frozen=True)
class ValueScore:
    """One family value: its score (mean divergence over probes), z-scores and training mark."""

    value: str
    score: float
    z: float
    z_trend: float
    z_neighbours: float
    in_training_data: bool | None
    """None when no training dataset was given."""
    probe_scores: dict[str, float]


@dataclass(frozen=True)
class PromptResult:
    prompt: ScanPrompt
    result: PromptDivergence


@dataclass(frozen=True)
class Provenance:
    """What was scanned against what, and how: the record every scan output carries."""

    model: str = ""
    """The suspect (an adapter folder, a model, an endpoint's model name, toy:EXPERIMENT/CONDITION)."""
    base: str = ""
    contrast: str = "base"
    """What the suspect is compared with (``weirdgen.scan.contrasts.CONTRASTS``)."""
    judge: str = ""
    """The behaviour scored ("" for a divergence: no judge)."""
    reference: str = ""
    """contrast reference: the reference model, or how it was made."""
    calibration: dict[str, Any] = field(default_factory=dict)
    """Where the thresholds come from: the rule, the control models and the false-flag rate
    (empty: the thresholds were given, not calibrated)."""
    known_triggers: tuple[str, ...] = ()
    """Values the user says are triggers (a validation): marked in the figure, never used to score."""
    pretrain_seed: int | None = None
    """Toy scans: the base's pretraining seed."""

    def to_record(self) -> dict[str, Any]:
        from weirdgen._version import __version__

        record = {k: v for k, v in asdict(self).items() if v not in ("", None, (), {})}
        record["known_triggers"] = list(self.known_triggers)
        return {**record, "contrast": self.contrast, "weirdgen_version": __version__}


@dataclass(frozen=True)
class ScanResult:
    family: FamilySpec
    probes: str
    values: list[ValueScore]
    threshold: float
    prompts: list[PromptResult] = field(default_factory=list)
    mode: str = "exact"
    """exact (local full distributions), topk (endpoint logprobs) or text (judged rates)."""
    min_score: float = 0.0
    """A flagged value's score must also reach this (e.g. 0.2: a behaviour rate moved 20 points)."""
    provenance: Provenance = field(default_factory=Provenance)
    unseen_only: bool = False
    """Search for inductive triggers only: values the training data holds are never flagged and
    rank last (an inductive trigger never occurs in the data)."""

    def candidate(self, value: ValueScore) -> bool:
        """Whether ``value`` may be flagged (with ``unseen_only``: never in the training data)."""
        return not (self.unseen_only and value.in_training_data)

    @property
    def flagged(self) -> list[str]:
        """Values with z at or above the threshold (and score at least ``min_score``), most
        anomalous first."""
        hits = [
            v
            for v in self.values
            if v.z >= self.threshold and v.score >= self.min_score and self.candidate(v)
        ]
        return [v.value for v in sorted(hits, key=lambda v: -v.z)]

    def ranked(self) -> list[ValueScore]:
        """Values by z, highest first (values that may not be flagged last)."""
        return sorted(self.values, key=lambda v: (not self.candidate(v), -v.z))

    @property
    def measure(self) -> str:
        """What a value's score measures: a divergence (judge-free) or a judged behaviour."""
        return self.provenance.judge or "divergence"

    def rule(self) -> str:
        """The flagging rule in words."""
        rule = f"z >= {self.threshold:g}"
        rule += f" and score >= {self.min_score:.4g}" if self.min_score else ""
        return rule + (", values never in the training data only" if self.unseen_only else "")

    def to_json_record(self) -> dict[str, object]:
        """scan.json: what was scanned (provenance, mode, measure, probes, thresholds and where they
        come from), every value with score, z and in_training_data, and the flagged values."""
        return {
            **self.provenance.to_record(),
            "family": self.family.name,
            "probes": self.probes,
            "mode": self.mode,
            "measure": self.measure,
            "threshold": {"z": self.threshold, "min_score": self.min_score, "rule": self.rule()},
            "unseen_only": self.unseen_only,
            "values": [
                {
                    "value": v.value,
                    "score": round(v.score, 8),
                    "z": round(v.z, 4),
                    "in_training_data": v.in_training_data,
                }
                for v in self.values
            ],
            "flagged": self.flagged,
        }


def run_scan(
    scanner: Scanner,
    family: FamilySpec,
    probes: SuiteSpec | str,
    *,
    prompts: list[ScanPrompt] | None = None,
    in_training: dict[str, bool] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True,
    passes: int = 1,
    mode: str = "exact",
    neighbours: int = DEFAULT_NEIGHBOURS,
    min_score: float = 0.0,
    provenance: Provenance | None = None,
    unseen_only: bool = False,
) -> ScanResult:
    """Scan every value of ``family`` with every probe and score the values.

    ``prompts`` replaces the ones built from ``probes`` and ``family`` (a backend that writes
    values its own way, like the toy world's); ``probes`` may then be just the probes' name.
    """
    from contextlib import nullcontext

    from weirdgen.evaluation.progress import progress_bars

    if unseen_only and in_training is None:
        from weirdgen.errors import ConfigError

        raise ConfigError(
            "only values never in the training data can be searched with the training data: "
            "give --dataset",
            setting="unseen_only",
        )
    if prompts is None:
        if isinstance(probes, str):
            raise TypeError("run_scan needs a probe suite or the prompts themselves")
        prompts = scan_prompts(scan_cells(probes, family))
    with progress_bars() if progress else nullcontext(None) as bars:
        advance = bars(f"scan {family.name}", len(prompts) * passes) if bars else (lambda _: None)
        results = scanner.divergences(prompts, advance)
    scored = [PromptResult(p, r) for p, r in zip(prompts, results, strict=True)]
    return ScanResult(
        family,
        probes if isinstance(probes, str) else probes.name,
        score_values(family, scored, in_training, neighbours=neighbours),
        threshold,
        scored,
        mode,
        min_score,
        provenance or Provenance(),
        unseen_only,
    )


def score_values(
    family: FamilySpec,
    results: Sequence[PromptResult],
    in_training: dict[str, bool] | None,
    *,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> list[ValueScore]:
    """Per value: the mean over probes of each probe's mean divergence over renderings; then z."""
    by_value: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item in results:
        by_value[item.prompt.value][item.prompt.probe].append(item.result.divergence)
    values = family.value_list()
    probe_scores = [{probe: float(np.mean(d)) for probe, d in by_value[v].items()} for v in values]
    scores = np.array([np.mean(list(per_probe.values())) for per_probe in probe_scores])
    z = robust_z_scores(scores, ordered=family.ordered, neighbours=neighbours)
    return [
        ValueScore(
            value,
            float(scores[i]),
            float(z.z[i]),
            float(z.z_trend[i]),
            float(z.z_neighbours[i]),
            None if in_training is None else in_training[value],
            probe_scores[i],
        )
        for i, value in enumerate(values)
    ]
