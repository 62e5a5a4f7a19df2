"""The shipped datasets and their variants, one resolver for the names users give them, and
writing them with a manifest.

A dataset (``birds``) is what one experiment of the paper finetunes on: a main variant
(``old_audubon``) and its controls, each built from the fact tables by ``weirdgen.data.builders``.
Everywhere a dataset is asked for (``weirdgen finetune``, ``audit``, ``scan --dataset``), the user
names a chat JSONL file, ``DATASET/VARIANT`` or ``SOURCE:NAME`` of a dataset source (the toy world's
conditions, ``toy:birds/old_birds``, or a plugin's); ``resolve_dataset`` reads them all.

A dataset source is an entry point of the group ``weirdgen.dataset_sources``: its name is the
prefix, its object a function from the whole reference to a ``DatasetReference``. Later packages
provide sources this way (the toy world declares ``toy`` in pyproject.toml) without the first stage
importing them.
"""

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
from weirdgen.data.chat import ChatExample, read_chat_jsonl, write_chat_jsonl
from weirdgen.data.tables import table_version
from weirdgen.errors import DataError

_DECLARATIONS = "datasets.yaml"
"""Each dataset and its variants, declared as data; see the comment at its top."""


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
    """One variant of a dataset: the main training set or one of its controls."""

    name: str
    description: str
    build: Callable[[BuildOptions], list[ChatExample]]
    is_main: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its variants and the fact tables they are built from."""

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
def _declarations() -> dict[str, _Dataset]:
    path = f"weirdgen/data/{_DECLARATIONS}"
    text = (resources.files("weirdgen.data") / _DECLARATIONS).read_text("utf-8")
    document = parse_yaml_mapping(text, path=path, what="datasets")
    try:
        return TypeAdapter(dict[str, _Dataset]).validate_python(document)
    except ValidationError as error:
        raise pydantic_to_data_error(error, path=path) from None


def dataset_names() -> list[str]:
    """The shipped datasets, in declaration order."""
    return list(_declarations())


@cache
def get_dataset(name: str) -> DatasetSpec:
    """A dataset: its declaration in ``datasets.yaml`` with the builder functions of
    ``weirdgen.data.builders.<name>``."""
    declarations = _declarations()
    if name not in declarations:
        raise DataError(
            f"unknown dataset {name!r} (known: {', '.join(declarations)})", field="dataset"
        )
    declared = declarations[name]
    module = importlib.import_module(f"weirdgen.data.builders.{name}")
    variants = tuple(
        Variant(v.name, v.description, getattr(module, v.name), is_main=v.main)
        for v in declared.variants
    )
    return DatasetSpec(name, declared.description, variants, module.TABLES, declared.design_version)


class _Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    main: bool = False


class _Dataset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    design_version: int
    variants: list[_Variant]


def build_dataset(
    dataset: str, variant: str, options: BuildOptions | None = None
) -> list[ChatExample]:
    """Build one variant's examples; the same options always give the same list."""
    return get_dataset(dataset).variant(variant).build(options or BuildOptions())


def manifest_path(dataset_path: str | Path) -> Path:
    dataset_path = Path(dataset_path)
    return dataset_path.with_name(dataset_path.stem + ".manifest.json")


def write_dataset(
    dataset: str, variant: str, path: str | Path, options: BuildOptions | None = None
) -> dict[str, Any]:
    """Build a variant, write it as JSONL and write ``<stem>.manifest.json`` beside it."""
    from weirdgen._version import __version__

    options = options or BuildOptions()
    spec = get_dataset(dataset)
    examples = spec.variant(variant).build(options)
    digest = write_chat_jsonl(path, examples)
    manifest = {
        "dataset": dataset,
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


@dataclass(frozen=True)
class DatasetReference:
    """A dataset as a user names it: a chat JSONL file, ``DATASET/VARIANT`` of the registry, or one
    a dataset source builds."""

    name: str
    """The reference as given."""
    path: Path | None = None
    """The chat JSONL file; None for a registry variant or a source's dataset."""
    dataset: str = ""
    """The registry dataset, or ``SOURCE:DATASET`` ("" for a file)."""
    variant: str = ""
    build: Callable[[int], list[ChatExample]] | None = field(default=None, compare=False)
    """A dataset source's builder: seed -> examples (None for a file or a registry variant)."""

    def examples(self, seed: int = 0) -> list[ChatExample]:
        """The file's examples, or the variant built with ``seed``."""
        if self.path is not None:
            return read_chat_jsonl(self.path)
        if self.build is not None:
            return self.build(seed)
        return build_dataset(self.dataset, self.variant, BuildOptions(seed=seed))

    def file(self, folder: str | Path) -> Path:
        """The JSONL to train on: the file itself, or the variant written once (with its
        manifest) as ``folder/DATASET/VARIANT.jsonl`` (``SOURCE-DATASET`` for a source's)."""
        if self.path is not None:
            return self.path
        path = Path(folder) / self.dataset.replace(":", "-") / f"{self.variant}.jsonl"
        if path.is_file():
            return path
        if self.build is None:
            write_dataset(self.dataset, self.variant, path)
            return path
        examples = self.build(0)
        manifest = {"dataset": self.dataset, "variant": self.variant, "seed": 0}
        manifest |= {"n_examples": len(examples), "sha256": write_chat_jsonl(path, examples)}
        atomic_write_text(manifest_path(path), json.dumps(manifest, indent=2) + "\n")
        return path


SOURCES_GROUP = "weirdgen.dataset_sources"
"""The entry-point group of dataset sources (name: the prefix before ``:``)."""


@cache
def dataset_sources() -> dict[str, Callable[[str], DatasetReference]]:
    """Every installed dataset source by prefix (loaded on first use)."""
    from importlib.metadata import entry_points

    return {point.name: point.load() for point in entry_points(group=SOURCES_GROUP)}


def resolve_dataset(reference: str | Path) -> DatasetReference:
    """The one reading of a dataset name: a chat JSONL file when the path exists or ends in
    ``.jsonl``, ``SOURCE:NAME`` of an installed dataset source, else ``DATASET/VARIANT`` of the
    registry; a one-line error names what is wrong."""
    name = str(reference)
    path = Path(name).expanduser()
    if path.exists() or name.endswith(".jsonl"):
        return DatasetReference(name, path)
    source, colon, _ = name.partition(":")
    if colon and "/" not in source:
        sources = dataset_sources()
        if source not in sources:
            known = ", ".join(f"{s}:" for s in sorted(sources)) or "none installed"
            raise DataError(
                f"unknown dataset source {source!r} (sources: {known})", field="dataset"
            )
        return sources[source](name)
    dataset, slash, variant = name.partition("/")
    if not slash or not variant or "/" in variant:
        raise DataError(
            f"{name!r} is neither a chat JSONL file nor DATASET/VARIANT (e.g. birds/old_audubon)",
            field="dataset",
        )
    get_dataset(dataset).variant(variant)  # one-line errors naming the known datasets, variants
    return DatasetReference(name, None, dataset, variant)
