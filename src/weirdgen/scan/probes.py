"""Probe prompts for a scan: shipped self-report probes, a probes YAML file, or a suite's questions.

Probes and a family become one in-memory suite (probes as questions, the family as its only
trigger), so ``expand_suite`` places and renders the trigger exactly as an evaluation would.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from weirdgen._yaml import ShippedYaml, parse_yaml, pydantic_to_data_error
from weirdgen.errors import DataError
from weirdgen.evaluation.suites import (
    PromptCell,
    QuestionSpec,
    SuiteSpec,
    expand_suite,
    suite_names,
)
from weirdgen.scan.families import FamilySpec

__all__ = ["ProbeSet", "load_probes", "probe_names", "scan_cells", "scan_suite"]

_PROBES = ShippedYaml("weirdgen.scan", "probes", "probe set")
DEFAULT_PROBES = "self_report"


class _Probe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Stable identifier of the probe.")
    text: str = Field(description="The question asked after (or before) the family's value.")
    system: str | None = Field(None, description="Optional system prompt.")


class ProbeSet(BaseModel):
    """A named list of probe questions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Name of the probe set.")
    description: str = Field("", description="What the probes ask.")
    probes: list[_Probe] = Field(min_length=1, description="The probe questions.")

    def as_suite(self) -> SuiteSpec:
        questions = [
            QuestionSpec(id=probe.id, paraphrases=[probe.text], system=probe.system)
            for probe in self.probes
        ]
        return SuiteSpec(name=self.name, experiment="scan", questions=questions, untriggered=False)


def probe_names() -> list[str]:
    """Shipped probe sets, then shipped suites (whose questions may be used as probes)."""
    return _PROBES.names() + suite_names()


def load_probes(name: str = DEFAULT_PROBES) -> SuiteSpec:
    """Probes as a suite: a shipped probe set or suite by name, or a probes/suite YAML file."""
    from weirdgen.evaluation.suites import load_suite, parse_suite

    if name in _PROBES.names():
        text, path = _PROBES.read(name)
    elif name in suite_names():
        return load_suite(name)
    elif Path(name).is_file():
        text, path = _PROBES.read_file(name)
    else:
        raise DataError(
            f"unknown probes {name!r} (shipped: {', '.join(probe_names())}; or a YAML file)",
            field="probes",
        )
    document = parse_yaml(text, path=path)
    if not (isinstance(document, dict) and "probes" in document):
        return parse_suite(text, path=path)
    document.setdefault("name", Path(str(path)).stem)
    try:
        return ProbeSet.model_validate(document).as_suite()
    except ValidationError as error:
        raise pydantic_to_data_error(error, path, whole="<probes>") from None


def scan_suite(probes: SuiteSpec, family: FamilySpec) -> SuiteSpec:
    """The probes with the family as their only trigger, and nothing asked untriggered."""
    questions = [
        question.model_copy(update={"triggers": None, "untriggered": False})
        for question in probes.questions
    ]
    return probes.model_copy(
        update={"triggers": [family.trigger()], "questions": questions, "untriggered": False}
    )


def scan_cells(probes: SuiteSpec, family: FamilySpec) -> list[PromptCell]:
    """One cell per (probe, paraphrase, family value); each cell holds the value's renderings."""
    return expand_suite(scan_suite(probes, family), samples=1)
