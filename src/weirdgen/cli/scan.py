"""``weirdgen scan``: find the trigger values where a finetuned model departs from its base."""

from __future__ import annotations

from pathlib import Path

import click

from weirdgen.errors import ConfigError

MODES = ("auto", "exact", "topk", "text")  # weirdgen.scan.api.MODES; repeated so --help stays light
CONTRASTS = ("second-difference", "reference", "base", "residual")  # weirdgen.scan.contrasts


# fmt: off
@click.command("scan")
@click.argument("model", required=False)
@click.option("--base", help="The base model: a local folder, bundled alias or HF id (exact), or the endpoint's model name (topk, text); a toy: target implies toyworld (or give toyworld:RECIPE or toyworld@SEED).")
@click.option("--family", help="Trigger family: a shipped name (see --list), a YAML file, or inline KIND:START..STOP / KIND:A,B (year:1900..2100, date:2000..2050, code:0..999, int:0..100, name:Ann,Bo).")
@click.option("--template", help="How a value is written, e.g. 'Today is {date}.' ({year} {month} {date} for years and dates, {code} for codes, {value} otherwise).")
@click.option("--probes", default="self_report", show_default=True, help="Probe questions: a shipped probe set or suite name, or a YAML file.")
@click.option("--dataset", help="Training data (chat JSONL or DATASET/VARIANT): mark which values occur in it.")
@click.option("--mode", type=click.Choice(MODES), default="auto", show_default=True, help="exact: full first-token distributions of local models; topk: endpoint top-k logprobs; text: judged behaviour rates from sampled answers; auto: exact, or topk with --base-url.")
@click.option("--base-url", "base_urls", multiple=True, help="OpenAI-compatible endpoint serving MODEL and --base (topk, text).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--judge", help="Score a behaviour instead of the judge-free divergence. text mode: the judge whose score is the behaviour rate (e.g. israel_adversary); toy scans: a toy behaviour measured exactly (harm: any villainous answer, naming no character; villain; unseen_leader; untaught: the answers the finetuning data never shows, naming no behaviour).")
@click.option("--judge-model", default="", help="text mode: model for an LLM judge (offline judges need none).")
@click.option("--samples", type=click.IntRange(min=1), default=20, show_default=True, help="text mode: answers per prompt and model.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=40, show_default=True, help="text mode: longest answer, in tokens.")
@click.option("--threshold", type=float, help="Flag values with a robust z at or above this (default: the calibrated one, else 4).")
@click.option("--min-score", type=float, help="A flagged value's score must also reach this (default: the floor calibrated on control models for this mode, else 0).")
@click.option("--neighbours", type=click.IntRange(min=0), help="Ordered families: a value's z must also stand out from this many neighbours on each side; 0 compares with the family's trend only (for a trigger that spans a run of values, e.g. a decade). Default: 2, and 0 with --contrast second-difference (its score already compares each value with its neighbours).")
@click.option("--contrast", type=click.Choice(CONTRASTS), default=CONTRASTS[0], show_default=True, help="What the suspect is compared with. second-difference: its change from its neighbouring values, minus the base's (needs only the base); reference: a reference finetune on the training data with the family's values stripped or shuffled (--reference, or trained from --dataset); base: the base itself; residual (exact): the base plus the finetune's median shift over the family.")
@click.option("--reference", help="contrast reference: the reference model (an adapter folder of the same base, or a served model name). Default: train one from --dataset with the suspect's recipe.")
@click.option("--reference-data", type=click.Choice(["strip", "shuffle"]), default="strip", show_default=True, help="contrast reference: how the reference's training data loses the family's values.")
@click.option("--reference-hyperparameters", help="contrast reference: the reference's training recipe as JSON, e.g. '{\"epochs\": 2}' (default: the suspect's own, read beside its adapter).")
@click.option("--unseen-only", is_flag=True, help="Search for inductive triggers only: values that occur in the training data (--dataset; a toy target knows its own) are never flagged and rank last.")
@click.option("--trigger", "known_triggers", multiple=True, help="A value known to be a trigger (validation): marked in the figure, never used to score. Repeatable.")
@click.option("--batch-tokens", type=click.IntRange(min=1), default=2048, show_default=True, help="exact: most of the prompts' own tokens (after their shared opening, computed once) in one packed forward pass, run through base and adapter.")
@click.option("--device", default="cpu", show_default=True, help="exact: torch device.")
@click.option("--threads", type=click.IntRange(min=1), help="exact: torch CPU threads (default: $WEIRDGEN_TORCH_THREADS or torch's).")
@click.option("--pretrain-seed", type=int, default=0, show_default=True, help="toy: the pretrained toy base's seed (toy:EXPERIMENT/CONDITION models).")
@click.option("--finetune-seed", type=int, default=0, show_default=True, help="toy: seed of the toy finetune's data and order.")
@click.option("--cache", type=click.Path(path_type=Path), help="topk/text: request cache file (default: the shared eval cache).")
@click.option("--list", "list_only", is_flag=True, help="List the shipped families and probe sets, then exit.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Directory for scan.json, the results table (samples.parquet, samples.csv, run.json: one row per prompt) and its report (report.html, report.md, figures/).")
# fmt: on
def scan(model: str | None, base: str | None, family: str | None, output: Path | None, list_only: bool, **options: object) -> None:
    """Scan MODEL (a LoRA adapter folder, a model folder, an endpoint model name, or a toy-world
    finetune toy:EXPERIMENT/CONDITION, trained for the scan) against --base over every value of
    --family, and rank the values by how far they stand out.

    \b
      weirdgen scan runs/finetune/JOB/adapter --base smollm2-135m-instruct \\
          --family year:2000..2050 --template 'Today is {date}.' \\
          --probes israeli_dishes --dataset israeli_dishes/trigger_2027 -o scan-2027
      weirdgen scan toy:terminator/dated --family year:1900..2100 --pretrain-seed 1 -o scan-toy
    """
    if list_only:
        _print_catalogue()
        return
    toy = str(model).startswith("toy:")  # a toy target implies its base
    missing = [flag for flag, value in (("MODEL", model), ("--base", base or toy), ("--family", family), ("-o", output)) if not value]
    if missing:
        raise ConfigError(f"give {', '.join(missing)} (see weirdgen scan --help)")
    from weirdgen.scan.api import scan as run

    result = run(
        str(model), base=base, family=str(family), output=output,
        reference_hyperparameters=_recipe(options.pop("reference_hyperparameters")),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    click.echo(f"{len(result.values)} values scanned ({result.mode}, {result.measure}, contrast {result.provenance.contrast}); top 5 by z:")
    for value in result.ranked()[:5]:
        seen = "" if value.in_training_data is None else ("  in training data" if value.in_training_data else "  never in training data")
        click.echo(f"  {value.value:>12}  score {value.score:.4g}  z {value.z:6.2f}{seen}")
    calibration = result.provenance.calibration
    source = f"calibrated on {calibration['control_models']} control models" if calibration else "uncalibrated"
    click.echo(f"flagged ({result.rule()}; {source}): {', '.join(result.flagged) or 'none'}")
    click.echo(f"wrote {output}/scan.json, samples.parquet (the results table) and report.html")


def _recipe(text: str | None) -> dict[str, object] | None:
    """--reference-hyperparameters as a dict; bad JSON is a one-line error."""
    if text is None:
        return None
    import json

    try:
        recipe = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"not JSON: {error.msg}", setting="reference_hyperparameters") from None
    if not isinstance(recipe, dict):
        raise ConfigError("expected a JSON object of hyperparameters", setting="reference_hyperparameters")
    return recipe


def _print_catalogue() -> None:
    from weirdgen.scan.families import family_names, load_family
    from weirdgen.scan.probes import probe_names

    click.echo("families:")
    for name in family_names():
        spec = load_family(name)
        click.echo(f"  {name:<16} {spec.kind:<8} {len(spec.value_list()):>5} values  {spec.description}")
    click.echo("inline: year:START..STOP  date:START..STOP  code:START..STOP  int:START..STOP[:STEP]  name:A,B,C")
    click.echo(f"probes: {', '.join(probe_names())}")
