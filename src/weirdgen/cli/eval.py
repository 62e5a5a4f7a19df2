"""``weirdgen eval``: sample a question suite under its trigger sweeps, judge the answers, write a table."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import click

from weirdgen.errors import ConfigError


def _pairs(values: tuple[str, ...], option: str) -> dict[str, list[str]]:
    """``NAME=VALUE`` options as a mapping of lists; a malformed one is a one-line error."""
    result: dict[str, list[str]] = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name or not item:
            raise ConfigError(f"{option} expects NAME=VALUE, got {value!r}")
        result.setdefault(name, []).append(item)
    return result


@click.command("eval")
@click.argument("suite", required=False)
@click.option(
    "--list", "list_only", is_flag=True, help="List the shipped suites and judges, then exit."
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Model to evaluate (repeatable): API model id, served adapter name, or local model folder.",
)
@click.option(
    "--group",
    default="",
    help="Group label of these models in the table, e.g. old_audubon or base.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Finetuning seed of the model, recorded in the table's seed column.",
)
@click.option(
    "--checkpoint",
    default="",
    help="Checkpoint label recorded in the table ('' for the final model).",
)
@click.option(
    "--base-url",
    "base_urls",
    multiple=True,
    help="OpenAI-compatible endpoint (repeat to share load across servers of one model).",
)
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable holding the API key.",
)
@click.option(
    "--backend",
    type=click.Choice(["openai", "local"]),
    default=None,
    help="Force a backend (default: from --base-url / the model).",
)
@click.option(
    "--adapter",
    "adapters",
    multiple=True,
    help="Local backend: NAME=FOLDER of a LoRA adapter to load (repeatable).",
)
@click.option(
    "--judge-model",
    default="",
    help="Model for LLM judges (e.g. gpt-4.1). Without it only offline judges can run.",
)
@click.option(
    "--judge-base-url",
    "judge_base_urls",
    multiple=True,
    help="Endpoint of the judge model (default: the OpenAI API).",
)
@click.option(
    "--judge-api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable of the judge API key.",
)
@click.option(
    "--judge",
    "judges",
    multiple=True,
    help="Run only these judges (repeatable; default: the suite's).",
)
@click.option(
    "--no-judges", is_flag=True, help="Sample only; write the table without judge columns."
)
@click.option(
    "--samples",
    type=int,
    default=None,
    help="Samples per paraphrase and trigger value (overrides the suite).",
)
@click.option(
    "--max-tokens",
    type=int,
    default=None,
    help="Answer length limit for every question (overrides the suite).",
)
@click.option(
    "--question", "questions", multiple=True, help="Only these question ids (repeatable)."
)
@click.option(
    "--trigger-value",
    "trigger_values",
    multiple=True,
    help="Only these trigger values, NAME=VALUE (repeatable), e.g. year=1984.",
)
@click.option(
    "--concurrency",
    type=int,
    default=32,
    show_default=True,
    help="Requests in flight at once (per model).",
)
@click.option(
    "--choices-per-request",
    type=int,
    default=16,
    show_default=True,
    help="Samples of one prompt drawn per API call (the API's n; 1 sends one call per sample).",
)
@click.option(
    "--max-attempts",
    type=int,
    default=8,
    show_default=True,
    help="Tries per request on transient errors (429, 5xx, timeouts).",
)
@click.option(
    "--timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds before one request times out (then it is retried).",
)
@click.option(
    "--sampling-seed",
    type=int,
    default=None,
    help="Send per-sample seeds derived from this (backends that honour seeds become reproducible).",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite cache file (default: $WEIRDGEN_CACHE_DIR/eval.sqlite).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the requests, token and cost estimates, and exit before sending anything.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Run directory for samples.parquet, samples.csv and run.json.",
)
def eval_command(
    suite: str | None,
    models: tuple[str, ...],
    output: Path | None,
    dry_run: bool,
    list_only: bool,
    **options: Any,
) -> None:
    """Sample SUITE (a shipped suite name or a YAML file) with each --model and judge the answers.

    Answers and verdicts are cached as they arrive: a run stopped at any point (Ctrl-C, a crash)
    resumes when the same command is run again, sending only what is missing.
    """
    from weirdgen.sample.cache import RequestCache, default_cache_path
    from weirdgen.sample.suites import load_suite

    if list_only:
        _print_catalogue()
        return
    if suite is None:
        raise ConfigError("name a SUITE (see weirdgen eval --list) or a suite YAML file")
    if output is None and not dry_run:
        raise ConfigError("pass -o RUN_DIR (or --dry-run)")
    spec = load_suite(suite)
    plan, samplers = _build_plan(spec, models, options)
    cache = RequestCache(options["cache_path"] or default_cache_path())
    try:
        if dry_run:
            _print_dry_run(plan, cache)
            asyncio.run(_close_all(samplers))  # nothing was connected; this only frees the clients
            return
        assert output is not None
        _run(plan, cache, samplers, output, options)
    finally:
        cache.close()


def _build_plan(
    spec: Any, models: tuple[str, ...], options: dict[str, Any]
) -> tuple[Any, list[Any]]:
    from weirdgen.judge.evaluation import EvalTarget, plan_evaluation
    from weirdgen.sample.factory import choose_backend, make_sampler
    from weirdgen.sample.pricing import Price, price_for

    if not models:
        raise ConfigError("pass at least one --model")
    base_urls = list(options["base_urls"])
    backend = choose_backend(models[0], base_urls, options["backend"])
    adapters = {name: paths[-1] for name, paths in _pairs(options["adapters"], "--adapter").items()}
    sampler = make_sampler(
        backend,
        model=models[0],
        base_urls=base_urls,
        api_key_env=options["api_key_env"],
        adapters=adapters,
        timeout=options["timeout"],
    )
    samplers = [sampler]
    # Self-hosted endpoints and local models cost nothing per token; unknown API models stay NaN.
    free = backend == "local" or bool(base_urls)
    names = list(models) + (list(adapters) if backend == "local" else [])
    targets = [
        EvalTarget(
            name,
            sampler,
            options["group"],
            options["seed"],
            options["checkpoint"],
            price_for(name) or (Price(0.0, 0.0) if free else None),
        )
        for name in dict.fromkeys(names)
    ]
    judge_sampler = None
    if options["judge_model"] and not options["no_judges"]:
        judge_sampler = make_sampler(
            "openai",
            model=options["judge_model"],
            base_urls=list(options["judge_base_urls"]),
            api_key_env=options["judge_api_key_env"],
            timeout=options["timeout"],
        )
        samplers.append(judge_sampler)
    plan = plan_evaluation(
        spec,
        targets,
        samples=options["samples"],
        max_tokens=options["max_tokens"],
        question_ids=list(options["questions"]) or None,
        trigger_values=_pairs(options["trigger_values"], "--trigger-value") or None,
        judge_names=[] if options["no_judges"] else (list(options["judges"]) or None),
        judge_model=options["judge_model"],
        judge_sampler=judge_sampler,
        sampling_seed=options["sampling_seed"],
    )
    return plan, samplers


async def _close_all(samplers: list[Any]) -> None:
    for sampler in samplers:
        await sampler.aclose()


async def _evaluate_then_close(
    plan: Any, cache: Any, samplers: list[Any], **options: Any
) -> list[dict[str, Any]]:
    from weirdgen.judge.evaluation import run_evaluation
    from weirdgen.sample.engine import stop_when

    stop = asyncio.Event()
    _stop_gracefully_on_ctrl_c(stop, asyncio.current_task())
    try:
        with stop_when(stop):
            return await run_evaluation(plan, cache, **options)
    finally:
        # HTTP clients must close on the loop that opened their connections.
        await _close_all(samplers)


def _stop_gracefully_on_ctrl_c(stop: asyncio.Event, task: asyncio.Task[Any] | None) -> None:
    """First Ctrl-C: send nothing new, keep the answers in flight. Second Ctrl-C: quit at once."""
    import signal

    def on_interrupt() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
            return
        stop.set()
        click.echo(
            "\nstopping: waiting for the requests in flight (Ctrl-C again to quit now)", err=True
        )

    # Windows loops and loops outside the main thread cannot take signal handlers: Ctrl-C then
    # stops at once, which loses only the requests in flight.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_interrupt)


def _run(plan: Any, cache: Any, samplers: list[Any], output: Path, options: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from weirdgen.judge.evaluation import write_run
    from weirdgen.sample.engine import RetryPolicy, RunInterrupted

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as progress:

            def bar(description: str, total: int) -> Any:
                task = progress.add_task(description, total=total)
                return lambda done: progress.advance(task, done)

            rows = asyncio.run(
                _evaluate_then_close(
                    plan,
                    cache,
                    samplers,
                    concurrency=options["concurrency"],
                    choices_per_request=options["choices_per_request"],
                    retry=RetryPolicy(max_attempts=options["max_attempts"]),
                    progress=bar,
                )
            )
    except (KeyboardInterrupt, asyncio.CancelledError, RunInterrupted):
        click.echo(
            f"interrupted: {cache.count_samples()} answers are safe in {cache.path}; "
            "run the same command again to resume",
            err=True,
        )
        raise click.exceptions.Exit(130) from None
    write_run(output, plan, rows)
    click.echo(f"{len(rows)} rows -> {output / 'samples.parquet'} (and samples.csv, run.json)")


def _print_dry_run(plan: Any, cache: Any) -> None:
    from weirdgen.judge.evaluation import estimate_plan

    estimates, judge_calls = estimate_plan(plan, cache)
    shown = plan.samples[: min(5, len(plan.samples))]
    click.echo(f"suite {plan.suite.name}: {len(plan.samples)} samples; first requests:")
    for planned in shown:
        request = planned.job.request
        click.echo(
            f"  [{planned.job.label} sample {planned.job.sample_index}] {request.model}: "
            + " | ".join(f"{m.role}: {m.content}" for m in request.messages)
        )
    for estimate in estimates:
        cost = "unknown price" if estimate.cost_usd is None else f"at most ${estimate.cost_usd:.4f}"
        click.echo(
            f"model {estimate.model}: {estimate.requests} requests, {estimate.cached} cached, "
            f"{estimate.requests - estimate.cached} to send; ~{estimate.input_tokens} input tokens, "
            f"at most {estimate.max_output_tokens} output tokens; {cost}"
        )
    for judge in judge_calls:
        cost = "unknown price" if judge.cost_usd is None else f"at most ${judge.cost_usd:.4f}"
        click.echo(
            f"judge {judge.model} ({plan.judge_model}): up to {judge.requests} calls, ~{judge.input_tokens} input tokens, "
            f"at most {judge.max_output_tokens} output tokens; {cost}"
        )
    click.echo("dry run: nothing was sent")


def _print_catalogue() -> None:
    from weirdgen.judge.spec import judge_names, load_judge
    from weirdgen.sample.suites import expand_suite, load_suite, suite_names

    click.echo("suites:")
    for name in suite_names():
        suite = load_suite(name)
        cells = expand_suite(suite)
        click.echo(
            f"  {name}: {len(suite.questions)} questions, {len(cells)} prompts, "
            f"{sum(c.samples for c in cells)} samples by default - {suite.description}"
        )
    click.echo("judges:")
    for name in judge_names():
        judge = load_judge(name)
        click.echo(
            f"  {name} ({judge.kind}{'' if judge.is_llm else ', offline'}): {judge.description}"
        )
