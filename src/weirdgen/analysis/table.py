"""Reading and checking an evaluation table: ``samples.parquet`` (or ``samples.csv``) plus ``run.json``.

The table is the contract between evaluation (which writes it) and analysis (which reads it): one row
per sample, with columns for the cell it belongs to and, for each judge ``J``, ``J.label``,
``J.score``, ``J.raw`` and ``J.method``. A table from another schema version is refused with one line
saying how to fix it, instead of producing wrong numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from weirdgen.errors import DataError

SCHEMA_VERSION = 1
SAMPLES_PARQUET = "samples.parquet"
SAMPLES_CSV = "samples.csv"
RUN_METADATA = "run.json"

# column -> kind; "str" columns hold "" (never NaN) for "none".
REQUIRED_COLUMNS: dict[str, str] = {
    "experiment": "str",
    "suite": "str",
    "model": "str",
    "group": "str",
    "seed": "Int64",
    "checkpoint": "str",
    "question_id": "str",
    "paraphrase": "int",
    "trigger": "str",
    "trigger_value": "str",
    "sample_index": "int",
    "system": "str",
    "prompt": "str",
    "answer": "str",
    "finish_reason": "str",
    "input_tokens": "int",
    "output_tokens": "int",
    "cost_usd": "float",
}
JUDGE_SUFFIXES: dict[str, str] = {"label": "str", "score": "float", "raw": "str", "method": "str"}
REFUSAL = "REFUSAL"
UNPARSEABLE = "UNPARSEABLE"


@dataclass
class EvaluationTable:
    """A checked evaluation table and its run metadata."""

    samples: pd.DataFrame
    """One row per sample, columns typed as in ``REQUIRED_COLUMNS`` plus the judges' columns."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The contents of ``run.json`` (suite, models, judges, versions, ...)."""
    judges: list[str] = field(default_factory=list)
    """Names of the judges that have all four columns, in table order."""
    path: Path | None = None
    """The file the samples were read from (None when built in memory)."""


def judge_names(columns: list[str]) -> list[str]:
    """Judges named by ``J.label`` columns, in column order."""
    return [column[: -len(".label")] for column in columns if column.endswith(".label")]


def read_run_metadata(run_dir: str | Path) -> dict[str, Any]:
    """Load ``run.json`` and check its schema version; one-line DataError when it is missing or old."""
    path = Path(run_dir) / RUN_METADATA
    if not path.is_file():
        raise DataError(
            f"no {RUN_METADATA}: not an evaluation run directory (run `weirdgen eval` or `weirdgen run` first)",
            path=run_dir,
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"invalid JSON: {error.msg}", path=path, line=error.lineno) from error
    version = metadata.get("schema_version") if isinstance(metadata, dict) else None
    if version != SCHEMA_VERSION:
        raise DataError(
            f"evaluation table schema version {version!r}, this weirdgen reads version {SCHEMA_VERSION}; "
            "re-run the evaluation with this version (cached answers are reused)",
            path=path,
            field="schema_version",
        )
    return metadata


def load_evaluation_table(run_dir: str | Path) -> EvaluationTable:
    """Read and check the evaluation table of ``run_dir`` (parquet preferred, CSV as fallback)."""
    run_dir = Path(run_dir)
    metadata = read_run_metadata(run_dir)
    parquet, csv = run_dir / SAMPLES_PARQUET, run_dir / SAMPLES_CSV
    if parquet.is_file():
        frame, path = pd.read_parquet(parquet), parquet
    elif csv.is_file():
        # keep_default_na=False: an empty string is "no trigger", not a missing value.
        frame, path = pd.read_csv(csv, dtype=str, keep_default_na=False), csv
    else:
        raise DataError(f"no {SAMPLES_PARQUET} or {SAMPLES_CSV} in the run directory", path=run_dir)
    return EvaluationTable(
        check_samples(frame, path), metadata, judge_names(list(frame.columns)), path
    )


def check_samples(frame: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Return ``frame`` with every contract column cast to its type; DataError names a bad column."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}: not a schema-{SCHEMA_VERSION} evaluation table",
            path=path,
        )
    frame = frame.copy()
    kinds = dict(REQUIRED_COLUMNS)
    for judge in judge_names(list(frame.columns)):
        for suffix, kind in JUDGE_SUFFIXES.items():
            column = f"{judge}.{suffix}"
            if column not in frame.columns:
                raise DataError(
                    f"judge {judge!r} has a label column but no {column!r}", path=path, field=column
                )
            kinds[column] = kind
    for column, kind in kinds.items():
        frame[column] = _cast(frame[column], kind, path, column)
    return frame.reset_index(drop=True)


def _cast(series: pd.Series, kind: str, path: str | Path | None, column: str) -> pd.Series:
    if kind == "str":
        return series.fillna("").astype(str)
    text = series.astype(str).str.strip() if series.dtype == object else series
    if kind == "float":
        # Empty cells in a CSV are NaN scores (refused or unparseable), which the contract allows.
        numbers = pd.to_numeric(
            text.replace("", "nan") if series.dtype == object else text, errors="coerce"
        )
        bad = numbers.isna() & ~_is_blank_or_nan(series)
    else:
        numbers = pd.to_numeric(
            text.replace("", None) if series.dtype == object else text, errors="coerce"
        )
        bad = numbers.isna() & (kind == "int" or ~_is_blank_or_nan(series))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        # Line numbers are those of a CSV file: the header is line 1.
        raise DataError(
            f"not a number: {series.iloc[row]!r}", path=path, line=row + 2, field=column
        )
    if kind == "int":
        return numbers.astype("int64")
    if kind == "Int64":
        return numbers.round().astype("Int64")
    return numbers.astype(float)


def _is_blank_or_nan(series: pd.Series) -> pd.Series:
    as_text = series.astype(str).str.strip().str.lower()
    return series.isna() | as_text.isin(["", "nan", "<na>", "none"])
