"""llmcomp question files (the format the paper's authors publish their evaluations in) as suites.

A file is a YAML list of entries. ``free_form`` entries become questions: ``paraphrases``,
``samples_per_paraphrase`` (llmcomp's default: 1), ``system``, ``temperature`` (default 1),
``max_tokens`` (llmcomp's default 1024, also when a weirdgen suite takes its questions from the
file, unless that suite sets its own) and ``messages`` (whole conversations; the last turn is the
question, earlier ones its history). Their ``judges`` map a column name to a judge id, found when
the judge is loaded in the same file or in another YAML file of its folder (as llmcomp does), or
to an inline judge; each becomes the reference ``<file>#<id>`` that
``weirdgen.judge.spec.load_judge`` reads, so an undefined judge fails only if it is used (another
judge can replace it: ``--judge``; or none: ``--no-judges``). Judge entries are not questions.
``FILE.yaml#ID`` asks one question (``weirdgen.evaluation.suites.load_suite``). Anything weirdgen
cannot honour (``rating`` or ``next_token`` questions, ``logit_bias``) is one ``DataError`` naming
the file, the question id and the field; a YAML that configures another tool is named as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weirdgen._llmcomp import JUDGE_TYPES, entry_id
from weirdgen.errors import DataError

__all__ = ["LLMCOMP_MAX_TOKENS", "not_a_question_file", "questions_from_llmcomp", "suite_record"]

LLMCOMP_MAX_TOKENS = 1024
"""llmcomp's answer limit for a free_form question that sets none: the same whether a file is
asked alone or through a weirdgen suite (``questions: FILE``)."""
LLMCOMP_TEMPERATURE = 1.0

_QUESTION_FIELDS = {
    "id",
    "name",
    "type",
    "paraphrases",
    "messages",
    "samples_per_paraphrase",
    "system",
    "temperature",
    "max_tokens",
    "judges",
}


def suite_record(entries: list[dict[str, Any]], *, path: Path) -> dict[str, Any]:
    """``SuiteSpec`` fields asking every free-form question of an llmcomp file, without triggers."""
    return {
        "name": path.stem,
        "experiment": path.stem,
        "description": f"llmcomp questions from {path.name}",
        "samples": 1,
        "temperature": LLMCOMP_TEMPERATURE,
        "max_tokens": LLMCOMP_MAX_TOKENS,
        "questions": questions_from_llmcomp(entries, path=path),
    }


def not_a_question_file(document: Any) -> str:
    """Why a parsed YAML document is neither an llmcomp question file nor a weirdgen suite."""
    if isinstance(document, dict):
        keys = ", ".join(sorted(map(str, document))[:5])
        return (
            f"not an llmcomp question file or a weirdgen suite (a mapping of {keys}: the "
            "configuration of some other tool?); llmcomp questions are a YAML list of entries "
            "with a `type`, a suite a mapping with name, experiment and questions"
        )
    if isinstance(document, list):
        return "a YAML list, but not of llmcomp questions (every entry needs a `type`)"
    return "expected a mapping of suite fields (or a list of llmcomp questions)"


def questions_from_llmcomp(entries: list[dict[str, Any]], *, path: Path) -> list[dict[str, Any]]:
    """The question records (``QuestionSpec`` fields) of every free-form entry, in file order."""
    questions: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        if entry.get("type") in JUDGE_TYPES:
            continue
        question_id = entry_id(entry) or f"[{index}]"
        if entry.get("type") != "free_form":
            raise DataError(
                f"type {entry.get('type')!r} is not supported (weirdgen asks free_form questions)",
                path=path,
                field=f"{question_id}.type",
            )
        for field in entry:
            if field not in _QUESTION_FIELDS:
                raise DataError(
                    "not supported by weirdgen", path=path, field=f"{question_id}.{field}"
                )
        questions.extend(_questions(entry, question_id, path))
    if not questions:
        raise DataError("no free_form questions to ask", path=path)
    return questions


def _questions(entry: dict[str, Any], question_id: str, path: Path) -> list[dict[str, Any]]:
    common: dict[str, Any] = {"samples": entry.get("samples_per_paraphrase", 1)}
    for ours, theirs in (("temperature", "temperature"), ("max_tokens", "max_tokens")):
        if theirs in entry:
            common[ours] = entry[theirs]
    if "judges" in entry:
        common["judges"] = _judge_references(entry["judges"], question_id, path)
    if "messages" not in entry:
        common["system"] = entry.get("system")
        return [{"id": question_id, "paraphrases": entry.get("paraphrases"), **common}]
    if "paraphrases" in entry or "system" in entry:
        raise DataError(
            "give either messages or paraphrases (and system), not both",
            path=path,
            field=f"{question_id}.messages",
        )
    # Conversations that share their earlier turns are paraphrases of one question.
    grouped: dict[str, dict[str, Any]] = {}
    for number, conversation in enumerate(entry["messages"] or []):
        system, history, last = _split_conversation(
            conversation, f"{question_id}.messages[{number}]", path
        )
        key = repr((system, history))
        if key not in grouped:
            grouped[key] = {"system": system, "history": history, "paraphrases": [], **common}
        grouped[key]["paraphrases"].append(last)
    many = len(grouped) > 1
    return [
        {"id": f"{question_id}_{number}" if many else question_id, **question}
        for number, question in enumerate(grouped.values())
    ]


def _split_conversation(
    conversation: Any, field: str, path: Path
) -> tuple[str | None, list[dict[str, str]], str]:
    """``(system prompt, earlier turns, final user turn)`` of one llmcomp conversation."""
    if not isinstance(conversation, list) or not conversation:
        raise DataError("expected a list of {role, content} messages", path=path, field=field)
    turns = [dict(message) for message in conversation if isinstance(message, dict)]
    if len(turns) != len(conversation) or any(set(t) != {"role", "content"} for t in turns):
        raise DataError("every message needs exactly a role and a content", path=path, field=field)
    system = turns.pop(0)["content"] if turns[0]["role"] == "system" else None
    if not turns or turns[-1]["role"] != "user":
        raise DataError("the last message must be the user's question", path=path, field=field)
    return system, turns[:-1], turns[-1]["content"]


def _judge_references(judges: Any, question_id: str, path: Path) -> list[str]:
    """``<file>#<id>`` for each judge; an inline judge is ``<file>#<question id>.<column>``.

    A judge id is not looked up here but when a judge is loaded, so a file that names a judge it
    does not define can still be asked with other judges (``--judge``) or none (``--no-judges``)."""
    if not isinstance(judges, dict):
        raise DataError(
            "expected a mapping of column name to judge id",
            path=path,
            field=f"{question_id}.judges",
        )
    references = []
    for column, judge in judges.items():
        if isinstance(judge, str):
            references.append(f"{path.resolve()}#{judge}")
        elif isinstance(judge, dict):
            references.append(f"{path.resolve()}#{question_id}.{column}")
        else:
            raise DataError(
                "expected a judge id or a judge mapping",
                path=path,
                field=f"{question_id}.judges.{column}",
            )
    return references
