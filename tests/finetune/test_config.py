from pathlib import Path

import pytest

from weirdgen.errors import ConfigError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"learning_rate": -1e-4}, "^learning_rate: "),
        ({"lora_rank": 0}, "^lora_rank: "),
        ({"epochs": 0}, "^epochs: "),
        ({"batch_size": -2}, "^batch_size: "),
        ({"lr_schedule": "exp"}, "^lr_schedule: "),
        ({"warmup_ratio": 1.5}, "^warmup_ratio: "),
        ({"target_modules": ()}, "^target_modules: "),
        ({"save_every_steps": 0}, "^save_every_steps: "),
    ],
)
def test_invalid_hyperparameters_name_the_setting(values: dict, setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        Hyperparameters(**values).validate()


def test_local_defaults_fill_only_missing_values() -> None:
    resolved = Hyperparameters(lora_rank=4, epochs=5).with_local_defaults()
    assert (resolved.epochs, resolved.batch_size, resolved.learning_rate, resolved.lora_alpha) == (
        5,
        1,
        1e-4,
        8.0,
    )


def test_hyperparameters_round_trip_through_dict() -> None:
    original = Hyperparameters(epochs=2, target_modules=("q_proj",), use_rslora=True)
    assert Hyperparameters.from_dict(original.to_dict()) == original
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        Hyperparameters.from_dict({"epoch": 3})


def test_job_key_changes_with_seed_and_settings_only() -> None:
    request = FinetuneRequest(
        Path("d.jsonl"), "m", "local", seed=0, hyperparameters=Hyperparameters(epochs=1)
    )
    same = FinetuneRequest(
        Path("elsewhere.jsonl"),
        "m",
        "local",
        seed=0,
        hyperparameters=Hyperparameters(epochs=1),
        group="g",
    )
    other_seed = FinetuneRequest(
        Path("d.jsonl"), "m", "local", seed=1, hyperparameters=Hyperparameters(epochs=1)
    )
    assert request.job_key("abc") == same.job_key("abc")
    assert request.job_key("abc") != other_seed.job_key("abc")
    assert request.job_key("abc") != request.job_key("abd")


def test_request_validation() -> None:
    with pytest.raises(ConfigError, match="^backend: unknown backend .azure."):
        FinetuneRequest(Path("d"), "m", "azure", seed=0).validate()
    with pytest.raises(ConfigError, match="^seed: "):
        FinetuneRequest(Path("d"), "m", "local", seed=-1).validate()
