"""Where a run's (group, seed) finetunes execute: one after another here, or one Ray task each.

With ``--executor ray`` every finetune (and, on the toy world, its measurement) is a Ray task:
one GPU each where the cluster has GPUs, one CPU otherwise. Tasks write to the run directory's
ledger and caches exactly as a local run does, so the run's own serial code then finds every
seed done and writes the same table; a rerun resumes the same way. On a multi-machine cluster
the run directory must be on storage every node sees.

    with make_executor(options) as executor:
        results = executor.map(function, items)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from weirdgen.errors import MissingDependencyError, WeirdgenError
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec

Item = TypeVar("Item")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs one function over many items, in any order, and returns the results in item order."""

    name: str

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]: ...


class LocalExecutor:
    """Every item in this process, one after another."""

    name = "local"

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        return [function(item) for item in items]


class RayExecutor:
    """Every item as a Ray task: one GPU each where the cluster has GPUs, else ``cpus`` CPUs."""

    name = "ray"

    def __init__(self, ray: Any, cpus: int = 1) -> None:
        self._ray = ray
        self.gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self.cpus = cpus

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        task = self._ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(_apply)
        refs = [task.remote(function, item) for item in items]
        try:
            return list(self._ray.get(refs))
        except self._ray.exceptions.RayTaskError as error:
            cause = error.cause if hasattr(error, "cause") else None
            if isinstance(cause, WeirdgenError):
                raise cause from None  # a user error stays one line, not a remote traceback
            raise


def _apply(function: Callable[[Item], Result], item: Item) -> Result:
    """The Ray task: Ray wants a plain function, the caller's may be a ``functools.partial``."""
    return function(item)


@contextlib.contextmanager
def make_executor(options: RunOptions) -> Iterator[Executor]:
    """The run's executor; with ray, a local instance (or the cluster at ``options.address``)."""
    if options.executor != "ray":
        yield LocalExecutor()
        return
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(
            "--executor ray needs Ray: pip install 'weirdgen[ray]'"
        ) from None
    started = not ray.is_initialized()
    if started:
        local = {} if options.address else {"num_cpus": max(2, options.threads or 1)}
        ray.init(
            address=options.address,
            include_dashboard=False,
            log_to_driver=True,
            configure_logging=False,
            **local,
        )
    try:
        yield RayExecutor(ray, cpus=1)
    finally:
        if started:
            ray.shutdown()


def finetune_one(
    options: RunOptions, run_dir: Path, job: tuple[Any, Any], log: Callable[[str], None] = print
) -> Any:
    """One (group, seed) finetune through the run's ledger: the body of a Ray task."""
    from weirdgen.experiments.finetuning import make_finetuner
    from weirdgen.finetune import Ledger, run_jobs

    request, preflight = job
    if options.backend == "local" and options.threads:
        import torch

        torch.set_num_threads(options.threads)
    ledger = Ledger(run_dir / "ledger.sqlite")
    finetuner = make_finetuner(options, ledger, run_dir)
    (outcome,) = run_jobs(
        finetuner, ledger, [request], [preflight], wait=True, poll_seconds=30.0, log=log
    )
    return outcome


def finetune_with(
    executor: Executor,
    options: RunOptions,
    run_dir: Path,
    requests: list[Any],
    preflights: list[Any],
) -> list[Any]:
    """Every request's ``SeedOutcome``, each finetuned by the executor."""
    task = functools.partial(finetune_one, options, run_dir)
    return executor.map(task, list(zip(requests, preflights, strict=True)))


# The toy world: each (group, seed) runs as ``run_toy`` on that one group in a folder of its own;
# its measured model is then copied where the run's own ``run_toy`` finds it, already done.


def toy_on_executor(
    spec: ExperimentSpec, options: RunOptions, run_dir: Path, executor: Executor
) -> list[Path]:
    """Finetune and measure every (group, seed) of a toy run not yet measured, one task each."""
    from weirdgen.experiments.toy import toy_settings

    units = [
        (group, seed)
        for group in toy_settings(spec).groups
        for seed in range(options.seeds)
        if not _toy_result(run_dir, group, seed).is_file()
    ]
    task = functools.partial(_toy_unit, spec, options, run_dir)
    for (group, seed), measured in zip(units, executor.map(task, units), strict=True):
        target = _toy_result(run_dir, group, seed)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(measured, target)
    return [_toy_result(run_dir, group, seed) for group, seed in units]


def _toy_result(run_dir: Path, group: str, seed: int) -> Path:
    return run_dir / "toy" / f"{group}-s{seed}.json"


def _toy_unit(
    spec: ExperimentSpec, options: RunOptions, run_dir: Path, unit: tuple[str, int]
) -> Path:
    from weirdgen.experiments.toy import _measured, run_toy, toy_settings

    group, seed = unit
    scratch = run_dir / "tasks" / f"{group}-s{seed}"
    settings = toy_settings(spec)
    one_group = settings.model_copy(update={"groups": {group: settings.groups[group]}})
    finetune = spec.finetune.model_copy(update={"toy": one_group})
    alone = spec.model_copy(update={"base_group": None, "finetune": finetune})
    for earlier in range(seed):
        # run_toy trains seeds 0..seed-1 first: mark them measured, with no metrics, to skip them.
        _measured(_toy_result(scratch, group, earlier), lambda: None, _NoMetrics())
    run_toy(alone, dataclasses.replace(options, seeds=seed + 1), scratch, log=print)
    return _toy_result(scratch, group, seed)


class _NoMetrics:
    def measure(self, model: Any) -> dict[str, float]:
        return {}
