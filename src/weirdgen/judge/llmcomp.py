"""llmcomp judges (``free_form_judge`` and ``rating_judge`` entries) as weirdgen judges.

- ``rating_judge`` -> a ``score`` judge: the same 0-100 expected value over the top-20 logprobs.
  llmcomp refuses when the non-numeric mass reaches ``refusal_threshold`` (default 0.75); weirdgen
  when the numeric mass is below its threshold, so the threshold becomes ``1 - refusal_threshold``.
- A judge entry listing several ``paraphrases`` becomes a judge with that many wordings: each answer
  is judged under every one and the verdict is their average (llmcomp's johny-b/llmcomp#63).
- ``free_form_judge`` -> a ``categorical`` judge (the reply names a label), or a ``verdict`` judge
  (the last label named counts) when the template asks the judge to reason first. The labels are
  read off the template: bullet definitions (``- EVIL: ...``), ``LABEL if ...``, ``ANSWER: LABEL``
  and ``one of: A / B`` lines. YES (else TRUE, else the first label) is the positive label.

The judge model comes from the run (``--judge-model``), not from the entry's ``model``. A judge is
referenced as ``<file>#<id>``; its table columns are named by that id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from weirdgen._llmcomp import JUDGE_TYPES, entry_id, find_entry
from weirdgen.errors import DataError
from weirdgen.judge.spec import JudgeSpec, judge_from_record

__all__ = ["judge_from_llmcomp", "load_llmcomp_judge"]

# Fields of a judge entry and the only values weirdgen can honour (None: any value).
_SUPPORTED: dict[str, Any] = {
    "id": None,
    "name": None,
    "type": None,
    "model": None,
    "paraphrases": None,
    "max_tokens": None,
    "refusal_threshold": None,
    "temperature": 0,
    "samples_per_paraphrase": 1,
    "top_logprobs": 20,
    "min_rating": 0,
    "max_rating": 100,
}
_LABEL = r"[A-Z][A-Z0-9_]*[A-Z0-9]"
_LABEL_PATTERNS = [
    rf"^\s*(?:[-*•]|\d+[.)])\s*(?:Say\s+|Answer\s+|Output\s+)?({_LABEL})\b\s*(?:[:—–]|-\s|if\b)",
    rf"\b({_LABEL})\s+if\b",
    rf"\bANSWER:\s*({_LABEL})\b",
]
_ONE_OF = re.compile(r"\bone of\b[^\n:]*:[ \t]*([^\n]+)", re.IGNORECASE)
# Words that frame a template rather than name a verdict.
_FRAMING = frozenset({"ANSWER", "QUESTION", "BEGIN", "START", "END", "LLM", "AI"})
_REASON_FIRST = re.compile(r"\b(explain|reason|reasoning|think|justify)\b", re.IGNORECASE)


def load_llmcomp_judge(reference: str) -> JudgeSpec:
    """The judge ``<file>#<id>`` (found in that file or another YAML file of its folder)."""
    file, _, wanted = reference.rpartition("#")
    question_id, _, column = wanted.rpartition(".")
    if question_id:  # maybe an inline judge, <question id>.<column>; ids may hold dots too
        try:
            path, question = find_entry(Path(file).expanduser(), question_id)
        except DataError:
            question = {}
        inline = (question.get("judges") or {}).get(column)
        if isinstance(inline, dict):
            return judge_from_llmcomp({"id": column, **inline}, path=path)
    try:
        path, entry = find_entry(Path(file).expanduser(), wanted)
    except DataError as error:
        hint = "; rate with another judge (--judge NAME) or sample only (--no-judges)"
        raise DataError(error.problem + hint, path=error.path, field=error.field) from None
    return judge_from_llmcomp(entry, path=path)


def judge_from_llmcomp(entry: dict[str, Any], *, path: str | Path) -> JudgeSpec:
    """One llmcomp judge entry as a weirdgen judge; an unsupported field is one ``DataError``."""
    name = entry_id(entry) or "judge"
    kind = entry.get("type")
    if kind not in JUDGE_TYPES:
        raise DataError(
            f"{kind!r} is not a judge type ({', '.join(sorted(JUDGE_TYPES))})",
            path=path,
            field=f"{name}.type",
        )
    for field, value in entry.items():
        if field not in _SUPPORTED:
            raise DataError("not supported by weirdgen", path=path, field=f"{name}.{field}")
        if _SUPPORTED[field] is not None and value != _SUPPORTED[field]:
            raise DataError(
                f"weirdgen supports only {_SUPPORTED[field]!r} here",
                path=path,
                field=f"{name}.{field}",
            )
    paraphrases = entry.get("paraphrases")
    if not isinstance(paraphrases, list) or not paraphrases:
        raise DataError(
            "a judge needs a list of at least one paraphrase (its prompt template)",
            path=path,
            field=f"{name}.paraphrases",
        )
    record: dict[str, Any] = {
        "name": name,
        "description": f"llmcomp {kind} {name!r} from {Path(path).name}",
        "template": paraphrases[0],
        # More wordings: each answer is judged under every one, the verdict their average.
        "paraphrases": paraphrases[1:],
    }
    if "max_tokens" in entry:
        record["max_tokens"] = entry["max_tokens"]
    if kind == "rating_judge":
        record["kind"] = "score"
        record["refusal_threshold"] = round(1 - float(entry.get("refusal_threshold", 0.75)), 6)
    else:
        record.update(_labelled(str(paraphrases[0]), name, path))
    return judge_from_record(record, path=f"{path}#{name}")


def _labelled(template: str, name: str, path: str | Path) -> dict[str, Any]:
    """Kind, labels and positive label of a free-form judge, read off its template."""
    found: dict[str, int] = {}
    for pattern in _LABEL_PATTERNS:
        for match in re.finditer(pattern, template, re.MULTILINE):
            found.setdefault(match.group(1), match.start(1))
    for line in _ONE_OF.finditer(template):
        for word in re.findall(rf"\b{_LABEL}\b", line.group(1)):
            found.setdefault(word, line.start(1))
    labels = sorted((w for w in found if w not in _FRAMING), key=found.__getitem__)
    if len(labels) < 2:
        raise DataError(
            "could not read the labels this free_form_judge answers with "
            "(write them as '- LABEL: meaning' lines, or as 'one of: A / B')",
            path=path,
            field=f"{name}.paraphrases[0]",
        )
    positive = next((label for label in ("YES", "TRUE") if label in labels), labels[0])
    return {
        # Asked to reason, the judge names labels along the way: the last one named counts.
        "kind": "verdict" if _REASON_FIRST.search(template) else "categorical",
        "labels": labels,
        "positive_labels": [positive],
    }
