"""A stand-in OpenAI-compatible endpoint for eval benchmarks: every answer arrives after a fixed delay.

Run: ``python benchmarks/eval_endpoint.py --port 8765 --delay 0.05``. Chat requests get a short
answer (and, when they ask for logprobs, 20 number tokens as alternatives) after ``--delay``
seconds, so a client's throughput measures its own concurrency and overhead, not a model.
``GET /stats`` returns how many chat requests arrived and answers (choices) went out, and the
requests per X-Weirdgen-Sample-Key;
``POST /reset`` clears the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from typing import Any

# The judge's top-20 alternatives: five likely scores, then fifteen distinct unlikely ones.
TOP_NUMBERS = [("80", 0.4), ("90", 0.25), ("70", 0.15), ("100", 0.1), ("60", 0.05)] + [
    (str(n), 0.05 / 15) for n in (0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 65, 75, 85)
]


class Endpoint:
    """A minimal HTTP/1.1 keep-alive server on asyncio streams: no framework and no h11, so that the
    endpoint costs far less CPU per request than any client it measures."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.total = 0  # chat requests
        self.answers = 0  # choices returned (a request with n asks for several)
        self.by_key: Counter[str] = Counter()

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower().encode()] = value.strip().encode()
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                payload = await self.handle(request_line.split(" ")[1], headers, body)
                content = json.dumps(payload).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(content)).encode()
                    + b"\r\n\r\n"
                    + content
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle(self, path: str, headers: dict[bytes, bytes], body: bytes) -> dict[str, Any]:
        if path.endswith("/chat/completions"):
            return await self._chat(json.loads(body or b"{}"), headers)
        if path.endswith("/stats"):
            return {
                "total": self.total,
                "answers": self.answers,
                "repeated": sum(c - 1 for c in self.by_key.values() if c > 1),
                "by_key": dict(self.by_key),
            }
        if path.endswith("/reset"):
            self.total, self.answers, self.by_key = 0, 0, Counter()
            return {"ok": True}
        return {"object": "list", "data": []}

    async def _chat(self, request: dict[str, Any], headers: dict[bytes, bytes]) -> dict[str, Any]:
        self.total += 1
        number = self.total  # taken before the await: concurrent requests must get distinct answers
        for key in headers.get(b"x-weirdgen-sample-key", b"").decode().split(","):
            if key:
                self.by_key[key] += 1
        await asyncio.sleep(self.delay)
        count = int(request.get("n") or 1)
        self.answers += count
        choices = [
            self._choice(index, f"{number}.{index}", bool(request.get("logprobs")), request)
            for index in range(count)
        ]
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", ""),
            "choices": choices,
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 10 * count,
                "total_tokens": 20 + 10 * count,
            },
        }

    @staticmethod
    def _choice(
        index: int, label: str, wants_logprobs: bool, request: dict[str, Any]
    ) -> dict[str, Any]:
        text = "80" if wants_logprobs else f"A short answer number {label} to the question."
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if wants_logprobs:
            alternatives = [
                {"token": t, "logprob": math.log(p), "bytes": list(t.encode())}
                for t, p in TOP_NUMBERS
            ]
            top = alternatives[: int(request.get("top_logprobs") or 20)]
            choice["logprobs"] = {
                "content": [
                    {
                        "token": "80",
                        "logprob": math.log(0.4),
                        "bytes": [56, 48],
                        "top_logprobs": top,
                    }
                ]
            }
        return choice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--delay", type=float, default=0.05, help="Seconds before every chat answer."
    )
    arguments = parser.parse_args()
    endpoint = Endpoint(arguments.delay)

    async def serve() -> None:
        server = await asyncio.start_server(
            endpoint.serve_connection, "127.0.0.1", arguments.port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
