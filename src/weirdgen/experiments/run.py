"""Run an experiment end to end: build -> finetune every group x seed -> evaluate -> judge -> report.

Every stage resumes: datasets that exist are kept, the finetuning ledger in the run directory skips
finished seeds (and local training resumes from checkpoints), the request cache keeps every answer
and verdict, and the report is rewritten from whatever the table holds (missing cells are named).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from weirdgen._io import atomic_write_text
from weirdgen.experiments.executor import Executor, make_executor
from weirdgen.experiments.options import (
    RunOptions,
    check_plan,
    finetuner_entry,
    read_plan,
    run_backends,
)
from weirdgen.experiments.spec import ExperimentSpec, check_experiment, load_experiment
from weirdgen.report import ReportPaths, ReportSpec, write_report


@dataclass(frozen=True)
class RunResult:
    """Where a run's outputs are."""

    run_dir: Path
    report: ReportPaths


def run_experiment(
    spec: ExperimentSpec, options: RunOptions, run_dir: Path, log: Callable[[str], None] = print
) -> RunResult:
    """Run every stage not yet done and write the report."""
    from weirdgen.experiments.toy import run_toy, toy_report_spec

    options.validate()
    run_dir.mkdir(parents=True, exist_ok=True)
    check_plan(run_dir, spec.name, options)
    save_experiment(spec, run_dir)
    with make_executor(options) as executor:
        if finetuner_entry(options.backend).organism:
            run_toy(spec, options, run_dir, log, executor)  # measured models are reused
            return RunResult(run_dir, write_report(run_dir, toy_report_spec(spec)))
        _run_llm_stages(spec, options, run_dir, log, executor)
    return RunResult(run_dir, write_report(run_dir, spec.report_spec()))


def _run_llm_stages(
    spec: ExperimentSpec,
    options: RunOptions,
    run_dir: Path,
    log: Callable[[str], None],
    executor: Executor,
) -> None:
    from weirdgen.evaluation import combine_tables
    from weirdgen.experiments.evaluation import evaluate_all
    from weirdgen.experiments.executor import finetune_and_evaluate
    from weirdgen.experiments.finetuning import build_datasets, dataset_hashes, finetune_all
    from weirdgen.report.provenance import code_hash

    datasets = build_datasets(spec, run_dir, log, options)
    if executor.name == "local":
        models = finetune_all(spec, datasets, options, run_dir, log)
        tables = evaluate_all(spec, models, options, log, datasets, run_dir=run_dir)
    else:  # each (group, seed) finetuned and evaluated in one task
        _, tables = finetune_and_evaluate(executor, spec, datasets, options, run_dir, log)
    record = json.loads((run_dir / "models.json").read_text(encoding="utf-8"))
    extra = {
        "experiment": spec.name,
        "backend": options.backend,
        "base_model": options.base_model,
        "datasets": dataset_hashes(datasets),
        "code_hash": code_hash(),
        "costs": {"finetuning (estimate)": record.get("finetuning_cost_estimate_usd") or 0.0},
        "failed_finetunes": record.get("failed", []),
    }
    combine_tables(run_dir, tables, extra)


def save_experiment(spec: ExperimentSpec, run_dir: Path) -> Path:
    """The experiment as run, with file paths made absolute, so ``weirdgen report`` can reuse it."""
    data = spec.model_dump(mode="json", exclude_none=True)
    for group in data["groups"]:
        if "path" in group:
            group["path"] = str(spec.resolve(group["path"]).resolve())
    for key in ("suites", "judges"):
        if data["evaluation"].get(key):
            data["evaluation"][key] = [
                _absolute(spec, reference) for reference in data["evaluation"][key]
            ]
    path = run_dir / "experiment.yaml"
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _absolute(spec: ExperimentSpec, reference: str) -> str:
    from weirdgen.experiments.judges import is_file_reference

    return str(spec.resolve(reference).resolve()) if is_file_reference(reference) else reference


def report_spec_for_run(
    run_dir: Path, experiment: str | None = None, n_resamples: int = 10_000
) -> ReportSpec | None:
    """The report spec of a run directory: from ``experiment``, else the copy saved by ``weirdgen run``."""
    from weirdgen.experiments.toy import toy_report_spec

    saved = run_dir / "experiment.yaml"
    source = experiment or (str(saved) if saved.is_file() else None)
    if source is None:
        return None
    spec = load_experiment(source)
    check_experiment(spec, source)
    backend = read_plan(run_dir).get("backend")
    if backend in run_backends() and finetuner_entry(backend).organism:
        return toy_report_spec(spec, n_resamples)
    return dataclasses.replace(spec.report_spec(), n_resamples=n_resamples)
