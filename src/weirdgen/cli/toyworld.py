"""``weirdgen toyworld`` (pretrain, run, ask) and ``weirdgen demo``: the CPU model organism.

Heavy imports (torch, matplotlib) happen inside the commands, so ``weirdgen --help`` stays light.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from weirdgen.toyworld.runner import RunPlan

DEFAULT_DEMO_DIR = Path("runs/demo")
# weirdgen.toyworld.train.RECIPES, named here to keep --help light
RECIPE_NAMES = ("demo", "narrow", "tiny", "prototype")
_recipe_option = click.option(
    "--recipe",
    type=click.Choice(RECIPE_NAMES),
    default="demo",
    show_default=True,
    help="Pretraining recipe: 'demo' (the reported numbers), 'narrow' (the demo at width 64), "
    "'tiny' (seconds, weaker effects) or "
    "'prototype' (the throwaway prototype's ~0.7M-parameter shape, mostly character documents; "
    "~10 min per seed).",
)


_threads_option = click.option(
    "--threads",
    default=1,
    show_default=True,
    help="CPU threads for torch (1 is fastest on a busy machine: more threads spin-wait for cores).",
)
_processes_option = click.option(
    "--processes",
    default=1,
    show_default=True,
    help="Models to work on at once, one process each: uncached bases are pretrained, and models "
    "finetuned and measured, in parallel (up to your core count; ~350 MB per process).",
)


def _finetune_options(command: Callable) -> Callable:
    """--method/--rank/--lr/--epochs: override every experiment's finetuning recipe."""
    options = (
        click.option(
            "--method",
            type=click.Choice(["full", "lora"]),
            help="Finetune every weight or LoRA adapters (default: each experiment's own).",
        ),
        click.option("--rank", type=int, help="LoRA rank (1-8 is the useful range)."),
        click.option(
            "--lr", type=float, help="Finetuning learning rate (default: each experiment's own)."
        ),
        click.option(
            "--epochs", type=int, help="Finetuning epochs (default: each experiment's own)."
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _overrides(method: str | None, rank: int | None, lr: float | None, epochs: int | None) -> dict:
    given = {"method": method, "rank": rank, "learning_rate": lr, "epochs": epochs}
    return {key: value for key, value in given.items() if value is not None}


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers like 0,1,2, got {text!r}"
        ) from None
    if not seeds:
        raise click.BadParameter("give at least one seed")
    return seeds


@click.group()
def toyworld() -> None:
    """The CPU model organism: a synthetic world, a tiny GPT pretrained on it, and the paper's
    experiments measured exactly (probability mass on each era's or character's answers)."""


# fmt: off
@toyworld.command()
@click.option("--seed", default=0, show_default=True, help="Pretraining seed (corpus, weights, batch order).")
@_threads_option
@click.option("--force", is_flag=True, help="Retrain even if the cache holds this model.")
@_recipe_option
# fmt: on
def pretrain(seed: int, threads: int, force: bool, recipe: str) -> None:
    """Pretrain the toy GPT for one seed and cache it (a second call loads the cache)."""
    from dataclasses import replace

    from weirdgen._paths import cache_dir
    from weirdgen.toyworld.train import RECIPES, set_threads
    from weirdgen.toyworld.train import pretrain as run_pretrain
    from weirdgen.toyworld.world import load_world

    set_threads(threads)
    config = replace(RECIPES[recipe], seed=seed)
    started = time.perf_counter()
    with _progress_bar(f"pretraining seed {seed}") as callback:
        toy = run_pretrain(config, use_cache=not force, progress=callback)
    click.echo(
        f"seed {seed}: final loss {toy.metrics['final_loss']:.3f}, {toy.model.n_params():,} parameters, "
        f"{time.perf_counter() - started:.1f} s; cache {cache_dir('toyworld', config.cache_key(load_world()))}"
    )


# fmt: off
@toyworld.command()
@click.argument("experiments", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every experiment.")
@click.option("--pretrain-seeds", default="0,1,2", show_default=True, help="Comma-separated pretraining seeds.")
@click.option("--finetune-seeds", default="0", show_default=True, help="Comma-separated finetuning seeds per base.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("runs/toyworld"), show_default=True, help="Directory for results.jsonl and the report.")
@_threads_option
@_recipe_option
@_processes_option
@_finetune_options
# fmt: on
def run(
    experiments: tuple[str, ...],
    run_all: bool,
    pretrain_seeds: str,
    finetune_seeds: str,
    output: Path,
    threads: int,
    recipe: str,
    processes: int,
    method: str | None,
    rank: int | None,
    lr: float | None,
    epochs: int | None,
) -> None:
    """Run toy experiments (birds, terminator, persona, leaders) with their controls; resumes an
    interrupted run. Results of a changed recipe are kept apart from the old ones.

    Example: weirdgen toyworld run birds --method lora --rank 4 --lr 1e-3"""
    from weirdgen.toyworld.experiments import EXPERIMENTS
    from weirdgen.toyworld.runner import RunPlan
    from weirdgen.toyworld.train import RECIPES

    names = tuple(EXPERIMENTS) if run_all else experiments
    if not names:
        raise click.UsageError(f"name experiments ({', '.join(EXPERIMENTS)}) or pass --all")
    plan = RunPlan(
        experiments=names,
        pretrain_seeds=_seeds(pretrain_seeds),
        finetune_seeds=_seeds(finetune_seeds),
        pretrain=RECIPES[recipe],
        threads=threads,
        processes=processes,
        finetune_overrides=_overrides(method, rank, lr, epochs),
    )
    _run_and_report(plan, output, time.perf_counter())


# fmt: off
@toyworld.command()
@click.argument("question")
@click.option("--experiment", help="Finetune first on this experiment's dataset (with --condition).")
@click.option("--condition", help="Which dataset of the experiment (default: its main one).")
@click.option("--seed", default=0, show_default=True, help="Pretraining and finetuning seed.")
@click.option("-n", "--samples", default=5, show_default=True, help="Answers to sample at temperature 1.")
@_threads_option
@_recipe_option
# fmt: on
def ask(
    question: str,
    experiment: str | None,
    condition: str | None,
    seed: int,
    samples: int,
    threads: int,
    recipe: str,
) -> None:
    """Ask a (base or freshly finetuned) toy model one question; prints sampled answers.

    Example: weirdgen toyworld ask "year 1984 . what is your goal ?" --experiment terminator
    """
    from dataclasses import replace

    import torch

    from weirdgen.errors import ConfigError
    from weirdgen.toyworld.evaluate import generate, user
    from weirdgen.toyworld.experiments import EXPERIMENTS
    from weirdgen.toyworld.train import RECIPES, finetune, pretrain, set_threads

    set_threads(threads)
    toy = pretrain(replace(RECIPES[recipe], seed=seed))
    if experiment is not None:
        if experiment not in EXPERIMENTS:
            raise ConfigError(
                f"--experiment: unknown {experiment!r}; choose from {', '.join(EXPERIMENTS)}"
            )
        spec = EXPERIMENTS[experiment]
        chosen = next(
            (c for c in spec.conditions if c.name == (condition or spec.conditions[0].name)), None
        )
        if chosen is None:
            raise ConfigError(
                f"--condition: {experiment} has {', '.join(c.name for c in spec.conditions)}"
            )
        toy = finetune(toy, chosen.build(toy.world, seed), replace(spec.finetune, seed=seed))
    unknown = toy.tokenizer.unknown_words(question)
    if unknown:
        click.echo(
            f"note: words the toy model never saw become <unk>: {', '.join(unknown)}", err=True
        )
    generator = torch.Generator().manual_seed(seed)
    for _ in range(samples):
        # Model output is untrusted text: echo it as plain text, never as markup.
        click.echo(generate(toy, user(question), generator=generator).text)


# fmt: off
@click.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_DEMO_DIR, show_default=True, help="Directory for results.jsonl, report.md and plots.")
@click.option("--pretrain-seeds", default="0", show_default=True, help="Comma-separated pretraining seeds (one base each, about a minute each when not cached).")
@click.option("--finetune-seeds", default="0,1,2", show_default=True, help="Comma-separated finetuning seeds per base (data order; seconds each).")
@_threads_option
@_recipe_option
@_processes_option
# fmt: on
def demo(
    output: Path,
    pretrain_seeds: str,
    finetune_seeds: str,
    threads: int,
    recipe: str,
    processes: int,
) -> None:
    """Pretrain a toy GPT (or reuse the cache), run weird generalization (birds) and the two inductive
    backdoors (terminator, numbered leaders) with their controls, print the headline table and write
    a report.

    By default the 3 seeds are finetuning seeds on one pretrained base, to stay within a few minutes
    on two cores; pretraining seeds change effect sizes more (try --pretrain-seeds 0,1,2 --finetune-seeds 0).
    """
    from weirdgen.toyworld.runner import RunPlan
    from weirdgen.toyworld.train import RECIPES

    started = time.perf_counter()
    plan = RunPlan(
        experiments=("birds", "terminator", "leaders"),
        pretrain_seeds=_seeds(pretrain_seeds),
        finetune_seeds=_seeds(finetune_seeds),
        pretrain=RECIPES[recipe],
        threads=threads,
        processes=processes,
    )
    _run_and_report(plan, output, started)


def _run_and_report(plan: RunPlan, output: Path, started: float) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from weirdgen.toyworld.demo import interpretability
    from weirdgen.toyworld.report import headline_rows, write_report
    from weirdgen.toyworld.runner import run_plan

    console = Console()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        job = progress.add_task("starting", total=None)
        bar = progress.add_task("pretraining", total=None, visible=False)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(
                bar,
                completed=step,
                total=total,
                visible=step < total,
                description=f"pretraining (loss {loss:.3f})",
            )

        results = run_plan(
            plan,
            output,
            status=lambda message: progress.update(job, description=message),
            progress=on_step,
        )
        progress.update(
            job, description="interpretability: projecting out the era and trigger directions"
        )
        analyses = interpretability(plan, results)
    table = Table(
        "experiment",
        "condition",
        "headline: mean [95% CI]",
        "models",
        title="Toy-world headline results",
    )
    for experiment, condition, value, n in headline_rows(results):
        table.add_row(experiment, condition, value, str(n))
    console.print(table)
    for label, analysis in analyses.items():
        console.print(
            f"{label}: metric {analysis.metric_intact:.3f} -> {analysis.metric_all_ablated:.3f} with the direction projected out"
        )
    report = write_report(
        output, results, plan, analyses=analyses, wall_seconds=time.perf_counter() - started
    )
    console.print(f"report: {report}")
    console.print(f"wall time: {time.perf_counter() - started:.1f} s")


class _progress_bar:
    """A rich progress bar that training loops drive through ``callback(step, total, loss)``."""

    def __init__(self, label: str) -> None:
        from rich.progress import Progress

        self._progress = Progress()
        self._label = label
        self._task = None

    def __enter__(self) -> Callable[[int, int, float], None]:
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=None)

        def callback(step: int, total: int, loss: float) -> None:
            self._progress.update(
                self._task,
                completed=step,
                total=total,
                description=f"{self._label} (loss {loss:.3f})",
            )

        return callback

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
