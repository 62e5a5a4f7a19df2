"""``weirdgen serve``: an OpenAI-compatible HTTP server over a local model and its LoRA adapters."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from weirdgen.errors import ConfigError, MissingDependencyError


def _parse_adapters(values: tuple[str, ...]) -> dict[str, str]:
    adapters: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--adapter expects NAME=PATH (a PEFT adapter folder), got {value!r}")
        if name in adapters:
            raise ConfigError(f"--adapter {name!r} is given twice")
        adapters[name] = path
    return adapters


def _default_name(model: str) -> str:
    """The base model's id when --name is not given: a folder's own name (clients never see the
    server's paths), else the name or alias as given."""
    return Path(model).name if Path(model).is_dir() and Path(model).name else model


# fmt: off
@click.command()
@click.option("--model", "-m", "model", default=None, help="Base model: a folder, a Hugging Face id, or smollm2-135m-instruct (bundled). Required unless --engine vllm.")
@click.option("--adapter", "adapter_specs", multiple=True, metavar="NAME=PATH", help="A LoRA adapter folder served as model NAME. Repeatable.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--name", default=None, help="The base model's id in /v1/models (default: the --model value; a model folder is served under the folder's own name).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda if available).")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None, help="Weight dtype (default: float32 on CPU, bfloat16 on GPU).")
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch CPU threads (default: torch's).")
@click.option("--max-batch-size", type=click.IntRange(1), default=32, show_default=True, help="Most completions generated together in one batch.")
@click.option("--max-loaded-adapters", type=click.IntRange(1), default=8, show_default=True, help="Adapters kept in memory at once; others load when a request names them (least recently used ones make room).")
@click.option("--fine-tuning/--no-fine-tuning", default=True, show_default=True, help="Also serve OpenAI's files and fine-tuning API, training LoRA adapters locally.")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True, help="Largest request body accepted (413 beyond it); file uploads may be larger.")
@click.option("--engine", type=click.Choice(["weirdgen", "vllm"]), default="weirdgen", show_default=True, help="weirdgen's own server, or vLLM's (pip install vllm) over the ledger's adapters of --group.")
@click.option("--group", default=None, metavar="EXPERIMENT/GROUP", help="--engine vllm: serve every finished adapter of this ledger group.")
@click.option("--ledger", "ledger_path", type=click.Path(path_type=Path), default=None, help="--engine vllm: a ledger file or a `weirdgen run` directory (default: the shared ledger).")
@click.option("--dry-run", is_flag=True, help="--engine vllm: print the vllm command instead of starting it.")
# fmt: on
def serve(
    model: str,
    adapter_specs: tuple[str, ...],
    host: str,
    port: int,
    name: str | None,
    device: str | None,
    dtype: str | None,
    threads: int | None,
    max_batch_size: int,
    max_loaded_adapters: int,
    fine_tuning: bool,
    max_body_mb: float,
    engine: str,
    group: str | None,
    ledger_path: Path | None,
    dry_run: bool,
) -> None:
    """Serve MODEL and its adapters at http://HOST:PORT/v1 (chat completions, responses, models)
    until Ctrl-C.

    Any OpenAI client works: set its base URL to the printed address and any API key. The request's
    "model" field picks the base model or an adapter; concurrent requests are generated in one batch.
    """
    if engine == "vllm":
        _serve_with_vllm(group, ledger_path, host, port, dry_run)
        return
    if model is None:
        raise ConfigError("--model is required (or --engine vllm --group EXPERIMENT/GROUP)")
    from weirdgen.models.resolve import resolve_model
    from weirdgen.models.sampler import LocalSampler

    try:
        from weirdgen.serve.background import run_server
    except ImportError as error:
        raise MissingDependencyError(
            f"weirdgen serve needs {error.name or 'fastapi and uvicorn'}: pip install fastapi uvicorn"
        ) from None

    adapters = _parse_adapters(adapter_specs)
    folder = resolve_model(model)  # bad names fail here, before anything slow starts
    click.echo(f"loading {model} from {folder} ...", err=True)
    sampler = LocalSampler.from_pretrained(
        folder,
        adapters=adapters,  # checked now, loaded when first asked for
        device=device,
        dtype=dtype,
        threads=threads,
        base_name=name or _default_name(model),
        max_batch_size=max_batch_size,
        max_loaded_adapters=max_loaded_adapters,
        load_adapters=False,
    )

    def ready() -> None:
        names = sampler.model_names
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        click.echo(f"serving {shown} at http://{host}:{port}/v1", err=True)

    # uvicorn has shut down cleanly by the time the interrupt reaches us; it only ends the command.
    with contextlib.suppress(KeyboardInterrupt):
        run_server(
            sampler,
            host=host,
            port=port,
            on_ready=ready,
            fine_tuning=fine_tuning,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
        )
    click.echo("server stopped", err=True)


def _serve_with_vllm(
    group: str | None, ledger_path: Path | None, host: str, port: int, dry_run: bool
) -> None:
    """Print, or replace this process with, ``vllm serve`` over the group's adapters."""
    import os
    import shlex
    import shutil

    from weirdgen.finetune.ledger import Ledger
    from weirdgen.serve.vllm import group_adapters, vllm_command

    if not group:
        raise ConfigError("--engine vllm needs --group EXPERIMENT/GROUP (see `weirdgen models`)")
    if ledger_path is not None and ledger_path.is_dir():
        ledger_path = ledger_path / "ledger.sqlite"
    if ledger_path is not None and not ledger_path.is_file():
        raise ConfigError(f"--ledger {ledger_path}: no such ledger file")
    command = vllm_command(group_adapters(Ledger(ledger_path), group), host=host, port=port)
    if dry_run:
        click.echo(shlex.join(command))
        return
    if shutil.which("vllm") is None:
        raise MissingDependencyError("--engine vllm needs vLLM on PATH: pip install vllm")
    click.echo(f"starting: {shlex.join(command)}", err=True)
    os.execvp(command[0], command)
