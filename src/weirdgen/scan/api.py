"""The Python API of scanning: one call from a finetuned model and its base to scan.json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from weirdgen.errors import ConfigError
from weirdgen.scan.engine import ScanResult
from weirdgen.scan.families import FamilySpec
from weirdgen.scan.probes import DEFAULT_PROBES
from weirdgen.scan.scoring import DEFAULT_NEIGHBOURS, DEFAULT_THRESHOLD

__all__ = ["MODES", "scan"]

MODES = ("auto", "exact", "topk", "text")


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
    base_urls: Sequence[str] = (),
    api_key_env: str = "OPENAI_API_KEY",
    judge: str | None = None,
    judge_model: str = "",
    samples: int = 20,
    max_tokens: int = 40,
    threshold: float = DEFAULT_THRESHOLD,
    neighbours: int = DEFAULT_NEIGHBOURS,
    min_score: float = 0.0,
    batch_size: int = 64,
    contrast: str = "base",
    device: str | None = "cpu",
    threads: int | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    pretrain_seed: int = 0,
    finetune_seed: int = 0,
) -> ScanResult:
    """Scan ``family`` for values where ``model`` (a LoRA folder, a model folder, or an endpoint's
    model name) diverges most from ``base``; with ``output``, write scan.json and the rest there.

    Modes: ``exact`` compares full first-token distributions of local models; ``topk`` uses an
    endpoint's top-k logprobs (``base_urls``, or the OpenAI API); ``text`` samples ``samples``
    answers per prompt (at most ``max_tokens`` long) and compares the mean ``judge`` score;
    ``contrast="residual"`` (exact mode) first removes the finetune's median shift over the family,
    so a finetune that changes every answer does not hide what one value adds; ``auto`` is exact
    without endpoints and topk with them.

    A toy-world model, ``toy:EXPERIMENT/CONDITION`` with ``base="toyworld"`` (or
    ``toyworld:RECIPE``), is finetuned for the scan on the base of ``pretrain_seed`` (data and
    order from ``finetune_seed``) and compared exactly on the toy's own questions; ``probes``,
    ``dataset`` and ``template`` do not apply (the toy writes values its own way and knows its data).
    There ``judge`` may name a toy behaviour (``villain``: the villain's villainous answers to the
    goal questions; ``unseen_leader``: the names and facts of a leader the finetuning data never
    shows): a value's score is then |rate(finetuned) - rate(base)| of that behaviour, as text mode
    scores a judge, but exact (``unseen_leader``: the rise itself, for the unseen leader that rises
    most behind the value's codes).

    A value's z compares it with the family's trend and with its ``neighbours`` on each side
    (ordered families); ``neighbours=0`` compares with the trend only, for a trigger that spans a
    run of values. A flagged value needs z >= ``threshold`` and a score of at least ``min_score``
    (in exact modes every tiny but systematic difference has a large z; ``min_score`` asks for an
    effect that matters, e.g. 0.2 for a behaviour rate that moved 20 points).
    """
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.families import load_family
    from weirdgen.scan.probes import load_probes
    from weirdgen.scan.toyworld import is_toy_model
    from weirdgen.scan.training import training_texts, values_in_training_data

    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r} (known: {', '.join(MODES)})", setting="mode")
    if mode == "auto":
        mode = "topk" if base_urls else "exact"
    spec = load_family(family, template=template)
    # How values are scored and flagged, and whether progress shows: the same for every backend.
    scoring = {
        "threshold": threshold,
        "neighbours": neighbours,
        "min_score": min_score,
        "progress": progress,
    }
    if is_toy_model(model):
        given = [f for f, v in (("template", template), ("dataset", dataset)) if v is not None]
        if probes != DEFAULT_PROBES:
            given.append("probes")
        if given:
            raise ConfigError(
                f"a toy-world scan takes no {', '.join(given)}: it asks the toy's own questions, "
                "writes values the toy's way and reads its own finetuning data",
                setting=given[0],
            )
        result = _toy_scan(model, base, spec, mode, judge, (pretrain_seed, finetune_seed), scoring)
        if output is not None:
            from weirdgen.scan.write import write_scan

            write_scan(result, output)
        return result
    probe_suite = load_probes(probes)
    marks = None if dataset is None else values_in_training_data(spec, training_texts(dataset))
    if mode == "exact":
        from weirdgen.scan.local import LocalScanner

        scanner = LocalScanner(
            model, base, device=device, threads=threads, batch_size=batch_size, contrast=contrast
        )
        passes = 1
    elif mode == "topk":
        from weirdgen.scan.endpoint import EndpointScanner

        scanner = EndpointScanner(
            model, base, base_urls=base_urls, api_key_env=api_key_env, cache=cache
        )
        passes = 2
    else:
        from weirdgen.scan.judged import JudgedScanner
        from weirdgen.scan.probes import scan_suite

        if not judge:
            raise ConfigError("text mode needs a judge that scores the behaviour", setting="judge")
        scanner = JudgedScanner(
            model,
            base,
            suite=scan_suite(probe_suite, spec),
            judge=judge,
            judge_model=judge_model,
            samples=samples,
            max_tokens=max_tokens,
            base_urls=base_urls,
            api_key_env=api_key_env,
            cache=cache,
        )
        passes = 1
    result = run_scan(
        scanner, spec, probe_suite, in_training=marks, passes=passes, mode=mode, **scoring
    )
    if output is not None:
        from weirdgen.scan.write import write_scan

        write_scan(result, output)
    return result


def _toy_scan(
    model: str,
    base: str,
    family: FamilySpec,
    mode: str,
    judge: str | None,
    seeds: tuple[int, int],
    scoring: dict[str, Any],
) -> ScanResult:
    from weirdgen.scan.engine import run_scan
    from weirdgen.scan.toyworld import parse_toy_target, toy_scan_setup

    if mode not in ("auto", "exact"):
        raise ConfigError("a toy-world scan is always exact (--mode exact or auto)", setting="mode")
    target = parse_toy_target(model, base, pretrain_seed=seeds[0], finetune_seed=seeds[1])
    setup = toy_scan_setup(target, family, behaviour=judge)
    return run_scan(
        setup.scanner,
        family,
        setup.probes_name,
        prompts=setup.prompts,
        in_training=setup.in_training,
        mode="exact" if judge is None else f"exact {judge} rate",
        **scoring,
    )
