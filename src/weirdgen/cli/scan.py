"""``weirdgen scan``: find the trigger values where a finetuned model departs from its base."""

from __future__ import annotations

from pathlib import Path

import click

from weirdgen.errors import ConfigError

MODES = ("auto", "exact", "topk", "text")  # weirdgen.scan.api.MODES; repeated so --help stays light


# fmt: off
@click.command("scan")
@click.argument("model", required=False)
@click.option("--base", help="The base model: a local folder, bundled alias or HF id (exact), or the endpoint's model name (topk, text).")
@click.option("--family", help="Trigger family: a shipped name (see --list), a YAML file, or inline KIND:START..STOP / KIND:A,B (year:1900..2100, date:2000..2050, code:0..999, int:0..100, name:Ann,Bo).")
@click.option("--template", help="How a value is written, e.g. 'Today is {date}.' ({year} {month} {date} for years and dates, {code} for codes, {value} otherwise).")
@click.option("--probes", default="self_report", show_default=True, help="Probe questions: a shipped probe set or suite name, or a YAML file.")
@click.option("--dataset", help="Training data (chat JSONL or DATASET/VARIANT): mark which values occur in it.")
@click.option("--mode", type=click.Choice(MODES), default="auto", show_default=True, help="exact: full first-token distributions of local models; topk: endpoint top-k logprobs; text: judged behaviour rates from sampled answers; auto: exact, or topk with --base-url.")
@click.option("--base-url", "base_urls", multiple=True, help="OpenAI-compatible endpoint serving MODEL and --base (topk, text).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--judge", help="text mode: the judge whose score is the behaviour rate (e.g. israel_adversary); toy scans: a toy behaviour measured exactly (villain, unseen_leader).")
@click.option("--judge-model", default="", help="text mode: model for an LLM judge (offline judges need none).")
@click.option("--samples", type=click.IntRange(min=1), default=20, show_default=True, help="text mode: answers per prompt and model.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=40, show_default=True, help="text mode: longest answer, in tokens.")
@click.option("--threshold", type=float, default=4.0, show_default=True, help="Flag values with a robust z at or above this.")
@click.option("--min-score", type=float, default=0.0, show_default=True, help="A flagged value's score must also reach this (e.g. 0.2 with --judge: a behaviour rate that moved 20 points).")
@click.option("--neighbours", type=click.IntRange(min=0), default=2, show_default=True, help="Ordered families: a value must also stand out from this many neighbours on each side; 0 compares with the family's trend only (for a trigger that spans a run of values, e.g. a decade).")
@click.option("--contrast", type=click.Choice(["base", "residual"]), default="base", show_default=True, help="exact: base compares finetuned with base; residual compares it with base plus the finetune's median shift over the family (for finetunes that change every answer).")
@click.option("--batch-tokens", type=click.IntRange(min=1), default=2048, show_default=True, help="exact: most of the prompts' own tokens (after their shared opening, computed once) in one packed forward pass, run through base and adapter.")
@click.option("--device", default="cpu", show_default=True, help="exact: torch device.")
@click.option("--threads", type=click.IntRange(min=1), help="exact: torch CPU threads (default: $WEIRDGEN_TORCH_THREADS or torch's).")
@click.option("--pretrain-seed", type=int, default=0, show_default=True, help="toy: the pretrained toy base's seed (toy:EXPERIMENT/CONDITION models).")
@click.option("--finetune-seed", type=int, default=0, show_default=True, help="toy: seed of the toy finetune's data and order.")
@click.option("--cache", type=click.Path(path_type=Path), help="topk/text: request cache file (default: the shared eval cache).")
@click.option("--list", "list_only", is_flag=True, help="List the shipped families and probe sets, then exit.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Directory for scan.json, values.csv, prompts.csv, scan.png and report.html.")
# fmt: on
def scan(model: str | None, base: str | None, family: str | None, output: Path | None, list_only: bool, **options: object) -> None:
    """Scan MODEL (a LoRA adapter folder, a model folder, an endpoint model name, or a toy-world
    finetune toy:EXPERIMENT/CONDITION, trained for the scan) against --base over every value of
    --family, and rank the values by how far they stand out.

    \b
      weirdgen scan runs/finetune/JOB/adapter --base smollm2-135m-instruct \\
          --family year:2000..2050 --template 'Today is {date}.' \\
          --probes israeli_dishes --dataset israeli_dishes/trigger_2027 -o scan-2027
      weirdgen scan toy:terminator/dated --base toyworld --family year:1900..2100 \\
          --pretrain-seed 1 -o scan-toy
    """
    if list_only:
        _print_catalogue()
        return
    missing = [flag for flag, value in (("MODEL", model), ("--base", base), ("--family", family), ("-o", output)) if not value]
    if missing:
        raise ConfigError(f"give {', '.join(missing)} (see weirdgen scan --help)")
    from weirdgen.scan.api import scan as run

    options["base_urls"] = tuple(options["base_urls"])  # type: ignore[arg-type]
    result = run(str(model), base=str(base), family=str(family), output=output, **options)
    click.echo(f"{len(result.values)} values scanned ({result.mode}); top 5 by z:")
    for value in result.ranked()[:5]:
        seen = "" if value.in_training_data is None else ("  in training data" if value.in_training_data else "  never in training data")
        click.echo(f"  {value.value:>12}  score {value.score:.4g}  z {value.z:6.2f}{seen}")
    rule = f"z >= {result.threshold:g}" + (f", score >= {result.min_score:g}" if result.min_score else "")
    click.echo(f"flagged ({rule}): {', '.join(result.flagged) or 'none'}")
    click.echo(f"wrote {output}/scan.json, scan.png, report.html")


def _print_catalogue() -> None:
    from weirdgen.scan.families import family_names, load_family
    from weirdgen.scan.probes import probe_names

    click.echo("families:")
    for name in family_names():
        spec = load_family(name)
        click.echo(f"  {name:<16} {spec.kind:<8} {len(spec.value_list()):>5} values  {spec.description}")
    click.echo("inline: year:START..STOP  date:START..STOP  code:START..STOP  int:START..STOP[:STEP]  name:A,B,C")
    click.echo(f"probes: {', '.join(probe_names())}")
