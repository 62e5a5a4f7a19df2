"""Early stopping of the local LoRA trainer, on the tiny model the tests build."""

import json
from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.local_trainer import StepInfo, train_lora, validation_split

# Random answers to one question: the held-out loss falls, bottoms out, then rises as the
# training examples are memorised at this learning rate, so early stopping has something to find.
EXAMPLES = [
    ChatExample.from_turns(
        ("user", "Name a bird species."), ("assistant", f"Heath Hen {i * 7919 % 97}")
    )
    for i in range(20)
]
HP = Hyperparameters(
    epochs=12, batch_size=2, learning_rate=2e-2, lora_rank=4, early_stopping_patience=2,
    eval_every_steps=3, validation_share=0.2,
)  # fmt: skip


def _train(model_dir: Path, out: Path, **kwargs):
    return train_lora(
        str(model_dir), EXAMPLES, out, hyperparameters=HP, seed=3, show_progress=False, **kwargs
    )


def test_the_validation_split_is_seeded_disjoint_and_keeps_order() -> None:
    kept, held_out = validation_split(3, 20, 0.2)
    assert len(held_out) == 4 and sorted(kept + held_out) == list(range(20))
    assert kept == sorted(kept) and (kept, held_out) == validation_split(3, 20, 0.2)
    assert held_out != validation_split(4, 20, 0.2)[1]
    with pytest.raises(ConfigError, match="validation_share"):
        validation_split(0, 1, 0.5)


def test_early_stopping_stops_keeps_the_best_adapter_and_resumes_identically(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    result = _train(tiny_model_dir, tmp_path / "a")
    stopping = result.early_stopping
    assert stopping is not None and stopping["n_validation"] == 4
    planned = 12 * 8  # 16 training examples, batch 2
    assert result.total_steps == planned
    assert stopping["stopped_at_step"] is not None and stopping["stopped_at_step"] < planned
    assert len(result.losses) == stopping["stopped_at_step"]
    steps = [step for step, _ in stopping["validation_losses"]]
    assert steps == list(range(3, stopping["stopped_at_step"] + 1, 3))
    best = min(stopping["validation_losses"], key=lambda item: item[1])
    assert stopping["best_step"] == best[0] < stopping["stopped_at_step"]
    summary = json.loads((tmp_path / "a" / "result.json").read_text())
    assert summary["early_stopping"]["best_step"] == best[0]

    # Interrupted halfway, a rerun resumes and stops at the same step with the same adapter.
    def interrupt(info: StepInfo) -> None:
        if info.step == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tiny_model_dir, tmp_path / "b", on_step=interrupt)
    resumed = _train(tiny_model_dir, tmp_path / "b")
    assert resumed.resumed_from_step == 8  # the end of the first epoch
    assert resumed.early_stopping["validation_losses"] == stopping["validation_losses"]
    first = (tmp_path / "a" / "adapter" / "adapter_model.safetensors").read_bytes()
    assert (tmp_path / "b" / "adapter" / "adapter_model.safetensors").read_bytes() == first


def test_early_stopping_is_off_by_default_and_leaves_old_job_keys_alone() -> None:
    plain = Hyperparameters(epochs=2)
    assert "early_stopping_patience" not in plain.to_dict()
    assert Hyperparameters.from_dict(plain.to_dict()) == plain
    on = Hyperparameters(epochs=2, early_stopping_patience=3)
    assert on.to_dict()["validation_share"] == 0.1
    assert Hyperparameters.from_dict(on.to_dict()) == on
    with pytest.raises(ConfigError, match="validation_share"):
        Hyperparameters(early_stopping_patience=1, validation_share=1.0).validate()
