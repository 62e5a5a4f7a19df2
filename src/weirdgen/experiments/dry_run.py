"""``weirdgen run --dry-run``: what a run would build, train, request and spend, before any of it.

Nothing is written to the run directory and nothing is sent: datasets are built in a temporary
folder only so that the finetuning backend can count their tokens the way it will train on them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen.experiments.evaluation import prepare_suite
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import ExperimentSpec

# Throughput of SmolLM2-135M-Instruct measured by the README's birds run on a 2-core CPU shared with
# about eight other busy processes (LoRA: 9,209 tokens in 13 min; sampling: ~4,500 answer tokens in
# ~6 min). Only used for rough local time estimates: a free CPU is several times faster, a GPU far more.
LOCAL_TRAIN_TOKENS_PER_SECOND = 12.0
LOCAL_SAMPLE_TOKENS_PER_SECOND = 12.0


def dry_run(
    spec: ExperimentSpec, options: RunOptions, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Print and return the run's plan: datasets, finetuning jobs, requests, tokens, cost, time."""
    from weirdgen.experiments.finetuning import build_datasets

    with tempfile.TemporaryDirectory(prefix="weirdgen-dry-run-") as scratch:
        datasets = build_datasets(spec, Path(scratch), log=lambda _: None)
        training = _training_estimate(spec, datasets, options, Path(scratch), log)
    sampling = _sampling_estimate(spec, options, log)
    total = sum(x for x in (training["cost_usd"], sampling["cost_usd"]) if x is not None)
    log(
        f"total known cost: ${total:.2f}"
        + (
            ""
            if None not in (training["cost_usd"], sampling["cost_usd"])
            else " (some prices unknown)"
        )
    )
    log("dry run: nothing was trained or sent")
    return {"training": training, "sampling": sampling}


def _training_estimate(
    spec: ExperimentSpec,
    datasets: dict[str, Path],
    options: RunOptions,
    scratch: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from weirdgen.experiments.finetuning import finetune_requests, make_finetuner
    from weirdgen.finetune import Ledger, prepare_all

    requests = finetune_requests(spec, datasets, options, scratch)
    finetuner = make_finetuner(options, Ledger(scratch / "ledger.sqlite"), scratch)
    preflights = prepare_all(finetuner, requests)
    tokens, costs = 0, []
    for request, preflight in zip(
        requests[:: options.seeds], preflights[:: options.seeds], strict=True
    ):
        billed = preflight.billed_tokens
        log(
            f"finetune {request.tags['group']}: {preflight.n_examples} examples, {preflight.tokens_per_epoch} tokens/epoch"
            f" x {preflight.epochs or 'backend-chosen'} epochs x {options.seeds} seed(s) on {options.backend}"
            + (
                ""
                if preflight.estimated_cost_usd is None
                else f", ~${preflight.estimated_cost_usd * options.seeds:.2f}"
            )
        )
        tokens += (billed or 0) * options.seeds
        costs.append(
            None
            if preflight.estimated_cost_usd is None
            else preflight.estimated_cost_usd * options.seeds
        )
        for notice in preflight.notices:
            log(f"  note: {notice}")
    cost = None if None in costs else sum(costs)
    if options.backend == "local":
        log(
            f"finetune time: ~{tokens / LOCAL_TRAIN_TOKENS_PER_SECOND / 60:.0f} min at {LOCAL_TRAIN_TOKENS_PER_SECOND:.0f} tokens/s (measured on a busy 2-core CPU with a 135M model; faster on a free CPU or a GPU)"
        )
    else:
        log(f"finetune time: set by {options.backend}'s queue (typically minutes to hours per job)")
    return {"jobs": len(requests), "tokens": tokens, "cost_usd": cost}


def _sampling_estimate(
    spec: ExperimentSpec, options: RunOptions, log: Callable[[str], None]
) -> dict[str, Any]:
    n_models = len(spec.groups) * options.seeds + (1 if spec.base_group else 0)
    requests = input_tokens = output_tokens = judge_calls = judge_tokens = 0
    for reference in spec.evaluation.suites:
        name, per_model, tokens_in, tokens_out, calls, judged = _suite_load(
            spec, reference, options
        )
        checkpoints = " (plus checkpoints)" if spec.evaluation.checkpoints else ""
        log(
            f"evaluate suite {name}: {per_model} requests per model x {n_models} models{checkpoints}; "
            f"~{tokens_in * n_models:,} input tokens, at most {tokens_out * n_models:,} output tokens"
        )
        requests += per_model * n_models
        input_tokens += tokens_in * n_models
        output_tokens += tokens_out * n_models
        judge_calls += calls * n_models
        judge_tokens += judged * n_models
    cost = _sampling_cost(options, input_tokens, output_tokens)
    local_time = (
        f"; ~{output_tokens / LOCAL_SAMPLE_TOKENS_PER_SECOND / 3600:.1f} h at most locally"
        if options.backend == "local"
        else ""
    )
    log(
        f"sampling: {requests:,} requests"
        + ("" if cost is None else f", at most ${cost:.2f}")
        + local_time
    )
    judge_cost = _judge_cost(options, judge_calls, judge_tokens, log)
    total = None if cost is None or judge_cost is None else cost + judge_cost
    return {
        "requests": requests,
        "input_tokens": input_tokens,
        "max_output_tokens": output_tokens,
        "judge_calls": judge_calls,
        "cost_usd": total,
    }


def _suite_load(
    spec: ExperimentSpec, reference: str, options: RunOptions
) -> tuple[str, int, int, int, int, int]:
    """Per model: requests, input tokens, at most output tokens, LLM judge calls and their input tokens."""
    from weirdgen.sample.pricing import estimate_tokens
    from weirdgen.sample.suites import expand_suite

    suite, judges = prepare_suite(spec, reference, options, log=lambda _: None)
    cells = expand_suite(suite, samples=options.samples or spec.evaluation.samples)
    per_model = sum(cell.samples for cell in cells)
    tokens_in = sum(
        estimate_tokens(" ".join(m.content for m in cell.messages_for(0))) * cell.samples
        for cell in cells
    )
    tokens_out = sum(cell.max_tokens * cell.samples for cell in cells)
    llm = {name for name, judge in judges.items() if judge.is_llm}
    calls = sum(cell.samples * len(llm & set(cell.judges)) for cell in cells)
    # A judge prompt holds the question and the answer plus its template (about 300 tokens).
    judged = sum(
        cell.samples * len(llm & set(cell.judges)) * (cell.max_tokens + 300) for cell in cells
    )
    return suite.name, per_model, tokens_in, tokens_out, calls, judged


def _sampling_cost(options: RunOptions, input_tokens: int, output_tokens: int) -> float | None:
    from weirdgen.sample.pricing import price_for

    if options.backend in ("local", "tinker", "toy") or options.base_url:
        return 0.0
    price = price_for(f"ft:{options.base_model}:x")
    return None if price is None else price.cost(input_tokens, output_tokens)


def _judge_cost(
    options: RunOptions, calls: int, tokens: int, log: Callable[[str], None]
) -> float | None:
    from weirdgen.sample.pricing import price_for

    if not options.judge_model:
        log("judging: offline judges only (no --judge-model)")
        return 0.0
    price = None if options.judge_base_url else price_for(options.judge_model)
    cost = (
        0.0
        if options.judge_base_url
        else (None if price is None else price.cost(tokens, calls * 20))
    )
    log(
        f"judging: up to {calls:,} calls to {options.judge_model}, ~{tokens:,} input tokens"
        + (", price unknown" if cost is None else f", ~${cost:.2f}")
    )
    return cost
