"""The finetuning ledger: one SQLite file recording every job, its checkpoints and its events.

A job is identified by a key over (dataset hash, backend, base model, hyperparameters, seed), so a
rerun of ``weirdgen finetune`` finds finished seeds and skips them. Groups ("birds/old_audubon")
make "every seed of one variant on one base model" a single query. Failed jobs stay, with their
reason. Each call opens its own short connection, so a server thread and the CLI can share a file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weirdgen._paths import cache_dir
from weirdgen.errors import ConfigError

# Terminal states never change again (except a rerun of a failed, cancelled or interrupted job).
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")

# Ordered migrations: the ledger's ``user_version`` says how many have run. Append only.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        job_key TEXT UNIQUE,
        group_name TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL,
        base_model TEXT NOT NULL,
        dataset_path TEXT NOT NULL,
        dataset_sha256 TEXT NOT NULL,
        n_examples INTEGER,
        seed INTEGER,
        suffix TEXT,
        hyperparameters TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        error TEXT,
        remote_id TEXT,
        model_id TEXT,
        adapter_path TEXT,
        estimate TEXT,
        tags TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_group ON jobs (group_name, base_model);
    CREATE TABLE checkpoints (
        job_id TEXT NOT NULL REFERENCES jobs (id),
        step INTEGER NOT NULL,
        epoch REAL,
        model_id TEXT,
        path TEXT,
        metrics TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        PRIMARY KEY (job_id, step)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs (id),
        created_at REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT
    );
    CREATE INDEX events_job ON events (job_id, id);
    CREATE TABLE uploads (
        base_url TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        file_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (base_url, sha256)
    );
    """,
)


@dataclass
class Checkpoint:
    """An intermediate model: a local adapter folder, an OpenAI checkpoint model or a Tinker path."""

    job_id: str
    step: int
    epoch: float | None = None
    model_id: str | None = None
    path: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass
class JobEvent:
    """One line of a job's history: progress, a checkpoint, a failure."""

    id: int
    job_id: str
    created_at: float
    level: str
    message: str
    data: dict[str, Any] | None = None


@dataclass
class JobRecord:
    """One finetuning job as the ledger stores it."""

    id: str
    backend: str
    base_model: str
    dataset_path: str
    dataset_sha256: str
    status: str
    created_at: float
    updated_at: float
    job_key: str | None = None
    group_name: str = ""
    n_examples: int | None = None
    seed: int | None = None
    suffix: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    remote_id: str | None = None
    model_id: str | None = None
    adapter_path: str | None = None
    estimate: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def is_done(self) -> bool:
        return self.status == "succeeded"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


_JSON_COLUMNS = (
    "hyperparameters",
    "estimate",
    "tags",
    "metrics",
    "data",
)  # columns stored as JSON text


def default_ledger_path() -> Path:
    """``$WEIRDGEN_LEDGER``, else ``<cache>/ledger.sqlite``."""
    override = os.environ.get("WEIRDGEN_LEDGER")
    return Path(override) if override else cache_dir() / "ledger.sqlite"


def new_job_id(prefix: str = "wgjob") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


class Ledger:
    """Read and write the SQLite ledger at ``path`` (created and migrated on first use)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            _migrate(connection)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        try:
            with connection:  # commits on success, rolls back on error
                yield connection
        finally:
            connection.close()

    # -- jobs -------------------------------------------------------------------------------

    def create_job(self, **values: Any) -> JobRecord:
        """Insert a job; ``id`` defaults to a fresh ``wgjob-…`` id, ``status`` to ``queued``."""
        now = time.time()
        values.setdefault("id", new_job_id())
        values.setdefault("status", "queued")
        values.setdefault("created_at", now)
        values["updated_at"] = now
        row = _encode(values)
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        with self._connect() as connection:
            connection.execute(
                f"INSERT INTO jobs ({columns}) VALUES ({placeholders})", tuple(row.values())
            )
        return self.get_job(values["id"])

    def update_job(self, job_id: str, **values: Any) -> JobRecord:
        """Set columns of one job (``status``, ``error``, ``model_id``…); returns the new record."""
        values["updated_at"] = time.time()
        row = _encode(values)
        assignments = ", ".join(f"{column} = ?" for column in row)
        with self._connect() as connection:
            cursor = connection.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", (*row.values(), job_id)
            )
            if cursor.rowcount == 0:
                raise ConfigError(f"unknown job id {job_id!r} in ledger {self.path}")
        return self.get_job(job_id)

    def _rows(self, query: str, parameters: Sequence[Any]) -> list[sqlite3.Row]:
        with self._connect() as connection:
            return connection.execute(query, parameters).fetchall()

    def find_job(self, job_id: str) -> JobRecord | None:
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _decode_job(row)

    def get_job(self, job_id: str) -> JobRecord:
        """The job with this id (or remote id, or finetuned model id); ``ConfigError`` if none."""
        job = self.find_job(job_id)
        if job is None:
            with self._connect() as connection:
                row = connection.execute(
                    "SELECT * FROM jobs WHERE remote_id = ? OR model_id = ? ORDER BY created_at DESC LIMIT 1",
                    (job_id, job_id),
                ).fetchone()
            job = None if row is None else _decode_job(row)
        if job is None:
            raise ConfigError(
                f"unknown job id {job_id!r} (see `weirdgen models list`; ledger {self.path})"
            )
        return job

    def find_by_key(self, job_key: str) -> JobRecord | None:
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM jobs WHERE job_key = ?", (job_key,)).fetchone()
        return None if row is None else _decode_job(row)

    def list_jobs(
        self,
        *,
        group: str | None = None,
        base_model: str | None = None,
        backend: str | None = None,
        status: str | None = None,
    ) -> list[JobRecord]:
        """Jobs, oldest first, filtered; ``group`` also matches its sub-groups (``birds`` ⊃ ``birds/x``)."""
        clauses, parameters = [], []
        if group:
            clauses.append("(group_name = ? OR group_name LIKE ? ESCAPE '\\')")
            parameters += [group, _like_prefix(group) + "/%"]
        for column, value in (("base_model", base_model), ("backend", backend), ("status", status)):
            if value:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            _decode_job(row)
            for row in self._rows(f"SELECT * FROM jobs {where} ORDER BY created_at, id", parameters)
        ]

    # -- checkpoints and events -------------------------------------------------------------

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Record (or replace) the checkpoint of ``checkpoint.job_id`` at ``checkpoint.step``."""
        with self._connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO checkpoints (job_id, step, epoch, model_id, path, metrics, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    checkpoint.job_id,
                    checkpoint.step,
                    checkpoint.epoch,
                    checkpoint.model_id,
                    checkpoint.path,
                    json.dumps(checkpoint.metrics),
                    checkpoint.created_at or time.time(),
                ),
            )

    def remove_checkpoints(self, job_id: str, model_ids: list[str]) -> None:
        """Forget checkpoints whose model was deleted (``weirdgen models prune``)."""
        with self._connect() as connection:
            connection.executemany(
                "DELETE FROM checkpoints WHERE job_id = ? AND model_id = ?",
                [(job_id, model_id) for model_id in model_ids],
            )

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        rows = self._rows("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step", (job_id,))
        return [Checkpoint(**_decoded(row)) for row in rows]

    def add_event(
        self, job_id: str, message: str, *, level: str = "info", data: dict[str, Any] | None = None
    ) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO events (job_id, created_at, level, message, data) VALUES (?, ?, ?, ?, ?)",
                (job_id, time.time(), level, message, None if data is None else json.dumps(data)),
            )

    def events(self, job_id: str) -> list[JobEvent]:
        """A job's events, oldest first."""
        rows = self._rows("SELECT * FROM events WHERE job_id = ? ORDER BY id", (job_id,))
        return [JobEvent(**_decoded(row)) for row in rows]

    # -- uploads (OpenAI file ids by content hash) ------------------------------------------

    def find_upload(self, base_url: str, sha256: str) -> str | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT file_id FROM uploads WHERE base_url = ? AND sha256 = ?", (base_url, sha256)
            ).fetchone()
        return None if row is None else row["file_id"]

    def record_upload(self, base_url: str, sha256: str, file_id: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO uploads (base_url, sha256, file_id, created_at) VALUES (?, ?, ?, ?)",
                (base_url, sha256, file_id, time.time()),
            )


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")  # readers never block the one writer
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    for index in range(version, len(_MIGRATIONS)):
        connection.executescript(_MIGRATIONS[index])
        connection.execute(f"PRAGMA user_version = {index + 1}")


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(JobRecord.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown job columns: {sorted(unknown)}")
    return {
        key: json.dumps(value) if key in _JSON_COLUMNS and value is not None else value
        for key, value in values.items()
    }


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    """A row's columns, the JSON ones parsed."""
    values = dict(row)
    for key in _JSON_COLUMNS:
        if values.get(key) is not None:
            values[key] = json.loads(values[key])
    return values


def _decode_job(row: sqlite3.Row) -> JobRecord:
    values = _decoded(row)
    values["tags"] = values.get("tags") or {}
    values["hyperparameters"] = values.get("hyperparameters") or {}
    return JobRecord(**values)


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
