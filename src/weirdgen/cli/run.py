"""``weirdgen run EXPERIMENT``: build, finetune every group x seed, evaluate, judge and report."""

from __future__ import annotations

from pathlib import Path

import click

from weirdgen.experiments.options import EXECUTORS, finetuner_entry, run_backends


# fmt: off
@click.command("run")
@click.argument("experiment")
@click.option("--backend", type=click.Choice(run_backends()), required=True, help="Where to finetune and sample.")
@click.option("--base-model", default="", help="Model to finetune: bundled alias (smollm2-135m-instruct), folder, HF id or API id.")
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True, help="Finetuning seeds per group.")
@click.option("--judge-model", default="", help="Model for LLM judges (e.g. gpt-4.1); without it only offline judges run.")
@click.option("--judge-base-url", default=None, help="OpenAI-compatible endpoint of the judge model (default: OpenAI).")
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint for --backend openai (e.g. a `weirdgen serve` URL).")
@click.option("--samples", type=click.IntRange(1, 100_000), default=None, help="Samples per question and trigger value (overrides the suites).")
@click.option("--threads", type=click.IntRange(1, 256), default=2, show_default=True, help="CPU threads for local training and sampling.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Request cache (default: the shared weirdgen cache).")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True, help="Run each (group, seed) finetune and its evaluation here one after another, or as one Ray task (pip install 'weirdgen[ray]').")
@click.option("--address", default=None, help="--executor ray: the Ray cluster to join (default: start a local instance).")
@click.option("--sampler-url", default=None, help="Sample through this OpenAI-compatible server (e.g. `weirdgen serve --engine vllm`); training stays where it is.")
@click.option("--skip-canary", is_flag=True, help="Evaluate finetuned models even if they answer their training prompts like the base.")
@click.option("--dry-run", is_flag=True, help="Print datasets, jobs, requests, tokens, cost and time estimates; do nothing.")
@click.option("-o", "--output", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Run directory (resumable).")
# fmt: on
def run(experiment: str, run_dir: Path | None, dry_run: bool, **settings: object) -> None:
    """Run EXPERIMENT (a shipped name such as birds, or your own YAML) end to end into RUN_DIR.

    Rerunning the same command resumes: finished datasets, finetunes, answers and verdicts are reused.
    """
    from weirdgen.errors import ConfigError
    from weirdgen.experiments.dry_run import dry_run as print_dry_run
    from weirdgen.experiments.options import RunOptions
    from weirdgen.experiments.run import run_experiment
    from weirdgen.experiments.spec import check_experiment, load_experiment

    spec = load_experiment(experiment)
    check_experiment(spec, experiment)
    options = RunOptions(**settings).validate(dry_run=dry_run)  # type: ignore[arg-type]
    if dry_run:
        if finetuner_entry(options.backend).organism:
            click.echo(f"{options.backend} backend: this CPU, no cost; its bases are shipped or cached")
            return
        print_dry_run(spec, options, log=click.echo)
        return
    if run_dir is None:
        raise ConfigError("pass -o RUN_DIR (or --dry-run)")
    result = run_experiment(spec, options, run_dir, log=click.echo)
    click.echo(f"report: {result.report.html}")
    if result.report.missing:
        click.echo(
            f"partial run: {len(result.report.missing)} missing item(s), listed in the report",
            err=True,
        )
