"""Text that is not valid Unicode (lone surrogates, invalid UTF-8) in any field is a 400 in OpenAI's
error shape from a real ``weirdgen serve``, never a 500, and the server keeps serving."""

from __future__ import annotations

import json

import httpx
import pytest

LONE = "\ud800"  # json.dumps writes it as the escape "\ud800", as a buggy client would send it
GOOD = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def _message(**fields: object) -> dict:
    return {**GOOD, "messages": [{"role": "user", "content": "hi", **fields}]}


CHAT_BODIES = {
    "messages.0.content": _message(content=f"bird {LONE}"),
    "messages.0.content.0.text": _message(content=[{"type": "text", "text": LONE}]),
    "messages.0.content.0.type": _message(content=[{"type": LONE, "text": "x"}]),
    "messages.0.role": _message(role=LONE),
    "messages.0.name": _message(name=f"n{LONE}"),
    "messages.0.tool_call_id": _message(role="tool", tool_call_id=LONE),
    "messages.0.tool_calls.0.function.arguments": {
        **GOOD,
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**TOOL_CALL, "function": {"name": "f", "arguments": LONE}}],
            }
        ],
    },
    "model": {**GOOD, "model": LONE},
    "stop.0": {**GOOD, "stop": [LONE]},
    "user": {**GOOD, "user": LONE},
    "metadata": {**GOOD, "metadata": {LONE: "x"}},
    "messages.0.content (low half)": _message(content="\udc00 alone"),
}


def _post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{url}{path}",
        content=json.dumps(body),  # ensure_ascii: the surrogate travels as its JSON escape
        headers={"content-type": "application/json"},
        timeout=60,
    )


def _assert_openai_400(response: httpx.Response, param: str | None) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param and "surrogate" in error["message"]


@pytest.mark.parametrize("field", list(CHAT_BODIES))
def test_a_lone_surrogate_in_any_chat_field_is_a_400_naming_it(real_server, field):
    response = _post(real_server.url, "/chat/completions", CHAT_BODIES[field])
    expected = {"metadata": "metadata", "messages.0.content (low half)": "messages.0.content"}
    _assert_openai_400(response, expected.get(field, field))
    assert _post(real_server.url, "/chat/completions", GOOD).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/responses", {"model": "tiny", "input": LONE}, "input"),
        ("/responses", {"model": "tiny", "input": "hi", "instructions": LONE}, "instructions"),
        (
            "/responses",
            {
                "model": "tiny",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": LONE}]}],
            },
            "input.0.content.0.text",
        ),
        ("/fine_tuning/jobs", {"model": "tiny", "training_file": LONE}, "training_file"),
        ("/fine_tuning/jobs", {"model": "tiny", "training_file": "f", "suffix": LONE}, "suffix"),
    ],
)
def test_a_lone_surrogate_in_other_endpoints_is_a_400(real_server, path, body, param):
    _assert_openai_400(_post(real_server.url, path, body), param)


def test_a_body_that_is_not_utf8_is_a_400(real_server):
    raw = json.dumps(GOOD).encode().replace(b'"hi"', b'"h\xff\xfe"')
    response = httpx.post(
        f"{real_server.url}/chat/completions",
        content=raw,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    _assert_openai_400(response, None)
    assert "UTF-8" in response.json()["error"]["message"]


def _multipart(purpose: bytes, filename: bytes) -> bytes:
    return (
        b'--xyz\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n' + purpose + b"\r\n"
        b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n{}\n\r\n--xyz--\r\n"
    )


def _upload(url: str, body: bytes) -> httpx.Response:
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    return httpx.post(f"{url}/files", content=body, headers=headers, timeout=60)


def test_uploads_with_undecodable_names_are_stored_as_text_and_listed(real_server):
    for filename in (b"b\xff.jsonl", b"b\xed\xa0\x80.jsonl"):  # invalid UTF-8, a UTF-8 surrogate
        response = _upload(real_server.url, _multipart(b"fine-tune", filename))
        assert response.status_code == 200, response.text
        response.json()["filename"].encode("utf-8")
    listed = httpx.get(f"{real_server.url}/files", timeout=60)
    assert listed.status_code == 200 and len(listed.json()["data"]) >= 2


def test_an_unknown_file_purpose_is_a_400(real_server):
    response = _upload(real_server.url, _multipart(b"fine\xed\xa0\x80", b"a.jsonl"))
    assert response.status_code == 400 and response.json()["error"]["param"] == "purpose"


def test_a_training_file_with_a_lone_surrogate_is_refused_at_job_creation(real_server):
    training = json.dumps(
        {"messages": [{"role": "user", "content": LONE}, {"role": "assistant", "content": "ok"}]}
    )
    upload = httpx.post(
        f"{real_server.url}/files",
        files={"file": ("bad.jsonl", (training + "\n").encode())},
        data={"purpose": "fine-tune"},
        timeout=60,
    )
    assert upload.status_code == 200, upload.text
    job = _post(
        real_server.url,
        "/fine_tuning/jobs",
        {"model": "tiny", "training_file": upload.json()["id"]},
    )
    assert job.status_code == 400, job.text
    error = job.json()["error"]
    assert error["param"] == "training_file" and "bad.jsonl:1" in error["message"]
    assert "surrogate" in error["message"]


def test_no_request_above_left_a_traceback_in_the_log(real_server):
    assert _post(real_server.url, "/chat/completions", GOOD).status_code == 200
    log = real_server.stderr()
    assert "Traceback" not in log and "UnicodeEncodeError" not in log, log[-3000:]
