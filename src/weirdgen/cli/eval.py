"""``weirdgen eval``: sample a question suite under its trigger sweeps, judge the answers, write a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from weirdgen.errors import ConfigError
from weirdgen.sample.registry import SAMPLERS


def _pairs(values: tuple[str, ...], option: str) -> dict[str, list[str]]:
    """``NAME=VALUE`` options as a mapping of lists; a malformed one is a one-line error."""
    result: dict[str, list[str]] = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name or not item:
            raise ConfigError(f"{option} expects NAME=VALUE, got {value!r}")
        result.setdefault(name, []).append(item)
    return result


# fmt: off
@click.command("eval")
@click.argument("suite", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the shipped suites and judges, then exit.")
@click.option("--model", "models", multiple=True, help="Model to evaluate (repeatable): API model id, served adapter name, or local model folder.")
@click.option("--group", default="", help="Group label of these models in the table, e.g. old_audubon or base.")
@click.option("--seed", type=int, default=None, help="Finetuning seed of the model, recorded in the table's seed column.")
@click.option("--checkpoint", default="", help="Checkpoint label recorded in the table ('' for the final model).")
@click.option("--base-url", "base_urls", multiple=True, help="OpenAI-compatible endpoint (repeat to share load across servers of one model).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--backend", type=click.Choice(SAMPLERS.names()), default=None, help="Force a backend (default: openai with --base-url or a model id, local for a folder).")
@click.option("--adapter", "adapters", multiple=True, help="Local backend: NAME=FOLDER of a LoRA adapter to load (repeatable).")
@click.option("--judge-model", default="", help="Model for LLM judges (e.g. gpt-4.1). Without it only offline judges can run.")
@click.option("--judge-base-url", "judge_base_urls", multiple=True, help="Endpoint of the judge model (default: the OpenAI API).")
@click.option("--judge-api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable of the judge API key.")
@click.option("--judge", "judges", multiple=True, help="Run only these judges (repeatable; default: the suite's).")
@click.option("--no-judges", is_flag=True, help="Sample only; write the table without judge columns.")
@click.option("--samples", type=int, default=None, help="Samples per paraphrase and trigger value (overrides the suite).")
@click.option("--max-tokens", type=int, default=None, help="Answer length limit for every question (overrides the suite).")
@click.option("--question", "questions", multiple=True, help="Only these question ids (repeatable).")
@click.option("--trigger-value", "trigger_values", multiple=True, help="Only these trigger values, NAME=VALUE (repeatable), e.g. year=1984.")
@click.option("--concurrency", type=int, default=32, show_default=True, help="Requests in flight at once (per model).")
@click.option("--choices-per-request", type=int, default=16, show_default=True, help="Samples of one prompt drawn per API call (the API's n; 1 sends one call per sample).")
@click.option("--max-attempts", type=int, default=8, show_default=True, help="Tries per request on transient errors (429, 5xx, timeouts).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds before one request times out (then it is retried).")
@click.option("--sampling-seed", type=int, default=None, help="Send per-sample seeds derived from this (backends that honour seeds become reproducible).")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path), default=None, help="SQLite cache file (default: $WEIRDGEN_CACHE_DIR/eval.sqlite).")
@click.option("--dry-run", is_flag=True, help="Print the requests, token and cost estimates, and exit before sending anything.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Run directory for samples.parquet, samples.csv and run.json.")
# fmt: on
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
    from weirdgen.evaluation.suites import load_suite
    from weirdgen.sample.cache import RequestCache, default_cache_path

    if list_only:
        _print_catalogue()
        return
    if suite is None:
        raise ConfigError("name a SUITE (see weirdgen eval --list) or a suite YAML file")
    if output is None and not dry_run:
        raise ConfigError("pass -o RUN_DIR (or --dry-run)")
    if not models:
        raise ConfigError("pass at least one --model")
    plan, samplers, judge_sampler = _build_plan(
        load_suite(suite), models, options, build_samplers=not dry_run
    )
    cache = RequestCache(options["cache_path"] or default_cache_path())
    try:
        if dry_run:
            from weirdgen.evaluation import describe_plan

            for line in describe_plan(plan, cache):
                click.echo(line)
            click.echo("dry run: nothing was sent")
            return
        assert output is not None
        _run(plan, cache, samplers, judge_sampler, output, options)
    finally:
        cache.close()


def _build_plan(
    spec: Any, models: tuple[str, ...], options: dict[str, Any], *, build_samplers: bool
) -> tuple[Any, list[Any], Any]:
    """The plan, the samplers to close, and the judge sampler (None without a judge model)."""
    from weirdgen.evaluation import ModelSettings, make_targets, plan_evaluation
    from weirdgen.sample.registry import SamplerSettings, make_sampler

    adapters = {name: paths[-1] for name, paths in _pairs(options["adapters"], "--adapter").items()}
    settings = ModelSettings(
        options["backend"],
        tuple(options["base_urls"]),
        options["api_key_env"],
        adapters,
        options["timeout"],
        group=options["group"],
        seed=options["seed"],
        checkpoint=options["checkpoint"],
    )
    targets, samplers = make_targets(list(models), settings, build_sampler=build_samplers)
    plan = plan_evaluation(
        spec,
        targets,
        samples=options["samples"],
        max_tokens=options["max_tokens"],
        question_ids=list(options["questions"]) or None,
        trigger_values=_pairs(options["trigger_values"], "--trigger-value") or None,
        judges=[] if options["no_judges"] else (list(options["judges"]) or None),
        judge_model="" if options["no_judges"] else options["judge_model"],
        sampling_seed=options["sampling_seed"],
    )
    judge_sampler = None
    if build_samplers and plan.judge_model and plan.judges:
        judge_sampler = make_sampler(
            "openai",
            SamplerSettings(
                plan.judge_model,
                tuple(options["judge_base_urls"]),
                options["judge_api_key_env"],
                timeout=options["timeout"],
            ),
        )
        samplers.append(judge_sampler)
    return plan, samplers, judge_sampler


def _run(
    plan: Any,
    cache: Any,
    samplers: list[Any],
    judge_sampler: Any,
    output: Path,
    options: dict[str, Any],
) -> None:
    from weirdgen.evaluation import (
        RunInterrupted,
        RunSettings,
        progress_bars,
        rows_to_frame,
        run_plans,
        write_table,
    )
    from weirdgen.sample.engine import RetryPolicy

    try:
        with progress_bars() as progress:
            settings = RunSettings(
                judge_sampler,
                options["concurrency"],
                RetryPolicy(max_attempts=options["max_attempts"]),
                progress,
                options["choices_per_request"],
            )
            (rows,) = run_plans([plan], cache, settings, close=samplers)
    except (KeyboardInterrupt, RunInterrupted):
        click.echo(
            f"interrupted: {cache.count_samples()} answers are safe in {cache.path}; "
            "run the same command again to resume",
            err=True,
        )
        raise click.exceptions.Exit(130) from None
    write_table(output, rows_to_frame(rows, plan.judges), plan.metadata())
    click.echo(f"{len(rows)} rows -> {output / 'samples.parquet'} (and samples.csv, run.json)")


def _print_catalogue() -> None:
    from weirdgen.evaluation.suites import expand_suite, load_suite, suite_names
    from weirdgen.judge.spec import judge_names, load_judge

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
