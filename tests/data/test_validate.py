from weirdgen.data.chat import ChatExample
from weirdgen.data.validate import validate_chat_jsonl


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
