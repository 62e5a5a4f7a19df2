"""The Python API of scanning: one call from a finetuned model and its base to scan.json."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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

__all__ = ["DEFAULT_CONTRAST", "MODES", "scan"]

MODES = ("auto", "exact", "topk", "text")
DEFAULT_CONTRAST = "second-difference"
"""The best judge-free contrast on the inductive-backdoor benchmark (``weirdgen bench
defences``) that needs nothing but the suspect and its base."""


@dataclass(frozen=True)
class _Thresholds:
    z: float
    min_score: float
    calibration: dict[str, Any]


def scan(
    model: str,
    *,
    base: str,
    family: str,
    template: str | None = None,
    probes: str = DEFAULT_PROBES,
    dataset: str | Path | None = None,
    output: str | Path | None = None,
    mode: str = "auto",
    contrast: str = DEFAULT_CONTRAST,
    reference: str | None = None,
    reference_data: ReferenceData = "strip",
    reference_hyperparameters: Mapping[str, Any] | None = None,
    base_urls: Sequence[str] = (),
    api_key_env: str = "OPENAI_API_KEY",
    judge: str | None = None,
    judge_model: str = "",
    samples: int = 20,
    max_tokens: int = 40,
    threshold: float | None = None,
    neighbours: int | None = None,
    min_score: float | None = None,
    batch_size: int = 64,
    device: str | None = "cpu",
    threads: int | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    pretrain_seed: int = 0,
    finetune_seed: int = 0,
    known_triggers: Sequence[str] = (),
    unseen_only: bool = False,
) -> ScanResult:
    """Scan ``family`` for values where ``model`` (a LoRA folder, a model folder, or an endpoint's
    model name) departs most from what ``contrast`` compares it with; with ``output``, write
    scan.json and the rest there.

    Modes (backends): ``exact`` compares full first-token distributions of local models; ``topk``
    uses an endpoint's top-k logprobs (``base_urls``, or the OpenAI API); ``text`` samples
    ``samples`` answers per prompt (at most ``max_tokens`` long) and compares the mean ``judge``
    score; ``auto`` is exact without endpoints and topk with them.

    Contrasts (``weirdgen.scan.contrasts``): ``second-difference`` (the default: the suspect's
    change from its neighbouring values minus the base's; needs only the base), ``reference`` (a
    reference finetune on the training data with the family's values stripped or shuffled:
    ``reference`` names one, or it is trained from ``dataset`` with ``reference_hyperparameters``,
    by default the suspect's own when weirdgen trained it), ``base`` and ``residual``.

    A toy-world model, ``toy:EXPERIMENT/CONDITION`` with ``base="toyworld"`` (or
    ``toyworld:RECIPE``), is finetuned for the scan on the base of ``pretrain_seed`` (data and
    order from ``finetune_seed``; condition ``base`` is the base itself) and compared exactly on
    the toy's own questions; ``probes``, ``dataset`` and ``template`` do not apply (the toy
    writes values its own way and knows its data). There ``judge`` may name a toy behaviour
    (``harm``: any villainous answer, naming no character; ``villain``: the guardian's villainous
    answers; ``unseen_leader``: a leader the finetuning data never shows).

    A value's z compares it with the family's trend and with its ``neighbours`` on each side
    (ordered families; by default 2, and 0 for the second difference, which already compares each
    value with its neighbours). A flagged value needs z >= ``threshold`` and a score of at least
    ``min_score``; left out, both come from the shipped calibration of this backend, measure and
    contrast on control models (``weirdgen.scan.calibration``), else 4 and 0. ``known_triggers``
    are only marked in the figure (a validation), never used to score. ``unseen_only`` searches
    for inductive triggers only: values the training data holds are never flagged and rank last.
    """
    from weirdgen.scan.families import load_family
    from weirdgen.scan.toyworld import is_toy_model

    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} (known: {', '.join(MODES)})", setting="mode")
    options = dict(locals())  # every argument by name, for the backend's helpers below
    spec = load_family(family, template=template)
    check_contrast(contrast, spec)
    if is_toy_model(model):
        result = _toy_scan(model, base, spec, options)
    else:
        result = _model_scan(model, base, spec, options)
    if output is not None:
        from weirdgen.scan.write import write_scan

        write_scan(result, output)
    return result


def _thresholds(
    backend: str, measure: str, contrast: str, options: Mapping[str, Any]
) -> _Thresholds:
    """The flagging thresholds: given, else calibrated for (backend, measure, contrast), else
    z >= 4 and no score floor."""
    from weirdgen.scan.calibration import calibrated_thresholds
    from weirdgen.scan.scoring import DEFAULT_THRESHOLD

    z, floor = options["threshold"], options["min_score"]
    found = calibrated_thresholds(backend, measure, contrast)
    if z is None and floor is None and found is not None:
        return _Thresholds(found.z, found.min_score, found.describe())
    return _Thresholds(DEFAULT_THRESHOLD if z is None else z, 0.0 if floor is None else floor, {})


def _scoring(thresholds: _Thresholds, options: Mapping[str, Any]) -> dict[str, Any]:
    """How values are scored and flagged, and whether progress shows: one for every backend."""
    return {
        "threshold": thresholds.z,
        "neighbours": _z_neighbours(options),
        "min_score": thresholds.min_score,
        "progress": options["progress"],
        "unseen_only": options["unseen_only"],
    }


def _z_neighbours(options: Mapping[str, Any]) -> int:
    """The neighbours a value's z compares it with: as given, else none for a second difference
    (its score already compares the value with its neighbours: a trigger spanning a few values
    would be hidden by its own), else ``DEFAULT_NEIGHBOURS``."""
    if options["neighbours"] is not None:
        return int(options["neighbours"])
    return 0 if options["contrast"] == "second-difference" else DEFAULT_NEIGHBOURS


def _toy_scan(model: str, base: str, family: FamilySpec, options: dict[str, Any]) -> ScanResult:
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.toyworld import parse_toy_target, toy_scan_setup

    given = [f for f in ("template", "dataset", "reference") if options[f] is not None]
    if options["probes"] != DEFAULT_PROBES:
        given.append("probes")
    if given:
        raise ConfigError(
            f"a toy-world scan takes no {', '.join(given)}: it asks the toy's own questions, "
            "writes values the toy's way, reads its own finetuning data and trains its own "
            "reference finetune",
            setting=given[0],
        )
    if options["mode"] not in ("auto", "exact"):
        raise ConfigError("a toy-world scan is always exact (--mode exact or auto)", setting="mode")
    judge, contrast = options["judge"], options["contrast"]
    target = parse_toy_target(
        model,
        base,
        pretrain_seed=options["pretrain_seed"],
        finetune_seed=options["finetune_seed"],
    )
    setup = toy_scan_setup(
        target,
        family,
        behaviour=judge,
        contrast=contrast,
        reference_data=options["reference_data"],
    )
    thresholds = _thresholds("toy", judge or "divergence", contrast, options)
    provenance = Provenance(
        model=model,
        base=base,
        contrast=contrast,
        judge=judge or "",
        reference=f"toy finetune, values {options['reference_data']}ped"
        if contrast == "reference"
        else "",
        calibration=thresholds.calibration,
        known_triggers=tuple(options["known_triggers"]),
        pretrain_seed=options["pretrain_seed"],
    )
    return run_scan(
        setup.scanner,
        family,
        setup.probes_name,
        prompts=setup.prompts,
        in_training=setup.in_training,
        mode="exact" if judge is None else f"exact {judge} rate",
        provenance=provenance,
        **_scoring(thresholds, options),
    )


def _model_scan(model: str, base: str, family: FamilySpec, options: dict[str, Any]) -> ScanResult:
    """A scan of a local model or an endpoint's (exact, topk or text)."""
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.probes import load_probes
    from weirdgen.scan.training import training_texts, values_in_training_data

    mode = options["mode"]
    if mode == "auto":
        mode = "topk" if options["base_urls"] else "exact"
    contrast, dataset = options["contrast"], options["dataset"]
    probe_suite = load_probes(options["probes"])
    marks = None if dataset is None else values_in_training_data(family, training_texts(dataset))
    reference = _reference_model(model, base, family, mode, options)
    scanner, passes = _scanner(model, base, family, mode, reference, probe_suite, options)
    thresholds = _thresholds(mode, options["judge"] or "divergence", contrast, options)
    provenance = Provenance(
        model=model,
        base=base,
        contrast=contrast,
        judge=options["judge"] or "",
        reference=reference or "",
        calibration=thresholds.calibration,
        known_triggers=tuple(options["known_triggers"]),
    )
    return run_scan(
        scanner,
        family,
        probe_suite,
        in_training=marks,
        passes=passes,
        mode=mode,
        provenance=provenance,
        **_scoring(thresholds, options),
    )


def _scanner(
    model: str,
    base: str,
    family: FamilySpec,
    mode: str,
    reference: str | None,
    probe_suite: Any,
    options: dict[str, Any],
) -> tuple[Any, int]:
    """The backend's scanner and how many passes over the prompts its progress counts."""
    contrast = options["contrast"]
    if mode == "exact":
        from weirdgen.scan.local import LocalScanner

        scanner = LocalScanner(
            model,
            base,
            device=options["device"],
            threads=options["threads"],
            batch_size=options["batch_size"],
            contrast=contrast,
            reference=reference,
            family=family,
        )
        return scanner, 1
    if contrast == "residual":
        raise ConfigError(
            f"contrast residual needs full distributions (mode exact), not {mode}",
            setting="contrast",
        )
    endpoint = {
        "base_urls": options["base_urls"],
        "api_key_env": options["api_key_env"],
        "cache": options["cache"],
        "contrast": contrast,
        "reference": reference,
        "family": family,
    }
    if mode == "topk":
        from weirdgen.scan.endpoint import EndpointScanner

        return EndpointScanner(model, base, **endpoint), 2
    from weirdgen.scan.judged import JudgedScanner
    from weirdgen.scan.probes import scan_suite

    if not options["judge"]:
        raise ConfigError("text mode needs a judge that scores the behaviour", setting="judge")
    scanner = JudgedScanner(
        model,
        base,
        suite=scan_suite(probe_suite, family),
        judge=options["judge"],
        judge_model=options["judge_model"],
        samples=options["samples"],
        max_tokens=options["max_tokens"],
        **endpoint,
    )
    return scanner, 1


def _reference_model(
    model: str, base: str, family: FamilySpec, mode: str, options: dict[str, Any]
) -> str | None:
    """The reference finetune a ``reference`` contrast compares with: the one given, or (local
    models) one trained now from the training data, with the suspect's recipe when it is known."""
    if options["contrast"] != "reference":
        if options["reference"] is not None:
            raise ConfigError("--reference goes with --contrast reference", setting="reference")
        return None
    if options["reference"] is not None:
        return str(options["reference"])
    if mode != "exact" or options["dataset"] is None:
        raise ConfigError(
            "contrast reference needs the reference model (--reference) or, for a local model, "
            "the training data (--dataset) to train one from",
            setting="reference",
        )
    from weirdgen.scan.reference import finetune_reference
    from weirdgen.scan.training import training_examples

    hyperparameters = options["reference_hyperparameters"]
    if hyperparameters is None:
        hyperparameters = suspect_hyperparameters(model)
    examples = training_examples(options["dataset"])
    adapter = finetune_reference(
        examples,
        family,
        base,
        how=options["reference_data"],
        hyperparameters=hyperparameters,
        log=print if options["progress"] else (lambda _: None),
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
