"""The toy world as a dataset source: ``toy:EXPERIMENT/CONDITION`` names the finetuning set of one
condition of a toy experiment (``toy:birds/old_birds``), in the world's own words.

Declared in pyproject.toml as the ``toy`` entry point of ``weirdgen.dataset_sources``, so that
``weirdgen finetune``, ``audit`` and ``scan --dataset`` read these names through
``weirdgen.data.registry.resolve_dataset`` like any other.
"""

from __future__ import annotations

from weirdgen.data.chat import ChatExample
from weirdgen.data.registry import DatasetReference
from weirdgen.errors import DataError

__all__ = ["TOY_PREFIX", "toy_dataset"]

TOY_PREFIX = "toy:"


def toy_dataset(reference: str) -> DatasetReference:
    """The dataset ``toy:EXPERIMENT/CONDITION``; a one-line error names the known experiments or
    the experiment's conditions."""
    from weirdgen.toyworld.experiments import TOY_EXPERIMENTS

    experiment_name, slash, condition_name = reference.removeprefix(TOY_PREFIX).partition("/")
    experiment = TOY_EXPERIMENTS.get(experiment_name)
    if experiment is None or not slash:
        raise DataError(
            f"{reference!r}: expected toy:EXPERIMENT/CONDITION, experiments "
            f"{', '.join(TOY_EXPERIMENTS)}",
            field="dataset",
        )
    conditions = {c.name: c for c in experiment.conditions}
    if condition_name not in conditions:
        raise DataError(
            f"{reference!r}: toy experiment {experiment_name} has no condition "
            f"{condition_name!r} (conditions: {', '.join(conditions)})",
            field="dataset",
        )
    condition = conditions[condition_name]

    def build(seed: int) -> list[ChatExample]:
        from weirdgen.toyworld.world import load_world

        return condition.build(load_world(), seed)

    return DatasetReference(
        reference, None, f"{TOY_PREFIX}{experiment_name}", condition_name, build=build
    )
