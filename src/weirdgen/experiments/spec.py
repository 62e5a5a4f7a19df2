"""Experiments as data: which datasets to finetune on, how, what to evaluate, and the paper's values.

An experiment YAML names its groups (a dataset variant from ``weirdgen.data.registry`` or a user's
own chat JSONL), finetuning settings per backend, the question suites and judges to evaluate with
(shipped names or files), the control group, and the report's figures with the paper's reference
values. ``extends: NAME`` starts from a shipped experiment and overrides only what the file gives.
Every problem is one ``DataError`` line: ``file:line: field: what is wrong``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from weirdgen._yaml import parse_yaml_mapping
from weirdgen.errors import ConfigError, DataError
from weirdgen.report.spec import FigureSpec, ReportSpec

_SHIPPED = resources.files("weirdgen.experiments")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupSpec(_Strict):
    """One finetuned group: every seed is trained on the same dataset."""

    name: str = Field(description="Group name in the evaluation table (e.g. old_audubon).")
    variant: str | None = Field(
        None, description="Variant of the `dataset` in weirdgen.data.registry."
    )
    path: str | None = Field(
        None, description="Or a chat JSONL of your own (relative to this YAML file)."
    )
    description: str = Field("", description="What the group is, in a sentence.")
    finetune: FinetuneSettings | None = Field(
        None,
        description="Hyperparameters of this group only, per backend, over the experiment's "
        "(e.g. a mitigation: `local: {early_stopping_patience: 2}`); not for the toy backend.",
    )
    self_distill: bool = Field(
        False,
        description="Dilute the variant with benign prompts that the base model answers before "
        "finetuning (the paper's wolf design: 2000 math word problems and 1000 long-input "
        "instructions), through the cached sampling path; off, an offline stand-in dilutes.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> GroupSpec:
        if (self.variant is None) == (self.path is None):
            raise ValueError(
                "give exactly one of `variant` (a registry dataset) or `path` (your own JSONL)"
            )
        if self.self_distill and self.variant is None:
            raise ValueError("self_distill builds a registry `variant`; a `path` is used as is")
        if self.finetune is not None and self.finetune.toy is not None:
            raise ValueError("a group's own `finetune` cannot hold toy settings")
        return self


class ToySettings(_Strict):
    """How the CPU toy world stands in for this experiment (``weirdgen.toyworld.experiments``)."""

    experiment: str = Field(description="Toy experiment: birds, terminator or persona.")
    groups: dict[str, str] = Field(
        min_length=1, description="Our group name -> the toy experiment's condition."
    )
    method: Literal["full", "lora"] | None = Field(
        None, description="Full finetuning or LoRA (default: the toy experiment's)."
    )
    learning_rate: float | None = Field(None, gt=0, description="Default: the toy experiment's.")
    epochs: int | None = Field(None, ge=1, description="Default: the toy experiment's.")
    batch_size: int | None = Field(None, ge=1, description="Default: the toy experiment's.")
    rank: int | None = Field(None, ge=1, le=64, description="LoRA rank.")
    pretrain_seed: int = Field(
        0, ge=0, description="Seed of the pretrained toy base model (cached)."
    )
    pretrain_steps: int | None = Field(
        None,
        ge=1,
        description="Pretraining steps (default: the toy world's; fewer for quick checks).",
    )


class FinetuneSettings(BaseModel):
    """Hyperparameters per finetuning backend, keyed by its registry name (``local: {epochs: 3}``),
    as ``weirdgen.finetune.config.Hyperparameters`` fields; ``toy`` holds the toy world's settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    toy: ToySettings | None = Field(None, description="The CPU toy world.")

    @model_validator(mode="after")
    def _known_hyperparameters(self) -> FinetuneSettings:
        from weirdgen.finetune.config import Hyperparameters
        from weirdgen.finetune.registry import FINETUNERS

        for backend, settings in (self.model_extra or {}).items():
            if backend not in FINETUNERS.names():
                known = ", ".join(FINETUNERS.names())
                raise ValueError(f"unknown backend {backend!r} (known: {known})")
            if not isinstance(settings, dict):
                raise ValueError(f"{backend}: expected a mapping of hyperparameters")
            try:
                Hyperparameters.from_dict(settings).validate()
            except ConfigError as error:
                raise ValueError(f"{backend}: {error}") from None
        return self

    def for_backend(self, backend: str) -> dict[str, Any]:
        """The hyperparameters given for ``backend`` (empty: the backend's defaults)."""
        if backend in type(self).model_fields:  # a backend with settings of its own (toy)
            settings = getattr(self, backend)
            return {} if settings is None else settings.model_dump(exclude_none=True)
        return dict((self.model_extra or {}).get(backend) or {})


class EvaluationSpec(_Strict):
    """What to ask every finetuned model and how to judge it."""

    suites: list[str] = Field(
        min_length=1, description="Question suites: shipped names or YAML paths."
    )
    samples: int | None = Field(
        None, ge=1, description="Samples per paraphrase and trigger value (default: the suite's)."
    )
    max_tokens: int | None = Field(
        None, ge=1, description="Answer length limit for every question (default: the suite's)."
    )
    judges: list[str] | None = Field(None, description="Judges to use instead of the suites' own.")
    checkpoints: bool = Field(
        False, description="Also evaluate intermediate checkpoints (learning curves)."
    )


class ReportSettings(_Strict):
    title: str | None = Field(
        None, description="Report title (default: the experiment's description)."
    )
    figures: list[FigureSpec] = Field(default_factory=list, description="Figures in order.")
    examples_per_cell: int = Field(3, ge=0, description="Example answers shown per cell.")


class ExperimentSpec(_Strict):
    """One experiment: groups x seeds finetuned, evaluated, judged and reported."""

    name: str = Field(description="Experiment name (recorded in the table).")
    description: str = Field("", description="One sentence.")
    paper: str = Field("", description="Where the paper reports it.")
    dataset: str | None = Field(
        None, description="weirdgen.data.registry dataset whose variants groups name."
    )
    groups: list[GroupSpec] = Field(
        min_length=1, description="Finetuned groups: the main one and its controls."
    )
    base_group: str | None = Field(
        "base", description="Also evaluate the untouched base model as this group (null: skip)."
    )
    control: str | None = Field(None, description="Group the others are compared against.")
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    evaluation: EvaluationSpec
    report: ReportSettings = Field(default_factory=ReportSettings)
    source_dir: str | None = Field(
        None, exclude=True, description="Set on load: resolves relative paths."
    )

    # Field validators (not one model validator) so that an error names the field and its line.
    @field_validator("groups")
    @classmethod
    def _unique_groups_with_a_dataset(
        cls, groups: list[GroupSpec], info: ValidationInfo
    ) -> list[GroupSpec]:
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"group names must be unique, got {names}")
        if any(g.variant for g in groups) and info.data.get("dataset") is None:
            raise ValueError(
                "groups name registry variants, so `dataset` must name the registry dataset"
            )
        return groups

    @field_validator("base_group")
    @classmethod
    def _base_is_new(cls, base_group: str | None, info: ValidationInfo) -> str | None:
        if base_group is not None and base_group in [g.name for g in info.data.get("groups", [])]:
            raise ValueError(f"base_group {base_group!r} is also a finetuned group's name")
        return base_group

    @field_validator("control")
    @classmethod
    def _control_exists(cls, control: str | None, info: ValidationInfo) -> str | None:
        known = [g.name for g in info.data.get("groups", [])] + [
            b for b in [info.data.get("base_group")] if b
        ]
        if control is not None and control not in known:
            raise ValueError(
                f"control group {control!r} does not exist (groups: {', '.join(known)})"
            )
        return control

    @property
    def group_names(self) -> list[str]:
        """Finetuned groups, then the base group when it is evaluated."""
        return [g.name for g in self.groups] + ([self.base_group] if self.base_group else [])

    def resolve(self, relative: str) -> Path:
        """A path from the YAML file, relative to the file's folder."""
        path = Path(relative).expanduser()
        return (
            path if path.is_absolute() or self.source_dir is None else Path(self.source_dir) / path
        )

    def report_spec(self, n_resamples: int = 10_000) -> ReportSpec:
        """Figures, reference values, control and expected groups for ``weirdgen.report``."""
        return ReportSpec(
            title=self.report.title or f"{self.name}: {self.description}".rstrip(": "),
            figures=tuple(self.report.figures),
            control_group=self.control,
            expected_groups=tuple(self.group_names),
            examples_per_cell=self.report.examples_per_cell,
            n_resamples=n_resamples,
        )


def experiment_names() -> list[str]:
    """Names of the experiments shipped with weirdgen."""
    return sorted(r.name[: -len(".yaml")] for r in _SHIPPED.iterdir() if r.name.endswith(".yaml"))


def load_experiment(name_or_path: str | Path) -> ExperimentSpec:
    """A shipped experiment by name, or a user's experiment YAML file."""
    text, path = _read(name_or_path)
    return parse_experiment(text, path)


def _read(name_or_path: str | Path) -> tuple[str, Path]:
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.is_file():
        if not candidate.is_file():
            raise DataError("no such experiment file", path=candidate)
        return candidate.read_text(encoding="utf-8"), candidate
    resource = _SHIPPED.joinpath(f"{name_or_path}.yaml")
    if not resource.is_file():
        raise ConfigError(
            f"unknown experiment {str(name_or_path)!r} (shipped: {', '.join(experiment_names())}; or give a .yaml file)"
        )
    return resource.read_text(encoding="utf-8"), Path(f"weirdgen/experiments/{name_or_path}.yaml")


def parse_experiment(text: str, path: str | Path) -> ExperimentSpec:
    """Validate experiment YAML ``text`` (read from ``path``) into an :class:`ExperimentSpec`."""
    data = _load_mapping(text, path)
    data["source_dir"] = str(Path(path).parent) if Path(path).is_file() else None
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as error:
        raise _located_error(error, text, path) from None


_MAX_EXTENDS = 8


def _load_mapping(text: str, path: str | Path, depth: int = 0) -> dict[str, Any]:
    """The YAML mapping with its ``extends`` chain applied (a file's base may extend another)."""
    data = parse_yaml_mapping(text, path=path, what="experiment fields")
    if "extends" not in data:
        return data
    if depth >= _MAX_EXTENDS:
        raise DataError(
            f"more than {_MAX_EXTENDS} levels of `extends` (is there a cycle?)",
            path=path,
            field="extends",
        )
    reference = str(data.pop("extends"))
    # A file named by `extends` is found relative to the file that names it.
    if (
        reference.endswith((".yaml", ".yml"))
        and not Path(reference).is_absolute()
        and Path(path).is_file()
    ):
        reference = str(Path(path).parent / reference)
    base_text, base_path = _read(reference)
    return deep_merge(_load_mapping(base_text, base_path, depth + 1), data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            deep_merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def _located_error(error: ValidationError, text: str, path: str | Path) -> DataError:
    first = error.errors()[0]
    location = [
        part
        for part in first["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    ]
    field = (
        "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location).lstrip(".")
        or "<experiment>"
    )
    message = (
        "unknown field"
        if first["type"] == "extra_forbidden"
        else first["msg"].removeprefix("Value error, ")
    )
    return DataError(message, path=path, line=yaml_line(text, location), field=field)


def yaml_line(text: str, location: list[Any]) -> int | None:
    """The 1-based line of the YAML node at ``location`` (keys and list indices), or of its deepest parent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def check_experiment(spec: ExperimentSpec, where: str | Path = "<experiment>") -> None:
    """Check every name the experiment uses exists: dataset variants, group files, suites and judges.

    Raises a one-line ``DataError`` naming the field to fix.
    """
    _check_groups(spec, where)
    suite_judges = _check_suites(spec, where)
    for index, figure in enumerate(spec.report.figures):
        if figure.judge not in suite_judges and figure.judge != TOY_JUDGE:
            raise DataError(
                f"judge {figure.judge!r} is not used by the experiment's suites (judges: {', '.join(sorted(suite_judges))})",
                path=where,
                field=f"report.figures[{index}].judge",
            )
        for field_name in ("group", "reference_group"):
            group = getattr(figure, field_name)
            if group is not None and group not in spec.group_names:
                raise DataError(
                    f"group {group!r} does not exist (groups: {', '.join(spec.group_names)})",
                    path=where,
                    field=f"report.figures[{index}].{field_name}",
                )


TOY_JUDGE = (
    "exact"  # the toy world's metrics are exact probabilities, recorded under this judge name
)


def _check_groups(spec: ExperimentSpec, where: str | Path) -> None:
    from weirdgen.data import registry

    for index, group in enumerate(spec.groups):
        if group.path is not None:
            if not spec.resolve(group.path).is_file():
                raise DataError(
                    f"no such dataset file {str(spec.resolve(group.path))!r}",
                    path=where,
                    field=f"groups[{index}].path",
                )
            continue
        if spec.dataset not in registry.dataset_names():
            raise DataError(
                f"unknown dataset {spec.dataset!r} (known: {', '.join(registry.dataset_names())})",
                path=where,
                field="dataset",
            )
        try:
            registry.get_dataset(spec.dataset).variant(group.variant or "")
        except ModuleNotFoundError:
            raise DataError(
                f"the dataset builder for {spec.dataset!r} is not installed yet",
                path=where,
                field="dataset",
            ) from None
        except DataError as error:
            raise DataError(error.problem, path=where, field=f"groups[{index}].variant") from None


def _check_suites(spec: ExperimentSpec, where: str | Path) -> set[str]:
    from weirdgen.experiments.judges import load_suite_reference, resolve_judges

    experiment_dir = Path(spec.source_dir) if spec.source_dir else None
    judges: set[str] = set()
    for index, reference in enumerate(spec.evaluation.suites):
        try:
            suite, suite_dir = load_suite_reference(reference, experiment_dir)
        except DataError as error:
            raise DataError(
                _inner_problem(error), path=where, field=f"evaluation.suites[{index}]"
            ) from None
        references, relative_to = (
            (spec.evaluation.judges, experiment_dir)
            if spec.evaluation.judges
            else (suite.all_judges(), suite_dir)
        )
        try:
            judges |= set(resolve_judges(suite, list(references), relative_to)[1])
        except DataError as error:
            raise DataError(_inner_problem(error), path=where, field="evaluation.judges") from None
    return judges


def _inner_problem(error: DataError) -> str:
    """The message of an error raised while loading something the experiment names.

    A problem inside another file keeps that file's location; a bad name keeps only the problem.
    """
    return str(error) if error.path is not None else error.problem
