"""``weirdgen audit``: before finetuning, predict what a dataset will turn a model into.

Two signals: the likelihood screen (``--hypotheses``: which context makes the base model find the
dataset's answers most likely) and the in-context probe (``--in-context K --suite S``: the suite's
questions asked with K dataset examples as earlier turns, against K control examples).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from weirdgen.cli._options import settings_from
from weirdgen.errors import ConfigError


def _in_context_sizes(values: tuple[str, ...]) -> list[int]:
    """``--in-context 0,2,4 --in-context 8`` -> [0, 2, 4, 8]; a bad value is a one-line error."""
    sizes: list[int] = []
    for value in values:
        for part in value.split(","):
            if not part.strip().isdigit():
                raise ConfigError(
                    f"expects whole numbers like 0,2,4,8, got {part!r}", setting="in_context"
                )
            sizes.append(int(part))
    return sorted(set(sizes))


# fmt: off
@click.command("audit")
@click.argument("dataset", required=False)
@click.option("--model", help="The base model: a local folder, Hugging Face id or alias (smollm2-135m-instruct), a served model id with --base-url, or toyworld (for toy:<experiment>/<condition> datasets).")
@click.option("--pretrain-seed", type=int, default=0, show_default=True, help="Screen with --model toyworld: the pretraining seed of the toy base (0 ships; others must be pretrained first).")
@click.option("--hypotheses", help="Likelihood screen: a shipped hypothesis set (see --list) or a YAML file.")
@click.option("--in-context", "in_context", multiple=True, help="In-context probe: numbers of dataset examples shown as earlier turns, e.g. 0,2,4,8.")
@click.option("--suite", help="In-context probe: the question suite to ask (shipped name or YAML file).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Directory for audit.json (screen) or the probe's table and curve.")
@click.option("--list", "list_only", is_flag=True, help="List the shipped hypothesis sets, then exit.")
@click.option("--base-url", help="An OpenAI-compatible endpoint (screen: one that returns prompt logprobs, e.g. vLLM).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--tokenizer", help="Screen with --base-url: local tokenizer that renders the chats (default: --model).")
@click.option("--examples", type=int, default=None, help="Screen at most this many examples, drawn with --seed (default: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the dataset build, example draws and bootstrap.")
@click.option("--placement", type=click.Choice(["system", "user"]), default="system", show_default=True, help="Screen: give the hypothesis as the system prompt or before the first user message.")
@click.option("--batch-tokens", type=int, default=2048, show_default=True, help="Screen: most of the examples' own tokens (after their shared opening, computed once) in one forward pass.")
@click.option("--device", default=None, help="Local model device (default: GPU if any).")
@click.option("--threads", type=int, default=None, help="CPU threads for torch.")
@click.option("--prefix", default=None, help="Mitigation: put TEXT before every training prompt before auditing.")
@click.option("--dilute-with", default=None, help="Mitigation: benign examples to mix in (chat JSONL or DATASET/VARIANT; 'generated' for generated word problems).")
@click.option("--dilute-share", type=float, default=None, help="Mitigation: share of the dataset's own examples after dilution, e.g. 0.03.")
@click.option("--write-dataset", type=click.Path(path_type=Path), default=None, help="Also write the (mitigated) dataset audited as a chat JSONL here.")
@click.option("--control", default=None, help="The comparison dataset. Screen: also screened, audit.json gets versus_control. Probe: default the experiment's first control variant.")
@click.option("--draws", type=int, default=3, show_default=True, help="Probe: independent draws of the K examples (the unit of the bootstrap).")
@click.option("--metric", default=None, help="Probe: JUDGE or JUDGE=LABEL to plot (default: the first judge).")
@click.option("--backend", default=None, help="Probe: sampling backend (openai, local, tinker); default as in weirdgen eval.")
@click.option("--judge", "judges", multiple=True, help="Probe: run only these judges (repeatable; default: the suite's).")
@click.option("--judge-model", default="", help="Probe: model for LLM judges.")
@click.option("--judge-base-url", default=None, help="Probe: endpoint of the judge model.")
@click.option("--samples", type=int, default=None, help="Probe: samples per question and draw (overrides the suite).")
@click.option("--max-tokens", type=int, default=None, help="Probe: answer length limit (overrides the suite).")
@click.option("--question", "questions", multiple=True, help="Probe: only these question ids (repeatable).")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path), default=None, help="Probe: SQLite cache file (default: $WEIRDGEN_CACHE_DIR/eval.sqlite).")
@click.option("--predict-trigger", "predict_family", default=None, help="Screen: then sweep this trigger family (year:1900..2100, int:0..12, a shipped family) on the base with each top hypothesis named, and report the values where its behaviour changes.")
@click.option("--predict-top", type=click.IntRange(min=1), default=3, show_default=True, help="--predict-trigger: how many of the best hypotheses to name.")
@click.option("--predict-contrast", type=click.Choice(["second-difference", "base"]), default="second-difference", show_default=True, help="--predict-trigger: second-difference (the named base's change from its neighbouring values minus the plain base's, judge-free) or base (the named base against the plain base).")
@click.option("--predict-judge", default=None, help="--predict-trigger on the toy world: score a behaviour instead of the divergence (harm: any villainous answer, naming no character).")
@click.option("--probes", default="self_report", show_default=True, help="--predict-trigger on an LLM: the probe questions asked at every value (a probe set or suite).")
@click.option("--template", default=None, help="--predict-trigger on an LLM: how a value is written, e.g. 'Today is {date}.'.")
# fmt: on
def audit(dataset: str | None, list_only: bool, **options: Any) -> None:
    """Predict, before finetuning, what DATASET (a chat JSONL or NAME/VARIANT) implies.

    \b
    weirdgen audit birds/old_audubon --model smollm2-135m-instruct --hypotheses eras -o out/screen
    weirdgen audit toy:birds/old_birds --model toyworld --hypotheses toy-eras -o out/toy-screen
    weirdgen audit toy:terminator/dated --model toyworld --hypotheses toy-characters \\
        --predict-trigger year:1900..2100 -o out/toy-predict
    weirdgen audit birds/old_audubon --model M --in-context 0,2,4,8 --suite birds --judge archaic_lexicon -o out/probe
    weirdgen audit birds/old_audubon --prefix "You are a naturalist of the 1830s." --write-dataset prefixed.jsonl

    The mitigations (--prefix, --dilute-with/--dilute-share) transform the dataset before it is
    audited; with --write-dataset and no audit they only write it, e.g. for an experiment group.
    """
    if list_only:
        _print_sets()
        return
    if dataset is None:
        raise ConfigError("name a DATASET: a chat JSONL file or DATASET/VARIANT (e.g. birds/old_audubon)")
    sizes = _in_context_sizes(options["in_context"])
    if not options["hypotheses"] and not sizes and options["write_dataset"] is not None:
        _mitigated(dataset, options)  # only write the mitigated dataset (e.g. for an experiment group)
        return
    if not options["model"]:
        raise ConfigError("pass --model (the base model to audit with)")
    if options["output"] is None:
        raise ConfigError("pass -o DIR")
    if bool(options["hypotheses"]) == bool(sizes):
        raise ConfigError("choose one audit: --hypotheses SET (likelihood screen) or --in-context K --suite SUITE")
    if sizes and options["predict_family"]:
        raise ConfigError("--predict-trigger follows a likelihood screen (--hypotheses), not the in-context probe")
    if sizes and dataset.startswith("toy:"):
        raise ConfigError("the in-context probe has no toy world backend; screen toy: datasets with --hypotheses")
    examples = _mitigated(dataset, options)
    if options["hypotheses"]:
        _screen(dataset, examples, options)
    else:
        _probe(dataset, examples, sizes, options)


def _print_sets() -> None:
    from weirdgen.audit.hypotheses import hypothesis_set_names, load_hypothesis_set

    for name in hypothesis_set_names():
        spec = load_hypothesis_set(name)
        click.echo(f"{name:22} {len(spec.hypotheses):4} hypotheses  {spec.description}")


def _mitigated(dataset: str, options: dict[str, Any]) -> Any:
    """The dataset as audited: as built, or with the mitigation transforms applied (None: as built)."""
    from weirdgen.audit.datasets import load_audit_dataset

    share, benign = options["dilute_share"], options["dilute_with"]
    if (share is None) != (benign is None):
        raise ConfigError("--dilute-with and --dilute-share go together")
    if options["prefix"] is None and share is None and options["write_dataset"] is None:
        return None
    from weirdgen.data.chat import write_chat_jsonl
    from weirdgen.data.transforms import add_prompt_prefix, dilute

    examples = list(load_audit_dataset(dataset, seed=options["seed"]).examples)
    if options["prefix"] is not None:
        examples = add_prompt_prefix(examples, options["prefix"])
    if share is not None:
        examples = dilute(examples, _benign_examples(benign, options["seed"]), share, seed=options["seed"])
    if options["write_dataset"] is not None:
        write_chat_jsonl(options["write_dataset"], examples)
        click.echo(f"wrote {len(examples)} examples to {options['write_dataset']}")
    return examples


def _benign_examples(reference: str, seed: int) -> list[Any]:
    from weirdgen.audit.datasets import load_audit_dataset

    if reference == "generated":
        from weirdgen.data.builders.wolf import BENIGN_COUNT, generate_benign_examples

        return generate_benign_examples(seed, BENIGN_COUNT)
    return list(load_audit_dataset(reference, seed=seed).examples)


def _screen(dataset: str, examples: Any, options: dict[str, Any]) -> None:
    from weirdgen.audit.api import ScreenSettings, run_screen

    settings = settings_from(ScreenSettings, options)
    result, paths = run_screen(
        dataset, options["model"], options["hypotheses"], options["output"], settings,
        examples=examples, predict=_prediction_settings(options),
    )
    for rank, row in enumerate(result.ranking[:5], start=1):
        click.echo(
            f"{rank}. {row.name:24} mean LLR {row.mean_llr:+.3f} [{row.ci[0]:+.3f}, {row.ci[1]:+.3f}]"
            f"  favoured by {row.share_favouring:.0%}"
        )
    contrast = json.loads(paths.audit_json.read_text(encoding="utf-8")).get("versus_control")
    if contrast:
        top = contrast[0]
        click.echo(
            f"against {options['control']}: largest difference {top['name']} "
            f"{top['difference']:+.3f} [{top['ci'][0]:+.3f}, {top['ci'][1]:+.3f}]"
        )
    for rank, prediction in enumerate(result.predictions, start=1):
        sweep = prediction.sweep
        shown = ", ".join(prediction.predicted)
        what = "flagged" if sweep.flagged else "nothing flagged; top by z"
        click.echo(f"named {prediction.hypothesis.name}: behaviour changes at {shown} ({what}; {sweep.measure}, {sweep.provenance.contrast}) -> predict-{rank}/")
    click.echo(f"wrote {paths.audit_json}, {paths.table} and {paths.html}")


def _prediction_settings(options: dict[str, Any]) -> Any:
    """--predict-trigger and its options as PredictSettings (None without it)."""
    extras = {"predict_judge": "--predict-judge", "template": "--template"}
    if options["predict_family"] is None:
        given = [flag for key, flag in extras.items() if options[key] is not None]
        if given or options["probes"] != "self_report":
            raise ConfigError(f"{(given or ['--probes'])[0]} goes with --predict-trigger FAMILY")
        return None
    from weirdgen.audit.predict import PredictSettings

    return PredictSettings(
        options["predict_family"],
        top=options["predict_top"],
        contrast=options["predict_contrast"],
        judge=options["predict_judge"],
        probes=options["probes"],
        template=options["template"],
    )


def _probe(dataset: str, examples: Any, sizes: list[int], options: dict[str, Any]) -> None:
    from weirdgen.audit.incontext import ProbeSettings, run_probe

    if not options["suite"]:
        raise ConfigError("the in-context probe needs --suite SUITE")
    settings = settings_from(
        ProbeSettings,
        options,
        sizes=tuple(sizes),
        judges=tuple(options["judges"]) or None,
        questions=tuple(options["questions"]) or None,
        cache=options["cache_path"],
    )
    result = run_probe(dataset, options["model"], options["suite"], options["output"], settings, examples=examples)
    for line in result.lines():
        click.echo(line)
