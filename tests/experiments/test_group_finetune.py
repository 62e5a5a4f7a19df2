"""A group's own finetuning settings (a mitigation such as early stopping, as an extra group)."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from weirdgen.experiments.finetuning import finetune_requests
from weirdgen.experiments.options import RunOptions
from weirdgen.experiments.spec import GroupSpec, load_experiment

EXAMPLE = Path(__file__).parents[2] / "examples" / "09_mitigations" / "experiment.yaml"


def test_a_group_overrides_the_experiments_hyperparameters_for_itself_only(tmp_path) -> None:
    spec = load_experiment(EXAMPLE)
    datasets = {group.name: tmp_path / f"{group.name}.jsonl" for group in spec.groups}
    options = RunOptions(backend="local", base_model="smollm2-135m-instruct")
    requests = {r.tags["group"]: r for r in finetune_requests(spec, datasets, options, tmp_path)}
    stopped = requests["old_audubon_early_stop"].hyperparameters
    plain = requests["old_audubon"].hyperparameters
    assert (stopped.early_stopping_patience, stopped.eval_every_steps) == (2, 25)
    assert plain.early_stopping_patience is None
    assert stopped.epochs == plain.epochs  # the rest is the experiment's (birds') settings


def test_a_groups_settings_are_validated() -> None:
    with pytest.raises(ValidationError, match="early_stoping"):
        GroupSpec(name="a", variant="v", finetune={"local": {"early_stoping": 2}})
    with pytest.raises(ValidationError, match="toy"):
        GroupSpec(
            name="a",
            variant="v",
            finetune={"toy": {"experiment": "birds", "groups": {"a": "old_birds"}}},
        )
