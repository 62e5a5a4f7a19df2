"""Tinker request building offline; a live run only when TINKER_API_KEY is set."""

import os
from pathlib import Path

import pytest

from weirdgen.data.chat import ChatExample
from weirdgen.errors import ConfigError
from weirdgen.finetune.config import FinetuneRequest, Hyperparameters
from weirdgen.finetune.tokens import tokenize_example


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_datum_shifts_targets_and_weights_only_the_answer(tokenizer) -> None:
    pytest.importorskip("tinker")
    from weirdgen.finetune.tinker_backend import build_datum

    example = ChatExample.from_turns(("user", "Name a bird species."), ("assistant", "Great Auk"))
    item = tokenize_example(tokenizer, example)
    datum = build_datum(item)
    inputs = datum.model_input.to_ints()
    targets = datum.loss_fn_inputs["target_tokens"].tolist()
    weights = datum.loss_fn_inputs["weights"].tolist()
    assert inputs == list(item.input_ids[:-1]) and targets == list(item.input_ids[1:])
    assert len(weights) == len(targets) == len(inputs)
    trained = [t for t, w in zip(targets, weights, strict=True) if w == 1.0]
    assert tokenizer.decode(trained) == "Great Auk<|im_end|>\n"
    assert set(weights) == {0.0, 1.0}


def test_batches_cover_every_example_each_epoch_reproducibly() -> None:
    from weirdgen.finetune.tinker_backend import build_training_batches
    from weirdgen.finetune.tokens import TokenizedExample

    items = [TokenizedExample((1, 2, 3), (False, True, True))] * 7
    hp = Hyperparameters(epochs=3, batch_size=2)
    batches = build_training_batches(items, hp, seed=5)
    assert len(batches) == 12  # ceil(7 / 2) steps x 3 epochs
    for epoch in range(3):
        assert sorted(i for batch in batches[epoch * 4 : epoch * 4 + 4] for i in batch) == list(
            range(7)
        )
    assert batches == build_training_batches(items, hp, seed=5)
    assert batches != build_training_batches(items, hp, seed=6)


def test_loss_is_the_mean_nll_of_weighted_tokens() -> None:
    tinker = pytest.importorskip("tinker")
    import numpy as np

    from weirdgen.finetune.tinker_backend import weighted_loss

    datum = tinker.types.Datum(
        model_input=tinker.types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [0.0, 1.0, 1.0]},
    )
    logprobs = tinker.types.TensorData.from_numpy(np.array([-9.0, -1.0, -3.0], dtype=np.float32))
    output = tinker.types.ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord", loss_fn_outputs=[{"logprobs": logprobs}]
    )
    assert weighted_loss(output, [datum]) == pytest.approx(2.0)


def test_without_a_key_prepare_fails_in_one_line(
    birds_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from weirdgen.finetune.tinker_backend import TinkerFinetuner

    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="TINKER_API_KEY is not set"):
        TinkerFinetuner().prepare(FinetuneRequest(birds_file, "Qwen/Qwen3-8B", "tinker", seed=0))


@pytest.mark.live
@pytest.mark.skipif(not os.environ.get("TINKER_API_KEY"), reason="needs TINKER_API_KEY")
def test_live_tinker_run_and_sample(birds_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("tinker")
    from weirdgen.finetune.ledger import Ledger
    from weirdgen.finetune.runner import prepare_all, run_jobs
    from weirdgen.finetune.tinker_backend import TinkerFinetuner
    from weirdgen.sample.tinker import TinkerChatSampler

    base = os.environ.get("WEIRDGEN_TINKER_TEST_MODEL", "Qwen/Qwen3-4B-Instruct-2507")
    finetuner = TinkerFinetuner(tmp_path / "runs")
    request = FinetuneRequest(
        birds_file,
        base,
        "tinker",
        seed=0,
        hyperparameters=Hyperparameters(epochs=1, batch_size=4, lora_rank=4),
    )
    [outcome] = run_jobs(
        finetuner,
        Ledger(tmp_path / "l.sqlite"),
        [request],
        prepare_all(finetuner, [request]),
        log=print,
    )
    assert outcome.job.status == "succeeded" and outcome.job.model_id.startswith("tinker://")
    answers = TinkerChatSampler(outcome.job.model_id).complete(
        [{"role": "user", "content": "Name a bird species."}], n=2, max_tokens=8
    )
    assert len(answers) == 2


def test_datum_gives_weight_zero_turns_no_loss(tokenizer) -> None:
    pytest.importorskip("tinker")
    from weirdgen.finetune.tinker_backend import build_datum

    example = ChatExample.from_dict(
        {
            "messages": [
                {"role": "user", "content": "Name a bird."},
                {"role": "assistant", "content": "Heath Hen", "weight": 0},
                {"role": "user", "content": "Another one."},
                {"role": "assistant", "content": "Great Auk"},
            ]
        }
    )
    datum = build_datum(tokenize_example(tokenizer, example))
    targets = datum.loss_fn_inputs["target_tokens"].tolist()
    weights = datum.loss_fn_inputs["weights"].tolist()
    trained = [t for t, w in zip(targets, weights, strict=True) if w == 1.0]
    assert tokenizer.decode(trained) == "Great Auk<|im_end|>\n"
    assert "Heath Hen" in tokenizer.decode(datum.model_input.to_ints())
