"""``weirdgen finetune`` (one job per seed, recorded in the ledger) and ``weirdgen models``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from weirdgen.cli._options import settings_from
from weirdgen.errors import BackendError, ConfigError
from weirdgen.finetune.registry import FINETUNERS


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--seeds: expected comma-separated integers like 0,1,2, got {text!r}"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds: give distinct seeds like 0,1,2, got {text!r}")
    return seeds


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag: expected KEY=VALUE, got {value!r}")
        tags[key] = rest
    return tags


def _resolve_dataset(dataset: str) -> tuple[Path, str]:
    """A JSONL path, or ``DATASET/VARIANT`` built into ``runs/datasets/``; plus its default group."""
    from weirdgen.data.registry import manifest_path, resolve_dataset

    reference = resolve_dataset(dataset)
    path = reference.file(Path("runs") / "datasets")
    if reference.path is None:
        return path, dataset
    manifest = manifest_path(path)
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return path, f"{data.get('dataset', data.get('experiment'))}/{data.get('variant')}"
    return path, path.stem


def _make_finetuner(
    backend: str, ledger: Any, runs_dir: Path | None, checkpoint_ttl_days: float | None = 30.0
) -> Any:
    from weirdgen.finetune.registry import FinetunerSettings, make_finetuner

    settings = FinetunerSettings(
        runs_dir=runs_dir, ledger=ledger, checkpoint_ttl_days=checkpoint_ttl_days
    )
    return make_finetuner(backend, settings)


# fmt: off
@click.command()
@click.argument("dataset")
@click.option("--backend", type=click.Choice(FINETUNERS.names()), default="local", show_default=True, help="Where to train.")
@click.option("--base-model", required=True, help="Base model: alias, local folder or HF id (local/tinker), or an OpenAI model name.")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds; one job each.")
@click.option("--epochs", type=int, help="Passes over the data (local/tinker default 3; OpenAI: auto).")
@click.option("--batch-size", type=int, help="Examples per step (local/tinker default 1; OpenAI: auto).")
@click.option("--learning-rate", type=float, help="Absolute learning rate, local/tinker (default 1e-4).")
@click.option("--lr-multiplier", type=float, help="OpenAI learning_rate_multiplier (default auto).")
@click.option("--lr-schedule", type=click.Choice(["linear", "cosine", "constant"]), default="linear", show_default=True)
@click.option("--warmup-ratio", type=float, default=0.0, show_default=True, help="Fraction of steps warming up the LR.")
@click.option("--lora-rank", type=int, default=8, show_default=True)
@click.option("--lora-alpha", type=float, help="LoRA alpha (default 2 x rank).")
@click.option("--lora-dropout", type=float, default=0.0, show_default=True)
@click.option("--target-modules", default=None, help="Comma-separated module names LoRA adapts (default: all attention and MLP projections).")
@click.option("--rslora", is_flag=True, help="Rank-stabilised LoRA scaling (alpha / sqrt(rank)).")
@click.option("--save-every-steps", type=int, help="Extra adapter checkpoints every K steps (learning curves).")
@click.option("--max-length", type=int, default=2048, show_default=True, help="Reject examples longer than this many tokens.")
@click.option("--early-stopping-patience", type=int, help="Local: stop after N validation checks without a lower loss on a held-out split; keep the best adapter.")
@click.option("--validation-share", type=float, default=0.1, show_default=True, help="Local, with early stopping: share of the examples held out.")
@click.option("--eval-every-steps", type=int, help="Local, with early stopping: steps between validation checks (default: each epoch).")
@click.option("--suffix", help="Suffix for the finetuned model's name (OpenAI).")
@click.option("--group", help="Ledger group (default: dataset/variant from the dataset's manifest, else the file name).")
@click.option("--tag", "tags", multiple=True, help="KEY=VALUE recorded with every job; repeatable.")
@click.option("--runs-dir", type=click.Path(path_type=Path), help="Where local/tinker runs keep adapters and state (default runs/finetune).")
@click.option("--checkpoint-ttl-days", type=click.FloatRange(min=0), default=30.0, show_default=True, help="Tinker: days intermediate checkpoints are stored (0: forever); the final model is always kept.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path), envvar="WEIRDGEN_LEDGER", help="Ledger SQLite file.")
@click.option("--estimate-only", is_flag=True, help="Check and estimate, then stop.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before paid jobs.")
@click.option("--no-wait", is_flag=True, help="Submit remote jobs and return without polling.")
@click.option("--poll-seconds", type=float, default=30.0, show_default=True, help="How often to poll remote jobs.")
# fmt: on
def finetune(dataset: str, backend: str, base_model: str, seeds: str, **options: Any) -> None:
    """Finetune DATASET (a chat JSONL file or NAME/VARIANT) once per seed.

    Jobs the ledger already has as succeeded are skipped; failed or interrupted ones run again
    (local runs resume from their last checkpoint). Example:

    \b
      weirdgen finetune birds/old_audubon --base-model smollm2-135m-instruct --seeds 0,1,2
    """
    from weirdgen.finetune.ledger import Ledger
    from weirdgen.finetune.runner import prepare_all, run_jobs

    requests = _build_requests(dataset, backend, base_model, _parse_seeds(seeds), options)
    ledger = Ledger(options["ledger_path"])
    finetuner = _make_finetuner(
        backend, ledger, options["runs_dir"], options["checkpoint_ttl_days"]
    )
    preflights = prepare_all(finetuner, requests)
    _print_preflight(requests[0], preflights[0], len(requests))
    if options["estimate_only"]:
        return
    if (
        finetuner.paid
        and not options["yes"]
        and not click.confirm(f"Submit {len(requests)} paid job(s)?", default=False)
    ):
        raise click.exceptions.Abort()
    outcomes = run_jobs(
        finetuner,
        ledger,
        requests,
        preflights,
        wait=not options["no_wait"],
        poll_seconds=options["poll_seconds"],
        log=click.echo,
    )
    failed = [o.job for o in outcomes if o.job.status == "failed"]
    if failed:
        raise BackendError(
            f"{len(failed)} of {len(outcomes)} jobs failed; see `weirdgen models show {failed[0].id}`"
        )


def _build_requests(
    dataset: str, backend: str, base_model: str, seeds: list[int], options: dict[str, Any]
) -> list[Any]:
    from weirdgen.finetune.config import DEFAULT_TARGET_MODULES, FinetuneRequest, Hyperparameters

    path, default_group = _resolve_dataset(dataset)
    modules = (
        tuple(m.strip() for m in options["target_modules"].split(","))
        if options["target_modules"]
        else DEFAULT_TARGET_MODULES
    )
    hyperparameters = settings_from(
        Hyperparameters,
        options,
        learning_rate_multiplier=options["lr_multiplier"],
        target_modules=modules,
        use_rslora=options["rslora"],
    )
    if FINETUNERS.get(backend).local_defaults:
        hyperparameters = hyperparameters.validate().with_local_defaults()
    tags = _parse_tags(options["tags"])
    return [
        FinetuneRequest(
            dataset_path=path,
            base_model=base_model,
            backend=backend,
            seed=seed,
            hyperparameters=hyperparameters,
            group=options["group"] or default_group,
            suffix=options["suffix"],
            tags=tags,
        ).validate()
        for seed in seeds
    ]


def _print_preflight(request: Any, preflight: Any, n_jobs: int) -> None:
    exact = (
        "" if preflight.tokens_exact else " (approximate: counted without the model's tokenizer)"
    )
    click.echo(
        f"{request.dataset_path}: {preflight.n_examples} examples, {preflight.tokens_per_epoch} tokens per epoch{exact}"
    )
    click.echo(
        f"group {request.group!r}, base model {request.base_model}, backend {request.backend}, {n_jobs} seed(s)"
    )
    if preflight.estimated_cost_usd is not None:
        click.echo(
            f"estimated cost: ${preflight.estimated_cost_usd * n_jobs:.2f} for {n_jobs} job(s) ({preflight.price_note})"
        )
    else:
        click.echo(f"estimated cost: unknown ({preflight.price_note})")
    for notice in preflight.notices:
        click.echo(f"note: {notice}")


@click.group()
def models() -> None:
    """List and show finetuned models recorded in the ledger."""


# fmt: off
@models.command("list")
@click.option("--group", help="Only this group (and its sub-groups), e.g. birds/old_audubon.")
@click.option("--base-model", help="Only jobs on this base model.")
@click.option("--backend", type=click.Choice(FINETUNERS.names()))
@click.option("--status", help="Only jobs in this status (succeeded, failed, running, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job instead of a table.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path), envvar="WEIRDGEN_LEDGER", help="Ledger SQLite file.")
# fmt: on
def list_models(
    group: str | None,
    base_model: str | None,
    backend: str | None,
    status: str | None,
    as_json: bool,
    ledger_path: Path | None,
) -> None:
    """Show every job, oldest first, with its status and resulting model."""
    import dataclasses

    from weirdgen.finetune.ledger import Ledger

    jobs = Ledger(ledger_path).list_jobs(
        group=group, base_model=base_model, backend=backend, status=status
    )
    if as_json:
        for job in jobs:
            click.echo(json.dumps(dataclasses.asdict(job)))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("group", "seed", "status", "backend", "base model", "job", "model or error")
    for column in table.columns[:6]:
        column.no_wrap = True  # ids and statuses must stay copyable; the model path may fold
    for job in jobs:
        table.add_row(
            job.group_name,
            str(job.seed),
            job.status,
            job.backend,
            _short(job.base_model),
            job.id,
            _short(job.model_id) if job.model_id else (job.error or "")[:80],
        )
    Console().print(table)


# fmt: off
@models.command("show")
@click.argument("job_id")
@click.option("--events", "n_events", default=20, show_default=True, help="How many of the newest events to show.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path), envvar="WEIRDGEN_LEDGER", help="Ledger SQLite file.")
# fmt: on
def show_model(job_id: str, n_events: int, ledger_path: Path | None) -> None:
    """Everything the ledger knows about one job (by job id, remote id or model id)."""
    from weirdgen.finetune.ledger import Ledger

    ledger = Ledger(ledger_path)
    job = ledger.get_job(job_id)
    for label, value in (
        ("job", job.id),
        ("status", job.status),
        ("error", job.error),
        ("group", job.group_name),
        ("backend", job.backend),
        ("base model", job.base_model),
        ("seed", job.seed),
        (
            "dataset",
            f"{job.dataset_path} (sha256 {job.dataset_sha256[:12]}, {job.n_examples} examples)",
        ),
        ("remote id", job.remote_id),
        ("model", job.model_id),
        ("adapter", job.adapter_path),
        ("created", _when(job.created_at)),
        ("finished", _when(job.finished_at)),
        ("tags", json.dumps(job.tags) if job.tags else None),
        ("hyperparameters", json.dumps(job.hyperparameters)),
        ("estimate", json.dumps(job.estimate) if job.estimate else None),
    ):
        if value not in (None, ""):
            click.echo(f"{label:>15}: {value}")
    checkpoints = ledger.checkpoints(job.id)
    click.echo(f"    checkpoints: {len(checkpoints)}")
    for checkpoint in checkpoints:
        metrics = ", ".join(
            f"{k} {v:.4g}" for k, v in checkpoint.metrics.items() if isinstance(v, (int, float))
        )
        click.echo(
            f"      step {checkpoint.step}: {checkpoint.model_id or checkpoint.path} {metrics}"
        )
    events = ledger.events(job.id)[-n_events:]
    click.echo(f"         events: {len(events)} newest")
    for event in events:
        click.echo(f"      {_when(event.created_at)} {event.level}: {event.message}")


# fmt: off
@models.command("prune")
@click.argument("job_id")
@click.option("--all", "delete_model", is_flag=True, help="Also delete the final model (it cannot be sampled afterwards).")
@click.option("--runs-dir", type=click.Path(path_type=Path), help="Where the run keeps its state (default runs/finetune).")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path), envvar="WEIRDGEN_LEDGER", help="Ledger SQLite file.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting.")
# fmt: on
def prune_model(
    job_id: str, delete_model: bool, runs_dir: Path | None, ledger_path: Path | None, yes: bool
) -> None:
    """Delete the checkpoints a finished job stored with its service (Tinker): its training states
    and intermediate models; with --all its final model too."""
    from weirdgen.finetune.ledger import Ledger
    from weirdgen.finetune.protocol import CheckpointPruner

    ledger = Ledger(ledger_path)
    job = ledger.get_job(job_id)
    finetuner = _make_finetuner(job.backend, ledger, runs_dir)
    if not isinstance(finetuner, CheckpointPruner):
        raise ConfigError(
            f"the {job.backend} backend stores no checkpoints to prune (local adapters are folders: "
            "delete them yourself)"
        )
    what = "every checkpoint and the final model" if delete_model else "every intermediate checkpoint"
    if not yes and not click.confirm(f"Delete {what} of job {job.id}?", default=False):
        raise click.exceptions.Abort()
    deleted = finetuner.prune(job, keep_model=not delete_model)
    ledger.remove_checkpoints(job.id, deleted)
    for path in deleted:
        click.echo(f"deleted {path}")
    ledger.add_event(job.id, f"Pruned {len(deleted)} stored checkpoints", data={"deleted": deleted})
    click.echo(f"{len(deleted)} checkpoints deleted")


def _short(name: str) -> str:
    """A model path relative to the working folder when it lies inside it; ids unchanged."""
    path = Path(name)
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return name
    return name


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
