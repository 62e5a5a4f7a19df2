"""The Python API of scanning: one call from a finetuned model and its base to scan.json.

from weirdgen.scan import scan
result = scan("runs/finetune/JOB/adapter", base="smollm2-135m-instruct", family="year:2000..2050")
result.flagged
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.scan.engine import ScanResult
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.probes import DEFAULT_PROBES
from weirdgen.scan.scoring import DEFAULT_NEIGHBOURS, DEFAULT_THRESHOLD

__all__ = ["MODES", "ScanSettings", "scan"]

MODES = ("auto", "exact", "topk", "text")


@dataclass(frozen=True)
class ScanSettings:
    """How a scan asks, compares and flags (the model, its base and the family are ``scan``'s
    arguments). Modes: ``exact`` compares full first-token distributions of local models;
    ``topk`` an endpoint's top-k logprobs; ``text`` the mean ``judge`` score of sampled answers;
    ``auto`` is exact without endpoints and topk with them."""

    template: str | None = None
    """How a value is written (default: the family's), e.g. 'Today is {date}.'."""
    probes: str = DEFAULT_PROBES
    """The probe questions: a shipped probe set or suite name, or a YAML file."""
    dataset: str | Path | None = None
    """Training data (chat JSONL or DATASET/VARIANT): marks which values occur in it."""
    mode: str = "auto"
    """One of ``MODES``."""
    contrast: str = "base"
    """exact: "residual" first removes the finetune's median shift over the family, so a finetune
    that changes every answer does not hide what one value adds."""
    base_urls: tuple[str, ...] = ()
    """topk and text: OpenAI-compatible endpoints serving the model and its base."""
    api_key_env: str = "OPENAI_API_KEY"
    """topk and text: the environment variable holding the API key."""
    cache: str | Path | None = None
    """topk and text: the request cache (default: the shared eval cache)."""
    judge: str | None = None
    """text: the judge whose score is the behaviour rate; toy: a toy behaviour measured exactly."""
    judge_model: str = ""
    """text: the model of an LLM judge (offline judges need none)."""
    samples: int = 20
    """text: answers per prompt and model."""
    max_tokens: int = 40
    """text: the longest answer, in tokens."""
    threshold: float = DEFAULT_THRESHOLD
    """A flagged value's robust z is at least this."""
    neighbours: int = DEFAULT_NEIGHBOURS
    """Ordered families: a value must also stand out from this many neighbours on each side (0:
    from the family's trend only, for a trigger that spans a run of values)."""
    min_score: float = 0.0
    """A flagged value's score is also at least this (an effect that matters, e.g. 0.2 for a
    behaviour rate that moved 20 points: in exact modes every tiny systematic difference has a
    large z)."""
    batch_tokens: int = 2048
    """exact: most of the prompts' own tokens (after their shared opening, computed once) in one
    packed forward pass, run through base and adapter."""
    device: str | None = "cpu"
    """exact: the torch device."""
    threads: int | None = None
    """exact: torch CPU threads (default: $WEIRDGEN_TORCH_THREADS or torch's)."""
    progress: bool = True
    """Show progress."""
    pretrain_seed: int = 0
    """toy: the seed of the pretrained toy base."""
    finetune_seed: int = 0
    """toy: the seed of the toy finetune's data and order."""


def scan(
    model: str,
    *,
    base: str,
    family: str,
    output: str | Path | None = None,
    settings: ScanSettings | None = None,
    **changes: Any,
) -> ScanResult:
    """Scan ``family`` for values where ``model`` (a LoRA folder, a model folder, or an endpoint's
    model name) diverges most from ``base``; with ``output``, write scan.json and the rest there.
    ``changes`` override fields of ``settings`` (``scan(..., mode="topk", base_urls=(url,))``).

    A toy-world model, ``toy:EXPERIMENT/CONDITION`` with ``base="toyworld"`` (or
    ``toyworld:RECIPE``), is finetuned for the scan on the base of ``pretrain_seed`` (data and
    order from ``finetune_seed``) and compared exactly on the toy's own questions; ``probes``,
    ``dataset`` and ``template`` do not apply (the toy writes values its own way and knows its data).
    There ``judge`` may name a toy behaviour (``villain``: the villain's villainous answers to the
    goal questions; ``unseen_leader``: the names and facts of a leader the finetuning data never
    shows): a value's score is then |rate(finetuned) - rate(base)| of that behaviour, as text mode
    scores a judge, but exact (``unseen_leader``: the rise itself, for the unseen leader that rises
    most behind the value's codes).
    """
    from weirdgen.scan.families import load_family
    from weirdgen.scan.toyworld import is_toy_model

    settings = dataclasses.replace(settings or ScanSettings(), **changes)
    if settings.mode not in MODES:
        raise ConfigError(
            f"unknown mode {settings.mode!r} (known: {', '.join(MODES)})", setting="mode"
        )
    spec = load_family(family, template=settings.template)
    if is_toy_model(model):
        result = _toy_scan(model, base, spec, settings)
    else:
        result = _model_scan(model, base, spec, settings)
    if output is not None:
        from weirdgen.scan.write import write_scan

        write_scan(result, output)
    return result


def _scoring(settings: ScanSettings) -> dict[str, Any]:
    """How values are scored and flagged, and whether progress shows: the same for every backend."""
    return {
        "threshold": settings.threshold,
        "neighbours": settings.neighbours,
        "min_score": settings.min_score,
        "progress": settings.progress,
    }


def _model_scan(model: str, base: str, spec: FamilySpec, settings: ScanSettings) -> ScanResult:
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.probes import load_probes
    from weirdgen.scan.training import training_texts, values_in_training_data

    mode = settings.mode
    if mode == "auto":
        mode = "topk" if settings.base_urls else "exact"
    probe_suite = load_probes(settings.probes)
    marks = (
        None
        if settings.dataset is None
        else values_in_training_data(spec, training_texts(settings.dataset))
    )
    scanner, passes = _scanner(model, base, spec, probe_suite, mode, settings)
    return run_scan(
        scanner,
        spec,
        probe_suite,
        in_training=marks,
        passes=passes,
        mode=mode,
        **_scoring(settings),
    )


_SCANNERS = {
    "exact": (
        "weirdgen.scan.local",
        "LocalScanner",
        ("device", "threads", "batch_tokens", "contrast"),
    ),
    "topk": ("weirdgen.scan.endpoint", "EndpointScanner", ("base_urls", "api_key_env", "cache")),
}
"""Per mode: the scanner's module and class, and the settings it is built from."""
PASSES = {"exact": 1, "topk": 2, "text": 1}
"""How many times each mode's scanner is asked for every prompt's divergence."""


def _scanner(
    model: str, base: str, spec: FamilySpec, probes: Any, mode: str, settings: ScanSettings
) -> tuple[Any, int]:
    """The scanner of ``mode`` and how many passes over the prompts it makes."""
    if mode == "text":
        from weirdgen.scan.judged import JudgedScanner
        from weirdgen.scan.probes import scan_suite

        if not settings.judge:
            raise ConfigError("text mode needs a judge that scores the behaviour", setting="judge")
        judged = (
            "judge",
            "judge_model",
            "samples",
            "max_tokens",
            "base_urls",
            "api_key_env",
            "cache",
        )
        options = {name: getattr(settings, name) for name in judged}
        return JudgedScanner(model, base, suite=scan_suite(probes, spec), **options), PASSES[mode]
    module, name, fields = _SCANNERS[mode]
    scanner = getattr(importlib.import_module(module), name)
    return scanner(model, base, **{f: getattr(settings, f) for f in fields}), PASSES[mode]


def _toy_scan(model: str, base: str, family: FamilySpec, settings: ScanSettings) -> ScanResult:
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.toyworld import parse_toy_target, toy_scan_setup

    given = [f for f in ("template", "dataset") if getattr(settings, f) is not None]
    if settings.probes != DEFAULT_PROBES:
        given.append("probes")
    if given:
        raise ConfigError(
            f"a toy-world scan takes no {', '.join(given)}: it asks the toy's own questions, "
            "writes values the toy's way and reads its own finetuning data",
            setting=given[0],
        )
    if settings.mode not in ("auto", "exact"):
        raise ConfigError("a toy-world scan is always exact (--mode exact or auto)", setting="mode")
    target = parse_toy_target(
        model, base, pretrain_seed=settings.pretrain_seed, finetune_seed=settings.finetune_seed
    )
    setup = toy_scan_setup(target, family, behaviour=settings.judge)
    return run_scan(
        setup.scanner,
        family,
        setup.probes_name,
        prompts=setup.prompts,
        in_training=setup.in_training,
        mode="exact" if settings.judge is None else f"exact {settings.judge} rate",
        **_scoring(settings),
    )
