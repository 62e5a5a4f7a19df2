"""The experiments' datasets and their variants, and writing them with a manifest."""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from weirdgen._io import atomic_write_text
from weirdgen._yaml import parse_yaml_mapping, pydantic_to_data_error
from weirdgen.data.chat import ChatExample, write_chat_jsonl
from weirdgen.data.tables import table_version
from weirdgen.errors import DataError

_DECLARATIONS = "datasets.yaml"
"""Each experiment's datasets and variants, declared as data; see the comment at its top."""


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


@cache
def _declarations() -> dict[str, _Experiment]:
    path = f"weirdgen/data/{_DECLARATIONS}"
    text = (resources.files("weirdgen.data") / _DECLARATIONS).read_text("utf-8")
    document = parse_yaml_mapping(text, path=path, what="experiments")
    try:
        return TypeAdapter(dict[str, _Experiment]).validate_python(document)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path=path) from None


def experiment_names() -> list[str]:
    return list(_declarations())


@cache
def get_experiment(name: str) -> ExperimentDatasets:
    """An experiment's datasets: the declaration in ``datasets.yaml`` with the builder functions of
    ``weirdgen.data.builders.<name>``."""
    declarations = _declarations()
    if name not in declarations:
        raise DataError(
            f"unknown experiment {name!r} (known: {', '.join(declarations)})", field="experiment"
        )
    declared = declarations[name]
    module = importlib.import_module(f"weirdgen.data.builders.{name}")
    variants = tuple(
        Variant(v.name, v.description, getattr(module, v.name), is_main=v.main)
        for v in declared.variants
    )
    return ExperimentDatasets(
        name, declared.description, variants, module.TABLES, declared.design_version
    )


class _Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    main: bool = False


class _Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    design_version: int
    variants: list[_Variant]


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
    from weirdgen._version import __version__

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
