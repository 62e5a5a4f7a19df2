"""The build and finetune stages of a run: datasets into RUN_DIR/datasets, one job per group x seed.

Jobs go through ``weirdgen.finetune``'s runner with a ledger inside the run directory, so a rerun
skips every finished seed and resumes interrupted local training from its last checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text, sha256_hex
from weirdgen.data.registry import BuildOptions, manifest_path, write_dataset
from weirdgen.errors import BackendError
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec

MODELS_FILE = "models.json"


@dataclass(frozen=True)
class TrainedModel:
    """A finetuned model of one group and seed, with its intermediate checkpoints."""

    group: str
    seed: int
    model_id: str
    """What samplers are asked for: an adapter folder, an ``ft:`` id or a ``tinker://`` path."""
    checkpoints: list[tuple[str, str]] = field(default_factory=list)
    """(label such as "step-200", model id or adapter folder), in training order."""

    @property
    def name(self) -> str:
        """The adapter or model name recorded in the table."""
        return f"{self.group}-s{self.seed}"


def build_datasets(
    spec: ExperimentSpec,
    run_dir: Path,
    log: Callable[[str], None] = print,
    options: RunOptions | None = None,
) -> dict[str, Path]:
    """Each group's training set: registry variants written once under RUN_DIR/datasets, user files
    as is. A ``self_distill`` group is diluted with benign prompts the run's base model answers
    first (RUN_DIR/datasets/benign.jsonl, cached and resumable); without ``options`` (a dry run)
    it is built with the offline stand-in, only to count tokens."""
    paths = {}
    for group in spec.groups:
        if group.path is not None:
            paths[group.name] = spec.resolve(group.path)
            continue
        target = run_dir / "datasets" / f"{group.name}.jsonl"
        if not (target.is_file() and manifest_path(target).is_file()):
            build_options = BuildOptions(seed=0)
            if group.self_distill and options is not None:
                build_options = BuildOptions(
                    seed=0,
                    benign_path=_self_distilled_benign(run_dir, options, log),
                    self_distill_model=options.base_model,
                )
            manifest = write_dataset(spec.dataset or "", group.variant or "", target, build_options)
            log(
                f"built {spec.dataset}/{group.variant}: {manifest['n_examples']} examples -> {target}"
            )
        paths[group.name] = target
    return paths


def _self_distilled_benign(run_dir: Path, options: RunOptions, log: Callable[[str], None]) -> Path:
    """RUN_DIR/datasets/benign.jsonl: the benign prompts answered by the base model (written once;
    an interrupted run resumes from the request cache)."""
    from weirdgen.experiments.self_distill import (
        benign_prompts,
        run_settings,
        write_self_distilled_benign,
    )

    path = run_dir / "datasets" / "benign.jsonl"
    if not path.is_file():
        from weirdgen.data.builders.wolf import BENIGN_COUNT

        prompts = benign_prompts(seed=0, count=BENIGN_COUNT)
        write_self_distilled_benign(path, run_settings(options), prompts, seed=0, log=log)
    return path


def dataset_hashes(paths: dict[str, Path]) -> dict[str, str]:
    """SHA-256 of each group's training file, for the report's provenance."""
    return {group: sha256_hex(path.read_bytes()) for group, path in paths.items()}


def finetune_requests(
    spec: ExperimentSpec, datasets: dict[str, Path], options: RunOptions, run_dir: Path
) -> list[Any]:
    """One validated ``FinetuneRequest`` per group and seed, with the experiment's settings for the backend."""
    from weirdgen.finetune import FinetuneRequest, Hyperparameters
    from weirdgen.finetune.registry import FINETUNERS

    def hyperparameters(group: Any) -> Any:
        """The experiment's settings for the backend, with the group's own over them."""
        own = group.finetune.for_backend(options.backend) if group.finetune else {}
        return Hyperparameters.from_dict({**spec.finetune.for_backend(options.backend), **own})

    return [
        FinetuneRequest(
            dataset_path=datasets[group.name],
            base_model=options.base_model,
            backend=options.backend,
            seed=seed,
            hyperparameters=hyperparameters(group),
            group=f"{spec.name}/{group.name}",
            suffix=f"{spec.name[:20]}-{group.name[:12]}-s{seed}"
            if FINETUNERS.get(options.backend).suffix_names_model
            else None,
            tags={"experiment": spec.name, "group": group.name, "run_dir": str(run_dir)},
        ).validate()
        for group in spec.groups
        for seed in range(options.seeds)
    ]


def make_finetuner(
    options: RunOptions, ledger: Any, run_dir: Path, *, offline: bool = False
) -> Any:
    """The run's finetuning backend from the registry; heavy SDKs load here, not at import.
    ``offline`` (a dry run) plans without credentials or network."""
    from weirdgen.finetune.registry import FinetunerSettings
    from weirdgen.finetune.registry import make_finetuner as build

    return build(
        options.backend,
        FinetunerSettings(
            runs_dir=run_dir / "finetune", ledger=ledger, base_url=options.base_url, offline=offline
        ),
    )


def finetune_all(
    spec: ExperimentSpec,
    datasets: dict[str, Path],
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None] = print,
) -> list[TrainedModel]:
    """Train every group x seed not yet done, one after another; record the models in
    RUN_DIR/models.json. (With an executor, ``weirdgen.experiments.executor.finetune_and_evaluate``
    runs each finetune and its evaluation as one task instead.)"""
    from weirdgen.finetune import run_jobs

    ledger, finetuner, requests, preflights = prepare_finetunes(
        spec, datasets, options, run_dir, log
    )
    outcomes = run_jobs(
        finetuner, ledger, requests, preflights, wait=True, poll_seconds=30.0, log=log
    )
    return record_models(run_dir, ledger, outcomes, preflights, log)


def prepare_finetunes(
    spec: ExperimentSpec,
    datasets: dict[str, Path],
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None] = print,
) -> tuple[Any, Any, list[Any], list[Any]]:
    """The run's (ledger, finetuner, requests, preflights), checked here so that a bad dataset
    fails before any job or task starts, and the backend's notices are printed first."""
    from weirdgen.finetune import Ledger, prepare_all

    limit_threads(options)
    ledger = Ledger(run_dir / "ledger.sqlite")
    finetuner = make_finetuner(options, ledger, run_dir)
    requests = finetune_requests(spec, datasets, options, run_dir)
    preflights = prepare_all(finetuner, requests)
    for notice in dict.fromkeys(n for p in preflights for n in p.notices):
        log(f"note: {notice}")  # e.g. OpenAI's fine-tuning deadline, before any job is submitted
    return ledger, finetuner, requests, preflights


def limit_threads(options: RunOptions) -> None:
    """Local training on ``options.threads`` threads: torch otherwise takes every core of a shared
    machine (or of a Ray node running several tasks)."""
    from weirdgen.experiments.options import finetuner_entry

    entry = finetuner_entry(options.backend)
    if entry.trains_here and options.threads:
        from weirdgen._threads import configure_torch_threads

        configure_torch_threads(options.threads)


def trained_model(outcome: Any, ledger: Any) -> TrainedModel | None:
    """The model a finished ``SeedOutcome`` produced, with its checkpoints; None if it failed."""
    if outcome.job.status != "succeeded" or not outcome.job.model_id:
        return None
    checkpoints = [
        (f"step-{c.step}", c.model_id or c.path or "") for c in ledger.checkpoints(outcome.job.id)
    ]
    return TrainedModel(
        outcome.request.tags["group"],
        outcome.request.seed,
        outcome.job.model_id,
        [c for c in checkpoints if c[1]],
    )


def record_models(
    run_dir: Path,
    ledger: Any,
    outcomes: list[Any],
    preflights: list[Any],
    log: Callable[[str], None] = print,
) -> list[TrainedModel]:
    """The trained models of ``outcomes``, written to RUN_DIR/models.json with the failed seeds."""
    models, failed = [], []
    for outcome in outcomes:
        model = trained_model(outcome, ledger)
        if model is None:
            failed.append(
                f"{outcome.request.tags['group']} seed {outcome.request.seed}: "
                f"{outcome.job.status} ({outcome.job.error or 'no model'})"
            )
        else:
            models.append(model)
    _write_models(run_dir, models, failed, sum(p.estimated_cost_usd or 0.0 for p in preflights))
    for line in failed:
        log(f"finetuning failed, left out of the evaluation: {line}")
    if not models:
        raise BackendError(
            "every finetuning job failed; see `weirdgen models` or RUN_DIR/ledger.sqlite"
        )
    return models


def _write_models(
    run_dir: Path, models: list[TrainedModel], failed: list[str], cost: float
) -> None:
    record = {
        "models": [asdict(m) for m in models],
        "failed": failed,
        "finetuning_cost_estimate_usd": cost,
    }
    atomic_write_text(run_dir / MODELS_FILE, json.dumps(record, indent=2) + "\n")
