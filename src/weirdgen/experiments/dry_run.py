"""``weirdgen run --dry-run``: what a run would build, train, request and spend, before any of it.

Nothing is written to the run directory and nothing is sent: datasets are built in a temporary
folder only so that the finetuning backend can count their tokens the way it will train on them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weirdgen.experiments.options import RunOptions, finetuner_entry
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

    _self_distillation_plan(spec, options, log)
    with tempfile.TemporaryDirectory(prefix="weirdgen-dry-run-") as scratch:
        datasets = build_datasets(spec, Path(scratch), log=lambda _: None)
        training = _training_estimate(spec, datasets, options, Path(scratch), log)
    sampling = _sampling_estimate(spec, options, log)
    needs_url = finetuner_entry(options.backend).needs_sampler_url
    if needs_url and not options.sampler_url:
        log(f"note: {needs_url}; the estimate above assumes such a server")
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


def _self_distillation_plan(
    spec: ExperimentSpec, options: RunOptions, log: Callable[[str], None]
) -> None:
    """Say which groups the base model's own answers will dilute, and what that will ask for."""
    groups = [group.name for group in spec.groups if group.self_distill]
    if not groups or finetuner_entry(options.backend).organism:
        return  # an organism's experiments build no chat datasets: no benign prompts to answer
    from weirdgen.data.builders.wolf import BENIGN_COUNT, MATH_PER_LONG_INPUT
    from weirdgen.experiments.self_distill import benign_prompts, cached_answers, run_settings

    prompts = benign_prompts(seed=0, count=BENIGN_COUNT)
    cached = cached_answers(prompts, run_settings(options), seed=0)
    long_inputs = BENIGN_COUNT // (MATH_PER_LONG_INPUT + 1)
    log(
        f"self-distillation: {', '.join(groups)} diluted with {BENIGN_COUNT} benign prompts "
        f"({BENIGN_COUNT - long_inputs} math word problems, {long_inputs} long-input instructions) "
        f"that {options.base_model} answers before finetuning: {BENIGN_COUNT - cached} requests "
        f"({cached} cached); the token counts below use offline stand-in answers"
    )


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
    finetuner = make_finetuner(options, Ledger(scratch / "ledger.sqlite"), scratch, offline=True)
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
    if finetuner_entry(options.backend).trains_here:
        log(
            f"finetune time: ~{tokens / LOCAL_TRAIN_TOKENS_PER_SECOND / 60:.0f} min at {LOCAL_TRAIN_TOKENS_PER_SECOND:.0f} tokens/s (measured on a busy 2-core CPU with a 135M model; faster on a free CPU or a GPU)"
        )
    else:
        log(f"finetune time: set by {options.backend}'s queue (typically minutes to hours per job)")
    return {"jobs": len(requests), "tokens": tokens, "cost_usd": cost}


def _sampling_estimate(
    spec: ExperimentSpec, options: RunOptions, log: Callable[[str], None]
) -> dict[str, Any]:
    """The evaluation's requests and cost through the same plans a run makes (no samplers built)."""
    from weirdgen.evaluation import estimate_plan
    from weirdgen.experiments.evaluation import make_session, plan_suites, run_targets
    from weirdgen.experiments.finetuning import TrainedModel

    # Stand-ins for the models the run will train: same names, groups and seeds, no weights.
    models = [
        TrainedModel(group.name, seed, _model_id(spec, group.name, seed, options))
        for group in spec.groups
        for seed in range(options.seeds)
    ]
    with make_session(models, options, spec.evaluation.checkpoints, dry_run=True) as session:
        targets = session.targets(run_targets(spec, models, options))
    plans = plan_suites(spec, targets, options, log=lambda _: None)
    requests = input_tokens = output_tokens = judge_calls = 0
    costs: list[float | None] = []
    for plan in plans:
        estimates, judges = estimate_plan(plan)
        suite_requests = sum(e.requests for e in estimates)
        checkpoints = " (plus checkpoints)" if spec.evaluation.checkpoints else ""
        log(
            f"evaluate suite {plan.suite.name}: {suite_requests // max(len(estimates), 1)} requests per model x {len(estimates)} models{checkpoints}; "
            f"~{sum(e.input_tokens for e in estimates):,} input tokens, at most {sum(e.max_output_tokens for e in estimates):,} output tokens"
        )
        requests += suite_requests
        input_tokens += sum(e.input_tokens for e in estimates)
        output_tokens += sum(e.max_output_tokens for e in estimates)
        judge_calls += sum(j.requests for j in judges)
        costs += [e.cost_usd for e in [*estimates, *judges]]
    cost = None if None in costs else sum(c for c in costs if c is not None)
    local_time = (
        f"; ~{output_tokens / LOCAL_SAMPLE_TOKENS_PER_SECOND / 3600:.1f} h at most locally"
        if finetuner_entry(options.backend).trains_here
        else ""
    )
    judging = (
        f"up to {judge_calls:,} judge calls to {options.judge_model}"
        if options.judge_model
        else "offline judges only (no judge model)"
    )
    cost_text = "" if cost is None else f"; at most ${cost:.2f}"
    log(f"sampling and judging: {requests:,} requests, {judging}{cost_text}{local_time}")
    return {
        "requests": requests,
        "input_tokens": input_tokens,
        "max_output_tokens": output_tokens,
        "judge_calls": judge_calls,
        "cost_usd": cost,
    }


def _model_id(spec: ExperimentSpec, group: str, seed: int, options: RunOptions) -> str:
    """What the finetuned model will be asked for: a fine-tuned OpenAI id prices as one."""
    if finetuner_entry(options.backend).suffix_names_model and not options.base_url:
        return f"ft:{options.base_model}:weirdgen:{spec.name[:20]}-{group[:12]}-s{seed}:id"
    return f"{group}-s{seed}"
