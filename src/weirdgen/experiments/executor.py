"""Where a run's (group, seed) units execute: one after another here, or one Ray task each.

With ``--executor ray`` every (group, seed) is one Ray task: it finetunes the model and evaluates
it (canary, sampling, judging) through the same ``weirdgen.evaluation`` functions a serial run
calls; the base model's evaluation is one more task, and on the toy world a task finetunes and
measures. A task takes one GPU where the cluster has GPUs and the backend trains or samples on the
node (local), one CPU otherwise, and writes to the run directory's ledger, canary folder and the
request cache exactly as a local run does; it returns its tables, and this process only combines
them (``weirdgen.evaluation.table``). A rerun resumes the same way: the ledger skips finished
seeds, answers, verdicts and canary results come from their caches. On several machines the run
directory must be on storage every node sees.

    with make_executor(options) as executor:
        results = executor.map(function, items)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
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


def task_resources(cluster: Mapping[str, float], backend: str, cpus: int = 1) -> dict[str, int]:
    """One task's Ray resources: ``cpus`` CPUs, plus one GPU where the cluster has GPUs and the
    backend trains on the node itself (the others only wait on a service, or need no GPU)."""
    from weirdgen.experiments.options import finetuner_entry

    entry = finetuner_entry(backend)
    gpus = 1 if entry.trains_here and cluster.get("GPU", 0) >= 1 else 0
    return {"num_cpus": cpus, "num_gpus": gpus}


class RayExecutor:
    """Every item as a Ray task with ``task_resources``."""

    name = "ray"

    def __init__(self, ray: Any, backend: str, cpus: int = 1) -> None:
        self._ray = ray
        self.resources = task_resources(ray.cluster_resources(), backend, cpus)

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        task = self._ray.remote(**self.resources, max_retries=0)(_apply)
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
        yield RayExecutor(ray, options.backend, cpus=1)
    finally:
        if started:
            ray.shutdown()


def finetune_and_evaluate(
    executor: Executor,
    spec: ExperimentSpec,
    datasets: dict[str, Path],
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None] = print,
) -> tuple[list[Any], list[tuple[Any, dict[str, Any]]]]:
    """Every (group, seed) finetuned and evaluated as one task, the base model as one more:
    the trained models (recorded in RUN_DIR/models.json) and every task's (table, metadata)
    pairs, suite by suite, for ``combine_tables``."""
    from weirdgen.experiments.finetuning import prepare_finetunes, record_models

    ledger, _, requests, preflights = prepare_finetunes(spec, datasets, options, run_dir, log)
    units: list[tuple[Any, Any] | None] = list(zip(requests, preflights, strict=True))
    if spec.base_group:
        units.append(None)  # the base model: an evaluation only
    task = functools.partial(_finetune_and_evaluate_one, spec, datasets, options, run_dir)
    results = executor.map(task, units)
    outcomes = [outcome for outcome, _ in results if outcome is not None]
    models = record_models(run_dir, ledger, outcomes, preflights, log)
    suites = max((len(tables) for _, tables in results), default=0)
    # Suite by suite, each in unit order: the rows come out in the serial run's order.
    tables = [tables[i] for i in range(suites) for _, tables in results if i < len(tables)]
    return models, tables


def _finetune_and_evaluate_one(
    spec: ExperimentSpec,
    datasets: dict[str, Path],
    options: RunOptions,
    run_dir: Path,
    unit: tuple[Any, Any] | None,
) -> tuple[Any, list[tuple[Any, dict[str, Any]]]]:
    """The Ray task of one (group, seed): its ``SeedOutcome`` and its suites' tables (none when the
    finetune failed). ``unit`` None evaluates the base model alone."""
    from weirdgen.experiments.evaluation import evaluate_all
    from weirdgen.experiments.finetuning import limit_threads, make_finetuner, trained_model
    from weirdgen.finetune import Ledger, run_jobs

    limit_threads(options)
    if unit is None:
        return None, evaluate_all(spec, [], options, print, run_dir=run_dir, base=True)
    request, preflight = unit
    ledger = Ledger(run_dir / "ledger.sqlite")
    finetuner = make_finetuner(options, ledger, run_dir)
    (outcome,) = run_jobs(finetuner, ledger, [request], [preflight], wait=True, poll_seconds=30.0)
    model = trained_model(outcome, ledger)
    if model is None:
        return outcome, []
    tables = evaluate_all(spec, [model], options, print, datasets, run_dir=run_dir, base=False)
    return outcome, tables
