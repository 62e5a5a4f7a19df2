"""Where a run's numbers came from: code hash, dataset hashes and package versions."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from weirdgen._io import sha256_hex

# Packages whose version can change a result; reported when installed.
TRACKED_PACKAGES = (
    "weirdgen",
    "torch",
    "transformers",
    "peft",
    "openai",
    "numpy",
    "pandas",
    "matplotlib",
)


def code_hash() -> str:
    """SHA-256 over every Python and data file of the installed weirdgen package, in path order.

    Unlike a git commit it also changes with uncommitted edits, which is what a result depends on.
    """
    root = Path(__file__).resolve().parents[1]
    digest_input = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".yaml", ".yml", ".csv", ".txt", ".json"}:
            digest_input.append(
                f"{path.relative_to(root).as_posix()}:{sha256_hex(path.read_bytes())}"
            )
    return sha256_hex("\n".join(digest_input))


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter for results ("not installed" otherwise)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def dataset_hashes(run_dir: Path, run_metadata: dict[str, Any]) -> dict[str, str]:
    """Dataset name -> SHA-256, from ``run.json`` and any ``*.manifest.json`` under the run directory."""
    hashes = {
        str(k): str(v)
        for k, v in (run_metadata.get("datasets") or {}).items()
        if isinstance(v, str)
    }
    for manifest in sorted(run_dir.rglob("*.manifest.json")):
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # a half-written or foreign file must not stop a report
        if isinstance(record, dict) and "sha256" in record:
            name = f"{record.get('experiment', '?')}/{record.get('variant', manifest.stem)} seed {record.get('seed', '?')}"
            hashes[name] = str(record["sha256"])
    return hashes
