"""The results table: its schema, writer, reader and combiner, in one place.

A run directory holds ``samples.parquet`` (and the same rows as ``samples.csv``) plus ``run.json``.
The table is the contract between every producer (``weirdgen eval``, ``weirdgen run``, the toy world)
and analysis: one row per sample, with columns for the cell it belongs to and, for each judge ``J``,
``J.label``, ``J.score``, ``J.raw`` and ``J.method``. Every producer writes through
:func:`write_table`; a table from another schema version is refused with one line saying how to fix
it, instead of producing wrong numbers. Trigger values are strings from suite to plot ("" = none).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weirdgen._io import atomic_write_bytes, atomic_write_text, csv_text
from weirdgen._version import __version__
from weirdgen.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "EvaluationTable",
    "IDENTITY_COLUMNS",
    "SCHEMA_VERSION",
    "check_samples",
    "combine_tables",
    "judge_columns",
    "judge_names",
    "load_evaluation_table",
    "read_run_metadata",
    "rows_to_frame",
    "write_table",
]

SCHEMA_VERSION = 1
SAMPLES_PARQUET = "samples.parquet"
SAMPLES_CSV = "samples.csv"
RUN_METADATA = "run.json"

# column -> kind; "str" columns hold "" (never NaN) for "none".
COLUMNS: dict[str, str] = {
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
OPTIONAL_COLUMNS: dict[str, str] = {"choice_order": "str"}
"""Columns a table may lack (tables written before they existed): read as "" when absent.
``choice_order`` holds a two-choice prompt's options in the order shown ("A|B")."""
JUDGE_SUFFIXES: dict[str, str] = {"label": "str", "score": "float", "raw": "str", "method": "str"}
IDENTITY_COLUMNS = ["model", "group", "seed", "checkpoint"]
"""The columns that name one evaluated model: a rewrite of a model's rows replaces them all."""
REFUSAL = "REFUSAL"
UNPARSEABLE = "UNPARSEABLE"


@dataclass
class EvaluationTable:
    """A checked evaluation table and its run metadata."""

    samples: pd.DataFrame
    """One row per sample, columns typed as in ``COLUMNS`` plus the judges' columns."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The contents of ``run.json`` (suite, models, judges, versions, ...)."""
    judges: list[str] = field(default_factory=list)
    """Names of the judges that have all four columns, in table order."""
    path: Path | None = None
    """The file the samples were read from (None when built in memory)."""


def judge_names(columns: Iterable[str]) -> list[str]:
    """Judges named by ``J.label`` columns, in column order."""
    return [column[: -len(".label")] for column in columns if column.endswith(".label")]


def judge_columns(judges: Iterable[str]) -> list[str]:
    """The four columns of each judge, in table order."""
    return [f"{name}.{suffix}" for name in judges for suffix in JUDGE_SUFFIXES]


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
    import pandas as pd

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
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}: not a schema-{SCHEMA_VERSION} evaluation table",
            path=path,
        )
    frame = frame.copy()
    for column in OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    kinds = dict(COLUMNS) | OPTIONAL_COLUMNS
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
    import pandas as pd

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


# ---------------------------------------------------------------- writing


def rows_to_frame(rows: list[Mapping[str, Any]], judges: Iterable[str]) -> pd.DataFrame:
    """Rows (dicts keyed by column) as a typed table in the contract's column order."""
    import pandas as pd

    judges = list(judges)
    columns = list(COLUMNS) + list(OPTIONAL_COLUMNS) + judge_columns(judges)
    frame = pd.DataFrame(list(rows), columns=columns)
    return check_samples(frame)


def write_table(
    run_dir: str | Path, frame: pd.DataFrame, metadata: Mapping[str, Any], *, merge: bool = True
) -> Path:
    """Write RUN_DIR/samples.parquet, samples.csv and run.json, each atomically.

    With ``merge``, rows already in RUN_DIR of *other* models are kept and this frame's models
    replace their earlier rows, so evaluating one more model adds to a run. The run.json records
    ``schema_version`` and the versions; ``metadata["models"]`` and ``["judges"]`` are merged too.
    A run directory of another suite is refused: it would mix two tables.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    frame = check_samples(frame)
    previous = _previous_run(run_dir, metadata) if merge else None
    if previous is not None:
        old_meta, old = previous
        fresh = set(_identities(frame))
        keep = [identity not in fresh for identity in _identities(old)]
        frame = check_samples(pd.concat([old[keep], frame], ignore_index=True))
        metadata = _merged_metadata(old_meta, metadata)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(run_dir / SAMPLES_PARQUET, buffer.getvalue())
    atomic_write_text(run_dir / SAMPLES_CSV, csv_text(frame))
    atomic_write_text(run_dir / RUN_METADATA, _metadata_json(frame, metadata))
    return run_dir / SAMPLES_PARQUET


def combine_tables(
    run_dir: str | Path,
    tables: list[tuple[pd.DataFrame, Mapping[str, Any]]],
    extra: Mapping[str, Any],
) -> Path:
    """One table of several (frame, metadata) pairs, written once into RUN_DIR: one pair per suite,
    or several per suite when each model was evaluated on its own (a Ray task per model)."""
    import pandas as pd

    if not tables:
        raise ConfigError("no suite was evaluated", setting="suites")
    frame = pd.concat([frame for frame, _ in tables], ignore_index=True)
    suites = list(dict.fromkeys(meta["suite"] for _, meta in tables))
    metadata: dict[str, Any] = {
        "suite": ",".join(suites),
        "suites": suites,
        "models": list(
            {
                json.dumps(m, sort_keys=True): m
                for _, meta in tables
                for m in meta.get("models", [])
            }.values()
        ),
        "judges": {
            name: judge for _, meta in tables for name, judge in meta.get("judges", {}).items()
        },
        "judge_model": tables[0][1].get("judge_model", ""),
        "sampling_cost_usd": _total_cost(frame),
    }
    return write_table(run_dir, frame, metadata | dict(extra), merge=False)


def _identities(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return [tuple(row) for row in frame[IDENTITY_COLUMNS].astype(str).itertuples(index=False)]


def _previous_run(
    run_dir: Path, metadata: Mapping[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame] | None:
    import pandas as pd

    meta_path, table_path = run_dir / RUN_METADATA, run_dir / SAMPLES_PARQUET
    if not (meta_path.is_file() and table_path.is_file()):
        return None
    old_meta = read_run_metadata(run_dir)
    if old_meta.get("suite") != metadata.get("suite"):
        raise ConfigError(
            f"{run_dir} holds a run of suite {old_meta.get('suite')!r}, not {metadata.get('suite')!r}; "
            "write to another run directory",
            setting="output",
        )
    return old_meta, pd.read_parquet(table_path)


def _merged_metadata(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    models = {
        json.dumps(m, sort_keys=True): m for m in [*old.get("models", []), *new.get("models", [])]
    }
    return {
        **old,
        **new,
        "models": list(models.values()),
        "judges": {**old.get("judges", {}), **new.get("judges", {})},
    }


def _total_cost(frame: pd.DataFrame) -> float | None:
    known = frame["cost_usd"].notna()
    return float(frame.loc[known, "cost_usd"].sum()) if known.any() else None


def _metadata_json(frame: pd.DataFrame, metadata: Mapping[str, Any]) -> str:
    from weirdgen.sample.cache import CACHE_VERSION

    record = {
        **metadata,
        "schema_version": SCHEMA_VERSION,
        "rows": int(len(frame)),
        "total_cost_usd": _total_cost(frame),
        "versions": {
            "weirdgen": __version__,
            "cache_version": CACHE_VERSION,
            "schema": SCHEMA_VERSION,
        },
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True, default=str) + "\n"
