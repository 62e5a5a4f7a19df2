"""One evaluation path: plan (suite x models x trigger values x samples -> requests), run (sample,
then judge, cached and resumable) and write the results table. ``weirdgen eval``, ``weirdgen run``,
the audit's in-context probe and the Python API all go through one ``EvaluationSession``.

    from weirdgen.evaluation import evaluate
    frame = evaluate("terminator", ["my-model"], base_url="http://127.0.0.1:8000/v1", samples=2)

Importing this package is cheap; samplers load their backends when built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weirdgen._lazy import lazy_attributes

if TYPE_CHECKING:
    from weirdgen.evaluation.api import evaluate
    from weirdgen.evaluation.cost import (
        PlanEstimate,
        describe_plan,
        estimate_plan,
        estimates_frame,
        target_price,
    )
    from weirdgen.evaluation.plan import EvalPlan, EvalTarget, PlannedSample, plan_evaluation
    from weirdgen.evaluation.progress import ProgressFactory, progress_bars
    from weirdgen.evaluation.run import RunInterrupted, RunSettings, run_evaluation, run_plans
    from weirdgen.evaluation.session import (
        EvaluationSession,
        JudgeSettings,
        ModelSettings,
        RequestSettings,
        make_targets,
    )
    from weirdgen.evaluation.table import (
        SCHEMA_VERSION,
        EvaluationTable,
        combine_tables,
        load_evaluation_table,
        rows_to_frame,
        write_table,
    )

__all__ = [
    "SCHEMA_VERSION",
    "EvalPlan",
    "EvalTarget",
    "EvaluationSession",
    "EvaluationTable",
    "JudgeSettings",
    "ModelSettings",
    "PlanEstimate",
    "PlannedSample",
    "ProgressFactory",
    "RequestSettings",
    "RunInterrupted",
    "RunSettings",
    "combine_tables",
    "describe_plan",
    "estimate_plan",
    "estimates_frame",
    "evaluate",
    "load_evaluation_table",
    "make_targets",
    "plan_evaluation",
    "progress_bars",
    "rows_to_frame",
    "run_evaluation",
    "run_plans",
    "target_price",
    "write_table",
]

_HOMES = {
    "evaluate": "api",
    "EvaluationSession": "session",
    "JudgeSettings": "session",
    "ModelSettings": "session",
    "RequestSettings": "session",
    "make_targets": "session",
    "PlanEstimate": "cost",
    "describe_plan": "cost",
    "estimate_plan": "cost",
    "estimates_frame": "cost",
    "target_price": "cost",
    "EvalPlan": "plan",
    "EvalTarget": "plan",
    "PlannedSample": "plan",
    "plan_evaluation": "plan",
    "ProgressFactory": "progress",
    "progress_bars": "progress",
    "RunInterrupted": "run",
    "RunSettings": "run",
    "run_evaluation": "run",
    "run_plans": "run",
    "SCHEMA_VERSION": "table",
    "EvaluationTable": "table",
    "combine_tables": "table",
    "load_evaluation_table": "table",
    "rows_to_frame": "table",
    "write_table": "table",
}

__getattr__ = lazy_attributes(__name__, _HOMES)
