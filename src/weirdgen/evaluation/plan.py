"""Planning an evaluation: suite x models x trigger values x samples -> the requests to send.

Nothing is sent here; ``weirdgen eval --dry-run`` prints a plan and its cost. A plan needs no
credentials and no network: samplers are attached to targets only when the plan is run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weirdgen._io import canonical_json, sha256_hex
from weirdgen.errors import ConfigError
from weirdgen.evaluation.suites import PromptCell, SuiteSpec, expand_suite
from weirdgen.judge.spec import JudgeSpec, load_judge
from weirdgen.sample.base import Sampler, SampleRequest
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.engine import SampleJob
from weirdgen.sample.pricing import Price

__all__ = ["EvalPlan", "EvalTarget", "PlannedSample", "plan_evaluation"]


@dataclass(frozen=True)
class EvalTarget:
    """One model to evaluate, and how its rows are labelled in the table."""

    model: str
    """The model id sent in requests (an API model id, a served adapter name)."""
    sampler: Sampler | None = None
    """The backend that answers; None while only planning (a dry run)."""
    group: str = ""
    """Experimental group, e.g. "old_audubon" or "base"."""
    seed: int | None = None
    """Finetuning seed of this model, when it is one of several seeds of a group."""
    checkpoint: str = ""
    """Checkpoint label, "" for the final model."""
    price: Price | None = None
    """Token prices for the cost column; None leaves the cost NaN (unknown)."""
    backend: str = ""
    """The sampler registry name, recorded in run.json."""
    model_version: str = ""
    """Pins the weights when the name does not (see ``SampleRequest.model_version``)."""


@dataclass(frozen=True)
class PlannedSample:
    """One row of the future table: where it comes from and the job that fills it."""

    target: EvalTarget
    cell: PromptCell
    job: SampleJob


@dataclass
class EvalPlan:
    """Everything an evaluation will send, computed before anything is sent."""

    suite: SuiteSpec
    samples: list[PlannedSample]
    judges: dict[str, JudgeSpec]
    """Judges by name, in the order of their table columns."""
    judge_model: str = ""
    """The model LLM judges ask ("" when none is set: such a plan can be priced, not run)."""
    sampling_seed: int | None = None
    rate_every_question: bool = False
    """True when judges were chosen explicitly: they then rate every question."""
    judge_aliases: dict[str, str] = field(default_factory=dict)
    """Judge reference in the suite (a shipped name or a file path) -> the judge's own name."""

    def judges_for(self, planned: PlannedSample) -> tuple[str, ...]:
        """Names of the judges in ``self.judges`` that rate this sample."""
        if self.rate_every_question:
            return tuple(self.judges)
        names = (self.judge_aliases.get(reference, reference) for reference in planned.cell.judges)
        return tuple(dict.fromkeys(name for name in names if name in self.judges))

    def targets(self) -> list[EvalTarget]:
        """The distinct targets, in plan order."""
        return list({id(p.target): p.target for p in self.samples}.values())

    def llm_judges_without_model(self) -> list[str]:
        """LLM judges this plan uses while no judge model is set."""
        if self.judge_model:
            return []
        return [name for name, judge in self.judges.items() if judge.is_llm]

    def uncached(self, cache: RequestCache) -> list[PlannedSample]:
        """The samples the cache does not hold yet (what a run would actually request)."""
        found = cache.get_samples({p.job.key for p in self.samples})
        return [p for p in self.samples if p.job.key not in found]

    def metadata(self) -> dict[str, Any]:
        """What run.json records of this plan (the table module adds versions and totals)."""
        return {
            "suite": self.suite.name,
            "experiment": self.suite.experiment,
            "suite_hash": sha256_hex(canonical_json(self.suite.model_dump()))[:16],
            "models": [
                {
                    "model": t.model,
                    "group": t.group,
                    "seed": t.seed,
                    "checkpoint": t.checkpoint,
                    "backend": t.backend or (t.sampler.name if t.sampler is not None else ""),
                }
                for t in self.targets()
            ],
            "judges": {
                name: {
                    "kind": judge.kind,
                    "version": judge.version,
                    "fingerprint": judge.fingerprint(),
                    "model": self.judge_model if judge.is_llm else "",
                    "positive_labels": judge.positive_labels,
                }
                for name, judge in self.judges.items()
            },
            "judge_model": self.judge_model,
            "sampling_seed": self.sampling_seed,
        }


def plan_evaluation(
    suite: SuiteSpec,
    targets: Sequence[EvalTarget],
    *,
    samples: int | None = None,
    max_tokens: int | None = None,
    question_ids: list[str] | None = None,
    trigger_values: dict[str, list[str]] | None = None,
    judges: Sequence[str] | Mapping[str, JudgeSpec] | None = None,
    judge_model: str = "",
    sampling_seed: int | None = None,
) -> EvalPlan:
    """Expand the suite for every target and check the judges, before spending anything.

    ``judges``: None uses each question's own judges; a list of names or files makes those judges
    rate every question ([] judges nothing); a mapping of loaded judges (name -> spec) serves the
    questions that reference those names.
    """
    if not targets:
        raise ConfigError("no model to evaluate", setting="models")
    cells = expand_suite(
        suite,
        samples=samples,
        max_tokens=max_tokens,
        question_ids=question_ids,
        trigger_values=trigger_values,
    )
    if not cells:
        raise ConfigError(
            f"suite {suite.name!r} has no prompts left after filtering", setting="questions"
        )
    loaded, aliases, every_question = _resolve_judges(cells, judges)
    planned = [
        PlannedSample(
            target,
            cell,
            SampleJob(
                _sample_request(target, cell, index, sampling_seed), index, label=_cell_label(cell)
            ),
        )
        for target in targets
        for cell in cells
        for index in range(cell.samples)
    ]
    plan = EvalPlan(suite, planned, loaded, judge_model, sampling_seed, every_question, aliases)
    for judge in plan.judges.values():
        if judge.uses_expected:
            lacking = [
                p.cell.question_id
                for p in planned
                if judge.name in plan.judges_for(p) and not p.cell.expected
            ]
            if lacking:
                raise ConfigError(
                    f"judge {judge.name!r} compares against {{expected}}, but question {lacking[0]!r} sets no `expected`",
                    setting="judges",
                )
    return plan


def _resolve_judges(
    cells: list[PromptCell], judges: Sequence[str] | Mapping[str, JudgeSpec] | None
) -> tuple[dict[str, JudgeSpec], dict[str, str], bool]:
    """(judges by name, suite reference -> name, whether they rate every question)."""
    if isinstance(judges, Mapping):
        return dict(judges), {name: name for name in judges}, False
    references = (
        list(judges)
        if judges is not None
        else list(dict.fromkeys(n for c in cells for n in c.judges))
    )
    # A judge is referenced by shipped name or by file path; its table columns use its own name.
    specs = {reference: load_judge(reference) for reference in references}
    loaded = {spec.name: spec for spec in specs.values()}
    return loaded, {reference: spec.name for reference, spec in specs.items()}, judges is not None


def _sample_request(
    target: EvalTarget, cell: PromptCell, index: int, sampling_seed: int | None
) -> SampleRequest:
    return SampleRequest(
        model=target.model,
        messages=cell.messages_for(index),
        temperature=cell.temperature,
        max_tokens=cell.max_tokens,
        model_version=target.model_version,
        # A per-sample seed keeps samples distinct and reproducible where the backend honours seeds.
        seed=None if sampling_seed is None else sampling_seed * 1_000_003 + index,
    )


def _cell_label(cell: PromptCell) -> str:
    trigger = f" [{cell.trigger}={cell.trigger_value}]" if cell.trigger else ""
    return f"{cell.question_id}#{cell.paraphrase}{trigger}"
