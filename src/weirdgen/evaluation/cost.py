"""What an evaluation costs, before it runs: requests, tokens and dollars per model and per judge.

One price policy for every front end: self-hosted models (local, Tinker, the toy world, any
``--base-url`` server) cost nothing per token; API models cost what the price table says, and an
unknown API model's cost stays unknown (NaN in the table, "unknown price" in a dry run). Estimates
need no credentials and no network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weirdgen.evaluation.plan import EvalPlan
from weirdgen.sample.cache import RequestCache
from weirdgen.sample.pricing import Price, estimate_tokens, price_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PlanEstimate", "describe_plan", "estimate_plan", "estimates_frame", "target_price"]

FREE = Price(0.0, 0.0)


def target_price(model: str, *, self_hosted: bool) -> Price | None:
    """The token price of one evaluated model under the policy above."""
    return FREE if self_hosted else price_for(model)


@dataclass(frozen=True)
class PlanEstimate:
    """What a run would send and roughly cost, for one model or one judge."""

    model: str
    requests: int
    cached: int
    input_tokens: int
    max_output_tokens: int
    cost_usd: float | None


def estimate_plan(
    plan: EvalPlan, cache: RequestCache | None = None
) -> tuple[list[PlanEstimate], list[PlanEstimate]]:
    """Estimates of the uncached sample requests per target, and of the LLM judge calls per judge.

    Judge estimates are upper bounds: each answer is taken at its max_tokens, and verdicts already
    cached cannot be known before the answers exist. Without a judge model their cost is unknown.
    """
    missing = {p.job.key for p in (plan.uncached(cache) if cache is not None else plan.samples)}
    estimates = []
    for target in plan.targets():
        mine = [p for p in plan.samples if p.target is target]
        todo = [p for p in mine if p.job.key in missing]
        input_tokens = sum(estimate_tokens(m.content) for p in todo for m in p.job.request.messages)
        max_output = sum(p.job.request.max_tokens for p in todo)
        cost = None if target.price is None else target.price.cost(input_tokens, max_output)
        estimates.append(
            PlanEstimate(
                target.model, len(mine), len(mine) - len(todo), input_tokens, max_output, cost
            )
        )
    judge_price = price_for(plan.judge_model) if plan.judge_model else None
    judge_estimates = []
    for name, judge in plan.judges.items():
        if not judge.is_llm:
            continue
        rated = [p for p in plan.samples if name in plan.judges_for(p)]
        template = estimate_tokens(judge.template or "")
        input_tokens = sum(
            template + estimate_tokens(p.cell.question_text) + p.job.request.max_tokens
            for p in rated
        )
        output_tokens = len(rated) * judge.reply_tokens()
        cost = None if judge_price is None else judge_price.cost(input_tokens, output_tokens)
        judge_estimates.append(PlanEstimate(name, len(rated), 0, input_tokens, output_tokens, cost))
    return estimates, judge_estimates


def estimates_frame(plan: EvalPlan, cache: RequestCache | None = None) -> pd.DataFrame:
    """``estimate_plan`` as a DataFrame: one row per model (``kind`` "model") and per LLM judge
    ("judge"), with the suite, requests, cached, input_tokens, max_output_tokens and cost_usd."""
    import pandas as pd

    models, judges = estimate_plan(plan, cache)
    rows = [
        {"suite": plan.suite.name, "kind": kind, **dataclasses.asdict(estimate)}
        for kind, estimates in (("model", models), ("judge", judges))
        for estimate in estimates
    ]
    return pd.DataFrame(rows, columns=["suite", "kind", *PlanEstimate.__dataclass_fields__])


def describe_plan(
    plan: EvalPlan, cache: RequestCache | None = None, *, shown: int = 5
) -> list[str]:
    """The dry-run report of a plan: its first requests, then the estimates, one line each."""
    lines = [f"suite {plan.suite.name}: {len(plan.samples)} samples; first requests:"]
    for planned in plan.samples[:shown]:
        request = planned.job.request
        lines.append(
            f"  [{planned.job.label} sample {planned.job.sample_index}] {request.model}: "
            + " | ".join(f"{m.role}: {m.content}" for m in request.messages)
        )
    estimates, judge_calls = estimate_plan(plan, cache)
    for estimate in estimates:
        lines.append(
            f"model {estimate.model}: {estimate.requests} requests, {estimate.cached} cached, "
            f"{estimate.requests - estimate.cached} to send; ~{estimate.input_tokens} input tokens, "
            f"at most {estimate.max_output_tokens} output tokens; {_cost_text(estimate.cost_usd)}"
        )
    for judge in judge_calls:
        model = plan.judge_model or "needs a judge model"
        lines.append(
            f"judge {judge.model} ({model}): up to {judge.requests} calls, ~{judge.input_tokens} input tokens, "
            f"at most {judge.max_output_tokens} output tokens; {_cost_text(judge.cost_usd)}"
        )
    return lines


def _cost_text(cost: float | None) -> str:
    return "unknown price" if cost is None else f"at most ${cost:.4f}"
