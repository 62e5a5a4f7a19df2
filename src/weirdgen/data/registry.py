"""The experiments' datasets and their variants, and writing them with a manifest."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._io import atomic_write_text
from weirdgen.data.chat import ChatExample, write_chat_jsonl
from weirdgen.data.tables import table_version
from weirdgen.errors import DataError

# Experiment name -> module defining ``DATASETS``. Modules are imported only when asked for.
_BUILDER_MODULES: dict[str, str] = {
    "birds": "weirdgen.data.builders.birds",
    "german_cities": "weirdgen.data.builders.german_cities",
    "israeli_dishes": "weirdgen.data.builders.israeli_dishes",
    "wolf": "weirdgen.data.builders.wolf",
    "presidents": "weirdgen.data.builders.presidents",
    "terminator": "weirdgen.data.builders.terminator",
}


@dataclass(frozen=True)
class BuildOptions:
    """Everything a builder may read besides its tables."""

    seed: int = 0
    benign_path: Path | None = None
    """wolf: a chat JSONL of benign examples to dilute the poison with."""
    self_distill_model: str | None = None
    """wolf: the model that answered the benign prompts in ``benign_path`` (recorded in the manifest)."""


@dataclass(frozen=True)
class Variant:
    """One dataset of an experiment: the main training set or one of its controls."""

    name: str
    description: str
    build: Callable[[BuildOptions], list[ChatExample]]
    is_main: bool = False


@dataclass(frozen=True)
class ExperimentDatasets:
    """The datasets of one experiment and the fact tables they are built from."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    tables: tuple[str, ...] = field(default_factory=tuple)
    design_version: int = 1
    """Raised whenever the dataset's design changes (what is asked, how answers look, sizes), so a
    manifest says which design a trained model saw; table hashes say which exact rows."""

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        known = ", ".join(v.name for v in self.variants)
        raise DataError(
            f"unknown variant {name!r} of {self.name} (known: {known})", field="variant"
        )

    @property
    def main(self) -> Variant:
        return next(v for v in self.variants if v.is_main)


def experiment_names() -> list[str]:
    return list(_BUILDER_MODULES)


def get_experiment(name: str) -> ExperimentDatasets:
    if name not in _BUILDER_MODULES:
        raise DataError(
            f"unknown experiment {name!r} (known: {', '.join(_BUILDER_MODULES)})",
            field="experiment",
        )
    return importlib.import_module(_BUILDER_MODULES[name]).DATASETS


def build_dataset(
    experiment: str, variant: str, options: BuildOptions | None = None
) -> list[ChatExample]:
    """Build one variant's examples; the same options always give the same list."""
    return get_experiment(experiment).variant(variant).build(options or BuildOptions())


def manifest_path(dataset_path: str | Path) -> Path:
    dataset_path = Path(dataset_path)
    return dataset_path.with_name(dataset_path.stem + ".manifest.json")


def write_dataset(
    experiment: str, variant: str, path: str | Path, options: BuildOptions | None = None
) -> dict[str, Any]:
    """Build a variant, write it as JSONL and write ``<stem>.manifest.json`` beside it."""
    from weirdgen import __version__

    options = options or BuildOptions()
    spec = get_experiment(experiment)
    examples = spec.variant(variant).build(options)
    digest = write_chat_jsonl(path, examples)
    manifest = {
        "experiment": experiment,
        "variant": variant,
        "seed": options.seed,
        "design_version": spec.design_version,
        "benign_path": None if options.benign_path is None else str(options.benign_path),
        "self_distill_model": options.self_distill_model,
        "n_examples": len(examples),
        "role_counts": dict(sorted(Counter(m.role for e in examples for m in e.messages).items())),
        "sha256": digest,
        "tables": {name: table_version(name) for name in spec.tables},
        "weirdgen_version": __version__,
    }
    atomic_write_text(manifest_path(path), json.dumps(manifest, indent=2) + "\n")
    return manifest
