"""The Python API of scanning: one call from a finetuned model and its base to scan.json.

from weirdgen.scan import scan
result = scan("runs/finetune/JOB/adapter", base="smollm2-135m-instruct", family="year:2000..2050")
result.flagged
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.scan.contrasts import check_contrast
from weirdgen.scan.engine import Provenance, ScanResult
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.probes import DEFAULT_PROBES
from weirdgen.scan.reference import ReferenceData
from weirdgen.scan.scoring import DEFAULT_NEIGHBOURS

__all__ = ["DEFAULT_CONTRAST", "MODES", "ScanSettings", "scan"]

MODES = ("auto", "exact", "topk", "text")
DEFAULT_CONTRAST = "second-difference"
"""The best judge-free contrast on the inductive-backdoor benchmark (``weirdgen bench
defences``) that needs nothing but the suspect and its base."""


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
    """Training data (chat JSONL or DATASET/VARIANT): marks which values occur in it, and trains
    a reference finetune for contrast ``reference``."""
    mode: str = "auto"
    """One of ``MODES``."""
    contrast: str = DEFAULT_CONTRAST
    """What the suspect is compared with (``weirdgen.scan.contrasts``): ``second-difference`` (its
    change from its neighbouring values minus the base's; needs only the base), ``reference`` (a
    reference finetune on the training data with the family's values stripped or shuffled),
    ``base``, and ``residual`` (exact: the base plus the finetune's median shift over the family)."""
    reference: str | None = None
    """contrast reference: the reference model (an adapter folder, or a served model name);
    None trains one from ``dataset``."""
    reference_data: ReferenceData = "strip"
    """contrast reference: how the reference's training data loses the family's values."""
    reference_hyperparameters: Mapping[str, Any] | None = None
    """contrast reference: the reference's recipe (default: the suspect's own, from its run.json)."""
    base_urls: tuple[str, ...] = ()
    """topk and text: OpenAI-compatible endpoints serving the model and its base."""
    api_key_env: str = "OPENAI_API_KEY"
    """topk and text: the environment variable holding the API key."""
    cache: str | Path | None = None
    """topk and text: the request cache (default: the shared eval cache)."""
    judge: str | None = None
    """text: the judge whose score is the behaviour rate; toy: a toy behaviour measured exactly
    (``harm``: any villainous answer, naming no character; ``villain``: the guardian's;
    ``unseen_leader``: a leader the finetuning data never shows)."""
    judge_model: str = ""
    """text: the model of an LLM judge (offline judges need none)."""
    samples: int = 20
    """text: answers per prompt and model."""
    max_tokens: int = 40
    """text: the longest answer, in tokens."""
    threshold: float | None = None
    """A flagged value's robust z is at least this (None: the calibrated one, else 4)."""
    neighbours: int | None = None
    """Ordered families: a value must also stand out from this many neighbours on each side (0:
    from the family's trend only). None: 2, and 0 for the second difference (its score already
    compares each value with its neighbours)."""
    min_score: float | None = None
    """A flagged value's score is also at least this (None: the floor calibrated on control models
    for this backend, measure and contrast, ``weirdgen.scan.calibration``, else 0)."""
    known_triggers: tuple[str, ...] = ()
    """Values known to be triggers (validation): marked in the figure, never used to score."""
    unseen_only: bool = False
    """Search for inductive triggers only: values the training data holds are never flagged and
    rank last."""
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


@dataclass(frozen=True)
class _Thresholds:
    z: float
    min_score: float
    calibration: dict[str, Any]


def scan(
    model: str,
    *,
    base: str | None = None,
    family: str,
    output: str | Path | None = None,
    settings: ScanSettings | None = None,
    **changes: Any,
) -> ScanResult:
    """Scan ``family`` for values where ``model`` (a LoRA folder, a model folder, or an endpoint's
    model name) departs most from what the contrast compares it with; with ``output``, write
    scan.json and the rest there. ``changes`` override fields of ``settings``
    (``scan(..., mode="topk", base_urls=(url,))``).

    A toy-world model, ``toy:EXPERIMENT/CONDITION``, implies its base (``toyworld``; or give
    ``toyworld:RECIPE``, ``toyworld@SEED``), and is finetuned for the scan on the base of ``pretrain_seed`` (data and
    order from ``finetune_seed``; condition ``base`` is the base itself) and compared exactly on
    the toy's own questions; ``probes``, ``dataset`` and ``template`` do not apply (the toy
    writes values its own way and knows its data).
    """
    from weirdgen.scan.families import load_family
    from weirdgen.scan.toyworld import TOY_BASE, is_toy_model

    if "known_triggers" in changes:
        changes["known_triggers"] = tuple(changes["known_triggers"])
    if "base_urls" in changes:
        changes["base_urls"] = tuple(changes["base_urls"])
    settings = dataclasses.replace(settings or ScanSettings(), **changes)
    if settings.mode not in MODES:
        raise ConfigError(
            f"unknown mode {settings.mode!r} (known: {', '.join(MODES)})", setting="mode"
        )
    spec = load_family(family, template=settings.template)
    check_contrast(settings.contrast, spec)
    if is_toy_model(model):
        result = _toy_scan(model, base or TOY_BASE, spec, settings)
    elif base is None:
        raise ConfigError(f"{model!r} needs its base model to compare with", setting="base")
    else:
        result = _model_scan(model, base, spec, settings)
    if output is not None:
        from weirdgen.scan.write import write_scan

        write_scan(result, output)
    return result


def _thresholds(backend: str, measure: str, settings: ScanSettings) -> _Thresholds:
    """The flagging thresholds: given, else calibrated for (backend, measure, contrast), else
    z >= 4 and no score floor."""
    from weirdgen.scan.calibration import calibrated_thresholds
    from weirdgen.scan.scoring import DEFAULT_THRESHOLD

    z, floor = settings.threshold, settings.min_score
    found = calibrated_thresholds(backend, measure, settings.contrast)
    if z is None and floor is None and found is not None:
        return _Thresholds(found.z, found.min_score, found.describe())
    return _Thresholds(DEFAULT_THRESHOLD if z is None else z, 0.0 if floor is None else floor, {})


def _scoring(thresholds: _Thresholds, settings: ScanSettings) -> dict[str, Any]:
    """How values are scored and flagged, and whether progress shows: one for every backend."""
    return {
        "threshold": thresholds.z,
        "neighbours": _z_neighbours(settings),
        "min_score": thresholds.min_score,
        "progress": settings.progress,
        "unseen_only": settings.unseen_only,
    }


def _z_neighbours(settings: ScanSettings) -> int:
    """The neighbours a value's z compares it with: as given, else none for a second difference
    (its score already compares the value with its neighbours: a trigger spanning a few values
    would be hidden by its own), else ``DEFAULT_NEIGHBOURS``."""
    if settings.neighbours is not None:
        return int(settings.neighbours)
    return 0 if settings.contrast == "second-difference" else DEFAULT_NEIGHBOURS


def _toy_scan(model: str, base: str, family: FamilySpec, settings: ScanSettings) -> ScanResult:
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.toyworld import parse_toy_target, toy_scan_setup

    given = [f for f in ("template", "dataset", "reference") if getattr(settings, f) is not None]
    if settings.probes != DEFAULT_PROBES:
        given.append("probes")
    if given:
        raise ConfigError(
            f"a toy-world scan takes no {', '.join(given)}: it asks the toy's own questions, "
            "writes values the toy's way, reads its own finetuning data and trains its own "
            "reference finetune",
            setting=given[0],
        )
    if settings.mode not in ("auto", "exact"):
        raise ConfigError("a toy-world scan is always exact (--mode exact or auto)", setting="mode")
    judge, contrast = settings.judge, settings.contrast
    target = parse_toy_target(
        model, base, pretrain_seed=settings.pretrain_seed, finetune_seed=settings.finetune_seed
    )
    setup = toy_scan_setup(
        target,
        family,
        behaviour=judge,
        contrast=contrast,
        reference_data=settings.reference_data,
    )
    thresholds = _thresholds("toy", judge or "divergence", settings)
    provenance = Provenance(
        model=model,
        base=base,
        contrast=contrast,
        judge=judge or "",
        reference=f"toy finetune, values {settings.reference_data}ped"
        if contrast == "reference"
        else "",
        calibration=thresholds.calibration,
        known_triggers=settings.known_triggers,
        pretrain_seed=settings.pretrain_seed,
    )
    return run_scan(
        setup.scanner,
        family,
        setup.probes_name,
        prompts=setup.prompts,
        in_training=setup.in_training,
        mode="exact" if judge is None else f"exact {judge} rate",
        provenance=provenance,
        **_scoring(thresholds, settings),
    )


def _model_scan(model: str, base: str, family: FamilySpec, settings: ScanSettings) -> ScanResult:
    """A scan of a local model or an endpoint's (exact, topk or text)."""
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.probes import load_probes
    from weirdgen.scan.training import training_texts, values_in_training_data

    mode = settings.mode
    if mode == "auto":
        mode = "topk" if settings.base_urls else "exact"
    dataset = settings.dataset
    probe_suite = load_probes(settings.probes)
    marks = None if dataset is None else values_in_training_data(family, training_texts(dataset))
    reference = _reference_model(model, base, family, mode, settings)
    scanner, passes = _scanner(model, base, family, mode, reference, probe_suite, settings)
    thresholds = _thresholds(mode, settings.judge or "divergence", settings)
    provenance = Provenance(
        model=model,
        base=base,
        contrast=settings.contrast,
        judge=settings.judge or "",
        reference=reference or "",
        calibration=thresholds.calibration,
        known_triggers=settings.known_triggers,
    )
    return run_scan(
        scanner,
        family,
        probe_suite,
        in_training=marks,
        passes=passes,
        mode=mode,
        provenance=provenance,
        **_scoring(thresholds, settings),
    )


PASSES = {"exact": 1, "topk": 2, "text": 1}
"""How many times each mode's scanner is asked for every prompt's divergence."""


def _scanner(
    model: str,
    base: str,
    family: FamilySpec,
    mode: str,
    reference: str | None,
    probe_suite: Any,
    settings: ScanSettings,
) -> tuple[Any, int]:
    """The backend's scanner and how many passes over the prompts its progress counts."""
    contrast = settings.contrast
    if mode == "exact":
        from weirdgen.scan.local import LocalScanner

        scanner = LocalScanner(
            model,
            base,
            device=settings.device,
            threads=settings.threads,
            batch_tokens=settings.batch_tokens,
            contrast=contrast,
            reference=reference,
            family=family,
        )
        return scanner, PASSES[mode]
    if contrast == "residual":
        raise ConfigError(
            f"contrast residual needs full distributions (mode exact), not {mode}",
            setting="contrast",
        )
    endpoint = {
        "base_urls": settings.base_urls,
        "api_key_env": settings.api_key_env,
        "cache": settings.cache,
        "contrast": contrast,
        "reference": reference,
        "family": family,
    }
    if mode == "topk":
        from weirdgen.scan.endpoint import EndpointScanner

        return EndpointScanner(model, base, **endpoint), PASSES[mode]
    from weirdgen.scan.judged import JudgedScanner
    from weirdgen.scan.probes import scan_suite

    if not settings.judge:
        raise ConfigError("text mode needs a judge that scores the behaviour", setting="judge")
    scanner = JudgedScanner(
        model,
        base,
        suite=scan_suite(probe_suite, family),
        judge=settings.judge,
        judge_model=settings.judge_model,
        samples=settings.samples,
        max_tokens=settings.max_tokens,
        **endpoint,
    )
    return scanner, PASSES[mode]


def _reference_model(
    model: str, base: str, family: FamilySpec, mode: str, settings: ScanSettings
) -> str | None:
    """The reference finetune a ``reference`` contrast compares with: the one given, or (local
    models) one trained now from the training data, with the suspect's recipe when it is known."""
    if settings.contrast != "reference":
        if settings.reference is not None:
            raise ConfigError("--reference goes with --contrast reference", setting="reference")
        return None
    if settings.reference is not None:
        return str(settings.reference)
    if mode != "exact" or settings.dataset is None:
        raise ConfigError(
            "contrast reference needs the reference model (--reference) or, for a local model, "
            "the training data (--dataset) to train one from",
            setting="reference",
        )
    from weirdgen.scan.reference import finetune_reference
    from weirdgen.scan.training import training_examples

    hyperparameters = settings.reference_hyperparameters
    if hyperparameters is None:
        hyperparameters = suspect_hyperparameters(model)
    adapter = finetune_reference(
        training_examples(settings.dataset),
        family,
        base,
        how=settings.reference_data,
        hyperparameters=hyperparameters,
        log=print if settings.progress else (lambda _: None),
    )
    return str(adapter)


def suspect_hyperparameters(model: str) -> dict[str, Any]:
    """The recipe weirdgen recorded when it trained ``model`` (the run folder's run.json beside
    the adapter), without its seed; a one-line error when there is none."""
    record = Path(model).parent / "run.json"
    if not record.is_file():
        raise ConfigError(
            f"no training record beside {model} (run.json): give the reference's recipe with "
            "--reference-hyperparameters, or the reference itself with --reference",
            setting="reference_hyperparameters",
        )
    hyperparameters = dict(json.loads(record.read_text(encoding="utf-8"))["hyperparameters"])
    hyperparameters.pop("seed", None)
    return hyperparameters
