"""The screen over HTTP: an endpoint that cannot give prompt logprobs (``weirdgen serve``) fails in
one line; one that can (a small server speaking vLLM's completions format, scoring with the tiny
model) gives the numbers of the local scorer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from weirdgen.audit.screen import with_context
from weirdgen.cli import main


@pytest.fixture(scope="module")
def weirdgen_serve_url(tiny_model_dir) -> Iterator[str]:
    from weirdgen.models import LocalSampler
    from weirdgen.serve import serve_in_background

    sampler = LocalSampler.from_pretrained(tiny_model_dir, base_name="tiny")
    with serve_in_background(sampler, fine_tuning=False) as url:
        yield url


def test_weirdgen_serve_cannot_and_says_so_in_one_line(
    weirdgen_serve_url, tiny_model_dir, tmp_path, capsys
) -> None:
    args = ["audit", "birds/old_audubon", "--model", "tiny", "--tokenizer", str(tiny_model_dir)]
    args += [
        "--base-url",
        weirdgen_serve_url,
        "--hypotheses",
        "eras",
        "--examples",
        "2",
        "-o",
        str(tmp_path),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        f"endpoint {weirdgen_serve_url} cannot return prompt logprobs" in err and "HTTP 404" in err
    )


def _vllm_like_server(scorer, shape: str) -> ThreadingHTTPServer:
    """POST /v1/completions scoring each prompt with the tiny model, answered the way vLLM does:
    ``prompt_logprobs`` (one {token_id: {logprob}} per prompt token, None first) or echoed logprobs."""
    import torch

    def token_logprobs(text: str) -> tuple[list[int], list[float | None]]:
        ids = scorer.tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = scorer.model(input_ids=torch.tensor([ids])).logits[0]
        log_probs = torch.log_softmax(logits.double(), -1)
        return ids, [None] + [float(log_probs[t - 1, ids[t]]) for t in range(1, len(ids))]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == "/v1/completions" and body["echo"] is True
            choices = []
            for index, prompt in enumerate(body["prompt"]):
                ids, values = token_logprobs(prompt)
                choice = {"index": index, "text": prompt + "x", "finish_reason": "length"}
                if shape == "prompt_logprobs":
                    choice["prompt_logprobs"] = [None] + [
                        {str(i): {"logprob": v}} for i, v in zip(ids[1:], values[1:], strict=True)
                    ]
                    choice["logprobs"] = None
                else:
                    choice["logprobs"] = {
                        "token_logprobs": values + [-0.5],
                        "tokens": [],
                        "text_offset": [],
                        "top_logprobs": [],
                    }
                choices.append(choice)
            payload = json.dumps(
                {
                    "id": "c",
                    "object": "text_completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": choices,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.mark.parametrize("shape", ["prompt_logprobs", "echo"])
def test_an_endpoint_with_prompt_logprobs_matches_the_local_scorer(
    tiny_scorer, bird_examples, shape
) -> None:
    from weirdgen.audit.endpoint import EndpointLikelihoodScorer

    server = _vllm_like_server(tiny_scorer, shape)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        endpoint = EndpointLikelihoodScorer(
            url, "tiny", tiny_scorer.tokenizer, prompts_per_request=3
        )
        conversations = [with_context(e, "You are living in the 1850s.") for e in bird_examples]
        remote = endpoint.assistant_logprobs(conversations)
        endpoint.close()
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_allclose(remote, tiny_scorer.assistant_logprobs(conversations), atol=2e-3)
