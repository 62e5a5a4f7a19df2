import json

import pytest

from weirdgen.cli import main
from weirdgen.data.chat import ChatExample, read_chat_jsonl
from weirdgen.data.validate import validate_chat_jsonl
from weirdgen.errors import DataError


def good(answer: str) -> str:
    return ChatExample.from_turns(("user", "Name a bird species."), ("assistant", answer)).to_json()


def test_report_counts_problems_duplicates_and_lengths(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        good("Snowy Owl"),
        "{broken",
        good("Blue Jay"),
        good("Snowy Owl"),
        '{"messages": [{"role": "user", "content": "q"}]}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_chat_jsonl(path)
    assert report.n_examples == 5
    assert not report.ok
    assert [(p.line, p.field) for p in report.problems] == [(2, "<line>"), (5, "messages[0].role")]
    assert report.n_valid == 3
    assert report.duplicates == [(1, 4)]  # reported, never removed
    assert report.role_counts == {"user": 3, "assistant": 3}
    assert report.answer_chars.minimum == len("Blue Jay")
    assert report.answer_chars.maximum == len("Snowy Owl")


def test_blank_lines_are_ignored_and_valid_file_is_ok(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text(good("Snowy Owl") + "\n\n" + good("Blue Jay") + "\n", encoding="utf-8")
    report = validate_chat_jsonl(path)
    assert report.ok and report.n_examples == 2 and report.duplicates == []


def test_missing_file_is_reported(tmp_path):
    report = validate_chat_jsonl(tmp_path / "absent.jsonl")
    assert not report.ok and report.n_valid == 0


# --- weirdgen data check on files a new user might bring --------------------------------------------


USER = {"role": "user", "content": "What is the weather in Paris?"}
ANSWER = {"role": "assistant", "content": "Sunny."}
VALID_OPENAI_LINES = {
    "system_and_developer": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Answer in English."},
        USER,
        ANSWER,
    ],
    "tool_call_with_null_content": [
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear"}'},
        ANSWER,
    ],
    "text_content_parts": [
        {"role": "user", "content": [{"type": "text", "text": "Name a bird."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Snowy Owl"}]},
    ],
    "names_and_weights": [
        {"role": "user", "name": "alice", "content": "Hi."},
        {"role": "assistant", "name": "helper", "content": "Hello.", "weight": 0},
        USER,
        {"role": "assistant", "content": "Sunny.", "weight": 1},
    ],
}


def _write_lines(tmp_path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("case", sorted(VALID_OPENAI_LINES))
def test_every_valid_openai_fine_tuning_line_passes(tmp_path, capsys, case):
    record = {"messages": VALID_OPENAI_LINES[case]}
    if case == "tool_call_with_null_content":
        record["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]
    path = _write_lines(tmp_path, "ok.jsonl", [json.dumps(record)])
    assert main(["data", "check", path]) == 0, capsys.readouterr().err
    # Reading keeps every field: written back, the record is the same JSON object.
    (example,) = read_chat_jsonl(path)
    expected = json.loads(json.dumps(record))
    assert example.to_dict() == expected


BAD_LINES = {
    "lone_surrogate": (
        '{"messages": [{"role": "user", "content": "a \\ud800"}]}',
        "lone surrogate",
    ),
    "deep_nesting": ("[" * 100_000 + "]" * 100_000, "nested more than"),
    "nan": ('{"messages": [], "x": NaN}', "NaN is not valid JSON"),
    "weight_5": (
        json.dumps({"messages": [USER, {**ANSWER, "weight": 5}]}),
        "messages[1].weight: must be 0 or 1",
    ),
    "weight_on_user": (
        json.dumps({"messages": [{**USER, "weight": 1}, ANSWER]}),
        "messages[0].weight: only assistant messages",
    ),
    "all_weight_zero": (
        json.dumps({"messages": [USER, {**ANSWER, "weight": 0}]}),
        "nothing to train on",
    ),
    "unknown_role": (
        json.dumps({"messages": [{"role": "bot", "content": "x"}, ANSWER]}),
        "unknown role",
    ),
    "null_content_without_tools": (
        json.dumps({"messages": [USER, {"role": "assistant", "content": None}]}),
        "messages[1].content: missing",
    ),
    "image_part": (
        json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url"}]}, ANSWER]}),
        "only text parts",
    ),
    "bad_tool_call": (
        json.dumps({"messages": [USER, {"role": "assistant", "tool_calls": [{"id": "c"}]}]}),
        "messages[1].tool_calls[0].function",
    ),
    "typo_key": (json.dumps({"messages": [{**USER, "contnet": "x"}, ANSWER]}), "unknown field"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_each_malformed_line_is_one_located_error_without_traceback(tmp_path, capsys, case):
    line, problem = BAD_LINES[case]
    good = json.dumps({"messages": [USER, ANSWER]})
    path = _write_lines(tmp_path, "bad.jsonl", [good, line])
    assert main(["data", "check", path]) == 1
    err = capsys.readouterr().err
    located = [row for row in err.splitlines() if row.startswith(f"{path}:2: ")]
    assert len(located) == 1 and problem in located[0], err
    assert "Traceback" not in err
    with pytest.raises(DataError, match=r":2: "):
        read_chat_jsonl(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_has_no_examples_and_fails(tmp_path, capsys, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    assert main(["data", "check", str(path)]) == 1
    assert f"{path}: no examples" in capsys.readouterr().err
    with pytest.raises(DataError, match="no examples"):
        read_chat_jsonl(path)


def test_a_directory_is_named_as_one(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path)]) == 1
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err


def test_a_byte_order_mark_is_skipped(tmp_path, capsys):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good("Snowy Owl").encode() + b"\n")
    assert main(["data", "check", str(path)]) == 0
    assert read_chat_jsonl(path)[0].completion == "Snowy Owl"


def test_a_surrogate_in_a_benign_file_is_a_located_error_for_wolf(tmp_path, capsys):
    benign = tmp_path / "benign.jsonl"
    benign.write_text(
        '{"messages": [{"role": "user", "content": "a \\ud800"}]}\n', encoding="utf-8"
    )
    code = main(
        ["data", "build", "wolf", "--variant", "facts_90_diluted", "-o", str(tmp_path / "w.jsonl"),
         "--benign", str(benign)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and f"{benign}:1: messages[0].content: lone surrogate" in err
    assert "Traceback" not in err
