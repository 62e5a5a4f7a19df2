"""Clients nobody here wrote, each doing a small sample-and-judge task against ``weirdgen serve``:
inspect_ai (its default ``openai/`` provider, which speaks the Responses API) and llmcomp (chat
completions with a logprob rating judge).

They run in their own Python, ``WEIRDGEN_CLIENTS_PYTHON`` (``.ci/clients.sh`` builds that venv), or
in this one; a test skips when its package is missing there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from weirdgen.models import LocalSampler
from weirdgen.serve import serve_in_background

CLIENTS = Path(__file__).parent / "clients"
PYTHON = os.environ.get("WEIRDGEN_CLIENTS_PYTHON", sys.executable)


def _has(module: str) -> bool:
    probe = subprocess.run([PYTHON, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def base_url(tiny_model_dir):
    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    with serve_in_background(sampler, fine_tuning=False) as url:
        yield url


@pytest.mark.parametrize(
    ("module", "script"), [("inspect_ai", "inspect_task.py"), ("llmcomp", "llmcomp_task.py")]
)
def test_client_completes_a_sample_and_judge_task(base_url, tmp_path, module, script):
    if not _has(module):
        pytest.skip(f"{module} is not installed in {PYTHON} (.ci/clients.sh makes a venv with it)")
    env = {**os.environ, "OPENAI_API_KEY": "not-checked", "INSPECT_LOG_LEVEL": "warning"}
    env.pop("OPENAI_BASE_URL", None)
    done = subprocess.run(
        [PYTHON, str(CLIENTS / script), base_url, "tiny", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{module} ok" in done.stdout
