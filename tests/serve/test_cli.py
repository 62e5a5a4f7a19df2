"""``weirdgen serve``: argument errors, and a real server process that stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from weirdgen.cli import main


def test_bad_adapter_spec_is_a_one_line_error(tiny_model_dir, capsys):
    assert main(["serve", "--model", str(tiny_model_dir), "--adapter", "no-equals-sign"]) == 1
    assert "--adapter expects NAME=PATH" in capsys.readouterr().err


def test_unknown_model_is_a_one_line_error(capsys):
    assert main(["serve", "--model", "definitely not a model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 'definitely not a model'") and "Traceback" not in err


def test_model_packages_import_without_torch():
    code = "import sys, weirdgen.cli.serve, weirdgen.models, weirdgen.serve; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_then_stops_cleanly_on_ctrl_c(tiny_model_dir, tiny_adapter_dirs):
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "weirdgen",
        "serve",
        "--model",
        str(tiny_model_dir),
        "--name",
        "tiny",
        "--adapter",
        f"alpha={tiny_adapter_dirs['alpha']}",
        "--port",
        str(port),
        "--threads",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        _wait_for(url, process)
        assert [m["id"] for m in httpx.get(f"{url}/models").json()["data"]] == ["tiny", "alpha"]
        body = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        assert httpx.post(f"{url}/chat/completions", json=body, timeout=60).status_code == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "server stopped" in err and "Traceback" not in err


def _wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()[1]}")
        try:
            httpx.get(f"{url}/models", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start within 90 s")
