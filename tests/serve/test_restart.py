"""A restarted ``weirdgen serve`` answers at once and serves every model it lists: adapters load on
first use (at most --max-loaded-adapters at a time), and the checkpoints a resumed job saved before
the restart are served too."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx


def test_a_restart_serves_every_listed_model_loading_adapters_on_first_use(
    tiny_model_dir, make_lora_adapter, tmp_path, start_serve, record_jobs
):
    adapters = {
        f"ft:tiny:weirdgen:v{seed}:job{seed}": make_lora_adapter(
            tiny_model_dir, tmp_path / f"adapter-{seed}", seed=seed
        )
        for seed in range(1, 5)
    }
    state = tmp_path / "state"
    record_jobs(state, "tiny", adapters, checkpoints_of="ft:tiny:weirdgen:resumed:jobr")
    arguments = ["--model", str(tiny_model_dir), "--name", "tiny", "--max-loaded-adapters", "2"]
    with start_serve(arguments, state_dir=state) as server:
        listed = [m["id"] for m in httpx.get(f"{server.url}/models", timeout=30).json()["data"]]
        checkpoint = "ft:tiny:weirdgen:resumed:jobr:ckpt-step-1"
        # The interrupted job resumes at once and may list more (its new checkpoints, its model).
        assert {"tiny", *adapters, checkpoint} <= set(listed)
        texts = {}
        for name in [*adapters, checkpoint]:
            body = {
                "model": name,
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0,
                "max_tokens": 6,
            }
            response = httpx.post(f"{server.url}/chat/completions", json=body, timeout=120)
            assert response.status_code == 200, response.text
            texts[name] = response.json()["choices"][0]["message"]["content"]
        stderr = server.stderr()
    assert len(set(texts.values())) >= 3  # different adapters answer differently
    assert "Traceback" not in stderr


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_serving_line_comes_once_the_server_answers(tiny_model_dir, tmp_path):
    """Printed only when the server answers; without --name a folder is served under its own name,
    not its path."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weirdgen",
            "serve",
            "--model",
            str(tiny_model_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "WEIRDGEN_SERVE_DIR": str(tmp_path / "s"),
            "WEIRDGEN_TORCH_THREADS": "1",
        },
    )
    try:
        deadline = time.monotonic() + 120
        for line in process.stderr:
            if line.startswith("serving "):
                # Printed: the very first request must succeed, without a retry.
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
                listed = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
                assert [m["id"] for m in listed["data"]] == [tiny_model_dir.name]
                break
            assert time.monotonic() < deadline
        else:
            raise AssertionError("the server never printed its address")
    finally:
        process.terminate()
        process.wait(timeout=30)
