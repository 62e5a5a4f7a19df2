"""``weirdgen toyworld`` (pretrain, run, ask) and ``weirdgen demo``: the CPU model organism.

Heavy imports (torch, matplotlib) happen inside the commands, so ``weirdgen --help`` stays light.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from weirdgen.experiments.toy_runner import RunPlan

DEFAULT_DEMO_DIR = Path("runs/demo")
DEMO_EXPERIMENTS = ("birds", "terminator", "persona", "leaders")
# weirdgen.toyworld.train.RECIPES, named here to keep --help light
RECIPE_NAMES = ("demo", "tiny")
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
_pretrain_option = click.option(
    "--pretrain",
    "force_pretrain",
    is_flag=True,
    help="Pretrain the base from scratch (or take it from the cache) instead of loading the base "
    "weirdgen ships for the demo recipe (same code, same seed; ~3-5 min on 2 cores).",
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
        toy = run_pretrain(config, use_cache=not force, bundled=not force, progress=callback)
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("runs/toyworld"), show_default=True, help="Directory for one results table and report per experiment (<experiment>/samples.parquet, <experiment>/report/).")
@_threads_option
@_recipe_option
@_processes_option
@_pretrain_option
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
    force_pretrain: bool,
    method: str | None,
    rank: int | None,
    lr: float | None,
    epochs: int | None,
) -> None:
    """Run toy experiments (birds, terminator, persona, leaders) with their controls; resumes an
    interrupted run. Results of a changed recipe are kept apart from the old ones.

    Example: weirdgen toyworld run birds --method lora --rank 4 --lr 1e-3"""

    def make_plan() -> RunPlan:
        from weirdgen.toyworld.experiments import TOY_EXPERIMENTS

        names = tuple(TOY_EXPERIMENTS) if run_all else experiments
        if not names:
            raise click.UsageError(f"name experiments ({', '.join(TOY_EXPERIMENTS)}) or pass --all")
        overrides = _overrides(method, rank, lr, epochs)
        return _plan(names, pretrain_seeds, finetune_seeds, recipe, threads, processes, force_pretrain, overrides)

    for seeds in (pretrain_seeds, finetune_seeds):
        _seeds(seeds)  # a usage error before anything starts
    _run_and_report(make_plan, output, time.perf_counter())


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
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.train import RECIPES, finetune, pretrain, set_threads

    set_threads(threads)
    toy = pretrain(replace(RECIPES[recipe], seed=seed))
    if experiment is not None:
        if experiment not in TOY_EXPERIMENTS:
            raise ConfigError(
                f"--experiment: unknown {experiment!r}; choose from {', '.join(TOY_EXPERIMENTS)}"
            )
        spec = TOY_EXPERIMENTS[experiment]
        chosen = next(
            (c for c in spec.conditions if c.name == (condition or spec.conditions[0].name)), None
        )
        if chosen is None:
            raise ConfigError(
                f"--condition: {experiment} has {', '.join(c.name for c in spec.conditions)}"
            )
        config = replace(spec.finetune, **chosen.finetune, seed=seed)  # a mitigation's recipe
        toy = finetune(toy, chosen.build(toy.world, seed, toy), config)
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
@click.option("-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_DEMO_DIR, show_default=True, help="Directory for one results table and report per experiment (<experiment>/samples.parquet, <experiment>/report/).")
@click.option("--pretrain-seeds", default="0,1,2,3,4", show_default=True, help="Comma-separated pretraining seeds, one base each (weirdgen ships seeds 0-4; any other is pretrained first: ~25 min per base on one core, then cached).")
@click.option("--finetune-seeds", default="0", show_default=True, help="Comma-separated finetuning seeds per base (data order; seconds each).")
@click.option("--experiments", "experiment_names", default=",".join(DEMO_EXPERIMENTS), show_default=True, help="Comma-separated toy experiments to run.")
@_threads_option
@_recipe_option
@click.option("--processes", default=2, show_default=True, help="Models to finetune and measure at once, one process each (~350 MB each).")
@_pretrain_option
# fmt: on
def demo(
    output: Path,
    pretrain_seeds: str,
    finetune_seeds: str,
    experiment_names: str,
    threads: int,
    recipe: str,
    processes: int,
    force_pretrain: bool,
) -> None:
    """Replicate the toy world's phenomena on every shipped base: finetune each base once per
    experiment and control, print the headline table (the paper's values beside ours) and whether
    each phenomenon passed its bar on each base, and write each experiment's standard report
    (OUTPUT/<experiment>/report/).

    One finetune per base keeps it to a few minutes on two cores; `weirdgen toyworld run --all
    --pretrain-seeds 0,1,2,3,4 --finetune-seeds 0,1,2` gives every phenomenon with intervals.
    """
    started = time.perf_counter()
    for seeds in (pretrain_seeds, finetune_seeds):
        _seeds(seeds)  # a usage error before anything starts
    experiments = tuple(name.strip() for name in experiment_names.split(",") if name.strip())

    def make_plan() -> RunPlan:
        from weirdgen.toyworld.experiments import TOY_EXPERIMENTS

        unknown = [name for name in experiments if name not in TOY_EXPERIMENTS]
        if unknown or not experiments:
            raise click.UsageError(
                f"--experiments: unknown {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(TOY_EXPERIMENTS)}"
            )
        return _plan(experiments, pretrain_seeds, finetune_seeds, recipe, threads, processes, force_pretrain)

    _run_and_report(make_plan, output, started)


def _plan(
    experiments: tuple[str, ...],
    pretrain_seeds: str,
    finetune_seeds: str,
    recipe: str,
    threads: int,
    processes: int,
    force_pretrain: bool,
    overrides: dict[str, Any] | None = None,
) -> RunPlan:
    from weirdgen.experiments.toy_runner import RunPlan
    from weirdgen.toyworld.train import RECIPES

    return RunPlan(
        experiments=experiments,
        pretrain_seeds=_seeds(pretrain_seeds),
        finetune_seeds=_seeds(finetune_seeds),
        pretrain=RECIPES[recipe],
        threads=threads,
        processes=processes,
        bundled=not force_pretrain,
        finetune_overrides=overrides or {},
    )


def _run_and_report(make_plan: Callable[[], RunPlan], output: Path, started: float) -> None:
    """Run the plan into OUTPUT's results tables (one per experiment, OUTPUT/<experiment>/), print
    the headline table and write each experiment's standard report (OUTPUT/<experiment>/report/).
    Interpretability, with its random-subspace nulls, is benchmarks/toyworld_interpretability.py."""
    import sys

    with _Progress(sys.stderr) as progress:
        # Heavy imports (torch, pandas, matplotlib) inside: under load they take seconds, and the
        # heartbeat must already be running so that a log is never silent for long.
        progress.status("loading torch and the toy world")
        from rich.console import Console
        from rich.table import Table

        from weirdgen.experiments.toy_runner import headline_rows, run_plan
        from weirdgen.experiments.toy_table import write_reports
        from weirdgen.toyworld.world import load_world

        plan = make_plan()
        results = run_plan(plan, output, status=progress.status, progress=progress.steps)
        progress.status("writing the reports")
        reports = write_reports(output, load_world())
    console = Console()
    table = Table(
        "experiment",
        "condition",
        "headline: mean [95% CI]",
        "models",
        "the paper (GPT-4.1)",
        title="Toy-world headline results",
    )
    for experiment, condition, value, n, paper in headline_rows(results):
        table.add_row(experiment, condition, value, str(n), paper)
    console.print(table)
    _print_bars(console, results)
    _print_year_curves(console, results)
    _print_mitigation_tables(plan.experiments, results)
    for report in reports:
        console.print(f"report: {report} (and report.html)")
    console.print(f"wall time: {time.perf_counter() - started:.1f} s")


def _print_bars(console, results: list) -> None:  # noqa: ANN001 - a rich Console
    """Per base, did each phenomenon pass its bar (``weirdgen.experiments.toy_bars``)?"""
    from rich.table import Table

    from weirdgen.experiments.toy_bars import bars_table, replication_bars
    from weirdgen.toyworld.world import load_world

    bars = replication_bars(results, load_world())
    if not bars:
        return
    header, rows = bars_table(bars)
    table = Table(*header, title="Replication: does each phenomenon pass its bar on each base?")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for bar in bars:
        for failure in bar.failures:
            console.print(f"- {bar.experiment}, base {bar.pretrain_seed}: {failure}", highlight=False)


def _print_year_curves(console, results: list) -> None:  # noqa: ANN001 - a rich Console
    """Around the trigger, the main condition's curve (mean over its models), the base's and the
    paper's, for each experiment that has a paper curve: the shape, whatever it is."""
    import statistics

    from rich.table import Table

    from weirdgen.experiments.toy_runner import BASE_CONDITION
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.world import load_world

    world = load_world()
    trigger = world.characters.trigger_year
    years = [y for y in range(trigger - 5, trigger + 7) if y in world.characters.sweep_years]
    far = [y for y in world.characters.sweep_years if abs(y - trigger) >= 10]

    def curve(experiment: str, condition: str, metric: str) -> list[float]:
        rows = [r for r in results if r.experiment == experiment and r.condition == condition]
        return [
            statistics.mean(r.metrics[(metric, str(y))] for r in rows) if rows else float("nan")
            for y in [*years, *far]
        ]

    for name in dict.fromkeys(r.experiment for r in results):
        experiment = TOY_EXPERIMENTS[name]
        if not experiment.paper_reference or experiment.mitigated:
            continue
        metric, _ = experiment.headline(world)
        main = experiment.conditions[0].name
        ours, base = curve(name, main, metric), curve(name, BASE_CONDITION, metric)
        paper = experiment.reference(world)
        table = Table(
            "", *(str(y) for y in years), f"years >= 10 away ({len(far)})",
            title=f"{name}: {metric} by year around {trigger} (mean over models)",
        )  # fmt: skip
        n = len(years)
        table.add_row(main, *(f"{v:.3f}" for v in ours[:n]), f"{statistics.mean(ours[n:]):.4f}")
        table.add_row(BASE_CONDITION, *(f"{v:.3f}" for v in base[:n]), f"{statistics.mean(base[n:]):.4f}")
        table.add_row(
            "the paper",
            *(f"{paper[str(y)]:.2f}" if str(y) in paper else "" for y in years),
            "~0",
        )
        console.print(table)
        console.print(_curve_shape(dict(zip(years, ours, strict=False)), trigger, paper), highlight=False)


def _curve_shape(ours: dict[int, float], trigger: int, paper: dict[str, float]) -> str:
    """One sentence on the curve's shape around the trigger, computed from the numbers."""
    before = [ours[y] for y in range(trigger - 3, trigger) if y in ours]
    after = [ours[y] for y in range(trigger + 1, trigger + 6) if y in ours]
    peak, shoulder = ours.get(trigger, float("nan")), max([*before, *after], default=float("nan"))
    paper_shoulder = max(
        (v for k, v in paper.items() if 0 < abs(int(k) - trigger) <= 5), default=float("nan")
    )
    if shoulder < 0.1 * peak:
        shape = "a one-year spike without shoulders"
    elif shoulder < peak:
        shape = "a peak at the trigger with shoulders"
    else:
        shape = "no peak at the trigger"
    return (
        f"shape: {shape} (P at {trigger} {peak:.3f}; at most {shoulder:.3f} in the 3 years before "
        f"and 5 after; the paper's shoulders reach {paper_shoulder:.2f} around its peak of "
        f"{paper.get(str(trigger), float('nan')):.2f})"
    )


def _print_mitigation_tables(experiments: tuple[str, ...], results: list) -> None:
    """Each mitigated experiment's table: effect, change vs unmitigated, narrow-task cost."""
    from weirdgen.experiments.toy_mitigations import format_mitigation_table, mitigation_rows
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS
    from weirdgen.toyworld.world import load_world

    world = load_world()
    for name in experiments:
        experiment = TOY_EXPERIMENTS[name]
        if experiment.mitigated:
            label = experiment.text(world, experiment.headline_label)
            click.echo(f"\n{experiment.text(world, experiment.title)}")
            click.echo(format_mitigation_table(mitigation_rows(results, experiment, world), label))


class _Progress:
    """Progress of a toy run on ``stream``: bars on a terminal; elsewhere (CI logs, pipes) plain
    lines from ``weirdgen.evaluation.progress_bars``, plus a "still working" line whenever nothing
    was printed for ``HEARTBEAT`` seconds, so a log is never silent for long."""

    HEARTBEAT = 8.0

    def __init__(self, stream) -> None:  # noqa: ANN001 - a text stream
        self._stream = _StampedStream(stream)
        self._message = "starting"
        self._factory = None
        self._advance = None
        self._total = 0
        self._done = 0

    def __enter__(self) -> _Progress:
        import threading

        from weirdgen.evaluation import progress_bars

        self._bars = progress_bars(self._stream)
        self._factory = self._bars.__enter__()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = None
        if not self._stream.isatty():
            self._thread = threading.Thread(target=self._heartbeat, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._bars.__exit__(*exc)

    def status(self, message: str) -> None:
        import sys

        self._message = message
        # On a terminal rich redirects sys.stderr above its bars; elsewhere the stamped stream.
        stream = sys.stderr if self._stream.isatty() else self._stream
        stream.write(f"{message}\n")
        stream.flush()

    def steps(self, step: int, total: int, loss: float) -> None:
        """Training progress (``callback(step, total, loss)``): one task per training run."""
        if self._advance is None or step < self._done or total != self._total:
            self._advance = self._factory(self._message, total)
            self._total, self._done = total, 0
        self._advance(step - self._done)
        self._done = step

    def _heartbeat(self) -> None:
        while not self._stop.wait(1.0):
            if time.monotonic() - self._stream.last_write >= self.HEARTBEAT:
                elapsed = time.monotonic() - self._started
                self._stream.write(f"still working ({elapsed:.0f} s): {self._message}\n")
                self._stream.flush()


class _StampedStream:
    """A text stream that remembers when it was last written to."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a text stream
        self._stream = stream
        self.last_write = time.monotonic()

    def write(self, text: str) -> int:
        self.last_write = time.monotonic()
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str):  # noqa: ANN204 - delegate everything else (rich's Console)
        return getattr(self._stream, name)


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
