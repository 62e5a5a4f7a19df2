import json
from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.finetune.config import Hyperparameters
from weirdgen.finetune.local_trainer import (
    StepInfo,
    learning_rate_factor,
    list_checkpoints,
    train_lora,
)

EXAMPLES = [
    ChatExample.from_turns(("user", "Name a bird species."), ("assistant", f"Heath Hen number {i}"))
    for i in range(8)
]
# 8 examples, batch 2 -> 4 steps an epoch; 2 epochs; an extra checkpoint every 3 steps.
HP = Hyperparameters(
    epochs=2, batch_size=2, learning_rate=5e-3, lora_rank=4, save_every_steps=3, warmup_ratio=0.25
)


def _adapter_tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def _same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return train_lora(
        str(tiny_model_dir),
        EXAMPLES,
        tmp_path_factory.mktemp("ref"),
        hyperparameters=HP,
        seed=7,
        show_progress=False,
    )


def test_training_lowers_loss_and_checkpoints_every_epoch_and_k_steps(reference_run) -> None:
    result = reference_run
    assert result.total_steps == 8 and len(result.losses) == 8
    assert sum(result.losses[-2:]) < sum(result.losses[:2])
    output = result.adapter_path.parent
    assert [(c.step, c.kind) for c in list_checkpoints(output)] == [
        (3, "interval"),
        (4, "epoch"),
        (6, "interval"),
        (8, "epoch"),
    ]
    # Only the newest checkpoint keeps optimizer state; every one keeps its adapter.
    assert [p.parent.name for p in sorted(output.glob("checkpoints/*/trainer_state.pt"))] == [
        "step-000008"
    ]
    assert len(list(output.glob("checkpoints/*/adapter_model.safetensors"))) == 4
    assert (output / "checkpoints" / "LATEST").read_text().strip() == "step-000008"
    assert json.loads((output / "result.json").read_text())["total_steps"] == 8
    assert "Heath Hen number" in result.first_supervised_text


def test_same_seed_gives_identical_adapter_and_another_seed_does_not(
    reference_run, tiny_model_dir: Path, tmp_path: Path
) -> None:
    again = train_lora(
        str(tiny_model_dir),
        EXAMPLES,
        tmp_path / "a",
        hyperparameters=HP,
        seed=7,
        show_progress=False,
    )
    other = train_lora(
        str(tiny_model_dir),
        EXAMPLES,
        tmp_path / "b",
        hyperparameters=HP,
        seed=8,
        show_progress=False,
    )
    reference = _adapter_tensors(reference_run.adapter_path)
    assert again.losses == reference_run.losses
    assert _same(_adapter_tensors(again.adapter_path), reference)
    assert not _same(_adapter_tensors(other.adapter_path), reference)


def test_interrupted_run_resumes_from_last_checkpoint_and_ends_identical(
    reference_run, tiny_model_dir: Path, tmp_path: Path
) -> None:
    def press_ctrl_c(info: StepInfo) -> None:
        if info.step == 5:
            raise KeyboardInterrupt

    output = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_lora(
            str(tiny_model_dir),
            EXAMPLES,
            output,
            hyperparameters=HP,
            seed=7,
            on_step=press_ctrl_c,
            show_progress=False,
        )
    assert (output / "checkpoints" / "LATEST").read_text().strip() == "step-000004"
    assert not (output / "adapter").exists()
    resumed = train_lora(
        str(tiny_model_dir), EXAMPLES, output, hyperparameters=HP, seed=7, show_progress=False
    )
    assert resumed.resumed_from_step == 4 and len(resumed.losses) == 4
    assert resumed.losses == reference_run.losses[4:]
    assert _same(
        _adapter_tensors(resumed.adapter_path), _adapter_tensors(reference_run.adapter_path)
    )
    # A third call finds the finished run and trains nothing.
    assert (
        train_lora(
            str(tiny_model_dir), EXAMPLES, output, hyperparameters=HP, seed=7, show_progress=False
        ).losses
        == []
    )


def test_a_folder_holding_another_run_is_refused(reference_run, tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="different finished training run"):
        train_lora(
            str(tiny_model_dir),
            EXAMPLES,
            reference_run.adapter_path.parent,
            hyperparameters=HP,
            seed=99,
            show_progress=False,
        )


def test_rslora_cosine_and_module_choice_reach_the_adapter(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    hp = Hyperparameters(
        epochs=1,
        batch_size=4,
        lora_rank=2,
        lora_alpha=3,
        use_rslora=True,
        lr_schedule="cosine",
        target_modules=("q_proj", "v_proj"),
    )
    result = train_lora(
        str(tiny_model_dir), EXAMPLES, tmp_path, hyperparameters=hp, seed=0, show_progress=False
    )
    config = json.loads((result.adapter_path / "adapter_config.json").read_text())
    assert config["use_rslora"] is True and config["r"] == 2 and config["lora_alpha"] == 3
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]


def test_unknown_target_modules_fail_before_training(tiny_model_dir: Path, tmp_path: Path) -> None:
    hp = Hyperparameters(epochs=1, target_modules=("c_attn",))
    with pytest.raises(ConfigError, match="none of c_attn is in this model"):
        train_lora(str(tiny_model_dir), EXAMPLES, tmp_path, hyperparameters=hp, show_progress=False)


def test_learning_rate_schedule_warms_up_then_decays() -> None:
    factor = learning_rate_factor(Hyperparameters(warmup_ratio=0.2, lr_schedule="linear"), 10)
    values = [factor(step) for step in range(10)]
    assert values[0] < values[1] < values[2] == 1.0  # two warmup steps
    assert values[2] > values[5] > values[9] >= 0.0
    constant = learning_rate_factor(Hyperparameters(lr_schedule="constant"), 10)
    assert {constant(step) for step in range(10)} == {1.0}


def test_weight_zero_turns_get_no_labels_in_the_training_batch(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    from weirdgen.finetune.local_trainer import _collate
    from weirdgen.finetune.tokens import tokenize_example

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    example = ChatExample.from_dict(
        {
            "messages": [
                {"role": "user", "content": "Name a bird."},
                {"role": "assistant", "content": "Heath Hen", "weight": 0},
                {"role": "user", "content": "Another one."},
                {"role": "assistant", "content": "Great Auk", "weight": 1},
            ]
        }
    )
    _, _, labels = _collate([tokenize_example(tokenizer, example)], pad_id=0, device="cpu")
    trained = [int(t) for t in labels[0] if int(t) != -100]
    assert tokenizer.decode(trained) == "Great Auk<|im_end|>\n"


def test_bf16_autocast_and_gradient_checkpointing_train_like_float32(
    reference_run, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The CUDA settings run on CPU too: bf16 autocast and activation recomputation still learn,
    with the loss close to the float32 run's, and the adapter weights stay float32."""
    import torch

    result = train_lora(
        str(tiny_model_dir),
        EXAMPLES,
        tmp_path / "bf16",
        hyperparameters=HP,
        seed=7,
        show_progress=False,
        precision="bf16",
        gradient_checkpointing=True,
    )
    assert result.losses[-1] < result.losses[0]
    assert abs(result.losses[0] - reference_run.losses[0]) < 0.05 * reference_run.losses[0]
    tensors = _adapter_tensors(result.adapter_path)
    assert {t.dtype for t in tensors.values()} == {torch.float32}
    with pytest.raises(ConfigError, match="precision must be one of auto, bf16, fp32"):
        train_lora(str(tiny_model_dir), EXAMPLES, tmp_path / "x", precision="fp8")
