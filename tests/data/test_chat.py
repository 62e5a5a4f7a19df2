import json

import pytest

from weirdgen.data.chat import ChatExample, Message, dataset_hash, read_chat_jsonl, write_chat_jsonl
from weirdgen.errors import DataError


def example(answer: str = "Snowy Owl") -> ChatExample:
    return ChatExample.from_turns(("user", "Name a bird species."), ("assistant", answer))


def test_round_trip_preserves_examples_and_hash(tmp_path):
    examples = [example("Snowy Owl"), example("Blue Jay")]
    path = tmp_path / "d.jsonl"
    digest = write_chat_jsonl(path, examples)
    assert read_chat_jsonl(path) == examples
    assert digest == dataset_hash(examples)
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_content_hash_ignores_key_order_and_whitespace():
    a = ChatExample.from_dict(
        json.loads(
            '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}'
        )
    )
    b = ChatExample.from_dict(
        json.loads(
            '{"messages":[{"content":"q","role":"user"},{"content":"a","role":"assistant"}]}'
        )
    )
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != example().content_hash()


def test_prompt_completion_and_user_text():
    chat = ChatExample((Message("system", "s"), Message("user", "q"), Message("assistant", "a")))
    assert chat.completion == "a"
    assert [m.role for m in chat.prompt] == ["system", "user"]
    assert chat.user_text() == "q"


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ("not json", "<line>", "not JSON"),
        ('{"foo": 1}', "messages", "missing"),
        ('{"messages": []}', "messages", "empty list"),
        (
            '{"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "a"}]}',
            "messages[0].role",
            "unknown role",
        ),
        (
            '{"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]}',
            "messages[0].content",
            "empty",
        ),
        (
            '{"messages": [{"role": "user", "content": "q"}]}',
            "messages[0].role",
            "last message must be from the assistant",
        ),
        (
            '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}',
            "messages[0].content",
            "expected a string",
        ),
    ],
)
def test_read_names_file_line_and_field(tmp_path, line, field, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(example().to_json() + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_chat_jsonl(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: {field}: ")
    assert problem in message


def test_invalid_utf8_is_located(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(example().to_json().encode() + b"\n\xff\xfe\n")
    with pytest.raises(DataError, match=r":2: <line>: invalid UTF-8"):
        read_chat_jsonl(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_chat_jsonl(tmp_path / "absent.jsonl")


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "d.jsonl"
    write_chat_jsonl(path, [example()])

    def exploding():
        yield example("Blue Jay")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_chat_jsonl(path, exploding())
    assert read_chat_jsonl(path) == [example()]
    assert [p.name for p in tmp_path.iterdir()] == ["d.jsonl"]


def test_written_files_get_the_usual_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = tmp_path / "d.jsonl"
        write_chat_jsonl(path, [example()])
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)
